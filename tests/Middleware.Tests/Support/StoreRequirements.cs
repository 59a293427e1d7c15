using Middleware.Recovery.TestKit;

namespace Middleware.Tests.Support;

/// <summary>The class needs a real PostgreSQL (started by <see cref="PostgresServer"/>); skipped only when MIDDLEWARE_SKIP_POSTGRES=1.</summary>
public sealed class RequiresPostgresAttribute : StoreRequirementAttribute
{
    /// <inheritdoc />
    public override string? SkipReason => PostgresServer.SkipReason;
}

/// <summary>The class needs a SQL Server given by MIDDLEWARE_TEST_SQLSERVER; skipped when that is unset.</summary>
public sealed class RequiresSqlServerAttribute : StoreRequirementAttribute
{
    /// <summary>The variable that holds the SQL Server connection string of the tests.</summary>
    public const string Variable = "MIDDLEWARE_TEST_SQLSERVER";

    /// <summary>The connection string, or null when the tests must skip.</summary>
    public static string? ConnectionString => Environment.GetEnvironmentVariable(Variable) is { Length: > 0 } s ? s : null;

    /// <inheritdoc />
    public override string? SkipReason => ConnectionString is null
        ? $"SQL Server tests need a server: set {Variable} to a SqlClient connection string (e.g. \"Server=localhost;User ID=sa;Password=...;TrustServerCertificate=true\"); no SQL Server runs on this machine."
        : null;
}
