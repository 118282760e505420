//! Where outgoing connections may go: a network-security policy of allowed hosts and
//! allowed networks, the public-address ranges it judges by, and the one parser of a
//! configured URL ([`SourceUrl`]) that the policy checks.
//!
//! The policy knows no setting of its own: each user reads its lists from the settings it
//! owns ([`AllowedHosts::parse`] and [`AllowedNetworks::parse`] take the setting's name,
//! and every error and refusal names it back). Scrape runs allow only listed hosts;
//! a user that allows any public host ([`EgressPolicy::any_host`]) and only `https`
//! ([`EgressPolicy::https_only`]) builds its policy from the same parts.

#![deny(missing_docs)]

mod address;
mod allowed;
mod policy;
#[cfg(feature = "reqwest")]
pub mod resolve;
pub mod source_url;

pub use address::is_public;
pub use allowed::{AllowedHosts, AllowedNetworks, SettingError};
pub use policy::{EgressPolicy, Refusal};
pub use source_url::{InvalidSourceUrl, SourceUrl};
/// The URL types the policy reads, as the HTTP client reads them.
pub use url::{Host, Url};
