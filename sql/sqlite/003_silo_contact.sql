-- Schema version 3 of the SQLite log store: each silo's run of contact with the store, so a silo is declared dead
-- only when it missed its window while another silo kept reaching the store (IClusterStore, rule 2). A span in which
-- nobody could write (a process frozen inside a write transaction holds this file's lock) breaks every run, so it
-- condemns no one. Never edit a released script: add 004_*.sql instead.
--
-- contact_since: unix ms, store clock: the start of the silo's current run of heartbeats no more than half the
-- smallest window of the active silos apart. Set at join; set again by a heartbeat that comes later than that after
-- the previous one. A silo vouches against a suspect when its run covers the suspect's whole window.
ALTER TABLE silos ADD COLUMN contact_since INTEGER NOT NULL DEFAULT 0;

-- Silos of an upgraded file start their run at their last heartbeat: they vouch for no one until a window of
-- regular heartbeats has passed.
UPDATE silos SET contact_since = heartbeat;
