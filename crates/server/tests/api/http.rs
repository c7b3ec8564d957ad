//! api-v1 §2 and §13, and the operability endpoints.

use reqwest::Method;
use serde_json::json;

use crate::common::{Backend, TestApp};

async fn app() -> TestApp {
    TestApp::spawn(Backend::Sqlite).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_paths_and_plugin_probes_are_404_without_auth() {
    let app = app().await;
    let probes = [
        (Method::OPTIONS, "/auto_annotation/meta/get"),
        (Method::OPTIONS, "/tensorflow/annotation/meta/get"),
        (Method::OPTIONS, "/tensorflow/segmentation/meta/get"),
        (Method::GET, "/dextr/enabled"),
        (Method::GET, "/reid/enabled"),
        (Method::GET, "/analytics/app/kibana"),
        (Method::DELETE, "/api/v1/nothing/here"),
        (Method::GET, "/api/v1/users/"),
        (Method::POST, "/api/v1/auth/login/"),
        (Method::GET, "/api/v1/jobs"),
        (Method::PATCH, "/no"),
    ];
    for (m, path) in probes {
        let r = app.call(m.clone(), path, None, None).await;
        assert_eq!(r.status, 404, "{m} {path}");
        assert_eq!(r.body, json!({"detail": "Not found."}), "{m} {path}");
    }
    // also with an invalid token: unknown paths never authenticate
    let r = app
        .call(Method::GET, "/dextr/enabled", Some("bad"), None)
        .await;
    assert_eq!(r.status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn head_works_where_get_does() {
    let app = app().await;
    let r = app
        .call(
            Method::HEAD,
            "/api/v1/users/self",
            Some(&app.admin_token),
            None,
        )
        .await;
    assert_eq!(r.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_metrics_and_security_headers() {
    let app = app().await;
    let r = app.call(Method::GET, "/healthz", None, None).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, json!({"status": "ok", "database": "sqlite"}));
    let ready = app.call(Method::GET, "/readyz", None, None).await;
    assert_eq!(ready.status, 200);
    assert_eq!(
        ready.body,
        json!({"status": "ok", "database": "ok", "media": "ok"})
    );
    app.get("/api/v1/users/self", &app.admin_token).await;
    let text = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("ferrocat_http_requests_total"), "{text}");
    assert!(text.contains("route=\"/api/v1/users/self\""), "{text}");
    assert!(
        text.contains("ferrocat_http_request_duration_seconds_bucket"),
        "{text}"
    );
    let r = app.get("/api/v1/users/self", &app.admin_token).await;
    assert_eq!(r.headers["x-content-type-options"], "nosniff");
    assert!(r.headers.get("x-request-id").is_some());
    assert!(r.headers.get("content-security-policy").is_none());
    let r = app.call(Method::GET, "/api/swagger/", None, None).await;
    let csp = r.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'"));
}

/// The browser application: its page at `/`, its modules under `/web/`, revalidated by
/// ETag; test files and npm metadata are not served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_application_is_served() {
    let app = app().await;
    let r = app.client.get(app.url("/")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/html; charset=utf-8");
    assert!(
        r.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("script-src 'self'")
    );
    let page = r.text().await.unwrap();
    assert!(
        page.contains(r#"<script type="module" src="/web/app.js">"#),
        "{page}"
    );
    let r = app.client.get(app.url("/web/app.js")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["content-type"],
        "text/javascript; charset=utf-8"
    );
    let etag = r.headers()["etag"].clone();
    assert!(r.text().await.unwrap().contains("import"));
    let r = app
        .client
        .get(app.url("/web/app.js"))
        .header("If-None-Match", etag)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 304);
    let r = app
        .client
        .get(app.url("/web/vendor/preact.module.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    for hidden in [
        "/web/package.json",
        "/web/tests/e2e/harness.mjs",
        "/web/nope.js",
        "/web/../Cargo.toml",
    ] {
        let r = app.client.get(app.url(hidden)).send().await.unwrap();
        assert_eq!(r.status(), 404, "{hidden}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_document_lists_every_route_and_swagger_ui_is_served() {
    let app = app().await;
    let r = app.call(Method::GET, "/api/swagger.json", None, None).await;
    assert_eq!(r.status, 200);
    let paths = r.body["paths"].as_object().unwrap();
    for p in [
        "/api/v1/auth/login",
        "/api/v1/auth/logout",
        "/api/v1/auth/register",
        "/api/v1/auth/password/change",
        "/api/v1/restrictions/user-agreements",
        "/api/v1/users",
        "/api/v1/users/self",
        "/api/v1/users/{id}",
        "/api/v1/server/about",
        "/api/v1/server/exception",
        "/healthz",
        "/metrics",
    ] {
        assert!(
            paths.contains_key(p),
            "{p} missing from the OpenAPI document"
        );
    }
    // every operation that needs a login documents 401; ids document 404; bodies have
    // schemas; PUT /jobs/{id} is there (issue 16, item 9)
    let public = [
        "/api/v1/auth/login",
        "/api/v1/auth/register",
        "/api/v1/auth/logout",
        "/api/v1/restrictions/user-agreements",
        "/healthz",
        "/readyz",
        "/metrics",
    ];
    for (path, item) in paths {
        for (method, op) in item.as_object().unwrap() {
            let codes = op["responses"].as_object().unwrap();
            if !public.contains(&path.as_str()) {
                assert!(
                    codes.contains_key("401"),
                    "{method} {path}: 401 undocumented"
                );
            }
            if path.contains('{') {
                assert!(
                    codes.contains_key("404"),
                    "{method} {path}: 404 undocumented"
                );
            }
            if let Some(body) = op.get("requestBody") {
                for (ctype, c) in body["content"].as_object().unwrap() {
                    assert_ne!(
                        c["schema"],
                        json!({"type": "object"}),
                        "{method} {path} {ctype}: no schema"
                    );
                }
            }
        }
    }
    assert!(paths["/api/v1/jobs/{id}"].get("put").is_some());
    let mut ids = std::collections::HashSet::new();
    for item in paths.values() {
        for op in item.as_object().unwrap().values() {
            let id = op["operationId"].as_str().unwrap();
            assert!(ids.insert(id.to_string()), "operationId {id} twice");
        }
    }
    let patch = &paths["/api/v1/tasks/{id}"]["patch"]["requestBody"]["content"]["application/json"]
        ["schema"];
    assert_eq!(patch["$ref"], "#/components/schemas/TaskWriteRequestPatch");
    assert!(
        r.body["components"]["schemas"]["TaskWriteRequestPatch"]
            .get("required")
            .is_none()
    );
    let schemas = &r.body["components"]["schemas"];
    assert!(
        schemas["Task"].get("allOf").is_none(),
        "tasks without data must match Task"
    );
    assert_eq!(schemas["BasicUser"]["additionalProperties"], false);
    let html = app
        .client
        .get(app.url("/api/swagger/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("swagger"), "{html}");
    let init = app
        .client
        .get(app.url("/api/swagger/swagger-initializer.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(init.status(), 200);
    assert!(init.text().await.unwrap().contains("/api/swagger.json"));
}

/// `/readyz` is 503 while the media store or the database fails, naming which; `/healthz`
/// (liveness) stays 200.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_names_what_fails() {
    let app = app().await;
    // the data folder cannot take the probe: its `tmp` is a file
    let tmp = app.data_path().join("tmp");
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::write(&tmp, b"not a folder").unwrap();
    let r = app.call(Method::GET, "/readyz", None, None).await;
    assert_eq!(r.status, 503, "{}", r.body);
    assert_eq!(r.body["database"], "ok");
    assert!(r.body["media"]["error"].is_string(), "{}", r.body);
    std::fs::remove_file(&tmp).unwrap();
    assert_eq!(
        app.call(Method::GET, "/readyz", None, None).await.status,
        200
    );
    // the database gone
    app.db.close().await;
    let r = app.call(Method::GET, "/readyz", None, None).await;
    assert_eq!(r.status, 503, "{}", r.body);
    assert!(r.body["database"]["error"].is_string(), "{}", r.body);
    assert_eq!(
        app.call(Method::GET, "/healthz", None, None).await.status,
        200
    );
}
