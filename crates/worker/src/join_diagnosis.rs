//! Why a join attempt failed and what the operator should change: a wrong `--join` path, a
//! URL that is not a HyperFed hub (or is a worker), a wrong secret, clock skew, a taken alias
//! or a hub that cannot call the worker back. Pure functions, so each case is unit-tested.

use hyperfed_protocol::join::MAX_CLOCK_SKEW;
use serde_json::Value;

/// What kind of problem a failed join attempt had.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Problem {
    /// Nothing answers at the URL (connection refused, DNS, timeout).
    Unreachable,
    /// A HyperFed hub answers at the URL's host, but not at the URL's path.
    WrongPath,
    /// The URL is a HyperFed worker, not a hub.
    WorkerNotHub,
    /// Whatever answers is not a HyperFed hub.
    NotAHub,
    /// The hub refused the HMAC proof: the secrets differ.
    WrongSecret,
    /// The hub refused the proof's timestamp: the clocks differ by more than the allowed skew.
    ClockSkew,
    /// Another cluster holds the alias.
    AliasTaken,
    /// The hub could not call the worker back at its advertised URL.
    CallbackUnreachable,
    /// Anything else the hub refused (the message says what).
    Refused,
    /// A transient problem (replayed nonce, hub busy): retry soon.
    Transient,
}

/// One failed join attempt: its kind and a message that says what to change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Diagnosis {
    /// The kind of problem.
    pub problem: Problem,
    /// The operator-facing message.
    pub message: String,
}

impl Diagnosis {
    fn new(problem: Problem, message: String) -> Self {
        Diagnosis { problem, message }
    }

    /// True for problems that only the operator can fix (retry slowly, log loudly).
    pub fn needs_operator(&self) -> bool {
        !matches!(self.problem, Problem::Unreachable | Problem::Transient)
    }
}

/// The hub base URL from a `--join` value: a trailing `/`, `/mcp` or `/v1/join` is dropped
/// (the MCP URL is what every banner prints). Returns the base and whether it was changed.
pub(crate) fn hub_base(join_url: &str) -> (String, bool) {
    let mut base = join_url.trim().trim_end_matches('/').to_owned();
    let original = base.clone();
    for suffix in ["/v1/join", "/mcp"] {
        if let Some(stripped) = base.strip_suffix(suffix) {
            base = stripped.trim_end_matches('/').to_owned();
        }
    }
    let changed = base != original;
    (base, changed)
}

/// `scheme://authority` of a URL (for probing the host's `/health`).
pub(crate) fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    (!authority.is_empty()).then(|| format!("{scheme}://{authority}"))
}

/// The `error` field of a JSON error body, or the start of the body.
pub(crate) fn hub_message(body: &str) -> String {
    serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_owned))
        .unwrap_or_else(|| body.chars().take(200).collect())
}

/// What answers `GET /health` at the URL's host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Peer {
    /// A HyperFed hub (`{"status":"ok","clusters":..}`).
    Hub,
    /// A HyperFed worker (`{"status":"up","cluster_reachable":..}`).
    Worker,
    /// Something else, or nothing.
    Other,
}

/// Classifies a `/health` answer body.
pub(crate) fn classify_health(body: Option<&str>) -> Peer {
    let Some(v) = body.and_then(|b| serde_json::from_str::<Value>(b).ok()) else {
        return Peer::Other;
    };
    if v.get("clusters").is_some() && v.get("status").and_then(Value::as_str) == Some("ok") {
        Peer::Hub
    } else if v.get("cluster_reachable").is_some() || v.get("cluster").is_some() {
        Peer::Worker
    } else {
        Peer::Other
    }
}

/// Diagnoses a `POST <base>/v1/join` answer that was not a join response. `peer` is what
/// answers `/health` at the URL's origin, `skew_secs` this machine's clock minus the hub's
/// (from its `Date` header) and `worker_url` the URL the hub was asked to call back.
pub(crate) fn diagnose(
    join_url: &str,
    status: u16,
    body: &str,
    peer: Peer,
    skew_secs: Option<i64>,
    worker_url: &str,
) -> Diagnosis {
    let message = hub_message(body);
    let base = hub_base(join_url).0;
    let origin = origin_of(&base).unwrap_or_else(|| base.clone());
    match status {
        401 if message.contains("does not match the shared secret") => Diagnosis::new(
            Problem::WrongSecret,
            "the hub refused the join proof: this worker's join secret is not the hub's. Give the worker exactly the hub's secret (HYPERFED_SECRET, --secret or --secret-file) and restart it".into(),
        ),
        401 if message.contains("stale or from the future") => {
            let by = skew_secs
                .map(|s| {
                    let dir = if s > 0 { "ahead of" } else { "behind" };
                    format!(" (this machine's clock is {} s {dir} the hub's)", s.unsigned_abs())
                })
                .unwrap_or_default();
            Diagnosis::new(
                Problem::ClockSkew,
                format!(
                    "the hub refused the join proof's timestamp: the clocks of this machine and the hub differ by more than {} s{by}. Synchronise both clocks (NTP); the secret itself was not checked",
                    MAX_CLOCK_SKEW.as_secs()
                ),
            )
        }
        401 if message.contains("already used") || message.contains("too many join attempts") => {
            Diagnosis::new(Problem::Transient, format!("the hub refused the join: {message}; retrying"))
        }
        409 => Diagnosis::new(
            Problem::AliasTaken,
            format!("the hub refused the join: {message}. Pick another alias with --name (or stop the other worker)"),
        ),
        502 => Diagnosis::new(
            Problem::CallbackUnreachable,
            format!(
                "the hub accepted the secret but could not call this worker back at {}: {message}. Set --advertise to an MCP URL the hub can reach (http(s)://<host>:<port>/mcp) and allow it through firewalls",
                hyperfed_protocol::redact_uri(worker_url)
            ),
        ),
        400 if peer == Peer::Hub => Diagnosis::new(
            Problem::Refused,
            format!("the hub refused the join request: {message}"),
        ),
        503 | 429 => Diagnosis::new(
            Problem::Transient,
            format!("the hub is busy (HTTP {status}): {message}; retrying"),
        ),
        _ => match peer {
            Peer::Worker => Diagnosis::new(
                Problem::WorkerNotHub,
                format!(
                    "--join {join_url} is a HyperFed worker, not a hub. Point --join at the hub's URL (the `hyperfed hub` log prints it; its default is http://127.0.0.1:8000)"
                ),
            ),
            Peer::Hub => Diagnosis::new(
                Problem::WrongPath,
                format!(
                    "--join {join_url} has a path the hub does not serve (POST {base}/v1/join answered {status}). Give the hub's base URL: --join {origin}"
                ),
            ),
            Peer::Other => Diagnosis::new(
                Problem::NotAHub,
                format!(
                    "--join {join_url} is not a HyperFed hub (POST {base}/v1/join answered {status}: {}). Check the host and port: `hyperfed hub` listens on 127.0.0.1:8000 by default and logs the URL to join",
                    if message.is_empty() { "no message".to_owned() } else { message }
                ),
            ),
        },
    }
}

/// Diagnoses a request that got no HTTP answer at all.
pub(crate) fn unreachable(join_url: &str, error: &str) -> Diagnosis {
    Diagnosis::new(
        Problem::Unreachable,
        format!(
            "cannot reach the hub at {join_url} ({error}): is `hyperfed hub` running there, and is the port open from this machine? Retrying"
        ),
    )
}

/// Diagnoses a 200 answer whose body is not a join response.
pub(crate) fn not_a_join_response(join_url: &str) -> Diagnosis {
    Diagnosis::new(
        Problem::NotAHub,
        format!(
            "--join {join_url} answered the join with something that is not a HyperFed hub's answer. Check the host and port of --join"
        ),
    )
}

/// Seconds since the Unix epoch from an HTTP `Date` header (`Sun, 06 Nov 1994 08:49:37 GMT`).
pub(crate) fn parse_http_date(value: &str) -> Option<i64> {
    let mut parts = value.split_whitespace().skip(1);
    let day: i64 = parts.next()?.parse().ok()?;
    let month = match parts.next()? {
        "Jan" => 1,
        "Feb" => 2,
        "Mar" => 3,
        "Apr" => 4,
        "May" => 5,
        "Jun" => 6,
        "Jul" => 7,
        "Aug" => 8,
        "Sep" => 9,
        "Oct" => 10,
        "Nov" => 11,
        "Dec" => 12,
        _ => return None,
    };
    let year: i64 = parts.next()?.parse().ok()?;
    let mut hms = parts.next()?.split(':').map(|p| p.parse::<i64>().ok());
    let (h, m, s) = (hms.next()??, hms.next()??, hms.next()??);
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + h * 3600 + m * 60 + s)
}

#[cfg(test)]
mod tests {
    use super::*;

    const W: &str = "http://127.0.0.1:7777/mcp";

    #[test]
    fn the_mcp_url_is_accepted_as_the_hub_url() {
        assert_eq!(
            hub_base("http://hub:8000/mcp"),
            ("http://hub:8000".into(), true)
        );
        assert_eq!(
            hub_base("http://hub:8000/mcp/"),
            ("http://hub:8000".into(), true)
        );
        assert_eq!(
            hub_base("http://hub:8000/v1/join"),
            ("http://hub:8000".into(), true)
        );
        assert_eq!(
            hub_base("http://hub:8000/"),
            ("http://hub:8000".into(), false)
        );
        assert_eq!(
            origin_of("http://hub:8000/x/y").as_deref(),
            Some("http://hub:8000")
        );
    }

    #[test]
    fn each_refusal_says_what_to_change() {
        let secret = diagnose(
            "http://h:8000",
            401,
            r#"{"error":"join proof does not match the shared secret"}"#,
            Peer::Hub,
            None,
            W,
        );
        assert_eq!(secret.problem, Problem::WrongSecret);
        assert!(
            secret.message.contains("HYPERFED_SECRET"),
            "{}",
            secret.message
        );
        let skew = diagnose(
            "http://h:8000",
            401,
            r#"{"error":"join proof is stale or from the future (clock skew over 60 s)"}"#,
            Peer::Hub,
            Some(-95),
            W,
        );
        assert_eq!(skew.problem, Problem::ClockSkew);
        assert!(
            skew.message.contains("95 s behind") && skew.message.contains("NTP"),
            "{}",
            skew.message
        );
        let taken = diagnose(
            "http://h:8000",
            409,
            r#"{"error":"cluster alias 'dc1' is already used by cluster x; choose another with --name"}"#,
            Peer::Hub,
            None,
            W,
        );
        assert_eq!(taken.problem, Problem::AliasTaken);
        assert!(taken.message.contains("--name"));
        let back = diagnose(
            "http://h:8000",
            502,
            r#"{"error":"connection refused"}"#,
            Peer::Hub,
            None,
            W,
        );
        assert_eq!(back.problem, Problem::CallbackUnreachable);
        assert!(back.message.contains("--advertise"));
    }

    #[test]
    fn wrong_targets_are_told_apart() {
        let bearer = r#"{"error":"missing bearer token (Authorization: Bearer <token>)"}"#;
        let path = diagnose("http://h:8000/api", 404, "", Peer::Hub, None, W);
        assert_eq!(path.problem, Problem::WrongPath);
        assert!(
            path.message.contains("--join http://h:8000"),
            "{}",
            path.message
        );
        let worker = diagnose("http://h:7777", 401, bearer, Peer::Worker, None, W);
        assert_eq!(worker.problem, Problem::WorkerNotHub);
        assert!(worker.message.contains("not a hub"), "{}", worker.message);
        let other = diagnose("http://h:80", 404, "<html>", Peer::Other, None, W);
        assert_eq!(other.problem, Problem::NotAHub);
        assert!(other.message.contains("not a HyperFed hub"));
        assert_eq!(
            classify_health(Some(r#"{"status":"ok","clusters":2,"up":2}"#)),
            Peer::Hub
        );
        assert_eq!(
            classify_health(Some(r#"{"status":"up","cluster_reachable":true}"#)),
            Peer::Worker
        );
        assert_eq!(classify_health(Some("hello")), Peer::Other);
        assert!(!unreachable("http://h:1", "connection refused").needs_operator());
    }

    #[test]
    fn http_dates_parse() {
        assert_eq!(
            parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784_111_777)
        );
        assert_eq!(parse_http_date("garbage"), None);
    }
}
