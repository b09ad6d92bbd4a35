//! The connection scheduler: a few runner threads serve every connection.
//!
//! A thread per connection sleeps in `recv` after every reply and is woken
//! by the next request: two task switches per round trip, and with more
//! connections than cores most of the kernel's time goes to switching.
//! Here, idle connections wait in one epoll set instead. A runner takes the
//! next connection that has input (one-shot, so exactly one runner gets
//! it), answers everything that has arrived, re-arms it and takes the next;
//! while there is work, a runner never sleeps.
//!
//! About as many runners as cores are *active* at a time. A runner that is
//! about to sleep on something another connection must finish (a lock, the
//! group commit's WAL flush) tells the scheduler through the engine's
//! blocking hook (`sargdb_engine::blocking`): it stops counting as active
//! and a spare thread (parked, or new) takes its place at the epoll set.
//! When it has answered its connection it rejoins, or parks as a spare if
//! enough runners are active. A monitor thread does the same for a runner
//! that has been busy with one connection's input for a few milliseconds (a
//! long query, a slow disk read), so that a handful of long statements
//! never holds up everybody else. So a connection's work runs on one thread
//! at a time, but not always the same thread.

use std::net::TcpStream;
use std::os::fd::{AsFd, OwnedFd};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Condvar, Mutex};
use rustix::event::epoll;
use rustix::net::{RecvFlags, SendFlags};

use crate::worker::BACKEND_STACK_SIZE;

/// One connection, as the scheduler sees it.
pub trait Task: Send {
    /// Serves what has arrived; called when the socket is readable.
    fn run(&mut self, shutdown: &AtomicBool) -> Step;
    /// The server is shutting down while the task waits: end it (FATAL).
    fn shut_down(&mut self);
}

/// What a task wants after a run.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// Wait for more input.
    Wait,
    /// The connection is over.
    Close,
}

/// How often an idle runner looks at the shutdown flag.
const IDLE_POLL: Duration = Duration::from_millis(200);
/// How long a runner polls for input before it sleeps (`next_event`).
const SPIN: Duration = Duration::from_micros(50);
/// The monitor's tick.
const TICK: Duration = Duration::from_millis(2);
/// A spare that nobody needed for this long ends its thread.
const SPARE_LINGER: Duration = Duration::from_secs(10);

const IDLE: u8 = 0;
const BUSY: u8 = 1;
/// Busy, but not counted as active: it sleeps (or runs long), and another
/// runner took its place.
const DETACHED: u8 = 2;

/// A runner's state, seen by the monitor and the blocking hook.
struct Runner {
    state: AtomicU8,
    /// The monitor tick at which the current task started.
    since: AtomicU64,
}

struct Slot {
    generation: u32,
    task: Option<Box<dyn Task>>,
    /// The connection's socket (a second descriptor of it), watched by the
    /// epoll set; shared with the runner serving the task.
    socket: Option<Arc<OwnedFd>>,
}

#[derive(Default)]
struct Slab {
    slots: Vec<Slot>,
    free: Vec<u32>,
}

#[derive(Default)]
struct Spares {
    parked: usize,
    /// Wake-ups handed out and not yet taken.
    tokens: usize,
}

/// The scheduler of one server.
pub struct Scheduler {
    epoll: OwnedFd,
    slab: Mutex<Slab>,
    /// Runners wanted active (the number of cores).
    target: usize,
    /// Runners neither parked nor detached.
    active: AtomicUsize,
    spares: Mutex<Spares>,
    spare_cv: Condvar,
    runners: Mutex<Vec<Arc<Runner>>>,
    tick: AtomicU64,
    shutdown: AtomicBool,
    next_thread: AtomicU64,
    /// A runner is polling before it sleeps (`next_event`).
    spinning: AtomicBool,
}

thread_local! {
    /// The scheduler and runner record of the calling runner thread.
    static CURRENT: std::cell::RefCell<Option<(Arc<Scheduler>, Arc<Runner>)>> =
        const { std::cell::RefCell::new(None) };
}

impl Scheduler {
    /// Creates the epoll set and starts `target` runners (the number of
    /// cores when `None`) and the monitor.
    pub fn start(target: Option<usize>) -> std::io::Result<Arc<Scheduler>> {
        let epoll = epoll::create(epoll::CreateFlags::CLOEXEC)?;
        let target = target
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()))
            .max(1);
        let sched = Arc::new(Scheduler {
            epoll,
            slab: Mutex::new(Slab::default()),
            target,
            active: AtomicUsize::new(0),
            spares: Mutex::new(Spares::default()),
            spare_cv: Condvar::new(),
            runners: Mutex::new(Vec::new()),
            tick: AtomicU64::new(0),
            shutdown: AtomicBool::new(false),
            next_thread: AtomicU64::new(1),
            spinning: AtomicBool::new(false),
        });
        for _ in 0..target {
            sched.active.fetch_add(1, Ordering::SeqCst);
            sched.spawn_runner()?;
        }
        let s = Arc::clone(&sched);
        std::thread::Builder::new()
            .name("sargdb-monitor".into())
            .spawn(move || s.monitor())?;
        Ok(sched)
    }

    /// Adds a connection on `socket`. It is served from now on until its
    /// task closes or the server shuts down.
    pub fn register(self: &Arc<Self>, mut task: Box<dyn Task>, socket: &TcpStream) {
        if self.shutdown.load(Ordering::SeqCst) {
            task.shut_down();
            return;
        }
        let socket = match socket.try_clone() {
            Ok(s) => Arc::new(OwnedFd::from(s)),
            Err(e) => {
                tracing::warn!("could not watch a connection: {e}");
                task.shut_down();
                return;
            }
        };
        let id = {
            let mut slab = self.slab.lock();
            let index = match slab.free.pop() {
                Some(i) => i,
                None => {
                    slab.slots.push(Slot {
                        generation: 0,
                        task: None,
                        socket: None,
                    });
                    (slab.slots.len() - 1) as u32
                }
            };
            let slot = &mut slab.slots[index as usize];
            slot.generation = slot.generation.wrapping_add(1);
            slot.task = Some(task);
            slot.socket = Some(Arc::clone(&socket));
            u64::from(index) | (u64::from(slot.generation) << 32)
        };
        if let Err(e) = self.arm(&socket, id, false) {
            tracing::warn!("could not watch a connection: {e}");
            if let Some((mut t, _)) = self.take(id) {
                t.shut_down();
            }
            self.free(id);
        }
        // A shutdown that ran between the check above and the insert did
        // not see this task.
        if self.shutdown.load(Ordering::SeqCst) {
            self.close_idle();
        }
    }

    /// Ends every waiting connection and stops the runners; connections in
    /// the middle of a request end when it is answered.
    pub fn shut_down(&self) {
        self.shutdown.store(true, Ordering::SeqCst);
        self.close_idle();
        let _g = self.spares.lock();
        self.spare_cv.notify_all();
    }

    fn close_idle(&self) {
        let tasks: Vec<(Box<dyn Task>, Arc<OwnedFd>)> = {
            let mut slab = self.slab.lock();
            let Slab { slots, free } = &mut *slab;
            slots
                .iter_mut()
                .enumerate()
                .filter_map(|(i, s)| {
                    let t = s.task.take()?;
                    let fd = s.socket.take()?;
                    s.generation = s.generation.wrapping_add(1);
                    free.push(i as u32);
                    Some((t, fd))
                })
                .collect()
        };
        for (mut t, fd) in tasks {
            self.unwatch(&fd);
            t.shut_down();
        }
    }

    /// Watches `socket` for input (`again`: it was watched before), once.
    fn arm(&self, socket: &OwnedFd, id: u64, again: bool) -> std::io::Result<()> {
        let flags = epoll::EventFlags::IN | epoll::EventFlags::RDHUP | epoll::EventFlags::ONESHOT;
        let data = epoll::EventData::new_u64(id);
        if again {
            epoll::modify(&self.epoll, socket, data, flags)?;
        } else {
            epoll::add(&self.epoll, socket, data, flags)?;
        }
        Ok(())
    }

    fn unwatch(&self, socket: &OwnedFd) {
        let _ = epoll::delete(&self.epoll, socket);
    }

    /// The task of `id` and its socket, if it is still there.
    fn take(&self, id: u64) -> Option<(Box<dyn Task>, Arc<OwnedFd>)> {
        let mut slab = self.slab.lock();
        let slot = slab.slots.get_mut((id & 0xffff_ffff) as usize)?;
        if u64::from(slot.generation) != id >> 32 {
            return None;
        }
        let task = slot.task.take()?;
        Some((task, Arc::clone(slot.socket.as_ref()?)))
    }

    fn put_back(&self, id: u64, task: Box<dyn Task>) {
        let mut slab = self.slab.lock();
        if let Some(slot) = slab.slots.get_mut((id & 0xffff_ffff) as usize) {
            slot.task = Some(task);
        }
    }

    /// Forgets the (taken) task of `id`, closing the scheduler's descriptor.
    fn free(&self, id: u64) {
        let mut slab = self.slab.lock();
        let index = (id & 0xffff_ffff) as u32;
        if let Some(slot) = slab.slots.get_mut(index as usize) {
            if slot.task.is_none() && u64::from(slot.generation) == id >> 32 {
                slot.generation = slot.generation.wrapping_add(1);
                slot.socket = None;
                slab.free.push(index);
            }
        }
    }

    fn spawn_runner(self: &Arc<Self>) -> std::io::Result<()> {
        let s = Arc::clone(self);
        let n = self.next_thread.fetch_add(1, Ordering::Relaxed);
        std::thread::Builder::new()
            .name(format!("sargdb-runner-{n}"))
            .stack_size(BACKEND_STACK_SIZE)
            .spawn(move || s.runner_main())
            .map(|_| ())
    }

    /// One more active runner: wakes a spare, or starts a thread. The
    /// caller has counted it in `active`.
    fn add_runner(self: &Arc<Self>) {
        {
            let mut sp = self.spares.lock();
            if sp.parked > sp.tokens {
                sp.tokens += 1;
                self.spare_cv.notify_one();
                return;
            }
        }
        if let Err(e) = self.spawn_runner() {
            // The remaining runners go on; the monitor tries again.
            self.active.fetch_sub(1, Ordering::SeqCst);
            tracing::warn!("could not start a runner thread: {e}");
        }
    }

    /// `runner` stops counting as active (it waits, or runs long); another
    /// takes its place if too few are left.
    fn detach(self: &Arc<Self>, runner: &Runner) {
        if runner
            .state
            .compare_exchange(BUSY, DETACHED, Ordering::SeqCst, Ordering::SeqCst)
            .is_err()
        {
            return;
        }
        let left = self.active.fetch_sub(1, Ordering::SeqCst) - 1;
        if left < self.target && !self.shutdown.load(Ordering::SeqCst) {
            self.active.fetch_add(1, Ordering::SeqCst);
            self.add_runner();
        }
    }

    /// Whether this runner should step back (more than `target` active).
    fn surplus(&self) -> bool {
        let mut a = self.active.load(Ordering::SeqCst);
        while a > self.target {
            match self
                .active
                .compare_exchange(a, a - 1, Ordering::SeqCst, Ordering::SeqCst)
            {
                Ok(_) => return true,
                Err(now) => a = now,
            }
        }
        false
    }

    /// Parks a surplus runner; `true` when it was woken to run again
    /// (already counted active by the waker), `false` when it should end.
    fn park(&self) -> bool {
        let mut sp = self.spares.lock();
        sp.parked += 1;
        loop {
            if sp.tokens > 0 {
                sp.tokens -= 1;
                sp.parked -= 1;
                return true;
            }
            if self.shutdown.load(Ordering::SeqCst)
                || self.spare_cv.wait_for(&mut sp, SPARE_LINGER).timed_out() && sp.tokens == 0
            {
                sp.parked -= 1;
                return false;
            }
        }
    }

    fn runner_main(self: Arc<Self>) {
        let me = Arc::new(Runner {
            state: AtomicU8::new(IDLE),
            since: AtomicU64::new(0),
        });
        self.runners.lock().push(Arc::clone(&me));
        CURRENT.with(|c| *c.borrow_mut() = Some((Arc::clone(&self), Arc::clone(&me))));
        sargdb_engine::blocking::set_thread_hook(Some(blocking_hook));
        let mut events = [epoll::Event {
            flags: epoll::EventFlags::empty(),
            data: epoll::EventData::new_u64(0),
        }];
        let idle_poll = rustix::time::Timespec {
            tv_sec: 0,
            tv_nsec: IDLE_POLL.as_nanos() as _,
        };
        // Whether this thread still counts in `active` when it ends.
        let mut counted = true;
        loop {
            if self.shutdown.load(Ordering::SeqCst) {
                break;
            }
            if self.surplus() && !self.park() {
                counted = false;
                break;
            }
            let n = match self.next_event(&mut events, &idle_poll) {
                Ok(n) => n,
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => {
                    tracing::error!("waiting for connections failed: {e}");
                    std::thread::sleep(IDLE_POLL);
                    continue;
                }
            };
            if n == 0 {
                continue;
            }
            let id = events[0].data.u64();
            let Some((mut task, socket)) = self.take(id) else {
                continue;
            };
            me.since
                .store(self.tick.load(Ordering::Relaxed), Ordering::Relaxed);
            me.state.store(BUSY, Ordering::SeqCst);
            let step =
                catch_unwind(AssertUnwindSafe(|| task.run(&self.shutdown))).unwrap_or_else(|_| {
                    tracing::error!("a connection's task panicked");
                    Step::Close
                });
            if me.state.swap(IDLE, Ordering::SeqCst) == DETACHED {
                self.active.fetch_add(1, Ordering::SeqCst);
            }
            match step {
                Step::Wait if !self.shutdown.load(Ordering::SeqCst) => {
                    self.put_back(id, task);
                    if let Err(e) = self.arm(&socket, id, true) {
                        tracing::warn!("could not re-arm a connection: {e}");
                        if let Some((mut t, _)) = self.take(id) {
                            t.shut_down();
                        }
                        self.unwatch(&socket);
                        self.free(id);
                    }
                }
                Step::Wait => {
                    self.unwatch(&socket);
                    task.shut_down();
                    self.free(id);
                }
                Step::Close => {
                    self.unwatch(&socket);
                    drop(task);
                    self.free(id);
                }
            }
        }
        if counted {
            self.active.fetch_sub(1, Ordering::SeqCst);
        }
        self.runners.lock().retain(|r| !Arc::ptr_eq(r, &me));
        sargdb_engine::blocking::set_thread_hook(None);
        CURRENT.with(|c| *c.borrow_mut() = None);
    }

    /// Waits for a connection with input. Before sleeping, one runner at a
    /// time polls for a short while, yielding the core between polls: the
    /// next request of a busy client is usually microseconds away, and a
    /// core that went idle takes far longer than that to wake (on a virtual
    /// machine, an exit to the host).
    fn next_event(
        &self,
        events: &mut [epoll::Event; 1],
        idle_poll: &rustix::time::Timespec,
    ) -> rustix::io::Result<usize> {
        let zero = rustix::time::Timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        let n = epoll::wait(&self.epoll, &mut *events, Some(&zero))?;
        if n > 0 {
            return Ok(n);
        }
        if !self.spinning.swap(true, Ordering::AcqRel) {
            let start = std::time::Instant::now();
            let polled = loop {
                std::thread::yield_now();
                match epoll::wait(&self.epoll, &mut *events, Some(&zero)) {
                    Ok(0) if start.elapsed() < SPIN => continue,
                    other => break other,
                }
            };
            self.spinning.store(false, Ordering::Release);
            if polled != Ok(0) {
                return polled;
            }
        }
        epoll::wait(&self.epoll, &mut *events, Some(idle_poll))
    }

    /// Detaches runners that have been busy with one task for two ticks or
    /// more, and keeps `target` runners going.
    fn monitor(self: Arc<Self>) {
        let mut idle_ticks = 0u32;
        while !self.shutdown.load(Ordering::SeqCst) {
            std::thread::sleep(TICK);
            let now = self.tick.fetch_add(1, Ordering::Relaxed) + 1;
            let long: Vec<Arc<Runner>> = self
                .runners
                .lock()
                .iter()
                .filter(|r| {
                    r.state.load(Ordering::SeqCst) == BUSY
                        && now.saturating_sub(r.since.load(Ordering::Relaxed)) >= 2
                })
                .cloned()
                .collect();
            for r in &long {
                self.detach(r);
            }
            // A runner that failed to start is retried here.
            if self.active.load(Ordering::SeqCst) < self.target {
                idle_ticks += 1;
                if idle_ticks > 5 {
                    idle_ticks = 0;
                    self.active.fetch_add(1, Ordering::SeqCst);
                    self.add_runner();
                }
            } else {
                idle_ticks = 0;
            }
        }
    }
}

/// The engine's blocking hook on runner threads.
fn blocking_hook(enter: bool) {
    if !enter {
        // Rejoining happens when the task's run ends.
        return;
    }
    CURRENT.with(|c| {
        if let Some((sched, runner)) = &*c.borrow() {
            sched.detach(runner);
        }
    });
}

/// Reads what has arrived on a socket without waiting: `Ok(0)` is the end
/// of the stream, `WouldBlock` means nothing is there.
pub fn recv_now(socket: &impl AsFd, buf: &mut [u8]) -> std::io::Result<usize> {
    loop {
        match rustix::net::recv(socket, &mut *buf, RecvFlags::DONTWAIT) {
            Ok((n, _)) => return Ok(n),
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// Writes without waiting; returns how much went out.
pub fn send_now(socket: &impl AsFd, buf: &[u8]) -> std::io::Result<usize> {
    loop {
        match rustix::net::send(socket, buf, SendFlags::DONTWAIT | SendFlags::NOSIGNAL) {
            Ok(n) => return Ok(n),
            Err(rustix::io::Errno::INTR) => continue,
            Err(rustix::io::Errno::AGAIN) => return Ok(0),
            Err(e) => return Err(e.into()),
        }
    }
}
