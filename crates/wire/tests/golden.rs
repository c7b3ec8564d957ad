//! Golden tests: CVAT responses recorded in the seed deserialize into our wire types and
//! serialize back to the same JSON value.

use ferrocat_wire::Page;
use ferrocat_wire::users::{AnyUser, BasicUser, User};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn round_trip<T: DeserializeOwned + Serialize>(name: &str) {
    let original = fixture(name);
    let typed: T = serde_json::from_value(original.clone()).unwrap();
    assert_eq!(serde_json::to_value(&typed).unwrap(), original, "{name}");
}

#[test]
fn seed_user_self() {
    round_trip::<User>("user_self.json");
}

#[test]
fn seed_users_page() {
    round_trip::<Page<User>>("users_page_all.json");
}

#[test]
fn basic_form_is_the_first_five_fields() {
    let u: User = serde_json::from_value(fixture("user_self.json")).unwrap();
    let basic = serde_json::to_value(AnyUser::Basic(BasicUser::from(u))).unwrap();
    assert_eq!(
        basic,
        serde_json::json!({"url": "http://alexking.site:8080/api/v1/users/1", "id": 1, "username": "root",
                           "first_name": "", "last_name": ""})
    );
}
