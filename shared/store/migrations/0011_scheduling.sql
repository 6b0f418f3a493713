-- Admission: a run's priority, parking of runs over their project's limit
-- or share, the api's default limit, and the fair shares it computes.

ALTER TABLE runs ADD COLUMN priority smallint NOT NULL DEFAULT 0
    CHECK (priority BETWEEN -10 AND 10);
-- Set while the run waits, acked and off the queue, for its project to get
-- a free slot (or room in its token budget); `parked_reason` says which rule
-- held it back.
ALTER TABLE runs ADD COLUMN parked_at timestamptz;
ALTER TABLE runs ADD COLUMN parked_reason text
    CHECK (parked_reason IN ('project_limit', 'fair_share', 'budget'));
-- Set when a parked run is woken (published again): for a short while it
-- holds its project's slot, so a newcomer does not take it first.
ALTER TABLE runs ADD COLUMN woken_at timestamptz;

CREATE INDEX runs_parked_idx ON runs (project_id, priority DESC, id) WHERE parked_at IS NOT NULL;
CREATE INDEX runs_project_running_idx ON runs (project_id) WHERE status = 'RUNNING';
CREATE INDEX runs_woken_idx ON runs (project_id) WHERE woken_at IS NOT NULL;

-- One row: what the api's configuration says for every project.
CREATE TABLE scheduler_config (
    id                          boolean PRIMARY KEY DEFAULT true CHECK (id),
    default_max_concurrent_runs integer CHECK (default_max_concurrent_runs >= 1),
    updated_at                  timestamptz NOT NULL DEFAULT now()
);
INSERT INTO scheduler_config DEFAULT VALUES;

-- Slots a project may use while projects contend for the workers (its
-- weighted fair share); no row: no share limit.
CREATE TABLE project_shares (
    project_id uuid PRIMARY KEY REFERENCES projects (id) ON DELETE CASCADE,
    slots      integer NOT NULL CHECK (slots >= 1),
    updated_at timestamptz NOT NULL DEFAULT now()
);
