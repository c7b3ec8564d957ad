//! api-v1 §4.5: users, field visibility, permissions, pagination.

use reqwest::Method;
use serde_json::{Value, json};

use crate::common::{Backend, TestApp};
use crate::db_tests;

db_tests!(
    seed_users_self_and_list,
    field_visibility_by_role,
    patch_rules_and_denials,
    delete_users,
    pagination_edges,
    malformed_bodies,
);

const FULL_KEYS: [&str; 12] = [
    "url",
    "id",
    "username",
    "first_name",
    "last_name",
    "email",
    "groups",
    "is_staff",
    "is_superuser",
    "is_active",
    "last_login",
    "date_joined",
];
const BASIC_KEYS: [&str; 5] = ["url", "id", "username", "first_name", "last_name"];

fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
    k.sort();
    k
}

fn sorted(k: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = k.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

fn is_cvat_datetime(v: &Value) -> bool {
    let s = v.as_str().unwrap_or("");
    ferrocat_wire::time::parse(s).is_some()
        && s.contains('T')
        && (s.ends_with('Z') || s.contains('+'))
}

/// The seed's `GET /users/self` and `GET /users?page_size=all`, field for field.
async fn seed_users_self_and_list(app: TestApp) {
    let r = TestApp::read(
        app.client
            .get(app.url("/api/v1/users/self"))
            .header("Host", "alexking.site:8080")
            .header("Authorization", format!("Token {}", app.admin_token))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 200);
    let me = &r.body;
    assert_eq!(keys(me), sorted(&FULL_KEYS));
    assert_eq!(me["url"], "http://alexking.site:8080/api/v1/users/1");
    assert_eq!(me["id"], 1);
    assert_eq!(me["username"], "admin");
    assert_eq!(me["first_name"], "");
    assert_eq!(me["groups"], json!(["admin"]));
    assert_eq!(
        (
            me["is_staff"].clone(),
            me["is_superuser"].clone(),
            me["is_active"].clone()
        ),
        (json!(true), json!(true), json!(true))
    );
    assert!(
        is_cvat_datetime(&me["last_login"]) && is_cvat_datetime(&me["date_joined"]),
        "{me}"
    );
    assert!(me["date_joined"].as_str().unwrap().ends_with('Z'));

    app.register("Alex", "Str0ng-Passw0rd!").await;
    let (dabai, _) = app.register("dabai", "Str0ng-Passw0rd!").await;
    app.patch(
        &format!("/api/v1/users/{dabai}"),
        &app.admin_token,
        json!({"groups": []}),
    )
    .await;
    let r = app
        .get("/api/v1/users?page_size=all", &app.admin_token)
        .await;
    assert_eq!(r.status, 200);
    let page = &r.body;
    assert_eq!(
        keys(page),
        sorted(&["count", "next", "previous", "results"])
    );
    assert_eq!(page["count"], 3);
    assert_eq!(page["next"], Value::Null);
    assert_eq!(page["previous"], Value::Null);
    let results = page["results"].as_array().unwrap();
    assert_eq!(
        results
            .iter()
            .map(|u| u["username"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["admin", "Alex", "dabai"]
    );
    for u in results {
        assert_eq!(
            keys(u),
            sorted(&FULL_KEYS),
            "staff callers see full objects"
        );
    }
    assert_eq!(results[2]["groups"], json!([]));
    assert_eq!(results[2]["is_staff"], false);
    assert!(
        results[2]["url"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/api/v1/users/{dabai}"))
    );
}

async fn field_visibility_by_role(app: TestApp) {
    let (uid, token) = app.user_in("plain", &["user"]).await;
    let (other, _) = app.user_in("other", &["annotator"]).await;
    // lists: basic form for non-staff, even for their own entry
    let r = app.get("/api/v1/users?page_size=all", &token).await;
    for u in r.body["results"].as_array().unwrap() {
        assert_eq!(keys(u), sorted(&BASIC_KEYS), "{u}");
    }
    // only visible fields order the list: a hidden one is ignored like an unknown one
    let names = |r: &crate::common::Resp, key: &str| -> Vec<String> {
        r.body["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u[key].as_str().unwrap().to_string())
            .collect()
    };
    for hidden in [
        "-email",
        "email",
        "-last_login",
        "-is_superuser",
        "-is_staff,-email",
    ] {
        let r = app
            .get(
                &format!("/api/v1/users?page_size=all&ordering={hidden}"),
                &token,
            )
            .await;
        assert_eq!(
            names(&r, "username"),
            ["admin", "plain", "other"],
            "{hidden}"
        );
    }
    let r = app
        .get("/api/v1/users?page_size=all&ordering=-username", &token)
        .await;
    assert_eq!(names(&r, "username"), ["plain", "other", "admin"]);
    let r = app
        .get(
            "/api/v1/users?page_size=all&ordering=-email",
            &app.admin_token,
        )
        .await;
    let emails = names(&r, "email");
    let mut desc = emails.clone();
    desc.sort_by(|a, b| b.cmp(a));
    assert_eq!(emails, desc);
    assert_ne!(names(&r, "username"), ["admin", "plain", "other"]);
    // another user: basic; oneself: full
    let r = app.get(&format!("/api/v1/users/{other}"), &token).await;
    assert_eq!(keys(&r.body), sorted(&BASIC_KEYS));
    let r = app.get(&format!("/api/v1/users/{uid}"), &token).await;
    assert_eq!(keys(&r.body), sorted(&FULL_KEYS));
    let r = app.get("/api/v1/users/self", &token).await;
    assert_eq!(keys(&r.body), sorted(&FULL_KEYS));
    // staff see everything in full
    let r = app
        .get(&format!("/api/v1/users/{other}"), &app.admin_token)
        .await;
    assert_eq!(keys(&r.body), sorted(&FULL_KEYS));
    assert_eq!(r.body["groups"], json!(["annotator"]));
    // unknown and malformed ids
    for path in [
        "/api/v1/users/9999",
        "/api/v1/users/abc",
        "/api/v1/users/-1",
    ] {
        let r = app.get(path, &token).await;
        assert_eq!(r.status, 404, "{path}");
        assert_eq!(r.body, json!({"detail": "Not found."}));
    }
}

async fn patch_rules_and_denials(app: TestApp) {
    let (uid, token) = app.user_in("worker", &["user"]).await;
    let (other, _) = app.user_in("victim", &["user"]).await;
    // non-admins may not edit others
    let r = app
        .patch(
            &format!("/api/v1/users/{other}"),
            &token,
            json!({"first_name": "X"}),
        )
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(
        r.body,
        json!({"detail": "You do not have permission to perform this action."})
    );
    // ... may edit themselves through the basic serializer
    let r = app
        .patch(
            &format!("/api/v1/users/{uid}"),
            &token,
            json!({"first_name": "Wor", "last_name": "Ker", "id": 5}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(keys(&r.body), sorted(&BASIC_KEYS));
    assert_eq!(r.body["first_name"], "Wor");
    assert_eq!(r.body["id"], uid);
    // ... but not their groups or flags
    let r = app
        .patch(
            &format!("/api/v1/users/{uid}"),
            &token,
            json!({"groups": ["admin"], "is_staff": true}),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.body,
        json!({"non_field_errors": ["You do not have permissions to access some of these fields: {'groups', 'is_staff'}"]})
    );
    let r = app
        .patch(&format!("/api/v1/users/{uid}"), &token, json!({"foo": 1}))
        .await;
    assert_eq!(
        r.body,
        json!({"non_field_errors": ["Got unknown fields: {'foo'}"]})
    );
    let me = app.get("/api/v1/users/self", &token).await;
    assert_eq!(me.body["groups"], json!(["user"]));
    // admins: groups must exist; usernames stay unique
    let path = format!("/api/v1/users/{other}");
    let r = app
        .patch(
            &path,
            &app.admin_token,
            json!({"groups": ["user", "wizard"]}),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.body,
        json!({"groups": ["Object with name=wizard does not exist."]})
    );
    let r = app
        .patch(&path, &app.admin_token, json!({"username": "WORKER"}))
        .await;
    assert_eq!(
        r.body,
        json!({"username": ["A user with that username already exists."]})
    );
    let r = app
        .patch(&path, &app.admin_token, json!({"is_active": "maybe"}))
        .await;
    assert_eq!(r.body, json!({"is_active": ["Must be a valid boolean."]}));
    let r = app
        .patch(&path, &app.admin_token, json!({"groups": ["observer", "annotator"], "is_staff": true, "email": "v@example.org"}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["groups"], json!(["annotator", "observer"]));
    assert_eq!(r.body["is_staff"], true);
    // a failed patch changed nothing
    let v = app.get(&path, &app.admin_token).await;
    assert_eq!(v.body["username"], "victim");
    // PUT and POST are not allowed
    let r = app
        .call(Method::PUT, &path, Some(&app.admin_token), Some(json!({})))
        .await;
    assert_eq!(r.status, 405);
    assert_eq!(r.body, json!({"detail": "Method \"PUT\" not allowed."}));
    let r = app
        .post("/api/v1/users", Some(&app.admin_token), json!({}))
        .await;
    assert_eq!(r.status, 405);
}

async fn delete_users(app: TestApp) {
    let (a, token_a) = app.user_in("alpha", &["user"]).await;
    let (b, _) = app.user_in("beta", &["user"]).await;
    let r = app
        .call(
            Method::DELETE,
            &format!("/api/v1/users/{b}"),
            Some(&token_a),
            None,
        )
        .await;
    assert_eq!(r.status, 403);
    let r = app
        .call(
            Method::DELETE,
            &format!("/api/v1/users/{b}"),
            Some(&app.admin_token),
            None,
        )
        .await;
    assert_eq!(r.status, 204);
    assert_eq!(
        app.get(&format!("/api/v1/users/{b}"), &app.admin_token)
            .await
            .status,
        404
    );
    let r = app
        .call(
            Method::DELETE,
            &format!("/api/v1/users/{b}"),
            Some(&app.admin_token),
            None,
        )
        .await;
    assert_eq!(r.status, 404);
    // users may delete themselves; their token dies with them
    let r = app
        .call(
            Method::DELETE,
            &format!("/api/v1/users/{a}"),
            Some(&token_a),
            None,
        )
        .await;
    assert_eq!(r.status, 204);
    assert_eq!(app.get("/api/v1/users/self", &token_a).await.status, 401);
}

async fn pagination_edges(app: TestApp) {
    for i in 0..4 {
        app.register(&format!("pager{i}"), "Str0ng-Passw0rd!").await;
    }
    let t = app.admin_token.clone();
    // 5 users: admin + 4
    let r = app.get("/api/v1/users", &t).await;
    assert_eq!(r.body["count"], 5);
    assert_eq!(r.body["results"].as_array().unwrap().len(), 5);
    assert_eq!(r.body["next"], Value::Null);
    let r = app
        .get("/api/v1/users?page_size=2&page=2&search=x", &t)
        .await;
    let origin = app.base.clone();
    assert_eq!(r.body["results"].as_array().unwrap().len(), 2);
    assert_eq!(
        r.body["next"],
        json!(format!("{origin}/api/v1/users?page=3&page_size=2&search=x"))
    );
    assert_eq!(
        r.body["previous"],
        json!(format!("{origin}/api/v1/users?page_size=2&search=x"))
    );
    let r = app.get("/api/v1/users?page_size=2&page=3", &t).await;
    assert_eq!(r.body["results"].as_array().unwrap().len(), 1);
    assert_eq!(
        r.body["previous"],
        json!(format!("{origin}/api/v1/users?page=2&page_size=2"))
    );
    assert_eq!(r.body["next"], Value::Null);
    let r = app.get("/api/v1/users?page_size=2&page=last", &t).await;
    assert_eq!(r.body["results"][0]["username"], "pager3");
    for bad in [
        "page=0",
        "page=4&page_size=2",
        "page=abc",
        "page=-1",
        "page=2",
    ] {
        let r = app.get(&format!("/api/v1/users?{bad}"), &t).await;
        assert_eq!(r.status, 404, "{bad}");
        assert_eq!(r.body, json!({"detail": "Invalid page."}));
    }
    for fallback in ["page_size=0", "page_size=-5", "page_size=abc"] {
        let r = app.get(&format!("/api/v1/users?{fallback}"), &t).await;
        assert_eq!(r.status, 200, "{fallback}");
        assert_eq!(r.body["results"].as_array().unwrap().len(), 5);
    }
    let r = app.get("/api/v1/users?page_size=1", &t).await;
    assert_eq!(r.body["results"].as_array().unwrap().len(), 1);
    let r = app
        .get("/api/v1/users?page_size=all&ordering=-username", &t)
        .await;
    assert_eq!(r.body["results"][0]["username"], "pager3");
    assert_eq!(r.body["results"][4]["username"], "admin");
    // unknown parameters and ordering fields are ignored (the UI's `?id=undefined`)
    let r = app
        .get(
            "/api/v1/users?page_size=10&?id=undefined&ordering=nonsense",
            &t,
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["results"][0]["username"], "admin");
}

async fn malformed_bodies(app: TestApp) {
    let t = app.admin_token.clone();
    let r = TestApp::read(
        app.client
            .patch(app.url("/api/v1/users/1"))
            .header("Authorization", format!("Token {t}"))
            .header("Content-Type", "application/json")
            .body("{\"first_name\": ")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 400);
    assert!(
        r.body["detail"]
            .as_str()
            .unwrap()
            .starts_with("JSON parse error - "),
        "{}",
        r.body
    );
    let r = TestApp::read(
        app.client
            .patch(app.url("/api/v1/users/1"))
            .header("Authorization", format!("Token {t}"))
            .header("Content-Type", "text/plain")
            .body("hello")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 415);
    assert_eq!(
        r.body,
        json!({"detail": "Unsupported media type \"text/plain\" in request."})
    );
    // a form body works like JSON
    let r = TestApp::read(
        app.client
            .patch(app.url("/api/v1/users/1"))
            .header("Authorization", format!("Token {t}"))
            .form(&[
                ("first_name", "Root"),
                ("groups[0]", "admin"),
                ("groups[1]", "user"),
            ])
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["groups"], json!(["admin", "user"]));
    assert_eq!(r.body["first_name"], "Root");
    // a multipart body too
    let form = reqwest::multipart::Form::new().text("last_name", "Multi");
    let r = TestApp::read(
        app.client
            .patch(app.url("/api/v1/users/1"))
            .header("Authorization", format!("Token {t}"))
            .multipart(form)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["last_name"], "Multi");
    // wrong types are field errors, not 500s
    let r = app
        .patch(
            "/api/v1/users/1",
            &t,
            json!({"groups": "nope-not-a-group", "first_name": ["x"]}),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.body,
        json!({"groups": ["Object with name=nope-not-a-group does not exist."], "first_name": ["Not a valid string."]})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dates_in_the_configured_time_zone_and_forwarded_urls() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| c.time_zone = "Asia/Shanghai".into())
        .await
        .unwrap();
    let r = TestApp::read(
        app.client
            .get(app.url("/api/v1/users/self"))
            .header("Authorization", format!("Token {}", app.admin_token))
            .header("X-Forwarded-Proto", "https")
            .header("X-Forwarded-Host", "cvat.example.org")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert!(
        r.body["date_joined"].as_str().unwrap().ends_with("+08:00"),
        "{}",
        r.body
    );
    assert_eq!(r.body["url"], "https://cvat.example.org/api/v1/users/1");
}
