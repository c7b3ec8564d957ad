//! User objects (api-v1 §4.5).

use serde::{Deserialize, Serialize};

/// The full form (`UserSerializer`): staff callers, and everybody for their own record.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct User {
    pub url: String,
    pub id: i64,
    pub username: String,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub groups: Vec<String>,
    pub is_staff: bool,
    pub is_superuser: bool,
    pub is_active: bool,
    pub last_login: Option<String>,
    pub date_joined: String,
}

/// The basic form (`BasicUserSerializer`): what non-staff callers see of others.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct BasicUser {
    pub url: String,
    pub id: i64,
    pub username: String,
    pub first_name: String,
    pub last_name: String,
}

/// Either form, serialized without a tag.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
#[serde(untagged)]
pub enum AnyUser {
    Full(User),
    Basic(BasicUser),
}

impl From<User> for BasicUser {
    fn from(u: User) -> Self {
        BasicUser {
            url: u.url,
            id: u.id,
            username: u.username,
            first_name: u.first_name,
            last_name: u.last_name,
        }
    }
}

/// Body of `PATCH /users/{id}` (every field optional; which ones a caller may send
/// depends on the serializer, api-v1 §4.5.4).
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct UserPatchRequest {
    pub username: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub groups: Option<Vec<String>>,
    pub is_staff: Option<bool>,
    pub is_superuser: Option<bool>,
    pub is_active: Option<bool>,
}
