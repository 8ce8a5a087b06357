//! Photo upload under cuts (issue 18): the bytes on the wire over the photo's bytes, for a
//! 1600 × 1200 JPEG as a phone makes it, uploaded in chunks through a link that drops the
//! connection every N bytes, wherever that falls (in a request's headers, its body, or only
//! its answer). The yardstick is the same photo over a link that never drops, in the same
//! run. Bytes, not time: the ratio does not depend on the machine's noise.
//!
//! `cargo bench -p doorstep-e2e --bench photos` (SQLite; the database does not change what
//! crosses the wire). `-- --test` runs one photo per row.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use client_core::photo::Processing;
use doorstep_e2e::photos::{self, CutEvery, Link, PhotoClient, Steady, Traffic};
use doorstep_e2e::{Backend, Phone, Server, TestDatabase, VILLAGE};
use schema::layout::PhotoOf;
use schema::photo::PhotoKind;

/// Photos per row; the row reports the median.
const PHOTOS: usize = 5;

struct Row {
    link: String,
    chunk: usize,
    overhead: f64,
    requests: u64,
    cuts: u64,
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() {
    let smoke = std::env::args().any(|arg| arg == "--test");
    let count = if smoke { 1 } else { PHOTOS };
    let db = TestDatabase::new(&Backend::Sqlite);
    let server = Server::start(&db);
    let token = db.add_device(&[VILLAGE]);
    let phone = Phone::new("bench", &server, &token);
    let household = phone
        .store
        .create_household(&Phone::village(), None)
        .unwrap();
    let mut client = PhotoClient::new(&server.url, &token);
    let mut seed = 100;
    let mut sizes = Vec::new();
    let mut rows = Vec::new();
    let links: [(&str, Option<usize>); 5] = [
        ("never drops", None),
        ("drops every 1 MiB", Some(1024 * 1024)),
        ("drops every 256 KiB", Some(256 * 1024)),
        ("drops every 64 KiB", Some(64 * 1024)),
        ("drops every 16 KiB", Some(16 * 1024)),
    ];
    for chunk in [16 * 1024, 64 * 1024, 256 * 1024] {
        for (name, every) in links {
            let mut overheads = Vec::new();
            let mut traffic = Vec::new();
            for _ in 0..count {
                seed += 1;
                let (camera, _) = photos::photo(1600, 1200, seed);
                let summary = phone
                    .store
                    .attach_photo(
                        &household,
                        &camera,
                        PhotoKind::DoorPlate,
                        &PhotoOf::Household,
                        Processing::default(),
                    )
                    .unwrap();
                let hash = summary.hash.to_string();
                let photo = phone.store.photo_bytes(&summary.hash).unwrap().unwrap();
                sizes.push(photo.len());
                phone.sync();
                let mut link: Box<dyn Link> = match every {
                    Some(every) => Box::new(CutEvery::new(every)),
                    None => Box::new(Steady),
                };
                let sent: Traffic =
                    client.upload(&hash, household.as_str(), &photo, chunk, link.as_mut());
                overheads.push(sent.wire_bytes as f64 / photo.len() as f64);
                traffic.push(sent);
            }
            rows.push(Row {
                link: name.to_owned(),
                chunk,
                overhead: median(overheads),
                requests: traffic[traffic.len() / 2].requests,
                cuts: traffic[traffic.len() / 2].cuts,
            });
        }
    }
    sizes.sort_unstable();
    println!(
        "Photo upload under cuts: {} photos of 1600 × 1200, median {} KiB; medians of {count} per row\n",
        sizes.len(),
        sizes[sizes.len() / 2] / 1024
    );
    println!("| chunk | link | wire bytes / photo bytes | requests | cuts |");
    println!("|---|---|---|---|---|");
    for row in rows {
        println!(
            "| {} KiB | {} | {:.3} | {} | {} |",
            row.chunk / 1024,
            row.link,
            row.overhead,
            row.requests,
            row.cuts
        );
    }
}
