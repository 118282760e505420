//! The preview card.

#[allow(unused_imports)]
use super::*;

/// Preview parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PreviewParams {
    /// An IDNO or a person id.
    #[param(pattern = "^[^\\u0000]*$")]
    pub id: String,
}

/// Text for HTML: `&`, `<`, `>`, `"` and `'` escaped.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

pub(super) fn card(title: &str, lines: &[(String, String)]) -> String {
    let mut html = String::from("<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>");
    html.push_str(&escape_html(title));
    html.push_str(
        "</title><style>body{font:14px sans-serif;margin:8px}h1{font-size:16px;margin:0 0 6px}\
         dl{margin:0;display:grid;grid-template-columns:auto 1fr;gap:2px 10px}dt{color:#555}dd{margin:0}</style>\
         </head><body><h1>",
    );
    html.push_str(&escape_html(title));
    html.push_str("</h1><dl>");
    for (label, value) in lines {
        html.push_str("<dt>");
        html.push_str(&escape_html(label));
        html.push_str("</dt><dd>");
        html.push_str(&escape_html(value));
        html.push_str("</dd>");
    }
    html.push_str("</dl></body></html>");
    html
}

/// A small HTML card of a company or a person, to show in a frame.
#[utoipa::path(get, path = "/api/v1/reconcile/preview", tag = "reconcile",
    params(PreviewParams),
    responses((status = 200, description = "An HTML card", content_type = "text/html", body = String),
        (status = 404, description = "No such company or person", body = gleaner_common::error::Problem)))]
pub async fn preview(
    State(state): State<AppState>,
    Query(p): Query<PreviewParams>,
) -> ApiResult<Response> {
    let id = p.id.trim();
    let html = if is_idno(id) {
        let found = store::companies(&state.db, &[id.to_string()]).await?;
        let c = found
            .first()
            .ok_or_else(|| ApiError::not_found("no such company"))?;
        let mut lines = vec![("IDNO".to_string(), c.idno.clone())];
        let optional = [
            ("Legal form", c.legal_form.clone()),
            ("Status", Some(c.status.clone())),
            (
                "Registered",
                c.registered_at.map(|d| d.format("%Y-%m-%d").to_string()),
            ),
            ("Address", c.address.clone().or_else(|| c.city.clone())),
        ];
        lines.extend(
            optional
                .into_iter()
                .filter_map(|(k, v)| v.map(|v| (k.to_string(), v))),
        );
        let names = |list: &Value| {
            list.as_array()
                .map(|items| {
                    items
                        .iter()
                        .filter_map(|i| i.get("name")?.as_str())
                        .take(5)
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_default()
        };
        for (label, list) in [
            ("Founders", &c.founders),
            ("Administrators", &c.administrators),
        ] {
            let text = names(list);
            if !text.is_empty() {
                lines.push((label.to_string(), text));
            }
        }
        card(&c.name, &lines)
    } else if names::is_person_id(id) {
        let found = store::people(&state.db, &[id.to_string()]).await?;
        let person = found
            .first()
            .ok_or_else(|| ApiError::not_found("no such person"))?;
        let mut lines = vec![("Companies".to_string(), person.companies.to_string())];
        lines.extend(
            person
                .roles
                .iter()
                .map(|(idno, name, role)| (role.clone(), format!("{name} ({idno})"))),
        );
        card(&person.name, &lines)
    } else {
        return Err(ApiError::not_found("no such company or person"));
    };
    let mut response = (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            // Inline style only, no script, and framable by the tools that embed it.
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors *",
            ),
        ],
        html,
    )
        .into_response();
    response.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    Ok(response)
}
