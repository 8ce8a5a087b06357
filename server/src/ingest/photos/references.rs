//! Which photos a household's document references: the one place the server reads the
//! document's photo keys.
//!
//! A reference is a group of flat root keys `photos.<id>.<name>` (`docs/LAYOUT.md`): the
//! server reads `hash` (the photo's content address) and `kind`, and leaves the rest (size,
//! when taken, whom it shows) to the register. A reference without a readable hash or kind
//! is no reference: a photo is accepted only under a kind that says whether to seal it.

use automerge::{ROOT, ReadDoc, ScalarValueRef, ValueRef};
use schema::photo::{PhotoHash, PhotoKind};
use std::collections::BTreeMap;

/// The root keys of photo references start with this.
const PREFIX: &str = "photos.";

/// A photo a household's document references.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhotoReference {
    pub hash: PhotoHash,
    pub kind: PhotoKind,
}

/// Every photo `doc` references, in the order of their keys; a photo referenced twice is
/// listed once (the first kind wins).
pub fn referenced_photos<D: ReadDoc>(doc: &D) -> Vec<PhotoReference> {
    let mut parts: BTreeMap<String, (Option<PhotoHash>, Option<PhotoKind>)> = BTreeMap::new();
    // Keys after "photos." and before "photos/", the next character: every reference key.
    for item in doc.map_range(ROOT, PREFIX.to_owned().."photos/".to_owned()) {
        let Some((id, name)) = item.key[PREFIX.len()..].rsplit_once('.') else {
            continue;
        };
        let ValueRef::Scalar(ScalarValueRef::Str(text)) = &item.value else {
            continue;
        };
        let entry = parts.entry(id.to_owned()).or_default();
        match name {
            "hash" => entry.0 = PhotoHash::parse(text),
            "kind" => entry.1 = PhotoKind::parse(text),
            _ => {}
        }
    }
    let mut references: Vec<PhotoReference> = Vec::new();
    for (hash, kind) in parts.into_values() {
        if let (Some(hash), Some(kind)) = (hash, kind)
            && !references.iter().any(|known| known.hash == hash)
        {
            references.push(PhotoReference { hash, kind });
        }
    }
    references
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use automerge::AutoCommit;
    use automerge::transaction::Transactable;

    #[test]
    fn test_a_reference_needs_a_hash_and_a_kind_and_other_keys_are_ignored() {
        let door = "ab".repeat(32);
        let card = "cd".repeat(32);
        let mut doc = AutoCommit::new();
        doc.put(ROOT, "schema_version", 1_u64).unwrap();
        doc.put(ROOT, format!("photos.{}.hash", &door[..16]), door.as_str())
            .unwrap();
        doc.put(ROOT, format!("photos.{}.kind", &door[..16]), "door_plate")
            .unwrap();
        doc.put(ROOT, format!("photos.{}.bytes", &door[..16]), 1234_i64)
            .unwrap();
        doc.put(ROOT, format!("photos.{}.hash", &card[..16]), card.as_str())
            .unwrap();
        doc.put(ROOT, format!("photos.{}.kind", &card[..16]), "bank_card")
            .unwrap();
        // No kind: not a reference the server accepts a photo under.
        doc.put(ROOT, "photos.0123456789abcdef.hash", "ef".repeat(32))
            .unwrap();
        // Not a hash.
        doc.put(ROOT, "photos.fedcba9876543210.hash", "../../etc/passwd")
            .unwrap();
        doc.put(ROOT, "photos.fedcba9876543210.kind", "other")
            .unwrap();
        doc.put(ROOT, "household.photos", "not a reference")
            .unwrap();
        let found = referenced_photos(&doc);
        assert_eq!(
            found,
            vec![
                PhotoReference {
                    hash: PhotoHash::parse(&door).unwrap(),
                    kind: PhotoKind::DoorPlate
                },
                PhotoReference {
                    hash: PhotoHash::parse(&card).unwrap(),
                    kind: PhotoKind::BankCard
                },
            ]
        );
    }
}
