//! Cancel requests: which backend key belongs to which session.
//!
//! Each connection registers its (process id, secret key) with the session's
//! cancel flag; a CancelRequest arriving on a new connection looks the pair up
//! and sets the flag, which the executor checks (57014). The registry only
//! stores flags; it must not reach into sessions.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

/// The shared table of cancellable sessions.
#[derive(Debug)]
pub struct CancelRegistry {
    next_pid: AtomicI32,
    sessions: Mutex<HashMap<i32, (i32, Arc<AtomicBool>)>>,
}

impl Default for CancelRegistry {
    fn default() -> Self {
        CancelRegistry {
            next_pid: AtomicI32::new(1),
            sessions: Mutex::new(HashMap::new()),
        }
    }
}

impl CancelRegistry {
    /// Registers a session; the key is removed when the guard is dropped.
    pub fn register(self: &Arc<Self>, flag: Arc<AtomicBool>) -> Registration {
        let pid = self.next_pid.fetch_add(1, Ordering::Relaxed);
        let secret: i32 = rand::random();
        self.sessions.lock().insert(pid, (secret, flag));
        Registration {
            registry: Arc::clone(self),
            pid,
            secret,
        }
    }

    /// Sets the cancel flag of the session with this key; false if there is
    /// none (a wrong secret is treated like an unknown pid, as in Postgres).
    pub fn cancel(&self, pid: i32, secret: i32) -> bool {
        match self.sessions.lock().get(&pid) {
            Some((s, flag)) if *s == secret => {
                flag.store(true, Ordering::SeqCst);
                true
            }
            _ => false,
        }
    }

    /// Number of registered sessions.
    pub fn len(&self) -> usize {
        self.sessions.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A session's entry in the registry (BackendKeyData's pid and secret).
#[derive(Debug)]
pub struct Registration {
    registry: Arc<CancelRegistry>,
    pub pid: i32,
    pub secret: i32,
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.registry.sessions.lock().remove(&self.pid);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cancel_needs_the_right_secret() {
        let reg = Arc::new(CancelRegistry::default());
        let flag = Arc::new(AtomicBool::new(false));
        let r = reg.register(Arc::clone(&flag));
        assert!(!reg.cancel(r.pid, r.secret.wrapping_add(1)));
        assert!(!flag.load(Ordering::SeqCst));
        assert!(reg.cancel(r.pid, r.secret));
        assert!(flag.load(Ordering::SeqCst));
        let pid = r.pid;
        let secret = r.secret;
        drop(r);
        assert!(reg.is_empty());
        assert!(!reg.cancel(pid, secret));
    }
}
