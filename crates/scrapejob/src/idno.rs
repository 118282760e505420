//! The IDNO: a Moldovan company's 13-digit fiscal code.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A 13-digit IDNO. The only way to make one is [`Idno::parse`], so one that exists is valid.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Idno(String);

/// Why a string is not an IDNO.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidIdno(pub String);

impl fmt::Display for InvalidIdno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} is not a 13-digit IDNO", self.0)
    }
}

impl std::error::Error for InvalidIdno {}

impl Idno {
    /// Digits in an IDNO.
    pub const LEN: usize = 13;

    /// Parses exactly 13 ASCII digits (no sign, no spaces).
    pub fn parse(s: &str) -> Result<Self, InvalidIdno> {
        if s.len() == Self::LEN && s.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Idno(s.to_owned()))
        } else {
            Err(InvalidIdno(s.to_owned()))
        }
    }

    /// Whether `s` is an IDNO.
    pub fn is_valid(s: &str) -> bool {
        Self::parse(s).is_ok()
    }

    /// The 13 digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Idno {
    type Error = InvalidIdno;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Idno::parse(&s)
    }
}

impl From<Idno> for String {
    fn from(idno: Idno) -> String {
        idno.0
    }
}

impl AsRef<str> for Idno {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Idno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for Idno {
    type Err = InvalidIdno;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Idno::parse(s)
    }
}

impl JsonSchema for Idno {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Idno".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": crate::limits::IDNO_PATTERN,
            "description": "A 13-digit IDNO (fiscal code)."
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_thirteen_ascii_digits_parse() {
        assert_eq!(
            Idno::parse("1003600012345").unwrap().as_str(),
            "1003600012345"
        );
        for bad in [
            "",
            "100360001234",
            "10036000123456",
            "100360001234a",
            " 1003600012345",
            "+003600012345",
            "１００３６０００１２３４",
        ] {
            assert!(Idno::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn serde_goes_through_parse() {
        let idno: Idno = serde_json::from_str(r#""1003600012345""#).unwrap();
        assert_eq!(serde_json::to_string(&idno).unwrap(), r#""1003600012345""#);
        assert!(serde_json::from_str::<Idno>(r#""12345""#).is_err());
        assert!(serde_json::from_str::<Idno>("1003600012345").is_err());
    }
}
