//! Rate limits: at most N requests a second for each credential (the `Authorization` header's
//! value; one shared allowance for requests without one), bursts of up to 2N; the rest are
//! 429 in the error shape with `Retry-After`. Off unless configured.

use std::num::NonZeroU32;
use std::sync::Arc;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::state::keyed::HashMapStateStore;
use governor::{Quota, RateLimiter};

use crate::error::ApiError;

/// Callers remembered before those idle long enough to be full again are forgotten.
const REMEMBERED: usize = 10_000;

/// The allowance of every caller.
#[derive(Debug, Clone)]
pub(crate) struct Limits(Arc<RateLimiter<String, HashMapStateStore<String>, DefaultClock>>);

impl Limits {
    /// `per_second` requests a second for each caller.
    pub(crate) fn new(per_second: NonZeroU32) -> Self {
        let burst = per_second.saturating_mul(NonZeroU32::new(2).expect("2 is not zero"));
        Limits(Arc::new(RateLimiter::hashmap(
            Quota::per_second(per_second).allow_burst(burst),
        )))
    }
}

/// Lets a request through if its caller has allowance left; 429 otherwise.
pub(crate) async fn limit(
    axum::extract::State(limits): axum::extract::State<Limits>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let key: String = request
        .headers()
        .get(header::AUTHORIZATION)
        .map(|v| {
            String::from_utf8_lossy(v.as_bytes())
                .chars()
                .take(512)
                .collect()
        })
        .unwrap_or_default();
    if limits.0.len() > REMEMBERED {
        limits.0.retain_recent();
    }
    match limits.0.check_key(&key) {
        Ok(()) => next.run(request).await,
        Err(not_until) => {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            let mut answer = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "RateLimited",
                format!("too many requests: retry in {seconds} s"),
            )
            .into_response();
            answer
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)));
            answer
        }
    }
}
