//! The rules screening holds a change to, as stable codes, and what a refusal says.

use automerge::ChangeHash;
use schema::Message;
use std::collections::BTreeMap;

/// Why a change was refused, as a stable code: stored with the quarantined change, shown to
/// the device and to staff, and filtered on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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

/// A refused change: the rule it broke and what to tell the volunteer and staff.
#[derive(Debug, Clone, PartialEq)]
pub struct ScreenRefusal {
    pub rule: Rule,
    pub reason: Message,
    /// For [`Rule::Waits`]: the refused or quarantined change it builds on.
    pub waits_for: Option<ChangeHash>,
}

impl ScreenRefusal {
    pub(super) fn new(rule: Rule, reason: Message) -> ScreenRefusal {
        ScreenRefusal {
            rule,
            reason,
            waits_for: None,
        }
    }

    pub(super) fn waits(on: ChangeHash) -> ScreenRefusal {
        let short = short_hash(&on);
        ScreenRefusal {
            rule: Rule::Waits,
            reason: Message::new(
                format!("该修改建立在已隔离的修改 {short} 之上，须等县里处理那一条后才能生效"),
                format!(
                    "This change builds on quarantined change {short}; it takes effect once the county decides that one"
                ),
            ),
            waits_for: Some(on),
        }
    }
}

/// The first 12 hex digits of a change hash, as reasons quote it.
pub fn short_hash(hash: &ChangeHash) -> String {
    hash.to_string().chars().take(12).collect()
}

/// The first refusal worth showing for a set of verdicts: a rule a change broke itself,
/// else the first it waits for.
pub fn first_refusal<'a>(
    verdicts: impl IntoIterator<Item = &'a ScreenRefusal>,
) -> Option<&'a ScreenRefusal> {
    let mut waits = None;
    for refusal in verdicts {
        if refusal.rule != Rule::Waits {
            return Some(refusal);
        }
        waits.get_or_insert(refusal);
    }
    waits
}

/// Counts of refusals by rule, for logs.
pub fn by_rule<'a>(
    verdicts: impl IntoIterator<Item = &'a ScreenRefusal>,
) -> BTreeMap<&'static str, usize> {
    let mut counts = BTreeMap::new();
    for refusal in verdicts {
        *counts.entry(refusal.rule.as_str()).or_default() += 1;
    }
    counts
}
