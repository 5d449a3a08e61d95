//! Host and Origin validation for browsers, one implementation for hub and worker: a
//! DNS-rebinding page (foreign `Host`) or a cross-site page (foreign `Origin`, ports included)
//! is refused before authentication, and state-changing REST calls must be JSON (a form or
//! `text/plain` POST, which a browser sends cross-site without a preflight, is refused).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// One allowed name, with the port it must be reached on (None: any port for `Host`).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    host: String,
    port: Option<u16>,
    /// A built-in loopback name: a browser Origin on it must use the server's own port.
    loopback: bool,
}

/// Which `Host` and `Origin` values a server accepts.
#[derive(Debug, Clone)]
pub struct HostPolicy {
    entries: Vec<Entry>,
    /// The port the server listens on.
    own_port: u16,
    /// `*` was given: no check at all.
    any: bool,
}

/// Splits `host[:port]` (or `[v6]:port`, or a bare IPv6 address) into a lowercase name and port.
fn split_authority(authority: &str) -> Option<(String, Option<u16>)> {
    let a = authority.trim().to_ascii_lowercase();
    if a.is_empty() {
        return None;
    }
    if let Some(rest) = a.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p.parse().ok()?),
            None if after.is_empty() => None,
            None => return None,
        };
        return Some((host.to_owned(), port));
    }
    if a.matches(':').count() > 1 {
        return Some((a, None)); // a bare IPv6 address
    }
    match a.rsplit_once(':') {
        Some((h, p)) => Some((h.to_owned(), Some(p.parse().ok()?))),
        None => Some((a, None)),
    }
}

/// An `Origin` value as (scheme, host, port), the port defaulted from the scheme.
fn parse_origin(origin: &str) -> Option<(String, String, u16)> {
    let (scheme, rest) = origin.trim().split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    let default = match scheme.as_str() {
        "http" => 80,
        "https" => 443,
        _ => return None,
    };
    if rest.contains(['/', '@', '?', '#']) {
        return None;
    }
    let (host, port) = split_authority(rest)?;
    Some((scheme, host, port.unwrap_or(default)))
}

impl HostPolicy {
    /// The loopback names, the bound address when it is a specific one, and `extra` entries
    /// (`host` or `host:port`; `*` disables the checks) for a server listening on `bound`.
    pub fn new(bound: SocketAddr, extra: &[String]) -> Self {
        let mut entries: Vec<Entry> = ["localhost", "127.0.0.1", "::1"]
            .into_iter()
            .map(|h| Entry {
                host: h.to_owned(),
                port: None,
                loopback: true,
            })
            .collect();
        let ip = bound.ip().to_string();
        if !bound.ip().is_unspecified() && !entries.iter().any(|e| e.host == ip) {
            entries.push(Entry {
                host: ip,
                port: None,
                loopback: true,
            });
        }
        let mut any = false;
        for e in extra {
            if e.trim() == "*" {
                any = true;
            } else if let Some((host, port)) = split_authority(e) {
                entries.push(Entry {
                    host,
                    port,
                    loopback: false,
                });
            }
        }
        HostPolicy {
            entries,
            own_port: bound.port(),
            any,
        }
    }

    /// True when checks are disabled (`*`).
    pub fn is_open(&self) -> bool {
        self.any
    }

    /// The entries in the `host` / `host:port` form rmcp's own Host check takes (empty, which
    /// rmcp reads as "any", when the checks are disabled).
    pub fn rmcp_hosts(&self) -> Vec<String> {
        if self.any {
            return Vec::new();
        }
        self.entries
            .iter()
            .map(|e| match (e.port, e.host.contains(':')) {
                (Some(p), true) => format!("[{}]:{p}", e.host),
                (Some(p), false) => format!("{}:{p}", e.host),
                (None, _) => e.host.clone(),
            })
            .collect()
    }

    /// True when a `Host` value names an allowed host (and its port, when the entry has one).
    pub fn host_allowed(&self, host: &str) -> bool {
        if self.any {
            return true;
        }
        let Some((name, port)) = split_authority(host) else {
            return false;
        };
        self.entries
            .iter()
            .any(|e| e.host == name && e.port.is_none_or(|p| Some(p) == port))
    }

    /// True when a browser page at `origin` may call this server reached as `host`: same
    /// origin as an allowed `Host`, an allowed name on the server's own port, an entry listed
    /// with that exact port, or a listed (non-loopback) name on its scheme's default port.
    pub fn origin_allowed(&self, origin: &str, host: Option<&str>) -> bool {
        if self.any {
            return true;
        }
        let Some((scheme, name, port)) = parse_origin(origin) else {
            return false; // `null`, unknown schemes, paths, credentials
        };
        let default = if scheme == "https" { 443 } else { 80 };
        if let Some(h) = host
            && self.host_allowed(h)
            && let Some((hn, hp)) = split_authority(h)
            && hn == name
            && hp.unwrap_or(default) == port
        {
            return true;
        }
        self.entries.iter().any(|e| {
            e.host == name
                && match e.port {
                    Some(p) => p == port,
                    None => port == self.own_port || (!e.loopback && port == default),
                }
        })
    }

    /// Why the request's `Host` or `Origin` is refused, or None.
    pub fn refusal(
        &self,
        headers: &HeaderMap,
        uri_authority: Option<&str>,
    ) -> Option<&'static str> {
        if self.any {
            return None;
        }
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .or(uri_authority);
        if let Some(origin) = headers.get(header::ORIGIN) {
            let ok = origin.to_str().is_ok_and(|o| self.origin_allowed(o, host));
            if !ok {
                return Some(
                    "Origin not allowed: browser requests are accepted only from this server's own origin or an --allowed-host entry with its port",
                );
            }
        }
        if let Some(h) = host
            && !self.host_allowed(h)
        {
            return Some("Host not allowed: add it with --allowed-host (DNS-rebinding protection)");
        }
        None
    }
}

fn forbidden(message: &str) -> Response {
    (
        StatusCode::FORBIDDEN,
        axum::Json(serde_json::json!({ "error": message })),
    )
        .into_response()
}

/// axum middleware: refuses a foreign `Origin` or `Host` with 403 before anything else runs.
pub async fn check_host_and_origin(
    State(policy): State<Arc<HostPolicy>>,
    req: Request,
    next: Next,
) -> Response {
    let authority = req.uri().authority().map(|a| a.as_str().to_owned());
    match policy.refusal(req.headers(), authority.as_deref()) {
        Some(why) => forbidden(why),
        None => next.run(req).await,
    }
}

/// axum middleware for REST: a state-changing request (POST, PUT, PATCH, DELETE) that carries
/// a content type must say `application/json`, and one with a body must carry it (415
/// otherwise), so a browser form or a `text/plain` fetch from another site cannot trigger it.
pub async fn require_json_body(req: Request, next: Next) -> Response {
    let changes = matches!(
        *req.method(),
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    );
    if changes && !req.uri().path().starts_with("/mcp") && !json_or_empty(req.headers()) {
        return (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            axum::Json(serde_json::json!({
                "error": "state-changing requests need Content-Type: application/json"
            })),
        )
            .into_response();
    }
    next.run(req).await
}

/// True for a JSON content type, or no content type and no body.
fn json_or_empty(headers: &HeaderMap) -> bool {
    match headers.get(header::CONTENT_TYPE) {
        Some(v) => v.to_str().is_ok_and(|v| {
            let v = v.trim_start().to_ascii_lowercase();
            v.starts_with("application/json")
        }),
        None => {
            let length = headers
                .get(header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok());
            length == Some(0)
                || (length.is_none() && !headers.contains_key(header::TRANSFER_ENCODING))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(extra: &[&str]) -> HostPolicy {
        let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        HostPolicy::new("127.0.0.1:8000".parse().unwrap(), &extra)
    }

    #[test]
    fn hosts_match_names_and_listed_ports() {
        let p = policy(&["hub.example:8080", "other.example"]);
        for (host, ok) in [
            ("127.0.0.1:7777", true),
            ("localhost", true),
            ("[::1]:80", true),
            ("evil.example", false),
            ("hub.example:8080", true),
            ("hub.example:9090", false),
            ("hub.example", false),
            ("other.example:1234", true),
            ("localhost.evil.example", false),
        ] {
            assert_eq!(p.host_allowed(host), ok, "{host}");
        }
        assert!(policy(&["*"]).host_allowed("anything.example"));
    }

    #[test]
    fn origins_compare_ports() {
        let p = policy(&["hub.example.com:8443", "public.example"]);
        let host = Some("127.0.0.1:8000");
        for (origin, ok) in [
            ("http://127.0.0.1:8000", true),
            ("http://localhost:8000", true),
            ("http://127.0.0.1:80", false),
            ("http://127.0.0.1", false),
            ("http://localhost:3000", false),
            ("https://hub.example.com:8443", true),
            ("https://hub.example.com", false),
            ("https://public.example", true),
            ("https://public.example:444", false),
            ("http://evil.example", false),
            ("https://hub.example.com.evil.example", false),
            ("null", false),
            ("http://localhost.evil.example:80", false),
            ("file://", false),
        ] {
            assert_eq!(p.origin_allowed(origin, host), ok, "{origin}");
        }
        // Same origin as an allowed Host (a proxy keeping the Host header).
        assert!(p.origin_allowed("https://public.example", Some("public.example")));
        assert!(!p.origin_allowed("http://evil.example", Some("evil.example")));
    }

    #[test]
    fn rmcp_form_keeps_ports() {
        let p = policy(&["hub.example:8080"]);
        let hosts = p.rmcp_hosts();
        assert!(hosts.contains(&"hub.example:8080".to_owned()), "{hosts:?}");
        assert!(hosts.contains(&"::1".to_owned()), "{hosts:?}");
    }

    #[test]
    fn state_changing_requests_need_json() {
        let h = |pairs: &[(&'static str, &'static str)]| {
            let mut m = HeaderMap::new();
            for (k, v) in pairs {
                m.insert(*k, v.parse().unwrap());
            }
            m
        };
        assert!(json_or_empty(&h(&[("content-type", "application/json")])));
        assert!(json_or_empty(&h(&[(
            "content-type",
            "Application/JSON; charset=utf-8"
        )])));
        assert!(json_or_empty(&h(&[])));
        assert!(json_or_empty(&h(&[("content-length", "0")])));
        assert!(!json_or_empty(&h(&[("content-type", "text/plain")])));
        assert!(!json_or_empty(&h(&[(
            "content-type",
            "application/x-www-form-urlencoded"
        )])));
        assert!(!json_or_empty(&h(&[("content-length", "2")])));
        assert!(!json_or_empty(&h(&[("transfer-encoding", "chunked")])));
    }
}
