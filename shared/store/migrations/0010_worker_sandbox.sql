-- Which layers of the command sandbox each worker set up (namespaces,
-- landlock_fs, seccomp, …), or `off` / `unavailable: …`, so operators see
-- it in /v1/workers. NULL for workers without the llm agent and for those
-- registered before this column existed.
ALTER TABLE workers ADD COLUMN sandbox text;
