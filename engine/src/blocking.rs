//! Waits that can take long, announced to whoever runs the calling thread.
//!
//! The server serves many connections on a few runner threads. When a
//! runner is about to sleep on something another connection must finish (a
//! row or table lock, the group commit's WAL flush, the fsync itself), the
//! connections it would have served next must not sleep with it: the
//! scheduler has to hand them to another thread first. The engine cannot
//! know about the scheduler, so the scheduler installs a per-thread hook
//! and every such wait runs inside a [`region`]: the hook hears `true`
//! when the outermost region starts and `false` when it ends. Threads
//! without a hook (tests, the checkpointer) pay two thread-local reads.

use std::cell::Cell;
use std::marker::PhantomData;

thread_local! {
    static HOOK: Cell<Option<fn(bool)>> = const { Cell::new(None) };
    static DEPTH: Cell<u32> = const { Cell::new(0) };
}

/// Installs (or with `None` removes) the calling thread's hook.
pub fn set_thread_hook(hook: Option<fn(bool)>) {
    HOOK.with(|h| h.set(hook));
}

/// A wait in progress; the region ends when this is dropped. Regions nest:
/// only the outermost calls the hook.
#[must_use = "the region ends when the guard is dropped"]
pub struct Region {
    /// Bound to the thread whose depth it counts.
    _not_send: PhantomData<*const ()>,
}

/// Enters a blocking region on the calling thread.
pub fn region() -> Region {
    let outer = DEPTH.with(|d| {
        let v = d.get();
        d.set(v + 1);
        v == 0
    });
    if outer {
        if let Some(hook) = HOOK.with(|h| h.get()) {
            hook(true);
        }
    }
    Region {
        _not_send: PhantomData,
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        let outer = DEPTH.with(|d| {
            let v = d.get().saturating_sub(1);
            d.set(v);
            v == 0
        });
        if outer {
            if let Some(hook) = HOOK.with(|h| h.get()) {
                hook(false);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    static ENTERED: AtomicUsize = AtomicUsize::new(0);
    static LEFT: AtomicUsize = AtomicUsize::new(0);

    fn hook(enter: bool) {
        if enter {
            ENTERED.fetch_add(1, Ordering::SeqCst);
        } else {
            LEFT.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn only_the_outermost_region_calls_the_hook() {
        std::thread::spawn(|| {
            let _ = region(); // no hook yet: nothing to call
            set_thread_hook(Some(hook));
            {
                let _a = region();
                assert_eq!(ENTERED.load(Ordering::SeqCst), 1);
                {
                    let _b = region();
                    assert_eq!(ENTERED.load(Ordering::SeqCst), 1);
                }
                assert_eq!(LEFT.load(Ordering::SeqCst), 0);
            }
            assert_eq!(LEFT.load(Ordering::SeqCst), 1);
            set_thread_hook(None);
            let _ = region();
            assert_eq!(ENTERED.load(Ordering::SeqCst), 1);
        })
        .join()
        .unwrap();
    }
}
