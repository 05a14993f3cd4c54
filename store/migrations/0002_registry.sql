-- The assistant registry (seed 002): Ferry's source of truth for assistant definitions.
-- Parameter schemas and response formats are `json`, not `jsonb`: jsonb reorders object keys,
-- and property order in a schema changes what strict structured outputs produce.

CREATE TABLE assistants (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    profile         text NOT NULL,
    name            text NOT NULL CHECK (length(name) BETWEEN 1 AND 256),
    description     text CHECK (length(description) <= 512),
    model           text NOT NULL,
    instructions    text,
    temperature     double precision CHECK (temperature BETWEEN 0 AND 2),
    top_p           double precision CHECK (top_p BETWEEN 0 AND 1),
    response_format json,
    metadata        jsonb NOT NULL DEFAULT '{}',
    -- The remote v2 object's id, for profiles of the `assistants` style.
    remote_id       text,
    -- Bumped by every write that changes the definition; caches compare it.
    version         integer NOT NULL DEFAULT 1,
    is_active       boolean NOT NULL DEFAULT true,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (profile, name)
);
CREATE INDEX assistants_metadata_idx ON assistants USING gin (metadata);

-- Tool definitions, shared by every assistant of a profile that links the same definition;
-- a changed definition is a new row, so editing one assistant never changes another.
CREATE TABLE tools (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    profile          text NOT NULL,
    kind             text NOT NULL
                     CHECK (kind IN ('function', 'file_search', 'code_interpreter', 'sub_assistant')),
    name             text NOT NULL,
    description      text,
    parameters       json,
    strict           boolean,
    -- file_search overrides (max_num_results, ranking_options).
    options          json,
    sub_assistant_id uuid REFERENCES assistants (id) ON DELETE RESTRICT,
    -- sha256 of the definition as written: equal definitions share a row.
    digest           text NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (profile, digest),
    CHECK ((kind = 'sub_assistant') = (sub_assistant_id IS NOT NULL))
);

CREATE TABLE assistant_tools (
    assistant_id uuid NOT NULL REFERENCES assistants (id) ON DELETE CASCADE,
    tool_id      uuid NOT NULL REFERENCES tools (id) ON DELETE RESTRICT,
    position     integer NOT NULL,
    PRIMARY KEY (assistant_id, position),
    UNIQUE (assistant_id, tool_id)
);
CREATE INDEX assistant_tools_tool_idx ON assistant_tools (tool_id);

-- Vector stores (file_search) and code-interpreter files: remote ids, in order.
CREATE TABLE assistant_tool_resources (
    assistant_id uuid NOT NULL REFERENCES assistants (id) ON DELETE CASCADE,
    kind         text NOT NULL CHECK (kind IN ('file_search', 'code_interpreter')),
    resource_id  text NOT NULL,
    position     integer NOT NULL,
    PRIMARY KEY (assistant_id, kind, position),
    UNIQUE (assistant_id, kind, resource_id)
);

-- One thread (assistants style) or conversation (responses style) per user and assistant.
CREATE TABLE user_threads (
    user_id      text NOT NULL,
    assistant_id uuid NOT NULL REFERENCES assistants (id) ON DELETE CASCADE,
    profile      text NOT NULL,
    thread_id    text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (user_id, assistant_id)
);
