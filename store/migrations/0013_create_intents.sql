-- Creates started and not yet recorded (issue 10 item 7). A job writes a row here before it
-- asks the destination to make an object it finds only through the mapping tables (a file
-- has no metadata to tag) and deletes it once the new id is recorded. A row still here
-- means an earlier attempt may have made the object and died before recording it: the next
-- one looks for it (by name, size and time since `started_at`) before making another.
CREATE TABLE create_intents (
    kind        text NOT NULL,
    destination text NOT NULL,
    source_id   text NOT NULL,
    started_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (kind, destination, source_id)
);
