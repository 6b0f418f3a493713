-- The commits a run added on its branch, as a git bundle written with the
-- attempt's ending, so that follow-ups and reviews can happen on any worker.
CREATE TABLE run_branches (
    run_id       uuid PRIMARY KEY REFERENCES runs (id) ON DELETE CASCADE,
    attempt      integer NOT NULL,
    branch       text NOT NULL,
    start_commit text NOT NULL,
    head_commit  text NOT NULL,
    bundle       bytea NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT clock_timestamp()
);
