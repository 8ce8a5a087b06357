//! Identifiers that can only hold valid values: area codes, household ids, member keys and
//! the ids of visits, trainings and subsidies.

use crate::id_number::IdNumber;
use crate::message::Message;
use serde::Serialize;
use std::fmt;

/// Why a string is not a valid identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.message.en)]
pub struct InvalidId {
    pub message: Message,
}

/// The level of an administrative area, told by the length of its code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AreaLevel {
    Province,
    City,
    County,
    Township,
    Village,
}

/// An administrative area code (GB/T 2260 and the statistical division codes):
/// province 2 digits, city 4, county 6, township 9, village 12.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct AreaCode(String);

impl AreaCode {
    pub fn parse(input: &str) -> Result<AreaCode, InvalidId> {
        let code = input.trim();
        let all_digits = !code.is_empty() && code.bytes().all(|b| b.is_ascii_digit());
        if !all_digits || !matches!(code.len(), 2 | 4 | 6 | 9 | 12) {
            return Err(InvalidId {
                message: Message::new(
                    format!("区划代码“{code}”无效：应为 2、4、6、9 或 12 位数字"),
                    format!("Invalid area code \"{code}\": expected 2, 4, 6, 9 or 12 digits"),
                ),
            });
        }
        Ok(AreaCode(code.to_owned()))
    }

    /// Parses a code that must name a village (12 digits).
    pub fn parse_village(input: &str) -> Result<AreaCode, InvalidId> {
        let code = AreaCode::parse(input)?;
        if code.level() != AreaLevel::Village {
            return Err(InvalidId {
                message: Message::new(
                    format!("“{}”不是村级区划代码：村级代码为 12 位数字", code.0),
                    format!(
                        "\"{}\" is not a village code: village codes have 12 digits",
                        code.0
                    ),
                ),
            });
        }
        Ok(code)
    }

    pub fn level(&self) -> AreaLevel {
        match self.0.len() {
            2 => AreaLevel::Province,
            4 => AreaLevel::City,
            6 => AreaLevel::County,
            9 => AreaLevel::Township,
            _ => AreaLevel::Village,
        }
    }

    /// Whether `other` is this area or lies inside it.
    pub fn contains(&self, other: &AreaCode) -> bool {
        other.0.starts_with(&self.0)
    }

    /// The area this one lies directly inside; `None` for a province.
    pub fn parent(&self) -> Option<AreaCode> {
        let length = match self.level() {
            AreaLevel::Province => return None,
            AreaLevel::City => 2,
            AreaLevel::County => 4,
            AreaLevel::Township => 6,
            AreaLevel::Village => 9,
        };
        Some(AreaCode(self.0[..length].to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AreaCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Checks a key that becomes one segment of a field path: lowercase letters and digits only,
/// so it can never contain the path separator.
fn parse_key(input: &str, what_zh: &str, what_en: &str) -> Result<String, InvalidId> {
    let key = input.trim();
    let valid = (1..=64).contains(&key.len())
        && key
            .bytes()
            .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase());
    if valid {
        Ok(key.to_owned())
    } else {
        Err(InvalidId {
            message: Message::new(
                format!("{what_zh}“{key}”无效：只能包含小写字母和数字，最长 64 位"),
                format!(
                    "Invalid {what_en} \"{key}\": only lowercase letters and digits, at most 64"
                ),
            ),
        })
    }
}

macro_rules! key_type {
    ($(#[$doc:meta])* $name:ident, $random_bytes:literal, $zh:literal, $en:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn parse(input: &str) -> Result<$name, InvalidId> {
                parse_key(input, $zh, $en).map($name)
            }

            /// A fresh id from random bytes, for records created in the field.
            pub fn from_random(bytes: [u8; $random_bytes]) -> $name {
                $name(hex::encode(bytes))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

key_type!(
    /// The id of a household document. Registry households keep an id derived from their
    /// 户编号; households created in the field get a random one.
    HouseholdId,
    16,
    "户标识",
    "household id"
);
key_type!(
    /// The key of a member inside a household document. See [`MemberKeySecret::member_key`].
    MemberKey,
    16,
    "成员标识",
    "member key"
);
key_type!(
    /// The id of a visit, training or subsidy record inside a household document. It only
    /// has to be unique within its household, so 8 random bytes (16 hex digits) are plenty,
    /// and every edit of the record carries it to the server: half the length of a household
    /// id is a saving on a 2G link.
    RecordId,
    8,
    "记录标识",
    "record id"
);

/// The deployment-wide secret that member keys are hashed with.
///
/// Every device of one deployment must hold the same secret, so that two phones that add the
/// same person offline derive the same member key. It is a keyed hash rather than a plain one
/// because ID numbers have little entropy: without the key, anyone could recover an ID number
/// from a member key by trying every birth date and sequence.
#[derive(Clone)]
pub struct MemberKeySecret([u8; 32]);

impl fmt::Debug for MemberKeySecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MemberKeySecret(…)")
    }
}

impl MemberKeySecret {
    /// The secret used until a device is connected to a server, which hands out the
    /// deployment's own. Fine for demos and tests, never for real data.
    pub fn development() -> MemberKeySecret {
        MemberKeySecret::from_passphrase("doorstep development member key")
    }

    pub fn from_passphrase(passphrase: &str) -> MemberKeySecret {
        MemberKeySecret(blake3::derive_key(
            "doorstep 2026 member key",
            passphrase.as_bytes(),
        ))
    }

    pub fn from_bytes(bytes: [u8; 32]) -> MemberKeySecret {
        MemberKeySecret(bytes)
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The stable key of the member with this ID number: 24 hex characters (96 bits), so
    /// that collisions stay negligible across a whole country's population.
    pub fn member_key(&self, id_number: &IdNumber) -> MemberKey {
        let hash = blake3::keyed_hash(&self.0, id_number.as_str().as_bytes());
        MemberKey(hex::encode(&hash.as_bytes()[..12]))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn today() -> jiff::civil::Date {
        jiff::civil::date(2026, 11, 29)
    }

    #[test]
    fn test_area_levels_follow_code_length() {
        assert_eq!(AreaCode::parse("14").unwrap().level(), AreaLevel::Province);
        assert_eq!(AreaCode::parse("1411").unwrap().level(), AreaLevel::City);
        assert_eq!(
            AreaCode::parse("141124").unwrap().level(),
            AreaLevel::County
        );
        assert_eq!(
            AreaCode::parse("141124100").unwrap().level(),
            AreaLevel::Township
        );
        assert_eq!(
            AreaCode::parse("141124100201").unwrap().level(),
            AreaLevel::Village
        );
    }

    #[test]
    fn test_bad_area_codes_are_refused_in_both_languages() {
        for bad in ["", "1", "14112", "14112410020a", "1411241002011"] {
            let err = AreaCode::parse(bad).unwrap_err();
            assert!(err.message.zh.contains("区划代码"), "{bad}");
            assert!(err.message.en.contains("area code"), "{bad}");
        }
        let err = AreaCode::parse_village("141124").unwrap_err();
        assert!(err.message.en.contains("not a village code"));
    }

    #[test]
    fn test_county_contains_its_villages_only() {
        let county = AreaCode::parse("141124").unwrap();
        assert!(county.contains(&AreaCode::parse("141124100201").unwrap()));
        assert!(!county.contains(&AreaCode::parse("141125100201").unwrap()));
    }

    #[test]
    fn test_keys_cannot_hold_a_path_separator() {
        assert!(MemberKey::parse("ab.cd").is_err());
        assert!(RecordId::parse("AB").is_err());
        assert!(HouseholdId::parse("").is_err());
        assert_eq!(HouseholdId::parse("h01").unwrap().as_str(), "h01");
    }

    #[test]
    fn test_member_key_is_stable_for_the_same_person_and_secret() {
        let secret = MemberKeySecret::development();
        let upper = IdNumber::parse("11010519491231002X", today()).unwrap();
        let lower = IdNumber::parse("11010519491231002x", today()).unwrap();
        let key = secret.member_key(&upper);
        assert_eq!(key, secret.member_key(&lower));
        assert_eq!(key.as_str().len(), 24);
        assert!(MemberKey::parse(key.as_str()).is_ok());
    }

    #[test]
    fn test_member_key_is_the_worked_example_of_layout_md() {
        let mut bytes = [0u8; 32];
        for (i, byte) in bytes.iter_mut().enumerate() {
            *byte = i as u8;
        }
        let id = IdNumber::parse("11010519491231002X", today()).unwrap();
        let key = MemberKeySecret::from_bytes(bytes).member_key(&id);
        assert_eq!(key.as_str(), "6250c8f9cd231c4d522c9268");
        assert!(
            include_str!("../../docs/LAYOUT.md")
                .contains("member key is\n`6250c8f9cd231c4d522c9268`"),
            "docs/LAYOUT.md's worked example is this one"
        );
    }

    #[test]
    fn test_member_key_differs_by_person_and_by_secret() {
        let secret = MemberKeySecret::development();
        let a = IdNumber::parse("11010519491231002X", today()).unwrap();
        let b = IdNumber::parse("440524188001010014", today()).unwrap();
        assert_ne!(secret.member_key(&a), secret.member_key(&b));
        let other = MemberKeySecret::from_passphrase("another deployment");
        assert_ne!(secret.member_key(&a), other.member_key(&a));
    }
}
