//! A photo's reference in a household document (layout 3). The photo's bytes live outside
//! the document, stored by their SHA-256 (`schema::photo`); the document holds only
//! `photos.<first 16 hex digits of the hash>.hash`, `.kind`, `.bytes`, `.taken_at` and `.of`,
//! so a photo never bloats the document, and one photo attached on two phones is one entry.

use super::view::HouseholdView;
use crate::fields::Entity;
use crate::ids::{MemberKey, RecordId};
use crate::message::Message;
use crate::photo::{PhotoHash, PhotoKind};
use std::fmt;

/// What a photo belongs to: the household itself, or one of its records.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PhotoOf {
    Household,
    Member(MemberKey),
    Visit(RecordId),
    Training(RecordId),
    Subsidy(RecordId),
}

impl PhotoOf {
    /// Reads what `.of` holds: `household`, or a record's prefix such as `members.<key>`.
    pub fn parse(text: &str) -> Result<PhotoOf, Message> {
        if text == "household" {
            return Ok(PhotoOf::Household);
        }
        let bad = || {
            Message::new(
                format!(
                    "照片所属记录“{text}”格式不对：应为 household、members.<成员标识>、visits.<记录标识>、trainings.<记录标识> 或 subsidies.<记录标识>"
                ),
                format!(
                    "A photo's record \"{text}\" is malformed: expected household, members.<key>, visits.<id>, trainings.<id> or subsidies.<id>"
                ),
            )
        };
        let (prefix, key) = text.split_once('.').ok_or_else(bad)?;
        let record = |key: &str| RecordId::parse(key).map_err(|err| err.message);
        match prefix {
            "members" => Ok(PhotoOf::Member(
                MemberKey::parse(key).map_err(|err| err.message)?,
            )),
            "visits" => Ok(PhotoOf::Visit(record(key)?)),
            "trainings" => Ok(PhotoOf::Training(record(key)?)),
            "subsidies" => Ok(PhotoOf::Subsidy(record(key)?)),
            _ => Err(bad()),
        }
    }

    /// The entity and key of the record, `None` for the household itself.
    pub fn record(&self) -> Option<(Entity, &str)> {
        match self {
            PhotoOf::Household => None,
            PhotoOf::Member(key) => Some((Entity::Member, key.as_str())),
            PhotoOf::Visit(id) => Some((Entity::Visit, id.as_str())),
            PhotoOf::Training(id) => Some((Entity::Training, id.as_str())),
            PhotoOf::Subsidy(id) => Some((Entity::Subsidy, id.as_str())),
        }
    }

    /// Whether the household holds the record the photo belongs to.
    pub fn exists_in(&self, view: &HouseholdView) -> bool {
        match self.record() {
            None => true,
            Some((entity, key)) => view.records(entity).any(|(k, _)| k == key),
        }
    }
}

impl fmt::Display for PhotoOf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.record() {
            None => f.write_str("household"),
            Some((entity, key)) => write!(f, "{}.{key}", entity.prefix()),
        }
    }
}

/// One photo a household's document references, as read from its keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhotoReference {
    pub hash: PhotoHash,
    /// `None` when `.kind` holds no code of the list (validation reports it).
    pub kind: Option<PhotoKind>,
    pub bytes: Option<u64>,
    /// When the photo was attached on the phone (seconds since 1970).
    pub taken_at: Option<i64>,
    pub of: Option<PhotoOf>,
}

/// A photo's key in the document: the first 16 hex digits of its hash.
pub fn photo_key(hash: &PhotoHash) -> RecordId {
    RecordId::parse(&hash.as_str()[..16]).expect("16 lowercase hex digits are a record id")
}

/// Every photo the household's document references: entries whose `.hash` is a photo hash
/// and whose key is that hash's start (anything else references nothing, and validation
/// reports it). In key order.
pub fn photo_references(view: &HouseholdView) -> Vec<PhotoReference> {
    view.photos
        .iter()
        .filter_map(|(key, record)| {
            let text = |name: &str| record.get(name).and_then(|f| f.value.as_text());
            let integer = |name: &str| record.get(name).and_then(|f| f.value.as_integer());
            let hash = PhotoHash::parse(text("hash")?)?;
            (photo_key(&hash).as_str() == key).then(|| PhotoReference {
                kind: text("kind").and_then(PhotoKind::parse),
                bytes: integer("bytes").and_then(|n| u64::try_from(n).ok()),
                taken_at: integer("taken_at"),
                of: text("of").and_then(|of| PhotoOf::parse(of).ok()),
                hash,
            })
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::fields::FieldPath;
    use crate::ids::{AreaCode, HouseholdId};
    use crate::layout::{FieldValue, init_household, read_household, write_field};
    use crate::validation::validate;
    use automerge::AutoCommit;

    fn household_with_photo(key: &str, hash: &str, of: &str) -> HouseholdView {
        let mut doc = AutoCommit::new();
        let id = HouseholdId::parse("00112233445566778899aabbccddeeff").unwrap();
        let village = AreaCode::parse_village("141124100201").unwrap();
        init_household(&mut doc, &id, &village, "", 1_796_000_000).unwrap();
        for (name, value) in [
            ("hash", FieldValue::Text(hash.to_owned())),
            ("kind", FieldValue::Text("door_plate".to_owned())),
            ("bytes", FieldValue::Integer(123_456)),
            ("taken_at", FieldValue::Integer(1_796_000_100)),
            ("of", FieldValue::Text(of.to_owned())),
        ] {
            let path = FieldPath::parse(&format!("photos.{key}.{name}")).unwrap();
            write_field(&mut doc, &path, Some(&value)).unwrap();
        }
        read_household(doc.document()).unwrap()
    }

    #[test]
    fn test_a_photo_reference_reads_back_from_its_keys() {
        let hash = format!("0123456789abcdef{}", "e".repeat(48));
        let view = household_with_photo("0123456789abcdef", &hash, "household");
        let references = photo_references(&view);
        assert_eq!(
            references,
            vec![PhotoReference {
                hash: PhotoHash::parse(&hash).unwrap(),
                kind: Some(PhotoKind::DoorPlate),
                bytes: Some(123_456),
                taken_at: Some(1_796_000_100),
                of: Some(PhotoOf::Household),
            }]
        );
        let today = jiff::civil::date(2026, 12, 6);
        assert!(
            validate(&view, today)
                .iter()
                .all(|i| !i.rule.starts_with("photo"))
        );
    }

    #[test]
    fn test_a_hash_that_is_not_its_keys_photo_references_nothing_and_is_reported() {
        let hash = "f".repeat(64);
        let view = household_with_photo("0123456789abcdef", &hash, "members.abc");
        assert_eq!(photo_references(&view), Vec::new());
        let today = jiff::civil::date(2026, 12, 6);
        let rules: Vec<&str> = validate(&view, today).iter().map(|i| i.rule).collect();
        assert!(rules.contains(&"photo.bad_hash"), "{rules:?}");
        assert!(rules.contains(&"photo.record_unknown"), "{rules:?}");
    }

    #[test]
    fn test_what_a_photo_belongs_to_reads_back_from_its_text() {
        for text in ["household", "members.0a1b2c", "visits.0011223344556677"] {
            assert_eq!(PhotoOf::parse(text).unwrap().to_string(), text);
        }
        for bad in ["", "members", "people.abc", "visits.XYZ", "household.x"] {
            assert!(PhotoOf::parse(bad).is_err(), "{bad}");
        }
    }
}
