-- Follow-up messages posted to runs, and the review/exec requests the api
-- hands to the worker that holds a run's worktree.

CREATE TABLE run_messages (
    id         bigserial PRIMARY KEY,
    run_id     uuid NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    body       text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX run_messages_run_id_idx ON run_messages (run_id, id);

CREATE TABLE run_requests (
    id          uuid PRIMARY KEY,
    run_id      uuid NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    kind        text NOT NULL CHECK (kind IN ('APPROVE', 'REJECT', 'EXEC')),
    -- The worker the request was sent to (the one holding the worktree).
    worker_id   text NOT NULL,
    -- APPROVE: {"target": {"merge_into": b} | {"keep": true}}; EXEC: {"cmd", "timeout_s"}.
    params      jsonb NOT NULL DEFAULT '{}'::jsonb,
    status      text NOT NULL DEFAULT 'PENDING' CHECK (status IN ('PENDING', 'DONE', 'FAILED')),
    result      jsonb,
    error       text,
    created_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    finished_at timestamptz
);
CREATE INDEX run_requests_run_id_idx ON run_requests (run_id, created_at);
-- At most one open review per run: two reviewers can never both act.
CREATE UNIQUE INDEX run_requests_open_review_idx ON run_requests (run_id)
    WHERE status = 'PENDING' AND kind IN ('APPROVE', 'REJECT');
