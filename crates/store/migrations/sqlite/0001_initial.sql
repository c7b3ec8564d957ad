-- ferrocat schema, SQLite flavour. Keep in step with ../postgres/0001_initial.sql:
-- the same tables and columns (a test checks it); only types differ.

CREATE TABLE groups (
    name TEXT PRIMARY KEY
);
INSERT INTO groups (name) VALUES ('admin'), ('user'), ('annotator'), ('observer');

CREATE TABLE users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    username      TEXT NOT NULL,
    -- lower(username): usernames are unique case-insensitively (api-v1 §3.4)
    username_key  TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    email         TEXT NOT NULL DEFAULT '',
    first_name    TEXT NOT NULL DEFAULT '',
    last_name     TEXT NOT NULL DEFAULT '',
    is_staff      BOOLEAN NOT NULL DEFAULT FALSE,
    is_superuser  BOOLEAN NOT NULL DEFAULT FALSE,
    is_active     BOOLEAN NOT NULL DEFAULT TRUE,
    last_login    TEXT NULL,
    date_joined   TEXT NOT NULL
);
CREATE UNIQUE INDEX users_email_key ON users (lower(email)) WHERE email <> '';

CREATE TABLE user_groups (
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    group_name TEXT NOT NULL REFERENCES groups (name),
    PRIMARY KEY (user_id, group_name)
);

-- One API token per user (DRF authtoken): created at login, reused until logout.
CREATE TABLE tokens (
    key     TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL UNIQUE REFERENCES users (id) ON DELETE CASCADE,
    created TEXT NOT NULL
);

-- Cookie sessions (sessionid + csrftoken), rows so that replicas share them.
CREATE TABLE sessions (
    key     TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf    TEXT NOT NULL,
    created TEXT NOT NULL,
    expires TEXT NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id, expires);

CREATE TABLE projects (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    name         TEXT NOT NULL,
    owner_id     INTEGER NULL REFERENCES users (id) ON DELETE SET NULL,
    assignee_id  INTEGER NULL REFERENCES users (id) ON DELETE SET NULL,
    bug_tracker  TEXT NOT NULL DEFAULT '',
    status       TEXT NOT NULL DEFAULT 'annotation',
    created_date TEXT NOT NULL,
    updated_date TEXT NOT NULL
);

-- The media of a task (api-v1 §7); frames and chunks hang off it in later migrations.
CREATE TABLE data (
    id                    INTEGER PRIMARY KEY AUTOINCREMENT,
    chunk_size            INTEGER NULL,
    size                  INTEGER NOT NULL DEFAULT 0,
    image_quality         INTEGER NOT NULL,
    start_frame           INTEGER NOT NULL DEFAULT 0,
    stop_frame            INTEGER NOT NULL DEFAULT 0,
    frame_filter          TEXT NOT NULL DEFAULT '',
    compressed_chunk_type TEXT NOT NULL DEFAULT 'imageset',
    original_chunk_type   TEXT NOT NULL DEFAULT 'imageset',
    use_zip_chunks        BOOLEAN NOT NULL DEFAULT FALSE,
    -- the sources as the client sent them: {"client_files": [...], "server_files": [...], "remote_files": [...]}
    sources               TEXT NOT NULL DEFAULT '{}',
    -- whether processing finished (frames and chunks exist)
    ready                 BOOLEAN NOT NULL DEFAULT FALSE
);

-- One row per task frame of a data record (api-v1 §7.5 `frames`).
CREATE TABLE frames (
    data_id INTEGER NOT NULL REFERENCES data (id) ON DELETE CASCADE,
    frame   INTEGER NOT NULL,
    name    TEXT NOT NULL,
    width   INTEGER NOT NULL,
    height  INTEGER NOT NULL,
    PRIMARY KEY (data_id, frame)
);

CREATE TABLE tasks (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id   INTEGER NULL REFERENCES projects (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    mode         TEXT NOT NULL DEFAULT '',
    owner_id     INTEGER NULL REFERENCES users (id) ON DELETE SET NULL,
    assignee_id  INTEGER NULL REFERENCES users (id) ON DELETE SET NULL,
    bug_tracker  TEXT NOT NULL DEFAULT '',
    created_date TEXT NOT NULL,
    updated_date TEXT NOT NULL,
    overlap      INTEGER NULL,
    segment_size INTEGER NOT NULL DEFAULT 0,
    z_order      BOOLEAN NOT NULL DEFAULT FALSE,
    status       TEXT NOT NULL DEFAULT 'annotation',
    data_id      INTEGER NULL REFERENCES data (id) ON DELETE SET NULL
);
CREATE INDEX tasks_owner ON tasks (owner_id);
CREATE INDEX tasks_assignee ON tasks (assignee_id);

CREATE TABLE labels (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    task_id INTEGER NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    name    TEXT NOT NULL,
    UNIQUE (task_id, name)
);

CREATE TABLE attribute_specs (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    label_id      INTEGER NOT NULL REFERENCES labels (id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    mutable       BOOLEAN NOT NULL DEFAULT FALSE,
    input_type    TEXT NOT NULL,
    default_value TEXT NOT NULL DEFAULT '',
    -- JSON array of strings (CVAT's `values`)
    value_list    TEXT NOT NULL DEFAULT '[]',
    UNIQUE (label_id, name)
);

CREATE TABLE segments (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    task_id     INTEGER NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    start_frame INTEGER NOT NULL,
    stop_frame  INTEGER NOT NULL
);
CREATE INDEX segments_task ON segments (task_id, start_frame);

CREATE TABLE jobs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    segment_id  INTEGER NOT NULL REFERENCES segments (id) ON DELETE CASCADE,
    assignee_id INTEGER NULL REFERENCES users (id) ON DELETE SET NULL,
    status      TEXT NOT NULL DEFAULT 'annotation',
    -- annotation version (api-v1 §9.4), bumped by every annotation write
    version     INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX jobs_segment ON jobs (segment_id);
CREATE INDEX jobs_assignee ON jobs (assignee_id);

-- Background work (module `queue`): task data processing, exports, imports.
-- Claimed by setting lease_until; a lease that runs out is taken over.
CREATE TABLE queue_items (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    key         TEXT NOT NULL UNIQUE,
    kind        TEXT NOT NULL,
    state       TEXT NOT NULL DEFAULT 'queued',
    message     TEXT NOT NULL DEFAULT '',
    payload     TEXT NOT NULL DEFAULT '{}',
    result      TEXT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    lease_until TEXT NULL,
    user_id     INTEGER NULL REFERENCES users (id) ON DELETE SET NULL,
    created     TEXT NOT NULL,
    updated     TEXT NOT NULL
);
CREATE INDEX queue_items_state ON queue_items (state, id);

-- POST /server/exception reports (api-v1 §11.3).
CREATE TABLE client_exceptions (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NULL REFERENCES users (id) ON DELETE SET NULL,
    task_id INTEGER NULL,
    job_id  INTEGER NULL,
    created TEXT NOT NULL,
    body    TEXT NOT NULL
);
