using Middleware.Recovery.SqlServer;

namespace Middleware.Tests.Storage;

/// <summary>What only the SQL Server store has, run with its fixture (<see cref="SqlServerStores"/>): the cluster tables' schema versions.</summary>
public sealed partial class SqlServerClusterStoreContractTests
{
    [StoreFact]
    public void The_cluster_tables_come_with_schema_versions_2_to_4()
    {
        Assert.Equal(4, SqlServerSchema.CurrentVersion);
        Assert.Equal("004_session_tokens.sql", SqlServerSchema.Scripts[3].FileName);
        Assert.Equal("002_cluster.sql", SqlServerSchema.Scripts[1].FileName);
        Assert.Equal("003_silo_contact.sql", SqlServerSchema.Scripts[2].FileName);
    }
}
