//! Request-level protection in front of the routes: the REST API authenticates before it
//! reads a body, bodies are small and must arrive in time, and pages get security headers.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse as _, Response};

use crate::rest::{ApiError, check_bearer};

/// Largest REST request body: a room of [`crate::MAX_MEMBERS`] members is under 5 KB.
pub const MAX_REST_BODY: usize = 64 * 1024;

/// What the REST guard needs.
#[derive(Clone)]
pub(crate) struct ApiGuard {
    pub(crate) api_key: Arc<str>,
    /// Longest the whole body of a REST request may take to arrive.
    pub(crate) body_timeout: Duration,
}

/// Whether `path` belongs to the key-protected room API.
fn is_keyed_api(path: &str) -> bool {
    path == "/v1/rooms" || path.starts_with("/v1/rooms/")
}

/// For the room API: checks the API key from the headers before a byte of the body is read,
/// then reads the body whole, at most [`MAX_REST_BODY`] and within the body timeout, so that
/// the handler gets it from memory. Without this, an unauthenticated client could make the
/// server buffer (and wait for) a 2 MB body per request.
///
/// Other routes read no body: their bodies are never buffered.
pub(crate) async fn api_request(
    State(guard): State<ApiGuard>,
    request: Request,
    next: Next,
) -> Response {
    if !is_keyed_api(request.uri().path()) {
        return next.run(request).await;
    }
    if let Err(e) = check_bearer(&guard.api_key, request.headers()) {
        return e.into_response();
    }
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_REST_BODY as u64) {
        return too_large().into_response();
    }
    let (parts, body) = request.into_parts();
    let read = tokio::time::timeout(
        guard.body_timeout,
        axum::body::to_bytes(body, MAX_REST_BODY),
    )
    .await;
    let bytes = match read {
        Ok(Ok(bytes)) => bytes,
        // `to_bytes` fails on the limit or when the peer breaks off; either way the body is
        // unusable, and the limit is the only failure a peer can still read an answer to.
        Ok(Err(_)) => return too_large().into_response(),
        Err(_) => {
            let mut response =
                ApiError::RequestTimeout("the request body did not arrive in time").into_response();
            // The rest of the body may still be on its way: do not read it as a next request.
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            return response;
        }
    };
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

fn too_large() -> ApiError {
    ApiError::PayloadTooLarge(format!(
        "the request body is larger than {MAX_REST_BODY} bytes"
    ))
}

/// Content-Security-Policy of the demo pages and SDK: scripts and styles from this origin
/// only (plus compiling the SDK's WebAssembly), signaling to this origin, and no framing.
const CSP: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; \
                   img-src 'self' data: blob:; media-src 'self' blob: mediastream:; \
                   connect-src 'self'; object-src 'none'; base-uri 'none'; \
                   form-action 'self'; frame-ancestors 'none'";
/// The benchmark pages keep their measuring scripts inline.
const CSP_BENCH: &str = "default-src 'self'; script-src 'self' 'unsafe-inline' 'wasm-unsafe-eval'; \
                         style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; \
                         media-src 'self' blob: mediastream:; connect-src 'self'; \
                         object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

/// Security headers on every response. They matter for the pages (the customer page carries
/// a join token in its URL: no referrer may leak it, and no other site may frame it); on JSON
/// they cost nothing. HTML is revalidated on every load so a new SDK is picked up at once.
pub(crate) async fn security_headers(request: Request, next: Next) -> Response {
    let bench = request.uri().path().starts_with("/bench/");
    let mut response = next.run(request).await;
    let html = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(if bench { CSP_BENCH } else { CSP }),
    );
    if html {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    }
    response
}
