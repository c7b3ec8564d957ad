//! The OpenAPI document at `/api/swagger.json` and Swagger UI at `/api/swagger/`, both
//! served from the binary. Every handler carries a `#[utoipa::path]`; add new ones to
//! the `paths(...)` list below.

use axum::Router;
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
        super::server::about,
        super::server::exception,
        super::server::share,
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
        super::git::repository,
        super::ops::healthz,
        super::ops::metrics,
    ),
    components(schemas(
        ferrocat_wire::auth::TokenKey,
        ferrocat_wire::auth::Detail,
        ferrocat_wire::users::User,
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
    Router::new().merge(SwaggerUi::new("/api/swagger").url("/api/swagger.json", ApiDoc::openapi()))
}
