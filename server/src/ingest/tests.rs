#![allow(clippy::unwrap_used)]
use super::*;
use crate::clock::Clock;
use crate::storage::db::Db;
use crate::storage::ledger::COMPACT_AFTER_CHANGES;
use crate::storage::register;
use crate::storage::vault::{AUTOMERGE_MAGIC, Vault, VaultError};
use automerge::AutoCommit;
use schema::fields::FieldPath;
use schema::ids::MemberKey;
use schema::ids::{AreaCode, HouseholdId};
use schema::layout;
use schema::layout::FieldValue;
use schema::wire::{Bytes, Cursor, Payload};
use sqlx::Row;

const VILLAGE: &str = "141124100201";
const ID_NUMBER: &str = "11010519491231002X";

async fn database(dir: &std::path::Path) -> Db {
    crate::storage::db::test_sqlite(dir).await
}

async fn device(db: &Db) -> Device {
    let villages = vec![AreaCode::parse_village(VILLAGE).unwrap()];
    let clock = crate::clock::Clock::system();
    let (_, token) = crate::access::device_tokens::add_device(db, &clock, "phone", &villages)
        .await
        .unwrap();
    crate::access::device_tokens::device_by_token(db, &clock, &token)
        .await
        .unwrap()
        .unwrap()
}

/// A household as a phone records it: a head with an ID number and health.
fn recorded() -> (HouseholdId, AutoCommit) {
    let id = HouseholdId::from_random([9; 16]);
    let mut doc = AutoCommit::new();
    let village = AreaCode::parse_village(VILLAGE).unwrap();
    layout::init_household(&mut doc, &id, &village, "0042", 1_700_000_000).unwrap();
    doc.commit();
    let key = MemberKey::from_random([4; 16]);
    for (name, value) in [
        ("name", FieldValue::Text("王芳".to_owned())),
        ("id_number", FieldValue::Text(ID_NUMBER.to_owned())),
        ("health", FieldValue::Codes(["04".to_owned()].into())),
    ] {
        let path = FieldPath::member(&key, name).unwrap();
        layout::write_field(&mut doc, &path, Some(&value)).unwrap();
        doc.commit();
    }
    (id, doc)
}

fn upload(id: &HouseholdId, doc: &mut AutoCommit) -> Upload {
    Upload {
        household: id.to_string(),
        changes: doc
            .get_changes(&[])
            .iter()
            .map(|c| Bytes::from(c.raw_bytes().to_vec()))
            .collect(),
    }
}

fn holds(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

/// Every stored byte a document and its register rows left, read back raw.
async fn stored_bytes(db: &Db) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for sql in [
        "SELECT bytes AS b FROM change",
        "SELECT snapshot AS b FROM document WHERE snapshot IS NOT NULL",
        "SELECT id_number_sealed AS b FROM member",
    ] {
        for row in sqlx::query(sql).fetch_all(&db.pool).await.unwrap() {
            out.push(row.try_get::<Vec<u8>, _>("b").unwrap());
        }
    }
    for sql in [
        "SELECT search_text AS t FROM household",
        "SELECT id_number_hash AS t FROM member",
    ] {
        for row in sqlx::query(sql).fetch_all(&db.pool).await.unwrap() {
            out.push(row.try_get::<String, _>("t").unwrap().into_bytes());
        }
    }
    out
}

#[tokio::test]
async fn test_ingest_and_compaction_store_only_sealed_bytes_that_read_back_whole() {
    let dir = tempfile::tempdir().unwrap();
    let db = database(dir.path()).await;
    let vault = Vault::generate();
    let ledger = Ledger::new(db.clone(), vault.clone(), Clock::system());
    let device = device(&db).await;
    let (id, mut doc) = recorded();
    let plain: Vec<u8> = doc
        .get_changes(&[])
        .iter()
        .flat_map(|c| c.raw_bytes().to_vec())
        .collect();
    assert!(
        holds(&plain, ID_NUMBER),
        "the phone's changes hold the number in the clear"
    );

    let outcomes = apply_uploads(&ledger, &device, "127.0.0.1", &[upload(&id, &mut doc)])
        .await
        .unwrap();
    assert!(
        matches!(outcomes[..], [UploadOutcome::Accepted { .. }]),
        "{outcomes:?}"
    );
    // A later edit, then the document as if stored before ingest kept snapshots, so that
    // compaction has something to fold.
    let path = FieldPath::household("poverty_attribute").unwrap();
    layout::write_field(&mut doc, &path, Some(&FieldValue::Text("2".to_owned()))).unwrap();
    doc.commit();
    apply_uploads(&ledger, &device, "127.0.0.1", &[upload(&id, &mut doc)])
        .await
        .unwrap();
    sqlx::query("UPDATE document SET changes_after_snapshot = $1")
        .bind(COMPACT_AFTER_CHANGES)
        .execute(&db.pool)
        .await
        .unwrap();
    assert_eq!(ledger.compact().await.unwrap(), 1);

    let stored = stored_bytes(&db).await;
    assert!(stored.len() >= 6, "{} values", stored.len());
    for value in &stored {
        assert!(!holds(value, ID_NUMBER) && !holds(value, &ID_NUMBER[..17]));
        assert!(
            !value.starts_with(&AUTOMERGE_MAGIC),
            "an Automerge chunk in the clear"
        );
    }

    // A fresh server reads it all back through the key, and only through the key.
    let fresh = Ledger::new(db.clone(), vault.clone(), Clock::system());
    let (_, view) = fresh
        .read(id.as_str(), |_, view| view)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        view.members.values().next().unwrap()["id_number"]
            .value
            .display(),
        ID_NUMBER
    );
    assert_eq!(view.household_text("poverty_attribute"), Some("2"));
    let stranger = Ledger::new(db.clone(), Vault::generate(), Clock::system());
    assert!(matches!(
        stranger.read(id.as_str(), |_, view| view).await,
        Err(LedgerError::Vault(VaultError::UnknownKey(_)))
    ));

    // The feed and the first download hand devices the plain bytes again.
    let (updates, _, _) = fresh
        .feed_page(&device.id, "another", None, u32::MAX)
        .await
        .unwrap();
    let Payload::Document(bytes) = &updates[0].payload else {
        panic!("a first download sends documents");
    };
    let downloaded = layout::read_household(AutoCommit::load(bytes).unwrap().document()).unwrap();
    assert_eq!(downloaded, view);
    let (updates, _, _) = fresh
        .feed_page(
            &device.id,
            "another",
            Some(Cursor {
                feed: 0,
                download_after: None,
            }),
            u32::MAX,
        )
        .await
        .unwrap();
    let Payload::Changes(changes) = &updates[0].payload else {
        panic!("the feed sends changes");
    };
    let sent: Vec<u8> = changes.iter().flat_map(|c| c.to_vec()).collect();
    assert_eq!(sent, plain_after(&mut doc));

    // Search by a whole ID number goes through the hash; part of one finds nothing.
    let area = AreaCode::parse(VILLAGE).unwrap();
    let search = |area, text| register::HouseholdQuery {
        area,
        search: Some(text),
        member_status: None,
        attention: None,
        after: None,
        limit: 10,
    };
    let found = register::list(&db, &vault, &search(&area, "11010519491231002x"))
        .await
        .unwrap();
    assert_eq!(found.total, 1);
    let part = register::list(&db, &vault, &search(&area, "19491231"))
        .await
        .unwrap();
    assert_eq!(part.total, 0);
    let name = register::list(&db, &vault, &search(&area, "王"))
        .await
        .unwrap();
    assert_eq!(name.total, 1);
}

fn plain_after(doc: &mut AutoCommit) -> Vec<u8> {
    doc.get_changes(&[])
        .iter()
        .flat_map(|c| c.raw_bytes().to_vec())
        .collect()
}

async fn change_rows(db: &Db) -> i64 {
    sqlx::query("SELECT COUNT(*) AS n FROM change")
        .fetch_one(&db.pool)
        .await
        .unwrap()
        .try_get("n")
        .unwrap()
}

/// Two phones' edits to one household: one merged outside the write order, the other
/// written before the first takes it. The first is merged again on what is stored then,
/// and neither edit is lost.
#[tokio::test]
async fn test_a_household_written_while_an_upload_was_merging_keeps_both_edits() {
    let dir = tempfile::tempdir().unwrap();
    let db = database(dir.path()).await;
    let ledger = Ledger::new(db.clone(), Vault::generate(), Clock::system());
    let device = device(&db).await;
    let (id, mut doc) = recorded();
    apply_uploads(&ledger, &device, "127.0.0.1", &[upload(&id, &mut doc)])
        .await
        .unwrap();
    let poverty = FieldPath::household("poverty_attribute").unwrap();
    let name = FieldPath::member(&MemberKey::from_random([4; 16]), "name").unwrap();
    let mut phone_a = doc.fork();
    layout::write_field(&mut phone_a, &poverty, Some(&FieldValue::Text("2".into()))).unwrap();
    phone_a.commit();
    let mut phone_b = doc.fork();
    layout::write_field(
        &mut phone_b,
        &name,
        Some(&FieldValue::Text("王芳芳".into())),
    )
    .unwrap();
    phone_b.commit();

    let batch_a = [upload(&id, &mut phone_a)];
    let prepared = prepare_batch(&ledger, &device, &batch_a).await.unwrap();
    let b = apply_uploads(&ledger, &device, "127.0.0.1", &[upload(&id, &mut phone_b)])
        .await
        .unwrap();
    let a = commit_batch(&ledger, &device, "127.0.0.1", &batch_a, prepared)
        .await
        .unwrap();
    for outcomes in [&a, &b] {
        assert!(
            matches!(outcomes[..], [UploadOutcome::Accepted { .. }]),
            "{outcomes:?}"
        );
    }

    // Through this server's cache, through a fresh one, and in the register.
    let fresh = Ledger::new(db.clone(), ledger.vault().clone(), Clock::system());
    for ledger in [&ledger, &fresh] {
        let (_, view) = ledger
            .read(id.as_str(), |_, view| view)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(view.household_text("poverty_attribute"), Some("2"));
        let named = view.field(&name).map(|f| f.value.clone());
        assert_eq!(named, Some(FieldValue::Text("王芳芳".into())));
    }
    let registered: String = sqlx::query("SELECT name FROM member")
        .fetch_one(&db.pool)
        .await
        .unwrap()
        .try_get("name")
        .unwrap();
    assert_eq!(registered, "王芳芳");
    let mut both = phone_a.fork();
    both.merge(&mut phone_b).unwrap();
    assert_eq!(
        change_rows(&db).await,
        both.get_changes(&[]).len() as i64,
        "every change stored once"
    );
    let (_, mut stored) = fresh.document(id.as_str()).await.unwrap().unwrap();
    let mut heads = stored.get_heads();
    let mut expected = both.get_heads();
    heads.sort();
    expected.sort();
    assert_eq!(heads, expected);
}

/// A phone that retries a sync while the server still works on the first attempt (its
/// answer lost on the way): both attempts merge a household the server does not have
/// yet. The second finds it written by the first, and is told it is stored.
#[tokio::test]
async fn test_a_retry_that_overlaps_its_first_attempt_stores_the_household_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = database(dir.path()).await;
    let ledger = Ledger::new(db.clone(), Vault::generate(), Clock::system());
    let device = device(&db).await;
    let (id, mut doc) = recorded();
    let batch = [upload(&id, &mut doc)];

    let retry = prepare_batch(&ledger, &device, &batch).await.unwrap();
    let first = apply_uploads(&ledger, &device, "127.0.0.1", &batch)
        .await
        .unwrap();
    let second = commit_batch(&ledger, &device, "127.0.0.1", &batch, retry)
        .await
        .unwrap();
    assert_eq!(first, second);
    assert!(
        matches!(second[..], [UploadOutcome::Accepted { .. }]),
        "{second:?}"
    );
    assert_eq!(change_rows(&db).await, doc.get_changes(&[]).len() as i64);
    let households: i64 = sqlx::query("SELECT COUNT(*) AS n FROM household")
        .fetch_one(&db.pool)
        .await
        .unwrap()
        .try_get("n")
        .unwrap();
    assert_eq!(households, 1);
}
