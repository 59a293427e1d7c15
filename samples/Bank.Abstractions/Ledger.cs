namespace Bank;

/// <summary>The external ledger every withdrawal is posted to: a table in a separate back-end database.</summary>
public static class Ledger
{
    /// <summary>The back-end name the runtime must register (<c>RuntimeOptions.Backends.Add("ledger", ...)</c>).</summary>
    public const string BackendName = "ledger";

    /// <summary>Creates the ledger table (SQLite and PostgreSQL); safe to run every start.</summary>
    public const string CreateTableSql =
        "CREATE TABLE IF NOT EXISTS ledger (entry_id TEXT PRIMARY KEY, request_id TEXT NOT NULL, account TEXT NOT NULL, amount BIGINT NOT NULL, balance_after BIGINT NOT NULL)";

    /// <summary>Posts one withdrawal; entry_id is the deterministic back-end request id.</summary>
    public const string InsertSql =
        "INSERT INTO ledger (entry_id, request_id, account, amount, balance_after) VALUES (@entry, @request, @account, @amount, @balance)";
}
