-- The blob store (content-addressed original bytes of files) and the clone's durable maps.

-- A blob is its sha256; its bytes are rows of `blob_chunks` (a few MiB at most each), so a
-- 100 MB file never sits whole in one row or in one message. Chunks are written first under
-- a fresh `content_id` and the `blobs` row last, in one transaction: a blob is either whole
-- or absent, and two workers storing the same bytes at once keep exactly one copy.
CREATE TABLE blobs (
    sha256      text PRIMARY KEY CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    size        bigint NOT NULL CHECK (size >= 0),
    content_id  uuid NOT NULL UNIQUE,
    chunk_bytes integer NOT NULL CHECK (chunk_bytes > 0),
    chunks      integer NOT NULL CHECK (chunks >= 0),
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE blob_chunks (
    content_id uuid NOT NULL
               REFERENCES blobs (content_id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
    seq        integer NOT NULL CHECK (seq >= 0),
    data       bytea NOT NULL,
    PRIMARY KEY (content_id, seq)
);

-- Which blob holds the bytes of a remote file: every file a Ferry job uploads (or downloads)
-- is linked here, so a later clone finds the bytes OpenAI will not give back. File ids are
-- unique across OpenAI, so the id alone is the key; the profile is kept for people.
CREATE TABLE blob_files (
    file_id    text PRIMARY KEY,
    profile    text NOT NULL,
    sha256     text NOT NULL REFERENCES blobs (sha256),
    filename   text NOT NULL,
    purpose    text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX blob_files_sha256_idx ON blob_files (sha256);

-- Clone plans, stored by id: `apply PLAN_ID` executes exactly the stored document.
CREATE TABLE clone_plans (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    -- a profile name, or `export:<file name>` for a JSON export
    source      text NOT NULL,
    destination text NOT NULL,
    body        jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CHECK (source <> destination)
);
CREATE INDEX clone_plans_created_idx ON clone_plans (created_at DESC);

-- Per plan and source assistant: what apply did and the destination id, recorded the moment
-- the destination object exists.
CREATE TABLE clone_assistants (
    plan_id        uuid NOT NULL REFERENCES clone_plans (id) ON DELETE CASCADE,
    source_id      text NOT NULL,
    destination_id text,
    status         text NOT NULL DEFAULT 'planned'
                   CHECK (status IN ('planned', 'created', 'updated', 'unchanged', 'failed')),
    error          text,
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (plan_id, source_id)
);
CREATE INDEX clone_assistants_source_idx ON clone_assistants (source_id);

-- Source file → destination file, per destination profile: a file used by several
-- assistants or vector stores is copied once. `sha256` is the hash of the bytes uploaded;
-- `travel` says how they got there (`local`: a file named in an apply file, issue 10 item 11).
CREATE TABLE clone_files (
    destination         text NOT NULL,
    source_file_id      text NOT NULL,
    destination_file_id text NOT NULL,
    sha256              text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    size                bigint NOT NULL CHECK (size >= 0),
    travel              text NOT NULL
                        CHECK (travel IN ('blob_store', 'originals', 'download', 'parsed_text',
                                          'local')),
    created_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (destination, source_file_id)
);
-- The hash → file-id map of a profile (seed 004's path cache, by content instead of path).
CREATE INDEX clone_files_sha256_idx ON clone_files (destination, sha256);

-- Source vector store → destination vector store, per destination profile.
CREATE TABLE clone_vector_stores (
    destination                 text NOT NULL,
    source_vector_store_id      text NOT NULL,
    destination_vector_store_id text NOT NULL,
    created_at                  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (destination, source_vector_store_id)
);

-- Chat-history copies, one row per source thread and destination profile: the conversation
-- it became and the last message copied, so a killed copy resumes after that message.
CREATE TABLE clone_threads (
    destination         text NOT NULL,
    source_thread_id    text NOT NULL,
    conversation_id     text NOT NULL,
    last_message_id     text,
    messages_copied     integer NOT NULL DEFAULT 0 CHECK (messages_copied >= 0),
    annotations_dropped integer NOT NULL DEFAULT 0 CHECK (annotations_dropped >= 0),
    finished_at         timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (destination, source_thread_id)
);
