-- A lease per worker: the heartbeat renews one row per worker, and a RUNNING
-- run whose worker's lease has run out may be taken over at once. A run's own
-- lease (runs.lease_until) becomes long and is renewed rarely: it only brings
-- back a run that its (live) worker no longer holds.
ALTER TABLE workers ADD COLUMN lease_until timestamptz;
