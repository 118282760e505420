//! The domain events the services publish through their outbox to the events stream, as
//! typed payloads: the scraper writes [`CompanyChanged`], identity writes [`UserCreated`]
//! and [`UserDeleted`], and the app reads them back with [`Event::decode`].
//!
//! A stream entry carries the event's type name (`company.changed`, `user.created`,
//! `user.deleted`) beside its payload, a JSON object. Producers and consumers share these
//! types, so the payload a producer writes is the one a consumer parses.

use std::fmt;

use gleaner_scrapejob::Idno;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::Role;

/// The type of an event, as the `type` field of a stream entry names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    /// `company.changed`: a company's fields changed (scraper).
    CompanyChanged,
    /// `user.created`: an account was made (identity).
    UserCreated,
    /// `user.deleted`: an account was deleted (identity).
    UserDeleted,
}

impl EventType {
    /// Every event type.
    pub const ALL: [EventType; 3] = [
        EventType::CompanyChanged,
        EventType::UserCreated,
        EventType::UserDeleted,
    ];

    /// The name written in the outbox row and the stream entry.
    pub const fn as_str(self) -> &'static str {
        match self {
            EventType::CompanyChanged => "company.changed",
            EventType::UserCreated => "user.created",
            EventType::UserDeleted => "user.deleted",
        }
    }

    /// The type of this name; `None` for a name no service here publishes.
    pub fn parse(name: &str) -> Option<Self> {
        EventType::ALL.into_iter().find(|t| t.as_str() == name)
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The payload of one event type: what the outbox stores and the stream carries.
pub trait Payload: Serialize + DeserializeOwned {
    /// The type this payload is published as.
    const TYPE: EventType;
}

/// One changed field of a company.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct FieldChange {
    /// Company JSON path (`name`, `address.city`, `activities`).
    pub field: String,
    /// Value before.
    #[schema(value_type = Object)]
    pub old: Value,
    /// Value after.
    #[schema(value_type = Object)]
    pub new: Value,
}

/// `company.changed`: a stored company's tracked fields changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompanyChanged {
    /// The company.
    pub idno: Idno,
    /// Its name after the change.
    pub company_name: String,
    /// The run that changed it (none for a change outside a run).
    pub run_id: Option<Uuid>,
    /// What changed, in the company's field order.
    #[serde(default)]
    pub changes: Vec<FieldChange>,
}

impl Payload for CompanyChanged {
    const TYPE: EventType = EventType::CompanyChanged;
}

/// `user.created`: an account was made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserCreated {
    /// The user's id.
    pub id: Uuid,
    /// Their email address.
    pub email: String,
    /// Their username.
    pub username: String,
    /// Their role.
    pub role: Role,
}

impl Payload for UserCreated {
    const TYPE: EventType = EventType::UserCreated;
}

/// `user.deleted`: an account was deleted; whatever other services keep about the user
/// goes too.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserDeleted {
    /// The deleted user's id.
    pub id: Uuid,
    /// Their username.
    pub username: String,
}

impl Payload for UserDeleted {
    const TYPE: EventType = EventType::UserDeleted;
}

/// An event read from the stream, by type.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A company changed.
    CompanyChanged(CompanyChanged),
    /// A user was created.
    UserCreated(UserCreated),
    /// A user was deleted.
    UserDeleted(UserDeleted),
}

impl Event {
    /// The event of a stream entry's `type` and `payload`: `Ok(None)` for a type no
    /// service here publishes, an error for a payload that is not its type's.
    pub fn decode(event_type: &str, payload: &str) -> Result<Option<Event>, serde_json::Error> {
        let Some(event_type) = EventType::parse(event_type) else {
            return Ok(None);
        };
        let event = match event_type {
            EventType::CompanyChanged => Event::CompanyChanged(serde_json::from_str(payload)?),
            EventType::UserCreated => Event::UserCreated(serde_json::from_str(payload)?),
            EventType::UserDeleted => Event::UserDeleted(serde_json::from_str(payload)?),
        };
        Ok(Some(event))
    }

    /// Its type.
    pub fn event_type(&self) -> EventType {
        match self {
            Event::CompanyChanged(_) => EventType::CompanyChanged,
            Event::UserCreated(_) => EventType::UserCreated,
            Event::UserDeleted(_) => EventType::UserDeleted,
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const IDNO: &str = "1003600012345";

    fn idno() -> Idno {
        Idno::parse(IDNO).unwrap()
    }

    /// The stream carries the outbox row's `jsonb` payload as `serde_json` prints a
    /// `Value`: what a typed payload puts there must be exactly what the payload built
    /// field by field did.
    fn wire(payload: &impl Payload) -> String {
        serde_json::to_value(payload).unwrap().to_string()
    }

    #[test]
    fn type_names_round_trip() {
        for t in EventType::ALL {
            assert_eq!(EventType::parse(t.as_str()), Some(t));
            assert_eq!(t.to_string(), t.as_str());
        }
        assert_eq!(
            EventType::ALL.map(EventType::as_str),
            ["company.changed", "user.created", "user.deleted"]
        );
        assert_eq!(EventType::parse("webhook.test"), None);
        assert_eq!(CompanyChanged::TYPE.as_str(), "company.changed");
        assert_eq!(UserCreated::TYPE.as_str(), "user.created");
        assert_eq!(UserDeleted::TYPE.as_str(), "user.deleted");
    }

    #[test]
    fn company_changed_is_written_as_before() {
        let run = Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef);
        let changes = vec![
            FieldChange {
                field: "name".into(),
                old: json!("Alfa SRL"),
                new: json!("Alfa Nova SRL"),
            },
            FieldChange {
                field: "address.city".into(),
                old: Value::Null,
                new: json!("Bălți"),
            },
        ];
        let event = CompanyChanged {
            idno: idno(),
            company_name: "Alfa Nova SRL".into(),
            run_id: Some(run),
            changes: changes.clone(),
        };
        let before = json!({
            "idno": IDNO,
            "company_name": "Alfa Nova SRL",
            "run_id": Some(run),
            "changes": changes,
        });
        assert_eq!(wire(&event), before.to_string());
        assert_eq!(
            wire(&event),
            r#"{"changes":[{"field":"name","new":"Alfa Nova SRL","old":"Alfa SRL"},{"field":"address.city","new":"Bălți","old":null}],"company_name":"Alfa Nova SRL","idno":"1003600012345","run_id":"01234567-89ab-cdef-0123-456789abcdef"}"#
        );
        // A change outside a run says so with a null run id, as before.
        let outside = CompanyChanged {
            run_id: None,
            ..event
        };
        let none: Option<Uuid> = None;
        assert_eq!(
            wire(&outside),
            json!({"idno": IDNO, "company_name": "Alfa Nova SRL", "run_id": none, "changes": changes})
                .to_string()
        );
    }

    #[test]
    fn user_events_are_written_as_before() {
        let id = Uuid::from_u128(7);
        let created = UserCreated {
            id,
            email: "ana@example.com".into(),
            username: "ana".into(),
            role: Role::Operator,
        };
        assert_eq!(
            wire(&created),
            json!({"id": id, "email": "ana@example.com", "username": "ana", "role": Role::Operator})
                .to_string()
        );
        assert_eq!(
            wire(&created),
            r#"{"email":"ana@example.com","id":"00000000-0000-0000-0000-000000000007","role":"operator","username":"ana"}"#
        );
        let deleted = UserDeleted {
            id,
            username: "ana".into(),
        };
        assert_eq!(
            wire(&deleted),
            json!({"id": id, "username": "ana"}).to_string()
        );
    }

    #[test]
    fn entries_published_before_are_read() {
        let company = r#"{"changes":[{"field":"name","new":"Alfa Nova","old":"Alfa"}],"company_name":"Alfa Nova","idno":"1003600012345","run_id":"00000000-0000-0000-0000-000000000007"}"#;
        assert_eq!(
            Event::decode("company.changed", company).unwrap(),
            Some(Event::CompanyChanged(CompanyChanged {
                idno: idno(),
                company_name: "Alfa Nova".into(),
                run_id: Some(Uuid::from_u128(7)),
                changes: vec![FieldChange {
                    field: "name".into(),
                    old: json!("Alfa"),
                    new: json!("Alfa Nova"),
                }],
            }))
        );
        let outside =
            r#"{"changes":[],"company_name":"Alfa","idno":"1003600012345","run_id":null}"#;
        let Some(Event::CompanyChanged(ev)) = Event::decode("company.changed", outside).unwrap()
        else {
            panic!("a company.changed event");
        };
        assert_eq!((ev.run_id, ev.changes.len()), (None, 0));

        let created = r#"{"email":"ana@example.com","id":"00000000-0000-0000-0000-000000000007","role":"admin","username":"ana"}"#;
        let event = Event::decode("user.created", created).unwrap().unwrap();
        assert_eq!(event.event_type(), EventType::UserCreated);
        assert_eq!(
            event,
            Event::UserCreated(UserCreated {
                id: Uuid::from_u128(7),
                email: "ana@example.com".into(),
                username: "ana".into(),
                role: Role::Admin,
            })
        );
        let deleted = r#"{"id":"00000000-0000-0000-0000-000000000007","username":"ana"}"#;
        assert_eq!(
            Event::decode("user.deleted", deleted).unwrap(),
            Some(Event::UserDeleted(UserDeleted {
                id: Uuid::from_u128(7),
                username: "ana".into(),
            }))
        );
    }

    #[test]
    fn unknown_types_are_not_for_us_and_bad_payloads_are_errors() {
        assert_eq!(Event::decode("webhook.test", "{}").unwrap(), None);
        assert_eq!(Event::decode("", "not json").unwrap(), None);
        assert!(Event::decode("user.deleted", "{}").is_err());
        assert!(Event::decode("user.deleted", "").is_err());
        assert!(
            Event::decode(
                "company.changed",
                r#"{"idno":"12","company_name":"x","run_id":null,"changes":[]}"#
            )
            .is_err(),
            "an idno is 13 digits"
        );
    }
}
