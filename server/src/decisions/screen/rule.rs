//! What a refusal of screening says, naming its rule (`schema::quarantine::Rule`).

use automerge::ChangeHash;
use schema::Message;
use schema::quarantine::Rule;
use std::collections::BTreeMap;

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
