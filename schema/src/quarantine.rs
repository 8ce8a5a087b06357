//! The rules a device's change can break and be held in quarantine for, one type for the
//! server that screens uploads, the wire that reports a hold, and the device that shows it.

use serde::{Deserialize, Serialize};

/// Why a change was refused, as a stable code: stored with the quarantined change, shown to
/// the device and to staff, and filtered on. Its code (`out_of_scope`, …) is the same on
/// the wire, in the server's database and in its API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// The household is in a village the device does not cover.
    OutOfScope,
    /// Sets `household.village` on a household that already has one.
    MovesHousehold,
    /// Deletes the household's identity (`household.id`, `.village`, `.created_at`,
    /// `schema_version`), or clears every field it has.
    DeletesHousehold,
    /// Clears every field of a member, visit, training or subsidy at once.
    ErasesRecord,
    /// Writes `household.merged_into`: merging is county staff's.
    MergesHousehold,
    /// Writes a field the system sets once (`household.id`, `created_at`, a visit's
    /// device, volunteer or start) after it was set.
    SystemField,
    /// Writes an `actors.<actor>.staff` entry: the name of a county staff member.
    StaffEntry,
    /// Writes another actor's `actors.<actor>.*` entry, or deletes one.
    ActorEntry,
    /// Carries a review decision's message (`review <item>`).
    ReviewResolution,
    /// Is authored by an actor the document knows as a county staff member's.
    StaffActor,
    /// Writes outside the flat root map, or something other than a plain value.
    NotAField,
    /// Writes a key that is no field of the layout.
    UnknownKey,
    /// Builds on a change that is refused or in quarantine.
    Waits,
}

impl Rule {
    pub const ALL: [Rule; 13] = [
        Rule::OutOfScope,
        Rule::MovesHousehold,
        Rule::DeletesHousehold,
        Rule::ErasesRecord,
        Rule::MergesHousehold,
        Rule::SystemField,
        Rule::StaffEntry,
        Rule::ActorEntry,
        Rule::ReviewResolution,
        Rule::StaffActor,
        Rule::NotAField,
        Rule::UnknownKey,
        Rule::Waits,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Rule::OutOfScope => "out_of_scope",
            Rule::MovesHousehold => "moves_household",
            Rule::DeletesHousehold => "deletes_household",
            Rule::ErasesRecord => "erases_record",
            Rule::MergesHousehold => "merges_household",
            Rule::SystemField => "system_field",
            Rule::StaffEntry => "staff_entry",
            Rule::ActorEntry => "actor_entry",
            Rule::ReviewResolution => "review_resolution",
            Rule::StaffActor => "staff_actor",
            Rule::NotAField => "not_a_field",
            Rule::UnknownKey => "unknown_key",
            Rule::Waits => "waits",
        }
    }

    pub fn parse(code: &str) -> Option<Rule> {
        Rule::ALL.into_iter().find(|rule| rule.as_str() == code)
    }
}

/// Tests compare a rule with its code.
impl PartialEq<&str> for Rule {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl std::fmt::Display for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn test_a_rule_is_its_code_in_json_and_in_text() {
        for rule in Rule::ALL {
            let json = serde_json::to_string(&rule).unwrap();
            assert_eq!(json, format!("\"{}\"", rule.as_str()));
            assert_eq!(serde_json::from_str::<Rule>(&json).unwrap(), rule);
            assert_eq!(Rule::parse(rule.as_str()), Some(rule));
        }
    }
}
