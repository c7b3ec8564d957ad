//! Users (api-v1 §4.5): listing, reading, editing and deleting, with the serializer
//! choice of §4.5.3 and the field rules shared with registration.

use ferrocat_store::{StoreError, UserPatch, UserRow, UserSort};
use ferrocat_wire::{FieldErrors, Fields};
use serde_json::{Map, Value};

use crate::Core;
use crate::error::{Error, Result};
use crate::permissions::{Actor, Perm, Role, sees_full_users};

/// Which serializer a response uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    Full,
    Basic,
}

pub struct UserService<'a> {
    pub(crate) core: &'a Core,
}

impl UserService<'_> {
    /// The form in which `actor` reads the record of user `target`.
    pub fn read_form(&self, actor: &Actor, target: i64) -> Form {
        if sees_full_users(actor) || actor.id == target {
            Form::Full
        } else {
            Form::Basic
        }
    }

    /// The form in which `actor` reads lists of users.
    pub fn list_form(&self, actor: &Actor) -> Form {
        if sees_full_users(actor) {
            Form::Full
        } else {
            Form::Basic
        }
    }

    /// Total number of users.
    pub async fn count(&self) -> Result<i64> {
        Ok(self.core.db().count_users().await?)
    }

    /// A page of users; `ordering` is DRF's `ordering` parameter (unknown fields
    /// ignored; ties by id).
    /// Only fields of the form the caller sees can be ordered on: sorting by a hidden
    /// field (e-mail, last login, superuser) would let a caller binary-search it. Other
    /// names are ignored, as unknown names are.
    pub async fn list(
        &self,
        actor: &Actor,
        ordering: Option<&str>,
        offset: i64,
        limit: Option<i64>,
    ) -> Result<Vec<UserRow>> {
        let form = self.list_form(actor);
        let order: Vec<(UserSort, bool)> = ordering
            .unwrap_or("")
            .split(',')
            .filter_map(|f| {
                let f = f.trim();
                let (desc, name) = match f.strip_prefix('-') {
                    Some(n) => (true, n),
                    None => (false, f),
                };
                UserSort::parse(name)
                    .filter(|s| form == Form::Full || s.in_basic_form())
                    .map(|s| (s, desc))
            })
            .collect();
        Ok(self.core.db().list_users(&order, offset, limit).await?)
    }

    /// One user (404 when absent).
    pub async fn get(&self, id: i64) -> Result<UserRow> {
        self.core.db().user(id).await?.ok_or(Error::NotFound)
    }

    /// `PATCH /users/{id}`: the user themself or an admin. Staff callers write through
    /// the full serializer; others through the basic one, which refuses other keys.
    /// Returns the updated user and the form to answer with.
    pub async fn patch(
        &self,
        actor: &Actor,
        id: i64,
        body: &Map<String, Value>,
    ) -> Result<(UserRow, Form)> {
        let db = self.core.db();
        let current = self.get(id).await?;
        self.core.check(actor, Perm::UserChange(id))?;
        let form = self.list_form(actor);
        if form == Form::Basic {
            let allowed = ["url", "id", "username", "first_name", "last_name"];
            let privileged = ["is_staff", "is_superuser", "groups"];
            let mut denied: Vec<&str> = body
                .keys()
                .map(String::as_str)
                .filter(|k| privileged.contains(k))
                .collect();
            let mut unknown: Vec<&str> = body
                .keys()
                .map(String::as_str)
                .filter(|k| !allowed.contains(k) && !privileged.contains(k))
                .collect();
            denied.sort();
            unknown.sort();
            if !denied.is_empty() {
                return Err(Error::non_field(format!(
                    "You do not have permissions to access some of these fields: {}",
                    py_set(&denied)
                )));
            }
            if !unknown.is_empty() {
                return Err(Error::non_field(format!(
                    "Got unknown fields: {}",
                    py_set(&unknown)
                )));
            }
        }
        let mut f = Fields::new(body);
        let mut patch = UserPatch {
            username: f.string("username", false),
            first_name: f.string("first_name", true),
            last_name: f.string("last_name", true),
            ..Default::default()
        };
        if form == Form::Full {
            patch.email = f.string("email", true);
            patch.is_staff = f.bool("is_staff");
            patch.is_superuser = f.bool("is_superuser");
            patch.is_active = f.bool("is_active");
            patch.groups = f.string_list("groups");
        }
        let mut errs = f.errors;
        if let Some(u) = &patch.username {
            check_username(&mut errs, "username", u);
            if !errs.has("username") && db.username_taken(u, Some(id)).await? {
                errs.add("username", "A user with that username already exists.");
            }
        }
        if let Some(n) = &patch.first_name {
            check_max(&mut errs, "first_name", n, 30);
        }
        if let Some(n) = &patch.last_name {
            check_max(&mut errs, "last_name", n, 150);
        }
        if let Some(e) = &patch.email
            && !e.is_empty()
        {
            check_email(&mut errs, "email", e);
            if !errs.has("email") && db.email_taken(e, Some(id)).await? {
                errs.add(
                    "email",
                    "A user is already registered with this e-mail address.",
                );
            }
        }
        if let Some(groups) = &mut patch.groups {
            groups.sort();
            groups.dedup();
            for g in groups.iter() {
                if Role::parse(g).is_none() {
                    errs.add("groups", format!("Object with name={g} does not exist."));
                }
            }
        }
        errs.into_result()?;
        match db.update_user(current.id, &patch).await {
            Ok(()) => {}
            Err(StoreError::Unique(c)) if c.contains("email") => {
                return Err(Error::field(
                    "email",
                    "A user is already registered with this e-mail address.",
                ));
            }
            Err(StoreError::Unique(_)) => {
                return Err(Error::field(
                    "username",
                    "A user with that username already exists.",
                ));
            }
            Err(e) => return Err(e.into()),
        }
        Ok((self.get(id).await?, form))
    }

    /// `DELETE /users/{id}`: the user themself or an admin. Objects that referenced the
    /// user keep existing with the reference set to null.
    pub async fn delete(&self, actor: &Actor, id: i64) -> Result<()> {
        self.get(id).await?;
        self.core.check(actor, Perm::UserDelete(id))?;
        self.core.db().delete_user(id).await?;
        Ok(())
    }
}

/// Renders names as a Python set literal, as DRF's messages do: `{'a', 'b'}`.
fn py_set(names: &[&str]) -> String {
    let inner: Vec<String> = names.iter().map(|n| format!("'{n}'")).collect();
    format!("{{{}}}", inner.join(", "))
}

fn check_max(errs: &mut FieldErrors, field: &str, v: &str, max: usize) {
    if v.chars().count() > max {
        errs.add(
            field,
            format!("Ensure this field has no more than {max} characters."),
        );
    }
}

/// Django's username rules: 1–150 characters; letters, digits and `@ . + - _`.
pub(crate) fn check_username(errs: &mut FieldErrors, field: &str, u: &str) {
    if u.is_empty() {
        errs.add(field, ferrocat_wire::fields::BLANK);
        return;
    }
    check_max(errs, field, u, 150);
    if !u
        .chars()
        .all(|c| c.is_alphanumeric() || "@.+-_".contains(c))
    {
        errs.add(
            field,
            "Enter a valid username. This value may contain only letters, numbers, and @/./+/-/_ characters.",
        );
    }
}

/// A first or last name at registration: not blank (checked by the reader), at most
/// `max` characters.
pub(crate) fn check_name(errs: &mut FieldErrors, field: &str, v: &str, max: usize) {
    check_max(errs, field, v, max);
}

/// A plausible e-mail address: `local@domain.tld`, no spaces, at most 254 characters.
pub(crate) fn check_email(errs: &mut FieldErrors, field: &str, e: &str) {
    let valid = e.len() <= 254
        && !e.chars().any(char::is_whitespace)
        && match e.rsplit_once('@') {
            Some((local, domain)) => {
                !local.is_empty()
                    && !local.contains('@')
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
                    && !domain.contains("..")
                    && domain
                        .chars()
                        .all(|c| c.is_alphanumeric() || c == '-' || c == '.')
            }
            None => false,
        };
    if !valid {
        errs.add(field, "Enter a valid email address.");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn username_and_email_rules() {
        let mut e = FieldErrors::new();
        check_username(&mut e, "username", "ok.name+x@y_z-1");
        check_email(&mut e, "email", "a.b@example.com");
        assert!(e.is_empty(), "{e:?}");
        check_username(&mut e, "username", "bad name!");
        check_email(&mut e, "email", "nope@");
        check_email(&mut e, "email2", "a@b");
        assert!(e.has("username") && e.has("email") && e.has("email2"));
        assert_eq!(py_set(&["groups", "is_staff"]), "{'groups', 'is_staff'}");
    }
}
