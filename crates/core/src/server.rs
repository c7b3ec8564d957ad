//! `/server/*` and `/restrictions/*` use cases (api-v1 §3.8, §11).

use ferrocat_store::events::NewEvent;
use ferrocat_wire::logs::LogEvent;
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

/// Most events accepted in one `POST /server/logs`.
pub const MAX_LOG_EVENTS: usize = 10_000;

impl ServerService<'_> {
    /// `POST /server/logs` (§11.4): validates every event, stores them together, echoes
    /// them in validated form. Unknown job or task ids are kept as sent (never an error).
    pub async fn log_events(&self, actor: &Actor, body: &Value) -> Result<Vec<LogEvent>> {
        let tz = self.core.config().time_zone;
        // a list only, as CVAT 1.1's list serializer: one event as an object is a 400
        let items: Vec<&Value> = match body {
            Value::Array(a) => a.iter().collect(),
            other => {
                return Err(crate::Error::non_field(format!(
                    "Expected a list of items but got type \"{}\".",
                    match other {
                        Value::Object(_) => "dict",
                        Value::String(_) => "str",
                        Value::Number(_) => "int",
                        Value::Bool(_) => "bool",
                        _ => "NoneType",
                    }
                )));
            }
        };
        if items.len() > MAX_LOG_EVENTS {
            return Err(crate::Error::Bare(vec![format!(
                "Ensure this list has no more than {MAX_LOG_EVENTS} events."
            )]));
        }
        let mut events = Vec::with_capacity(items.len());
        let mut stored = Vec::with_capacity(items.len());
        let mut errors = Vec::with_capacity(items.len());
        let mut bad = false;
        for item in items {
            match read_event(item, tz) {
                Ok((echo, row)) => {
                    events.push(echo);
                    stored.push(row);
                    errors.push(Value::Object(Map::new()));
                }
                Err(e) => {
                    bad = true;
                    errors.push(e);
                }
            }
        }
        if bad {
            return Err(crate::Error::Body(Value::Array(errors)));
        }
        self.core
            .db()
            .insert_client_events(Some(actor.id), &stored)
            .await?;
        Ok(events)
    }
}

/// One event: its echo and its row, or the DRF error object.
fn read_event(item: &Value, tz: chrono_tz::Tz) -> std::result::Result<(LogEvent, NewEvent), Value> {
    let Value::Object(map) = item else {
        return Err(serde_json::json!({"non_field_errors": [
            "Invalid data. Expected a dictionary, but got list."
        ]}));
    };
    let mut f = Fields::new(map);
    let job_id = f.int("job_id", true).flatten();
    let task_id = f.int("task_id", true).flatten();
    let proj_id = f.int("proj_id", true).flatten();
    if !f.has("client_id") {
        f.errors.add("client_id", ferrocat_wire::fields::REQUIRED);
    }
    let client_id = f.int("client_id", false).flatten();
    let name = f.required_string("name", false);
    let message = f.string("message", true);
    if !f.has("is_active") {
        f.errors.add("is_active", ferrocat_wire::fields::REQUIRED);
    }
    let is_active = f.bool("is_active");
    let time = match f.required_string("time", false) {
        Some(t) => match time::parse(&t) {
            Some(t) => Some(t),
            None => {
                f.errors.add("time", DATETIME_FORMAT);
                None
            }
        },
        None => None,
    };
    let payload = match map.get("payload") {
        None | Some(Value::Null) => None,
        Some(Value::Object(p)) => Some(p.clone()),
        Some(other) => {
            f.errors.add(
                "payload",
                format!(
                    "Expected a dictionary of items but got type \"{}\".",
                    if other.is_array() { "list" } else { "str" }
                ),
            );
            None
        }
    };
    let mut errs = f.errors;
    if name.as_ref().is_some_and(|n| n.chars().count() > 64) {
        errs.add("name", "Ensure this field has no more than 64 characters.");
    }
    for (field, v) in [("name", &name), ("message", &message)] {
        if v.as_ref().is_some_and(|s| s.contains('\0')) {
            errs.add(field, "Null characters are not allowed.");
        }
    }
    if message.as_ref().is_some_and(|m| m.chars().count() > 4096) {
        errs.add(
            "message",
            "Ensure this field has no more than 4096 characters.",
        );
    }
    if !errs.is_empty() {
        return Err(serde_json::to_value(&errs).unwrap_or_default());
    }
    let (Some(client_id), Some(name), Some(is_active), Some(time)) =
        (client_id, name, is_active, time)
    else {
        return Err(serde_json::json!({"non_field_errors": ["Invalid event."]}));
    };
    let row = NewEvent {
        client_id,
        name: name.clone(),
        time,
        is_active,
        job_id,
        task_id,
        proj_id,
        message: message.clone(),
        payload: payload
            .as_ref()
            .map(|p| Value::Object(p.clone()).to_string()),
    };
    let rendered = time::render(time, tz);
    let echo = LogEvent {
        job_id,
        task_id,
        proj_id,
        client_id,
        name,
        time: rendered,
        message,
        payload,
        is_active,
    };
    Ok((echo, row))
}
