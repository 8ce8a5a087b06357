//! Two servers sharing one database look like one server to the devices.

use client_core::sync::{self, HttpTransport, Transport, TransportError};
use doorstep_e2e::{Backend, COUNTY, Phone, Server, TestDatabase, VILLAGE};
use std::cell::Cell;
use std::collections::BTreeSet;
use std::time::Duration;

use crate::support::*;

/// Rounds of offline recording and syncing.
const ROUNDS: usize = 3;
const PHONES: usize = 4;

#[test]
fn test_four_phones_syncing_through_two_servers_on_one_database_converge() {
    for backend in Backend::all() {
        for seed in [1, 0x5eed] {
            phones_syncing_through_two_servers_converge(&backend, seed);
        }
    }
}

fn phones_syncing_through_two_servers_converge(backend: &Backend, seed: u64) {
    let context = format!("{backend:?}, seed {seed}");
    let db = TestDatabase::new(backend);
    let servers = [Server::start(&db), Server::start(&db)];
    let tokens: Vec<String> = (0..PHONES).map(|_| db.add_device(&[VILLAGE])).collect();
    let phones: Vec<Phone> = tokens
        .iter()
        .enumerate()
        .map(|(n, token)| Phone::new(&format!("phone-{n}"), &servers[n % 2], token))
        .collect();
    let village = area(VILLAGE);
    let mut random = Lcg(seed);

    // A household everyone knows, with a member everyone edits.
    let shared = phones[0]
        .store
        .create_household(&village, Some("1411241002010099"))
        .unwrap();
    let head = phones[0]
        .store
        .add_member(&shared, "王芳", Some("11010519491231002X"))
        .unwrap();
    for phone in &phones {
        phone.sync();
    }

    let mut expected = BTreeSet::from([shared.clone()]);
    for round in 0..ROUNDS {
        // Offline: households of one's own, and edits to the shared one, some of them to the
        // same field at once.
        for (n, phone) in phones.iter().enumerate() {
            for household in record(phone, VILLAGE, 2, &format!("{n}号机第{round}轮")) {
                expected.insert(household);
            }
            let member = |name: &str| format!("members.{head}.{name}");
            phone
                .store
                .set_fields(
                    &shared,
                    &[
                        ("household.address", &format!("城庄镇 {round} 号（{n}）")),
                        (&member("employment.place"), &format!("太原 {n}")),
                    ],
                )
                .unwrap();
            phone
                .store
                .add_member(&shared, &format!("成员{n}-{round}"), None)
                .unwrap();
        }
        // Online, all at once, each through either server.
        let plan: Vec<Route> = phones.iter().map(|_| Route::pick(&mut random)).collect();
        std::thread::scope(|scope| {
            for ((phone, token), route) in phones.iter().zip(&tokens).zip(&plan) {
                let servers = &servers;
                scope.spawn(move || route.sync(phone, token, servers));
            }
        });
    }
    // Two quiet passes: the first delivers every upload, the second brings it to everyone.
    for _ in 0..2 {
        for (phone, token) in phones.iter().zip(&tokens) {
            Route::pick(&mut random).sync(phone, token, &servers);
        }
    }

    for phone in &phones {
        assert_eq!(ids(phone), expected, "{context}");
        assert_eq!(phone.store.unsynced_changes().unwrap(), 0, "{context}");
        assert!(
            sync::rejections(&phone.store).unwrap().is_empty(),
            "{context}"
        );
    }
    for household in &expected {
        let heads = phones[0].store.heads(household).unwrap();
        let view = phones[0].store.household(household).unwrap().view;
        for phone in &phones[1..] {
            assert_eq!(phone.store.heads(household).unwrap(), heads, "{context}");
            assert_eq!(
                phone.store.household(household).unwrap().view,
                view,
                "{context}"
            );
        }
    }
    let on_phone = phones[0].store.household(&shared).unwrap();
    assert_eq!(
        on_phone.view.members.len(),
        1 + PHONES * ROUNDS,
        "{context}"
    );
    assert!(
        on_phone
            .conflicts
            .iter()
            .any(|c| c.path == "household.address"),
        "{context}: the last round's addresses were written at once"
    );

    // Both servers show one register, the one the phones hold.
    let operator = servers[0].staff_token(&db, COUNTY, "县工作人员");
    let pages: Vec<serde_json::Value> = servers
        .iter()
        .map(|server| {
            let (status, page) = server.get_json(
                &format!("/api/v1/households?area={VILLAGE}&limit=500"),
                &operator,
            );
            assert_eq!(status, 200, "{page}");
            page
        })
        .collect();
    assert_eq!(pages[0]["total"], expected.len(), "{context}");
    assert_eq!(pages[0], pages[1], "{context}");
    for household in &expected {
        let on_phone = phones[0].store.household(household).unwrap();
        let view = serde_json::to_value(&on_phone.view).unwrap();
        let conflicts = serde_json::to_value(&on_phone.conflicts).unwrap();
        let details: Vec<serde_json::Value> = servers
            .iter()
            .map(|server| detail(server, &operator, household))
            .collect();
        assert_eq!(details[0], details[1], "{context}");
        for (key, value) in view.as_object().unwrap() {
            assert_eq!(&details[0][key], value, "{context}: {household} {key}");
        }
        assert_eq!(details[0]["conflicts"], conflicts, "{context}: {household}");
    }
}

/// How one sync reaches the servers.
#[derive(Debug, Clone, Copy)]
enum Route {
    /// The phone is pointed at one server (`connect`, which also resets its cursor).
    Repoint(usize),
    /// A load balancer sends each request of the sync to either server; the phone keeps its
    /// address and its cursor.
    Balanced(u64),
}

impl Route {
    fn pick(random: &mut Lcg) -> Route {
        if random.below(2) == 0 {
            Route::Repoint(random.below(2))
        } else {
            Route::Balanced(random.step())
        }
    }

    fn sync(self, phone: &Phone, token: &str, servers: &[Server]) {
        let report = match self {
            Route::Repoint(index) => {
                sync::connect(&phone.store, &servers[index].url, token).unwrap();
                phone.sync()
            }
            Route::Balanced(seed) => {
                let balancer = Balancer {
                    servers,
                    random: Cell::new(Lcg(seed)),
                    http: HttpTransport::new(Duration::from_secs(30)),
                };
                phone
                    .try_sync(&balancer)
                    .unwrap_or_else(|err| panic!("sync failed: {}", err.message()))
            }
        };
        assert!(report.rejected.is_empty(), "{self:?}: {report:?}");
    }
}

/// A load balancer in front of the servers.
#[derive(Debug)]
struct Balancer<'a> {
    servers: &'a [Server],
    random: Cell<Lcg>,
    http: HttpTransport,
}

impl Transport for Balancer<'_> {
    fn post(&self, _url: &str, token: &str, body: Vec<u8>) -> Result<Vec<u8>, TransportError> {
        let mut random = self.random.get();
        let server = &self.servers[random.below(self.servers.len())];
        self.random.set(random);
        self.http
            .post(&format!("{}/api/v1/sync", server.url), token, body)
    }
}

/// A small deterministic generator (Knuth's MMIX LCG), so a failing order can be replayed.
#[derive(Debug, Clone, Copy)]
struct Lcg(u64);

impl Lcg {
    fn step(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    fn below(&mut self, bound: usize) -> usize {
        (self.step() % bound as u64) as usize
    }
}
