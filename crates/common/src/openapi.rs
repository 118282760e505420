//! OpenAPI pieces every service's document shares.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};

/// Adds the `bearer` security scheme (JWT access tokens from identity).
pub struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// Documents the answers every operation can give because of the shared extractors and
/// stack, so each route's own annotation lists only what its handler decides:
///
/// - a bearer-secured operation: 401 (token missing, invalid, expired or revoked);
/// - a request body: 400 (unreadable), 413 (over 1 MiB), 415 (not its content type),
///   422 (invalid fields);
/// - query parameters: 422 (an unknown or invalid parameter);
/// - path parameters: 404 (a value that names no resource);
/// - every operation but those in `served_from_memory`: 503 (PostgreSQL, Redis or the
///   token keys unavailable).
///
/// Every problem response is given its real content type, `application/problem+json`.
pub struct StandardResponses {
    /// Paths whose operations need no dependency (no 503).
    pub served_from_memory: &'static [&'static str],
}

impl StandardResponses {
    /// Every operation can answer 503.
    pub const ALL: Self = Self {
        served_from_memory: &[],
    };
}

impl utoipa::Modify for StandardResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::path::ParameterIn;
        use utoipa::openapi::{RefOr, security::SecurityRequirement};

        for (path, item) in openapi.paths.paths.iter_mut() {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
                &mut item.head,
                &mut item.options,
                &mut item.trace,
            ];
            for operation in operations.into_iter().flatten() {
                let params_in = |place: ParameterIn| {
                    operation
                        .parameters
                        .iter()
                        .flatten()
                        .any(|p| matches!(p, RefOr::T(p) if p.parameter_in == place))
                };
                let mut add = Vec::new();
                let secured = operation
                    .security
                    .iter()
                    .flatten()
                    .any(|r| *r != SecurityRequirement::default());
                if secured {
                    add.push((
                        "401",
                        "The access token is missing, invalid, expired or revoked",
                    ));
                }
                if operation.request_body.is_some() {
                    add.push(("400", "The body cannot be read (malformed JSON)"));
                    add.push(("413", "The body is over 1 MiB"));
                    add.push(("415", "The body is not of a documented content type"));
                    add.push(("422", "Invalid fields, each named in `errors`"));
                }
                if params_in(ParameterIn::Query) {
                    add.push((
                        "422",
                        "An unknown or invalid query parameter, named in `errors`",
                    ));
                }
                if params_in(ParameterIn::Path) {
                    add.push(("404", "No such resource"));
                }
                if !self.served_from_memory.contains(&path.as_str()) {
                    add.push((
                        "503",
                        "A dependency (PostgreSQL, Redis, the token keys) is unavailable; the body names it",
                    ));
                }
                let responses = &mut operation.responses.responses;
                for (status, description) in add {
                    responses
                        .entry(status.to_string())
                        .or_insert_with(|| RefOr::T(problem_response(description)));
                }
                for response in responses.values_mut() {
                    if let RefOr::T(response) = response {
                        problem_content_type(response);
                    }
                }
            }
        }
    }
}

/// A response with a problem+json body.
pub fn problem_response(description: &str) -> utoipa::openapi::Response {
    let mut response = utoipa::openapi::Response::new(description);
    response.content.insert(
        crate::error::PROBLEM_JSON.to_string(),
        utoipa::openapi::RefOr::T(utoipa::openapi::Content::new(Some(
            utoipa::openapi::Ref::from_schema_name("Problem"),
        ))),
    );
    response
}

/// A `Problem` body documented as `application/json` is sent as `application/problem+json`.
fn problem_content_type(response: &mut utoipa::openapi::Response) {
    use utoipa::openapi::RefOr;
    let is_problem = |content: &RefOr<utoipa::openapi::Content>| matches!(content, RefOr::T(c) if matches!(&c.schema, Some(RefOr::Ref(r)) if r.ref_location == "#/components/schemas/Problem"));
    if response
        .content
        .get("application/json")
        .is_some_and(is_problem)
        && let Some(content) = response.content.shift_remove("application/json")
    {
        response
            .content
            .insert(crate::error::PROBLEM_JSON.to_string(), content);
    }
}
