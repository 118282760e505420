//! The scraper service, over HTTP: runs are started on its internal endpoint and read
//! from its run API; company names come from its public company API.

use std::time::Duration;

use anyhow::Context as _;
use gleaner_common::ApiError;
use gleaner_common::request_context::{self, X_REQUEST_ID};
use gleaner_scrapejob::ScrapeJobSpec;
use reqwest::{RequestBuilder, StatusCode};
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

use crate::runs::Run;

/// The body of a request to start a run.
#[derive(Serialize)]
struct StartRun<'a> {
    job: &'a str,
    spec: &'a ScrapeJobSpec,
    run_id: Uuid,
}

/// Why a call to the scraper did not give what was asked.
#[derive(Debug, thiserror::Error)]
pub enum ScraperError {
    /// Not reachable, timed out, or answered 5xx.
    #[error("the scraper is unavailable: {0:#}")]
    Unavailable(anyhow::Error),
    /// Answered with a client error (its problem+json body kept).
    #[error("the scraper answered {status}")]
    Refused {
        /// Its status.
        status: StatusCode,
        /// Its body.
        body: Value,
    },
}

impl From<ScraperError> for ApiError {
    fn from(e: ScraperError) -> Self {
        match e {
            ScraperError::Unavailable(cause) => ApiError::unavailable("the scraper", cause),
            ScraperError::Refused { status, body } => {
                let detail = body
                    .get("detail")
                    .and_then(Value::as_str)
                    .unwrap_or("the scraper refused the request")
                    .to_owned();
                let errors: Vec<gleaner_common::FieldError> = body
                    .get("errors")
                    .and_then(Value::as_array)
                    .map(|errors| {
                        errors
                            .iter()
                            .map(|e| {
                                let text = |k: &str| e.get(k).and_then(Value::as_str).unwrap_or("");
                                gleaner_common::FieldError::new(text("field"), text("message"))
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                if !errors.is_empty() {
                    return ApiError::validation(errors);
                }
                match status {
                    // The app's own credentials were refused: not the caller's fault.
                    StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => ApiError::unavailable(
                        "the scraper",
                        anyhow::anyhow!("the scraper refused the app's credentials: {detail}"),
                    ),
                    _ => ApiError::new(status, detail),
                }
            }
        }
    }
}

/// HTTP client of the scraper service.
#[derive(Clone)]
pub struct ScraperClient {
    http: reqwest::Client,
    base: String,
}

impl ScraperClient {
    /// A client of the scraper at `base` (no trailing slash).
    pub fn new(base: &str) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(2))
            .timeout(Duration::from_secs(10))
            .pool_idle_timeout(Duration::from_secs(60))
            .build()
            .context("building the scraper client")?;
        Ok(Self {
            http,
            base: base.trim_end_matches('/').to_owned(),
        })
    }

    /// Start run `run_id` of `job` with `spec`, acting with `token`.
    pub async fn start_run(
        &self,
        token: &str,
        job: &str,
        spec: &ScrapeJobSpec,
        run_id: Uuid,
    ) -> Result<(), ScraperError> {
        let body = StartRun { job, spec, run_id };
        let req = self
            .http
            .post(format!("{}/internal/v1/runs", self.base))
            .bearer_auth(token)
            .json(&body);
        match send(req).await? {
            (status, _) if status.is_success() => Ok(()),
            // The same id again (a retry after a lost answer): the run exists, as asked.
            (StatusCode::CONFLICT, _) => Ok(()),
            (status, body) => Err(ScraperError::Refused { status, body }),
        }
    }

    /// One run; `None` when the scraper does not know it.
    pub async fn run(&self, token: &str, id: Uuid) -> Result<Option<Run>, ScraperError> {
        let req = self
            .http
            .get(format!("{}/api/v1/scrape-runs/{id}", self.base))
            .bearer_auth(token);
        match send(req).await? {
            (StatusCode::OK, body) => serde_json::from_value(body)
                .map(Some)
                .map_err(|e| ScraperError::Unavailable(anyhow::anyhow!("malformed run: {e}"))),
            (StatusCode::NOT_FOUND, _) => Ok(None),
            (status, body) => Err(ScraperError::Refused { status, body }),
        }
    }

    /// The scraper's page of runs for these query parameters, as it answered.
    pub async fn runs(&self, token: &str, query: &[(&str, String)]) -> Result<Value, ScraperError> {
        let req = self
            .http
            .get(format!(
                "{}/api/v1/scrape-runs?{}",
                self.base,
                serde_urlencoded::to_string(query).unwrap_or_default()
            ))
            .bearer_auth(token);
        match send(req).await? {
            (StatusCode::OK, body) => Ok(body),
            (status, body) => Err(ScraperError::Refused { status, body }),
        }
    }

    /// A company's name, when the scraper has the company.
    pub async fn company_name(&self, idno: &str) -> Result<Option<String>, ScraperError> {
        let req = self
            .http
            .get(format!("{}/api/v1/companies/{idno}", self.base));
        match send(req).await? {
            (StatusCode::OK, body) => {
                Ok(body.get("name").and_then(Value::as_str).map(str::to_owned))
            }
            (StatusCode::NOT_FOUND, _) => Ok(None),
            (status, body) => Err(ScraperError::Refused { status, body }),
        }
    }

    /// `GET /ready` of the scraper answers 200.
    pub async fn ready(&self) -> Result<(), String> {
        let resp = self
            .http
            .get(format!("{}/ready", self.base))
            .timeout(Duration::from_secs(2))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if resp.status().is_success() {
            Ok(())
        } else {
            Err(format!("scraper /ready answered {}", resp.status()))
        }
    }
}

/// Send with the request id and trace context; 5xx and transport errors are `Unavailable`.
async fn send(req: RequestBuilder) -> Result<(StatusCode, Value), ScraperError> {
    let mut headers = reqwest::header::HeaderMap::new();
    gleaner_common::telemetry::inject_current_context(&mut headers);
    if let Some(ctx) = request_context::current()
        && let Ok(v) = ctx.request_id.parse()
    {
        headers.insert(X_REQUEST_ID.clone(), v);
    }
    let resp = req
        .headers(headers)
        .send()
        .await
        .map_err(|e| ScraperError::Unavailable(e.into()))?;
    let status = resp.status();
    if status.is_server_error() {
        return Err(ScraperError::Unavailable(anyhow::anyhow!(
            "the scraper answered {status}"
        )));
    }
    let bytes = resp
        .bytes()
        .await
        .map_err(|e| ScraperError::Unavailable(e.into()))?;
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap_or(Value::Null)
    };
    Ok((status, body))
}
