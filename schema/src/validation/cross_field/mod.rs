//! Cross-field rules: values that are each fine alone but contradict each other, or a
//! household that is incomplete as a whole.
//!
//! `check` walks the household; each set of rules is an `impl Rules` block in its own file,
//! and every rule reports through `Rules::push`.

mod household;
mod member;
mod records;
mod work;

use super::{Issue, Severity};
use crate::fields::{Entity, FieldPath};
use crate::layout::{HouseholdView, Record};
use crate::message::Message;
use jiff::civil::Date;

pub(super) fn check(view: &HouseholdView, today: Date, issues: &mut Vec<Issue>) {
    let mut rules = Rules {
        issues: std::mem::take(issues),
        today,
        view,
    };
    rules.household();
    for (key, member) in &view.members {
        rules.member(key, member);
    }
    for (key, training) in &view.trainings {
        rules.training(key, training);
    }
    for (key, subsidy) in &view.subsidies {
        rules.subsidy(key, subsidy);
    }
    for (key, visit) in &view.visits {
        rules.visit(key, visit);
    }
    for (key, photo) in &view.photos {
        rules.photo(key, photo);
    }
    *issues = rules.issues;
}

struct Rules<'a> {
    issues: Vec<Issue>,
    today: Date,
    view: &'a HouseholdView,
}

fn text<'r>(record: &'r Record, name: &str) -> Option<&'r str> {
    record
        .get(name)
        .and_then(|f| f.value.as_text())
        .filter(|t| !t.is_empty())
}

fn flag(record: &Record, name: &str) -> Option<bool> {
    record.get(name).and_then(|f| f.value.as_bool())
}

fn integer(record: &Record, name: &str) -> Option<i64> {
    record.get(name).and_then(|f| f.value.as_integer())
}

impl Rules<'_> {
    fn push(
        &mut self,
        severity: Severity,
        entity: Entity,
        key: &str,
        name: &'static str,
        rule: &'static str,
        message: Message,
    ) {
        let path = FieldPath {
            entity,
            key: key.to_owned(),
            name,
        };
        self.issues.push(Issue {
            severity,
            path: path.to_string(),
            rule,
            message,
        });
    }
}
