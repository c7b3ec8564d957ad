//! Where the time of a 100,000-shape job goes in the store: write, then read, each step
//! timed. `cargo run --release -p ferrocat-store --example annotations_profile [PG URL]`.

use std::time::Instant;

use ferrocat_store::Db;
use ferrocat_store::annotations::{JobWrite, WriteMeta, WriteOp};
use ferrocat_wire::annotations::{AttributeValue, LabeledData, Shape, ShapeType};

async fn job(db: &Db) -> (i64, i64) {
    let task = db
        .insert_task(&ferrocat_store::tasks::NewTask {
            name: "p".into(),
            segment_size: 0,
            ..Default::default()
        })
        .await
        .unwrap();
    let sql_seg =
        "INSERT INTO segments (task_id, start_frame, stop_frame) VALUES ($1, 0, 99) RETURNING id";
    let sql_job = "INSERT INTO jobs (segment_id) VALUES ($1) RETURNING id";
    let job: i64 = ferrocat_store::with_db!(db, |p| {
        let (seg,): (i64,) = sqlx::query_as(sql_seg)
            .bind(task)
            .fetch_one(p)
            .await
            .unwrap();
        let (job,): (i64,) = sqlx::query_as(sql_job)
            .bind(seg)
            .fetch_one(p)
            .await
            .unwrap();
        job
    });
    (task, job)
}

fn doc(n: usize) -> LabeledData {
    LabeledData {
        shapes: (0..n)
            .map(|i| Shape {
                kind: if i % 2 == 0 {
                    ShapeType::Rectangle
                } else {
                    ShapeType::Polygon
                },
                occluded: false,
                z_order: 0,
                points: if i % 2 == 0 {
                    vec![1.5, 2.5, 30.25, 40.125]
                } else {
                    (0..16).map(|k| k as f64 * 1.37).collect()
                },
                id: None,
                frame: (i % 100) as i64,
                label_id: 1,
                group: Some(0),
                attributes: vec![
                    AttributeValue {
                        spec_id: 1,
                        value: "b".into(),
                    },
                    AttributeValue {
                        spec_id: 2,
                        value: format!("v{}", i % 13),
                    },
                ],
            })
            .collect(),
        ..Default::default()
    }
}

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().unwrap();
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| format!("sqlite://{}", dir.path().join("p.db").display()));
    let db = Db::connect(&url, 4).await.unwrap();
    db.migrate().await.unwrap();
    let (task, job) = job(&db).await;
    let mut d = doc(100_000);
    let t = Instant::now();
    let ids = db.reserve_annotation_ids(d.shapes.len()).await.unwrap();
    // as ferrocat-core does: new ids in frame order
    let mut order: Vec<usize> = (0..d.shapes.len()).collect();
    order.sort_by_key(|&i| d.shapes[i].frame);
    for (i, id) in order.into_iter().zip(ids) {
        d.shapes[i].id = Some(id);
    }
    println!(
        "reserve ids      {:7.1} ms",
        t.elapsed().as_secs_f64() * 1e3
    );
    for op in ["clear", "create"] {
        let t = Instant::now();
        let w = if op == "clear" {
            WriteOp::Clear
        } else {
            WriteOp::Create(&d)
        };
        db.write_annotations(
            &[JobWrite { job_id: job, op: w }],
            &WriteMeta {
                version_step: 1,
                task_id: task,
                author_id: None,
                expect_version: None,
                idempotency: None,
            },
        )
        .await
        .unwrap();
        println!("{op:16} {:7.1} ms", t.elapsed().as_secs_f64() * 1e3);
    }
    let mut small = doc(100);
    let mut times = Vec::new();
    for _ in 0..20 {
        let t = Instant::now();
        let ids = db.reserve_annotation_ids(100).await.unwrap();
        for (s, id) in small.shapes.iter_mut().zip(ids) {
            s.id = Some(id);
        }
        db.write_annotations(
            &[JobWrite {
                job_id: job,
                op: WriteOp::Create(&small),
            }],
            &WriteMeta {
                version_step: 1,
                task_id: task,
                author_id: None,
                expect_version: None,
                idempotency: None,
            },
        )
        .await
        .unwrap();
        times.push(t.elapsed().as_secs_f64() * 1e3);
    }
    times.sort_by(f64::total_cmp);
    println!("create 100 median {:6.1} ms", times[10]);
    for round in 0..2 {
        let t = Instant::now();
        db.write_annotations(
            &[JobWrite {
                job_id: job,
                op: WriteOp::Replace(&d),
            }],
            &WriteMeta {
                version_step: 1,
                task_id: task,
                author_id: None,
                expect_version: None,
                idempotency: None,
            },
        )
        .await
        .unwrap();
        println!(
            "write #{round}         {:7.1} ms",
            t.elapsed().as_secs_f64() * 1e3
        );
    }
    for _ in 0..3 {
        let t = Instant::now();
        let ids: Vec<(i64,)> = ferrocat_store::with_db!(&db, |p| sqlx::query_as(
            "SELECT id FROM annotations WHERE job_id = $1 ORDER BY kind, frame, id"
        )
        .bind(job)
        .fetch_all(p)
        .await
        .unwrap());
        println!(
            "select ids only  {:7.1} ms ({} rows)",
            t.elapsed().as_secs_f64() * 1e3,
            ids.len()
        );
        let t = Instant::now();
        let bodies: Vec<Vec<u8>> = ferrocat_store::with_db!(&db, |p| sqlx::query_scalar(
            "SELECT body FROM annotations WHERE job_id = $1 ORDER BY kind, frame, id"
        )
        .bind(job)
        .fetch_all(p)
        .await
        .unwrap());
        println!(
            "select bodies    {:7.1} ms",
            t.elapsed().as_secs_f64() * 1e3
        );
        let t = Instant::now();
        let n = bodies
            .iter()
            .map(|b| ferrocat_store::annotations::codec::decode(b).is_ok() as usize)
            .sum::<usize>();
        println!(
            "decode bodies    {:7.1} ms ({n})",
            t.elapsed().as_secs_f64() * 1e3
        );
        let t = Instant::now();
        let got = db.job_annotations(job).await.unwrap();
        println!(
            "job_annotations  {:7.1} ms",
            t.elapsed().as_secs_f64() * 1e3
        );
        let t = Instant::now();
        let bytes = serde_json::to_vec(&got).unwrap();
        println!(
            "serialize        {:7.1} ms ({} bytes)",
            t.elapsed().as_secs_f64() * 1e3,
            bytes.len()
        );
    }
}
