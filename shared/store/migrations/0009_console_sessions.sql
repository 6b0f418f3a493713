-- Sessions of the web console: a person signs in with an api token and the
-- browser keeps a session cookie instead of the token. The cookie's secret is
-- stored as a SHA-256 hash, like tokens; the CSRF token is sent back by the
-- page on every state-changing request. A session acts as its token: the
-- token's role and scope are read through the join on every request, so a
-- revoked token ends its sessions at once. Rows past `expires_at` are dead
-- and deleted when the next session is created.
CREATE TABLE console_sessions (
    secret_hash text PRIMARY KEY,
    token_id    uuid NOT NULL REFERENCES api_tokens (id),
    csrf_token  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL
);
CREATE INDEX console_sessions_expires_idx ON console_sessions (expires_at);

-- The console's overview reads the runs finished in the last hour
-- (throughput and latency per minute); without this it reads every run.
CREATE INDEX runs_finished_at_idx ON runs (finished_at) WHERE finished_at IS NOT NULL;
