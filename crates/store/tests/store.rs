//! Store tests, each on SQLite (a temp file) and on PostgreSQL (a fresh schema in
//! `FERROCAT_TEST_PG`; skipped with a notice when unset, required when `CI` is set).

use std::str::FromStr;

use chrono::Duration;
use ferrocat_store::auth::SessionRow;
use ferrocat_store::{Db, NewUser, StoreError, UserPatch, UserSort};
use sqlx::postgres::PgConnectOptions;
use sqlx::sqlite::SqliteConnectOptions;

async fn sqlite(dir: &tempfile::TempDir) -> Db {
    let opts =
        SqliteConnectOptions::from_str(&format!("sqlite://{}", dir.path().join("t.db").display()))
            .unwrap()
            .create_if_missing(true);
    let db = Db::connect_sqlite(opts, 4).await.unwrap();
    db.migrate().await.unwrap();
    db
}

async fn postgres() -> Option<Db> {
    let url = match std::env::var("FERROCAT_TEST_PG") {
        Ok(u) if !u.is_empty() => u,
        _ => {
            assert!(
                std::env::var("CI").is_err(),
                "FERROCAT_TEST_PG must be set in CI"
            );
            eprintln!("notice: FERROCAT_TEST_PG is unset; skipping the PostgreSQL variant");
            return None;
        }
    };
    let schema = format!("fs_{}", rand::random::<u64>());
    let admin = Db::connect(&url, 1).await.unwrap();
    if let Db::Postgres(p) = &admin {
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
            .execute(p)
            .await
            .unwrap();
    }
    admin.close().await;
    let opts = PgConnectOptions::from_str(&url)
        .unwrap()
        .options([("search_path", schema.as_str())]);
    let db = Db::connect_postgres(opts, 4).await.unwrap();
    db.migrate().await.unwrap();
    Some(db)
}

macro_rules! both {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test]
            async fn sqlite() {
                let dir = tempfile::tempdir().unwrap();
                super::$name(super::sqlite(&dir).await).await
            }
            #[tokio::test]
            async fn postgres() {
                if let Some(db) = super::postgres().await {
                    super::$name(db).await
                }
            }
        }
    )*};
}

both!(
    users_round_trip,
    uniqueness_is_case_insensitive,
    tokens_and_sessions,
    deleting_a_user_cascades,
    migrations_are_idempotent,
    a_released_claim_is_taken_over_at_once,
    enqueues_of_one_key_follow_each_other,
    queued_work_is_announced
);

fn new_user(name: &str, email: &str) -> NewUser {
    NewUser {
        username: name.into(),
        password_hash: "h".into(),
        email: email.into(),
        groups: vec!["user".into(), "annotator".into()],
        ..Default::default()
    }
}

async fn users_round_trip(db: Db) {
    assert_eq!(db.count_users().await.unwrap(), 0);
    let id = db
        .insert_user(&new_user("Zed", "zed@example.com"))
        .await
        .unwrap();
    let u = db.user(id).await.unwrap().unwrap();
    assert_eq!(u.username, "Zed");
    assert_eq!(u.groups, vec!["annotator", "user"]);
    assert!(u.is_active && !u.is_staff && u.last_login.is_none());
    let by_name = db.user_by_username("zED").await.unwrap().unwrap();
    assert_eq!(by_name.id, id);
    let t = ferrocat_store::now();
    db.set_last_login(id, t).await.unwrap();
    assert_eq!(
        db.user(id).await.unwrap().unwrap().last_login,
        Some(t),
        "microsecond timestamps round-trip"
    );
    db.update_user(
        id,
        &UserPatch {
            first_name: Some("Z".into()),
            is_staff: Some(true),
            groups: Some(vec!["admin".into()]),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let u = db.user(id).await.unwrap().unwrap();
    assert_eq!(
        (u.first_name.as_str(), u.is_staff, u.groups.clone()),
        ("Z", true, vec!["admin".to_string()])
    );
    let id2 = db.insert_user(&new_user("amy", "")).await.unwrap();
    let sorted = db
        .list_users(&[(UserSort::Username, false)], 0, None)
        .await
        .unwrap();
    assert_eq!(
        sorted.iter().map(|u| u.id).collect::<Vec<_>>(),
        vec![id2, id]
    );
    let page = db.list_users(&[], 1, Some(1)).await.unwrap();
    assert_eq!(page.len(), 1);
    assert_eq!(page[0].id, id2);
    assert_eq!(
        db.group_names().await.unwrap(),
        vec!["admin", "annotator", "observer", "user"]
    );
}

async fn uniqueness_is_case_insensitive(db: Db) {
    db.insert_user(&new_user("Bob", "bob@example.com"))
        .await
        .unwrap();
    assert!(matches!(
        db.insert_user(&new_user("BOB", "")).await,
        Err(StoreError::Unique(_))
    ));
    assert!(matches!(
        db.insert_user(&new_user("bobby", "BOB@example.com")).await,
        Err(StoreError::Unique(_))
    ));
    // many users without e-mail are fine
    db.insert_user(&new_user("a1", "")).await.unwrap();
    db.insert_user(&new_user("a2", "")).await.unwrap();
    assert!(db.username_taken("bob", None).await.unwrap());
    assert!(db.email_taken("Bob@Example.com", None).await.unwrap());
    assert_eq!(db.count_users().await.unwrap(), 3);
}

async fn tokens_and_sessions(db: Db) {
    let id = db.insert_user(&new_user("tok", "")).await.unwrap();
    let k1 = db.get_or_create_token(id, &"a".repeat(40)).await.unwrap();
    let k2 = db.get_or_create_token(id, &"b".repeat(40)).await.unwrap();
    assert_eq!(k1, k2, "one token per user");
    assert_eq!(db.user_by_token(&k1).await.unwrap().unwrap().id, id);
    db.delete_token(id).await.unwrap();
    assert!(db.user_by_token(&k1).await.unwrap().is_none());

    let live = SessionRow {
        key: "s1".into(),
        user_id: id,
        csrf: "c".into(),
        expires: ferrocat_store::now() + Duration::days(1),
    };
    let dead = SessionRow {
        key: "s0".into(),
        user_id: id,
        csrf: "c".into(),
        expires: ferrocat_store::now() - Duration::days(1),
    };
    db.insert_session(&live).await.unwrap();
    db.insert_session(&dead).await.unwrap();
    assert_eq!(db.session("s1").await.unwrap(), Some(live.clone()));
    assert_eq!(db.session("s0").await.unwrap(), None);
    assert_eq!(db.latest_session(id).await.unwrap().unwrap().key, "s1");
    assert_eq!(db.purge_expired_sessions().await.unwrap(), 1);
    db.delete_sessions_of(id, Some("s1")).await.unwrap();
    assert!(db.session("s1").await.unwrap().is_some());
    db.delete_session("s1").await.unwrap();
    assert!(db.session("s1").await.unwrap().is_none());
}

async fn deleting_a_user_cascades(db: Db) {
    let id = db.insert_user(&new_user("gone", "")).await.unwrap();
    db.get_or_create_token(id, &"c".repeat(40)).await.unwrap();
    let s = SessionRow {
        key: "sx".into(),
        user_id: id,
        csrf: "c".into(),
        expires: ferrocat_store::now() + Duration::days(1),
    };
    db.insert_session(&s).await.unwrap();
    db.insert_client_exception(Some(id), None, None, &serde_json::json!({"m": 1}))
        .await
        .unwrap();
    assert!(db.delete_user(id).await.unwrap());
    assert!(!db.delete_user(id).await.unwrap());
    assert!(db.user_by_token(&"c".repeat(40)).await.unwrap().is_none());
    assert!(db.session("sx").await.unwrap().is_none());
    assert_eq!(
        db.client_exceptions(5).await.unwrap().len(),
        1,
        "reports outlive their author"
    );
}

/// A claim given back at shutdown is claimed again at once, not after its lease.
async fn a_released_claim_is_taken_over_at_once(db: Db) {
    let id = db.enqueue("k1", "data", "{}", None).await.unwrap();
    let lease = Duration::seconds(600);
    let first = db.claim_queue_item(lease).await.unwrap().unwrap();
    assert_eq!(first.id, id);
    assert!(db.claim_queue_item(lease).await.unwrap().is_none());
    // a renewal moves the lease on and keeps the message
    db.queue_progress(id, "working", Duration::seconds(1))
        .await
        .unwrap();
    db.renew_queue_lease(id, lease).await.unwrap();
    let renewed = db.queue_item("k1").await.unwrap().unwrap();
    assert_eq!(renewed.message, "working");
    assert!(renewed.lease_until.unwrap() > ferrocat_store::now() + Duration::seconds(500));
    assert_eq!(db.release_queue_items(&[id, id + 1000]).await.unwrap(), 1);
    let again = db.claim_queue_item(lease).await.unwrap().unwrap();
    assert_eq!((again.id, again.attempts), (id, 2));
    db.queue_done(id, false, "").await.unwrap();
    assert_eq!(db.release_queue_items(&[id]).await.unwrap(), 0);
    assert_eq!(
        db.queue_item("k1").await.unwrap().unwrap().state,
        "finished"
    );
}

/// Requests racing on one key (two clients asking for the same export): every enqueue
/// succeeds and one item is left; an item replaced meanwhile is neither deleted by a
/// late dequeue of the old one nor ended by the old one's worker.
async fn enqueues_of_one_key_follow_each_other(db: Db) {
    let racing = (0..12).map(|i| {
        let db = db.clone();
        async move {
            db.enqueue("export:k", "export", &format!("{{\"n\": {i}}}"), None)
                .await
        }
    });
    let ids: Vec<i64> = futures_util::future::join_all(racing)
        .await
        .into_iter()
        .map(|r| r.expect("a racing enqueue failed"))
        .collect();
    let left = db.queue_item("export:k").await.unwrap().unwrap();
    assert!(ids.contains(&left.id));
    // a worker runs the item; a client replaces it (a newer state) meanwhile
    let lease = Duration::seconds(600);
    let running = db.claim_queue_item(lease).await.unwrap().unwrap();
    let newer = db.enqueue("export:k", "export", "{}", None).await.unwrap();
    db.queue_progress(running.id, "old", lease).await.unwrap();
    db.queue_done(running.id, true, "old failed").await.unwrap();
    db.dequeue(&running).await.unwrap();
    assert!(!db.dequeue_queued(&running).await.unwrap());
    let now = db.queue_item("export:k").await.unwrap().unwrap();
    assert_eq!(
        (now.id, now.state.as_str(), now.message.as_str()),
        (newer, "queued", "")
    );
    assert!(db.dequeue_queued(&now).await.unwrap());
    assert!(db.queue_item("export:k").await.unwrap().is_none());
}

/// On PostgreSQL every enqueue and every release is announced to listeners of all
/// processes; SQLite has no listener (its workers poll).
async fn queued_work_is_announced(db: Db) {
    let Some(mut listener) = db.queue_listener().await.unwrap() else {
        assert_eq!(db.backend(), "sqlite");
        return;
    };
    let wait = std::time::Duration::from_secs(10);
    db.enqueue("k", "data", "{}", None).await.unwrap();
    assert!(
        tokio::time::timeout(wait, listener.next())
            .await
            .unwrap()
            .unwrap()
    );
    let item = db
        .claim_queue_item(Duration::seconds(600))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(db.release_queue_items(&[item.id]).await.unwrap(), 1);
    assert!(
        tokio::time::timeout(wait, listener.next())
            .await
            .unwrap()
            .unwrap()
    );
}

async fn migrations_are_idempotent(db: Db) {
    db.migrate().await.unwrap();
    db.ping().await.unwrap();
}

/// Both migration histories produce the same tables and columns, and the two folders hold
/// the same file names.
#[tokio::test]
async fn schema_parity() {
    let names = |backend: &str| {
        let mut v: Vec<String> = std::fs::read_dir(format!(
            "{}/migrations/{backend}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
        v.sort();
        v
    };
    assert_eq!(
        names("sqlite"),
        names("postgres"),
        "migrations come in pairs"
    );
    let dir = tempfile::tempdir().unwrap();
    let lite = sqlite(&dir).await.schema_columns().await.unwrap();
    assert!(lite.iter().any(|(t, c)| t == "users" && c == "username"));
    let Some(pg) = postgres().await else { return };
    let pg = pg.schema_columns().await.unwrap();
    assert_eq!(lite, pg, "SQLite and PostgreSQL schemas differ");
}
