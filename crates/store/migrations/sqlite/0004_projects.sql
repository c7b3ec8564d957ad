-- Keep in step with ../postgres/0004_projects.sql (same tables and columns).

-- A project's labels (CVAT 2's project labels, on the v1 wire shape): the tasks of a
-- project hold copies of them by name (labels.task_id), so that annotations, imports and
-- exports of a task never look further than the task.
CREATE TABLE project_labels (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id INTEGER NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    UNIQUE (project_id, name)
);

CREATE TABLE project_attribute_specs (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    label_id      INTEGER NOT NULL REFERENCES project_labels (id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    mutable       BOOLEAN NOT NULL DEFAULT FALSE,
    input_type    TEXT NOT NULL,
    default_value TEXT NOT NULL DEFAULT '',
    value_list    TEXT NOT NULL DEFAULT '[]',
    UNIQUE (label_id, name)
);

CREATE INDEX tasks_project ON tasks (project_id);
CREATE INDEX projects_owner ON projects (owner_id);
CREATE INDEX projects_assignee ON projects (assignee_id);
