-- The job ledger: every accepted job, written before it is enqueued.
CREATE TABLE jobs (
    id          text PRIMARY KEY,
    kind        text NOT NULL,
    queue       text NOT NULL,
    payload     jsonb NOT NULL,
    status      text NOT NULL DEFAULT 'queued'
                CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
    attempts    integer NOT NULL DEFAULT 0,
    timeout_s   integer NOT NULL,
    result      jsonb,
    error       jsonb,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    started_at  timestamptz,
    finished_at timestamptz
);

-- The sweeper scans unfinished jobs by age.
CREATE INDEX jobs_unfinished_idx ON jobs (status, updated_at)
    WHERE status IN ('queued', 'running');
-- `ferry jobs list`: newest first, optionally by status or kind.
CREATE INDEX jobs_listing_idx ON jobs (created_at DESC, id);
CREATE INDEX jobs_status_listing_idx ON jobs (status, created_at DESC);
