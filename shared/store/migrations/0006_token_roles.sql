-- Tokens get a role and may be scoped to projects.
--
-- Roles, each allowing what the one before it does: `viewer` reads; `runner`
-- also submits, cancels, retries and sends follow-up messages; `reviewer`
-- also approves and rejects; `admin` does everything (projects, exec,
-- another model endpoint). A token with `project_ids` sees only those
-- projects and their runs; NULL means every project.
--
-- The scope is an array on the token row rather than a table of its own:
-- it is read on every request with the token, in the same indexed lookup,
-- and NULL (every project) can not be confused with "no project left", as
-- it could when the last row of a join table went away. Project ids are
-- checked when the token is created; projects are never deleted.
--
-- Existing tokens: `admin = true` become `admin`. Every other existing token
-- could submit, cancel, retry, message, approve and reject, so it becomes an
-- unscoped `reviewer` and keeps doing all of that; narrower tokens are new
-- tokens. The `admin` column goes: the role is the one place that says it,
-- and an api older than this migration fails to authenticate (closed)
-- rather than reading scoped tokens as unscoped ones (open).
ALTER TABLE api_tokens
    ADD COLUMN role text NOT NULL DEFAULT 'reviewer'
        CHECK (role IN ('viewer', 'runner', 'reviewer', 'admin')),
    ADD COLUMN project_ids uuid[]
        CHECK (project_ids IS NULL OR cardinality(project_ids) > 0);

UPDATE api_tokens SET role = 'admin' WHERE admin;

ALTER TABLE api_tokens
    ALTER COLUMN role DROP DEFAULT,
    DROP COLUMN admin,
    -- An admin creates and changes projects, which no scope could contain.
    ADD CONSTRAINT api_tokens_admin_unscoped CHECK (role <> 'admin' OR project_ids IS NULL);
