//! Login sessions: a store bounded like HyperCore's `sessionLimit`, with least-recently-used
//! eviction and an optional idle lifetime.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// One live session.
#[derive(Debug, Clone)]
struct Session {
    last_used: Instant,
}

/// Outcome of checking a session cookie.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionCheck {
    /// Known and fresh.
    Valid,
    /// Unknown, evicted or expired.
    Invalid,
}

/// Live login sessions, bounded like HyperCore's `sessionLimit`: beyond the limit the
/// least-recently-used session is dropped.
pub struct SessionStore {
    sessions: HashMap<String, Session>,
    session_limit: usize,
}

impl SessionStore {
    /// An empty store holding at most `limit` sessions.
    pub fn new(limit: usize) -> Self {
        SessionStore {
            sessions: HashMap::new(),
            session_limit: limit.max(1),
        }
    }

    /// Records a new session, evicting the least-recently-used one beyond the limit.
    pub fn add(&mut self, id: String, now: Instant) {
        while self.sessions.len() >= self.session_limit {
            let oldest = self
                .sessions
                .iter()
                .min_by_key(|(_, s)| s.last_used)
                .map(|(k, _)| k.clone());
            match oldest {
                Some(k) => {
                    self.sessions.remove(&k);
                }
                None => break,
            }
        }
        self.sessions.insert(id, Session { last_used: now });
    }

    /// Checks (and touches) a session; `ttl` is the idle lifetime, if any.
    pub fn check(&mut self, id: &str, now: Instant, ttl: Option<Duration>) -> SessionCheck {
        let expired = match self.sessions.get_mut(id) {
            None => return SessionCheck::Invalid,
            Some(s) => match ttl {
                Some(ttl) if now.duration_since(s.last_used) > ttl => true,
                _ => {
                    s.last_used = now;
                    false
                }
            },
        };
        if expired {
            self.sessions.remove(id);
            return SessionCheck::Invalid;
        }
        SessionCheck::Valid
    }

    /// Destroys a session.
    pub fn remove(&mut self, id: &str) {
        self.sessions.remove(id);
    }

    /// Number of live sessions.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.sessions.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_lru_eviction() {
        let mut s = SessionStore::new(2);
        let t0 = Instant::now();
        s.add("a".into(), t0);
        s.add("b".into(), t0 + Duration::from_millis(1));
        // Touch "a" so "b" becomes least recently used.
        assert_eq!(
            s.check("a", t0 + Duration::from_millis(2), None),
            SessionCheck::Valid
        );
        s.add("c".into(), t0 + Duration::from_millis(3));
        assert_eq!(s.len(), 2);
        assert_eq!(
            s.check("b", t0 + Duration::from_millis(4), None),
            SessionCheck::Invalid
        );
        assert_eq!(
            s.check("a", t0 + Duration::from_millis(4), None),
            SessionCheck::Valid
        );
    }
}
