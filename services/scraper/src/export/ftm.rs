//! The FollowTheMoney export: entities of the `followthemoney` model (4.x), one JSON
//! object `{"id", "schema", "properties"}` per line.
//!
//! - `Company` for every company of the registry, id `md-company-<IDNO>`.
//! - `Person` for every person named as a founder or administrator, id
//!   `md-person-<id>` with the id of `GET /api/v1/people/{id}` ([`names::person_id`]).
//! - `Ownership` (owner → asset, `percentage` = share, `role` = `founder`) for every
//!   founder, `Directorship` (director → organization, `role` = the function) for
//!   every administrator; id `md-ownership-` / `md-directorship-` and a hash of the
//!   company's IDNO and the holder's id.
//! - A founding or managing company is the company the relations link it to
//!   (`company_roles_linked`, the one place that rule is written). Linked to an
//!   IDNO the registry does not hold, it is a `Company` of that id with the name
//!   and IDNO the source gives; not linked, a `Company` with only its name, id
//!   `md-org-` and a hash of the folded name (one entity per folded name).
//!
//! Every reference points at an entity of the same export, and every entity is
//! written once: companies as the snapshot is read; persons and founding companies
//! outside the registry, named many times, are gathered in temporary tables of the
//! export's transaction and written once each at the end, so memory does not grow
//! with the registry.

use std::collections::HashMap;

use futures::TryStreamExt as _;
use serde::ser::{Serialize, SerializeMap, Serializer};
use sha2::{Digest, Sha256};
use sqlx::{PgConnection, Row};

use super::{ExportError, Sink, next_batch};
use crate::company::{Company, FounderKind};
use crate::names;

/// The jurisdiction of every company of the registry (ISO 3166-1, as FtM writes it).
pub const JURISDICTION: &str = "md";

/// Create the temporary tables an FtM export gathers persons and outside companies
/// in. Runs before the transaction is made read-only (writing temporary tables is
/// allowed in a read-only transaction; creating them is not). They go with the
/// transaction.
pub async fn prepare(conn: &mut PgConnection) -> sqlx::Result<()> {
    sqlx::query(
        "CREATE TEMPORARY TABLE export_people (id text NOT NULL, name text NOT NULL) ON COMMIT DROP",
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "CREATE TEMPORARY TABLE export_holders (id text NOT NULL, name text NOT NULL, idno text) \
         ON COMMIT DROP",
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The id of the company `idno`.
pub fn company_id(idno: &str) -> String {
    format!("md-company-{idno}")
}

/// The id of the person whose [`names::person_id`] is `person_id`.
pub fn person_entity_id(person_id: &str) -> String {
    format!("md-person-{person_id}")
}

/// 80 bits of SHA-256 over `parts` (each followed by a separator), in hex.
fn digest(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part.as_bytes());
        hasher.update([0x1f]);
    }
    hex::encode(&hasher.finalize()[..10])
}

/// The id of a founding or managing company no company of the registry is linked
/// to, from its folded name ([`names::name_key`], not empty).
pub fn unlinked_company_id(name_key: &str) -> String {
    format!("md-org-{}", digest(&["org", name_key]))
}

/// The id of the ownership of `company` by `owner` (entity ids).
pub fn ownership_id(company: &str, owner: &str) -> String {
    format!("md-ownership-{}", digest(&["ownership", company, owner]))
}

/// The id of the directorship of `director` in `company` (entity ids).
pub fn directorship_id(company: &str, director: &str) -> String {
    format!(
        "md-directorship-{}",
        digest(&["directorship", company, director])
    )
}

/// An entity's properties, each with its values (never empty), in a fixed order.
#[derive(Default)]
struct Properties<'a>(Vec<(&'static str, Vec<&'a str>)>);

impl<'a> Properties<'a> {
    fn set(&mut self, name: &'static str, value: Option<&'a str>) -> &mut Self {
        if let Some(v) = value.map(str::trim).filter(|v| !v.is_empty()) {
            self.add(name, v);
        }
        self
    }

    fn add(&mut self, name: &'static str, value: &'a str) {
        match self.0.iter_mut().find(|(n, _)| *n == name) {
            Some((_, values)) => {
                if !values.contains(&value) {
                    values.push(value);
                }
            }
            None => self.0.push((name, vec![value])),
        }
    }
}

impl Serialize for Properties<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (name, values) in &self.0 {
            map.serialize_entry(name, values)?;
        }
        map.end()
    }
}

#[derive(serde::Serialize)]
struct Entity<'a> {
    id: &'a str,
    schema: &'static str,
    properties: &'a Properties<'a>,
}

fn write_entity(out: &mut Vec<u8>, id: &str, schema: &'static str, properties: &Properties<'_>) {
    let entity = Entity {
        id,
        schema,
        properties,
    };
    let start = out.len();
    // Writing strings into memory cannot fail; should it, the line is left out whole.
    if serde_json::to_writer(&mut *out, &entity).is_err() {
        out.truncate(start);
        return;
    }
    out.push(b'\n');
}

/// An FtM date-time: seconds precision, no zone (FtM dates are ISO 8601 prefixes).
fn ftm_time(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S").to_string()
}

/// The company links of the relations: (role, holder key) → (the linked IDNO,
/// whether the registry holds it).
type Links = HashMap<(String, String, String), (Option<String>, bool)>;

async fn links_between(conn: &mut PgConnection, after: &str, last: &str) -> sqlx::Result<Links> {
    let rows = sqlx::query(
        "SELECT r.idno, r.role, r.holder_key, r.holder_company, \
           EXISTS (SELECT 1 FROM companies c WHERE c.idno = r.holder_company) AS known \
         FROM company_roles_linked r \
         WHERE r.idno > $1 AND r.idno <= $2 AND r.holder_kind = 'company'",
    )
    .bind(after)
    .bind(last)
    .fetch_all(conn)
    .await?;
    let mut links = Links::with_capacity(rows.len());
    for row in &rows {
        links.insert(
            (
                row.try_get("idno")?,
                row.try_get("role")?,
                row.try_get("holder_key")?,
            ),
            (row.try_get("holder_company")?, row.try_get("known")?),
        );
    }
    Ok(links)
}

/// What one batch leaves for the end: persons and outside companies it named.
#[derive(Default)]
struct Named {
    person_ids: Vec<String>,
    person_names: Vec<String>,
    holder_ids: Vec<String>,
    holder_names: Vec<String>,
    holder_idnos: Vec<Option<String>>,
}

impl Named {
    async fn save(&mut self, conn: &mut PgConnection) -> sqlx::Result<()> {
        if !self.person_ids.is_empty() {
            sqlx::query(
                "INSERT INTO export_people (id, name) SELECT * FROM unnest($1::text[], $2::text[])",
            )
            .bind(&self.person_ids)
            .bind(&self.person_names)
            .execute(&mut *conn)
            .await?;
        }
        if !self.holder_ids.is_empty() {
            sqlx::query(
                "INSERT INTO export_holders (id, name, idno) \
                 SELECT * FROM unnest($1::text[], $2::text[], $3::text[])",
            )
            .bind(&self.holder_ids)
            .bind(&self.holder_names)
            .bind(&self.holder_idnos)
            .execute(&mut *conn)
            .await?;
        }
        *self = Named::default();
        Ok(())
    }
}

/// The entity a role's holder is, or `None` for a name with no letter or digit.
fn holder(
    company: &Company,
    role: &str,
    kind: FounderKind,
    name: &str,
    idno: Option<&str>,
    links: &Links,
    named: &mut Named,
) -> Option<String> {
    match kind {
        FounderKind::Person => {
            let id = names::person_id(name)?;
            named.person_ids.push(id.clone());
            named.person_names.push(name.trim().to_owned());
            Some(person_entity_id(&id))
        }
        FounderKind::Company => {
            let name_key = names::name_key(name);
            let key = idno.map_or_else(|| name_key.clone(), str::to_owned);
            let link = links.get(&(
                company.record.idno.as_str().to_owned(),
                role.to_owned(),
                key,
            ));
            match link {
                Some((Some(linked), true)) => Some(company_id(linked)),
                Some((Some(linked), false)) => {
                    let id = company_id(linked);
                    named.holder_ids.push(id.clone());
                    named.holder_names.push(name.trim().to_owned());
                    named.holder_idnos.push(Some(linked.clone()));
                    Some(id)
                }
                _ if name_key.is_empty() => None,
                _ => {
                    let id = unlinked_company_id(&name_key);
                    named.holder_ids.push(id.clone());
                    named.holder_names.push(name.trim().to_owned());
                    named.holder_idnos.push(None);
                    Some(id)
                }
            }
        }
    }
}

/// Append a company's entities: the company, its ownerships and directorships.
fn write_company(out: &mut Vec<u8>, company: &Company, links: &Links, named: &mut Named) {
    let r = &company.record;
    let id = company_id(r.idno.as_str());
    let registered_at = r.registered_at.map(|d| d.to_string());
    let modified_at = ftm_time(company.updated_at);
    let retrieved_at = ftm_time(company.source.fetched_at);
    let mut props = Properties::default();
    props
        .set("name", Some(&r.name))
        .set("registrationNumber", Some(r.idno.as_str()))
        .set("taxNumber", Some(r.idno.as_str()))
        .set("jurisdiction", Some(JURISDICTION))
        .set("legalForm", r.legal_form.as_deref())
        .set("status", Some(r.status.as_str()))
        .set("incorporationDate", registered_at.as_deref())
        .set(
            "address",
            r.address.full.as_deref().or(r.address.city.as_deref()),
        )
        .set("sourceUrl", Some(&company.source.url))
        .set("retrievedAt", Some(&retrieved_at))
        .set("modifiedAt", Some(&modified_at));
    for activity in &r.activities {
        props.set("caemCode", Some(&activity.code));
        props.set("sector", Some(&activity.name));
    }
    write_entity(out, &id, "Company", &props);

    // One ownership per owner and one directorship per director, their values merged.
    let mut owners: Vec<(String, Vec<String>)> = Vec::new();
    for f in &r.founders {
        let idno = f.idno.as_ref().map(|i| i.as_str());
        let Some(owner) = holder(company, "founder", f.kind, &f.name, idno, links, named) else {
            continue;
        };
        let share = f.share.filter(|s| s.is_finite()).map(|s| s.to_string());
        match owners.iter_mut().find(|(o, _)| *o == owner) {
            Some((_, shares)) => shares.extend(share),
            None => owners.push((owner, share.into_iter().collect())),
        }
    }
    for (owner, shares) in &owners {
        let mut props = Properties::default();
        props
            .set("owner", Some(owner))
            .set("asset", Some(&id))
            .set("role", Some("founder"));
        for share in shares {
            props.set("percentage", Some(share));
        }
        write_entity(out, &ownership_id(&id, owner), "Ownership", &props);
    }
    let mut directors: Vec<(String, Vec<&str>)> = Vec::new();
    for a in &r.administrators {
        let idno = a.idno.as_ref().map(|i| i.as_str());
        let Some(director) = holder(
            company,
            "administrator",
            a.kind,
            &a.name,
            idno,
            links,
            named,
        ) else {
            continue;
        };
        let function = a.role.as_deref();
        match directors.iter_mut().find(|(d, _)| *d == director) {
            Some((_, functions)) => functions.extend(function),
            None => directors.push((director, function.into_iter().collect())),
        }
    }
    for (director, functions) in &directors {
        let mut props = Properties::default();
        props
            .set("director", Some(director))
            .set("organization", Some(&id));
        for function in functions {
            props.set("role", Some(function));
        }
        write_entity(out, &directorship_id(&id, director), "Directorship", &props);
    }
}

/// Write the whole FtM export of the snapshot `conn` reads (prepared by [`prepare`]).
pub async fn write(conn: &mut PgConnection, sink: &mut Sink) -> Result<(), ExportError> {
    let mut after = String::new();
    let mut named = Named::default();
    loop {
        let companies = next_batch(conn, &after).await?;
        let Some(last) = companies.last() else {
            break;
        };
        let last = last.record.idno.as_str().to_owned();
        let links = links_between(conn, &after, &last).await?;
        for company in &companies {
            write_company(sink.buf(), company, &links, &mut named);
            sink.maybe_flush().await?;
        }
        named.save(conn).await?;
        after = last;
    }
    // Every person once, named as the people API names them when it knows them.
    {
        let mut people = sqlx::query(
            "SELECT e.id, coalesce(max(p.name), min(e.name)) AS name \
             FROM export_people e LEFT JOIN people p ON p.id = e.id \
             GROUP BY e.id ORDER BY e.id",
        )
        .fetch(&mut *conn);
        while let Some(row) = people.try_next().await? {
            let person_id: String = row.try_get("id")?;
            let name: String = row.try_get("name")?;
            let mut props = Properties::default();
            props.set("name", Some(&name));
            write_entity(sink.buf(), &person_entity_id(&person_id), "Person", &props);
            sink.maybe_flush().await?;
        }
    }
    // Every founding or managing company outside the registry once.
    let mut holders = sqlx::query(
        "SELECT id, min(name) AS name, min(idno) AS idno FROM export_holders \
         GROUP BY id ORDER BY id",
    )
    .fetch(&mut *conn);
    while let Some(row) = holders.try_next().await? {
        let id: String = row.try_get("id")?;
        let name: String = row.try_get("name")?;
        let idno: Option<String> = row.try_get("idno")?;
        let mut props = Properties::default();
        props.set("name", Some(&name));
        if idno.is_some() {
            props
                .set("registrationNumber", idno.as_deref())
                .set("taxNumber", idno.as_deref())
                .set("jurisdiction", Some(JURISDICTION));
        }
        write_entity(sink.buf(), &id, "Company", &props);
        sink.maybe_flush().await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_pinned() {
        // Ids are what FtM tools merge on across exports: a change here splits every entity.
        assert_eq!(company_id("1003600012345"), "md-company-1003600012345");
        assert_eq!(
            person_entity_id(&names::person_id("Ion Popescu").unwrap_or_default()),
            "md-person-9fc1d68e43a94961642e"
        );
        assert_eq!(
            unlinked_company_id("vinaria nord srl"),
            unlinked_company_id(&names::name_key("VINĂRIA-NORD  SRL"))
        );
        let own = ownership_id("md-company-1", "md-person-2");
        assert!(own.starts_with("md-ownership-") && own.len() == "md-ownership-".len() + 20);
        assert_ne!(own, ownership_id("md-company-12", "md-person-"));
        assert_ne!(
            directorship_id("md-company-1", "md-person-2"),
            ownership_id("md-company-1", "md-person-2")
        );
    }

    #[test]
    fn properties_skip_blanks_and_repeats() {
        let mut props = Properties::default();
        props
            .set("name", Some(" Agro "))
            .set("legalForm", Some("  "))
            .set("status", None)
            .set("sector", Some("a"))
            .set("sector", Some("a"))
            .set("sector", Some("b"));
        assert_eq!(
            serde_json::to_value(&props).ok(),
            Some(serde_json::json!({"name": ["Agro"], "sector": ["a", "b"]}))
        );
    }
}
