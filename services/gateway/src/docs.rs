//! `/docs`: one Swagger UI over every service's API, its assets served from
//! the binary (no internet needed), every URL relative so it works behind an
//! ingress path prefix as well as at the root.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use gleaner_common::ApiError;
use utoipa_swagger_ui::{Config, Url};

use crate::proxy::Upstream;

/// The upstreams whose documents the UI lists, after the gateway's own.
pub const DOCUMENTED: [&str; 3] = ["identity", "scraper", "app"];

/// What the docs handlers need.
#[derive(Clone)]
pub struct Docs {
    config: Arc<Config<'static>>,
    upstreams: Arc<Vec<Upstream>>,
    http: reqwest::Client,
}

impl Docs {
    /// The UI listing the gateway's document and each of `upstreams`'.
    pub fn new(upstreams: Vec<Upstream>, http: reqwest::Client) -> Self {
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
            upstreams: Arc::new(upstreams),
            http,
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

/// `GET /openapi/{service}.json`: a service's OpenAPI document, fetched from it.
#[utoipa::path(
    get,
    path = "/openapi/{service}",
    params(("service" = String, Path, description = "`identity.json`, `scraper.json` or `app.json`")),
    responses(
        (status = 200, description = "The service's OpenAPI 3.1 document", content_type = "application/json"),
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
    let document: serde_json::Value = response.json().await.map_err(|e| unavailable(e.into()))?;
    Ok(axum::Json(document).into_response())
}
