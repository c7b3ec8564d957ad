//! Annotations of jobs (api-v1 §9), their commits and idempotent write records.
//!
//! # Schema
//! `annotations` holds one row per annotation object — a tag, a shape or a whole track —
//! keyed by `job_id`:
//!
//! | column | tag | shape | track |
//! |---|---|---|---|
//! | `kind` | 0 | 1 | 2 |
//! | `frame`, `label_id`, `grp` | ✓ | ✓ | ✓ (first keyframe's frame) |
//! | `shape_type`, `occluded`, `z_order` | 0/false/0 | ✓ | 0/false/0 |
//! | `points` | empty | little-endian f64s | empty |
//! | `attributes` | JSON `[[spec_id,"value"],…]` | same | immutable ones |
//! | `keyframes` | NULL | NULL | JSON list of keyframes with their ids |
//!
//! Points are stored as raw f64 bytes, so they round-trip bit for bit and cost no float
//! parsing on read. Reading a job is one range scan of the `(job_id, kind, frame, id)`
//! index, already in the order the API returns (tags, shapes by frame then id; tracks are
//! re-sorted by id). A write is one transaction: the job row is locked first by bumping
//! its version (`UPDATE … RETURNING version`), which serializes concurrent writes to one
//! job on both engines, then rows are deleted and bulk-inserted (multi-row `VALUES` on
//! SQLite, `UNNEST` of column arrays on PostgreSQL), a commit row is added, and the
//! task's `updated_date` moves when objects were created or deleted.
//!
//! Ids come from one sequence shared by every kind (keyframes included). They are
//! reserved in blocks before the write ([`Db::reserve_annotation_ids`]) so that the
//! caller can build its response while the ids are known.

use ferrocat_wire::annotations::{
    AttributeValue, LabeledData, Shape, ShapeType, Tag, Track, TrackedShape,
};
use futures_util::TryStreamExt;
use sqlx::Row;

use crate::{Db, Result, StoreError, with_db};

pub const KIND_TAG: i16 = 0;
pub const KIND_SHAPE: i16 = 1;
pub const KIND_TRACK: i16 = 2;

/// Rows per multi-row `INSERT` on SQLite (12 columns: well under its variable limit).
const SQLITE_BATCH: usize = 1000;
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

/// Rows to insert, as column vectors (PostgreSQL binds each as one array).
#[derive(Default)]
struct Rows {
    id: Vec<i64>,
    job_id: Vec<i64>,
    kind: Vec<i16>,
    frame: Vec<i64>,
    label_id: Vec<i64>,
    grp: Vec<Option<i64>>,
    shape_type: Vec<i16>,
    occluded: Vec<bool>,
    z_order: Vec<i64>,
    points: Vec<Vec<u8>>,
    attributes: Vec<String>,
    keyframes: Vec<Option<String>>,
}

impl Rows {
    fn len(&self) -> usize {
        self.id.len()
    }

    fn push_doc(&mut self, job_id: i64, d: &LabeledData) -> Result<()> {
        for t in &d.tags {
            self.push(job_id, KIND_TAG, t.id, t.frame, t.label_id, t.group, None)?;
            self.attributes.push(encode_attributes(&t.attributes));
        }
        for s in &d.shapes {
            self.push(
                job_id,
                KIND_SHAPE,
                s.id,
                s.frame,
                s.label_id,
                s.group,
                Some(s),
            )?;
            self.attributes.push(encode_attributes(&s.attributes));
        }
        for t in &d.tracks {
            self.push(job_id, KIND_TRACK, t.id, t.frame, t.label_id, t.group, None)?;
            self.attributes.push(encode_attributes(&t.attributes));
            let kf =
                serde_json::to_string(&t.shapes).map_err(|e| StoreError::Invalid(e.to_string()))?;
            *self.keyframes.last_mut().expect("pushed") = Some(kf);
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        job_id: i64,
        kind: i16,
        id: Option<i64>,
        frame: i64,
        label_id: i64,
        grp: Option<i64>,
        shape: Option<&Shape>,
    ) -> Result<()> {
        let id = id.ok_or_else(|| StoreError::Invalid("annotation without an id".into()))?;
        self.id.push(id);
        self.job_id.push(job_id);
        self.kind.push(kind);
        self.frame.push(frame);
        self.label_id.push(label_id);
        self.grp.push(grp);
        match shape {
            Some(s) => {
                self.shape_type.push(s.kind.code());
                self.occluded.push(s.occluded);
                self.z_order.push(s.z_order);
                self.points.push(encode_points(&s.points));
            }
            None => {
                self.shape_type.push(0);
                self.occluded.push(false);
                self.z_order.push(0);
                self.points.push(Vec::new());
            }
        }
        self.keyframes.push(None);
        Ok(())
    }
}

pub fn encode_points(p: &[f64]) -> Vec<u8> {
    let mut out = Vec::with_capacity(p.len() * 8);
    for f in p {
        out.extend_from_slice(&f.to_le_bytes());
    }
    out
}

pub fn decode_points(b: &[u8]) -> Vec<f64> {
    b.chunks_exact(8)
        .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")))
        .collect()
}

fn encode_attributes(a: &[AttributeValue]) -> String {
    let pairs: Vec<(i64, &str)> = a.iter().map(|a| (a.spec_id, a.value.as_str())).collect();
    serde_json::to_string(&pairs).unwrap_or_else(|_| "[]".into())
}

fn decode_attributes(s: &str) -> Result<Vec<AttributeValue>> {
    let pairs: Vec<(i64, String)> = serde_json::from_str(s)
        .map_err(|e| StoreError::Invalid(format!("stored attributes: {e}")))?;
    Ok(pairs
        .into_iter()
        .map(|(spec_id, value)| AttributeValue { spec_id, value })
        .collect())
}

/// Inserting rows differs by engine (speed): multi-row VALUES vs. UNNEST.
trait BulkInsert {
    async fn insert_rows(&mut self, rows: &Rows) -> Result<()>;
}

const INSERT_COLS: &str = "INSERT INTO annotations (id, job_id, kind, frame, label_id, grp, shape_type, \
     occluded, z_order, points, attributes, keyframes) ";

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
                    .push_bind(rows.grp[i])
                    .push_bind(rows.shape_type[i])
                    .push_bind(rows.occluded[i])
                    .push_bind(rows.z_order[i])
                    .push_bind(rows.points[i].as_slice())
                    .push_bind(rows.attributes[i].as_str())
                    .push_bind(rows.keyframes[i].as_deref());
            });
            qb.build().execute(&mut *self).await?;
            start = end;
        }
        Ok(())
    }
}

impl BulkInsert for sqlx::PgConnection {
    async fn insert_rows(&mut self, rows: &Rows) -> Result<()> {
        if rows.len() == 0 {
            return Ok(());
        }
        sqlx::query(
            "INSERT INTO annotations (id, job_id, kind, frame, label_id, grp, shape_type,
                 occluded, z_order, points, attributes, keyframes)
             SELECT * FROM UNNEST($1::bigint[], $2::bigint[], $3::smallint[], $4::bigint[],
                 $5::bigint[], $6::bigint[], $7::smallint[], $8::bool[], $9::bigint[],
                 $10::bytea[], $11::text[], $12::text[])",
        )
        .bind(&rows.id)
        .bind(&rows.job_id)
        .bind(&rows.kind)
        .bind(&rows.frame)
        .bind(&rows.label_id)
        .bind(&rows.grp)
        .bind(&rows.shape_type)
        .bind(&rows.occluded)
        .bind(&rows.z_order)
        .bind(&rows.points)
        .bind(&rows.attributes)
        .bind(&rows.keyframes)
        .execute(&mut *self)
        .await?;
        // Ids sent by clients may lie beyond the sequence; move it past them so that
        // later reservations never collide.
        let max = rows.id.iter().copied().max().unwrap_or(0);
        sqlx::query(
            "SELECT setval(pg_get_serial_sequence('annotations', 'id'), $1)
             WHERE $1 > (SELECT last_value FROM annotations_id_seq)",
        )
        .bind(max)
        .execute(&mut *self)
        .await?;
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
            Db::Postgres(p) => {
                let mut ids: Vec<i64> = sqlx::query_scalar(
                    "SELECT nextval(pg_get_serial_sequence('annotations', 'id')) FROM generate_series(1, $1)",
                )
                .bind(n)
                .fetch_all(p)
                .await?;
                ids.sort_unstable();
                Ok(ids)
            }
        }
    }

    /// The stored objects of a job, in API order (tags and shapes by frame then id,
    /// tracks by id, keyframes by frame). `version` is the job's.
    pub async fn job_annotations(&self, job_id: i64) -> Result<LabeledData> {
        let mut doc = LabeledData::default();
        with_db!(self, |p| {
            let (version,): (i64,) = sqlx::query_as("SELECT version FROM jobs WHERE id = $1")
                .bind(job_id)
                .fetch_one(p)
                .await?;
            doc.version = version;
            let mut rows = sqlx::query(
                "SELECT id, kind, frame, label_id, grp, shape_type, occluded, z_order, points,
                        attributes, keyframes
                 FROM annotations WHERE job_id = $1 ORDER BY kind, frame, id",
            )
            .bind(job_id)
            .fetch(p);
            while let Some(r) = rows.try_next().await? {
                let id: i64 = r.try_get(0)?;
                let kind: i16 = r.try_get(1)?;
                let frame: i64 = r.try_get(2)?;
                let label_id: i64 = r.try_get(3)?;
                let group: Option<i64> = r.try_get(4)?;
                let attributes = decode_attributes(r.try_get::<&str, _>(9)?)?;
                match kind {
                    KIND_TAG => doc.tags.push(Tag {
                        id: Some(id),
                        frame,
                        label_id,
                        group,
                        attributes,
                    }),
                    KIND_SHAPE => {
                        let code: i16 = r.try_get(5)?;
                        doc.shapes.push(Shape {
                            kind: ShapeType::from_code(code).ok_or_else(|| {
                                StoreError::Invalid(format!("stored shape type {code}"))
                            })?,
                            occluded: r.try_get(6)?,
                            z_order: r.try_get(7)?,
                            points: decode_points(r.try_get::<&[u8], _>(8)?),
                            id: Some(id),
                            frame,
                            label_id,
                            group,
                            attributes,
                        })
                    }
                    _ => {
                        let kf: Option<&str> = r.try_get(10)?;
                        let mut shapes: Vec<TrackedShape> =
                            serde_json::from_str(kf.unwrap_or("[]")).map_err(|e| {
                                StoreError::Invalid(format!("stored keyframes: {e}"))
                            })?;
                        shapes.sort_by_key(|s| s.frame);
                        doc.tracks.push(Track {
                            id: Some(id),
                            frame,
                            label_id,
                            group,
                            shapes,
                            attributes,
                        })
                    }
                }
            }
            Ok::<_, StoreError>(())
        })?;
        doc.tracks.sort_by_key(|t| t.id);
        Ok(doc)
    }

    /// Applies writes to one or more jobs of a task in one transaction (§9.4–§9.6).
    /// Every written job's version goes up by one, even when nothing changes.
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
                let (v,): (i64,) = sqlx::query_as(
                    "UPDATE jobs SET version = version + 1 WHERE id = $1 RETURNING version",
                )
                .bind(writes[i].job_id)
                .fetch_one(&mut *tx)
                .await?;
                versions[i] = v;
            }
            let current = versions.iter().copied().max().unwrap_or(1) - 1;
            if let Some(expect) = meta.expect_version
                && expect != current
            {
                tx.rollback().await?;
                return Ok(WriteOutcome::Conflict(current));
            }
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
            let mut rows = Rows::default();
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
                if let WriteOp::Replace(d) | WriteOp::Create(d) | WriteOp::Update(d) = w.op {
                    rows.push_doc(job, d)?;
                }
            }
            changed |= rows.len() > 0;
            (*tx).insert_rows(&rows).await?;
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
                let body = (idem.render)(current + 1);
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
