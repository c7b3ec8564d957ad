//! Schemathesis (from PyPI, in the venv `scripts/test.sh` makes) against the real
//! binary and its own OpenAPI document, as admin and as a plain user: for a bounded
//! number of generated requests per operation, no 5xx, every status documented, and
//! every body and content type as the document says. SQLite only: this checks the
//! HTTP layer, the storage tests cover both databases.
//!
//! `FERROCAT_SCHEMATHESIS_EXAMPLES` (default 20 per operation and phase) and
//! `FERROCAT_SCHEMATHESIS_SEED` (default fixed, so that CI is repeatable) widen it.
//! The operations that end the caller's own login (logout, password change, deleting
//! a user) are left out: they would turn the rest of the run into 401s; the HTTP tests
//! cover them.

use std::process::Command;

use serde_json::{Value, json};

use crate::binary::start;

fn schemathesis() -> Option<String> {
    match std::env::var("FERROCAT_TEST_SCHEMATHESIS") {
        Ok(p) if !p.is_empty() => Some(p),
        _ => {
            assert!(
                std::env::var("CI").is_err(),
                "FERROCAT_TEST_SCHEMATHESIS must be set in CI (scripts/test.sh sets it)"
            );
            eprintln!(
                "notice: FERROCAT_TEST_SCHEMATHESIS is unset; the Schemathesis run is skipped"
            );
            None
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_requests_match_the_openapi_document() {
    let Some(st) = schemathesis() else { return };
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &[("FERROCAT_AUTH_RATE_LIMIT", "0".into())]).await;
    // objects for the ids the document gives as examples (1): a task with data and a
    // job, then one without data, and a plain user
    let with = server.task("with data").await;
    assert_eq!(with, 1);
    server
        .upload(with, "a.jpg", crate::media::jpeg(32, 24, 1))
        .await;
    assert_eq!(server.wait(with).await["state"], "Finished");
    server.task("without data").await;
    let r: Value = server
        .client
        .post(format!("{}/api/v1/auth/register", server.base))
        .json(&json!({"username": "plain", "email": "plain@example.com",
                      "password1": "Pl4in-user-pass", "password2": "Pl4in-user-pass",
                      "first_name": "Plain", "last_name": "User"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let plain = r["key"].as_str().expect("registered").to_string();
    let examples = std::env::var("FERROCAT_SCHEMATHESIS_EXAMPLES").unwrap_or_else(|_| "20".into());
    let seed = std::env::var("FERROCAT_SCHEMATHESIS_SEED").unwrap_or_else(|_| "16".into());
    for (who, token) in [("admin", server.token.clone()), ("a plain user", plain)] {
        let base = server.base.clone();
        let (st, examples, seed) = (st.clone(), examples.clone(), seed.clone());
        // its cache of earlier runs (`.schemathesis/`) goes to a folder of this run
        let work = dir.path().to_path_buf();
        let out = tokio::task::spawn_blocking(move || {
            Command::new(&st)
                .current_dir(&work)
                .args(["run", &format!("{base}/api/swagger.json"), "--url", &base])
                .args(["-H", &format!("Authorization: Token {token}")])
                .args([
                    "--checks",
                    "not_a_server_error,status_code_conformance,response_schema_conformance,content_type_conformance",
                ])
                .args(["--phases", "examples,coverage,fuzzing"])
                .args(["--max-examples", &examples, "--seed", &seed, "--no-color"])
                .args(["--exclude-name", "POST /api/v1/auth/logout"])
                .args(["--exclude-name", "POST /api/v1/auth/password/change"])
                .args(["--exclude-name", "DELETE /api/v1/users/{id}"])
                // a generated https:// remote would send `git ls-remote` off the machine
                // (tests talk to loopback only); tests/api/git.rs covers its bad input
                .args(["--exclude-name", "POST /git/repository/create/{tid}"])
                .output()
                .expect("run schemathesis")
        })
        .await
        .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        let summary = text
            .lines()
            .find(|l| l.contains(" generated, "))
            .unwrap_or("(no summary)")
            .trim()
            .to_string();
        eprintln!("schemathesis as {who}: {summary}");
        assert!(
            out.status.success(),
            "schemathesis as {who} failed:\n{text}"
        );
    }
}
