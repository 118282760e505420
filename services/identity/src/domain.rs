//! Validated values: the only way to get one is `parse`, so an invalid
//! email, username or password cannot exist past the HTTP edge.

use std::collections::HashSet;
use std::sync::LazyLock;

use gleaner_common::FieldError;
use secrecy::{ExposeSecret, SecretString};

/// An email address, trimmed, with a plausible shape (≤ 254 chars).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    /// Validate an email address.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let s = raw.trim();
        let err = |m: &str| FieldError::new("email", m);
        if s.is_empty() {
            return Err(err("must not be empty"));
        }
        if s.len() > 254 {
            return Err(err("must be at most 254 characters"));
        }
        let Some((local, domain)) = s.rsplit_once('@') else {
            return Err(err("must be a valid email address"));
        };
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..")
            && local
                .chars()
                .all(|c| c.is_alphanumeric() || "!#$%&'*+/=?^_`{|}~.-".contains(c));
        let labels: Vec<&str> = domain.split('.').collect();
        let domain_ok = labels.len() >= 2
            && labels.iter().all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && !l.starts_with('-')
                    && !l.ends_with('-')
                    && l.chars().all(|c| c.is_alphanumeric() || c == '-')
            });
        if local_ok && domain_ok {
            Ok(Self(s.to_string()))
        } else {
            Err(err("must be a valid email address"))
        }
    }

    /// The address as given (trimmed).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A username: `^[A-Za-z0-9_.-]{3,32}$`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username(String);

impl Username {
    /// Validate a username.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let ok = (3..=32).contains(&raw.len())
            && raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
        if ok {
            Ok(Self(raw.to_string()))
        } else {
            Err(FieldError::new(
                "username",
                "must be 3 to 32 characters of letters, digits, '_', '.' or '-'",
            ))
        }
    }

    /// The username.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A full name: trimmed, at most 200 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FullName(String);

impl FullName {
    /// Validate a full name.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let s = raw.trim();
        if s.chars().count() > 200 {
            return Err(FieldError::new(
                "full_name",
                "must be at most 200 characters",
            ));
        }
        if s.chars().any(char::is_control) {
            return Err(FieldError::new(
                "full_name",
                "must not contain control characters",
            ));
        }
        Ok(Self(s.to_string()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

static COMMON_PASSWORDS: LazyLock<HashSet<String>> = LazyLock::new(|| {
    include_str!("../data/common-passwords.txt")
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(str::to_lowercase)
        .collect()
});

/// A new password: 8 to 1024 characters, not a common password.
pub struct NewPassword(SecretString);

impl NewPassword {
    /// Validate a password chosen by a user; `field` names it in errors.
    pub fn parse(raw: &SecretString, field: &str) -> Result<Self, FieldError> {
        let s = raw.expose_secret();
        let n = s.chars().count();
        if n < 8 {
            return Err(FieldError::new(field, "must be at least 8 characters"));
        }
        if n > 1024 {
            return Err(FieldError::new(field, "must be at most 1024 characters"));
        }
        if COMMON_PASSWORDS.contains(&s.to_lowercase()) {
            return Err(FieldError::new(
                field,
                "is too common; choose a less guessable password",
            ));
        }
        Ok(Self(raw.clone()))
    }

    /// The password.
    pub fn secret(&self) -> &SecretString {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(s: &str) -> SecretString {
        SecretString::from(s.to_string())
    }

    #[test]
    fn emails() {
        for ok in ["a@b.co", "First.Last+tag@Example.ORG", " spaced@x.md "] {
            assert!(Email::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "plain",
            "@x.md",
            "a@",
            "a@b",
            "a b@c.md",
            "a@-b.md",
            "a..b@c.md",
            "a@b..md",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
        assert!(Email::parse(&format!("{}@x.md", "a".repeat(65))).is_err());
    }

    #[test]
    fn usernames() {
        for ok in ["abc", "Ion.Popescu", "a_b-c", &"x".repeat(32)] {
            assert!(Username::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["ab", &"x".repeat(33), "ion popescu", "ștefan", "a/b", ""] {
            assert!(Username::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn passwords() {
        assert!(NewPassword::parse(&secret("short"), "password").is_err());
        assert!(NewPassword::parse(&secret("password"), "password").is_err());
        assert!(NewPassword::parse(&secret("PASSWORD"), "password").is_err());
        assert!(NewPassword::parse(&secret("12345678"), "password").is_err());
        assert!(NewPassword::parse(&secret("correct horse battery"), "password").is_ok());
        assert!(NewPassword::parse(&secret(&"ă".repeat(1024)), "password").is_ok());
        assert!(NewPassword::parse(&secret(&"a".repeat(1025)), "password").is_err());
        assert!(COMMON_PASSWORDS.len() > 9_000);
    }

    #[test]
    fn full_names() {
        assert_eq!(
            FullName::parse("  Ion Popescu ").unwrap().as_str(),
            "Ion Popescu"
        );
        assert!(FullName::parse("a\u{0}b").is_err());
        assert!(FullName::parse(&"x".repeat(201)).is_err());
    }
}
