-- What each assistant's apply did (files, stores, validation, errors), for the report and
-- `ferry clone show`, kept with the plan's row.
ALTER TABLE clone_assistants ADD COLUMN result jsonb;
