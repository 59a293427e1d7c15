-- Schema version 3 of the SQL Server log store: each silo's run of contact with the store, so a silo is declared
-- dead only when it missed its window while another silo kept reaching the store (IClusterStore, rule 2). A span in
-- which nobody could write (the server was down or refused connections) breaks every run, so it condemns no one.
-- A line holding only GO separates batches. Never edit a released script: add 004_*.sql instead.
--
-- contact_since: the start of the silo's current run of heartbeats no more than half the smallest window of the
-- active silos apart (server clock, SYSUTCDATETIME()). Set at join; set again by a heartbeat that comes later than
-- that after the previous one. A silo vouches against a suspect when its run covers the suspect's whole window.
ALTER TABLE dbo.silos ADD contact_since datetime2(7) NULL;
GO

-- Silos of an upgraded database start their run at their last heartbeat: they vouch for no one until a window of
-- regular heartbeats has passed. (A batch of its own: the column must exist when this statement is compiled.)
UPDATE dbo.silos SET contact_since = heartbeat;
GO

ALTER TABLE dbo.silos ALTER COLUMN contact_since datetime2(7) NOT NULL;
