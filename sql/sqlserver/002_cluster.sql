-- Schema version 2 of the SQL Server log store: the cluster tables (IClusterStore).
-- A line holding only GO separates batches. Never edit a released script: add 003_*.sql instead.
--
-- Times are the server's clock (SYSUTCDATETIME(), datetime2(7) UTC); ages are DATEDIFF_BIG in milliseconds.

-- Membership. status: 1 active, 2 dead (missed its window; marked by the next listing or claim), 3 left.
-- A silo is live while status = 1 and its heartbeat is younger than dead_after_ms.
CREATE TABLE dbo.silos (
    silo_id       nvarchar(400) COLLATE Latin1_General_100_BIN2 NOT NULL PRIMARY KEY,
    address       nvarchar(400) NOT NULL,  -- protocol endpoint, host:port
    http_address  nvarchar(400) NULL,      -- health/metrics endpoint, or NULL
    status        tinyint       NOT NULL,
    heartbeat     datetime2(7)  NOT NULL,
    dead_after_ms bigint        NOT NULL,  -- the window the silo joined with
    activations   int           NOT NULL,  -- as reported by its last heartbeat
    joined_at     datetime2(7)  NOT NULL
);
GO

-- Ownership by silo is components.owner (001). It is compared exactly from now on, like the ids, and
-- indexed so that a silo that leaves releases everything it owns with one UPDATE ... WHERE owner = @silo.
-- Appends never change owner, so they never touch this index.
ALTER TABLE dbo.components ALTER COLUMN owner nvarchar(400) COLLATE Latin1_General_100_BIN2 NULL;
GO

CREATE INDEX ix_components_owner ON dbo.components(owner);
GO

-- Virtual sessions. reserved is the highest request number handed out so far: every open adds its
-- reservation to it under an update lock in one transaction, so ranges never overlap.
-- status: 1 open, 2 closed (never reopened).
CREATE TABLE dbo.sessions (
    session_id     nvarchar(400) COLLATE Latin1_General_100_BIN2 NOT NULL PRIMARY KEY,
    status         tinyint      NOT NULL,
    reserved       bigint       NOT NULL,
    opens          int          NOT NULL,
    created_at     datetime2(7) NOT NULL,
    last_opened_at datetime2(7) NOT NULL
);
GO

CREATE INDEX ix_sessions_last_opened ON dbo.sessions(last_opened_at DESC);
GO

-- Key/value items of a session (removed by setting a null value).
CREATE TABLE dbo.session_items (
    session_id nvarchar(400) COLLATE Latin1_General_100_BIN2 NOT NULL,  -- sessions.session_id
    item_key   nvarchar(400) COLLATE Latin1_General_100_BIN2 NOT NULL,
    item_value nvarchar(max) NOT NULL,
    CONSTRAINT pk_session_items PRIMARY KEY CLUSTERED (session_id, item_key)
);
