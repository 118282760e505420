//! `/docs`: one Swagger UI over every service's API, its assets served from
//! the binary (no internet needed), every URL relative so it works behind an
//! ingress path prefix as well as at the root.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use gleaner_common::ApiError;
use utoipa_swagger_ui::{Config, Url};

use crate::proxy::Upstream;
use crate::route_table::{Access, RouteTable};

/// The upstreams whose documents the UI lists, after the gateway's own.
pub const DOCUMENTED: [&str; 3] = ["identity", "scraper", "app"];

/// What the docs handlers need.
#[derive(Clone)]
pub struct Docs {
    config: Arc<Config<'static>>,
    upstreams: Arc<[Upstream]>,
    http: reqwest::Client,
    table: Arc<RouteTable>,
}

impl Docs {
    /// The UI listing the gateway's document and each of `upstreams`', as `table` routes them.
    pub fn new(upstreams: Vec<Upstream>, http: reqwest::Client, table: Arc<RouteTable>) -> Self {
        let mut urls = vec![Url::with_primary("gateway", "../openapi.json", false)];
        for name in DOCUMENTED {
            if upstreams.iter().any(|u| &*u.name == name) {
                let url: &'static str = match name {
                    "identity" => "../openapi/identity.json",
                    "scraper" => "../openapi/scraper.json",
                    _ => "../openapi/app.json",
                };
                urls.push(Url::with_primary(name, url, name == "identity"));
            }
        }
        Self {
            config: Arc::new(Config::new(urls)),
            upstreams: upstreams.into(),
            http,
            table,
        }
    }
}

/// `GET /docs`: on to `docs/`, relative, so a path prefix in front is kept.
pub async fn docs_root() -> Redirect {
    Redirect::permanent("docs/")
}

/// `GET /docs/`.
pub async fn docs_index(State(docs): State<Docs>) -> Response {
    serve_file(&docs, "")
}

/// `GET /docs/{*file}`: the UI's assets.
pub async fn docs_file(State(docs): State<Docs>, Path(file): Path<String>) -> Response {
    serve_file(&docs, &file)
}

fn serve_file(docs: &Docs, file: &str) -> Response {
    match utoipa_swagger_ui::serve(file, docs.config.clone()) {
        Ok(Some(file)) => {
            let mut response = (StatusCode::OK, file.bytes.into_owned()).into_response();
            let headers = response.headers_mut();
            if let Ok(v) = HeaderValue::from_str(&file.content_type) {
                headers.insert(header::CONTENT_TYPE, v);
            }
            if file.gzpipped {
                headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            }
            response
        }
        Ok(None) => ApiError::not_found("no such file").into_response(),
        Err(error) => ApiError::internal(anyhow::anyhow!("swagger ui: {error}")).into_response(),
    }
}

/// `GET /openapi/{service}.json`: a service's OpenAPI document, fetched from it, as seen
/// through the gateway (see [`edge_view`]).
#[utoipa::path(
    get,
    path = "/openapi/{service}",
    params(("service" = String, Path, description = "`identity.json`, `scraper.json` or `app.json`")),
    responses(
        (status = 200, description = "The service's OpenAPI 3.1 document, as the gateway serves its API", content_type = "application/json"),
        (status = 404, description = "No such service", body = gleaner_common::error::Problem, content_type = "application/problem+json"),
        (status = 503, description = "The service is unavailable", body = gleaner_common::error::Problem, content_type = "application/problem+json"),
    ),
    tag = "docs"
)]
pub async fn upstream_openapi(
    State(docs): State<Docs>,
    Path(file): Path<String>,
) -> Result<Response, ApiError> {
    let name = file
        .strip_suffix(".json")
        .ok_or_else(|| ApiError::not_found("no such document"))?;
    let upstream = docs
        .upstreams
        .iter()
        .find(|u| &*u.name == name)
        .ok_or_else(|| ApiError::not_found("no such document"))?;
    let unavailable = |e: anyhow::Error| ApiError::unavailable(&format!("the {name} service"), e);
    let response = docs
        .http
        .get(format!("{}/openapi.json", upstream.base))
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .map_err(|e| unavailable(e.into()))?;
    if !response.status().is_success() {
        return Err(unavailable(anyhow::anyhow!(
            "openapi.json: HTTP {}",
            response.status()
        )));
    }
    let mut document: serde_json::Value =
        response.json().await.map_err(|e| unavailable(e.into()))?;
    edge_view(&mut document, &docs.table);
    Ok(axum::Json(document).into_response())
}

const METHODS: [(&str, Method); 8] = [
    ("get", Method::GET),
    ("put", Method::PUT),
    ("post", Method::POST),
    ("delete", Method::DELETE),
    ("patch", Method::PATCH),
    ("head", Method::HEAD),
    ("options", Method::OPTIONS),
    ("trace", Method::TRACE),
];

/// A service's document as the gateway serves its API: operations the route table does
/// not route (`/internal`) are left out, and each operation gains what the edge can
/// answer before or instead of the service: 401 on a route that needs a token at the
/// edge, 413 for a body over the limit, 429 over the rate limit, 502 and 504 when the
/// service fails or does not answer in time, 503 when it or token verification is
/// unavailable.
pub fn edge_view(document: &mut serde_json::Value, table: &RouteTable) {
    let Some(paths) = document
        .get_mut("paths")
        .and_then(serde_json::Value::as_object_mut)
    else {
        return;
    };
    paths.retain(|path, item| {
        let Some(item) = item.as_object_mut() else {
            return false;
        };
        for (key, method) in METHODS {
            let Some(operation) = item.get_mut(key).and_then(serde_json::Value::as_object_mut)
            else {
                continue;
            };
            // A template's `{param}` is one segment, as a table pattern's `*` is.
            let Some(route) = table.resolve(&method, path) else {
                item.remove(key);
                continue;
            };
            let has_body = operation.contains_key("requestBody");
            let Some(responses) = operation
                .entry("responses")
                .or_insert_with(|| serde_json::json!({}))
                .as_object_mut()
            else {
                continue;
            };
            let mut add = vec![
                ("429", "Over the rate limit (Retry-After)"),
                ("502", "The service sent no valid response"),
                ("503", "The service, or token verification, is unavailable"),
                ("504", "The service did not answer in time"),
            ];
            if route.access == Access::Bearer {
                add.push((
                    "401",
                    "The access token is missing, invalid, expired or revoked",
                ));
            }
            if has_body {
                add.push(("413", "The body is over 1 MiB"));
            }
            for (status, description) in add {
                responses.entry(status).or_insert_with(|| {
                    serde_json::json!({
                        "description": description,
                        "content": {
                            (gleaner_common::error::PROBLEM_JSON): {
                                "schema": {"$ref": "#/components/schemas/Problem"}
                            }
                        }
                    })
                });
            }
        }
        METHODS.iter().any(|(key, _)| item.contains_key(*key))
    });
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::route_table::DEFAULT_ROUTES;

    #[test]
    fn the_edge_view_drops_what_is_not_routed_and_adds_what_the_edge_answers() {
        let table = RouteTable::parse(DEFAULT_ROUTES, &["identity", "scraper", "app"]).unwrap();
        let mut document = json!({
            "paths": {
                "/internal/v1/runs": {"post": {"responses": {"202": {"description": "started"}}}},
                "/api/v1/companies/{idno}": {"get": {"responses": {"200": {"description": "ok"}}}},
                "/api/v1/transform": {"post": {
                    "requestBody": {"content": {}},
                    "responses": {"202": {"description": "started"}},
                }},
            }
        });
        edge_view(&mut document, &table);
        let paths = document["paths"].as_object().unwrap();
        assert!(!paths.contains_key("/internal/v1/runs"));
        let public = &paths["/api/v1/companies/{idno}"]["get"]["responses"];
        for status in ["200", "429", "502", "503", "504"] {
            assert!(public.get(status).is_some(), "{status}");
        }
        assert!(public.get("401").is_none());
        let bearer = &paths["/api/v1/transform"]["post"]["responses"];
        assert_eq!(
            bearer["401"]["content"]["application/problem+json"]["schema"]["$ref"],
            "#/components/schemas/Problem"
        );
        assert!(bearer.get("413").is_some());
    }
}
