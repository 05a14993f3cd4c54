-- Chat-history copies (issue 10 item 6): the journal also keeps the destination's last item,
-- so a copy killed between an append and its journal write finds the batch that landed
-- (items after that one) instead of appending it twice; and what was done to images.
ALTER TABLE clone_threads ADD COLUMN last_item_id text;
ALTER TABLE clone_threads ADD COLUMN images_remapped integer NOT NULL DEFAULT 0
    CHECK (images_remapped >= 0);
ALTER TABLE clone_threads ADD COLUMN images_dropped integer NOT NULL DEFAULT 0
    CHECK (images_dropped >= 0);

-- A user's conversation made by a clone keeps the thread it was copied from.
ALTER TABLE user_threads ADD COLUMN cloned_from_thread text;
