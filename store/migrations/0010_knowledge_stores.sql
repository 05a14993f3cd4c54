-- Knowledge from local files (issue 10 item 11): each assistant's own vector store.
-- The hash → file-id map per profile is `clone_files` (travel 'local', source `local:<sha256>`).

-- One row per assistant whose apply file gives `knowledge:`, recorded the moment the store
-- exists (a re-run finds it instead of making another), with the chunking its files were
-- attached with (a change re-attaches them). Deleting the assistant forgets its store here;
-- the remote store stays, as every remote object Ferry made does.
CREATE TABLE knowledge_stores (
    assistant_id    uuid PRIMARY KEY REFERENCES assistants (id) ON DELETE CASCADE,
    profile         text NOT NULL,
    vector_store_id text NOT NULL,
    chunking        jsonb,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
