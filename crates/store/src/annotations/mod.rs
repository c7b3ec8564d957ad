//! Annotations of jobs (api-v1 §9), their commits and idempotent write records.
//!
//! # Schema
//! `annotations` holds one row per annotation object — a tag, a shape or a whole track
//! with its keyframes — keyed by `job_id`. The columns `id`, `kind` (0 tag, 1 shape,
//! 2 track), `frame` and `label_id` are there for the index and for SQL users; `body`
//! holds the whole object in the compact binary form of [`codec`] (points as raw f64,
//! attribute values, keyframes), so a read decodes one column per row and floats
//! round-trip bit for bit.
//!
//! Reading a job is one scan of the job's index entries. On SQLite the index is
//! `(job_id, kind, frame, id)`, already in the order the API returns (tags, shapes by
//! frame then id; tracks are re-sorted by id). On PostgreSQL it is `(job_id)` alone,
//! which it stores deduplicated and so maintains cheaply on bulk writes (migration 0003);
//! the rows are put in order after reading.
//! A write is one transaction: the job row is locked first by bumping its version
//! (`UPDATE … RETURNING version`), which serializes concurrent writes to one job on both
//! engines, then rows are deleted and bulk-inserted (multi-row `VALUES` on SQLite;
//! `UNNEST` of column arrays or, for big writes, a binary `COPY` on PostgreSQL), a
//! commit row is added, and the task's `updated_date` moves when objects were created
//! or deleted.
//!
//! Ids come from one sequence shared by every kind (keyframes included). They are
//! reserved in blocks before the write ([`Db::reserve_annotation_ids`]) so that the
//! caller can build its response while the ids are known.

pub mod codec;

use ferrocat_wire::annotations::LabeledData;

use crate::{Db, Result, StoreError, with_db};

pub const KIND_TAG: i16 = 0;
pub const KIND_SHAPE: i16 = 1;
pub const KIND_TRACK: i16 = 2;

/// Rows per multi-row `INSERT` on SQLite (6 columns: well under its variable limit).
const SQLITE_BATCH: usize = 1000;
/// From this many rows on, PostgreSQL inserts use COPY.
const COPY_FROM: usize = 2000;
/// Advisory lock key of id reservations on PostgreSQL ("ferrocat" in ASCII).
const ID_LOCK: i64 = 0x6665_7272_6f63_6174;
/// Ids per `DELETE … IN (…)`.
const DELETE_BATCH: usize = 5000;

/// Deletes objects of one kind of a job by id; evaluates to how many went. A macro
/// because the statement runs inside either engine's transaction.
macro_rules! delete_ids {
    ($tx:expr, $job:expr, $kind:expr, $ids:expr) => {{
        let mut n: u64 = 0;
        for chunk in $ids.chunks(DELETE_BATCH) {
            let mut qb = sqlx::QueryBuilder::new("DELETE FROM annotations WHERE job_id = ");
            qb.push_bind($job);
            qb.push(" AND kind = ");
            qb.push_bind($kind);
            qb.push(" AND id IN (");
            let mut sep = qb.separated(", ");
            for id in chunk {
                sep.push_bind(*id);
            }
            qb.push(")");
            n += qb.build().execute(&mut *$tx).await?.rows_affected();
        }
        n
    }};
}

/// What a write does to one job.
#[derive(Debug, Clone, Copy)]
pub enum WriteOp<'a> {
    /// `PUT`: delete everything, insert the document (ids already set).
    Replace(&'a LabeledData),
    /// `PATCH ?action=create`: insert the document (ids already set).
    Create(&'a LabeledData),
    /// `PATCH ?action=update`: replace objects of the same kind and id.
    Update(&'a LabeledData),
    /// `PATCH ?action=delete`: delete objects of this job by kind and id.
    Delete {
        tags: &'a [i64],
        shapes: &'a [i64],
        tracks: &'a [i64],
    },
    /// `DELETE`: remove every object.
    Clear,
}

impl WriteOp<'_> {
    fn name(&self) -> &'static str {
        match self {
            WriteOp::Replace(_) => "put",
            WriteOp::Create(_) => "create",
            WriteOp::Update(_) => "update",
            WriteOp::Delete { .. } => "delete",
            WriteOp::Clear => "clear",
        }
    }

    fn counts(&self) -> (usize, usize, usize) {
        match self {
            WriteOp::Replace(d) | WriteOp::Create(d) | WriteOp::Update(d) => {
                (d.tags.len(), d.shapes.len(), d.tracks.len())
            }
            WriteOp::Delete {
                tags,
                shapes,
                tracks,
            } => (tags.len(), shapes.len(), tracks.len()),
            WriteOp::Clear => (0, 0, 0),
        }
    }
}

/// A write to one job.
#[derive(Debug, Clone, Copy)]
pub struct JobWrite<'a> {
    pub job_id: i64,
    pub op: WriteOp<'a>,
}

/// Record the response of a write under a client's idempotency key, in the same
/// transaction. `render` gets the new version (the highest over the jobs written).
pub struct Idempotency<'a> {
    pub user_id: i64,
    pub key: &'a str,
    pub fingerprint: &'a str,
    pub status: i64,
    pub render: &'a (dyn Fn(i64) -> Vec<u8> + Sync),
}

/// Everything a write needs besides the per-job operations.
pub struct WriteMeta<'a> {
    pub task_id: i64,
    pub author_id: Option<i64>,
    /// `If-Match`: the write happens only if the highest version of the written jobs is
    /// this one.
    pub expect_version: Option<i64>,
    pub idempotency: Option<Idempotency<'a>>,
    /// How much each written job's version grows: 1, or 2 for a file import (CVAT 1.1
    /// imports by deleting, then creating).
    pub version_step: i64,
}

/// A stored response of an idempotent write.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredResponse {
    pub fingerprint: String,
    pub status: i64,
    pub body: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum WriteOutcome {
    /// New version of each job, in the order of the writes.
    Done(Vec<i64>),
    /// `If-Match` did not hold: nothing was written; the current version.
    Conflict(i64),
    /// The idempotency key was used meanwhile: nothing was written.
    Replay(StoredResponse),
    /// A job was deleted meanwhile: nothing was written.
    Gone,
}

/// An annotation commit (api-v1 §9.4).
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct CommitRow {
    pub job_id: i64,
    pub version: i64,
    pub author_id: Option<i64>,
    pub created_date: chrono::DateTime<chrono::Utc>,
    pub action: String,
    pub message: String,
}

/// Row bodies back to back in one buffer (one allocation for a whole job, not one per
/// object, to fill and to free); body `i` is `bytes[ends[i - 1]..ends[i]]`.
#[derive(Default)]
struct Bodies {
    bytes: Vec<u8>,
    ends: Vec<usize>,
}

impl Bodies {
    fn push(&mut self, body: &[u8]) {
        self.bytes.extend_from_slice(body);
        self.end_body();
    }

    /// Ends the body whose bytes were just appended to `bytes`.
    fn end_body(&mut self) {
        self.ends.push(self.bytes.len());
    }

    fn get(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.bytes[start..self.ends[i]]
    }

    fn iter(&self) -> impl Iterator<Item = &[u8]> {
        (0..self.len()).map(|i| self.get(i))
    }

    fn len(&self) -> usize {
        self.ends.len()
    }
}

/// Rows to insert, as column vectors (PostgreSQL binds each as one array); the bodies
/// are encoded straight into one buffer.
#[derive(Default)]
struct Rows {
    id: Vec<i64>,
    job_id: Vec<i64>,
    kind: Vec<i16>,
    frame: Vec<i64>,
    label_id: Vec<i64>,
    bodies: Bodies,
}

impl Rows {
    fn len(&self) -> usize {
        self.id.len()
    }

    fn body(&self, i: usize) -> &[u8] {
        self.bodies.get(i)
    }

    /// Puts the rows in id order, the order in which a job is read back.
    fn sort_by_id(&mut self) {
        if self.id.is_sorted() {
            return;
        }
        let mut order: Vec<usize> = (0..self.len()).collect();
        order.sort_by_key(|&i| self.id[i]);
        fn permute<T: Copy>(v: &mut Vec<T>, order: &[usize]) {
            *v = order.iter().map(|&i| v[i]).collect();
        }
        let mut bodies = Bodies::default();
        bodies.bytes.reserve(self.bodies.bytes.len());
        for &i in &order {
            bodies.push(self.body(i));
        }
        self.bodies = bodies;
        permute(&mut self.id, &order);
        permute(&mut self.job_id, &order);
        permute(&mut self.kind, &order);
        permute(&mut self.frame, &order);
        permute(&mut self.label_id, &order);
    }

    fn push_doc(&mut self, job_id: i64, d: &LabeledData) -> Result<()> {
        let points: usize = d.shapes.iter().map(|s| s.points.len()).sum();
        self.bodies
            .bytes
            .reserve(d.tags.len() * 48 + d.shapes.len() * 96 + points * 8);
        for t in &d.tags {
            codec::encode_tag_into(t, &mut self.bodies.bytes);
            self.push(job_id, KIND_TAG, t.id, t.frame, t.label_id)?;
        }
        for s in &d.shapes {
            codec::encode_shape_into(s, &mut self.bodies.bytes);
            self.push(job_id, KIND_SHAPE, s.id, s.frame, s.label_id)?;
        }
        for t in &d.tracks {
            codec::encode_track_into(t, &mut self.bodies.bytes);
            self.push(job_id, KIND_TRACK, t.id, t.frame, t.label_id)?;
        }
        Ok(())
    }

    /// Adds a row whose body was just appended to `bodies`.
    fn push(
        &mut self,
        job_id: i64,
        kind: i16,
        id: Option<i64>,
        frame: i64,
        label_id: i64,
    ) -> Result<()> {
        let id = id.ok_or_else(|| StoreError::Invalid("annotation without an id".into()))?;
        self.id.push(id);
        self.job_id.push(job_id);
        self.kind.push(kind);
        self.frame.push(frame);
        self.label_id.push(label_id);
        self.bodies.end_body();
        Ok(())
    }
}

/// Inserting rows differs by engine (speed): multi-row VALUES vs. UNNEST.
trait BulkInsert {
    async fn insert_rows(&mut self, rows: &Rows) -> Result<()>;
}

/// Reading a job's bodies differs by engine (speed): sqlx hands rows over one by one
/// with an allocation each, which for 100,000 rows costs more than the database's work.
trait BulkRead {
    /// The bodies of a job's objects, in any order.
    async fn job_bodies(&mut self, job_id: i64) -> Result<Bodies>;
}

impl BulkRead for sqlx::SqliteConnection {
    /// One statement stepped through SQLite's C API on the connection's own handle
    /// (locked away from sqlx's worker thread meanwhile, inside the caller's
    /// transaction), copying each body straight into the buffer.
    async fn job_bodies(&mut self, job_id: i64) -> Result<Bodies> {
        use libsqlite3_sys as ffi;
        let mut handle = self.lock_handle().await?;
        let db = handle.as_raw_handle().as_ptr();
        let error = |what: &str| {
            // SAFETY: `db` is the open connection, which the locked handle keeps ours.
            let msg = unsafe { std::ffi::CStr::from_ptr(ffi::sqlite3_errmsg(db)) };
            StoreError::Engine(format!("{what}: {}", msg.to_string_lossy()))
        };
        /// Finalizes the statement on every way out.
        struct Statement(*mut ffi::sqlite3_stmt);
        impl Drop for Statement {
            fn drop(&mut self) {
                // SAFETY: prepared by sqlite3_prepare_v2 below, finalized only here.
                unsafe { ffi::sqlite3_finalize(self.0) };
            }
        }
        let sql = c"SELECT body FROM annotations WHERE job_id = ?1 ORDER BY kind, frame, id";
        let mut stmt = std::ptr::null_mut();
        // SAFETY: `db` is valid while `handle` lives; the SQL is a NUL-terminated C string.
        let rc = unsafe {
            ffi::sqlite3_prepare_v2(db, sql.as_ptr(), -1, &mut stmt, std::ptr::null_mut())
        };
        if rc != ffi::SQLITE_OK {
            return Err(error("reading annotations"));
        }
        let stmt = Statement(stmt);
        // SAFETY: `stmt.0` is a prepared statement with one parameter.
        if unsafe { ffi::sqlite3_bind_int64(stmt.0, 1, job_id) } != ffi::SQLITE_OK {
            return Err(error("reading annotations"));
        }
        let mut out = Bodies::default();
        loop {
            // SAFETY: as above; the column pointer is read before the next step.
            match unsafe { ffi::sqlite3_step(stmt.0) } {
                ffi::SQLITE_ROW => unsafe {
                    let p = ffi::sqlite3_column_blob(stmt.0, 0).cast::<u8>();
                    let n = usize::try_from(ffi::sqlite3_column_bytes(stmt.0, 0)).unwrap_or(0);
                    if p.is_null() || n == 0 {
                        out.push(&[]);
                    } else {
                        out.push(std::slice::from_raw_parts(p, n));
                    }
                },
                ffi::SQLITE_DONE => break,
                _ => return Err(error("reading annotations")),
            }
        }
        Ok(out)
    }
}

impl BulkRead for sqlx::PgConnection {
    async fn job_bodies(&mut self, job_id: i64) -> Result<Bodies> {
        use futures_util::TryStreamExt;
        // COPY takes no parameters: the id is an integer, formatted in
        // No ORDER BY: the caller puts the decoded objects in order, which costs less
        // than the sort PostgreSQL plans for a bitmap scan of a big job.
        let mut stream = self
            .copy_out_raw(&format!(
                "COPY (SELECT body FROM annotations WHERE job_id = {job_id}) \
                 TO STDOUT (FORMAT binary)"
            ))
            .await?;
        let mut buf: Vec<u8> = Vec::new();
        while let Some(chunk) = stream.try_next().await? {
            buf.extend_from_slice(&chunk);
        }
        parse_copy_bodies(&buf)
    }
}

/// The one-column rows of a binary COPY (header, then per row a field count, a length
/// and the bytes; a count of -1 ends it).
fn parse_copy_bodies(buf: &[u8]) -> Result<Bodies> {
    let bad = |what: &str| StoreError::Invalid(format!("COPY data: {what}"));
    const SIGNATURE: &[u8] = b"PGCOPY\n\xff\r\n\0";
    if !buf.starts_with(SIGNATURE) || buf.len() < 19 {
        return Err(bad("no header"));
    }
    let be_i32 = |at: usize| -> Result<i32> {
        buf.get(at..at + 4)
            .map(|b| i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
            .ok_or_else(|| bad("truncated"))
    };
    let ext = usize::try_from(be_i32(15)?).map_err(|_| bad("header"))?;
    let mut at = 19 + ext;
    let mut out = Bodies::default();
    out.bytes.reserve(buf.len());
    loop {
        let count = buf
            .get(at..at + 2)
            .map(|b| i16::from_be_bytes([b[0], b[1]]))
            .ok_or_else(|| bad("truncated"))?;
        at += 2;
        if count == -1 {
            return Ok(out);
        }
        if count != 1 {
            return Err(bad("unexpected field count"));
        }
        let len = usize::try_from(be_i32(at)?).map_err(|_| bad("null body"))?;
        at += 4;
        let body = buf.get(at..at + len).ok_or_else(|| bad("truncated"))?;
        out.push(body);
        at += len;
    }
}

const INSERT_COLS: &str = "INSERT INTO annotations (id, job_id, kind, frame, label_id, body) ";

impl BulkInsert for sqlx::SqliteConnection {
    async fn insert_rows(&mut self, rows: &Rows) -> Result<()> {
        let n = rows.len();
        let mut start = 0;
        while start < n {
            let end = (start + SQLITE_BATCH).min(n);
            let mut qb = sqlx::QueryBuilder::<sqlx::Sqlite>::new(INSERT_COLS);
            qb.push_values(start..end, |mut b, i| {
                b.push_bind(rows.id[i])
                    .push_bind(rows.job_id[i])
                    .push_bind(rows.kind[i])
                    .push_bind(rows.frame[i])
                    .push_bind(rows.label_id[i])
                    .push_bind(rows.body(i));
            });
            qb.build().execute(&mut *self).await?;
            start = end;
        }
        Ok(())
    }
}

impl BulkInsert for sqlx::PgConnection {
    /// `COPY … FROM STDIN (FORMAT binary)`: the fastest way into PostgreSQL (no SQL to
    /// parse, no arrays to decode), sent in pieces of a few MB.
    async fn insert_rows(&mut self, rows: &Rows) -> Result<()> {
        if rows.len() == 0 {
            return Ok(());
        }
        if rows.len() < COPY_FROM {
            // A COPY costs a few round trips (and can meet delayed ACKs): small writes,
            // the common case of a save from the UI, go as one INSERT of arrays.
            sqlx::query(
                "INSERT INTO annotations (id, job_id, kind, frame, label_id, body)
                 SELECT * FROM UNNEST($1::bigint[], $2::bigint[], $3::smallint[], $4::bigint[],
                     $5::bigint[], $6::bytea[])",
            )
            .bind(&rows.id)
            .bind(&rows.job_id)
            .bind(&rows.kind)
            .bind(&rows.frame)
            .bind(&rows.label_id)
            .bind(
                (0..rows.len())
                    .map(|i| rows.body(i))
                    .collect::<Vec<&[u8]>>(),
            )
            .execute(&mut *self)
            .await?;
            return Ok(());
        }
        let mut copy = self
            .copy_in_raw(
                "COPY annotations (id, job_id, kind, frame, label_id, body) FROM STDIN (FORMAT binary)",
            )
            .await?;
        let mut buf: Vec<u8> = Vec::with_capacity(4 << 20);
        buf.extend_from_slice(b"PGCOPY\n\xff\r\n\0");
        buf.extend_from_slice(&0i32.to_be_bytes()); // flags
        buf.extend_from_slice(&0i32.to_be_bytes()); // header extension length
        for i in 0..rows.len() {
            buf.extend_from_slice(&6i16.to_be_bytes());
            for v in [rows.id[i], rows.job_id[i]] {
                buf.extend_from_slice(&8i32.to_be_bytes());
                buf.extend_from_slice(&v.to_be_bytes());
            }
            buf.extend_from_slice(&2i32.to_be_bytes());
            buf.extend_from_slice(&rows.kind[i].to_be_bytes());
            for v in [rows.frame[i], rows.label_id[i]] {
                buf.extend_from_slice(&8i32.to_be_bytes());
                buf.extend_from_slice(&v.to_be_bytes());
            }
            let body = rows.body(i);
            let len = i32::try_from(body.len())
                .map_err(|_| StoreError::Invalid("annotation too large".into()))?;
            buf.extend_from_slice(&len.to_be_bytes());
            buf.extend_from_slice(body);
            if buf.len() >= 4 << 20 {
                copy.send(std::mem::take(&mut buf)).await?;
                buf.reserve(4 << 20);
            }
        }
        buf.extend_from_slice(&(-1i16).to_be_bytes());
        copy.send(buf).await?;
        copy.finish().await?;
        Ok(())
    }
}

impl Db {
    /// Reserves `n` fresh annotation ids (ascending).
    pub async fn reserve_annotation_ids(&self, n: usize) -> Result<Vec<i64>> {
        if n == 0 {
            return Ok(vec![]);
        }
        let n = i64::try_from(n).map_err(|_| StoreError::Invalid("too many ids".into()))?;
        match self {
            // AUTOINCREMENT keeps the highest id handed out in sqlite_sequence; moving it
            // by n reserves a block (writes are serialized by SQLite itself).
            Db::Sqlite(p) => {
                let (last,): (i64,) = sqlx::query_as(
                    "UPDATE sqlite_sequence SET seq = seq + $1 WHERE name = 'annotations' RETURNING seq",
                )
                .bind(n)
                .fetch_one(p)
                .await?;
                Ok((last - n + 1..=last).collect())
            }
            // One nextval, then the sequence moves past the block. Every reservation
            // takes the same advisory lock, so no other one can interleave (rows are
            // never inserted without an explicit id).
            Db::Postgres(p) => {
                let mut tx = p.begin().await?;
                sqlx::query("SELECT pg_advisory_xact_lock($1)")
                    .bind(ID_LOCK)
                    .execute(&mut *tx)
                    .await?;
                let (first,): (i64,) = sqlx::query_as("SELECT nextval('annotations_id_seq')")
                    .fetch_one(&mut *tx)
                    .await?;
                if n > 1 {
                    sqlx::query("SELECT setval('annotations_id_seq', $1)")
                        .bind(first + n - 1)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok((first..first + n).collect())
            }
        }
    }

    /// The highest annotation id handed out so far (0 when none).
    pub async fn last_annotation_id(&self) -> Result<i64> {
        Ok(match self {
            Db::Sqlite(p) => {
                let (seq,): (i64,) = sqlx::query_as(
                    "SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'annotations'), 0)",
                )
                .fetch_one(p)
                .await?;
                seq
            }
            Db::Postgres(p) => {
                let (last, called): (i64, bool) =
                    sqlx::query_as("SELECT last_value, is_called FROM annotations_id_seq")
                        .fetch_one(p)
                        .await?;
                if called { last } else { last - 1 }
            }
        })
    }

    /// The stored objects of a job, in API order (tags and shapes by frame then id,
    /// tracks by id, keyframes by frame). `version` is the job's.
    pub async fn job_annotations(&self, job_id: i64) -> Result<LabeledData> {
        let mut doc = LabeledData::default();
        with_db!(self, |p| {
            // one snapshot for the version and the rows (SQLite: a read transaction;
            // PostgreSQL: repeatable read)
            let mut tx = p.begin().await?;
            if matches!(self, Db::Postgres(_)) {
                sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                    .execute(&mut *tx)
                    .await?;
            }
            let (version,): (i64,) = sqlx::query_as("SELECT version FROM jobs WHERE id = $1")
                .bind(job_id)
                .fetch_one(&mut *tx)
                .await?;
            doc.version = version;
            let started = std::time::Instant::now();
            let rows = tx.job_bodies(job_id).await?;
            tx.commit().await?;
            let fetched = started.elapsed();
            doc.shapes.reserve(rows.len());
            for body in rows.iter() {
                match codec::decode(body).map_err(StoreError::Invalid)? {
                    codec::Object::Tag(t) => doc.tags.push(t),
                    codec::Object::Shape(s) => doc.shapes.push(s),
                    codec::Object::Track(mut t) => {
                        t.shapes.sort_by_key(|k| k.frame);
                        doc.tracks.push(t)
                    }
                }
            }
            tracing::debug!(
                rows = doc.len(),
                fetch_ms = fetched.as_secs_f64() * 1e3,
                decode_ms = (started.elapsed() - fetched).as_secs_f64() * 1e3,
                "annotations read"
            );
            Ok::<_, StoreError>(())
        })?;
        // tags and shapes by frame and id, tracks by id (ids are handed out in frame
        // order, so the rows mostly come sorted already)
        let key = |frame: i64, id: Option<i64>| (frame, id.unwrap_or_default());
        if !doc.shapes.is_sorted_by_key(|s| key(s.frame, s.id)) {
            doc.shapes.sort_unstable_by_key(|s| key(s.frame, s.id));
        }
        if !doc.tags.is_sorted_by_key(|t| key(t.frame, t.id)) {
            doc.tags.sort_unstable_by_key(|t| key(t.frame, t.id));
        }
        doc.tracks.sort_unstable_by_key(|t| t.id);
        Ok(doc)
    }

    /// Applies writes to one or more jobs of a task in one transaction (§9.4–§9.6).
    /// Every written job's version goes up by `meta.version_step`, even when nothing
    /// changes.
    pub async fn write_annotations(
        &self,
        writes: &[JobWrite<'_>],
        meta: &WriteMeta<'_>,
    ) -> Result<WriteOutcome> {
        let now = crate::now();
        let mut order: Vec<usize> = (0..writes.len()).collect();
        // Lock jobs in id order so that two task-level writes cannot deadlock.
        order.sort_by_key(|&i| writes[i].job_id);
        with_db!(self, |p| {
            let mut tx = p.begin().await?;
            let mut versions = vec![0i64; writes.len()];
            for &i in &order {
                let v: Option<(i64,)> = sqlx::query_as(
                    "UPDATE jobs SET version = version + $2 WHERE id = $1 RETURNING version",
                )
                .bind(writes[i].job_id)
                .bind(meta.version_step.max(1))
                .fetch_optional(&mut *tx)
                .await?;
                let Some((v,)) = v else {
                    tx.rollback().await?;
                    return Ok(WriteOutcome::Gone);
                };
                versions[i] = v;
            }
            // A retry of a stored write answers what the write answered, whatever
            // happened since (checked under the job locks, before If-Match).
            if let Some(idem) = &meta.idempotency {
                let found: Option<(String, i64, Vec<u8>)> = sqlx::query_as(
                    "SELECT fingerprint, status, body FROM idempotency_keys WHERE user_id = $1 AND key = $2",
                )
                .bind(idem.user_id)
                .bind(idem.key)
                .fetch_optional(&mut *tx)
                .await?;
                if let Some((fingerprint, status, body)) = found {
                    tx.rollback().await?;
                    return Ok(WriteOutcome::Replay(StoredResponse {
                        fingerprint,
                        status,
                        body,
                    }));
                }
            }
            let new_version = versions.iter().copied().max().unwrap_or(0);
            let current = (new_version - 1).max(0);
            if let Some(expect) = meta.expect_version
                && !writes.is_empty()
                && expect != current
            {
                tx.rollback().await?;
                return Ok(WriteOutcome::Conflict(current));
            }
            // The old rows are deleted while the new ones are encoded: the DELETE is
            // sent first, then encoding runs on this thread while PostgreSQL (another
            // process) works; a big PUT spends about as long in each.
            let deletes = async {
                let mut changed = false;
                for w in writes {
                    let job = w.job_id;
                    match w.op {
                        WriteOp::Replace(_) | WriteOp::Clear => {
                            let r = sqlx::query("DELETE FROM annotations WHERE job_id = $1")
                                .bind(job)
                                .execute(&mut *tx)
                                .await?;
                            changed |= r.rows_affected() > 0;
                        }
                        WriteOp::Update(d) => {
                            for (kind, ids) in [
                                (
                                    KIND_TAG,
                                    d.tags.iter().filter_map(|t| t.id).collect::<Vec<_>>(),
                                ),
                                (KIND_SHAPE, d.shapes.iter().filter_map(|s| s.id).collect()),
                                (KIND_TRACK, d.tracks.iter().filter_map(|t| t.id).collect()),
                            ] {
                                delete_ids!(tx, job, kind, ids);
                            }
                        }
                        WriteOp::Delete {
                            tags,
                            shapes,
                            tracks,
                        } => {
                            for (kind, ids) in
                                [(KIND_TAG, tags), (KIND_SHAPE, shapes), (KIND_TRACK, tracks)]
                            {
                                changed |= delete_ids!(tx, job, kind, ids) > 0;
                            }
                        }
                        WriteOp::Create(_) => {}
                    }
                }
                Ok::<bool, StoreError>(changed)
            };
            let encode = async {
                let mut rows = Rows::default();
                for w in writes {
                    if let WriteOp::Replace(d) | WriteOp::Create(d) | WriteOp::Update(d) = w.op {
                        rows.push_doc(w.job_id, d)?;
                    }
                }
                rows.sort_by_id();
                Ok::<Rows, StoreError>(rows)
            };
            let started = std::time::Instant::now();
            let (deleted, rows) = futures_util::join!(deletes, encode);
            let (mut changed, rows) = (deleted?, rows?);
            let prepared = started.elapsed();
            changed |= rows.len() > 0;
            (*tx).insert_rows(&rows).await?;
            let inserted = started.elapsed();
            for (w, v) in writes.iter().zip(&versions) {
                let (t, s, k) = w.op.counts();
                sqlx::query(
                    "INSERT INTO annotation_commits (job_id, version, author_id, created_date, action, message)
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(w.job_id)
                .bind(*v)
                .bind(meta.author_id)
                .bind(now)
                .bind(w.op.name())
                .bind(format!("Changes: tags - {t}; shapes - {s}; tracks - {k}"))
                .execute(&mut *tx)
                .await?;
            }
            if changed {
                sqlx::query("UPDATE tasks SET updated_date = $2 WHERE id = $1")
                    .bind(meta.task_id)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
            }
            if let Some(idem) = &meta.idempotency {
                let body = (idem.render)(new_version);
                sqlx::query(
                    "INSERT INTO idempotency_keys (user_id, key, fingerprint, status, body, created_date)
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(idem.user_id)
                .bind(idem.key)
                .bind(idem.fingerprint)
                .bind(idem.status)
                .bind(body)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            tracing::debug!(
                rows = rows.len(),
                delete_and_encode_ms = prepared.as_secs_f64() * 1e3,
                insert_ms = (inserted - prepared).as_secs_f64() * 1e3,
                commit_ms = (started.elapsed() - inserted).as_secs_f64() * 1e3,
                "annotations written"
            );
            Ok(WriteOutcome::Done(versions))
        })
    }

    /// The stored response of an idempotent write, if the key was used.
    pub async fn idempotent_response(
        &self,
        user_id: i64,
        key: &str,
    ) -> Result<Option<StoredResponse>> {
        let found: Option<(String, i64, Vec<u8>)> = with_db!(self, |p| {
            sqlx::query_as(
            "SELECT fingerprint, status, body FROM idempotency_keys WHERE user_id = $1 AND key = $2"
        )
        .bind(user_id)
        .bind(key)
        .fetch_optional(p)
        .await
        })?;
        Ok(found.map(|(fingerprint, status, body)| StoredResponse {
            fingerprint,
            status,
            body,
        }))
    }

    /// Forgets idempotency keys older than `before`; returns how many.
    pub async fn purge_idempotency_keys(
        &self,
        before: chrono::DateTime<chrono::Utc>,
    ) -> Result<u64> {
        let r = with_db!(self, |p| sqlx::query(
            "DELETE FROM idempotency_keys WHERE created_date < $1"
        )
        .bind(before)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(r)
    }

    /// The commits of a job, oldest first.
    pub async fn annotation_commits(&self, job_id: i64) -> Result<Vec<CommitRow>> {
        Ok(with_db!(self, |p| sqlx::query_as(
            "SELECT job_id, version, author_id, created_date, action, message
             FROM annotation_commits WHERE job_id = $1 ORDER BY version, id"
        )
        .bind(job_id)
        .fetch_all(p)
        .await)?)
    }

    /// The job of each of these ids (any kind), for the ones that exist.
    pub async fn annotation_jobs(&self, ids: &[i64]) -> Result<Vec<(i64, i64)>> {
        let mut out = Vec::new();
        for chunk in ids.chunks(DELETE_BATCH) {
            let mut part: Vec<(i64, i64)> = with_db!(self, |p| {
                let mut qb =
                    sqlx::QueryBuilder::new("SELECT id, job_id FROM annotations WHERE id IN (");
                let mut sep = qb.separated(", ");
                for id in chunk {
                    sep.push_bind(*id);
                }
                qb.push(")");
                qb.build_query_as().fetch_all(p).await
            })?;
            out.append(&mut part);
        }
        Ok(out)
    }
}
