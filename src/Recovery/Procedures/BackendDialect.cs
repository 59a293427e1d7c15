namespace Middleware.Recovery.Procedures;

/// <summary>
/// The SQL one kind of back-end database needs for the idempotent-request table. The table and its rules are
/// the same everywhere: one row per request id, written in the same transaction as the work, holding the
/// outcome that every repeat returns. The scripts under sql/*/idempotent/ are the same contract for teams
/// whose logic lives in stored procedures.
/// </summary>
public sealed class BackendDialect
{
    private BackendDialect(string name, string createTable, string tryInsert, string complete, string select, string reap, bool singleWriter = false)
    {
        SingleWriter = singleWriter;
        Name = name;
        CreateTable = createTable;
        TryInsert = tryInsert;
        Complete = complete;
        Select = select;
        Reap = reap;
    }

    /// <summary>PostgreSQL (Npgsql): concurrent duplicates wait on the primary key until the first commits.</summary>
    public static BackendDialect Postgres { get; } = new(
        "postgres",
        Script("postgres"),
        "INSERT INTO mw_idempotent_requests(request_id, procedure, args_hash, status) VALUES (@id, @procedure, @hash, @status) ON CONFLICT (request_id) DO NOTHING",
        "UPDATE mw_idempotent_requests SET status = @status, result = @result WHERE request_id = @id",
        "SELECT procedure, args_hash, status, result FROM mw_idempotent_requests WHERE request_id = @id",
        "DELETE FROM mw_idempotent_requests WHERE created_at < now() - make_interval(secs => @seconds)");

    /// <summary>SQLite (Microsoft.Data.Sqlite): writers are serialized by the database lock (BEGIN IMMEDIATE).</summary>
    public static BackendDialect Sqlite { get; } = new(
        "sqlite",
        Script("sqlite"),
        "INSERT OR IGNORE INTO mw_idempotent_requests(request_id, procedure, args_hash, status) VALUES (@id, @procedure, @hash, @status)",
        "UPDATE mw_idempotent_requests SET status = @status, result = @result WHERE request_id = @id",
        "SELECT procedure, args_hash, status, result FROM mw_idempotent_requests WHERE request_id = @id",
        "DELETE FROM mw_idempotent_requests WHERE created_at < strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-' || @seconds || ' seconds')",
        singleWriter: true);

    /// <summary>SQL Server (Microsoft.Data.SqlClient): the key lock makes concurrent duplicates wait.</summary>
    public static BackendDialect SqlServer { get; } = new(
        "sqlserver",
        Script("sqlserver"),
        "INSERT INTO mw_idempotent_requests(request_id, procedure_name, args_hash, status) SELECT @id, @procedure, @hash, @status " +
        "WHERE NOT EXISTS (SELECT 1 FROM mw_idempotent_requests WITH (UPDLOCK, HOLDLOCK) WHERE request_id = @id)",
        "UPDATE mw_idempotent_requests SET status = @status, result = @result WHERE request_id = @id",
        "SELECT procedure_name, args_hash, status, result FROM mw_idempotent_requests WHERE request_id = @id",
        "DELETE FROM mw_idempotent_requests WHERE created_at < DATEADD(second, -@seconds, SYSUTCDATETIME())");

    /// <summary>
    /// The database allows one writer at a time (SQLite): the executor queues its transactions in process
    /// instead of letting them collide on the database lock, where the driver's busy retries sleep.
    /// </summary>
    public bool SingleWriter { get; }

    /// <summary>A short name for messages.</summary>
    public string Name { get; }

    internal string CreateTable { get; }

    internal string TryInsert { get; }

    internal string Complete { get; }

    internal string Select { get; }

    internal string Reap { get; }

    /// <summary>sql/&lt;database&gt;/idempotent/001_requests.sql, embedded in this assembly.</summary>
    private static string Script(string database)
    {
        using var stream = typeof(BackendDialect).Assembly.GetManifestResourceStream($"idempotent/{database}.sql")
            ?? throw new InvalidOperationException($"The embedded script idempotent/{database}.sql is missing from {typeof(BackendDialect).Assembly.GetName().Name}; the build is broken.");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }
}
