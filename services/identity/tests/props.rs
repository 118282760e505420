//! Property tests for identity's input: registration and login bodies as any
//! JSON, and the values inside them. Never a panic; a body is a request or a
//! 400/422 naming the field; a value that passes is in its normal form (an
//! email trimmed, and reading it again gives the same value).

use axum::http::StatusCode;
use gleaner_common::extract::parse_json;
use gleaner_identity::domain::{Email, FullName, NewPassword, Username};
use gleaner_identity::routes::auth::{LoginRequest, RegisterRequest};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use secrecy::SecretString;
use serde_json::{Value, json};

/// 256 cases; failures are kept in `proptest-regressions/props.txt` and replayed first.
fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "proptest-regressions/props.txt",
        ))),
        ..ProptestConfig::default()
    }
}

/// Email-like text: plausible addresses, their near misses, Unicode, padding.
fn arb_email() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[ \t]{0,2}[a-zA-Z0-9._%+-]{0,70}@[a-zA-Z0-9.-]{0,70}[ \t]{0,2}",
        1 => "\\PC{0,10}@\\PC{0,10}\\.[a-z]{2,3}",
        1 => ".{0,40}",
        1 => (1usize..300).prop_map(|n| format!("{}@example.md", "a".repeat(n))),
        1 => Just("a@b@example.md".to_owned()),
        1 => Just("Ion.Popescu@Example.MD".to_owned()),
    ]
}

fn arb_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        ".{0,20}".prop_map(Value::from),
        arb_email().prop_map(Value::from),
        Just(json!(["a"])),
        Just(json!({"a": 1})),
    ]
}

/// A body shaped like a registration or login: its fields with any JSON, and others.
fn arb_body() -> impl Strategy<Value = Vec<u8>> {
    let name = prop::sample::select(vec![
        "email",
        "username",
        "password",
        "full_name",
        "role",
        "",
    ]);
    prop_oneof![
        4 => prop::collection::vec((name, arb_value()), 0..6).prop_map(|fields| {
            let mut body = serde_json::Map::new();
            for (k, v) in fields {
                body.insert(k.to_owned(), v);
            }
            serde_json::to_vec(&Value::Object(body)).expect("JSON serialises")
        }),
        1 => prop::collection::vec(any::<u8>(), 0..80),
    ]
}

proptest! {
    #![proptest_config(config())]

    /// Any bytes as a registration or login body: a request, 400 when not
    /// JSON, or 422 naming a field of the request (or the unknown one sent;
    /// none when the JSON is not an object).
    #[test]
    fn bodies_are_a_request_a_400_or_a_422_naming_the_field(body in arb_body()) {
        let object = serde_json::from_slice::<serde_json::Map<String, Value>>(&body).ok();
        let sent: Vec<String> = object.iter().flat_map(|m| m.keys().cloned()).collect();
        let known = ["email", "username", "password", "full_name"];
        let errors = [
            parse_json::<RegisterRequest>(&body).err(),
            parse_json::<LoginRequest>(&body).err(),
        ];
        for error in errors.into_iter().flatten() {
            let status = error.status();
            prop_assert!(
                status == StatusCode::BAD_REQUEST || status == StatusCode::UNPROCESSABLE_ENTITY,
                "{status}"
            );
            for field in error.field_errors() {
                // A body that is JSON but not an object is wrong as a whole: no field.
                let whole = object.is_none() && field.field.is_empty();
                prop_assert!(
                    whole || known.contains(&field.field.as_str()) || sent.contains(&field.field),
                    "{:?} names no field of {:?}", field, String::from_utf8_lossy(&body)
                );
            }
        }
    }

    /// An email that passes is the input trimmed, at most 254 characters,
    /// one `@` splitting a local part and a domain of two or more labels, and
    /// reading it again gives the same email.
    #[test]
    fn emails_that_pass_are_trimmed_and_read_back_the_same(raw in arb_email()) {
        if let Ok(email) = Email::parse(&raw) {
            let s = email.as_str();
            prop_assert_eq!(s, raw.trim());
            prop_assert!(s.len() <= 254);
            let (local, domain) = s.rsplit_once('@').expect("an @");
            prop_assert!(!local.is_empty() && local.len() <= 64);
            prop_assert!(domain.split('.').count() >= 2);
            prop_assert!(!s.chars().any(|c| c.is_whitespace() || c.is_control()));
            prop_assert_eq!(Email::parse(s).map(|e| e.as_str().to_owned()), Ok(s.to_owned()));
        }
    }

    /// Usernames, full names and new passwords: any text is a value or a
    /// field error naming the field; what passes keeps to its rule.
    #[test]
    fn other_values_keep_to_their_rules(raw in prop_oneof![".{0,40}", "[A-Za-z0-9_.-]{0,40}", "\\PC{0,210}"]) {
        match Username::parse(&raw) {
            Ok(u) => prop_assert!((3..=32).contains(&u.as_str().len())),
            Err(e) => prop_assert_eq!(e.field, "username"),
        }
        match FullName::parse(&raw) {
            Ok(n) => {
                prop_assert!(n.as_str().chars().count() <= 200);
                prop_assert!(!n.as_str().chars().any(char::is_control));
                prop_assert_eq!(n.as_str(), raw.trim());
            }
            Err(e) => prop_assert_eq!(e.field, "full_name"),
        }
        match NewPassword::parse(&SecretString::from(raw.clone()), "password") {
            Ok(_) => prop_assert!((8..=1024).contains(&raw.chars().count())),
            Err(e) => prop_assert_eq!(e.field, "password"),
        }
    }
}
