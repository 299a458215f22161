//! The HTTP edge: POSTs a signed batch and reports what happened. Names are resolved once per
//! connection by [`GuardedResolver`], which checks every address against the SSRF rules and
//! hands exactly those addresses to the connector: no second resolution, so no DNS rebinding.
//! Redirects are not followed; proxies from the environment are ignored.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::header::{HeaderMap, HeaderValue, CONTENT_TYPE, RETRY_AFTER, USER_AGENT};

use super::guard::{self, AllowList, GuardError};
use super::schedule::parse_retry_after;

pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// The default time an attempt may take in all (`Settings::timeout`).
pub const TOTAL_TIMEOUT: Duration = Duration::from_secs(15);
/// Bytes of a response body kept in the delivery log.
pub const RESPONSE_KEPT: usize = 1024;

/// What one POST gave.
#[derive(Debug, Clone, Default)]
pub struct Response {
    /// The HTTP status, when a response came.
    pub status: Option<u16>,
    pub latency: Duration,
    /// The first KiB of the response body (lossy UTF-8).
    pub body: Option<String>,
    /// A transport failure: refused address, connection, timeout, TLS.
    pub error: Option<String>,
    /// `Retry-After` in seconds, when the receiver sent one.
    pub retry_after: Option<Duration>,
    /// What kind of transport failure `error` is, when there was one.
    pub failure: Option<Failure>,
}

/// Kinds of transport failure, for the attempt metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The SSRF guard refused the address, or the URL.
    Refused,
    /// No answer within the request timeout.
    Timeout,
    /// Connecting failed, or the connection broke (reset, closed early, TLS).
    Connection,
}

/// Resolves a host once and refuses the whole name when any of its addresses is not allowed.
#[derive(Debug, Clone)]
pub struct GuardedResolver {
    allow: AllowList,
    https: bool,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let this = self.clone();
        Box::pin(async move {
            let addrs = resolve_checked(name.as_str(), this.https, &this.allow).await?;
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

/// Resolves `host` and checks every address; the port is left 0 (the connector sets it).
pub async fn resolve_checked(
    host: &str,
    https: bool,
    allow: &AllowList,
) -> Result<Vec<SocketAddr>, GuardError> {
    let addrs: Vec<SocketAddr> = match host.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, 0)],
        Err(_) => tokio::net::lookup_host((host, 0))
            .await
            .map_err(|_| GuardError::Unresolved(host.to_string()))?
            .collect(),
    };
    if addrs.is_empty() {
        return Err(GuardError::Unresolved(host.to_string()));
    }
    let literal = host.parse::<IpAddr>().is_ok();
    for addr in &addrs {
        match guard::check_addr(addr.ip(), https, allow) {
            // A name's addresses are not told: the guard must not map an internal network.
            Err(GuardError::Forbidden(_)) if !literal => {
                return Err(GuardError::NameForbidden(host.to_string()))
            }
            other => other?,
        }
    }
    Ok(addrs)
}

/// Checks a subscription URL as it is given: syntax, then every address it resolves to.
pub async fn check_url(url: &str, allow: &AllowList) -> Result<(), GuardError> {
    let (https, host, _) = guard::check_url(url)?;
    resolve_checked(&host, https, allow).await.map(|_| ())
}

/// Sends webhooks. Cheap to clone.
#[derive(Clone)]
pub struct Sender {
    https: reqwest::Client,
    http: reqwest::Client,
    allow: AllowList,
}

impl Sender {
    /// A sender whose attempts give up after `timeout` in all.
    pub fn new(allow: AllowList, timeout: Duration) -> Result<Sender, String> {
        let build = |https: bool| {
            reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .connect_timeout(CONNECT_TIMEOUT.min(timeout))
                .timeout(timeout)
                .no_proxy()
                .https_only(https)
                .dns_resolver(Arc::new(GuardedResolver {
                    allow: allow.clone(),
                    https,
                }))
                .build()
                .map_err(|e| e.to_string())
        };
        Ok(Sender {
            https: build(true)?,
            http: build(false)?,
            allow,
        })
    }

    /// POSTs `body` with the Standard Webhooks headers. Never fails: every outcome is a
    /// [`Response`].
    pub async fn post(
        &self,
        url: &str,
        webhook_id: &str,
        timestamp: i64,
        signature: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> Response {
        let started = Instant::now();
        let mut out = self
            .try_post(url, webhook_id, timestamp, signature, content_type, body)
            .await
            .unwrap_or_else(|(failure, error)| Response {
                error: Some(error),
                failure: Some(failure),
                ..Default::default()
            });
        out.latency = started.elapsed();
        out
    }

    async fn try_post(
        &self,
        url: &str,
        webhook_id: &str,
        timestamp: i64,
        signature: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> Result<Response, (Failure, String)> {
        let refused = |e: GuardError| (Failure::Refused, e.to_string());
        let (https, host, _) = guard::check_url(url).map_err(refused)?;
        // IP literals never reach the resolver: check them here.
        if let Ok(ip) = host.parse::<IpAddr>() {
            guard::check_addr(ip, https, &self.allow).map_err(refused)?;
        }
        let value =
            |s: &str| HeaderValue::from_str(s).map_err(|e| (Failure::Refused, e.to_string()));
        let mut headers = HeaderMap::new();
        headers.insert("webhook-id", value(webhook_id)?);
        headers.insert("webhook-timestamp", value(&timestamp.to_string())?);
        headers.insert("webhook-signature", value(signature)?);
        headers.insert(CONTENT_TYPE, value(content_type)?);
        headers.insert(
            USER_AGENT,
            value(concat!("partnerfeed-webhooks/", env!("CARGO_PKG_VERSION")))?,
        );
        let client = if https { &self.https } else { &self.http };
        let mut response = client
            .post(url)
            .headers(headers)
            .body(body)
            .send()
            .await
            .map_err(|e| (classify(&e), error_chain(&e)))?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        let mut kept = Vec::new();
        let mut error = None;
        let mut failure = None;
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    let room = RESPONSE_KEPT - kept.len();
                    kept.extend_from_slice(&chunk[..chunk.len().min(room)]);
                    if kept.len() >= RESPONSE_KEPT {
                        break;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    error = Some(error_chain(&e));
                    failure = Some(classify(&e));
                    break;
                }
            }
        }
        Ok(Response {
            status: Some(status),
            latency: Duration::ZERO,
            body: Some(String::from_utf8_lossy(&kept).into_owned()),
            error,
            retry_after,
            failure,
        })
    }
}

fn classify(e: &reqwest::Error) -> Failure {
    // The guarded resolver's refusal arrives wrapped as a connect error.
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        if cause.is::<GuardError>() {
            return Failure::Refused;
        }
        source = cause.source();
    }
    if e.is_timeout() {
        Failure::Timeout
    } else {
        Failure::Connection
    }
}

/// An error and its causes on one line (reqwest's own message alone says little).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = cause.source();
    }
    out
}
