//! ID numbers as volunteers and staff type them: in groups, with hyphens, in full-width
//! digits, in the legacy 15-digit form. The phone stores the one 18-character form, the
//! server's register holds and validates it as the phone does, and staff find the household
//! by the number typed any of those ways.

use crate::support::{area, detail};
use doorstep_e2e::{Backend, COUNTY, Phone, Server, TestDatabase, VILLAGE};

const HEAD: &str = "11010519491231002X";
/// The 18-character form of the legacy number `440524800101001`.
const SPOUSE: &str = "440524198001010013";

#[test]
fn test_a_number_typed_in_groups_or_the_legacy_form_is_one_number_on_phone_and_server() {
    for backend in Backend::all() {
        typed_forms(&backend);
    }
}

fn typed_forms(backend: &Backend) {
    let db = TestDatabase::new(backend);
    let server = Server::start(&db);
    let phone = Phone::new("phone-a", &server, &db.add_device(&[VILLAGE]));
    let household = phone.store.create_household(&area(VILLAGE), None).unwrap();
    let head = phone
        .store
        .add_member(
            &household,
            "李秀英",
            Some("１１０１０５－１９４９１２３１－００２ｘ"),
        )
        .unwrap();
    let spouse = phone.store.add_member(&household, "陈静", None).unwrap();
    phone
        .store
        .set_field(
            &household,
            &format!("members.{spouse}.id_number"),
            "440524 800101 001",
        )
        .unwrap();
    // The head's number under another name is refused on the phone: the server never
    // receives a third member, nor a second name for the head.
    let refused = phone
        .store
        .add_member(&household, "李四", Some(HEAD))
        .unwrap_err();
    assert!(refused.message().zh.contains("李秀英"), "{refused:?}");
    phone.sync();

    let staff = server.staff_token(&db, COUNTY, "审核员");
    let register = detail(&server, &staff, &household);
    let members = register["members"].as_object().unwrap();
    assert_eq!(members.len(), 2, "{backend:?}: {members:?}");
    assert_eq!(members[head.as_str()]["name"]["value"], "李秀英");
    assert_eq!(members[head.as_str()]["id_number"]["value"], HEAD);
    assert_eq!(members[spouse.as_str()]["id_number"]["value"], SPOUSE);
    // The server's validation reads the numbers as the phone's does: neither is reported.
    let about_numbers: Vec<&serde_json::Value> = register["issues"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|issue| issue["path"].as_str().unwrap().ends_with(".id_number"))
        .collect();
    assert!(about_numbers.is_empty(), "{backend:?}: {about_numbers:?}");

    // Staff searching by a whole number find the household however it is typed, through
    // the keyed hash the phone's form was stored under.
    for typed in [
        "110105 19491231 002x",
        "110105-19491231-002X",
        "１１０１０５１９４９１２３１００２Ｘ",
        "440524800101001",
        "440524 800101 001",
        "4405 2419 8001 0100 13",
    ] {
        let (status, page) = server.get_json(
            &format!("/api/v1/households?search={}", query_value(typed)),
            &staff,
        );
        assert_eq!(status, 200, "{backend:?}: {page}");
        let found: Vec<&str> = page["households"]
            .as_array()
            .unwrap()
            .iter()
            .map(|row| row["id"].as_str().unwrap())
            .collect();
        assert_eq!(found, [household.as_str()], "{backend:?}: {typed}");
    }
}

/// `text` as a URL query value: every byte but ASCII letters and digits percent-encoded.
fn query_value(text: &str) -> String {
    text.bytes()
        .map(|byte| {
            if byte.is_ascii_alphanumeric() {
                char::from(byte).to_string()
            } else {
                format!("%{byte:02X}")
            }
        })
        .collect()
}
