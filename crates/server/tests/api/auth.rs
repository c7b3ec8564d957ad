//! api-v1 §3: login, logout, register, password change, the authentication schemes.

use reqwest::Method;
use serde_json::json;

use crate::common::{ADMIN_PASSWORD, TestApp};
use crate::db_tests;

db_tests!(
    seed_login_form_and_json,
    login_errors,
    logout_invalidates_token,
    seed_register_and_errors,
    register_default_groups,
    anonymous_gets_401,
    token_client_gets_a_session,
    csrf_for_cookie_sessions,
    basic_auth,
    inactive_users_cannot_authenticate,
    django_pbkdf2_users_log_in_and_are_rehashed,
    password_change,
    user_agreements_and_confirmations,
);

fn is_token(v: &serde_json::Value) -> bool {
    let s = v.as_str().unwrap_or("");
    s.len() == 40
        && s.chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
}

/// The seed's login: a form body of username and password → `{"key": "<40 hex>"}`; the
/// same token for JSON logins until logout.
async fn seed_login_form_and_json(app: TestApp) {
    let r = TestApp::read(
        app.client
            .post(app.url("/api/v1/auth/login"))
            .form(&[("username", "admin"), ("password", ADMIN_PASSWORD)])
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body.as_object().unwrap().len(), 1, "{}", r.body);
    assert!(is_token(&r.body["key"]), "{}", r.body);
    assert!(r.cookie("sessionid").is_some());
    assert_eq!(r.cookie("csrftoken").unwrap().len(), 64);
    assert!(
        r.cookies()
            .iter()
            .any(|c| c.starts_with("sessionid=") && c.contains("HttpOnly"))
    );
    let json_login = app.login("admin", ADMIN_PASSWORD).await;
    assert_eq!(json_login, r.body["key"].as_str().unwrap());
    // the username matches case-insensitively; an `email` field is ignored
    let r = app
        .post(
            "/api/v1/auth/login",
            None,
            json!({"username": "ADMIN", "password": ADMIN_PASSWORD, "email": "x"}),
        )
        .await;
    assert_eq!(r.status, 200);
    // last_login was recorded
    let me = app.get("/api/v1/users/self", &json_login).await;
    assert!(me.body["last_login"].is_string());
}

async fn login_errors(app: TestApp) {
    let cases = [
        (
            json!({"username": "admin", "password": "wrong"}),
            json!({"non_field_errors": ["Unable to log in with provided credentials."]}),
        ),
        (
            json!({"username": "nobody", "password": "x"}),
            json!({"non_field_errors": ["Unable to log in with provided credentials."]}),
        ),
        (
            json!({"username": "admin"}),
            json!({"password": ["This field is required."]}),
        ),
        (
            json!({"username": "admin", "password": ""}),
            json!({"password": ["This field may not be blank."]}),
        ),
        (
            json!({"username": "", "password": "x"}),
            json!({"non_field_errors": ["Must include \"username\" and \"password\"."]}),
        ),
        (
            json!({"password": "x"}),
            json!({"non_field_errors": ["Must include \"username\" and \"password\"."]}),
        ),
        (
            json!({"username": {"a": 1}, "password": "x"}),
            json!({"username": ["Not a valid string."]}),
        ),
    ];
    for (body, expected) in cases {
        let r = app.post("/api/v1/auth/login", None, body.clone()).await;
        assert_eq!(r.status, 400, "{body}");
        assert_eq!(r.body, expected, "{body}");
    }
    let r = app.post("/api/v1/auth/login", None, json!([1, 2])).await;
    assert_eq!(r.status, 400);
    assert!(
        r.body["non_field_errors"][0]
            .as_str()
            .unwrap()
            .contains("Expected a dictionary")
    );
    let r = app
        .call(Method::GET, "/api/v1/auth/login", None, None)
        .await;
    assert_eq!(r.status, 405);
    assert_eq!(r.body, json!({"detail": "Method \"GET\" not allowed."}));
}

async fn logout_invalidates_token(app: TestApp) {
    let (_, token) = app.register("leaver", "Str0ng-Passw0rd!").await;
    assert_eq!(app.get("/api/v1/users/self", &token).await.status, 200);
    let r = app
        .call(
            Method::POST,
            "/api/v1/auth/logout",
            Some(&token),
            Some(json!("junk")),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, json!({"detail": "Successfully logged out."}));
    assert!(
        r.cookies()
            .iter()
            .any(|c| c.starts_with("sessionid=;") && c.contains("Max-Age=0"))
    );
    let r = app.get("/api/v1/users/self", &token).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.body, json!({"detail": "Invalid token."}));
    // logging in again gives a new token
    let again = app.login("leaver", "Str0ng-Passw0rd!").await;
    assert_ne!(again, token);
    // anonymous logout is fine too
    let r = app
        .call(Method::POST, "/api/v1/auth/logout", None, None)
        .await;
    assert_eq!(r.status, 200);
}

/// The seed's register body (all six fields), then every documented error.
async fn seed_register_and_errors(app: TestApp) {
    let r = app
        .post(
            "/api/v1/auth/register",
            None,
            json!({"username": "dabai", "first_name": "Da", "last_name": "Bai", "email": "dabai@qq.com",
                   "password1": "Dabai-2020-pass", "password2": "Dabai-2020-pass"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert!(is_token(&r.body["key"]));
    assert!(r.cookie("sessionid").is_some() && r.cookie("csrftoken").is_some());
    let token = r.body["key"].as_str().unwrap();
    let me = app.get("/api/v1/users/self", token).await;
    assert_eq!(me.body["username"], "dabai");
    assert_eq!(me.body["email"], "dabai@qq.com");
    assert_eq!(me.body["is_staff"], false);

    let reg = |body: serde_json::Value| {
        let app = &app;
        async move { app.post("/api/v1/auth/register", None, body).await }
    };
    let r =
        reg(json!({"username": "x1", "password1": "Abcdefgh-123", "password2": "Abcdefgh-124"}))
            .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.body,
        json!({"non_field_errors": ["The two password fields didn't match."]})
    );

    let r = reg(json!({"username": "x2", "password1": "1234567", "password2": "1234567"})).await;
    assert_eq!(
        r.body,
        json!({"password1": ["This password is too short. It must contain at least 8 characters.",
                             "This password is too common.", "This password is entirely numeric."]})
    );
    let r = reg(json!({"username": "x3", "password1": "48213975223", "password2": "48213975223"}))
        .await;
    assert_eq!(
        r.body,
        json!({"password1": ["This password is entirely numeric."]})
    );
    let r = reg(json!({"username": "x3", "password1": "short1", "password2": "short1"})).await;
    assert_eq!(
        r.body,
        json!({"password1": ["This password is too short. It must contain at least 8 characters."]})
    );

    // duplicates, case-insensitively; several fields fail at once
    let r = reg(json!({"username": "DaBai", "email": "DABAI@qq.com", "password1": "Abcdefgh-123", "password2": "Abcdefgh-123"})).await;
    assert_eq!(
        r.body,
        json!({"username": ["A user with that username already exists."],
               "email": ["A user is already registered with this e-mail address."]})
    );
    let r = reg(json!({"username": "bad name!", "email": "not-an-email", "password1": "Abcdefgh-123", "password2": "Abcdefgh-123", "first_name": ""})).await;
    assert_eq!(
        r.body,
        json!({"username": ["Enter a valid username. This value may contain only letters, numbers, and @/./+/-/_ characters."],
               "email": ["Enter a valid email address."],
               "first_name": ["This field may not be blank."]})
    );
    let r = reg(json!({})).await;
    assert_eq!(
        r.body,
        json!({"username": ["This field is required."], "password1": ["This field is required."],
               "password2": ["This field is required."]})
    );
    let r = reg(json!({"username": "u".repeat(151), "password1": "Abcdefgh-123", "password2": "Abcdefgh-123"})).await;
    assert_eq!(
        r.body,
        json!({"username": ["Ensure this field has no more than 150 characters."]})
    );
    // nothing of the failed attempts was stored
    let all = app
        .get("/api/v1/users?page_size=all", &app.admin_token)
        .await;
    assert_eq!(all.body["count"], 2);
}

async fn register_default_groups(app: TestApp) {
    let (_, token) = app.register("newbie", "Str0ng-Passw0rd!").await;
    let me = app.get("/api/v1/users/self", &token).await;
    assert_eq!(me.body["groups"], json!(["user"]));
}

async fn anonymous_gets_401(app: TestApp) {
    for path in [
        "/api/v1/users",
        "/api/v1/users/self",
        "/api/v1/users/1",
        "/api/v1/server/about",
    ] {
        let r = app.call(Method::GET, path, None, None).await;
        assert_eq!(r.status, 401, "{path}");
        assert_eq!(r.headers["www-authenticate"], "Token");
        assert_eq!(
            r.body,
            json!({"detail": "Authentication credentials were not provided."})
        );
    }
    let r = app.post("/api/v1/server/exception", None, json!({})).await;
    assert_eq!(r.status, 401);
    let r = app
        .get(
            "/api/v1/users/self",
            "0000000000000000000000000000000000000000",
        )
        .await;
    assert_eq!(r.status, 401);
    assert_eq!(r.body, json!({"detail": "Invalid token."}));
    // an expired or unknown session cookie is simply anonymous
    let r = TestApp::read(
        app.client
            .get(app.url("/api/v1/users/self"))
            .header("Cookie", "sessionid=nope")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 401);
    assert_eq!(
        r.body["detail"],
        "Authentication credentials were not provided."
    );
}

/// Token clients get `sessionid` + `csrftoken` (browser downloads rely on them) and the
/// cookie alone then authenticates GETs.
async fn token_client_gets_a_session(app: TestApp) {
    let r = app.get("/api/v1/users/self", &app.admin_token).await;
    let sid = r
        .cookie("sessionid")
        .expect("session cookie for a token client");
    assert!(r.cookie("csrftoken").is_some());
    // A script without a cookie jar is handed the same session again, not a new one.
    let r2 = app.get("/api/v1/users/self", &app.admin_token).await;
    assert_eq!(r2.cookie("sessionid").unwrap(), sid);
    // With the cookie, no new cookie is set.
    let r3 = TestApp::read(
        app.client
            .get(app.url("/api/v1/users/self"))
            .header("Authorization", format!("Token {}", app.admin_token))
            .header("Cookie", format!("sessionid={sid}"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert!(r3.cookies().is_empty());
    let r4 = TestApp::read(
        app.client
            .get(app.url("/api/v1/users/self"))
            .header("Cookie", format!("sessionid={sid}"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r4.status, 200);
    assert_eq!(r4.body["username"], "admin");
}

async fn csrf_for_cookie_sessions(app: TestApp) {
    let (id, _) = app.register("cookiejar", "Str0ng-Passw0rd!").await;
    let login = app
        .post(
            "/api/v1/auth/login",
            None,
            json!({"username": "cookiejar", "password": "Str0ng-Passw0rd!"}),
        )
        .await;
    let sid = login.cookie("sessionid").unwrap();
    let csrf = login.cookie("csrftoken").unwrap();
    let path = format!("/api/v1/users/{id}");
    let send = |cookie: String, header: Option<String>| {
        let app = &app;
        let path = path.clone();
        async move {
            let mut rb = app
                .client
                .patch(app.url(&path))
                .json(&json!({"first_name": "Changed"}))
                .header("Cookie", cookie);
            if let Some(h) = header {
                rb = rb.header("X-CSRFTOKEN", h);
            }
            TestApp::read(rb.send().await.unwrap()).await
        }
    };
    let r = send(format!("sessionid={sid}"), None).await;
    assert_eq!(r.status, 403);
    assert_eq!(
        r.body,
        json!({"detail": "CSRF Failed: CSRF cookie not set."})
    );
    let r = send(format!("sessionid={sid}; csrftoken={csrf}"), None).await;
    assert_eq!(r.status, 403);
    assert_eq!(
        r.body,
        json!({"detail": "CSRF Failed: CSRF token missing or incorrect."})
    );
    let r = send(
        format!("sessionid={sid}; csrftoken={csrf}"),
        Some("x".repeat(64)),
    )
    .await;
    assert_eq!(r.status, 403);
    let r = send(
        format!("sessionid={sid}; csrftoken={csrf}"),
        Some(csrf.clone()),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["first_name"], "Changed");
    // token requests are never CSRF-checked, even with a session cookie
    let token = app.login("cookiejar", "Str0ng-Passw0rd!").await;
    let r = TestApp::read(
        app.client
            .patch(app.url(&path))
            .header("Authorization", format!("Token {token}"))
            .header("Cookie", format!("sessionid={sid}"))
            .json(&json!({"last_name": "ByToken"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    // safe methods need no CSRF token
    let r = TestApp::read(
        app.client
            .get(app.url("/api/v1/users/self"))
            .header("Cookie", format!("sessionid={sid}"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 200);
    // login itself is never CSRF-checked
    let r = TestApp::read(
        app.client
            .post(app.url("/api/v1/auth/login"))
            .header("Cookie", format!("sessionid={sid}"))
            .form(&[("username", "cookiejar"), ("password", "Str0ng-Passw0rd!")])
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 200);
}

async fn basic_auth(app: TestApp) {
    let r = TestApp::read(
        app.client
            .get(app.url("/api/v1/users/self"))
            .basic_auth("admin", Some(ADMIN_PASSWORD))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["username"], "admin");
    let r = TestApp::read(
        app.client
            .get(app.url("/api/v1/users/self"))
            .basic_auth("admin", Some("nope"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 401);
    assert_eq!(r.body, json!({"detail": "Invalid username/password."}));
}

async fn inactive_users_cannot_authenticate(app: TestApp) {
    let (id, token) = app.register("sleepy", "Str0ng-Passw0rd!").await;
    let r = app
        .patch(
            &format!("/api/v1/users/{id}"),
            &app.admin_token,
            json!({"is_active": "false"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["is_active"], false);
    let r = app.get("/api/v1/users/self", &token).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.body, json!({"detail": "User inactive or deleted."}));
    let r = app
        .post(
            "/api/v1/auth/login",
            None,
            json!({"username": "sleepy", "password": "Str0ng-Passw0rd!"}),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.body,
        json!({"non_field_errors": ["Unable to log in with provided credentials."]})
    );
}

async fn django_pbkdf2_users_log_in_and_are_rehashed(app: TestApp) {
    // A user exported from a CVAT database (Django's pbkdf2_sha256, made with Python's
    // hashlib for the password "cvat-pass-1").
    let id =
        app.db
            .insert_user(&ferrocat_store::NewUser {
                username: "from_cvat".into(),
                password_hash:
                    "pbkdf2_sha256$260000$Xy7salt0Q$qBR1ZayE6E40yXO5SXpZAPzL4PwfWyi9vwW6cdU9O1s="
                        .into(),
                ..Default::default()
            })
            .await
            .unwrap();
    let r = app
        .post(
            "/api/v1/auth/login",
            None,
            json!({"username": "from_cvat", "password": "wrong"}),
        )
        .await;
    assert_eq!(r.status, 400);
    app.login("from_cvat", "cvat-pass-1").await;
    let stored = app.db.user(id).await.unwrap().unwrap().password_hash;
    assert!(stored.starts_with("$argon2id$"), "{stored}");
    app.login("from_cvat", "cvat-pass-1").await;
}

async fn password_change(app: TestApp) {
    let (_, token) = app.register("changer", "Str0ng-Passw0rd!").await;
    let path = "/api/v1/auth/password/change";
    let r = app.post(path, Some(&token), json!({"old_password": "bad", "new_password1": "N3w-Passw0rd!", "new_password2": "N3w-Passw0rd!"})).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body, json!({"old_password": ["Invalid password"]}));
    let r = app.post(path, Some(&token), json!({"old_password": "Str0ng-Passw0rd!", "new_password1": "N3w-Passw0rd!", "new_password2": "other"})).await;
    assert_eq!(
        r.body,
        json!({"new_password2": ["The two password fields didn't match."]})
    );
    let r = app.post(path, Some(&token), json!({"old_password": "Str0ng-Passw0rd!", "new_password1": "1234567", "new_password2": "1234567"})).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["new_password2"].as_array().unwrap().len(), 3);
    let r = app.post(path, None, json!({})).await;
    assert_eq!(r.status, 401);
    let r = app.post(path, Some(&token), json!({"old_password": "Str0ng-Passw0rd!", "new_password1": "N3w-Passw0rd!", "new_password2": "N3w-Passw0rd!"})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body, json!({"detail": "New password has been saved."}));
    let bad = app
        .post(
            "/api/v1/auth/login",
            None,
            json!({"username": "changer", "password": "Str0ng-Passw0rd!"}),
        )
        .await;
    assert_eq!(bad.status, 400);
    app.login("changer", "N3w-Passw0rd!").await;
    // the token stays valid
    assert_eq!(app.get("/api/v1/users/self", &token).await.status, 200);
}

async fn user_agreements_and_confirmations(app: TestApp) {
    let r = app
        .call(
            Method::GET,
            "/api/v1/restrictions/user-agreements",
            None,
            None,
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, json!([]));
    // a bad token is ignored on this public endpoint
    let r = app
        .get("/api/v1/restrictions/user-agreements", "bogus")
        .await;
    assert_eq!(r.status, 200);
}

mod agreements {
    use super::*;
    use crate::common::Backend;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn required_agreements_must_be_confirmed() {
        let app = TestApp::spawn_with(Backend::Sqlite, |c| {
            c.user_agreements = r#"[{"name":"terms_of_use","display_text":"I accept the terms","url":"/terms","required":true}]"#.into();
            c.default_groups = "".into();
        })
        .await
        .unwrap();
        let r = app
            .call(
                Method::GET,
                "/api/v1/restrictions/user-agreements",
                None,
                None,
            )
            .await;
        assert_eq!(
            r.body,
            json!([{"name": "terms_of_use", "displayText": "I accept the terms", "url": "/terms", "required": true, "value": false}])
        );
        let body = json!({"username": "agree", "password1": "Str0ng-Passw0rd!", "password2": "Str0ng-Passw0rd!"});
        let r = app.post("/api/v1/auth/register", None, body.clone()).await;
        assert_eq!(
            r.body,
            json!({"non_field_errors": ["Agreement terms_of_use must be accepted"]})
        );
        let mut ok = body.clone();
        ok["confirmations"] = json!([{"name": "terms_of_use", "value": true}]);
        let r = app.post("/api/v1/auth/register", None, ok).await;
        assert_eq!(r.status, 201, "{}", r.body);
        // FERROCAT_DEFAULT_GROUPS="" gives CVAT's behaviour: no groups
        let me = app
            .get("/api/v1/users/self", r.body["key"].as_str().unwrap())
            .await;
        assert_eq!(me.body["groups"], json!([]));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn login_and_register_are_rate_limited() {
        let app = TestApp::spawn_with(Backend::Sqlite, |c| c.auth_rate_limit = "3/minute".into())
            .await
            .unwrap();
        // successful logins never count: a script that logs in on every call goes on
        for _ in 0..6 {
            app.login("admin", crate::common::ADMIN_PASSWORD).await;
        }
        // failures do, per user name: the third locks "admin" out
        let mut last = None;
        for _ in 0..4 {
            last = Some(
                app.post(
                    "/api/v1/auth/login",
                    None,
                    json!({"username": "Admin", "password": "x"}),
                )
                .await,
            );
        }
        let r = last.unwrap();
        assert_eq!(r.status, 429);
        let wait: u64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
        assert!(wait > 50 && wait <= 60, "the real time left: {wait}");
        assert!(r.body["detail"].as_str().unwrap().starts_with(&format!(
            "Request was throttled. Expected available in {wait} seconds"
        )));
        // even with the right password, until the window moves on
        let r = app
            .post(
                "/api/v1/auth/login",
                None,
                json!({"username": "admin", "password": crate::common::ADMIN_PASSWORD}),
            )
            .await;
        assert_eq!(r.status, 429);
        // registrations count every attempt per address
        for _ in 0..3 {
            app.post("/api/v1/auth/register", None, json!({})).await;
        }
        let r = app.post("/api/v1/auth/register", None, json!({})).await;
        assert_eq!(r.status, 429);
        // other endpoints are not limited
        assert_eq!(
            app.get("/api/v1/users/self", &app.admin_token).await.status,
            200
        );
    }
}
