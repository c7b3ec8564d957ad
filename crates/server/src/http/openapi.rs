//! The OpenAPI document at `/api/swagger.json` and Swagger UI at `/api/swagger/`, both
//! served from the binary. Every handler carries a `#[utoipa::path]`; add new ones to
//! the `paths(...)` list below.

use axum::Router;
use serde_json::{Value, json};
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

use crate::app::AppState;

#[derive(OpenApi)]
#[openapi(
    info(title = "ferrocat — CVAT REST API v1", description = "The CVAT REST API v1 as ferrocat serves it."),
    paths(
        super::auth::login,
        super::auth::logout,
        super::auth::register,
        super::auth::password_change,
        super::auth::user_agreements,
        super::users::list,
        super::users::me,
        super::users::retrieve,
        super::users::update,
        super::users::destroy,
        super::server::root,
        super::server::about,
        super::server::exception,
        super::server::share,
        super::projects::list,
        super::projects::create,
        super::projects::retrieve,
        super::projects::update,
        super::projects::destroy,
        super::projects::tasks,
        super::projects::annotations,
        super::projects::dataset,
        super::tasks::list,
        super::tasks::create,
        super::tasks::retrieve,
        super::tasks::update,
        super::tasks::replace,
        super::tasks::destroy,
        super::tasks::jobs,
        super::tasks::upload,
        super::tasks::status,
        super::tasks::meta,
        super::tasks::data,
        super::tasks::job,
        super::tasks::update_job,
        super::annotations::job_get,
        super::annotations::job_put,
        super::annotations::job_patch,
        super::annotations::job_delete,
        super::annotations::task_get,
        super::annotations::task_dataset,
        super::annotations::task_put,
        super::annotations::task_patch,
        super::annotations::task_delete,
        super::annotations::logs,
        super::annotations::formats,
        super::git::create,
        super::git::repository,
        super::git::push,
        super::git::check,
        super::git::meta,
        super::ops::healthz,
        super::ops::readyz,
        super::ops::metrics,
    ),
    components(schemas(
        ferrocat_wire::auth::TokenKey,
        ferrocat_wire::auth::Detail,
        ferrocat_wire::users::User,
        ferrocat_wire::projects::Project,
        ferrocat_wire::tasks::GitCreateRequest,
        ferrocat_wire::projects::ProjectWriteRequest,
        ferrocat_wire::users::BasicUser,
        ferrocat_wire::server::About,
        ferrocat_wire::server::UserAgreement,
        ferrocat_wire::server::Exception,
        ferrocat_wire::tasks::Task,
        ferrocat_wire::tasks::Job,
        ferrocat_wire::tasks::DataEcho,
        ferrocat_wire::tasks::DataMeta,
        ferrocat_wire::tasks::Status,
        ferrocat_wire::logs::LogEvent,
        ferrocat_wire::tasks::TaskWriteRequest,
        ferrocat_wire::tasks::LabelWrite,
        ferrocat_wire::tasks::AttributeWrite,
        ferrocat_wire::tasks::InputType,
        ferrocat_wire::tasks::JobWriteRequest,
        ferrocat_wire::tasks::JobStatus,
        ferrocat_wire::tasks::DataRequest,
        ferrocat_wire::annotations::LabeledData,
        ferrocat_wire::annotations::Tag,
        ferrocat_wire::annotations::Shape,
        ferrocat_wire::annotations::Track,
        ferrocat_wire::annotations::TrackedShape,
        ferrocat_wire::annotations::AttributeValue,
        ferrocat_wire::annotations::ShapeType,
    )),
    modifiers(&Security),
    tags((name = "auth"), (name = "users"), (name = "tasks"), (name = "jobs"), (name = "data"), (name = "server"), (name = "ops"))
)]
pub struct ApiDoc;

struct Security;

impl utoipa::Modify for Security {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{
            ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme,
        };
        let c = api.components.get_or_insert_with(Default::default);
        c.add_security_scheme(
            "token",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "Authorization",
                "`Token <key>` from POST /api/v1/auth/login",
            ))),
        );
        c.add_security_scheme(
            "basic",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Basic).build()),
        );
    }
}

pub fn router() -> Router<AppState> {
    Router::new().merge(
        SwaggerUi::new("/api/swagger").external_url_unchecked("/api/swagger.json", document()),
    )
}

/// Routes that answer without a login.
const PUBLIC: [&str; 7] = [
    "/api/v1/auth/login",
    "/api/v1/auth/register",
    "/api/v1/auth/logout",
    "/api/v1/restrictions/user-agreements",
    "/healthz",
    "/readyz",
    "/metrics",
];

/// The document: what the handlers' `#[utoipa::path]`s say, completed with what every
/// route of a kind answers (so that each handler lists only its own cases):
///
/// - 401 on every route that needs a login, 403 where permissions apply to it;
/// - 404 on routes with an id in the path and on pages (`Invalid page.`);
/// - 400 on routes that read a body or query parameters, 413 and 415 on bodies;
/// - path ids as integers ≥ 1 (with 1 as the example, so that generated requests reach
///   existing objects);
/// - `Task` as one object whose data keys are optional (the wire type flattens an
///   `Option`, which utoipa renders as a required alternative), and `BasicUser` closed
///   to other keys, so that a full user matches only `User` in `AnyUser`'s `oneOf`;
/// - the data upload body also as JSON and form (its schema is the same).
pub fn document() -> Value {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).expect("the document serializes");
    complete(&mut doc);
    doc
}

fn complete(doc: &mut Value) {
    let error = json!({"application/json": {"schema": {}}});
    let detail = json!({"application/json": {"schema": {"$ref": "#/components/schemas/Detail"}}});
    if let Some(paths) = doc["paths"].as_object_mut() {
        for (path, item) in paths.iter_mut() {
            let Some(item) = item.as_object_mut() else {
                continue;
            };
            for (method, op) in item.iter_mut() {
                let public = PUBLIC.contains(&path.as_str());
                let has_id = path.contains('{');
                let has_body = op.get("requestBody").is_some();
                let params = op
                    .get("parameters")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                let paged = params.iter().any(|p| p["name"] == "page");
                let has_query = params.iter().any(|p| p["in"] == "query");
                let responses = op["responses"].as_object_mut().expect("responses");
                let mut add = |code: &str, what: &str, content: &Value| {
                    let r = responses
                        .entry(code)
                        .or_insert_with(|| json!({"description": what}));
                    if r.get("content").is_none() {
                        r["content"] = content.clone();
                    }
                    if r["description"] == "" {
                        r["description"] = json!(what);
                    }
                };
                if !public {
                    add("401", "Not logged in, or a bad token", &detail);
                    if path != "/api/v1/users/self" && path != "/api/v1/server/about" {
                        add("403", "Not allowed to the caller", &detail);
                    }
                }
                if has_id || paged {
                    add("404", "No such object (or page)", &detail);
                }
                if has_body || has_query || matches!(method.as_str(), "post" | "put" | "patch") {
                    add("400", "Invalid input, with CVAT's field errors", &error);
                }
                if has_body {
                    add("413", "The body is over the size limit", &detail);
                    add(
                        "415",
                        "The body's content type is not one this route reads",
                        &detail,
                    );
                }
                if let Some(params) = op.get_mut("parameters").and_then(Value::as_array_mut) {
                    for p in params {
                        if p["in"] == "path" && p["schema"]["type"] == "integer" {
                            p["schema"]["minimum"] = json!(1);
                            p["example"] = json!(1);
                        }
                    }
                }
                if path == "/api/v1/tasks/{id}/data" && method == "post" {
                    let schema =
                        op["requestBody"]["content"]["multipart/form-data"]["schema"].clone();
                    for ctype in ["application/json", "application/x-www-form-urlencoded"] {
                        op["requestBody"]["content"][ctype] = json!({"schema": schema});
                    }
                }
            }
        }
    }
    partial_patch_bodies(doc);
    unique_operation_ids(doc);
    let schemas = &mut doc["components"]["schemas"];
    schemas["BasicUser"]["additionalProperties"] = json!(false);
    flatten_optional(schemas, "Task", "TaskDataKeys");
}

/// `PATCH` takes any subset of the fields its write schema requires: each `PATCH` body
/// that refers to a schema with required fields refers to a copy without them
/// (`<Name>Patch`).
fn partial_patch_bodies(doc: &mut Value) {
    let with_required: std::collections::HashSet<String> = doc["components"]["schemas"]
        .as_object()
        .map(|m| {
            m.iter()
                .filter(|(_, v)| v.get("required").is_some())
                .map(|(k, _)| k.clone())
                .collect()
        })
        .unwrap_or_default();
    let mut copies = std::collections::BTreeSet::new();
    if let Some(paths) = doc["paths"].as_object_mut() {
        for item in paths.values_mut() {
            // (`get_mut`, not indexing: indexing a missing key would add it)
            let Some(content) = item
                .get_mut("patch")
                .and_then(|op| op.get_mut("requestBody"))
                .and_then(|b| b.get_mut("content"))
                .and_then(Value::as_object_mut)
            else {
                continue;
            };
            for media in content.values_mut() {
                let Some(name) = media
                    .get("schema")
                    .and_then(|s| s.get("$ref"))
                    .and_then(Value::as_str)
                    .and_then(|r| r.strip_prefix("#/components/schemas/"))
                    .map(str::to_string)
                else {
                    continue;
                };
                if !with_required.contains(&name) {
                    continue;
                }
                media["schema"]["$ref"] = json!(format!("#/components/schemas/{name}Patch"));
                copies.insert(name);
            }
        }
    }
    let schemas = &mut doc["components"]["schemas"];
    for name in copies {
        let mut copy = schemas[&name].clone();
        if let Some(o) = copy.as_object_mut() {
            o.remove("required");
        }
        schemas[format!("{name}Patch")] = copy;
    }
}

/// One handler can serve two methods (`PATCH` and `PUT /jobs/{id}`); OpenAPI wants an
/// operation id once: repeats get the method appended.
fn unique_operation_ids(doc: &mut Value) {
    let mut seen = std::collections::HashSet::new();
    if let Some(paths) = doc["paths"].as_object_mut() {
        for item in paths.values_mut() {
            let Some(item) = item.as_object_mut() else {
                continue;
            };
            for (method, op) in item.iter_mut() {
                let Some(id) = op
                    .get("operationId")
                    .and_then(Value::as_str)
                    .map(str::to_string)
                else {
                    continue;
                };
                if !seen.insert(id.clone()) {
                    op["operationId"] = json!(format!("{id}_{method}"));
                }
            }
        }
    }
}

/// Rewrites `name` (`allOf: [oneOf: [null, optional], object]`, utoipa's rendering of a
/// flattened `Option<optional>`) into one object with the optional keys not required.
fn flatten_optional(schemas: &mut Value, name: &str, optional: &str) {
    let extra = schemas[optional]["properties"].clone();
    let Some(parts) = schemas[name]["allOf"].as_array() else {
        return;
    };
    let Some(mut object) = parts.iter().find(|p| p["type"] == "object").cloned() else {
        return;
    };
    if let (Some(props), Some(extra)) = (object["properties"].as_object_mut(), extra.as_object()) {
        for (k, v) in extra {
            props.insert(k.clone(), v.clone());
        }
    }
    object["description"] = json!(format!("Without data, the keys of {optional} are absent."));
    schemas[name] = object;
}
