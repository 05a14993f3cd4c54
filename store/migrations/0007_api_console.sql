-- The HTTP API and web console: bearer tokens, a library of shared tools, assistant history.

-- Only a token's SHA-256 is kept: a leaked table opens nothing. A token belongs to one
-- deployment (the Redis key prefix), so two deployments sharing a database stay apart.
CREATE TABLE api_tokens (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    deployment   text NOT NULL,
    name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 128),
    digest       text NOT NULL UNIQUE,
    scopes       text[] NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at   timestamptz
);
CREATE INDEX api_tokens_deployment_idx ON api_tokens (deployment, created_at);

-- Seed 002's standalone tools: a definition kept once and linked into assistants. Linking
-- copies the definition into the assistant's spec; changing the library tool rewrites every
-- assistant that links it.
CREATE TABLE tool_library (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    profile    text NOT NULL,
    name       text NOT NULL,
    definition json NOT NULL,
    version    integer NOT NULL DEFAULT 1,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (profile, name)
);

CREATE TABLE tool_library_links (
    tool_id      uuid NOT NULL REFERENCES tool_library (id) ON DELETE RESTRICT,
    assistant_id uuid NOT NULL REFERENCES assistants (id) ON DELETE CASCADE,
    linked_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tool_id, assistant_id)
);
CREATE INDEX tool_library_links_assistant_idx ON tool_library_links (assistant_id);

-- Every version of every assistant, written in the same transaction as the version itself.
CREATE TABLE assistant_history (
    assistant_id uuid NOT NULL REFERENCES assistants (id) ON DELETE CASCADE,
    version      integer NOT NULL,
    spec         json NOT NULL,
    changes      json NOT NULL,
    written_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (assistant_id, version)
);
