-- Keep in step with ../sqlite/0003_annotations_job_index.sql (same tables and columns).

-- A job's objects are found by job_id alone: PostgreSQL reads them with a COPY of
-- `WHERE job_id = …` and puts them in order itself (store::annotations::BulkRead), and
-- updates and deletes by id use the primary key. An index on (job_id) alone is stored
-- deduplicated (one posting list per job, 1.9 MB against 26 MB for 100,000 objects),
-- so a bulk write of a job maintains a fraction of the index it did: a PUT of 100,000
-- objects spent about 40% of its database time on the old (job_id, kind, frame, id)
-- index. SQLite keeps that index: it reads a job in index order without a sort.
DROP INDEX annotations_job;
CREATE INDEX annotations_job ON annotations (job_id);
