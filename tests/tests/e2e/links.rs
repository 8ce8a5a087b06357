//! Retried requests and links cut at any byte: nothing lost, nothing duplicated.
//!
//! The protocol promises that any request may be sent again whole with no effect beyond the
//! first, and that a link dropping at any byte costs at most the round trip in flight. These
//! tests send a request twice, lose answers after the server committed them, and cut real
//! sync exchanges at chosen and pseudo-random byte offsets through a TCP proxy, in whole and
//! in small response pages; then they check that the phones, the server's change feed and
//! the register hold every change once.

use client_core::sync::{self, HttpTransport, SyncError, SyncReport, Transport, TransportError};
use doorstep_e2e::{Backend, COUNTY, HouseholdId, Phone, Server, TestDatabase, VILLAGE};
use schema::wire::{self, Cursor, Payload, SyncRequest, SyncResponse, Upload, UploadOutcome};
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// Small response pages, so a sync takes several rounds and a cut can fall between them.
const SMALL_PAGE_BYTES: u32 = 2 * 1024;
/// How long a phone waits for the server before giving up on a round.
const TIMEOUT: Duration = Duration::from_secs(20);
/// Households recorded in the day of work that goes through the broken link.
const HOUSEHOLDS: usize = 10;
/// Cuts at pseudo-random offsets, on top of the chosen ones.
const RANDOM_CUTS: usize = 24;

// ---------------------------------------------------------------------------------------
// Retries
// ---------------------------------------------------------------------------------------

#[test]
fn test_the_same_sync_request_sent_twice_changes_nothing() {
    for backend in Backend::all() {
        same_request_sent_twice(&backend);
    }
}

fn same_request_sent_twice(backend: &Backend) {
    let db = TestDatabase::new(backend);
    let server = Server::start(&db);
    let token = db.add_device(&[VILLAGE]);
    let operator = db.add_operator(COUNTY);
    let phone = Phone::new("phone-a", &server, &token);
    let mut work = Fieldwork::default();
    let first = work.new_household(&phone, 3);
    work.visit(&phone, &first);
    work.new_household(&phone, 1);

    let request = pending_request(&phone);
    assert_eq!(request.uploads.len(), 2);
    let body = wire::encode(&request).unwrap();
    let once = post_sync(&server, &token, body.clone());
    let register_once = register_snapshot(&server, &operator, &work);
    let twice = post_sync(&server, &token, body);

    assert_eq!(twice.results, once.results, "{}", backend.name());
    for (upload, result) in request.uploads.iter().zip(&twice.results) {
        assert_eq!(result.household, upload.household);
        let household = HouseholdId::parse(&upload.household).unwrap();
        match &result.outcome {
            UploadOutcome::Accepted { heads } => assert_eq!(
                hash_set(heads.iter().map(|h| h.to_vec())),
                phone_heads(&phone, &household),
                "the server's heads are the phone's"
            ),
            rejected => panic!(
                "{}: a repeated upload was refused: {rejected:?}",
                backend.name()
            ),
        }
    }
    assert_eq!(twice.cursor, once.cursor);
    assert_eq!(updated_households(&twice), updated_households(&once));
    assert_eq!(
        register_snapshot(&server, &operator, &work),
        register_once,
        "{}: the second request changed the register",
        backend.name()
    );
    assert_register_holds(&server, &operator, &work);
    assert_server_stores_each_change_once(&server, &token, &phone, &work);

    // The phone never saw either answer, so its own sync sends everything a third time.
    let report = phone.sync();
    assert!(report.rejected.is_empty(), "{:?}", report.rejected);
    assert_eq!(phone.store.unsynced_changes().unwrap(), 0);
    assert_eq!(
        register_snapshot(&server, &operator, &work),
        register_once,
        "{}: the third upload changed the register",
        backend.name()
    );
    assert_server_stores_each_change_once(&server, &token, &phone, &work);
}

#[test]
fn test_a_sync_whose_answer_was_lost_is_retried_without_duplicates() {
    for backend in Backend::all() {
        answer_lost_then_retried(&backend);
    }
}

fn answer_lost_then_retried(backend: &Backend) {
    let name = backend.name();
    let db = TestDatabase::new(backend);
    let server = Server::start(&db);
    let token = db.add_device(&[VILLAGE]);
    let operator = db.add_operator(COUNTY);
    let phone = Phone::new("phone-a", &server, &token);
    let mut work = Fieldwork::default();
    let households: Vec<HouseholdId> = (0..3).map(|n| work.new_household(&phone, n + 1)).collect();
    work.visit(&phone, &households[0]);

    // The first sync reaches the server, which stores everything; the answer never arrives.
    let lost = AnswerLost::new();
    let unsynced = phone.store.unsynced_changes().unwrap();
    assert!(unsynced > 0);
    let err = phone.try_sync(&lost).unwrap_err();
    assert!(matches!(err, SyncError::Network(_)), "{name}: {err:?}");
    assert_eq!(lost.delivered(), [200], "{name}");
    assert_eq!(phone.store.unsynced_changes().unwrap(), unsynced);
    assert_register_holds(&server, &operator, &work);

    // The retry sends it all again; the server already has it.
    let report = phone.sync();
    assert!(report.rejected.is_empty(), "{name}: {:?}", report.rejected);
    assert_eq!(report.changes_sent, unsynced as u32, "{name}");
    assert_eq!(phone.store.unsynced_changes().unwrap(), 0);
    assert_register_holds(&server, &operator, &work);
    assert_server_stores_each_change_once(&server, &token, &phone, &work);

    // Later in the day, with a cursor and confirmed heads: the same again.
    work.visit(&phone, &households[1]);
    work.add_member(&phone, &households[2]);
    work.visit(&phone, &households[2]);
    let unsynced = phone.store.unsynced_changes().unwrap();
    let err = phone.try_sync(&lost).unwrap_err();
    assert!(matches!(err, SyncError::Network(_)), "{name}: {err:?}");
    assert_eq!(lost.delivered(), [200, 200], "{name}");
    assert_eq!(phone.store.unsynced_changes().unwrap(), unsynced);
    assert_register_holds(&server, &operator, &work);
    let report = phone.sync();
    assert!(report.rejected.is_empty(), "{name}: {:?}", report.rejected);
    assert_eq!(phone.store.unsynced_changes().unwrap(), 0);
    assert_register_holds(&server, &operator, &work);
    assert_server_stores_each_change_once(&server, &token, &phone, &work);

    // A second phone whose first download is lost gets exactly the data on the retry.
    let other = Phone::new("phone-b", &server, &db.add_device(&[VILLAGE]));
    let err = other.try_sync(&lost).unwrap_err();
    assert!(matches!(err, SyncError::Network(_)), "{name}: {err:?}");
    assert!(other.store.household_ids().unwrap().is_empty());
    let report = other.sync();
    assert_eq!(
        report.documents_received as usize,
        households.len(),
        "{name}"
    );
    assert_phones_agree(&[&phone, &other], &work);
    assert_server_stores_each_change_once(&server, &token, &phone, &work);
}

/// Delivers every request, then loses the server's answer on the way back.
#[derive(Debug)]
struct AnswerLost {
    http: HttpTransport,
    delivered: RefCell<Vec<u16>>,
}

impl AnswerLost {
    fn new() -> AnswerLost {
        AnswerLost {
            http: HttpTransport::new(TIMEOUT),
            delivered: RefCell::new(Vec::new()),
        }
    }

    /// The status of every answer the server gave and the phone never saw.
    fn delivered(&self) -> Vec<u16> {
        self.delivered.borrow().clone()
    }
}

impl Transport for AnswerLost {
    fn post(&self, url: &str, token: &str, body: Vec<u8>) -> Result<Vec<u8>, TransportError> {
        let status = match self.http.post(url, token, body) {
            Ok(_) => 200,
            Err(TransportError::Status { status, .. }) => status,
            Err(err) => return Err(err),
        };
        self.delivered.borrow_mut().push(status);
        Err(TransportError::Network(
            "the answer was lost on the way back".into(),
        ))
    }
}

// ---------------------------------------------------------------------------------------
// Broken links
// ---------------------------------------------------------------------------------------

#[test]
fn test_a_sync_cut_at_any_byte_completes_later_with_nothing_lost_or_duplicated() {
    for backend in Backend::all() {
        syncs_cut_at_any_byte(&backend, wire::DEFAULT_PAGE_BYTES);
    }
}

#[test]
fn test_a_sync_in_small_pages_cut_at_any_byte_completes_later_with_nothing_lost() {
    for backend in Backend::all() {
        syncs_cut_at_any_byte(&backend, SMALL_PAGE_BYTES);
    }
}

fn syncs_cut_at_any_byte(backend: &Backend, page_bytes: u32) {
    let name = backend.name();
    let db = TestDatabase::new(backend);
    let server = Server::start(&db);
    let operator = db.add_operator(COUNTY);
    let phones: Vec<Phone> = (0..3)
        .map(|n| Phone::new(&format!("phone-{n}"), &server, &db.add_device(&[VILLAGE])))
        .collect();
    let proxy = CuttingProxy::start(&server.url);
    let mut work = Fieldwork::default();
    let mut rng = Lcg(0x00d0_025e_ed00_0001);
    let mut visited = 0usize;

    for (attempt, cut) in cut_plan().into_iter().enumerate() {
        let phone = &phones[attempt % phones.len()];
        // A piece of the day's work, then a sync over the failing link.
        if work.households.len() < HOUSEHOLDS {
            let members = 1 + rng.below(4);
            work.new_household(phone, members);
        } else {
            let known = phone.store.household_ids().unwrap();
            let household = &known[visited % known.len()];
            visited += 1;
            work.visit(phone, household);
            if rng.below(3) == 0 {
                work.add_member(phone, household);
            }
        }
        let unsynced = phone.store.unsynced_changes().unwrap();
        let link = proxy.arm(cut);
        let result = sync_over(phone, &proxy.via(&server.url), page_bytes);
        let cut_made = link.cut_made.load(Ordering::SeqCst);
        match &result {
            Ok(report) => assert!(report.rejected.is_empty(), "{:?}", report.rejected),
            Err(SyncError::Network(_) | SyncError::BadResponse(_)) => {}
            Err(err) => panic!("{name}: {cut:?}: the sync failed with {err:?}"),
        }
        assert_eq!(
            result.is_err(),
            cut_made,
            "{name}: {cut:?}: a sync fails exactly when its link was cut ({result:?})"
        );
        assert!(
            phone.store.unsynced_changes().unwrap() <= unsynced,
            "{name}: {cut:?}: a cut link un-confirmed changes"
        );
        if cut.message == 0 {
            assert!(cut_made, "{name}: {cut:?} was never reached");
        }
        // Now and then the phone finds a good link, so later cuts meet it with a cursor,
        // confirmed heads and other phones' work.
        if rng.below(4) == 0 {
            sync_over(phone, &HttpTransport::new(TIMEOUT), page_bytes)
                .unwrap_or_else(|err| panic!("{name}: sync failed: {err:?}"));
        }
    }
    // Back in range of a good link: two passes bring everyone everything.
    for _ in 0..2 {
        for phone in &phones {
            let report = sync_over(phone, &HttpTransport::new(TIMEOUT), page_bytes)
                .unwrap_or_else(|err| panic!("{name}: sync failed: {err:?}"));
            assert!(report.rejected.is_empty(), "{:?}", report.rejected);
        }
    }

    let phones: Vec<&Phone> = phones.iter().collect();
    assert_phones_agree(&phones, &work);
    assert_register_holds(&server, &operator, &work);
    assert_server_stores_each_change_once(&server, &db.add_device(&[VILLAGE]), phones[0], &work);
    let statuses = proxy.statuses();
    assert!(!statuses.is_empty());
    assert!(
        statuses.iter().all(|&status| status == 200),
        "{name}: the server answered {statuses:?}"
    );
    assert!(proxy.surprises().is_empty(), "{:?}", proxy.surprises());
    assert_eq!(healthz(&server), (200, "ok".to_owned()), "{name}");
}

fn sync_over(
    phone: &Phone,
    transport: &dyn Transport,
    page_bytes: u32,
) -> Result<SyncReport, SyncError> {
    sync::sync(
        &phone.store,
        transport,
        page_bytes,
        &AtomicBool::new(false),
        &mut |_| {},
    )
}

/// Every offset the link breaks at: the edges of a message, the middle of its header and of
/// its body, and a deterministic pseudo-random spread over whole exchanges.
fn cut_plan() -> Vec<Cut> {
    let mut cuts = Vec::new();
    for direction in [Direction::Request, Direction::Response] {
        for offset in [
            Offset::Byte(0),
            Offset::Byte(1),
            Offset::InHeader(500),
            Offset::InBody(0),
            Offset::InBody(1),
            Offset::InBody(500),
            Offset::BeforeEnd(1),
        ] {
            cuts.push(Cut {
                direction,
                message: 0,
                offset,
            });
        }
    }
    // The whole request arrives and the link drops before a byte of the answer.
    cuts.push(Cut {
        direction: Direction::Request,
        message: 0,
        offset: Offset::BeforeEnd(0),
    });
    // The second round of a sync, when there is one: the first round's work is kept.
    for direction in [Direction::Request, Direction::Response] {
        cuts.push(Cut {
            direction,
            message: 1,
            offset: Offset::InBody(500),
        });
    }
    let mut rng = Lcg(0x0c07_1ab5_0000_2024);
    for _ in 0..RANDOM_CUTS {
        let direction = if rng.below(2) == 0 {
            Direction::Request
        } else {
            Direction::Response
        };
        cuts.push(Cut {
            direction,
            message: usize::from(rng.below(4) == 0),
            offset: Offset::Through(rng.below(1_000_000)),
        });
    }
    cuts
}

/// Knuth's MMIX linear congruential generator: the same sequence on every run.
#[derive(Debug)]
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, bound: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 33) % bound as u64) as usize
    }
}

/// Which way the bytes that get cut flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    /// Phone to server.
    Request,
    /// Server to phone.
    Response,
}

/// Where in an HTTP message the link breaks; resolved against the real message.
#[derive(Debug, Clone, Copy)]
enum Offset {
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
    fn resolve(self, header: usize, total: usize) -> usize {
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
struct Cut {
    direction: Direction,
    message: usize,
    offset: Offset,
}

/// A TCP proxy in front of the server that breaks the link as told.
#[derive(Debug)]
struct CuttingProxy {
    address: SocketAddr,
    shared: Arc<ProxyShared>,
    accept: Option<JoinHandle<()>>,
}

#[derive(Debug)]
struct ProxyShared {
    upstream: SocketAddr,
    link: Mutex<Arc<Link>>,
    closing: AtomicBool,
    /// The status of every answer the server began to send.
    statuses: Mutex<Vec<u16>>,
    /// Anything in the traffic the proxy could not follow.
    surprises: Mutex<Vec<String>>,
}

/// One armed cut; connections accepted while it is armed follow it.
#[derive(Debug, Default)]
struct Link {
    cut: Option<Cut>,
    messages: [AtomicUsize; 2],
    cut_made: AtomicBool,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl CuttingProxy {
    fn start(server_url: &str) -> CuttingProxy {
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
    fn arm(&self, cut: Cut) -> Arc<Link> {
        let link = Arc::new(Link {
            cut: Some(cut),
            ..Link::default()
        });
        *lock(&self.shared.link) = Arc::clone(&link);
        link
    }

    /// A transport that sends a phone's requests through this proxy, leaving the phone's
    /// settings (and so its cursor) as they are.
    fn via(&self, server_url: &str) -> Via {
        Via {
            server: server_url.to_owned(),
            proxy: format!("http://{}", self.address),
            http: HttpTransport::new(TIMEOUT),
        }
    }

    fn statuses(&self) -> Vec<u16> {
        lock(&self.shared.statuses).clone()
    }

    fn surprises(&self) -> Vec<String> {
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
struct Via {
    server: String,
    proxy: String,
    http: HttpTransport,
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
fn relay(client: TcpStream, shared: &ProxyShared, link: &Link) {
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
struct Pump<'a> {
    direction: Direction,
    shared: &'a ProxyShared,
    link: &'a Link,
    /// Both sockets of the connection, to break it in both directions at once.
    ends: [TcpStream; 2],
    position: Position,
}

/// Where a pump is in the message it relays.
enum Position {
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
struct Stop;

impl<'a> Pump<'a> {
    fn new(
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

    fn run(mut self, mut from: TcpStream, mut to: TcpStream) {
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

    fn relay(&mut self, mut input: &[u8], to: &mut TcpStream) -> Result<(), Stop> {
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
    fn forward(&mut self, bytes: &[u8], to: &mut TcpStream) -> Result<(), Stop> {
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
    fn body_length(&self, header: &[u8]) -> usize {
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

// ---------------------------------------------------------------------------------------
// Paging
// ---------------------------------------------------------------------------------------

/// A household whose older changes sit below a later household's in the feed must still
/// arrive whole when the page stops between the two.
#[test]
fn test_a_device_reading_the_feed_in_small_pages_misses_no_change() {
    for backend in Backend::all() {
        let name = backend.name();
        let db = TestDatabase::new(&backend);
        let server = Server::start(&db);
        let recorder = Phone::new("phone-a", &server, &db.add_device(&[VILLAGE]));
        let reader = Phone::new("phone-b", &server, &db.add_device(&[VILLAGE]));
        // An empty first download: the reader reads the feed from here on.
        reader.sync();
        let mut work = Fieldwork::default();
        let first = work.new_household(&recorder, 1);
        recorder.sync();
        work.new_household(&recorder, 1);
        recorder.sync();
        work.visit(&recorder, &first);
        recorder.sync();
        // The feed holds the first household, the second, then the first's visit; pages
        // of one item stop between every two of them.
        let page_bytes = 1;
        let result = sync_over(&reader, &HttpTransport::new(TIMEOUT), page_bytes);
        assert!(result.is_ok(), "{name}: {result:?}");
        assert_phones_agree(&[&recorder, &reader], &work);
    }
}

// ---------------------------------------------------------------------------------------
// Recording and checking
// ---------------------------------------------------------------------------------------

/// What the phones recorded, household by household: the register and every phone must end
/// with exactly these members and visits.
#[derive(Debug, Default)]
struct Fieldwork {
    households: BTreeMap<String, Contents>,
    serial: u32,
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Contents {
    members: BTreeSet<String>,
    visits: BTreeSet<String>,
}

impl Fieldwork {
    /// A household with its members, recorded at a first visit.
    fn new_household(&mut self, phone: &Phone, members: usize) -> HouseholdId {
        let household = phone
            .store
            .create_household(&Phone::village(), None)
            .unwrap();
        self.households
            .insert(household.to_string(), Contents::default());
        let visit = phone.store.start_visit(&household).unwrap();
        for _ in 0..members {
            self.add_member(phone, &household);
        }
        phone
            .store
            .set_field(
                &household,
                "household.address",
                &format!("城庄镇 {} 号", self.serial),
            )
            .unwrap();
        phone
            .store
            .finish_visit(&household, &visit, "met", Some("在家"), None)
            .unwrap();
        self.contents(&household).visits.insert(visit.to_string());
        household
    }

    /// A member: every other one with an ID number, the rest without.
    fn add_member(&mut self, phone: &Phone, household: &HouseholdId) {
        self.serial += 1;
        let serial = self.serial;
        let id_number = serial.is_multiple_of(2).then(|| id_number(serial));
        let member = phone
            .store
            .add_member(household, &format!("成员{serial}"), id_number.as_deref())
            .unwrap();
        self.contents(household).members.insert(member.to_string());
    }

    fn visit(&mut self, phone: &Phone, household: &HouseholdId) {
        let visit = phone.store.start_visit(household).unwrap();
        phone
            .store
            .finish_visit(household, &visit, "not_home", None, None)
            .unwrap();
        self.contents(household).visits.insert(visit.to_string());
    }

    fn contents(&mut self, household: &HouseholdId) -> &mut Contents {
        self.households
            .get_mut(household.as_str())
            .unwrap_or_else(|| panic!("{household} was not recorded"))
    }
}

/// A valid resident ID number of 临县, distinct for each serial below 1000.
fn id_number(serial: u32) -> String {
    let year = 1950 + serial % 60;
    let month = 1 + serial % 12;
    let day = 1 + serial % 28;
    let body = format!("141124{year:04}{month:02}{day:02}{:03}", serial % 1000);
    const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = body
        .bytes()
        .zip(WEIGHTS)
        .map(|(digit, weight)| u32::from(digit - b'0') * weight)
        .sum();
    let check = char::from(b"10X98765432"[(sum % 11) as usize]);
    format!("{body}{check}")
}

/// The request the phone would send now, built from its store as the sync client does.
fn pending_request(phone: &Phone) -> SyncRequest {
    let uploads = phone
        .store
        .households_with_unsynced_changes()
        .unwrap()
        .into_iter()
        .map(|household| {
            let since = phone.store.confirmed_heads(&household).unwrap();
            let changes = phone.store.changes_since(&household, &since).unwrap();
            Upload {
                household: household.to_string(),
                changes: changes.into_iter().map(wire::Bytes::from).collect(),
            }
        })
        .collect();
    SyncRequest {
        protocol: wire::PROTOCOL_VERSION,
        actor: phone.store.actor(),
        cursor: None,
        uploads,
        page_bytes: wire::DEFAULT_PAGE_BYTES,
    }
}

fn post_sync(server: &Server, token: &str, body: Vec<u8>) -> SyncResponse {
    let (status, answer) = server.post_sync(token, body);
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&answer));
    wire::decode(&answer).unwrap()
}

fn updated_households(response: &SyncResponse) -> Vec<&str> {
    response
        .updates
        .iter()
        .map(|update| update.household.as_str())
        .collect()
}

fn hash_set(hashes: impl Iterator<Item = Vec<u8>>) -> BTreeSet<Vec<u8>> {
    hashes.collect()
}

fn phone_heads(phone: &Phone, household: &HouseholdId) -> BTreeSet<Vec<u8>> {
    hash_set(
        phone
            .store
            .heads(household)
            .unwrap()
            .iter()
            .map(|head| head.as_ref().to_vec()),
    )
}

/// The register's list and every recorded household in full, as JSON.
fn register_snapshot(server: &Server, operator: &str, work: &Fieldwork) -> Vec<serde_json::Value> {
    let mut snapshot = vec![register_list(server, operator)];
    for id in work.households.keys() {
        let (status, detail) = server.get_json(&format!("/api/v1/households/{id}"), operator);
        assert_eq!(status, 200, "{detail}");
        snapshot.push(detail);
    }
    snapshot
}

fn register_list(server: &Server, operator: &str) -> serde_json::Value {
    let (status, page) = server.get_json(
        &format!("/api/v1/households?area={VILLAGE}&limit=500"),
        operator,
    );
    assert_eq!(status, 200, "{page}");
    page
}

fn keys(object: &serde_json::Value) -> BTreeSet<String> {
    object
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {object}"))
        .keys()
        .cloned()
        .collect()
}

/// The register holds every recorded household once, with exactly its members and visits.
fn assert_register_holds(server: &Server, operator: &str, work: &Fieldwork) {
    let page = register_list(server, operator);
    assert_eq!(page["total"], work.households.len(), "{page}");
    let rows = page["households"].as_array().unwrap();
    let listed: BTreeSet<String> = rows
        .iter()
        .map(|row| row["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(listed, work.households.keys().cloned().collect());
    for row in rows {
        let id = row["id"].as_str().unwrap();
        let contents = &work.households[id];
        assert_eq!(row["member_count"], contents.members.len(), "{row}");
        assert_eq!(row["visit_count"], contents.visits.len(), "{row}");
        let (status, detail) = server.get_json(&format!("/api/v1/households/{id}"), operator);
        assert_eq!(status, 200, "{detail}");
        assert_eq!(
            keys(&detail["members"]),
            contents.members,
            "members of {id}"
        );
        assert_eq!(keys(&detail["visits"]), contents.visits, "visits of {id}");
    }
}

/// Every phone holds every recorded household, nothing unsynced, all with the same heads
/// and the same content, which is what was recorded.
fn assert_phones_agree(phones: &[&Phone], work: &Fieldwork) {
    let recorded: BTreeSet<String> = work.households.keys().cloned().collect();
    for phone in phones {
        assert_eq!(phone.store.unsynced_changes().unwrap(), 0);
        let held: BTreeSet<String> = phone
            .store
            .household_ids()
            .unwrap()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(held, recorded);
    }
    for (id, contents) in &work.households {
        let household = HouseholdId::parse(id).unwrap();
        let heads = phone_heads(phones[0], &household);
        let view = phones[0].store.household(&household).unwrap().view;
        let members: BTreeSet<String> = view.members.keys().cloned().collect();
        let visits: BTreeSet<String> = view.visits.keys().cloned().collect();
        assert_eq!(members, contents.members, "members of {id}");
        assert_eq!(visits, contents.visits, "visits of {id}");
        for phone in &phones[1..] {
            assert_eq!(phone_heads(phone, &household), heads, "heads of {id}");
            assert_eq!(phone.store.household(&household).unwrap().view, view);
        }
    }
}

/// Reads the whole change feed as a device that holds nothing, and checks that the server
/// stored each of the phone's changes exactly once: no more, no fewer, no repeats.
fn assert_server_stores_each_change_once(
    server: &Server,
    token: &str,
    phone: &Phone,
    work: &Fieldwork,
) {
    let mut stored: BTreeMap<String, Vec<Vec<u8>>> = BTreeMap::new();
    let mut cursor = Cursor {
        feed: 0,
        download_after: None,
    };
    loop {
        let request = SyncRequest {
            protocol: wire::PROTOCOL_VERSION,
            actor: "00".repeat(16),
            cursor: Some(cursor),
            uploads: Vec::new(),
            page_bytes: u32::MAX,
        };
        let response = post_sync(server, token, wire::encode(&request).unwrap());
        for update in response.updates {
            let Payload::Changes(changes) = update.payload else {
                panic!(
                    "{} was compacted; the test expects it whole",
                    update.household
                );
            };
            stored
                .entry(update.household)
                .or_default()
                .extend(changes.into_iter().map(|change| change.into_vec()));
        }
        cursor = response.cursor;
        if !response.more {
            break;
        }
    }
    assert_eq!(
        stored.keys().collect::<Vec<_>>(),
        work.households.keys().collect::<Vec<_>>()
    );
    for (id, mut changes) in stored {
        let household = HouseholdId::parse(&id).unwrap();
        let mut held = phone.store.changes_since(&household, &[]).unwrap();
        changes.sort();
        held.sort();
        assert_eq!(changes.len(), held.len(), "changes of {id} on the server");
        assert_eq!(changes, held, "changes of {id} on the server");
    }
}

/// `GET /healthz`: the status and the body.
fn healthz(server: &Server) -> (u16, String) {
    let mut response = ureq::get(&format!("{}/healthz", server.url))
        .call()
        .unwrap();
    let status = response.status().as_u16();
    (status, response.body_mut().read_to_string().unwrap())
}
