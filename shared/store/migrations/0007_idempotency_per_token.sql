-- An Idempotency-Key belongs to the token that sent it: two tokens may use
-- the same key for different runs, and one token can not read another's run
-- by guessing its key. Keys of runs submitted before this migration have no
-- token and are never matched again (a retry of such a request creates a
-- new run). No foreign key to api_tokens: tokens are revoked, never deleted,
-- and the submit path stays one index probe cheaper.
ALTER TABLE runs ADD COLUMN idempotency_token uuid;
ALTER TABLE runs DROP CONSTRAINT IF EXISTS runs_idempotency_key_key;
CREATE UNIQUE INDEX IF NOT EXISTS runs_idempotency_token_key
    ON runs (idempotency_token, idempotency_key);
