//! The HTTP side of the limits: the client of each request ([`ClientScope`]), the shop budget
//! of API requests ([`ShopRateLimit`]) and the rate headers.
//!
//! Headers (draft-ietf-httpapi-ratelimit-headers, the three-header form): `RateLimit-Limit`
//! (the shop's budget per minute), `RateLimit-Remaining` (requests left now) and
//! `RateLimit-Reset` (seconds until the whole budget is back), on every response of a shop
//! route, 429 included; a 429 also has `Retry-After`.

use poem::http::{HeaderMap, HeaderValue};
use poem::{Endpoint, IntoResponse, Middleware, Request, Response};

use super::{Budget, Decision, Limits, client_ip};
use crate::error::{AppError, into_json_response};
use crate::tenancy::Tenant;

impl Decision {
    /// Adds the rate headers of this decision.
    pub fn add_headers(&self, headers: &mut HeaderMap) {
        for (name, value) in [
            ("ratelimit-limit", u64::from(self.limit)),
            ("ratelimit-remaining", u64::from(self.remaining)),
            ("ratelimit-reset", self.reset_secs),
        ] {
            headers.insert(name, HeaderValue::from(value));
        }
    }

    /// The 429 of a refused request, as `AppError`.
    pub fn refusal(&self) -> AppError {
        AppError::RateLimited { retry_after_secs: self.retry_after_secs.max(1) }
    }
}

/// Runs each request with its client known ([`client_ip::current`]).
pub async fn client_scope<E: Endpoint>(
    limits: &Limits,
    next: E,
    req: Request,
) -> poem::Result<E::Output> {
    let peer = req.remote_addr().as_socket_addr().map(std::net::SocketAddr::ip);
    let forwarded = req.headers().get_all("x-forwarded-for");
    let ip = limits
        .trusted_proxies()
        .client(peer, forwarded.iter().filter_map(|value| value.to_str().ok()));
    // Boxed: the rest of the request is a deep future, and debug builds copy it on the stack.
    client_ip::scope(ip, Box::pin(next.call(req))).await
}

/// Middleware spending the shop budget of each shop API request (the tenant is already
/// resolved: it sits inside the resolver), and adding the rate headers to its answer.
pub struct ShopRateLimit {
    pub limits: Limits,
}

impl<E: Endpoint> Middleware<E> for ShopRateLimit {
    type Output = ShopRateLimitEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        ShopRateLimitEndpoint { inner, limits: self.limits.clone() }
    }
}

pub struct ShopRateLimitEndpoint<E> {
    inner: E,
    limits: Limits,
}

impl<E: Endpoint> Endpoint for ShopRateLimitEndpoint<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        let Some(tenant) = req.extensions().get::<Tenant>().cloned() else {
            return self.inner.call(req).await.map(IntoResponse::into_response);
        };
        let budget = if req.uri().path().starts_with("/v1/admin") {
            Budget::Admin
        } else {
            Budget::Storefront
        };
        let decision = self.limits.shop(&tenant, budget).await;
        let mut response = match decision {
            Some(refused) if !refused.allowed => {
                poem::error::ResponseError::as_response(&refused.refusal())
            }
            _ => match Box::pin(self.inner.call(req)).await {
                Ok(response) => response.into_response(),
                Err(err) => into_json_response(err),
            },
        };
        if let Some(decision) = decision {
            decision.add_headers(response.headers_mut());
        }
        Ok(response)
    }
}
