#![allow(clippy::unwrap_used)]
use super::*;
use crate::clock::Clock;
use crate::storage::ledger::Ledger;
use crate::storage::test_support::{insert_document_row, sqlite_before};
use crate::storage::vault::Vault;
use automerge::AutoCommit;
use schema::fields::{Entity, FieldPath};
use schema::ids::{AreaCode, HouseholdId, MemberKey, RecordId};
use schema::layout::{self, FieldValue};
use sqlx::Row;

/// Migration 0007 keeps a plain birth date's year, drops the plain date and employer,
/// and lists the household for refilling; the refill seals them from the document.
#[tokio::test]
async fn test_rows_migration_0007_could_not_seal_are_refilled_sealed_from_the_document() {
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite_before(dir.path(), "0007").await;

    // A household as ingest stored it before 0007: its document, and a member row with
    // the birth date and employer in the clear.
    let vault = Vault::generate();
    let ledger = Ledger::new(db.clone(), vault.clone(), Clock::system());
    let id = HouseholdId::from_random([7; 16]);
    let village = AreaCode::parse_village("141124100201").unwrap();
    let mut doc = AutoCommit::new();
    layout::init_household(&mut doc, &id, &village, "0007", 1_700_000_000).unwrap();
    let key = MemberKey::from_random([8; 16]);
    for (name, value) in [
        ("name", "王芳"),
        ("birth_date", "1957-03-14"),
        ("employment.employer", "宏达煤业"),
    ] {
        let path = FieldPath::member(&key, name).unwrap();
        let value = FieldValue::Text(value.to_owned());
        layout::write_field(&mut doc, &path, Some(&value)).unwrap();
    }
    doc.commit();
    let changes = doc.get_changes(&[]);
    insert_document_row(&db, id.as_str(), village.as_str(), 0, 0).await;
    for change in &changes {
        sqlx::query(
            "INSERT INTO change (household_id, hash, actor, bytes, received_at)
             VALUES ($1, $2, $3, $4, 0)",
        )
        .bind(id.as_str())
        .bind(change.hash().as_ref().to_vec())
        .bind(change.actor_id().to_hex_string())
        .bind(vault.seal(change.raw_bytes()))
        .execute(&db.pool)
        .await
        .unwrap();
    }
    sqlx::query(
        "INSERT INTO household (id, village, number, member_count, visit_count,
             error_count, warning_count, conflict_count, search_text, updated_at)
         VALUES ($1, $2, '0007', 1, 0, 0, 0, 0, '', 0)",
    )
    .bind(id.as_str())
    .bind(village.as_str())
    .execute(&db.pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO member (household_id, member_key, name, birth_date, employer)
         VALUES ($1, $2, '王芳', '1957-03-14', '宏达煤业')",
    )
    .bind(id.as_str())
    .bind(key.as_str())
    .execute(&db.pool)
    .await
    .unwrap();

    sqlx::query("UPDATE document SET last_feed = (SELECT MAX(feed) FROM change)")
        .execute(&db.pool)
        .await
        .unwrap();

    db.migrate().await.unwrap();
    let plain_gone = sqlx::query("SELECT birth_date FROM member")
        .fetch_all(&db.pool)
        .await;
    assert!(plain_gone.is_err(), "the plain column is dropped");
    let row = sqlx::query("SELECT birth_year, birth_date_sealed FROM member")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(
        row.try_get::<Option<i64>, _>("birth_year").unwrap(),
        Some(1957)
    );
    assert!(
        row.try_get::<Option<Vec<u8>>, _>("birth_date_sealed")
            .unwrap()
            .is_none()
    );

    assert_eq!(refill_pending(&ledger).await.unwrap(), 1);
    let row = sqlx::query("SELECT birth_year, birth_date_sealed, employer_sealed FROM member")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    let opened = |column: &str| {
        let sealed: Vec<u8> = row.try_get(column).unwrap();
        vault.open_text(&sealed).unwrap()
    };
    assert_eq!(opened("birth_date_sealed"), "1957-03-14");
    assert_eq!(opened("employer_sealed"), "宏达煤业");
    assert_eq!(
        row.try_get::<Option<i64>, _>("birth_year").unwrap(),
        Some(1957)
    );
    assert_eq!(refill_pending(&ledger).await.unwrap(), 0, "refilled once");
}

/// A member who moved out keeps a row, with status, date and destination, but leaves
/// the household's member count and search text.
#[test]
fn test_a_member_who_moved_out_is_projected_as_history() {
    let id = HouseholdId::from_random([1; 16]);
    let village = AreaCode::parse_village("141124100201").unwrap();
    let mut doc = AutoCommit::new();
    layout::init_household(&mut doc, &id, &village, "0007", 1_700_000_000).unwrap();
    let [stays, moved] = [[2; 16], [3; 16]].map(MemberKey::from_random);
    let mut put = |key: &MemberKey, name: &str, value: &str| {
        let path = FieldPath::member(key, name).unwrap();
        let value = FieldValue::Text(value.to_owned());
        layout::write_field(&mut doc, &path, Some(&value)).unwrap();
    };
    put(&stays, "name", "刘伟");
    put(&moved, "name", "王芳");
    put(&moved, "status", "02");
    put(&moved, "left_on", "2026-03-01");
    put(&moved, "moved_to", "太原");
    doc.commit();
    let view = layout::read_household(doc.document()).unwrap();
    let projection = Projection::of(id.as_str(), &view, Clock::system().today());
    assert_eq!(projection.row.member_count, 1);
    assert_eq!(projection.row.search_text, "0007\n刘伟");
    let row = |key: &MemberKey| {
        projection
            .members
            .iter()
            .find(|m| m.key == key.as_str())
            .unwrap()
    };
    assert_eq!(row(&stays).status, "01");
    let moved = row(&moved);
    assert_eq!(moved.status, "02");
    assert_eq!(moved.left_on.as_deref(), Some("2026-03-01"));
    assert_eq!(moved.moved_to.as_deref(), Some("太原"));
}

/// The rows of members, visits, trainings and subsidies that have left the document go;
/// the others stay.
#[tokio::test]
async fn test_rows_of_records_gone_from_the_document_are_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let db = crate::storage::db::test_sqlite(dir.path()).await;
    let vault = Vault::generate();
    let id = HouseholdId::from_random([1; 16]);
    let village = AreaCode::parse_village("141124100201").unwrap();
    let mut doc = AutoCommit::new();
    layout::init_household(&mut doc, &id, &village, "0007", 1_700_000_000).unwrap();
    let members = [[2; 16], [3; 16]].map(MemberKey::from_random);
    for key in &members {
        let name = FieldValue::Text("王芳".to_owned());
        let path = FieldPath::member(key, "name").unwrap();
        layout::write_field(&mut doc, &path, Some(&name)).unwrap();
    }
    let visits = [[4; 8], [5; 8]].map(RecordId::from_random);
    for visit in &visits {
        let path = FieldPath::record(Entity::Visit, visit, "started_at").unwrap();
        layout::write_field(&mut doc, &path, Some(&FieldValue::Integer(1))).unwrap();
    }
    let trainings = [[6; 8], [7; 8]].map(RecordId::from_random);
    let subsidies = [[8; 8], [9; 8]].map(RecordId::from_random);
    for (entity, record) in trainings
        .iter()
        .map(|t| (Entity::Training, t))
        .chain(subsidies.iter().map(|s| (Entity::Subsidy, s)))
    {
        let path = FieldPath::record(entity, record, "member").unwrap();
        let member = FieldValue::Text(members[1].to_string());
        layout::write_field(&mut doc, &path, Some(&member)).unwrap();
    }
    doc.commit();
    let mut view = layout::read_household(doc.document()).unwrap();
    insert_document_row(&db, id.as_str(), village.as_str(), 1, 1).await;
    let mut conn = db.pool.acquire().await.unwrap();
    let clock = Clock::system();
    let projection = Projection::of(id.as_str(), &view, clock.today());
    write(&mut conn, &vault, &[&projection], clock.now_seconds())
        .await
        .unwrap();

    view.members.remove(members[0].as_str());
    view.visits.remove(visits[0].as_str());
    view.trainings.remove(trainings[0].as_str());
    view.subsidies.remove(subsidies[0].as_str());
    let clock = Clock::system();
    let projection = Projection::of(id.as_str(), &view, clock.today());
    write(&mut conn, &vault, &[&projection], clock.now_seconds())
        .await
        .unwrap();
    let left: Vec<String> = sqlx::query(
        "SELECT member_key AS record FROM member UNION ALL SELECT visit_id FROM visit
         UNION ALL SELECT training_id FROM training UNION ALL SELECT subsidy_id FROM subsidy",
    )
    .fetch_all(&mut *conn)
    .await
    .unwrap()
    .iter()
    .map(|row| row.try_get("record").unwrap())
    .collect();
    assert_eq!(
        left,
        [
            members[1].to_string(),
            visits[1].to_string(),
            trainings[1].to_string(),
            subsidies[1].to_string()
        ],
        "the rows left"
    );
}

/// A training and a subsidy become rows naming their member; a birth date gives its plain
/// year and month-day; employment after training is counted in calendar months.
#[test]
fn test_trainings_subsidies_and_birth_month_day_are_projected() {
    let id = HouseholdId::from_random([1; 16]);
    let village = AreaCode::parse_village("141124100201").unwrap();
    let mut doc = AutoCommit::new();
    layout::init_household(&mut doc, &id, &village, "0009", 1_700_000_000).unwrap();
    let member = MemberKey::from_random([2; 16]);
    let training = RecordId::from_random([3; 8]);
    let subsidy = RecordId::from_random([4; 8]);
    let mut put = |path: FieldPath, value: FieldValue| {
        layout::write_field(&mut doc, &path, Some(&value)).unwrap();
    };
    let text = |value: &str| FieldValue::Text(value.to_owned());
    put(
        FieldPath::member(&member, "birth_date").unwrap(),
        text("1990-02-28"),
    );
    let t = |name: &str| FieldPath::record(Entity::Training, &training, name).unwrap();
    put(t("member"), text(member.as_str()));
    put(t("institution"), text("临县职业学校"));
    put(t("model"), text("01"));
    put(t("end_date"), text("2025-01-31"));
    put(t("employed_on"), text("2025-03-01"));
    put(t("completed"), FieldValue::Boolean(true));
    put(t("certificate"), text("07"));
    let s = |name: &str| FieldPath::record(Entity::Subsidy, &subsidy, name).unwrap();
    put(s("member"), text(member.as_str()));
    put(s("kind"), text("01"));
    put(s("year"), FieldValue::Integer(2025));
    put(s("amount"), FieldValue::Integer(800));
    doc.commit();
    let view = layout::read_household(doc.document()).unwrap();
    let projection = Projection::of(id.as_str(), &view, Clock::system().today());
    let row = &projection.members[0];
    assert_eq!(row.birth_year, Some(1990));
    assert_eq!(row.birth_month_day.as_deref(), Some("02-28"));
    let training = &projection.trainings[0];
    assert_eq!(training.member.as_deref(), Some(member.as_str()));
    assert_eq!(training.institution.as_deref(), Some("临县职业学校"));
    assert_eq!(training.completed, Some(1));
    assert_eq!(training.certificate.as_deref(), Some("07"));
    // 31 January plus one month is 28 February, before 1 March: two months.
    assert_eq!(training.months_to_employment, Some(2));
    let subsidy = &projection.subsidies[0];
    assert_eq!(subsidy.member.as_deref(), Some(member.as_str()));
    assert_eq!(
        (subsidy.kind.as_deref(), subsidy.year, subsidy.amount),
        (Some("01"), Some(2025), Some(800))
    );
}

#[test]
fn test_months_to_employment_follow_the_calendar() {
    let date = |text: &str| text.parse::<jiff::civil::Date>().unwrap();
    let months = |ended: &str, employed: &str| {
        super::projection::months_to_employment(date(ended), date(employed))
    };
    assert_eq!(months("2025-03-15", "2025-01-01"), 0, "employed first");
    assert_eq!(months("2025-03-15", "2025-03-15"), 0);
    assert_eq!(months("2025-03-15", "2025-03-16"), 1);
    assert_eq!(months("2025-03-15", "2025-09-15"), 6, "exactly six months");
    assert_eq!(months("2025-03-15", "2025-09-16"), 7);
    assert_eq!(
        months("2024-11-30", "2025-02-28"),
        3,
        "day clamped to February"
    );
    assert_eq!(months("2024-11-30", "2025-03-01"), 4);
}

/// Migration 0009 lists every household for refilling, so households recorded before it
/// gain their training and subsidy rows and birth month-day from their documents.
#[tokio::test]
async fn test_migration_0009_lists_every_household_for_refill() {
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite_before(dir.path(), "0009").await;
    let id = HouseholdId::from_random([7; 16]);
    insert_document_row(&db, id.as_str(), "141124100201", 0, 0).await;
    sqlx::query(
        "INSERT INTO household (id, village, number, member_count, visit_count,
             error_count, warning_count, conflict_count, search_text, updated_at)
         VALUES ($1, '141124100201', '0008', 0, 0, 0, 0, 0, '', 0)",
    )
    .bind(id.as_str())
    .execute(&db.pool)
    .await
    .unwrap();
    db.migrate().await.unwrap();
    let listed: Vec<String> = sqlx::query_scalar("SELECT household_id FROM register_refill")
        .fetch_all(&db.pool)
        .await
        .unwrap();
    assert_eq!(listed, [id.to_string()]);
}

/// Paging by key visits every matching household once, in order, whatever the page size;
/// the filters by member status and by what needs a clerk select what they say.
#[tokio::test]
async fn test_the_list_pages_by_key_and_filters_by_status_and_attention() {
    let dir = tempfile::tempdir().unwrap();
    let db = crate::storage::db::test_sqlite(dir.path()).await;
    let vault = Vault::generate();
    // Seven households in two villages: the third has errors, the fourth a conflict, the
    // fifth a member who moved out, the sixth an open review item.
    let villages = ["141124100201", "141124100202"];
    for n in 0..7 {
        let id = format!("h{n}");
        let village = villages[n % 2];
        insert_document_row(&db, &id, village, 0, 0).await;
        sqlx::query(
            "INSERT INTO household (id, village, number, member_count, visit_count,
                 error_count, warning_count, conflict_count, search_text, updated_at)
             VALUES ($1, $2, $3, 1, 0, $4, 0, $5, $6, 0)",
        )
        .bind(&id)
        .bind(village)
        .bind(format!("{:04}", 7 - n))
        .bind(i64::from(n == 2))
        .bind(i64::from(n == 3))
        .bind(format!("{:04}\n户主{n}", 7 - n))
        .execute(&db.pool)
        .await
        .unwrap();
        let status = if n == 4 { "02" } else { "01" };
        sqlx::query(
            "INSERT INTO member (household_id, member_key, name, status) VALUES ($1, 'm', $2, $3)",
        )
        .bind(&id)
        .bind(format!("户主{n}"))
        .bind(status)
        .execute(&db.pool)
        .await
        .unwrap();
    }
    sqlx::query(
        "INSERT INTO review_item (id, kind, status, household_id, village, path, rule,
             summary_zh, summary_en, opened_at, updated_at)
         VALUES ('r1', 'rule', 'open', 'h5', '141124100202', '', 'x', '', '', 0, 0)",
    )
    .execute(&db.pool)
    .await
    .unwrap();

    let county = AreaCode::parse("141124").unwrap();
    fn query<'a>(area: &'a AreaCode, after: Option<&'a After>, limit: i64) -> HouseholdQuery<'a> {
        HouseholdQuery {
            area,
            search: None,
            member_status: None,
            attention: None,
            after,
            limit,
        }
    }
    let everyone = list(&db, &vault, &query(&county, None, 100)).await.unwrap();
    assert_eq!(everyone.total, 7);
    assert_eq!(everyone.next, None);
    let in_order: Vec<String> = everyone.households.iter().map(|h| h.id.clone()).collect();
    for limit in [1, 2, 3] {
        let (mut seen, mut after) = (Vec::new(), None::<After>);
        loop {
            let page = list(&db, &vault, &query(&county, after.as_ref(), limit))
                .await
                .unwrap();
            assert_eq!(page.total, 7, "the total is on every page");
            seen.extend(page.households.iter().map(|h| h.id.clone()));
            match page.next {
                Some(next) => after = Some(After::parse(&next).unwrap()),
                None => break,
            }
        }
        assert_eq!(seen, in_order, "pages of {limit}");
    }

    let ids = |page: HouseholdPage| -> Vec<String> {
        page.households.into_iter().map(|h| h.id).collect()
    };
    let filtered = |member_status, attention| HouseholdQuery {
        member_status,
        attention,
        ..query(&county, None, 100)
    };
    assert_eq!(
        ids(list(&db, &vault, &filtered(Some("02"), None))
            .await
            .unwrap()),
        ["h4"]
    );
    for (attention, expected) in [
        (Attention::Errors, "h2"),
        (Attention::Conflicts, "h3"),
        (Attention::OpenReview, "h5"),
    ] {
        let page = list(&db, &vault, &filtered(None, Some(attention)))
            .await
            .unwrap();
        assert_eq!(ids(page), [expected], "{attention:?}");
    }
    let village = AreaCode::parse("141124100202").unwrap();
    let named = HouseholdQuery {
        area: &village,
        search: Some("户主5"),
        ..query(&county, None, 100)
    };
    assert_eq!(ids(list(&db, &vault, &named).await.unwrap()), ["h5"]);
}

/// What only the rosters show of a member is stored sealed, as one object, and opens back
/// to the values as stored; a member with none of those fields has no details row value.
#[tokio::test]
async fn test_a_members_roster_details_are_sealed_and_open_back() {
    let dir = tempfile::tempdir().unwrap();
    let db = crate::storage::db::test_sqlite(dir.path()).await;
    let vault = Vault::generate();
    let id = HouseholdId::from_random([1; 16]);
    let village = AreaCode::parse_village("141124100201").unwrap();
    let mut doc = AutoCommit::new();
    layout::init_household(&mut doc, &id, &village, "0012", 1_700_000_000).unwrap();
    let [worker, child] = [[2; 16], [3; 16]].map(MemberKey::from_random);
    for (path, value) in [
        (
            FieldPath::member(&worker, "name"),
            FieldValue::Text("张伟".into()),
        ),
        (
            FieldPath::member(&worker, "employment.place"),
            FieldValue::Text("广东省深圳市".into()),
        ),
        (
            FieldPath::member(&worker, "employment.monthly_income"),
            FieldValue::Integer(4500),
        ),
        (
            FieldPath::member(&worker, "employment.contract_signed"),
            FieldValue::Boolean(true),
        ),
        (
            FieldPath::member(&child, "name"),
            FieldValue::Text("张小".into()),
        ),
    ] {
        layout::write_field(&mut doc, &path.unwrap(), Some(&value)).unwrap();
    }
    doc.commit();
    let view = layout::read_household(doc.document()).unwrap();
    insert_document_row(&db, id.as_str(), village.as_str(), 1, 1).await;
    let mut conn = db.pool.acquire().await.unwrap();
    let clock = Clock::system();
    let projection = Projection::of(id.as_str(), &view, clock.today());
    write(&mut conn, &vault, &[&projection], clock.now_seconds())
        .await
        .unwrap();
    let rows = sqlx::query("SELECT member_key, details_sealed FROM member ORDER BY member_key")
        .fetch_all(&mut *conn)
        .await
        .unwrap();
    let sealed: Vec<Option<Vec<u8>>> = rows
        .iter()
        .map(|row| row.try_get("details_sealed").unwrap())
        .collect();
    let worker_sealed = sealed[0].as_deref().unwrap();
    assert!(
        !String::from_utf8_lossy(worker_sealed).contains("深圳"),
        "sealed at rest"
    );
    let details = open_details(&vault, Some(worker_sealed));
    assert_eq!(
        details,
        MemberDetails::from([
            ("employment.contract_signed".to_owned(), "true".to_owned()),
            ("employment.monthly_income".to_owned(), "4500".to_owned()),
            ("employment.place".to_owned(), "广东省深圳市".to_owned()),
        ])
    );
    assert_eq!(sealed[1], None, "no details, no value");
    assert!(open_details(&Vault::generate(), Some(worker_sealed)).is_empty());
}
