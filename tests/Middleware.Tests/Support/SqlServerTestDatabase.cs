using Microsoft.Data.SqlClient;

namespace Middleware.Tests.Support;

/// <summary>
/// A fresh database on the SQL Server named by MIDDLEWARE_TEST_SQLSERVER for one test, dropped by
/// <see cref="DropAsync"/>. Only used by classes marked <see cref="RequiresSqlServerAttribute"/>, which skip without it.
/// </summary>
internal sealed class SqlServerTestDatabase
{
    private readonly string _server;
    private readonly string _name;

    private SqlServerTestDatabase(string server, string name, string connectionString)
    {
        _server = server;
        _name = name;
        ConnectionString = connectionString;
    }

    /// <summary>The connection string of the new database (pooling off, so dropping it never waits on idle connections).</summary>
    public string ConnectionString { get; }

    public static async Task<SqlServerTestDatabase> CreateAsync()
    {
        var server = RequiresSqlServerAttribute.ConnectionString
            ?? throw new InvalidOperationException($"{RequiresSqlServerAttribute.Variable} is not set (the test should have been skipped).");
        var name = "mw_t_" + Guid.NewGuid().ToString("N");
        await ExecuteAsync(server, $"CREATE DATABASE [{name}]");
        return new SqlServerTestDatabase(server, name, new SqlConnectionStringBuilder(server) { InitialCatalog = name, Pooling = false }.ConnectionString);
    }

    public Task DropAsync() =>
        ExecuteAsync(_server, $"ALTER DATABASE [{_name}] SET SINGLE_USER WITH ROLLBACK IMMEDIATE; DROP DATABASE [{_name}]");

    public static async Task ExecuteAsync(string connectionString, string sql)
    {
        await using var connection = new SqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new SqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }
}
