//! The Transform's write: a company's roles and their people, in its own transaction.

#[allow(unused_imports)]
use super::*;

/// A role row as stored, for the diff.
pub(super) struct StoredRole {
    role: Role,
    current: bool,
}

pub(super) async fn stored_roles(
    tx: &mut PgConnection,
    idno: &str,
) -> sqlx::Result<Vec<StoredRole>> {
    let rows = sqlx::query(
        "SELECT role, holder_kind, holder_key, holder_idno, holder_name, share, function, current \
         FROM company_roles WHERE idno = $1",
    )
    .bind(idno)
    .fetch_all(&mut *tx)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let role: String = r.try_get("role")?;
        let kind: String = r.try_get("holder_kind")?;
        // The table's CHECKs admit only these names.
        let (Some(role), Some(holder_kind)) = (RoleKind::parse(&role), HolderKind::parse(&kind))
        else {
            continue;
        };
        out.push(StoredRole {
            role: Role {
                key: RoleKey {
                    role,
                    holder_kind,
                    holder_key: r.try_get("holder_key")?,
                },
                person_key: None,
                holder_idno: r.try_get("holder_idno")?,
                holder_name: r.try_get("holder_name")?,
                share: r.try_get("share")?,
                function: r.try_get("function")?,
            },
            current: r.try_get("current")?,
        });
    }
    Ok(out)
}

/// A row to insert: the role, whether it is current, and whether its `since` is
/// the time of this write (else null: present when the company was first observed).
pub(super) struct Insert<'a> {
    role: &'a Role,
    current: bool,
    dated: bool,
}

/// Bring the roles of company `record.idno` in line with `record`, in the caller's
/// transaction (the one that writes the company, whose row it has locked).
///
/// - `created`: the company is new in this write, so its roles were there when it was
///   first observed (`since` null).
/// - Otherwise, new roles start now, roles no longer named end now (`current` false,
///   `until` set), and a role that comes back is current again from now. A company
///   with no role recorded yet (written before roles were kept) first gets the roles of
///   `before`, its record as it was, as present from the start.
///
/// Returns how many rows it wrote.
pub async fn sync(
    tx: &mut PgConnection,
    record: &CompanyRecord,
    before: Option<&CompanyRecord>,
    created: bool,
) -> sqlx::Result<u64> {
    let idno = record.idno.as_str();
    let wanted = roles_of(record);
    let stored = if created {
        Vec::new()
    } else {
        stored_roles(tx, idno).await?
    };
    let mut inserts: Vec<Insert<'_>> = Vec::new();
    let mut updates: Vec<&Role> = Vec::new();
    let mut ends: Vec<&RoleKey> = Vec::new();
    let baseline;
    if created {
        inserts.extend(wanted.iter().map(|role| Insert {
            role,
            current: true,
            dated: false,
        }));
    } else if stored.is_empty() {
        // Never recorded: what the company had before this write was there from the start.
        baseline = before.map(roles_of).unwrap_or_default();
        let old: HashSet<&RoleKey> = baseline.iter().map(|r| &r.key).collect();
        let new: HashSet<&RoleKey> = wanted.iter().map(|r| &r.key).collect();
        inserts.extend(wanted.iter().map(|role| Insert {
            role,
            current: true,
            dated: !old.contains(&role.key),
        }));
        inserts.extend(
            baseline
                .iter()
                .filter(|r| !new.contains(&r.key))
                .map(|role| Insert {
                    role,
                    current: false,
                    dated: false,
                }),
        );
    } else {
        let by_key: HashMap<&RoleKey, &StoredRole> =
            stored.iter().map(|s| (&s.role.key, s)).collect();
        for role in &wanted {
            match by_key.get(&role.key) {
                None => inserts.push(Insert {
                    role,
                    current: true,
                    dated: true,
                }),
                Some(s) if !s.current || !s.role.same_details(role) => updates.push(role),
                Some(_) => {}
            }
        }
        let new: HashSet<&RoleKey> = wanted.iter().map(|r| &r.key).collect();
        ends.extend(
            stored
                .iter()
                .filter(|s| s.current && !new.contains(&s.role.key))
                .map(|s| &s.role.key),
        );
    }
    let mut written = 0;
    // People first (roles refer to them), in id order so that concurrent writers
    // take their locks in one order.
    let mut people: BTreeMap<&str, (&str, &str)> = BTreeMap::new();
    for role in inserts
        .iter()
        .map(|i| i.role)
        .chain(updates.iter().copied())
    {
        if let (Some(id), Some(key)) = (role.person_id(), role.person_key.as_deref()) {
            people.insert(id, (role.holder_name.as_str(), key));
        }
    }
    if !people.is_empty() {
        let ids: Vec<&str> = people.keys().copied().collect();
        let names: Vec<&str> = people.values().map(|v| v.0).collect();
        let keys: Vec<&str> = people.values().map(|v| v.1).collect();
        // New people are inserted; a known one takes the spelling seen now. Rows are
        // inserted and locked in id order, so that writers of companies sharing people
        // never wait on each other in a cycle; only rows whose spelling differs are
        // locked, and with NO KEY UPDATE, which does not block the foreign-key checks
        // of roles that other writers insert.
        let inserted = sqlx::query(
            "INSERT INTO people (id, name, name_key, search) \
             SELECT id, name, name_key, to_tsvector('simple', name_key) \
             FROM unnest($1::text[], $2::text[], $3::text[]) AS v(id, name, name_key) ORDER BY id \
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(&ids)
        .bind(&names)
        .bind(&keys)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        written += inserted;
        if inserted < ids.len() as u64 {
            written += sqlx::query(
                "UPDATE people p SET name = v.name FROM ( \
                   SELECT o.id, n.name FROM people o \
                   JOIN unnest($1::text[], $2::text[]) AS n(id, name) ON n.id = o.id \
                   WHERE o.name <> n.name ORDER BY o.id FOR NO KEY UPDATE OF o) v \
                 WHERE p.id = v.id",
            )
            .bind(&ids)
            .bind(&names)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        }
    }
    if !inserts.is_empty() {
        let mut q = QueryBuilder::<Postgres>::new(
            "INSERT INTO company_roles (idno, role, holder_kind, holder_key, person_id, holder_idno, \
               holder_name, share, function, current, since, until) \
             SELECT ",
        );
        q.push_bind(idno).push(
            ", v.role, v.kind, v.key, v.person_id, v.holder_idno, v.holder_name, v.share, v.function, \
               v.current, CASE WHEN v.dated THEN now() END, CASE WHEN v.current THEN NULL ELSE now() END \
             FROM unnest(",
        );
        let col = |f: fn(&Insert<'_>) -> Option<String>| -> Vec<Option<String>> {
            inserts.iter().map(f).collect()
        };
        q.push_bind(col(|i| Some(i.role.key.role.as_str().to_owned())))
            .push("::text[], ")
            .push_bind(col(|i| Some(i.role.key.holder_kind.as_str().to_owned())))
            .push("::text[], ")
            .push_bind(col(|i| Some(i.role.key.holder_key.clone())))
            .push("::text[], ")
            .push_bind(col(|i| i.role.person_id().map(str::to_owned)))
            .push("::text[], ")
            .push_bind(col(|i| i.role.holder_idno.clone()))
            .push("::text[], ")
            .push_bind(col(|i| Some(i.role.holder_name.clone())))
            .push("::text[], ")
            .push_bind(inserts.iter().map(|i| i.role.share).collect::<Vec<_>>())
            .push("::float8[], ")
            .push_bind(col(|i| i.role.function.clone()))
            .push("::text[], ")
            .push_bind(inserts.iter().map(|i| i.current).collect::<Vec<_>>())
            .push("::bool[], ")
            .push_bind(inserts.iter().map(|i| i.dated).collect::<Vec<_>>())
            .push(
                "::bool[]) AS v(role, kind, key, person_id, holder_idno, holder_name, share, function, \
                 current, dated)",
            );
        written += q.build().execute(&mut *tx).await?.rows_affected();
    }
    if !updates.is_empty() {
        let mut q = QueryBuilder::<Postgres>::new(
            "UPDATE company_roles r SET holder_idno = v.holder_idno, holder_name = v.holder_name, \
               share = v.share, function = v.function, \
               since = CASE WHEN r.current THEN r.since ELSE now() END, until = NULL, current = true \
             FROM unnest(",
        );
        q.push_bind(
            updates
                .iter()
                .map(|r| r.key.role.as_str())
                .collect::<Vec<_>>(),
        )
        .push("::text[], ")
        .push_bind(
            updates
                .iter()
                .map(|r| r.key.holder_kind.as_str())
                .collect::<Vec<_>>(),
        )
        .push("::text[], ")
        .push_bind(
            updates
                .iter()
                .map(|r| r.key.holder_key.as_str())
                .collect::<Vec<_>>(),
        )
        .push("::text[], ")
        .push_bind(
            updates
                .iter()
                .map(|r| r.holder_idno.as_deref())
                .collect::<Vec<_>>(),
        )
        .push("::text[], ")
        .push_bind(
            updates
                .iter()
                .map(|r| r.holder_name.as_str())
                .collect::<Vec<_>>(),
        )
        .push("::text[], ")
        .push_bind(updates.iter().map(|r| r.share).collect::<Vec<_>>())
        .push("::float8[], ")
        .push_bind(
            updates
                .iter()
                .map(|r| r.function.as_deref())
                .collect::<Vec<_>>(),
        )
        .push(
            "::text[]) AS v(role, kind, key, holder_idno, holder_name, share, function) \
             WHERE r.idno = ",
        )
        .push_bind(idno)
        .push(" AND r.role = v.role AND r.holder_kind = v.kind AND r.holder_key = v.key");
        written += q.build().execute(&mut *tx).await?.rows_affected();
    }
    if !ends.is_empty() {
        written += sqlx::query(
            "UPDATE company_roles r SET current = false, until = now() \
             FROM unnest($2::text[], $3::text[], $4::text[]) AS v(role, kind, key) \
             WHERE r.idno = $1 AND r.current AND r.role = v.role AND r.holder_kind = v.kind \
               AND r.holder_key = v.key",
        )
        .bind(idno)
        .bind(ends.iter().map(|k| k.role.as_str()).collect::<Vec<_>>())
        .bind(
            ends.iter()
                .map(|k| k.holder_kind.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(
            ends.iter()
                .map(|k| k.holder_key.as_str())
                .collect::<Vec<_>>(),
        )
        .execute(&mut *tx)
        .await?
        .rows_affected();
    }
    Ok(written)
}

/// How many roles `record` names, to compare with the current rows (the cheap check
/// of an unchanged company).
pub fn role_count(record: &CompanyRecord) -> i64 {
    i64::try_from(roles_of(record).len()).unwrap_or(i64::MAX)
}
