-- Schema version 1 of the SQL Server log store.
-- The provider embeds this file and runs it at open, under an exclusive application lock (sp_getapplock),
-- when the database is below version 1, and records the version in schema_version in the same transaction.
-- A line holding only GO separates batches. Never edit a released script: add 002_*.sql instead.
--
-- Ids use a binary collation: compared exactly (case and accents matter, like the other stores) and cheap
-- to index. nvarchar(400) keeps the (component, seq) clustered key under SQL Server's 900-byte limit.
-- Times are datetime2(7) in UTC from the server clock (SYSUTCDATETIME()): the same resolution as .NET ticks.

CREATE TABLE dbo.schema_version (
    version    int           NOT NULL PRIMARY KEY,
    script     nvarchar(200) NOT NULL,
    applied_at datetime2(7)  NOT NULL DEFAULT SYSUTCDATETIME()
);

-- Ownership and head of each component. An append locks its components' rows WITH (UPDLOCK, HOLDLOCK)
-- and checks epoch and last_seq on them inside its transaction: the epoch fence.
CREATE TABLE dbo.components (
    id             nvarchar(400) COLLATE Latin1_General_100_BIN2 NOT NULL PRIMARY KEY,
    epoch          bigint        NOT NULL,
    owner          nvarchar(400) NULL,
    last_seq       bigint        NOT NULL,
    checkpoint_seq bigint        NOT NULL,
    updated_at     datetime2(7)  NOT NULL
);

-- The log, clustered on (component, seq): range reads and truncation are clustered-index seeks.
CREATE TABLE dbo.log (
    component    nvarchar(400) COLLATE Latin1_General_100_BIN2 NOT NULL,
    seq          bigint         NOT NULL,
    epoch        bigint         NOT NULL,
    kind         smallint       NOT NULL,
    committed_at datetime2(7)   NOT NULL,
    payload      varbinary(max) NOT NULL,
    CONSTRAINT pk_log PRIMARY KEY CLUSTERED (component, seq)
);

CREATE TABLE dbo.checkpoints (
    component  nvarchar(400) COLLATE Latin1_General_100_BIN2 NOT NULL,
    seq        bigint         NOT NULL,
    epoch      bigint         NOT NULL,
    state      varbinary(max) NOT NULL,
    state_hash nvarchar(200)  NOT NULL,
    created_at datetime2(7)   NOT NULL,
    CONSTRAINT pk_checkpoints PRIMARY KEY CLUSTERED (component, seq)
);

CREATE TABLE dbo.dedup (
    component  nvarchar(400) COLLATE Latin1_General_100_BIN2 NOT NULL,
    request_id nvarchar(400) COLLATE Latin1_General_100_BIN2 NOT NULL,
    seq        bigint         NOT NULL,
    args_hash  bigint         NOT NULL,
    reply      varbinary(max) NOT NULL,
    created_at datetime2(7)   NOT NULL,
    CONSTRAINT pk_dedup PRIMARY KEY CLUSTERED (component, request_id)
);

-- Table types of the append's table-valued parameters: a whole batch travels as a few parameters and is
-- written with one set-based statement per table.
CREATE TYPE dbo.mw_ids AS TABLE (
    id nvarchar(400) COLLATE Latin1_General_100_BIN2 NOT NULL PRIMARY KEY
);

CREATE TYPE dbo.mw_log_rows AS TABLE (
    component nvarchar(400) COLLATE Latin1_General_100_BIN2 NOT NULL,
    seq       bigint         NOT NULL,
    epoch     bigint         NOT NULL,
    kind      smallint       NOT NULL,
    payload   varbinary(max) NOT NULL,
    PRIMARY KEY (component, seq)
);

CREATE TYPE dbo.mw_heads AS TABLE (
    id             nvarchar(400) COLLATE Latin1_General_100_BIN2 NOT NULL PRIMARY KEY,
    last_seq       bigint NOT NULL,
    checkpoint_seq bigint NOT NULL
);

CREATE TYPE dbo.mw_checkpoints AS TABLE (
    component  nvarchar(400) COLLATE Latin1_General_100_BIN2 NOT NULL,
    seq        bigint         NOT NULL,
    epoch      bigint         NOT NULL,
    state      varbinary(max) NOT NULL,
    state_hash nvarchar(200)  NOT NULL,
    PRIMARY KEY (component, seq)
);

CREATE TYPE dbo.mw_dedup AS TABLE (
    component  nvarchar(400) COLLATE Latin1_General_100_BIN2 NOT NULL,
    request_id nvarchar(400) COLLATE Latin1_General_100_BIN2 NOT NULL,
    seq        bigint         NOT NULL,
    args_hash  bigint         NOT NULL,
    reply      varbinary(max) NOT NULL,
    PRIMARY KEY (component, request_id)
);
