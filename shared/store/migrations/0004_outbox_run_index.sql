-- The reaper looks up a run's outbox rows; so do cascading deletes of runs.
CREATE INDEX outbox_run_id_idx ON outbox (run_id);
