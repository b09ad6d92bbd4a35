//! The connection scheduler: a few runner threads serve every connection.
//!
//! A thread per connection sleeps in `recv` after every reply and is woken
//! by the next request: two task switches per round trip, and with more
//! connections than cores most of the kernel's time goes to switching.
//! Here, idle connections wait in epoll sets instead, one per *lane*, and
//! there are as many lanes as cores. Each connection belongs to one lane
//! for its life (a new one joins the lane with the fewest connections).
//! The thread that holds a lane takes the connections of the lane that
//! have input (up to `BATCH` from one wait) and answers everything that has
//! arrived on each in turn. While its lane has work it never sleeps, and a
//! connection keeps meeting the same thread (and core caches) unless that
//! thread had to wait.
//! Sockets are watched edge-triggered: a run reads until a read comes back
//! short, and input that arrives later is reported again, so a round trip
//! costs no system call to re-arm the socket.
//!
//! A thread about to sleep on something another connection must finish (a
//! lock, the group commit's WAL flush, a client that does not read) tells
//! the scheduler through the engine's blocking hook
//! (`sargdb_engine::blocking`): it gives up its lane, and a spare thread
//! (parked, or new) takes the lane over. When the waiting thread has
//! answered its connection, it parks as a spare until a lane is free again.
//! A monitor thread does the same for a thread that has been busy with one
//! connection's input for a few milliseconds (a long query, a slow disk
//! read), so that a long statement never holds up the rest of its lane.
//! So a connection's work runs on one thread at a time, but not always the
//! same thread.
//!
//! A task can also stop in the middle of its input without blocking its
//! thread: it returns `Step::Wait` and keeps a `Waker` (`current_waker`),
//! which someone calls when the task can go on (a commit is durable).
//! Waking puts the connection on its lane's ready list and signals the
//! lane's eventfd, which sits in the lane's epoll set beside the sockets.

use std::os::fd::{AsFd, OwnedFd};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

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
/// How long a lane's thread polls for input before it sleeps
/// (`next_event`).
const SPIN: Duration = Duration::from_micros(50);
/// How many reported connections a lane's thread takes from one wait:
/// with several clients busy, one `epoll_wait` then serves several round
/// trips (measured: 1.75 → 0.78 waits per pgbench select-only transaction
/// with 8 clients).
const BATCH: usize = 16;
/// The monitor's tick.
const TICK: Duration = Duration::from_millis(2);
/// A spare that nobody needed for this long ends its thread.
const SPARE_LINGER: Duration = Duration::from_secs(10);

const IDLE: u8 = 0;
const BUSY: u8 = 1;
/// Busy, but its lane was handed to another thread: it waits (or runs
/// long).
const DETACHED: u8 = 2;

/// The epoll data of a lane's eventfd: woken tasks are on the ready list.
const WAKE_ID: u64 = u64::MAX;

/// A runner thread's state, seen by the monitor and the blocking hook.
struct Runner {
    state: AtomicU8,
    /// The monitor tick at which the current task started.
    since: AtomicU64,
    /// The lane it holds (meaningful while not detached).
    lane: AtomicUsize,
    /// Connections of its lane reported by the last wait and not served
    /// yet (served in order; popped from the end), each with whether it was
    /// woken (rather than reported by its socket). Whoever detaches the
    /// thread has the lane report them again at once: one of them may be
    /// what the waiting task waits for.
    pending: Mutex<Vec<(u64, bool)>>,
    /// The connection it is running (for `current_waker`).
    task: AtomicU64,
}

struct Slot {
    generation: u32,
    task: Option<Box<dyn Task>>,
    /// The connection's socket (a second descriptor of it), watched by its
    /// lane's epoll set; shared with the thread serving the task.
    socket: Option<Arc<OwnedFd>>,
    lane: usize,
    /// Input was reported while another thread was running the task (it
    /// had given up the lane): look again when the task comes back.
    missed: bool,
    /// The task was woken while a thread was running it: run it again
    /// when it comes back.
    woken: bool,
}

#[derive(Default)]
struct Slab {
    slots: Vec<Slot>,
    free: Vec<u32>,
}

impl Slab {
    /// The slot of connection `id` (index in the low half, generation in
    /// the high half), unless the slot has moved on to another connection.
    fn slot(&mut self, id: u64) -> Option<&mut Slot> {
        let slot = self.slots.get_mut((id & 0xffff_ffff) as usize)?;
        (u64::from(slot.generation) == id >> 32).then_some(slot)
    }
}

/// Lanes no thread holds, and the spare threads waiting for one.
#[derive(Default)]
struct FreeLanes {
    lanes: Vec<usize>,
    /// Spare threads waiting in `acquire_lane`.
    waiting: usize,
}

/// The scheduler of one server.
pub struct Scheduler {
    /// One epoll set per lane.
    lanes: Vec<OwnedFd>,
    /// Per lane: connections woken by `Waker::wake`, and the eventfd (in
    /// the lane's set, as `WAKE_ID`) signalled when the list stops being
    /// empty.
    ready: Vec<Mutex<Vec<u64>>>,
    wakefds: Vec<OwnedFd>,
    slab: Mutex<Slab>,
    free_lanes: Mutex<FreeLanes>,
    lane_freed: Condvar,
    /// Where the round of lanes starts for the next connection.
    next_lane: AtomicUsize,
    /// Connections per lane: a new connection joins the least loaded.
    load: Vec<AtomicUsize>,
    runners: Mutex<Vec<Arc<Runner>>>,
    tick: AtomicU64,
    shutdown: AtomicBool,
    next_thread: AtomicU64,
}

thread_local! {
    /// The scheduler and runner record of the calling runner thread.
    static CURRENT: std::cell::RefCell<Option<(Arc<Scheduler>, Arc<Runner>)>> =
        const { std::cell::RefCell::new(None) };
}

impl Scheduler {
    /// Creates `lanes` lanes (the number of cores when `None`), a thread
    /// for each, and the monitor.
    pub fn start(lanes: Option<usize>) -> std::io::Result<Arc<Scheduler>> {
        let n = lanes
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()))
            .max(1);
        let mut epolls = Vec::with_capacity(n);
        let mut wakefds = Vec::with_capacity(n);
        for _ in 0..n {
            let set = epoll::create(epoll::CreateFlags::CLOEXEC)?;
            let fd = rustix::event::eventfd(
                0,
                rustix::event::EventfdFlags::CLOEXEC | rustix::event::EventfdFlags::NONBLOCK,
            )?;
            epoll::add(
                &set,
                &fd,
                epoll::EventData::new_u64(WAKE_ID),
                epoll::EventFlags::IN,
            )?;
            epolls.push(set);
            wakefds.push(fd);
        }
        let sched = Arc::new(Scheduler {
            lanes: epolls,
            ready: (0..n).map(|_| Mutex::new(Vec::new())).collect(),
            wakefds,
            slab: Mutex::new(Slab::default()),
            free_lanes: Mutex::new(FreeLanes::default()),
            lane_freed: Condvar::new(),
            next_lane: AtomicUsize::new(0),
            load: (0..n).map(|_| AtomicUsize::new(0)).collect(),
            runners: Mutex::new(Vec::new()),
            tick: AtomicU64::new(0),
            shutdown: AtomicBool::new(false),
            next_thread: AtomicU64::new(1),
        });
        for lane in 0..n {
            sched.spawn_runner(Some(lane))?;
        }
        let s = Arc::clone(&sched);
        std::thread::Builder::new()
            .name("sargdb-monitor".into())
            .spawn(move || s.monitor())?;
        Ok(sched)
    }

    /// Adds a connection; `socket` is a second descriptor of its socket,
    /// for the epoll set. It is served from now on until its task closes or
    /// the server shuts down.
    pub fn register(self: &Arc<Self>, mut task: Box<dyn Task>, socket: OwnedFd) {
        if self.shutdown.load(Ordering::SeqCst) {
            task.shut_down();
            return;
        }
        let socket = Arc::new(socket);
        let lane = self.pick_lane();
        let id = {
            let mut slab = self.slab.lock();
            let index = match slab.free.pop() {
                Some(i) => i,
                None => {
                    slab.slots.push(Slot {
                        generation: 0,
                        task: None,
                        socket: None,
                        lane: 0,
                        missed: false,
                        woken: false,
                    });
                    (slab.slots.len() - 1) as u32
                }
            };
            let slot = &mut slab.slots[index as usize];
            slot.generation = slot.generation.wrapping_add(1);
            slot.task = Some(task);
            slot.socket = Some(Arc::clone(&socket));
            slot.lane = lane;
            slot.missed = false;
            slot.woken = false;
            u64::from(index) | (u64::from(slot.generation) << 32)
        };
        if let Err(e) = self.watch(lane, &socket, id, false) {
            tracing::warn!("could not watch a connection: {e}");
            if let Some((t, _, _)) = self.take(id, false) {
                self.end(id, lane, &socket, t, true);
            }
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
        let _g = self.free_lanes.lock();
        self.lane_freed.notify_all();
    }

    fn close_idle(&self) {
        let tasks: Vec<(Box<dyn Task>, Arc<OwnedFd>, usize)> = {
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
                    self.load[s.lane].fetch_sub(1, Ordering::Relaxed);
                    Some((t, fd, s.lane))
                })
                .collect()
        };
        for (mut t, fd, lane) in tasks {
            self.unwatch(lane, &fd);
            t.shut_down();
        }
    }

    /// The lane with the fewest connections (counted in), starting the
    /// search at a rotating lane so that ties spread out.
    fn pick_lane(&self) -> usize {
        let n = self.lanes.len();
        let start = self.next_lane.fetch_add(1, Ordering::Relaxed) % n;
        let lane = (0..n)
            .map(|i| (start + i) % n)
            .min_by_key(|&l| self.load[l].load(Ordering::Relaxed))
            .unwrap_or(0);
        self.load[lane].fetch_add(1, Ordering::Relaxed);
        lane
    }

    /// Watches `socket` for input in `lane`'s set. `again` (it is watched
    /// already) reports it at once if it has input now.
    fn watch(&self, lane: usize, socket: &OwnedFd, id: u64, again: bool) -> std::io::Result<()> {
        let flags = epoll::EventFlags::IN | epoll::EventFlags::RDHUP | epoll::EventFlags::ET;
        let data = epoll::EventData::new_u64(id);
        if again {
            epoll::modify(&self.lanes[lane], socket, data, flags)?;
        } else {
            epoll::add(&self.lanes[lane], socket, data, flags)?;
        }
        Ok(())
    }

    /// Has the lane report connection `id` again if it has input (its
    /// report was taken by a thread that gave up the lane before serving it).
    fn report_again(&self, id: u64) {
        let (socket, lane) = {
            let mut slab = self.slab.lock();
            let Some(slot) = slab.slot(id) else {
                return;
            };
            let Some(socket) = slot.socket.clone() else {
                return;
            };
            (socket, slot.lane)
        };
        if let Err(e) = self.watch(lane, &socket, id, true) {
            tracing::warn!("could not watch a connection again: {e}");
        }
    }

    fn unwatch(&self, lane: usize, socket: &OwnedFd) {
        let _ = epoll::delete(&self.lanes[lane], socket);
    }

    /// The task of `id`, its socket and lane, if it is still there. A task
    /// that another thread is running is marked `missed` (or `woken`, if
    /// it was `woken` that it should run).
    fn take(&self, id: u64, woken: bool) -> Option<(Box<dyn Task>, Arc<OwnedFd>, usize)> {
        let mut slab = self.slab.lock();
        let slot = slab.slot(id)?;
        let Some(task) = slot.task.take() else {
            if woken {
                slot.woken = true;
            } else {
                slot.missed = true;
            }
            return None;
        };
        Some((task, Arc::clone(slot.socket.as_ref()?), slot.lane))
    }

    /// Returns a task after a run: whether input was reported meanwhile,
    /// and whether it was woken meanwhile.
    fn put_back(&self, id: u64, task: Box<dyn Task>) -> (bool, bool) {
        let mut slab = self.slab.lock();
        match slab.slot(id) {
            Some(slot) => {
                slot.task = Some(task);
                (
                    std::mem::take(&mut slot.missed),
                    std::mem::take(&mut slot.woken),
                )
            }
            None => (false, false),
        }
    }

    /// Has the task of `id` run again soon, whether or not its socket has
    /// input (see `Waker`).
    fn wake(&self, id: u64) {
        let lane = {
            let mut slab = self.slab.lock();
            let Some(slot) = slab.slot(id) else {
                return;
            };
            if slot.task.is_none() {
                // Running now: its thread runs it again when it is back.
                slot.woken = true;
                return;
            }
            slot.lane
        };
        self.make_ready(lane, id);
    }

    /// Puts `id` on `lane`'s ready list; signals the lane if the list was
    /// empty (else the signal is out already and not yet taken).
    fn make_ready(&self, lane: usize, id: u64) {
        let first = {
            let mut q = self.ready[lane].lock();
            q.push(id);
            q.len() == 1
        };
        if first {
            if let Err(e) = rustix::io::write(&self.wakefds[lane], &1u64.to_ne_bytes()) {
                tracing::warn!("could not signal a lane: {e}");
            }
        }
    }

    /// Takes `lane`'s ready list (after its signal was reported), in the
    /// order woken.
    fn take_ready(&self, lane: usize) -> Vec<u64> {
        let mut count = [0u8; 8];
        // Reset the signal first: a wake after the list is taken signals
        // again.
        let _ = rustix::io::read(&self.wakefds[lane], &mut count);
        std::mem::take(&mut *self.ready[lane].lock())
    }

    /// Ends the (taken) task of `id`: stops watching its socket, tells the
    /// client if `fatal` (the server is shutting down, or the socket could
    /// not be watched), and frees its slot.
    fn end(&self, id: u64, lane: usize, socket: &OwnedFd, mut task: Box<dyn Task>, fatal: bool) {
        self.unwatch(lane, socket);
        if fatal {
            task.shut_down();
        }
        drop(task);
        self.free(id);
    }

    /// Forgets the (taken) task of `id`, closing the scheduler's descriptor.
    fn free(&self, id: u64) {
        let mut slab = self.slab.lock();
        if let Some(slot) = slab.slot(id).filter(|s| s.task.is_none()) {
            slot.generation = slot.generation.wrapping_add(1);
            slot.socket = None;
            self.load[slot.lane].fetch_sub(1, Ordering::Relaxed);
            slab.free.push((id & 0xffff_ffff) as u32);
        }
    }

    fn spawn_runner(self: &Arc<Self>, lane: Option<usize>) -> std::io::Result<()> {
        let s = Arc::clone(self);
        let n = self.next_thread.fetch_add(1, Ordering::Relaxed);
        std::thread::Builder::new()
            .name(format!("sargdb-runner-{n}"))
            .stack_size(BACKEND_STACK_SIZE)
            .spawn(move || s.runner_main(lane))
            .map(|_| ())
    }

    /// Hands `lane` to a spare thread (a waiting one, or a new one).
    fn release_lane(self: &Arc<Self>, lane: usize) {
        let spawn = {
            let mut free = self.free_lanes.lock();
            free.lanes.push(lane);
            if free.waiting >= free.lanes.len() {
                self.lane_freed.notify_one();
                false
            } else {
                true
            }
        };
        if spawn && !self.shutdown.load(Ordering::SeqCst) {
            if let Err(e) = self.spawn_runner(None) {
                // The lane stays free; the monitor tries again.
                tracing::warn!("could not start a runner thread: {e}");
            }
        }
    }

    /// Waits for a free lane; `None` when none came for a while (the thread
    /// should end) or the server is shutting down.
    fn acquire_lane(&self) -> Option<usize> {
        let mut free = self.free_lanes.lock();
        loop {
            if self.shutdown.load(Ordering::SeqCst) {
                return None;
            }
            if let Some(l) = free.lanes.pop() {
                return Some(l);
            }
            free.waiting += 1;
            let timed_out = self
                .lane_freed
                .wait_for(&mut free, SPARE_LINGER)
                .timed_out();
            free.waiting -= 1;
            if timed_out && free.lanes.is_empty() {
                return None;
            }
        }
    }

    /// `runner` gives up its lane (it waits, or runs long): another thread
    /// takes it over.
    fn detach(self: &Arc<Self>, runner: &Runner) {
        if runner
            .state
            .compare_exchange(BUSY, DETACHED, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
        {
            self.release_lane(runner.lane.load(Ordering::SeqCst));
            self.report_pending(runner);
        }
    }

    /// Has the lane report again the connections `runner` was told of and
    /// has not served.
    fn report_pending(&self, runner: &Runner) {
        let ids = std::mem::take(&mut *runner.pending.lock());
        let lane = runner.lane.load(Ordering::SeqCst);
        for (id, woken) in ids {
            if woken {
                self.make_ready(lane, id);
            } else {
                self.report_again(id);
            }
        }
    }

    fn runner_main(self: Arc<Self>, first: Option<usize>) {
        let me = Arc::new(Runner {
            state: AtomicU8::new(IDLE),
            since: AtomicU64::new(0),
            lane: AtomicUsize::new(first.unwrap_or(0)),
            pending: Mutex::new(Vec::with_capacity(BATCH)),
            task: AtomicU64::new(0),
        });
        self.runners.lock().push(Arc::clone(&me));
        CURRENT.with(|c| *c.borrow_mut() = Some((Arc::clone(&self), Arc::clone(&me))));
        sargdb_engine::blocking::set_thread_hook(Some(blocking_hook));
        let mut events = [epoll::Event {
            flags: epoll::EventFlags::empty(),
            data: epoll::EventData::new_u64(0),
        }; BATCH];
        let mut lane = first;
        loop {
            let l = match lane {
                Some(l) => l,
                None => match self.acquire_lane() {
                    Some(l) => {
                        lane = Some(l);
                        l
                    }
                    None => break,
                },
            };
            if self.shutdown.load(Ordering::SeqCst) {
                break;
            }
            me.lane.store(l, Ordering::SeqCst);
            let next = me.pending.lock().pop();
            let (id, woken) = match next {
                Some(next) => next,
                None => {
                    let n = match self.next_event(l, &mut events) {
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
                    // Served in the order reported (woken ones where their
                    // signal was).
                    let mut pending = me.pending.lock();
                    for e in events[..n].iter().rev() {
                        match e.data.u64() {
                            WAKE_ID => pending
                                .extend(self.take_ready(l).into_iter().rev().map(|id| (id, true))),
                            id => pending.push((id, false)),
                        }
                    }
                    continue;
                }
            };
            let Some((mut task, socket, task_lane)) = self.take(id, woken) else {
                continue;
            };
            me.task.store(id, Ordering::Relaxed);
            me.since
                .store(self.tick.load(Ordering::Relaxed), Ordering::Relaxed);
            me.state.store(BUSY, Ordering::SeqCst);
            let step =
                catch_unwind(AssertUnwindSafe(|| task.run(&self.shutdown))).unwrap_or_else(|_| {
                    tracing::error!("a connection's task panicked");
                    Step::Close
                });
            if me.state.swap(IDLE, Ordering::SeqCst) == DETACHED {
                // Another thread holds the lane now (and has heard of the
                // connections this one had not served: `detach`).
                lane = None;
                self.report_pending(&me);
            }
            match step {
                Step::Close => self.end(id, task_lane, &socket, task, false),
                Step::Wait if self.shutdown.load(Ordering::SeqCst) => {
                    self.end(id, task_lane, &socket, task, true)
                }
                Step::Wait => {
                    // Input that came while the task was away was reported
                    // to the lane's (new) thread, which found no task: have
                    // it reported again. A wake meanwhile runs it again.
                    let (missed, woken) = self.put_back(id, task);
                    if woken {
                        self.make_ready(task_lane, id);
                    }
                    if missed {
                        if let Err(e) = self.watch(task_lane, &socket, id, true) {
                            tracing::warn!("could not watch a connection again: {e}");
                            if let Some((t, _, _)) = self.take(id, false) {
                                self.end(id, task_lane, &socket, t, true);
                            }
                        }
                    }
                }
            }
        }
        self.runners.lock().retain(|r| !Arc::ptr_eq(r, &me));
        sargdb_engine::blocking::set_thread_hook(None);
        CURRENT.with(|c| *c.borrow_mut() = None);
    }

    /// Waits for a connection of `lane` with input. Before sleeping, the
    /// thread polls for a short while, yielding the core between polls: the
    /// next request of a busy client is usually microseconds away, and a
    /// core that went idle takes far longer than that to wake (on a virtual
    /// machine, an exit to the host).
    fn next_event(
        &self,
        lane: usize,
        events: &mut [epoll::Event; BATCH],
    ) -> rustix::io::Result<usize> {
        let set = &self.lanes[lane];
        let zero = rustix::time::Timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        let start = Instant::now();
        loop {
            match epoll::wait(set, &mut *events, Some(&zero)) {
                Ok(0) if start.elapsed() < SPIN => std::thread::yield_now(),
                Ok(0) => break,
                other => return other,
            }
        }
        let idle_poll = rustix::time::Timespec {
            tv_sec: 0,
            tv_nsec: IDLE_POLL.as_nanos() as _,
        };
        epoll::wait(set, &mut *events, Some(&idle_poll))
    }

    /// Takes the lane from threads that have been busy with one task for
    /// two ticks or more, and finds a thread for a lane nobody took.
    fn monitor(self: Arc<Self>) {
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
            // A lane whose new thread failed to start.
            let orphan = {
                let free = self.free_lanes.lock();
                !free.lanes.is_empty() && free.waiting == 0
            };
            if orphan && now.is_multiple_of(8) {
                if let Err(e) = self.spawn_runner(None) {
                    tracing::warn!("could not start a runner thread: {e}");
                }
            }
        }
    }
}

/// Runs a task again (see the module docs): from any thread, once.
pub struct Waker {
    sched: Arc<Scheduler>,
    id: u64,
}

impl Waker {
    pub fn wake(self) {
        self.sched.wake(self.id);
    }
}

/// A waker for the task the calling runner thread is running; None on
/// other threads.
pub fn current_waker() -> Option<Waker> {
    CURRENT.with(|c| {
        c.borrow().as_ref().map(|(sched, runner)| Waker {
            sched: Arc::clone(sched),
            id: runner.task.load(Ordering::Relaxed),
        })
    })
}

/// The engine's blocking hook on runner threads. The thread looks for a
/// lane again when the task's run ends.
fn blocking_hook() {
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::unix::net::UnixStream;
    use std::sync::mpsc;

    /// A task that runs a closure once per report.
    struct FnTask<F: FnMut() -> Step + Send>(F);

    impl<F: FnMut() -> Step + Send> Task for FnTask<F> {
        fn run(&mut self, _shutdown: &AtomicBool) -> Step {
            (self.0)()
        }
        fn shut_down(&mut self) {}
    }

    /// A connection with a byte waiting: the scheduler's end of a socket
    /// pair (the test keeps the other end open).
    fn readable() -> (UnixStream, OwnedFd) {
        let (mut ours, theirs) = UnixStream::pair().unwrap();
        ours.write_all(b"x").unwrap();
        (ours, OwnedFd::from(theirs))
    }

    /// Two connections reported by one wait: the first one's task waits
    /// for the second's. The thread that took both reports gives up the
    /// lane, and the lane's next thread must hear of the second at once
    /// (not when the first is done, which would be never).
    #[test]
    fn a_waiting_task_does_not_keep_the_rest_of_its_batch() {
        let sched = Scheduler::start(Some(1)).unwrap();
        // Keep the lane's thread busy (without announcing a wait) until
        // both connections below have input, so that its successor finds
        // them in one wait. The monitor hands the lane over meanwhile.
        let (busy_tx, busy_rx) = mpsc::channel();
        let (busy_sock, fd) = readable();
        sched.register(
            Box::new(FnTask(move || {
                busy_tx.send(()).unwrap();
                std::thread::sleep(Duration::from_millis(60));
                Step::Wait
            })),
            fd,
        );
        busy_rx.recv_timeout(Duration::from_secs(5)).unwrap();

        let (signal_tx, signal_rx) = mpsc::channel::<()>();
        let (done_tx, done_rx) = mpsc::channel();
        let (waiter_sock, waiter_fd) = readable();
        let (signal_sock, signal_fd) = readable();
        let mut signal_rx = Some(signal_rx);
        sched.register(
            Box::new(FnTask(move || {
                sargdb_engine::blocking::about_to_wait();
                let got = signal_rx
                    .take()
                    .map(|rx| rx.recv_timeout(Duration::from_secs(5)).is_ok());
                done_tx.send(got).unwrap();
                Step::Close
            })),
            waiter_fd,
        );
        sched.register(
            Box::new(FnTask(move || {
                let _ = signal_tx.send(());
                Step::Close
            })),
            signal_fd,
        );
        let got = done_rx.recv_timeout(Duration::from_secs(10)).unwrap();
        assert_eq!(got, Some(true), "the second connection was not served");
        sched.shut_down();
        drop((busy_sock, waiter_sock, signal_sock));
    }

    /// A task woken through its `Waker` runs again although its socket has
    /// no new input: woken from another thread while it waits, and woken
    /// by itself while it runs (the wake must not get lost then).
    #[test]
    fn a_woken_task_runs_again_without_input() {
        for lanes in [1, 2] {
            let sched = Scheduler::start(Some(lanes)).unwrap();
            let (runs_tx, runs_rx) = mpsc::channel();
            let mut run = 0;
            let (sock, fd) = readable();
            sched.register(
                Box::new(FnTask(move || {
                    run += 1;
                    let waker = current_waker().expect("a runner thread has a waker");
                    match run {
                        // Woken later, from the test's thread.
                        1 => runs_tx.send((run, Some(waker))).unwrap(),
                        // Woken while still running.
                        2 => {
                            waker.wake();
                            runs_tx.send((run, None)).unwrap();
                        }
                        _ => runs_tx.send((run, None)).unwrap(),
                    }
                    Step::Wait
                })),
                fd,
            );
            let (first, waker) = runs_rx.recv_timeout(Duration::from_secs(5)).unwrap();
            assert_eq!(first, 1);
            // No second run without a wake (the socket has nothing new).
            assert!(runs_rx.recv_timeout(Duration::from_millis(100)).is_err());
            waker.unwrap().wake();
            let (second, _) = runs_rx
                .recv_timeout(Duration::from_secs(5))
                .expect("a woken task did not run");
            assert_eq!(second, 2);
            let (third, _) = runs_rx
                .recv_timeout(Duration::from_secs(5))
                .expect("a task woken while it ran did not run again");
            assert_eq!(third, 3);
            sched.shut_down();
            drop(sock);
        }
    }
}
