//! Scoped client tokens: the hub key kept in `hub.key` in the data directory, the JWT claims
//! (`read`, `operate`, `admin`) signed with it, and what each scope may see and call.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use hyperfed_protocol::join::unix_now;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore as _;
use serde::{Deserialize, Serialize};

use crate::error::HubError;

/// File name of the hub key inside the data directory.
pub const KEY_FILE: &str = "hub.key";
/// Longest lifetime a scoped token may be issued with.
pub const MAX_TTL: Duration = Duration::from_secs(366 * 24 * 3600);
/// Grace period after a token's expiry for clock differences between the machine that issued
/// it and the hub: a token is refused (401) once expiry plus this leeway has passed, on REST
/// and on every request of an open MCP session.
pub const TOKEN_LEEWAY: Duration = Duration::from_secs(5);
/// File in the data directory listing issued tokens (one JSON object per line, no token).
pub const ISSUED_FILE: &str = "tokens-issued.jsonl";
/// File in the data directory listing revoked token ids (`jti`), one per line.
pub const REVOKED_FILE: &str = "tokens-revoked";

/// What a client token allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Sees and calls only read-only tools (and the fleet tools).
    Read,
    /// Also runs actions (power, snapshot, clone, export), but no raw API writes.
    Operate,
    /// Everything, including raw API writes.
    Admin,
}

impl Scope {
    /// The scope's lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Operate => "operate",
            Scope::Admin => "admin",
        }
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Scope {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "read" => Ok(Scope::Read),
            "operate" => Ok(Scope::Operate),
            "admin" => Ok(Scope::Admin),
            other => Err(format!(
                "invalid scope {other:?}: expected read, operate or admin"
            )),
        }
    }
}

/// The 32-byte HMAC key scoped tokens are signed with, and (for a data directory) the
/// revocation list checked on every verify; its Debug form is redacted.
#[derive(Clone)]
pub struct HubKey([u8; 32], Option<Arc<Revocations>>);

/// The revocation file's (modified time, length) when read, and the ids it held.
type RevokedCache = (
    Option<(std::time::SystemTime, u64)>,
    std::collections::HashSet<String>,
);

/// The revoked token ids of a data directory, re-read whenever the file changes (so
/// `hyperfed token revoke` takes effect on a running hub).
pub struct Revocations {
    path: PathBuf,
    cache: std::sync::Mutex<RevokedCache>,
    /// Ids revoked fleet-wide (hub replicas on NATS), added as the fleet's list changes.
    fleet: std::sync::RwLock<std::collections::HashSet<String>>,
}

impl Revocations {
    /// The revocation list kept in `DIR/tokens-revoked`.
    pub fn new(data_dir: &Path) -> Self {
        Revocations {
            path: data_dir.join(REVOKED_FILE),
            cache: std::sync::Mutex::new((None, Default::default())),
            fleet: Default::default(),
        }
    }

    /// Adds an id revoked fleet-wide.
    pub(crate) fn add_fleet(&self, jti: String) {
        if let Ok(mut f) = self.fleet.write() {
            f.insert(jti);
        }
    }

    /// The ids in this data directory's list that the fleet's list lacks.
    pub(crate) fn local_only(&self) -> Vec<String> {
        // Refresh the file cache first (the id looked up is never a real one).
        let _ = self.contains("");
        let local = self.cache.lock().map(|c| c.1.clone()).unwrap_or_default();
        let fleet = self.fleet.read().map(|f| f.clone()).unwrap_or_default();
        local.difference(&fleet).cloned().collect()
    }

    /// True when `jti` is on the list (an unreadable list revokes nothing).
    pub fn contains(&self, jti: &str) -> bool {
        if self.fleet.read().is_ok_and(|f| f.contains(jti)) {
            return true;
        }
        let stamp = std::fs::metadata(&self.path)
            .ok()
            .map(|m| (m.modified().unwrap_or(std::time::UNIX_EPOCH), m.len()));
        let Ok(mut cache) = self.cache.lock() else {
            return false;
        };
        if cache.0 != stamp {
            let text = std::fs::read_to_string(&self.path).unwrap_or_default();
            cache.1 = text
                .lines()
                .map(|l| l.split('#').next().unwrap_or("").trim().to_owned())
                .filter(|l| !l.is_empty())
                .collect();
            cache.0 = stamp;
        }
        cache.1.contains(jti)
    }
}

impl std::fmt::Debug for HubKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HubKey([redacted])")
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<[u8; 32]> {
    let s = s.trim();
    if s.len() != 64 || !s.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

impl HubKey {
    /// A fresh random key (for hubs without a data directory).
    pub fn generate() -> Self {
        let mut key = [0u8; 32];
        rand::rng().fill_bytes(&mut key);
        HubKey(key, None)
    }

    /// The revocation list this key checks (keys of a data directory have one).
    pub(crate) fn revocations(&self) -> Option<Arc<Revocations>> {
        self.1.clone()
    }

    /// The key file path in a data directory.
    pub fn path(data_dir: &Path) -> PathBuf {
        data_dir.join(KEY_FILE)
    }

    /// Reads `DIR/hub.key`, creating the directory and a new random key (mode 0600) if absent.
    pub fn load_or_create(data_dir: &Path) -> Result<Self, HubError> {
        let revocations = Some(Arc::new(Revocations::new(data_dir)));
        Self::load_or_create_key(data_dir).map(|k| HubKey(k.0, revocations))
    }

    fn load_or_create_key(data_dir: &Path) -> Result<Self, HubError> {
        let path = Self::path(data_dir);
        if let Some(key) = Self::read(&path)? {
            return Ok(key);
        }
        std::fs::create_dir_all(data_dir).map_err(|e| {
            HubError::Config(format!(
                "cannot create the data directory {}: {e}",
                data_dir.display()
            ))
        })?;
        let key = Self::generate();
        // Write a private temporary file, then link it into place: the link fails if another
        // process created the key meanwhile, and readers never see a half-written key.
        let tmp = data_dir.join(format!(
            ".{KEY_FILE}.{}.{:08x}.tmp",
            std::process::id(),
            rand::rng().next_u32()
        ));
        let written = write_private(&tmp, hex(&key.0).as_bytes());
        let linked = written.and_then(|()| std::fs::hard_link(&tmp, &path));
        let _ = std::fs::remove_file(&tmp);
        match linked {
            Ok(()) => Ok(key),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Self::read(&path)?
                .ok_or_else(|| {
                    HubError::Config(format!("the key file {} is unreadable", path.display()))
                }),
            Err(e) => Err(HubError::Config(format!(
                "cannot write the hub key {}: {e}",
                path.display()
            ))),
        }
    }

    fn read(path: &Path) -> Result<Option<Self>, HubError> {
        match std::fs::read_to_string(path) {
            Ok(text) => unhex(&text).map(|k| Some(HubKey(k, None))).ok_or_else(|| {
                HubError::Config(format!(
                    "the key file {} is not 64 hex digits; delete it to make a new key (every issued token becomes invalid)",
                    path.display()
                ))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(HubError::Config(format!(
                "cannot read the hub key {}: {e}",
                path.display()
            ))),
        }
    }
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let _ = std::fs::remove_file(path);
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// The claims of a scoped client token (HS256 JWT signed with the hub key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientClaims {
    /// Who the token was issued to (goes into the audit record).
    pub sub: String,
    /// What the token allows.
    pub scope: Scope,
    /// Issued at (Unix seconds).
    pub iat: u64,
    /// Expires at (Unix seconds).
    pub exp: u64,
    /// Unique token id.
    pub jti: String,
}

/// Why a presented client token was refused.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The token's lifetime is over.
    #[error("the bearer token has expired; issue a new one with `hyperfed token issue`")]
    Expired,
    /// Wrong signature, wrong algorithm or not a token at all.
    #[error("the bearer token is not valid for this hub")]
    Invalid,
    /// Revoked with `hyperfed token revoke`.
    #[error("the bearer token was revoked (hyperfed token revoke); ask for a new one")]
    Revoked,
}

impl ClientClaims {
    /// Claims for `subject` with `scope`, valid from now for `ttl`.
    pub fn new(subject: &str, scope: Scope, ttl: Duration) -> Self {
        let now = unix_now();
        let mut jti = [0u8; 16];
        rand::rng().fill_bytes(&mut jti);
        ClientClaims {
            sub: subject.to_owned(),
            scope,
            iat: now,
            exp: now.saturating_add(ttl.as_secs().max(1)),
            jti: hex(&jti),
        }
    }

    /// Signs the claims into a compact JWT.
    pub fn sign(&self, key: &HubKey) -> String {
        // HS256 over a serde struct cannot fail; an empty token is never accepted.
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            self,
            &EncodingKey::from_secret(&key.0),
        )
        .unwrap_or_default()
    }

    /// Checks the signature (HS256 only) and expiry of `token`.
    pub fn verify(key: &HubKey, token: &str) -> Result<Self, TokenError> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = TOKEN_LEEWAY.as_secs();
        validation.set_required_spec_claims(&["exp", "sub"]);
        validation.validate_aud = false;
        jsonwebtoken::decode::<ClientClaims>(token, &DecodingKey::from_secret(&key.0), &validation)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => TokenError::Expired,
                _ => TokenError::Invalid,
            })
            .and_then(|d| match &key.1 {
                Some(revoked) if revoked.contains(&d.claims.jti) => Err(TokenError::Revoked),
                _ => Ok(d.claims),
            })
    }
}

impl ClientClaims {
    /// The claims of a token signed with `key`, expired or revoked or not (to revoke it).
    pub fn read_any(key: &HubKey, token: &str) -> Option<Self> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.validate_exp = false;
        validation.set_required_spec_claims(&["sub"]);
        validation.validate_aud = false;
        jsonwebtoken::decode::<ClientClaims>(token, &DecodingKey::from_secret(&key.0), &validation)
            .ok()
            .map(|d| d.claims)
    }
}

/// Issues a scoped token signed with `DIR/hub.key` (created if absent; works while the hub runs).
pub fn issue_token(
    data_dir: &Path,
    scope: Scope,
    ttl: Duration,
    subject: &str,
) -> Result<String, HubError> {
    if ttl.is_zero() || ttl > MAX_TTL {
        return Err(HubError::Config(format!(
            "--ttl must be between 1s and {} days",
            MAX_TTL.as_secs() / 86400
        )));
    }
    let subject = subject.trim();
    if subject.is_empty()
        || subject.len() > 64
        || !subject
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._@-".contains(c))
    {
        return Err(HubError::Config(
            "--subject must be 1-64 characters of letters, digits, '.', '_', '@' or '-'".into(),
        ));
    }
    let key = HubKey::load_or_create(data_dir)?;
    let claims = ClientClaims::new(subject, scope, ttl);
    // The list `hyperfed token list` shows; the token itself is never stored.
    let record = serde_json::json!({
        "jti": claims.jti, "sub": claims.sub, "scope": claims.scope,
        "iat": claims.iat, "exp": claims.exp,
    });
    append_line(&data_dir.join(ISSUED_FILE), &record.to_string())?;
    Ok(claims.sign(&key))
}

/// Appends one line to a private (0600) file in the data directory.
pub fn append_line(path: &Path, line: &str) -> Result<(), HubError> {
    let mut options = std::fs::OpenOptions::new();
    options.append(true).create(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    options
        .open(path)
        .and_then(|mut f| writeln!(f, "{line}"))
        .map_err(|e| HubError::Config(format!("cannot write {}: {e}", path.display())))
}

/// Who the auth middleware let in: the audit subject and what their token allows.
#[derive(Debug, Clone)]
pub(crate) struct Principal {
    /// `bearer-token`, `anonymous` or a scoped token's subject.
    pub subject: Arc<str>,
    /// The token's scope (`admin` for the static token and for hubs without authentication).
    pub scope: Scope,
    /// True for a scoped JWT (the audit subject then names its scope).
    pub scoped: bool,
}

impl Principal {
    /// The caller of a hub without client authentication.
    pub(crate) fn anonymous() -> Self {
        Principal {
            subject: Arc::from("anonymous"),
            scope: Scope::Admin,
            scoped: false,
        }
    }

    /// The audit record's subject, e.g. `alice (scope operate) via mcp`.
    pub(crate) fn audit_subject(&self, channel: &str) -> String {
        if self.scoped {
            format!("{} (scope {}) via {channel}", self.subject, self.scope)
        } else {
            format!("{} via {channel}", self.subject)
        }
    }
}

/// The name of the raw API escape hatch whose non-GET requests need `admin`.
pub(crate) const RAW_TOOL: &str = "api_request";

/// Why `scope` may not call worker tool `tool` (`mutating` from its annotations), or None.
pub(crate) fn refusal(
    scope: Scope,
    exported: &str,
    tool: Option<&str>,
    mutating: bool,
    args: &serde_json::Map<String, serde_json::Value>,
) -> Option<String> {
    if scope == Scope::Read && mutating {
        return Some(format!(
            "refused: this token has scope 'read', which may call only read-only tools; '{exported}' changes the cluster and needs scope 'operate' (or 'admin')"
        ));
    }
    if scope < Scope::Admin && tool == Some(RAW_TOOL) {
        let method = match args.get("method") {
            None | Some(serde_json::Value::Null) => Some("GET".to_owned()),
            Some(serde_json::Value::String(m)) => Some(m.trim().to_ascii_uppercase()),
            Some(_) => None,
        };
        if method.as_deref() != Some("GET") {
            let shown = method.unwrap_or_else(|| "non-GET".into());
            let shown: String = shown.chars().take(16).collect();
            return Some(format!(
                "refused: this token has scope '{scope}'; raw API writes ('{exported}' with method {shown}) need scope 'admin' (only GET is allowed below admin)"
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tokens_round_trip_and_are_bound_to_the_key() {
        let key = HubKey::generate();
        let t = ClientClaims::new("alice", Scope::Operate, Duration::from_secs(60)).sign(&key);
        let c = ClientClaims::verify(&key, &t).unwrap();
        assert_eq!((c.sub.as_str(), c.scope), ("alice", Scope::Operate));
        assert!(matches!(
            ClientClaims::verify(&HubKey::generate(), &t),
            Err(TokenError::Invalid)
        ));
        let mut old = ClientClaims::new("bob", Scope::Read, Duration::from_secs(60));
        old.exp = unix_now() - 3600;
        assert!(matches!(
            ClientClaims::verify(&key, &old.sign(&key)),
            Err(TokenError::Expired)
        ));
        assert!(matches!(
            ClientClaims::verify(&key, "nonsense"),
            Err(TokenError::Invalid)
        ));
        assert!(!format!("{key:?}").contains(&hex(&key.0)));
    }

    #[test]
    fn key_file_is_created_once_and_private() {
        let dir = std::env::temp_dir().join(format!("hyperfed-key-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let t = issue_token(&dir, Scope::Read, Duration::from_secs(60), "ci").unwrap();
        let key = HubKey::load_or_create(&dir).unwrap();
        assert_eq!(ClientClaims::verify(&key, &t).unwrap().scope, Scope::Read);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(HubKey::path(&dir))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(issue_token(&dir, Scope::Read, Duration::ZERO, "ci").is_err());
        assert!(issue_token(&dir, Scope::Read, Duration::from_secs(5), "a b").is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn expiry_is_enforced_after_the_named_leeway() {
        let key = HubKey::generate();
        let leeway = TOKEN_LEEWAY.as_secs();
        let mut c = ClientClaims::new("late", Scope::Read, Duration::from_secs(60));
        c.exp = unix_now() - leeway + 2;
        assert!(
            ClientClaims::verify(&key, &c.sign(&key)).is_ok(),
            "inside the leeway"
        );
        c.exp = unix_now() - leeway - 2;
        assert!(matches!(
            ClientClaims::verify(&key, &c.sign(&key)),
            Err(TokenError::Expired)
        ));
    }

    #[test]
    fn a_revoked_token_is_refused_and_others_are_not() {
        let dir = std::env::temp_dir().join(format!("hyperfed-revoke-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let a = issue_token(&dir, Scope::Read, Duration::from_secs(60), "a").unwrap();
        let b = issue_token(&dir, Scope::Read, Duration::from_secs(60), "b").unwrap();
        let key = HubKey::load_or_create(&dir).unwrap();
        let jti = ClientClaims::verify(&key, &a).unwrap().jti;
        let issued = std::fs::read_to_string(dir.join(ISSUED_FILE)).unwrap();
        assert_eq!(issued.lines().count(), 2);
        assert!(issued.contains(&jti) && !issued.contains(&a));
        append_line(&dir.join(REVOKED_FILE), &jti).unwrap();
        assert!(matches!(
            ClientClaims::verify(&key, &a),
            Err(TokenError::Revoked)
        ));
        assert!(ClientClaims::verify(&key, &b).is_ok());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn scope_rules() {
        let none = serde_json::Map::new();
        let post = json!({"method": "post", "path": "/x"});
        let post = post.as_object().unwrap();
        assert!(refusal(Scope::Read, "vm_list", Some("vm_list"), false, &none).is_none());
        assert!(refusal(Scope::Read, "vm_start", Some("vm_start"), true, &none).is_some());
        assert!(refusal(Scope::Operate, "vm_stop", Some("vm_stop"), true, &none).is_none());
        assert!(
            refusal(
                Scope::Operate,
                "a__api_request",
                Some(RAW_TOOL),
                true,
                &none
            )
            .is_none()
        );
        let m = refusal(Scope::Operate, "a__api_request", Some(RAW_TOOL), true, post).unwrap();
        assert!(
            m.contains("'operate'") && m.contains("'admin'") && m.contains("POST"),
            "{m}"
        );
        assert!(refusal(Scope::Admin, "a__api_request", Some(RAW_TOOL), true, post).is_none());
        assert_eq!("Operate".parse::<Scope>(), Ok(Scope::Operate));
        assert!("root".parse::<Scope>().is_err());
    }
}
