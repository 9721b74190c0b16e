//! One HTTP client for every built-in, and the classification of what comes back into
//! `error.kind`. Messages name the provider and the problem, never a token or a body: the
//! server is not trusted to be honest, small, or well-formed.

use std::borrow::Cow;
use std::sync::OnceLock;

use reqwest::{Client, RequestBuilder, Response, StatusCode, Url};

use crate::model::{ErrorKind, FetchError};
use crate::sanitize::{clean_text, MAX_MESSAGE_CHARS};
use crate::time::ms_after;

/// Used when a 429 gives no usable `Retry-After` (absent, unparseable, or `0`, which
/// Anthropic sends during long 429 streaks).
pub const DEFAULT_RETRY_MS: i64 = 5 * 60_000;

/// The longest wait a `Retry-After` can impose (ours, or a peer's read back from the shared
/// cache): a broken or hostile server must not silence a provider for days.
pub const MAX_RETRY_AFTER_MS: i64 = 6 * 60 * 60_000;

/// The largest response body read. Real answers are a few KiB; without a bound a server (or
/// anything answering on its address) could make us buffer gigabytes.
pub const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

fn build_client(loopback: bool) -> Option<Client> {
    let mut builder = Client::builder()
        .use_rustls_tls()
        // A redirect would re-send our headers (ChatGPT-Account-Id, any custom one) and, for
        // 307/308, Google's JSON body to wherever `Location` points.
        .redirect(reqwest::redirect::Policy::none());
    if loopback {
        // HTTP(S)_PROXY/ALL_PROXY are honoured for the real (https) services, but loopback
        // traffic is plain http carrying a token: through a proxy it would cross a network
        // in clear.
        builder = builder.no_proxy();
    }
    // Timeouts are the tracker's (`requestTimeoutMs`), applied around the whole fetch.
    builder.build().ok()
}

/// The client requests are built with. `send` executes them on the client meant for their
/// destination (proxies for remote hosts only), whichever client built them.
pub fn client() -> &'static Client {
    static BUILDER: OnceLock<Client> = OnceLock::new();
    BUILDER.get_or_init(|| build_client(true).unwrap_or_default())
}

fn client_for(url: &Url) -> Option<&'static Client> {
    static REMOTE: OnceLock<Option<Client>> = OnceLock::new();
    static LOOPBACK: OnceLock<Option<Client>> = OnceLock::new();
    let loopback = is_loopback(url);
    let cell = if loopback { &LOOPBACK } else { &REMOTE };
    cell.get_or_init(|| build_client(loopback)).as_ref()
}

/// This machine: `localhost`, 127.0.0.0/8, `::1` (the hosts plain http is allowed to).
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// `Retry-After` as seconds or an HTTP date, to an epoch-ms instant at most
/// `MAX_RETRY_AFTER_MS` away (huge, negative, NaN or past values never overflow).
pub fn retry_at(header: Option<&str>, now: i64) -> i64 {
    let parsed = header.map(str::trim).and_then(|h| {
        if let Ok(secs) = h.parse::<f64>() {
            if secs.is_nan() || secs <= 0.0 {
                return None;
            }
            // Beyond the cap (including 1e300 and "inf") is the cap.
            return Some(ms_after(now, secs).unwrap_or(i64::MAX));
        }
        let at = httpdate::parse_http_date(h).ok()?;
        let ms = at.duration_since(std::time::UNIX_EPOCH).ok()?.as_millis();
        let ms = i64::try_from(ms).unwrap_or(i64::MAX);
        (ms > now).then_some(ms)
    });
    match parsed {
        Some(at) => cap_retry_at(at, now),
        None => now.saturating_add(DEFAULT_RETRY_MS),
    }
}

/// `retry_at` no further than `MAX_RETRY_AFTER_MS` from `now`.
pub fn cap_retry_at(retry_at: i64, now: i64) -> i64 {
    retry_at.min(now.saturating_add(MAX_RETRY_AFTER_MS))
}

/// Host (and explicit port) of the URL we asked: where the credentials were meant to go.
fn origin_label(url: &Url) -> String {
    let host = url.host_str().unwrap_or("the service");
    match url.port() {
        Some(port) => clean_text(&format!("{host}:{port}"), 80),
        None => clean_text(host, 80),
    }
}

/// A 3xx: never followed, and its `Location` (which may carry a token in its query) is
/// never quoted.
pub fn redirect_error(provider: &str, code: u16, host: Option<&str>) -> FetchError {
    let host = host.unwrap_or("the configured host");
    FetchError::new(
        ErrorKind::Provider,
        bounded(format!(
            "{provider}: HTTP {code}, the service answered with a redirect to another location; not followed so credentials stay on {host}"
        )),
    )
}

pub fn classify_status(
    provider: &str,
    status: StatusCode,
    retry_after: Option<&str>,
    now: i64,
) -> FetchError {
    let code = status.as_u16();
    match code {
        300..=399 => redirect_error(provider, code, None),
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
                    (at.saturating_sub(now) + 999) / 1000
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
            bounded(format!("{provider}: request failed ({e})")),
        )
    }
}

fn too_large(provider: &str) -> FetchError {
    FetchError::new(
        ErrorKind::Parse,
        format!(
            "{provider}: response larger than {} MiB; not read",
            MAX_BODY_BYTES / (1024 * 1024)
        ),
    )
}

/// The body, read chunk by chunk and abandoned as soon as it passes `MAX_BODY_BYTES`
/// (a declared `Content-Length` over the cap is refused before reading anything).
async fn read_body(provider: &str, mut response: Response) -> Result<Vec<u8>, FetchError> {
    let declared = response.content_length();
    if declared.is_some_and(|len| len > MAX_BODY_BYTES as u64) {
        return Err(too_large(provider));
    }
    let mut body = Vec::with_capacity(declared.unwrap_or(0).min(64 * 1024) as usize);
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| transport_error(provider, e))?
    {
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(too_large(provider));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
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
    let (_, request) = request.build_split();
    let request = request.map_err(|e| transport_error(provider, e))?;
    let origin = origin_label(request.url());
    let client = client_for(request.url()).ok_or_else(|| {
        FetchError::new(
            ErrorKind::Network,
            format!("{provider}: could not set up the HTTP client"),
        )
    })?;
    let response: Response = client
        .execute(request)
        .await
        .map_err(|e| transport_error(provider, e))?;
    let status = response.status();
    if status.is_redirection() {
        return Err(redirect_error(provider, status.as_u16(), Some(&origin)));
    }
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
    let body = read_body(provider, response).await?;
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
    Ok(body)
}

/// A message that may contain text from elsewhere (provider ids are user-chosen, reqwest's
/// errors relay the peer's): printable and bounded.
fn bounded(message: String) -> String {
    clean_text(&message, MAX_MESSAGE_CHARS)
}

/// A parse failure, classified: what was expected where, never the value that was found.
/// `e` is a `serde_json::Error` (whose own message quotes string values of the body) or a
/// parser's own message.
pub fn parse_error(provider: &str, body_len: usize, e: impl std::fmt::Display) -> FetchError {
    FetchError::new(
        ErrorKind::Parse,
        bounded(format!(
            "{provider}: could not read the response ({body_len} bytes): {}",
            describe_problem(&e.to_string())
        )),
    )
}

/// serde_json ends every error read from a body with ` at line L column C`.
fn split_position(raw: &str) -> (&str, Option<(u64, u64)>) {
    let Some(at) = raw.rfind(" at line ") else {
        return (raw, None);
    };
    let tail = &raw[at + " at line ".len()..];
    let parsed = tail
        .split_once(" column ")
        .and_then(|(l, c)| Some((l.parse().ok()?, c.parse().ok()?)));
    match parsed {
        Some(position) => (&raw[..at], Some(position)),
        None => (raw, None),
    }
}

/// What serde said it expected (a Rust type or our description of one), in JSON's words.
fn expected_label(expected: &str) -> Cow<'static, str> {
    let e = expected.trim();
    let safe = !e.is_empty()
        && e.len() <= 40
        && e.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == ' ' || c == '_');
    if !safe {
        return "another type".into();
    }
    match e {
        "f64" | "f32" | "i64" | "u64" | "i32" | "u32" | "i16" | "u16" | "i8" | "u8" | "usize"
        | "isize" | "i128" | "u128" => "a number".into(),
        "a sequence" => "an array".into(),
        "a map" => "an object".into(),
        _ if e.starts_with("struct ") => "an object".into(),
        _ => Cow::Owned(e.to_string()),
    }
}

/// The kind of value serde found, from the start of its `Unexpected` description only
/// (what follows is the value itself).
fn found_label(unexpected: &str) -> &'static str {
    const KINDS: [(&str, &str); 10] = [
        ("string", "a string"),
        ("integer", "a number"),
        ("floating point", "a number"),
        ("boolean", "a boolean"),
        ("null", "null"),
        ("unit", "null"),
        ("sequence", "an array"),
        ("map", "an object"),
        ("character", "a string"),
        ("byte array", "bytes"),
    ];
    KINDS
        .iter()
        .find(|(prefix, _)| unexpected.starts_with(prefix))
        .map_or("another value", |(_, label)| label)
}

/// "invalid type: string \"…\", expected f64" → "expected a number, found a string".
/// The expectation is the last `, expected ` (the value, quoted first, may contain one).
fn mismatch(rest: &str) -> String {
    match rest.rfind(", expected ") {
        Some(i) => format!(
            "expected {}, found {}",
            expected_label(&rest[i + ", expected ".len()..]),
            found_label(&rest[..i])
        ),
        None => format!("found {}", found_label(rest)),
    }
}

/// "invalid value: integer `-7`, expected u32" → "value not accepted, expected u32": the
/// type is right, so the precise expectation is the useful part.
fn rejected_value(rest: &str) -> String {
    let expected = rest
        .rfind(", expected ")
        .map(|i| rest[i + ", expected ".len()..].trim())
        .filter(|e| {
            e.len() <= 40
                && e.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == ' ' || c == '_')
        });
    match expected {
        Some(e) => format!("value not accepted, expected {e}"),
        None => "value not accepted".into(),
    }
}

/// Messages serde_json gives for malformed JSON (its position says where).
const SYNTAX_HEADS: [&str; 15] = [
    "expected value",
    "expected `",
    "expected ident",
    "key must be",
    "invalid escape",
    "invalid number",
    "invalid unicode code point",
    "number out of range",
    "control character",
    "lone leading surrogate",
    "unexpected end of hex escape",
    "trailing comma",
    "trailing characters",
    "recursion limit exceeded",
    "invalid UTF-8",
];

fn describe_problem(raw: &str) -> String {
    let (head, position) = split_position(raw);
    let head = head.trim();
    let what: Cow<str> = if let Some(rest) = head.strip_prefix("invalid type: ") {
        mismatch(rest).into()
    } else if let Some(rest) = head.strip_prefix("invalid value: ") {
        rejected_value(rest).into()
    } else if head.starts_with("invalid length ") {
        "wrong number of elements".into()
    } else if let Some(rest) = head.strip_prefix("missing field `") {
        // The name is one of our struct's fields, not the body's; still checked.
        let name = rest.strip_suffix('`').unwrap_or("");
        if !name.is_empty()
            && name.len() <= 40
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            format!("missing field `{name}`").into()
        } else {
            "missing field".into()
        }
    } else if head.starts_with("unknown variant") {
        "unknown variant".into()
    } else if head.starts_with("unknown field") {
        "unknown field".into()
    } else if head.starts_with("duplicate field") {
        "duplicate field".into()
    } else if head.starts_with("EOF while parsing") {
        "the JSON ends early".into()
    } else if SYNTAX_HEADS.iter().any(|p| head.starts_with(p)) {
        "invalid JSON".into()
    } else if position.is_some() {
        // From serde_json but not a shape we know: its wording may quote the body.
        "unexpected content".into()
    } else {
        // A parser's own message; anything it quoted is dropped all the same.
        redact_quoted(head).into()
    };
    match position {
        Some((line, column)) => format!("{what} at line {line} column {column}"),
        None => what.into_owned(),
    }
}

/// `s` with every double-quoted run replaced by `"…"`.
fn redact_quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len().min(MAX_MESSAGE_CHARS));
    let mut parts = s.split('"');
    if let Some(first) = parts.next() {
        out.push_str(first);
    }
    let mut inside = true;
    for part in parts {
        if inside {
            out.push_str("\"…\"");
        } else {
            out.push_str(part);
        }
        inside = !inside;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

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
    fn retry_after_is_capped_and_never_overflows() {
        let cap = NOW + MAX_RETRY_AFTER_MS;
        for huge in ["1e300", "999999999", "inf", "Infinity", "1e19", "21600.5"] {
            assert_eq!(retry_at(Some(huge), NOW), cap, "{huge}");
        }
        for nonsense in ["-5", "-1e300", "NaN", "-inf", ""] {
            assert_eq!(
                retry_at(Some(nonsense), NOW),
                NOW + DEFAULT_RETRY_MS,
                "{nonsense}"
            );
        }
        let far = httpdate::fmt_http_date(
            std::time::UNIX_EPOCH + std::time::Duration::from_secs(253_402_300_000),
        );
        assert_eq!(retry_at(Some(&far), NOW), cap, "year 9999 date");
        assert_eq!(retry_at(Some("60"), i64::MAX - 5), i64::MAX, "saturates");
        let e = classify_status("codex", StatusCode::TOO_MANY_REQUESTS, Some("1e300"), NOW);
        assert_eq!(e.retry_at, Some(cap));
        assert!(e.message.ends_with("next try in 21600s"), "{}", e.message);
        assert_eq!(cap_retry_at(NOW + 10, NOW), NOW + 10);
        assert_eq!(cap_retry_at(i64::MAX, NOW), cap);
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
        assert_eq!(kind(302), ErrorKind::Provider);
        let e = classify_status("anthropic", StatusCode::TOO_MANY_REQUESTS, Some("30"), NOW);
        assert_eq!(e.retry_at, Some(NOW + 30_000));
        assert!(e.message.starts_with("anthropic: HTTP 429"));
    }

    #[test]
    fn loopback_hosts() {
        let lo = |u: &str| is_loopback(&Url::parse(u).unwrap());
        assert!(lo("http://127.0.0.1:1/x"));
        assert!(lo("http://127.0.0.2/"));
        assert!(lo("http://LOCALHOST:9"));
        assert!(lo("http://[::1]:9"));
        assert!(!lo("https://api.anthropic.com"));
        assert!(!lo("http://localhost.example.com"));
        assert!(!lo("http://10.0.0.1"));
    }

    fn json_error<T: serde::de::DeserializeOwned + std::fmt::Debug>(body: &str) -> String {
        parse_error(
            "p",
            body.len(),
            serde_json::from_str::<T>(body).unwrap_err(),
        )
        .message
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Window {
        used_percent: Option<f64>,
        resets: Vec<u32>,
    }

    #[test]
    fn parse_errors_classify_and_never_quote_the_body() {
        let cases = [
            (
                r#"{"used_percent": "leak:SECRET", "resets": []}"#,
                "expected a number, found a string at line 1 column 30",
            ),
            (
                r#"{"used_percent": 1, "resets": {"leak:SECRET": 1}}"#,
                "expected an array, found an object at line 1 column 30",
            ),
            (
                r#"{"used_percent": 1, "resets": [-7]}"#,
                "value not accepted, expected u32 at line 1 column 33",
            ),
            (
                r#"{"used_percent": 1}"#,
                "missing field `resets` at line 1 column 19",
            ),
            (
                r#"{"used_percent": leak:SECRET}"#,
                "invalid JSON at line 1 column 18",
            ),
            (
                r#"{"used_percent": "#,
                "the JSON ends early at line 1 column 17",
            ),
            (
                r#"{"resets": [], "used_percent": 1} leak:SECRET"#,
                "invalid JSON at line 1 column 35",
            ),
            // A string imitating serde's own wording is still only "a string".
            (
                r#"{"used_percent": "x\", expected f64 leak:SECRET at line 9 column 9"}"#,
                "expected a number, found a string at line 1 column 67",
            ),
        ];
        for (body, want) in cases {
            let m = json_error::<Window>(body);
            let prefix = format!("p: could not read the response ({} bytes): ", body.len());
            assert_eq!(m.strip_prefix(&prefix), Some(want), "{body}");
            assert!(!m.contains("SECRET") && !m.contains("leak"), "{m}");
        }
    }

    #[test]
    fn parse_errors_are_bounded_and_printable() {
        let huge = format!(
            r#"{{"used_percent": "leak:SECRET{}", "resets": []}}"#,
            "x".repeat(5_000_000)
        );
        let m = json_error::<Window>(&huge);
        assert!(!m.contains("SECRET"));
        assert!(m.chars().count() <= MAX_MESSAGE_CHARS, "{} chars", m.len());
        // A parser's own message: kept, but quoted values and control characters are not.
        let own = parse_error("p\u{1b}[2J", 3, "`models` is \"leak:SECRET\"\u{7} odd").message;
        assert_eq!(
            own,
            "p: could not read the response (3 bytes): `models` is \"…\" odd"
        );
        let long_id = "a".repeat(1000);
        assert!(parse_error(&long_id, 1, "x").message.chars().count() <= MAX_MESSAGE_CHARS);
    }

    /// A one-shot HTTP server on loopback answering `response`; yields what it received.
    async fn serve_once(response: Vec<u8>) -> (String, tokio::task::JoinHandle<Vec<u8>>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let (mut sock, _) = listener.accept().await.unwrap();
            let mut seen = Vec::new();
            let mut buf = [0u8; 4096];
            while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = sock.read(&mut buf).await.unwrap_or(0);
                if n == 0 {
                    break;
                }
                seen.extend_from_slice(&buf[..n]);
            }
            let _ = sock.write_all(&response).await;
            let _ = sock.shutdown().await;
            seen
        });
        (url, task)
    }

    /// Counts connections to a listener that should never be contacted.
    async fn bystander() -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = hits.clone();
        tokio::spawn(async move {
            while let Ok((_sock, _)) = listener.accept().await {
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
        });
        // Another origin for the same machine: `localhost` instead of 127.0.0.1.
        (format!("http://localhost:{port}"), hits)
    }

    #[tokio::test]
    async fn redirects_are_not_followed_and_location_is_not_quoted() {
        let (elsewhere, hits) = bystander().await;
        for code in [301u16, 302, 303, 307, 308] {
            let location = format!("{elsewhere}/steal?access_token=SECRET");
            let response = format!(
                "HTTP/1.1 {code} Moved\r\nLocation: {location}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            );
            let (url, server) = serve_once(response.into_bytes()).await;
            let request = client()
                .post(format!("{url}/v1internal:retrieveUserQuota"))
                .header("ChatGPT-Account-Id", "acct-SECRET")
                .json(&serde_json::json!({"project": "proj-SECRET"}));
            let err = send("google-gemini-cli", request, || NOW)
                .await
                .unwrap_err();
            server.await.unwrap();
            assert_eq!(err.kind, ErrorKind::Provider);
            let host = url.trim_start_matches("http://");
            assert_eq!(
                err.message,
                format!("google-gemini-cli: HTTP {code}, the service answered with a redirect to another location; not followed so credentials stay on {host}")
            );
            assert!(!err.message.contains("SECRET") && !err.message.contains("steal"));
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert_eq!(
            hits.load(std::sync::atomic::Ordering::SeqCst),
            0,
            "no request went to the Location"
        );
    }

    #[tokio::test]
    async fn bodies_over_the_cap_are_refused() {
        // Declared too large: refused from the header alone.
        let declared = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{{}}",
            MAX_BODY_BYTES + 1
        );
        let (url, server) = serve_once(declared.into_bytes()).await;
        let err = send("p", client().get(&url), || NOW).await.unwrap_err();
        server.abort();
        assert_eq!(err.message, "p: response larger than 4 MiB; not read");
        // Undeclared (chunked, then close): cut off while reading.
        let mut chunked = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n".to_vec();
        let piece = vec![b' '; 1024 * 1024];
        for _ in 0..5 {
            chunked.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
            chunked.extend_from_slice(&piece);
            chunked.extend_from_slice(b"\r\n");
        }
        chunked.extend_from_slice(b"0\r\n\r\n");
        let (url, server) = serve_once(chunked).await;
        let err = send("p", client().get(&url), || NOW).await.unwrap_err();
        server.abort();
        assert_eq!(err.kind, ErrorKind::Parse);
        assert!(err.message.contains("larger than 4 MiB"), "{}", err.message);
        // At the cap exactly: read.
        let mut exact = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {MAX_BODY_BYTES}\r\nconnection: close\r\n\r\n{{}}"
        )
        .into_bytes();
        exact.resize(exact.len() + MAX_BODY_BYTES - 2, b' ');
        let (url, server) = serve_once(exact).await;
        let body = send("p", client().get(&url), || NOW).await.unwrap();
        server.await.unwrap();
        assert_eq!(body.len(), MAX_BODY_BYTES);
    }
}
