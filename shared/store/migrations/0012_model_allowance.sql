-- Model rate limits shared by every worker, and each project's token usage.

-- One row per model endpoint and model (the allowance key, `<url> <model>`),
-- kept as GCRA theoretical arrival times: a request may be sent once
-- `requests_tat` has passed (each one moves it on by 60 s / RPM), and once
-- the tokens charged so far (each reply moves `tokens_tat` on by
-- tokens × 60 s / TPM) are less than a minute's worth ahead of now.
-- `blocked_until` holds back every call after the endpoint answered 429
-- with Retry-After. NULL: never set. Limits are the workers' configuration,
-- not stored: a row only says how much of the allowance is taken.
CREATE TABLE model_allowance (
    key           text PRIMARY KEY,
    requests_tat  timestamptz,
    tokens_tat    timestamptz,
    blocked_until timestamptz,
    updated_at    timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- Tokens the model reported for a project's runs, per UTC day (what the
-- token budgets and GET /v1/projects/{id}/usage count).
CREATE TABLE project_usage (
    project_id uuid NOT NULL REFERENCES projects (id),
    day        date NOT NULL,
    tokens     bigint NOT NULL DEFAULT 0 CHECK (tokens >= 0),
    calls      integer NOT NULL DEFAULT 0 CHECK (calls >= 0),
    PRIMARY KEY (project_id, day)
);

-- Runs of a project by the day they first started (the usage's run count).
CREATE INDEX runs_project_started_idx ON runs (project_id, started_at)
    WHERE started_at IS NOT NULL;
