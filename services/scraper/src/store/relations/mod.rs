//! People and the roles they and companies hold: written by the Transform in the
//! company's own transaction ([`sync()`]), read by the people, related and graph routes.
//!
//! Related companies and the graph follow current roles only: a role a later run no
//! longer sees still shows under its person (`current: false`), but ties nothing.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool, Postgres, QueryBuilder, Row};
use utoipa::ToSchema;

use crate::company::CompanyRecord;
use crate::relations::{HolderKind, Role, RoleKey, RoleKind, roles_of};
use crate::store::companies::{MAX_EXACT_TOTAL, RANK_LIMIT};

mod network;
mod people;
mod sync;

pub use network::*;
pub use people::*;
pub use sync::*;
