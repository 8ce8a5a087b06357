//! Rules about the household as a whole: one head, no person recorded twice.

use super::{Rules, text};
use crate::fields::Entity;
use crate::id_number::IdNumber;
use crate::layout::Record;
use crate::message::Message;
use crate::validation::Severity;
use std::collections::BTreeMap;

impl Rules<'_> {
    pub(super) fn household(&mut self) {
        let present: Vec<(&String, &Record)> = self.view.present_members().collect();
        let heads = present
            .iter()
            .filter(|(_, m)| text(m, "relation") == Some("01"))
            .count();
        if !present.is_empty() && heads == 0 {
            self.push(
                Severity::Warning,
                Entity::Household,
                "",
                "number",
                "household.head_missing",
                Message::new(
                    "本户没有登记户主（与户主关系为 01 的成员）",
                    "No member is recorded as head of household (relation 01)",
                ),
            );
        }
        if heads > 1 {
            self.push(
                Severity::Error,
                Entity::Household,
                "",
                "number",
                "household.several_heads",
                Message::new(
                    format!("本户登记了 {heads} 名户主，只能有一名"),
                    format!(
                        "{heads} members are recorded as head of household; there can be only one"
                    ),
                ),
            );
        }
        // Compare normalised numbers, so the 15-digit form, a lowercase x and the 18-digit
        // form of one person's number are recognised as the same.
        let mut seen: BTreeMap<String, &str> = BTreeMap::new();
        for (key, member) in &present {
            let Some(id) = text(member, "id_number") else {
                continue;
            };
            let normalised = IdNumber::parse(id, self.today)
                .map(|parsed| parsed.as_str().to_owned())
                .unwrap_or_else(|_| id.to_uppercase());
            if let Some(first) = seen.insert(normalised, key) {
                let masked = IdNumber::parse(id, self.today)
                    .map(|i| i.masked())
                    .unwrap_or_else(|_| id.to_owned());
                self.push(Severity::Error, Entity::Member, key, "id_number", "household.duplicate_id_number", Message::new(
                    format!("身份证号码 {masked} 在本户登记了两次（另见成员 {first}）"),
                    format!("ID number {masked} is recorded twice in this household (see also member {first})"),
                ));
            }
        }
    }
}
