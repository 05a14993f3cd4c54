-- Prompt flows (seed 001): one per registry assistant. The canonical prompt is the source of
-- truth; block_mapping locates each block in it. Every version ever made is kept, immutable,
-- with the patch that made it; labels (production, staging, …) point at versions and move.

CREATE TABLE flows (
    id                      uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    assistant_id            uuid NOT NULL UNIQUE REFERENCES assistants (id) ON DELETE CASCADE,
    globals                 text NOT NULL DEFAULT '',
    prompt_master_canonical text NOT NULL,
    -- [{"block_id", "type", "prompt_start", "prompt_end", "line_number", "tool_name"}, …]
    block_mapping           jsonb NOT NULL DEFAULT '[]',
    -- The head: the newest row of prompt_versions.
    version                 integer NOT NULL,
    created_at              timestamptz NOT NULL DEFAULT now(),
    updated_at              timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE prompt_versions (
    flow_id                 uuid NOT NULL REFERENCES flows (id) ON DELETE CASCADE,
    version                 integer NOT NULL CHECK (version >= 1),
    globals                 text NOT NULL,
    prompt_master_canonical text NOT NULL,
    block_mapping           jsonb NOT NULL,
    -- The version it was made from (NULL: the first import).
    base_version            integer,
    -- What made it: {"kind": "import" | "patch" | "restore", …the edits, mode, outcome}.
    patch                   jsonb NOT NULL,
    -- [[start, end, new_length], …] in the base version's offsets: what a stale patch's
    -- rebase is checked against.
    changes                 jsonb NOT NULL,
    requested_by            text NOT NULL,
    -- The job that made it: a retried job finds its version instead of applying twice.
    job_id                  text UNIQUE,
    created_at              timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (flow_id, version)
);

CREATE FUNCTION prompt_versions_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'prompt_versions are immutable: make a new version instead';
END $$;

CREATE TRIGGER prompt_versions_no_update BEFORE UPDATE ON prompt_versions
    FOR EACH ROW EXECUTE FUNCTION prompt_versions_immutable();

CREATE TABLE flow_labels (
    flow_id    uuid NOT NULL REFERENCES flows (id) ON DELETE CASCADE,
    label      text NOT NULL CHECK (label ~ '^[a-z0-9][a-z0-9_.-]{0,63}$'),
    version    integer NOT NULL,
    moved_by   text NOT NULL,
    moved_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (flow_id, label),
    FOREIGN KEY (flow_id, version) REFERENCES prompt_versions (flow_id, version)
);
