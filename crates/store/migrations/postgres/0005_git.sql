-- Keep in step with ../sqlite/0005_git.sql (same tables and columns).

-- A task's dataset repository (api-v1 §12): where its annotations are pushed.
CREATE TABLE git_repositories (
    task_id   BIGINT PRIMARY KEY REFERENCES tasks (id) ON DELETE CASCADE,
    url       TEXT NOT NULL,
    -- the annotation file inside the repository (.zip or .xml)
    path      TEXT NOT NULL,
    lfs       BOOLEAN NOT NULL DEFAULT FALSE,
    -- '!sync' or 'sync' ('syncing' is read off the queue)
    status    TEXT NOT NULL DEFAULT '!sync',
    -- the task's updated_date that the last push carried
    synced    TIMESTAMPTZ NULL,
    error     TEXT NULL
);
