//! One HTTP client for every built-in, and the classification of what comes back into
//! `error.kind`. Messages name the provider and the problem, never a token or a body.

use std::sync::OnceLock;

use reqwest::{RequestBuilder, Response, StatusCode};

use crate::model::{ErrorKind, FetchError};

/// Used when a 429 gives no usable `Retry-After` (absent, unparseable, or `0`, which
/// Anthropic sends during long 429 streaks).
pub const DEFAULT_RETRY_MS: i64 = 5 * 60_000;

pub fn client() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::Client::builder()
            .use_rustls_tls()
            // Timeouts are the tracker's (`requestTimeoutMs`), applied around the whole fetch.
            .build()
            .unwrap_or_else(|_| reqwest::Client::new())
    })
}

/// `Retry-After` as seconds or an HTTP date, to an epoch-ms instant.
pub fn retry_at(header: Option<&str>, now: i64) -> i64 {
    let parsed = header.map(str::trim).and_then(|h| {
        if let Ok(secs) = h.parse::<f64>() {
            return (secs.is_finite() && secs > 0.0).then(|| now + (secs * 1000.0) as i64);
        }
        let at = httpdate::parse_http_date(h).ok()?;
        let ms = at.duration_since(std::time::UNIX_EPOCH).ok()?.as_millis() as i64;
        (ms > now).then_some(ms)
    });
    parsed.unwrap_or(now + DEFAULT_RETRY_MS)
}

pub fn classify_status(
    provider: &str,
    status: StatusCode,
    retry_after: Option<&str>,
    now: i64,
) -> FetchError {
    let code = status.as_u16();
    match code {
        401 | 403 => FetchError::new(
            ErrorKind::Auth,
            format!("{provider}: HTTP {code}, the token was rejected; log in again in pi (/login)"),
        ),
        429 => {
            let at = retry_at(retry_after, now);
            FetchError::new(
                ErrorKind::RateLimited,
                format!(
                    "{provider}: HTTP 429, rate limited; next try in {}s",
                    (at - now + 999) / 1000
                ),
            )
            .with_retry_at(at)
        }
        500..=599 => FetchError::new(
            ErrorKind::Server,
            format!("{provider}: HTTP {code} from the service"),
        ),
        _ => FetchError::new(
            ErrorKind::Provider,
            format!("{provider}: unexpected HTTP {code}"),
        ),
    }
}

fn transport_error(provider: &str, e: reqwest::Error) -> FetchError {
    let e = e.without_url();
    if e.is_timeout() {
        FetchError::new(
            ErrorKind::Timeout,
            format!("{provider}: the request timed out"),
        )
    } else if e.is_connect() {
        FetchError::new(
            ErrorKind::Network,
            format!("{provider}: could not connect to the service"),
        )
    } else if e.is_body() || e.is_decode() {
        FetchError::new(
            ErrorKind::Network,
            format!("{provider}: the response was cut off"),
        )
    } else {
        FetchError::new(
            ErrorKind::Network,
            format!("{provider}: request failed ({e})"),
        )
    }
}

/// At most this much of a non-2xx answer is read, for a wire to recognise its service's own
/// error (Google names the reason of a 403 only in the body).
pub const ERROR_BODY_CAP: usize = 64 * 1024;
/// A stalled error body must not turn a quick refusal into a timeout.
const ERROR_BODY_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

async fn error_body(mut response: Response) -> Vec<u8> {
    let mut body = Vec::new();
    let read = async {
        while body.len() < ERROR_BODY_CAP {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    let take = chunk.len().min(ERROR_BODY_CAP - body.len());
                    body.extend_from_slice(&chunk[..take]);
                }
                _ => break,
            }
        }
    };
    let _ = tokio::time::timeout(ERROR_BODY_WAIT, read).await;
    body
}

/// A wire's reading of a non-2xx answer (`Wire::service_error`).
pub type ServiceError<'a> = &'a (dyn Fn(u16, &[u8]) -> Option<FetchError> + Send + Sync);

/// Sends, checks the status, and returns the body of a 2xx answer.
pub async fn send(
    provider: &str,
    request: RequestBuilder,
    now: impl Fn() -> i64,
) -> Result<Vec<u8>, FetchError> {
    send_with(provider, request, now, &|_, _| None).await
}

/// `send`, with `service_error` consulted on a non-2xx answer before the status decides.
pub async fn send_with(
    provider: &str,
    request: RequestBuilder,
    now: impl Fn() -> i64,
    service_error: ServiceError<'_>,
) -> Result<Vec<u8>, FetchError> {
    let response: Response = request
        .send()
        .await
        .map_err(|e| transport_error(provider, e))?;
    let status = response.status();
    if !status.is_success() {
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        if status != StatusCode::TOO_MANY_REQUESTS {
            let body = error_body(response).await;
            if let Some(mut e) = service_error(status.as_u16(), &body) {
                e.message = format!("{provider}: {}", e.message);
                return Err(e);
            }
        }
        return Err(classify_status(
            provider,
            status,
            retry_after.as_deref(),
            now(),
        ));
    }
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let body = response
        .bytes()
        .await
        .map_err(|e| transport_error(provider, e))?;
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(FetchError::new(
            ErrorKind::Parse,
            format!("{provider}: empty response body"),
        ));
    }
    if content_type.contains("text/html") || body.trim_ascii_start().starts_with(b"<") {
        return Err(FetchError::new(
            ErrorKind::Parse,
            format!(
                "{provider}: expected JSON, got an HTML page ({} bytes)",
                body.len()
            ),
        ));
    }
    Ok(body.to_vec())
}

/// A JSON parse failure, described by position only (serde's message quotes no input).
pub fn parse_error(provider: &str, body_len: usize, e: impl std::fmt::Display) -> FetchError {
    FetchError::new(
        ErrorKind::Parse,
        format!("{provider}: could not read the response ({body_len} bytes): {e}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000_000;

    #[test]
    fn retry_after_seconds_date_and_defaults() {
        assert_eq!(retry_at(Some("120"), NOW), NOW + 120_000);
        assert_eq!(
            retry_at(Some("0"), NOW),
            NOW + DEFAULT_RETRY_MS,
            "0 means back off anyway"
        );
        assert_eq!(retry_at(None, NOW), NOW + DEFAULT_RETRY_MS);
        assert_eq!(retry_at(Some("soon"), NOW), NOW + DEFAULT_RETRY_MS);
        let date = httpdate::fmt_http_date(
            std::time::UNIX_EPOCH + std::time::Duration::from_millis((NOW + 90_000) as u64),
        );
        assert_eq!(retry_at(Some(&date), NOW), NOW + 90_000);
        let past = httpdate::fmt_http_date(
            std::time::UNIX_EPOCH + std::time::Duration::from_millis((NOW - 90_000) as u64),
        );
        assert_eq!(retry_at(Some(&past), NOW), NOW + DEFAULT_RETRY_MS);
    }

    #[test]
    fn statuses_map_to_kinds() {
        let kind =
            |code: u16| classify_status("p", StatusCode::from_u16(code).unwrap(), None, NOW).kind;
        assert_eq!(kind(401), ErrorKind::Auth);
        assert_eq!(kind(403), ErrorKind::Auth);
        assert_eq!(kind(429), ErrorKind::RateLimited);
        assert_eq!(kind(500), ErrorKind::Server);
        assert_eq!(kind(503), ErrorKind::Server);
        assert_eq!(kind(404), ErrorKind::Provider);
        let e = classify_status("anthropic", StatusCode::TOO_MANY_REQUESTS, Some("30"), NOW);
        assert_eq!(e.retry_at, Some(NOW + 30_000));
        assert!(e.message.starts_with("anthropic: HTTP 429"));
    }
}
