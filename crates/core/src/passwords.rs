//! Password hashing, verification and strength rules.
//!
//! New hashes are argon2id in PHC format. Django's `pbkdf2_sha256$iterations$salt$hash`
//! hashes (from a CVAT database) are verified too, and the caller rehashes them with
//! argon2id after a successful login. A hash starting with `!` is Django's "unusable
//! password" (no password login). These functions are CPU-heavy: call them off the async
//! runtime (see `Core::blocking`).

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use base64::Engine;
use subtle::ConstantTimeEq;

/// Outcome of checking a password against a stored hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verified {
    /// Correct, and the hash is current.
    Ok,
    /// Correct, but stored in a legacy scheme: store a new hash.
    OkRehash,
    /// Wrong password, or an unusable/unknown hash.
    Bad,
}

/// Hashes a password with argon2id and a random salt.
pub fn hash(password: &str) -> String {
    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 with default parameters cannot fail")
        .to_string()
}

/// Whether the stored hash allows password login at all.
pub fn usable(stored: &str) -> bool {
    !stored.is_empty() && !stored.starts_with('!')
}

/// Checks `password` against `stored` (argon2 PHC or Django pbkdf2_sha256).
pub fn verify(password: &str, stored: &str) -> Verified {
    if let Some(rest) = stored.strip_prefix("pbkdf2_sha256$") {
        return if verify_django_pbkdf2(password, rest) {
            Verified::OkRehash
        } else {
            Verified::Bad
        };
    }
    match PasswordHash::new(stored) {
        Ok(parsed) => {
            if Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
            {
                Verified::Ok
            } else {
                Verified::Bad
            }
        }
        Err(_) => Verified::Bad,
    }
}

fn verify_django_pbkdf2(password: &str, rest: &str) -> bool {
    let mut parts = rest.splitn(3, '$');
    let (Some(iter), Some(salt), Some(expected)) = (parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    let Ok(iterations) = iter.parse::<u32>() else {
        return false;
    };
    if iterations == 0 || iterations > 10_000_000 {
        return false;
    }
    let Ok(expected) = base64::engine::general_purpose::STANDARD.decode(expected) else {
        return false;
    };
    if expected.len() != 32 {
        return false;
    }
    let mut out = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<sha2::Sha256>(password.as_bytes(), salt.as_bytes(), iterations, &mut out);
    out.ct_eq(&expected).into()
}

const COMMON: &str = include_str!("common_passwords.txt");

/// Django's default password validators: minimum length 8, not a common password, not
/// entirely numeric. Returns the messages of every rule that fails, in Django's order.
/// (Django's similarity-to-username check is not implemented.)
pub fn strength_errors(password: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if password.chars().count() < 8 {
        errs.push("This password is too short. It must contain at least 8 characters.".to_string());
    }
    let lower = password.trim().to_lowercase();
    if COMMON
        .lines()
        .filter(|l| !l.starts_with('#'))
        .any(|l| l.trim() == lower)
    {
        errs.push("This password is too common.".to_string());
    }
    if !password.is_empty() && password.chars().all(|c| c.is_ascii_digit()) {
        errs.push("This password is entirely numeric.".to_string());
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argon2_round_trip() {
        let h = hash("correct horse");
        assert!(h.starts_with("$argon2id$"));
        assert_eq!(verify("correct horse", &h), Verified::Ok);
        assert_eq!(verify("wrong horse", &h), Verified::Bad);
    }

    #[test]
    fn django_pbkdf2_hash_from_cvat() {
        // Made with Python's hashlib.pbkdf2_hmac('sha256', b'cvat-pass-1', b'Xy7salt0Q', 260000),
        // base64-encoded, in Django's layout.
        let stored = "pbkdf2_sha256$260000$Xy7salt0Q$qBR1ZayE6E40yXO5SXpZAPzL4PwfWyi9vwW6cdU9O1s=";
        assert_eq!(verify("cvat-pass-1", stored), Verified::OkRehash);
        assert_eq!(verify("cvat-pass-2", stored), Verified::Bad);
        assert_eq!(verify("x", "pbkdf2_sha256$abc$salt$hash"), Verified::Bad);
        assert_eq!(verify("x", "!unusable"), Verified::Bad);
        assert!(!usable("!unusable"));
    }

    #[test]
    fn strength_rules() {
        assert_eq!(strength_errors("Xk3-vq9!plm"), Vec::<String>::new());
        let e = strength_errors("1234567");
        assert_eq!(e.len(), 3, "{e:?}");
        assert_eq!(strength_errors("password").len(), 1);
        assert_eq!(strength_errors("48213975223").len(), 1);
    }
}
