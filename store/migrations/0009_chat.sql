-- Chat-run jobs (issue 11).

-- A user's threads are kept for audit: `clear`, a thread gone remotely and a deleted
-- assistant archive the row instead of deleting it. One live row per user and assistant.
ALTER TABLE user_threads DROP CONSTRAINT user_threads_user_id_assistant_id_key;
ALTER TABLE user_threads DROP CONSTRAINT user_threads_assistant_id_fkey;
ALTER TABLE user_threads ALTER COLUMN assistant_id DROP NOT NULL;
ALTER TABLE user_threads
    ADD CONSTRAINT user_threads_assistant_id_fkey
    FOREIGN KEY (assistant_id) REFERENCES assistants (id) ON DELETE SET NULL;
ALTER TABLE user_threads ADD COLUMN assistant_name text;
ALTER TABLE user_threads ADD COLUMN archived_at timestamptz;
ALTER TABLE user_threads ADD COLUMN archive_reason text;
CREATE UNIQUE INDEX user_threads_live ON user_threads (user_id, assistant_id)
    WHERE archived_at IS NULL;

-- One row per chat turn (the job id is the gateway's message id): the remote ids the turn
-- made, written the moment each is known, so a retried job picks the turn up where its
-- dead predecessor left it instead of asking the model again.
CREATE TABLE chat_turns (
    message_id   text PRIMARY KEY,
    profile      text NOT NULL,
    api_style    text NOT NULL,
    thread_id    text NOT NULL,
    -- responses style: the response in flight (the last one of the tool loop)
    response_id  text,
    -- assistants style: the user message added and the run in flight
    user_message_id text,
    run_id       text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
