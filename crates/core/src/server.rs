//! `/server/*` and `/restrictions/*` use cases (api-v1 §3.8, §11).

use ferrocat_wire::server::{About, Exception, UserAgreement};
use ferrocat_wire::{Fields, time};
use serde_json::{Map, Value};

use crate::Core;
use crate::error::Result;
use crate::permissions::Actor;

pub struct ServerService<'a> {
    pub(crate) core: &'a Core,
}

impl ServerService<'_> {
    /// `GET /server/about`.
    pub fn about(&self) -> About {
        About {
            name: "ferrocat".into(),
            description:
                "ferrocat: a fast, single-binary image and video annotation server speaking the \
                          CVAT REST API v1."
                    .into(),
            version: env!("CARGO_PKG_VERSION").into(),
        }
    }

    /// `GET /restrictions/user-agreements`.
    pub fn user_agreements(&self) -> Vec<UserAgreement> {
        self.core.config().user_agreements.clone()
    }

    /// `POST /server/exception` (§11.3): validates, stores, echoes the validated fields.
    pub async fn report_exception(
        &self,
        actor: &Actor,
        body: &Map<String, Value>,
    ) -> Result<Exception> {
        let tz = self.core.config().time_zone;
        let mut f = Fields::new(body);
        let mut e = Exception {
            system: f.required_string("system", false),
            client: f.required_string("client", false),
            job_id: f.int("job_id", true).flatten(),
            task_id: f.int("task_id", true).flatten(),
            proj_id: f.int("proj_id", true).flatten(),
            message: f.required_string("message", false),
            filename: f.required_string("filename", false),
            stack: f.required_string("stack", true),
            ..Default::default()
        };
        for (name, slot) in [
            ("client_id", &mut e.client_id),
            ("line", &mut e.line),
            ("column", &mut e.column),
        ] {
            if !f.has(name) {
                f.errors.add(name, ferrocat_wire::fields::REQUIRED);
            }
            *slot = f.int(name, false).flatten();
        }
        if let Some(t) = f.required_string("time", false) {
            match time::parse(&t) {
                Some(t) => e.time = Some(time::render(t, tz)),
                None => f.errors.add("time", DATETIME_FORMAT),
            }
        }
        let mut errs = f.errors;
        for (field, v, max) in [
            ("system", &e.system, 255),
            ("client", &e.client, 255),
            ("message", &e.message, 4096),
            ("stack", &e.stack, 8192),
        ] {
            if v.as_ref().is_some_and(|s| s.chars().count() > max) {
                errs.add(
                    field,
                    format!("Ensure this field has no more than {max} characters."),
                );
            }
        }
        if let Some(u) = &e.filename
            && !looks_like_url(u)
        {
            errs.add("filename", "Enter a valid URL.");
        }
        errs.into_result()?;
        let stored = serde_json::json!({
            "name": "Send exception",
            "username": actor.username,
            "exception": &e,
        });
        self.core
            .db()
            .insert_client_exception(Some(actor.id), e.task_id, e.job_id, &stored)
            .await?;
        Ok(e)
    }
}

pub const DATETIME_FORMAT: &str = "Datetime has wrong format. Use one of these formats instead: YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z].";

fn looks_like_url(u: &str) -> bool {
    let lower = u.to_ascii_lowercase();
    ["http://", "https://", "ftp://", "ftps://"]
        .iter()
        .any(|p| lower.starts_with(p) && lower.len() > p.len() && !u.contains(char::is_whitespace))
}
