//! Sensitive data at rest: after phones have synced households with ID numbers, health and
//! poverty status, and the server has stored, snapshotted and served them, nothing the
//! server's database holds contains an ID number in the clear; and the register still finds
//! a household by its head's whole ID number, and the review queue still finds the same
//! person registered twice.

use crate::support::area;
use doorstep_e2e::{
    Backend, COUNTY, HouseholdId, Phone, Server, TestDatabase, VILLAGE, with_check_character,
};
use std::collections::BTreeSet;
use std::path::Path;

/// A valid ID number, a different one for each `n`, of someone born in 1950 + `n`.
fn id_number(n: u32) -> String {
    let first17 = format!("141124{}0{}1{}{:03}", 1950 + n, 1 + n % 9, n % 9, 100 + n);
    with_check_character(&first17)
}

/// Households of two members each, with ID numbers, health and poverty attribute. The first
/// member of the last household is also in the first one: the same person twice.
fn record(phone: &Phone, households: u32) -> Vec<(HouseholdId, Vec<String>)> {
    let mut out = Vec::new();
    for h in 0..households {
        let household = phone.store.create_household(&area(VILLAGE), None).unwrap();
        let numbers = if h + 1 == households {
            vec![id_number(0), id_number(2 * h + 1)]
        } else {
            vec![id_number(2 * h), id_number(2 * h + 1)]
        };
        for (m, number) in numbers.iter().enumerate() {
            let key = phone
                .store
                .add_member(&household, &format!("成员{h}-{m}"), Some(number))
                .unwrap();
            let field = |name: &str| format!("members.{key}.{name}");
            phone
                .store
                .set_fields(
                    &household,
                    &[
                        (&field("relation"), if m == 0 { "01" } else { "02" }),
                        (&field("health"), "04"),
                    ],
                )
                .unwrap();
        }
        phone
            .store
            .set_field(&household, "household.poverty_attribute", "02")
            .unwrap();
        out.push((household, numbers));
    }
    out
}

/// What must never be found at rest: each number whole, and its first 17 digits (which,
/// with the check character computable from them, are the number).
fn secrets(households: &[(HouseholdId, Vec<String>)]) -> BTreeSet<String> {
    households
        .iter()
        .flat_map(|(_, numbers)| numbers)
        .flat_map(|n| [n.clone(), n[..17].to_owned()])
        .collect()
}

pub(crate) fn find(haystack: &[u8], secrets: &BTreeSet<String>) -> Option<String> {
    secrets
        .iter()
        .find(|s| haystack.windows(s.len()).any(|w| w == s.as_bytes()))
        .cloned()
}

#[test]
fn test_database_holds_no_id_number_in_the_clear_yet_finds_households_by_one() {
    for backend in Backend::all() {
        no_plaintext_at_rest(&backend);
    }
}

fn no_plaintext_at_rest(backend: &Backend) {
    let db = TestDatabase::new(backend);
    let server = Server::start(&db);
    let phone = Phone::new("phone-a", &server, &db.add_device(&[VILLAGE]));
    let households = record(&phone, 3);
    let secrets = secrets(&households);
    // The phone's changes carry the numbers in the clear: finding none on the server below
    // is the server's doing, not Automerge's compression.
    let (first, numbers) = &households[0];
    let uploaded: Vec<u8> = phone.store.changes_since(first, &[]).unwrap().concat();
    assert!(
        find(&uploaded, &secrets).is_some(),
        "{backend:?}: the phone's changes should hold {numbers:?}"
    );
    phone.sync();
    // Enough edits after the first snapshot that ingest writes another one, so change rows
    // and snapshots are both stored and read back.
    for n in 0..40 {
        phone
            .store
            .set_field(first, "household.address", &format!("城庄镇 {n} 号"))
            .unwrap();
    }
    phone.sync();

    // Another phone's first download, and the first phone's feed, are read back through the
    // key: the numbers arrive whole.
    let other = Phone::new("phone-b", &server, &db.add_device(&[VILLAGE]));
    other.sync();
    for (household, numbers) in &households {
        let detail = other.store.household(household).unwrap();
        let held: BTreeSet<String> = detail
            .view
            .members
            .values()
            .filter_map(|m| m.get("id_number").map(|f| f.value.display()))
            .collect();
        assert_eq!(
            held,
            numbers.iter().cloned().collect(),
            "{backend:?}: downloaded"
        );
    }
    other
        .store
        .set_field(first, "household.phone", "13800000000")
        .unwrap();
    other.sync();
    phone.sync();
    assert_eq!(
        phone
            .store
            .household(first)
            .unwrap()
            .view
            .household_text("phone"),
        Some("13800000000"),
        "{backend:?}: the feed serves sealed changes opened"
    );

    // The register finds a household by a whole ID number (either spelling of a final x),
    // through the keyed hash; part of a number finds nothing, as it is nowhere in the clear.
    let staff = server.staff_token(&db, COUNTY, "审核员");
    let (_, numbers) = &households[1];
    for typed in [numbers[1].clone(), numbers[1].to_lowercase()] {
        let (status, page) = server.get_json(&format!("/api/v1/households?search={typed}"), &staff);
        assert_eq!(status, 200, "{page}");
        let found: Vec<&str> = page["households"]
            .as_array()
            .unwrap()
            .iter()
            .map(|row| row["id"].as_str().unwrap())
            .collect();
        assert_eq!(found, [households[1].0.as_str()], "{backend:?}: {typed}");
    }
    let (_, page) = server.get_json(
        &format!("/api/v1/households?search={}", &numbers[1][6..14]),
        &staff,
    );
    assert_eq!(page["total"], 0, "{backend:?}: {page}");

    // The same person in two households is found by the hashes, and named masked.
    let (status, page) = server.get_json("/api/v1/review/items?kind=duplicate", &staff);
    assert_eq!(status, 200, "{page}");
    let items = page["items"].as_array().unwrap();
    let pair = items
        .iter()
        .find(|item| item["other_household_id"].is_string())
        .unwrap_or_else(|| panic!("{backend:?}: no duplicate pair in {page}"));
    let shared = &households[0].1[0];
    let masked = format!("{}**********{}", &shared[..4], &shared[14..]);
    assert!(
        pair["summary"]["zh"].as_str().unwrap().contains(&masked),
        "{pair}"
    );

    drop(server);
    match &db.url {
        None => {
            let leaked = sqlite_files(db.data_dir.path())
                .into_iter()
                .find_map(|(file, bytes)| find(&bytes, &secrets).map(|s| (file, s)));
            assert_eq!(leaked, None, "an ID number in the clear");
        }
        Some(url) => {
            let leaked = postgres_values(url)
                .into_iter()
                .find_map(|(column, bytes)| find(&bytes, &secrets).map(|s| (column, s)));
            assert_eq!(leaked, None, "an ID number in the clear");
        }
    }
}

/// Every file the embedded database is made of (the database, its write-ahead log and
/// index), and the photos beside it (`blobs/`), whole, as a thief copying the data directory
/// would get them. The key file is left out: it is the one file not to copy with the data.
pub(crate) fn sqlite_files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files = Vec::new();
    let mut folders = vec![dir.to_path_buf()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                folders.push(path);
            } else if path.file_name().is_some_and(|name| name != "doorstep.key") {
                let name = path
                    .strip_prefix(dir)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                files.push((name, std::fs::read(&path).unwrap()));
            }
        }
    }
    assert!(
        files.iter().any(|(name, _)| name == "doorstep.db"),
        "{:?}",
        files.iter().map(|(n, _)| n).collect::<Vec<_>>()
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.join("doorstep.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "the key file is its owner's alone");
    }
    files
}

/// Every value of every column of every table, as bytes: `bytea` as stored, anything else as
/// its text.
pub(crate) fn postgres_values(url: &str) -> Vec<(String, Vec<u8>)> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        use sqlx::Row;
        let pool = sqlx::PgPool::connect(url).await.unwrap();
        let columns = sqlx::query(
            "SELECT table_name::text AS t, column_name::text AS c, data_type::text AS d
             FROM information_schema.columns WHERE table_schema = 'public'",
        )
        .fetch_all(&pool)
        .await
        .unwrap();
        let mut out = Vec::new();
        for column in &columns {
            let (table, name, kind): (String, String, String) =
                (column.get("t"), column.get("c"), column.get("d"));
            // Identifiers come from the catalog, quoted.
            let value = if kind == "bytea" {
                format!("\"{name}\"")
            } else {
                format!("convert_to(\"{name}\"::text, 'UTF8')")
            };
            let sql = format!("SELECT {value} AS v FROM \"{table}\" WHERE \"{name}\" IS NOT NULL");
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                .fetch_all(&pool)
                .await
                .unwrap();
            assert!(
                !(table == "change" && name == "bytes" && rows.is_empty()),
                "the changes were stored"
            );
            for row in rows {
                out.push((format!("{table}.{name}"), row.get::<Vec<u8>, _>("v")));
            }
        }
        pool.close().await;
        out
    })
}
