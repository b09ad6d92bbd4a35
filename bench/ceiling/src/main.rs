//! A PostgreSQL wire-protocol server that does no SQL work: it answers
//! pgbench's start-up queries (the scale and the partitioning query) and
//! every extended-protocol execution with one constant row. What pgbench
//! reaches against it is this machine's ceiling for a server, given the
//! kernel's loopback TCP and pgbench's own CPU.
//!
//! It serves connections the way sargdb's scheduler does (one epoll set
//! per lane, as many lanes as cores, edge-triggered, up to 16 reports per
//! wait, 50 µs of polling before sleeping), so that the ratio sargdb /
//! ceiling measures sargdb's own work per request.
//!
//! Usage: sargdb-ceiling ADDR [SCALE]   (SCALE: what `count(*)` answers)

use std::collections::HashMap;
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rustix::event::epoll;

const BATCH: usize = 16;
const SPIN: Duration = Duration::from_micros(50);

fn message(out: &mut Vec<u8>, tag: u8, body: &[u8]) {
    out.push(tag);
    out.extend_from_slice(&((body.len() + 4) as u32).to_be_bytes());
    out.extend_from_slice(body);
}

/// RowDescription of `n` text columns.
fn row_description(out: &mut Vec<u8>, n: usize) {
    let mut b = (n as u16).to_be_bytes().to_vec();
    for i in 0..n {
        b.extend_from_slice(format!("c{i}\0").as_bytes());
        b.extend_from_slice(&0u32.to_be_bytes()); // table oid
        b.extend_from_slice(&0u16.to_be_bytes()); // column number
        b.extend_from_slice(&25u32.to_be_bytes()); // text
        b.extend_from_slice(&(-1i16).to_be_bytes());
        b.extend_from_slice(&(-1i32).to_be_bytes());
        b.extend_from_slice(&0u16.to_be_bytes()); // text format
    }
    message(out, b'T', &b);
}

fn data_row(out: &mut Vec<u8>, values: &[Option<&str>]) {
    let mut b = (values.len() as u16).to_be_bytes().to_vec();
    for v in values {
        match v {
            Some(s) => {
                b.extend_from_slice(&(s.len() as i32).to_be_bytes());
                b.extend_from_slice(s.as_bytes());
            }
            None => b.extend_from_slice(&(-1i32).to_be_bytes()),
        }
    }
    message(out, b'D', &b);
}

struct Conn {
    socket: TcpStream,
    started: bool,
    input: Vec<u8>,
    out: Vec<u8>,
}

impl Conn {
    /// Answers every complete message in `input`; `false` ends the
    /// connection.
    fn answer(&mut self, scale: &str) -> bool {
        loop {
            if !self.started {
                if self.input.len() < 8 {
                    return true;
                }
                let len = u32::from_be_bytes(self.input[0..4].try_into().unwrap()) as usize;
                if !(8..=10_000).contains(&len) {
                    return false;
                }
                if self.input.len() < len {
                    return true;
                }
                let code = u32::from_be_bytes(self.input[4..8].try_into().unwrap());
                self.input.drain(..len);
                if code == 80877103 {
                    // SSLRequest: no.
                    self.out.push(b'N');
                    continue;
                }
                message(&mut self.out, b'R', &0u32.to_be_bytes());
                for (k, v) in [
                    ("server_version", "15.0"),
                    ("server_encoding", "UTF8"),
                    ("client_encoding", "UTF8"),
                    ("standard_conforming_strings", "on"),
                    ("integer_datetimes", "on"),
                ] {
                    message(&mut self.out, b'S', format!("{k}\0{v}\0").as_bytes());
                }
                message(&mut self.out, b'K', &[0, 0, 0, 1, 0, 0, 0, 2]);
                message(&mut self.out, b'Z', b"I");
                self.started = true;
                continue;
            }
            if self.input.len() < 5 {
                return true;
            }
            let tag = self.input[0];
            let len = u32::from_be_bytes(self.input[1..5].try_into().unwrap()) as usize;
            if !(4..=1 << 20).contains(&len) {
                return false;
            }
            if self.input.len() < len + 1 {
                return true;
            }
            let describe_statement = tag == b'D' && self.input.get(5) == Some(&b'S');
            let query = (tag == b'Q')
                .then(|| String::from_utf8_lossy(&self.input[5..len + 1]).to_lowercase());
            self.input.drain(..len + 1);
            match tag {
                b'Q' => {
                    let q = query.unwrap_or_default();
                    if q.contains("partstrat") {
                        // pgbench's partitioning query: not partitioned.
                        row_description(&mut self.out, 3);
                        data_row(&mut self.out, &[Some("1"), None, Some("0")]);
                        message(&mut self.out, b'C', b"SELECT 1\0");
                    } else if q.contains("count(*)") {
                        row_description(&mut self.out, 1);
                        data_row(&mut self.out, &[Some(scale)]);
                        message(&mut self.out, b'C', b"SELECT 1\0");
                    } else {
                        message(&mut self.out, b'C', b"SET\0");
                    }
                    message(&mut self.out, b'Z', b"I");
                }
                b'P' => message(&mut self.out, b'1', &[]),
                b'B' => message(&mut self.out, b'2', &[]),
                b'D' => {
                    if describe_statement {
                        message(&mut self.out, b't', &[0, 1, 0, 0, 0, 23]);
                    }
                    row_description(&mut self.out, 1);
                }
                b'E' => {
                    data_row(&mut self.out, &[Some("0")]);
                    message(&mut self.out, b'C', b"SELECT 1\0");
                }
                b'S' => message(&mut self.out, b'Z', b"I"),
                b'C' => message(&mut self.out, b'3', &[]),
                b'X' => return false,
                _ => {}
            }
        }
    }
}

type Lane = Arc<Mutex<HashMap<u64, Conn>>>;

fn serve_lane(set: Arc<std::os::fd::OwnedFd>, conns: Lane, scale: String) {
    let mut events = [epoll::Event {
        flags: epoll::EventFlags::empty(),
        data: epoll::EventData::new_u64(0),
    }; BATCH];
    let mut buf = vec![0u8; 64 * 1024];
    let zero = rustix::time::Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    loop {
        let start = Instant::now();
        let n = loop {
            match epoll::wait(&*set, &mut events[..], Some(&zero)) {
                Ok(0) if start.elapsed() < SPIN => std::thread::yield_now(),
                Ok(0) => break epoll::wait(&*set, &mut events[..], None).unwrap_or(0),
                Ok(n) => break n,
                Err(_) => break 0,
            }
        };
        let mut map = conns.lock().unwrap();
        for e in &events[..n] {
            let id = e.data.u64();
            let Some(c) = map.get_mut(&id) else { continue };
            let mut keep = true;
            loop {
                match rustix::net::recv(&c.socket, &mut buf, rustix::net::RecvFlags::DONTWAIT) {
                    Ok((0, _)) => keep = false,
                    Ok((r, _)) => {
                        c.input.extend_from_slice(&buf[..r]);
                        keep = c.answer(&scale);
                        if !c.out.is_empty() {
                            keep &= (&c.socket).write_all(&c.out).is_ok();
                            c.out.clear();
                        }
                        if keep && r == buf.len() {
                            continue;
                        }
                    }
                    Err(rustix::io::Errno::AGAIN) => {}
                    Err(_) => keep = false,
                }
                break;
            }
            if !keep {
                let _ = epoll::delete(&*set, c.socket.as_fd());
                map.remove(&id);
            }
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let addr = args.get(1).map(String::as_str).unwrap_or("127.0.0.1:5433");
    let scale = args.get(2).cloned().unwrap_or_else(|| "10".into());
    let listener = TcpListener::bind(addr).unwrap_or_else(|e| panic!("bind {addr}: {e}"));
    let lanes = std::thread::available_parallelism().map_or(2, |n| n.get());
    let mut sets = Vec::new();
    let mut maps: Vec<Lane> = Vec::new();
    for _ in 0..lanes {
        let set = Arc::new(epoll::create(epoll::CreateFlags::CLOEXEC).expect("epoll"));
        let map: Lane = Arc::default();
        let (s, m, sc) = (Arc::clone(&set), Arc::clone(&map), scale.clone());
        std::thread::spawn(move || serve_lane(s, m, sc));
        sets.push(set);
        maps.push(map);
    }
    for (id, socket) in listener.incoming().flatten().enumerate() {
        let _ = socket.set_nodelay(true);
        let lane = id % lanes;
        let Ok(watched) = socket.try_clone() else {
            continue;
        };
        maps[lane].lock().unwrap().insert(
            id as u64,
            Conn {
                socket,
                started: false,
                input: Vec::new(),
                out: Vec::new(),
            },
        );
        let flags = epoll::EventFlags::IN | epoll::EventFlags::RDHUP | epoll::EventFlags::ET;
        if epoll::add(
            &*sets[lane],
            watched.as_fd(),
            epoll::EventData::new_u64(id as u64),
            flags,
        )
        .is_err()
        {
            maps[lane].lock().unwrap().remove(&(id as u64));
        }
        // The lane holds the connection's socket; this second descriptor
        // only had to live until it was watched.
        drop(watched);
    }
}
