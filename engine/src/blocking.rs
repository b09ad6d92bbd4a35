//! Waits that can take long, announced to whoever runs the calling thread.
//!
//! The server serves many connections on a few runner threads. When a
//! runner is about to sleep on something another connection must finish (a
//! row or table lock, the group commit's WAL flush, the fsync itself), the
//! connections it would have served next must not sleep with it: the
//! scheduler has to hand them to another thread first. The engine cannot
//! know about the scheduler, so the scheduler installs a per-thread hook,
//! and the engine calls [`about_to_wait`] before each such wait. The hook
//! may be called several times during one request; threads without a hook
//! (tests, the checkpointer) pay one thread-local read.

use std::cell::Cell;

thread_local! {
    static HOOK: Cell<Option<fn()>> = const { Cell::new(None) };
}

/// Installs (or with `None` removes) the calling thread's hook.
pub fn set_thread_hook(hook: Option<fn()>) {
    HOOK.with(|h| h.set(hook));
}

/// The calling thread is about to wait for another connection's work, the
/// disk or the client.
pub fn about_to_wait() {
    if let Some(hook) = HOOK.with(Cell::get) {
        hook();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    static CALLS: AtomicUsize = AtomicUsize::new(0);

    fn hook() {
        CALLS.fetch_add(1, Ordering::SeqCst);
    }

    #[test]
    fn the_hook_hears_each_wait_of_its_own_thread_only() {
        std::thread::spawn(|| {
            about_to_wait(); // no hook yet: nothing to call
            set_thread_hook(Some(hook));
            about_to_wait();
            about_to_wait();
            assert_eq!(CALLS.load(Ordering::SeqCst), 2);
            std::thread::spawn(about_to_wait).join().unwrap();
            assert_eq!(CALLS.load(Ordering::SeqCst), 2);
            set_thread_hook(None);
            about_to_wait();
            assert_eq!(CALLS.load(Ordering::SeqCst), 2);
        })
        .join()
        .unwrap();
    }
}
