-- Keep in step with ../postgres/0003_annotations_job_index.sql (same tables and columns).

-- Nothing changes on SQLite: PostgreSQL narrows its index of a job's objects to
-- (job_id) (see the PostgreSQL migration), while SQLite keeps (job_id, kind, frame, id),
-- which hands it a job already in the order the API returns, without a sort.
SELECT 1;
