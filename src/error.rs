//! The one error type of request handling and the one JSON error shape on the wire:
//! `{"error": {"code": "product_not_found", "message": "…", "request_id": "…"}}`.
//!
//! Rule: a handler never builds an error body by hand. It returns `AppError` (or a `?` on
//! something that converts into it) and the operation's error enum, made by
//! [`error_responses!`], turns it into the declared status. Internal errors are logged with
//! their cause and answered with a generic 500 body: database messages never reach a client.
//!
//! Which layer does what:
//! - data code (SQL functions taking a `TenantTx`) returns `AppError`, turning the constraint
//!   violations a client can cause into their meaning at the query with [`OnConstraint`]
//!   (`.on_constraint("roles_pkey", |_| AppError::conflict(…))`); anything else stays
//!   `AppError::Database`;
//! - the API edge maps `AppError` to the status codes each operation declares
//!   ([`error_responses!`]), and is the only place that knows HTTP;
//! - the CLI (`commands::cli_error`) prints codes and messages, and for database and internal
//!   errors the real cause.

use poem::http::StatusCode;
use poem_openapi::Object;

tokio::task_local! {
    /// The id of the request being handled, set by the request-id middleware (`server::middleware`).
    pub static REQUEST_ID: String;
}

/// The id of the current request, or an empty string outside a request.
pub fn current_request_id() -> String {
    REQUEST_ID.try_with(Clone::clone).unwrap_or_default()
}

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Malformed request that is not about one field (conflicting headers, bad cursor, …).
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    /// A field failed validation.
    #[error("{field}: {message}")]
    Validation { field: String, message: String },
    #[error("authentication required")]
    Unauthorized { code: &'static str, message: String },
    #[error("{message}")]
    Forbidden { code: &'static str, message: String },
    #[error("{message}")]
    NotFound { code: &'static str, message: String },
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    /// Well-formed input the server cannot accept, with its own code (e.g. an upload that is
    /// not an image): 422 like `Validation`, but not about one request field.
    #[error("{message}")]
    Unprocessable { code: &'static str, message: String },
    #[error("too many requests")]
    RateLimited { retry_after_secs: u64 },
    #[error("request body too large")]
    PayloadTooLarge { max_bytes: usize },
    /// A file over the shop's plan limit.
    #[error("file too large")]
    FileTooLarge { max_bytes: u64 },
    /// A creation that would take the shop over its plan's limit for `resource` (`quotas`):
    /// 403 `plan_limit_reached`, with the limit and the usage before this creation.
    #[error("plan limit reached for {resource}")]
    PlanLimitReached { resource: &'static str, limit: i64, usage: i64 },
    /// A service the request needs (the search engine, say) does not answer.
    #[error("{message}")]
    ServiceUnavailable { code: &'static str, message: String },
    /// A bounded resource (password hashing) is saturated: 503 `server_busy` with `Retry-After`.
    #[error("server busy")]
    Busy { retry_after_secs: u64 },
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("internal error: {0}")]
    Internal(#[from] anyhow::Error),
}

pub type AppResult<T> = Result<T, AppError>;

impl AppError {
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::BadRequest { code, message: message.into() }
    }

    pub fn validation(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Validation { field: field.into(), message: message.into() }
    }

    pub fn unauthorized(code: &'static str, message: impl Into<String>) -> Self {
        Self::Unauthorized { code, message: message.into() }
    }

    pub fn forbidden(code: &'static str, message: impl Into<String>) -> Self {
        Self::Forbidden { code, message: message.into() }
    }

    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self::NotFound { code, message: message.into() }
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::Conflict { code, message: message.into() }
    }

    pub fn unprocessable(code: &'static str, message: impl Into<String>) -> Self {
        Self::Unprocessable { code, message: message.into() }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Self::Validation { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            Self::Forbidden { .. } | Self::PlanLimitReached { .. } => StatusCode::FORBIDDEN,
            Self::NotFound { .. } => StatusCode::NOT_FOUND,
            Self::Conflict { .. } => StatusCode::CONFLICT,
            Self::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::PayloadTooLarge { .. } | Self::FileTooLarge { .. } => {
                StatusCode::PAYLOAD_TOO_LARGE
            }
            Self::ServiceUnavailable { .. } | Self::Busy { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::Database(err) if is_timeout(err) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Database(_) | Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The body a client sees. Logs internal errors, which are the only ones with a hidden cause.
    pub fn body(&self) -> ErrorBody {
        let (code, message, field) = match self {
            Self::BadRequest { code, message }
            | Self::Unauthorized { code, message }
            | Self::Forbidden { code, message }
            | Self::NotFound { code, message }
            | Self::Conflict { code, message }
            | Self::Unprocessable { code, message }
            | Self::ServiceUnavailable { code, message } => (*code, message.clone(), None),
            Self::Validation { field, message } => {
                ("validation_failed", format!("{field}: {message}"), Some(field.clone()))
            }
            Self::RateLimited { retry_after_secs } => (
                "rate_limited",
                format!("too many requests; retry after {retry_after_secs} s"),
                None,
            ),
            Self::PayloadTooLarge { max_bytes } => (
                "payload_too_large",
                format!("request bodies are limited to {max_bytes} bytes"),
                None,
            ),
            Self::FileTooLarge { max_bytes } => (
                "file_too_large",
                format!("files are limited to {max_bytes} bytes on this shop's plan"),
                None,
            ),
            Self::PlanLimitReached { resource, limit, usage } => {
                let mut body = ErrorBody::new(
                    "plan_limit_reached",
                    format!(
                        "this shop's plan allows {limit} {}; it has {usage}",
                        resource.replace('_', " ")
                    ),
                    None,
                );
                body.error.resource = Some((*resource).to_owned());
                body.error.limit = Some(*limit);
                body.error.usage = Some(*usage);
                return body;
            }
            Self::Busy { retry_after_secs } => (
                "server_busy",
                format!("the server is busy; retry after {retry_after_secs} s"),
                None,
            ),
            Self::Database(err) if is_timeout(err) => {
                tracing::warn!(error = %err, "shop transaction hit its time limit");
                (
                    "database_timeout",
                    "the database did not answer in time; retry later".to_owned(),
                    None,
                )
            }
            Self::Database(err) => {
                tracing::error!(error = %err, "database error");
                ("internal_error", "internal server error".to_owned(), None)
            }
            Self::Internal(err) => {
                tracing::error!(error = ?err, "internal error");
                ("internal_error", "internal server error".to_owned(), None)
            }
        };
        ErrorBody::new(code, message, field)
    }

    /// Seconds a client should wait, for the `Retry-After` header of a 429.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            Self::RateLimited { retry_after_secs } | Self::Busy { retry_after_secs } => {
                Some(*retry_after_secs)
            }
            Self::Database(err) if is_timeout(err) => Some(1),
            _ => None,
        }
    }
}

/// A statement cancelled by `statement_timeout` (57014) or a lock not granted within
/// `lock_timeout` (55P03): the limits of shop transactions (`tenancy::db::TxLimits`).
fn is_timeout(err: &sqlx::Error) -> bool {
    err.as_database_error()
        .and_then(|db| db.code())
        .is_some_and(|code| code == "57014" || code == "55P03")
}

/// Maps a unique-violation on `constraint` to a 409 with `code`; any other error passes through.
/// The one place where database constraint names turn into API error codes.
/// Maps the violation of one named constraint to the error a client should see, at the query
/// (in the style of realworld-axum-sqlx): `query.await.on_constraint("roles_pkey", |_| …)?`.
/// Chainable; any other error passes through as `AppError::Database`.
pub trait OnConstraint<T> {
    fn on_constraint(
        self,
        constraint: &str,
        map: impl FnOnce(Box<dyn sqlx::error::DatabaseError>) -> AppError,
    ) -> Result<T, AppError>;
}

impl<T, E: Into<AppError>> OnConstraint<T> for Result<T, E> {
    fn on_constraint(
        self,
        constraint: &str,
        map: impl FnOnce(Box<dyn sqlx::error::DatabaseError>) -> AppError,
    ) -> Result<T, AppError> {
        self.map_err(|err| match err.into() {
            AppError::Database(sqlx::Error::Database(db))
                if db.constraint() == Some(constraint) =>
            {
                map(db)
            }
            other => other,
        })
    }
}

/// The error of an `Err` mapped by [`OnConstraint`], for helpers used as `.map_err(helper)`:
/// `mapped_error(Err(err).on_constraint("…", |_| …))`.
pub fn mapped_error(mapped: Result<std::convert::Infallible, AppError>) -> AppError {
    match mapped {
        Ok(never) => match never {},
        Err(err) => err,
    }
}

/// The error envelope of every non-2xx JSON response.
#[derive(Debug, Clone, Object)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, Object)]
pub struct ErrorDetail {
    /// Stable, machine-readable code, e.g. `slug_taken`, `shop_suspended`.
    pub code: String,
    /// Human-readable explanation; wording may change.
    pub message: String,
    /// For `validation_failed`: the request field at fault.
    #[oai(skip_serializing_if_is_none)]
    #[oai(nullable)]
    pub field: Option<String>,
    /// For `plan_limit_reached`: what the plan limits (`products`, `staff`,
    /// `webhook_endpoints`, `custom_domains`, `storage_bytes`).
    #[oai(skip_serializing_if_is_none)]
    #[oai(nullable)]
    pub resource: Option<String>,
    /// For `plan_limit_reached`: the plan's limit (bytes for `storage_bytes`).
    #[oai(skip_serializing_if_is_none)]
    #[oai(nullable)]
    pub limit: Option<i64>,
    /// For `plan_limit_reached`: the shop's usage before this request (bytes for
    /// `storage_bytes`); at or above `limit` after a downgrade.
    #[oai(skip_serializing_if_is_none)]
    #[oai(nullable)]
    pub usage: Option<i64>,
    /// Id of the request, also in the `X-Request-Id` response header.
    pub request_id: String,
}

impl ErrorBody {
    pub fn new(code: &str, message: String, field: Option<String>) -> Self {
        Self {
            error: ErrorDetail {
                code: code.to_owned(),
                message,
                field,
                resource: None,
                limit: None,
                usage: None,
                request_id: current_request_id(),
            },
        }
    }
}

/// Declares an operation's error responses as a poem-openapi `ApiResponse` enum, so the OpenAPI
/// spec lists the status codes that operation really returns. Every enum also has a 500 variant
/// and a catch-all for statuses raised by shared layers (tenant resolution, rate limiting).
///
/// ```ignore
/// error_responses!(ProductErrors { 401 Unauthorized, 403 Forbidden, 404 NotFound, 422 Unprocessable });
/// ```
#[macro_export]
macro_rules! error_responses {
    ($(#[$meta:meta])* $name:ident { $($status:tt $variant:ident),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, poem_openapi::ApiResponse)]
        pub enum $name {
            $(
                #[oai(status = $status)]
                $variant(
                    poem_openapi::payload::Json<$crate::error::ErrorBody>,
                    #[oai(header = "Retry-After")] Option<u64>,
                ),
            )*
            /// Internal error; details are in the server log under the request id.
            #[oai(status = 500)]
            Internal(
                poem_openapi::payload::Json<$crate::error::ErrorBody>,
                #[oai(header = "Retry-After")] Option<u64>,
            ),
            /// Any other error status.
            Other(
                poem::http::StatusCode,
                poem_openapi::payload::Json<$crate::error::ErrorBody>,
                #[oai(header = "Retry-After")] Option<u64>,
            ),
        }

        impl From<$crate::error::AppError> for $name {
            fn from(err: $crate::error::AppError) -> Self {
                let status = err.status();
                let body = poem_openapi::payload::Json(err.body());
                let retry_after = err.retry_after();
                match status.as_u16() {
                    $($status => Self::$variant(body, retry_after),)*
                    500 => Self::Internal(body, retry_after),
                    _ => Self::Other(status, body, retry_after),
                }
            }
        }

        impl From<sqlx::Error> for $name {
            fn from(err: sqlx::Error) -> Self {
                $crate::error::AppError::from(err).into()
            }
        }
    };
}

impl poem::error::ResponseError for AppError {
    fn status(&self) -> StatusCode {
        AppError::status(self)
    }

    fn as_response(&self) -> poem::Response {
        let body = serde_json::to_vec(&poem_openapi::types::ToJSON::to_json(&self.body()))
            .unwrap_or_default();
        let mut response = poem::Response::builder()
            .status(AppError::status(self))
            .content_type("application/json; charset=utf-8");
        if let Some(secs) = self.retry_after() {
            response = response.header("Retry-After", secs.to_string());
        }
        response.body(body)
    }
}

/// Turns any error that escaped a handler (poem's own: unknown route, wrong method, malformed
/// JSON, missing credentials) into the one JSON error shape.
///
/// The route template poem matched (`PathPattern`, which the `/metrics` request counts are
/// labelled with) stays with the response.
pub fn into_json_response(err: poem::Error) -> poem::Response {
    let route = err.data::<poem::PathPattern>().cloned();
    let mut response = error_response(err);
    if let Some(route) = route {
        response.set_data(route);
    }
    response
}

fn error_response(err: poem::Error) -> poem::Response {
    if err.is::<AppError>() || err.is_from_response() {
        return err.into_response();
    }
    if let Some(invalid) = declared_constraint_failure(&err) {
        return poem::error::ResponseError::as_response(&invalid);
    }
    let status = err.status();
    let code = match status {
        StatusCode::NOT_FOUND => "route_not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::UNAUTHORIZED => "invalid_token",
        StatusCode::FORBIDDEN => "forbidden",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        s if s.is_client_error() => "invalid_request",
        _ => "internal_error",
    };
    let message = if status.is_server_error() {
        tracing::error!(error = %err, "unhandled error");
        "internal server error".to_owned()
    } else if status == StatusCode::UNAUTHORIZED {
        // poem-openapi's own wording for a missing bearer token is a bare "authorization error".
        "missing, invalid or expired access token".to_owned()
    } else {
        err.to_string()
    };
    let body = ErrorBody::new(code, message, None);
    let bytes =
        serde_json::to_vec(&poem_openapi::types::ToJSON::to_json(&body)).unwrap_or_default();
    poem::Response::builder()
        .status(status)
        .content_type("application/json; charset=utf-8")
        .body(bytes)
}

/// A value that breaks a constraint the OpenAPI document declares (`#[oai(validator(…))]` on a
/// parameter or a body field), refused by poem-openapi before the handler runs: the same 422
/// `validation_failed` naming the field that the handler's own check gives, not poem's 400.
/// A value of the wrong type (`limit=abc`, a body that is not JSON) stays a 400.
fn declared_constraint_failure(err: &poem::Error) -> Option<AppError> {
    const FAILED: &str = "verification failed. ";
    if let Some(param) = err.downcast_ref::<poem_openapi::error::ParseParamError>() {
        let (_, rule) = param.reason.split_once(FAILED)?;
        return Some(AppError::validation(param.name, format!("must satisfy {rule}")));
    }
    let payload = err.downcast_ref::<poem_openapi::error::ParseRequestPayloadError>()?;
    // `failed to parse "NewProduct": field `name` verification failed. maxLength(200)`; the
    // innermost field is the one at fault.
    let (before, rule) = payload.reason.rsplit_once(FAILED)?;
    let field = before.rsplit_once("field `")?.1.split('`').next()?;
    Some(AppError::validation(field, format!("must satisfy {rule}")))
}

// The error sets operations share. Shop routes can always answer 400 (no shop, or conflicting
// Host and X-Shop), 403 (suspended shop, or a role without the permission), 404 (unknown
// shop, or an unknown resource) and 429 (the shop's request budget is used up: `limits`);
// authenticated ones add 401.

error_responses!(
    /// An authenticated shop operation without validation or conflicts (reads, plain deletes).
    ShopReadErrors { 400 BadRequest, 401 Unauthorized, 403 Forbidden, 404 NotFound, 429 TooManyRequests }
);
error_responses!(
    /// A staff list with filters and paging.
    ShopListErrors { 400 BadRequest, 401 Unauthorized, 403 Forbidden, 404 NotFound, 422 Unprocessable, 429 TooManyRequests }
);
error_responses!(
    /// A staff create or update: validation (422) and uniqueness or state conflicts (409).
    ShopWriteErrors { 400 BadRequest, 401 Unauthorized, 403 Forbidden, 404 NotFound, 409 Conflict, 422 Unprocessable, 429 TooManyRequests }
);
error_responses!(
    /// A staff delete that can conflict with the resource's state.
    ShopDeleteErrors { 400 BadRequest, 401 Unauthorized, 403 Forbidden, 404 NotFound, 409 Conflict, 429 TooManyRequests }
);
error_responses!(
    /// A public storefront read.
    StorefrontErrors { 400 BadRequest, 403 Forbidden, 404 NotFound, 429 TooManyRequests }
);
error_responses!(
    /// A public storefront list with filters and paging.
    StorefrontListErrors { 400 BadRequest, 403 Forbidden, 404 NotFound, 422 Unprocessable, 429 TooManyRequests }
);
