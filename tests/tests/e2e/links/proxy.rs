//! A TCP proxy for tests that cuts an HTTP exchange at an exact byte, in the request or
//! the response, and the pseudo-random offsets it cuts at.

use super::TIMEOUT;
use client_core::sync::{HttpTransport, Transport, TransportError};
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};

/// Knuth's MMIX linear congruential generator: the same sequence on every run.
#[derive(Debug)]
pub(super) struct Lcg(pub(super) u64);

impl Lcg {
    pub(super) fn below(&mut self, bound: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 33) % bound as u64) as usize
    }
}

/// Which way the bytes that get cut flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Direction {
    /// Phone to server.
    Request,
    /// Server to phone.
    Response,
}

/// Where in an HTTP message the link breaks; resolved against the real message.
#[derive(Debug, Clone, Copy)]
pub(super) enum Offset {
    /// After this many bytes.
    Byte(usize),
    /// This far through the header, in thousandths.
    InHeader(usize),
    /// This far through the body, in thousandths.
    InBody(usize),
    /// This many bytes before the end.
    BeforeEnd(usize),
    /// This far through the whole message, in millionths.
    Through(usize),
}

impl Offset {
    pub(super) fn resolve(self, header: usize, total: usize) -> usize {
        let body = total - header;
        let at = match self {
            Offset::Byte(n) => n,
            Offset::InHeader(thousandths) => header * thousandths / 1000,
            Offset::InBody(thousandths) => header + body * thousandths / 1000,
            Offset::BeforeEnd(n) => total.saturating_sub(n),
            Offset::Through(millionths) => total * millionths / 1_000_000,
        };
        at.min(total)
    }
}

/// A link that breaks once: in `direction`, in the `message`th message that flows that way
/// (counted across connections), at `offset`.
#[derive(Debug, Clone, Copy)]
pub(super) struct Cut {
    pub(super) direction: Direction,
    pub(super) message: usize,
    pub(super) offset: Offset,
}

/// A TCP proxy in front of the server that breaks the link as told.
#[derive(Debug)]
pub(super) struct CuttingProxy {
    pub(super) address: SocketAddr,
    pub(super) shared: Arc<ProxyShared>,
    pub(super) accept: Option<JoinHandle<()>>,
}

#[derive(Debug)]
pub(super) struct ProxyShared {
    pub(super) upstream: SocketAddr,
    pub(super) link: Mutex<Arc<Link>>,
    pub(super) closing: AtomicBool,
    /// The status of every answer the server began to send.
    pub(super) statuses: Mutex<Vec<u16>>,
    /// Anything in the traffic the proxy could not follow.
    pub(super) surprises: Mutex<Vec<String>>,
}

/// One armed cut; connections accepted while it is armed follow it.
#[derive(Debug, Default)]
pub(super) struct Link {
    pub(super) cut: Option<Cut>,
    pub(super) messages: [AtomicUsize; 2],
    pub(super) cut_made: AtomicBool,
}

pub(super) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl CuttingProxy {
    pub(super) fn start(server_url: &str) -> CuttingProxy {
        let upstream: SocketAddr = server_url
            .strip_prefix("http://")
            .and_then(|address| address.parse().ok())
            .unwrap_or_else(|| panic!("not a local server: {server_url}"));
        assert!(upstream.ip().is_loopback());
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let shared = Arc::new(ProxyShared {
            upstream,
            link: Mutex::new(Arc::new(Link::default())),
            closing: AtomicBool::new(false),
            statuses: Mutex::new(Vec::new()),
            surprises: Mutex::new(Vec::new()),
        });
        let accepting = Arc::clone(&shared);
        let accept = thread::spawn(move || {
            for client in listener.incoming() {
                if accepting.closing.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = client else { continue };
                let link = Arc::clone(&lock(&accepting.link));
                let shared = Arc::clone(&accepting);
                thread::spawn(move || relay(client, &shared, &link));
            }
        });
        CuttingProxy {
            address,
            shared,
            accept: Some(accept),
        }
    }

    /// Breaks the link for connections from now on as `cut` says.
    pub(super) fn arm(&self, cut: Cut) -> Arc<Link> {
        let link = Arc::new(Link {
            cut: Some(cut),
            ..Link::default()
        });
        *lock(&self.shared.link) = Arc::clone(&link);
        link
    }

    /// A transport that sends a phone's requests through this proxy, leaving the phone's
    /// settings (and so its cursor) as they are.
    pub(super) fn via(&self, server_url: &str) -> Via {
        Via {
            server: server_url.to_owned(),
            proxy: format!("http://{}", self.address),
            http: HttpTransport::new(TIMEOUT),
        }
    }

    pub(super) fn statuses(&self) -> Vec<u16> {
        lock(&self.shared.statuses).clone()
    }

    pub(super) fn surprises(&self) -> Vec<String> {
        lock(&self.shared.surprises).clone()
    }
}

impl Drop for CuttingProxy {
    fn drop(&mut self) {
        self.shared.closing.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.address);
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }
}

/// Rewrites the server's address to the proxy's.
#[derive(Debug)]
pub(super) struct Via {
    pub(super) server: String,
    pub(super) proxy: String,
    pub(super) http: HttpTransport,
}

impl Transport for Via {
    fn post(&self, url: &str, token: &str, body: Vec<u8>) -> Result<Vec<u8>, TransportError> {
        let path = url
            .strip_prefix(&self.server)
            .unwrap_or_else(|| panic!("{url} is not on {}", self.server));
        self.http
            .post(&format!("{}{path}", self.proxy), token, body)
    }
}

/// Relays one connection both ways, breaking it where the link says.
pub(super) fn relay(client: TcpStream, shared: &ProxyShared, link: &Link) {
    let Ok(server) = TcpStream::connect(shared.upstream) else {
        return;
    };
    for stream in [&client, &server] {
        let _ = stream.set_nodelay(true);
        let _ = stream.set_read_timeout(Some(TIMEOUT));
    }
    let clones =
        || -> Option<[TcpStream; 2]> { Some([client.try_clone().ok()?, server.try_clone().ok()?]) };
    let (Some(up_ends), Some(down_ends), Ok(client_in), Ok(server_out)) =
        (clones(), clones(), client.try_clone(), server.try_clone())
    else {
        return;
    };
    thread::scope(|scope| {
        scope.spawn(|| {
            Pump::new(Direction::Request, shared, link, up_ends).run(client_in, server_out);
        });
        Pump::new(Direction::Response, shared, link, down_ends).run(server, client);
    });
}

/// Copies one direction of a connection, following its HTTP messages so a cut can fall at
/// an exact offset of a chosen one.
pub(super) struct Pump<'a> {
    pub(super) direction: Direction,
    pub(super) shared: &'a ProxyShared,
    pub(super) link: &'a Link,
    /// Both sockets of the connection, to break it in both directions at once.
    pub(super) ends: [TcpStream; 2],
    pub(super) position: Position,
}

/// Where a pump is in the message it relays.
pub(super) enum Position {
    /// Collecting a header; none of it forwarded yet.
    Header(Vec<u8>),
    /// `sent` of the message's `total` bytes forwarded; the link breaks after `cut_at`.
    Message {
        sent: usize,
        total: usize,
        cut_at: Option<usize>,
    },
}

/// The pump stops: the link broke, or a socket closed.
pub(super) struct Stop;

impl<'a> Pump<'a> {
    pub(super) fn new(
        direction: Direction,
        shared: &'a ProxyShared,
        link: &'a Link,
        ends: [TcpStream; 2],
    ) -> Pump<'a> {
        Pump {
            direction,
            shared,
            link,
            ends,
            position: Position::Header(Vec::new()),
        }
    }

    pub(super) fn run(mut self, mut from: TcpStream, mut to: TcpStream) {
        let mut buffer = vec![0u8; 16 * 1024];
        loop {
            let read = match from.read(&mut buffer) {
                Ok(0) | Err(_) => {
                    let _ = to.shutdown(Shutdown::Write);
                    return;
                }
                Ok(read) => read,
            };
            if self.relay(&buffer[..read], &mut to).is_err() {
                return;
            }
        }
    }

    pub(super) fn relay(&mut self, mut input: &[u8], to: &mut TcpStream) -> Result<(), Stop> {
        while !input.is_empty() {
            match &mut self.position {
                Position::Header(header) => {
                    let before = header.len();
                    header.extend_from_slice(input);
                    let Some(end) = header.windows(4).position(|w| w == b"\r\n\r\n") else {
                        return Ok(());
                    };
                    let length = end + 4;
                    header.truncate(length);
                    let header = std::mem::take(header);
                    input = &input[length - before..];
                    let total = length + self.body_length(&header);
                    let index =
                        self.link.messages[self.direction as usize].fetch_add(1, Ordering::SeqCst);
                    let cut_at = self
                        .link
                        .cut
                        .filter(|cut| cut.direction == self.direction && cut.message == index)
                        .map(|cut| cut.offset.resolve(length, total));
                    self.position = Position::Message {
                        sent: 0,
                        total,
                        cut_at,
                    };
                    self.forward(&header, to)?;
                }
                Position::Message { sent, total, .. } => {
                    let take = (*total - *sent).min(input.len());
                    let (chunk, rest) = input.split_at(take);
                    input = rest;
                    self.forward(chunk, to)?;
                }
            }
        }
        Ok(())
    }

    /// Forwards bytes of the current message, breaking the link if the cut falls in them.
    pub(super) fn forward(&mut self, bytes: &[u8], to: &mut TcpStream) -> Result<(), Stop> {
        let Position::Message {
            sent,
            total,
            cut_at,
        } = &mut self.position
        else {
            return Err(Stop);
        };
        if let Some(at) = *cut_at
            && at <= *sent + bytes.len()
        {
            let _ = to.write_all(&bytes[..at - *sent]);
            let _ = to.flush();
            self.link.cut_made.store(true, Ordering::SeqCst);
            for end in &self.ends {
                let _ = end.shutdown(Shutdown::Both);
            }
            return Err(Stop);
        }
        to.write_all(bytes).map_err(|_| Stop)?;
        *sent += bytes.len();
        if *sent == *total {
            self.position = Position::Header(Vec::new());
        }
        Ok(())
    }

    /// The body length a header announces; records the status of answers.
    pub(super) fn body_length(&self, header: &[u8]) -> usize {
        let text = String::from_utf8_lossy(header);
        let mut lines = text.split("\r\n");
        let first = lines.next().unwrap_or_default();
        if self.direction == Direction::Response {
            match first.split(' ').nth(1).and_then(|code| code.parse().ok()) {
                Some(status) => lock(&self.shared.statuses).push(status),
                None => lock(&self.shared.surprises).push(format!("status line {first:?}")),
            }
        }
        let mut length = 0;
        for (name, value) in lines.filter_map(|line| line.split_once(':')) {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().unwrap_or_else(|_| {
                    lock(&self.shared.surprises).push(format!("content-length {value:?}"));
                    0
                });
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                lock(&self.shared.surprises).push(format!("{first}: transfer-encoding {value}"));
            }
        }
        length
    }
}
