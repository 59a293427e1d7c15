-- Run once by the postgres image on a new volume (docker-compose.yml mounts it into /docker-entrypoint-initdb.d).
-- The log store creates its own tables (sql/postgres/*.sql); the application's back-end tables are the app's:
-- here the Bank sample's external ledger (see samples/Bank/Account.cs, Ledger.CreateTableSql).
CREATE TABLE IF NOT EXISTS ledger (
    entry_id      TEXT PRIMARY KEY,
    request_id    TEXT NOT NULL,
    account       TEXT NOT NULL,
    amount        BIGINT NOT NULL,
    balance_after BIGINT NOT NULL
);
