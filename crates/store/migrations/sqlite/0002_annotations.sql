-- Annotations (api-v1 §9), their commits, idempotent write records and client events.
-- Keep in step with ../postgres/0002_annotations.sql (same tables and columns).

-- One row per annotation object (tag, shape or a track with its keyframes), keyed by
-- job. `body` holds the whole object in the binary form of store::annotations::codec
-- (points as raw f64, attribute values, keyframes); the other columns serve the index
-- and SQL users. Reading a job is one range scan over annotations_job; writing it is a
-- bulk insert. Ids come from one sequence shared by every kind, keyframes included
-- (api-v1 §9.7 allows it).
CREATE TABLE annotations (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    -- no foreign key: checking one per inserted row costs more than the insert on
    -- PostgreSQL; jobs are only deleted with their task, and deleting a task deletes
    -- its annotations first (store::tasks::delete_task)
    job_id   INTEGER NOT NULL,
    -- 0 tag, 1 shape, 2 track
    kind     INTEGER NOT NULL,
    frame    INTEGER NOT NULL,
    -- no foreign key: labels are only ever deleted with their task, whose jobs
    -- take the annotations with them
    label_id INTEGER NOT NULL,
    body     BLOB NOT NULL
);
CREATE INDEX annotations_job ON annotations (job_id, kind, frame, id);
-- ids are reserved in blocks by bumping this row (see store::annotations)
INSERT INTO sqlite_sequence (name, seq) VALUES ('annotations', 0);

-- One row per annotation write: version, author, time and counts (api-v1 §9.4).
CREATE TABLE annotation_commits (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id       INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    version      INTEGER NOT NULL,
    author_id    INTEGER NULL REFERENCES users (id) ON DELETE SET NULL,
    created_date TEXT NOT NULL,
    action       TEXT NOT NULL,
    message      TEXT NOT NULL
);
CREATE INDEX annotation_commits_job ON annotation_commits (job_id, version);

-- Responses of writes sent with an Idempotency-Key, replayed on a retry.
CREATE TABLE idempotency_keys (
    user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    key          TEXT NOT NULL,
    fingerprint  TEXT NOT NULL,
    status       INTEGER NOT NULL,
    body         BLOB NOT NULL,
    created_date TEXT NOT NULL,
    PRIMARY KEY (user_id, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_date);

-- Client events of POST /server/logs (api-v1 §11.4).
CREATE TABLE client_events (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id      INTEGER NULL REFERENCES users (id) ON DELETE SET NULL,
    client_id    INTEGER NOT NULL,
    name         TEXT NOT NULL,
    time         TEXT NOT NULL,
    is_active    BOOLEAN NOT NULL,
    job_id       INTEGER NULL,
    task_id      INTEGER NULL,
    proj_id      INTEGER NULL,
    message      TEXT NULL,
    payload      TEXT NULL,
    created_date TEXT NOT NULL
);
CREATE INDEX client_events_job ON client_events (job_id, time);
CREATE INDEX client_events_task ON client_events (task_id, time);
