//! api-v1 §11: about and client exception reports.

use serde_json::json;

use crate::common::TestApp;
use crate::db_tests;

db_tests!(about, exception_reports);

async fn about(app: TestApp) {
    let r = app.get("/api/v1/server/about", &app.admin_token).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["name"], "ferrocat");
    assert_eq!(r.body["version"], env!("CARGO_PKG_VERSION"));
    assert!(!r.body["description"].as_str().unwrap().is_empty());
}

async fn exception_reports(app: TestApp) {
    let report = json!({
        "system": "Linux", "client": "Chrome 84", "time": "2020-08-13T01:45:53.569Z",
        "job_id": 5, "task_id": "4", "client_id": 642862, "message": "TypeError: x is undefined",
        "filename": "http://localhost:8080/assets/cvat-ui.min.js", "line": 1, "column": 20231,
        "stack": "", "name": "ignored", "payload": {"ignored": true}, "is_active": true
    });
    let r = app
        .post("/api/v1/server/exception", Some(&app.admin_token), report)
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(
        r.body,
        json!({"system": "Linux", "client": "Chrome 84", "time": "2020-08-13T01:45:53.569000Z",
               "job_id": 5, "task_id": 4, "client_id": 642862, "message": "TypeError: x is undefined",
               "filename": "http://localhost:8080/assets/cvat-ui.min.js", "line": 1, "column": 20231, "stack": ""})
    );
    let stored = app.db.client_exceptions(10).await.unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0]["username"], "admin");
    assert_eq!(
        stored[0]["exception"]["message"],
        "TypeError: x is undefined"
    );

    let r = app
        .post(
            "/api/v1/server/exception",
            Some(&app.admin_token),
            json!({"time": "soon", "filename": "not a url", "line": "x"}),
        )
        .await;
    assert_eq!(r.status, 400);
    let b = &r.body;
    for f in [
        "system",
        "client",
        "client_id",
        "message",
        "column",
        "stack",
    ] {
        assert_eq!(b[f], json!(["This field is required."]), "{f}: {b}");
    }
    assert_eq!(b["line"], json!(["A valid integer is required."]));
    assert_eq!(b["filename"], json!(["Enter a valid URL."]));
    assert!(
        b["time"][0]
            .as_str()
            .unwrap()
            .starts_with("Datetime has wrong format.")
    );
    assert_eq!(app.db.client_exceptions(10).await.unwrap().len(), 1);
}
