-- Initial schema: projects, runs, events, outbox, workers, api tokens.

CREATE TABLE projects (
    id             uuid PRIMARY KEY,
    name           text NOT NULL UNIQUE,
    repo_url       text,
    default_branch text NOT NULL DEFAULT 'main',
    settings       jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE runs (
    id               uuid PRIMARY KEY,
    project_id       uuid NOT NULL REFERENCES projects (id),
    goal             text NOT NULL,
    agent            text NOT NULL,
    params           jsonb NOT NULL DEFAULT '{}'::jsonb,
    status           text NOT NULL CHECK (status IN ('QUEUED', 'RUNNING', 'RETRYING', 'COMPLETED',
                                                     'FAILED', 'CANCELLED', 'AWAITING_APPROVAL', 'REJECTED')),
    attempt          integer NOT NULL DEFAULT 0,
    max_attempts     integer NOT NULL CHECK (max_attempts >= 1),
    timeout_s        integer NOT NULL CHECK (timeout_s >= 1),
    worker_id        text,
    lease_until      timestamptz,
    last_seq         integer NOT NULL DEFAULT 0,
    error            text,
    result           jsonb,
    idempotency_key  text UNIQUE,
    cancel_requested boolean NOT NULL DEFAULT false,
    created_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    started_at       timestamptz,
    finished_at      timestamptz,
    updated_at       timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX runs_status_id_idx ON runs (status, id DESC);
CREATE INDEX runs_project_id_idx ON runs (project_id, id DESC);
CREATE INDEX runs_running_lease_idx ON runs (lease_until) WHERE status = 'RUNNING';

CREATE TABLE events (
    run_id     uuid NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    seq        integer NOT NULL,
    attempt    integer NOT NULL,
    kind       text NOT NULL,
    payload    jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (run_id, seq)
);

CREATE TABLE outbox (
    id               bigserial PRIMARY KEY,
    run_id           uuid NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    attempt          integer NOT NULL,
    -- Retry hand-offs: publish through the delay tier of `delay_ms`; the
    -- relay publishes directly once `not_before` has passed.
    delay_ms         bigint NOT NULL DEFAULT 0,
    not_before       timestamptz,
    created_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    sent_at          timestamptz,
    publish_attempts integer NOT NULL DEFAULT 0,
    last_error       text
);
CREATE INDEX outbox_pending_idx ON outbox (id) WHERE sent_at IS NULL;

CREATE TABLE workers (
    id             text PRIMARY KEY,
    hostname       text NOT NULL,
    started_at     timestamptz NOT NULL DEFAULT now(),
    last_heartbeat timestamptz NOT NULL DEFAULT now(),
    concurrency    integer NOT NULL,
    in_flight      integer NOT NULL DEFAULT 0,
    stopped_at     timestamptz
);

CREATE TABLE api_tokens (
    id           uuid PRIMARY KEY,
    name         text NOT NULL,
    token_hash   text NOT NULL UNIQUE,
    admin        boolean NOT NULL DEFAULT false,
    created_at   timestamptz NOT NULL DEFAULT now(),
    revoked_at   timestamptz
);
CREATE UNIQUE INDEX api_tokens_live_name_idx ON api_tokens (name) WHERE revoked_at IS NULL;
