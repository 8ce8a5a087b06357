//! A household's view and its issues, worked out once and kept up to date edit by edit:
//! an edit re-reads and re-checks only the fields it wrote.

use super::today;
use crate::error::Result;
use schema::fields::{Entity, FieldPath};
use schema::layout::{self, Conflict, HouseholdView};
use schema::validation::{self, Issue, Severity};

/// The most keys an edit may write for its household to be re-read field by field.
pub(super) const REFRESH_MAX_KEYS: usize = 8;

/// A household's view and its field rules' issues, as of its document's current state.
#[derive(Debug)]
pub(super) struct Derived {
    pub(super) view: HouseholdView,
    /// The date the field issues were checked against (dates in the future are wrong).
    pub(super) today: jiff::civil::Date,
    /// Each field's field-rule issue, in the order `validation::validate` lists them.
    pub(super) field_issues: FieldIssues,
}

/// Field-rule issues keyed by (entity's place in `Entity::ALL`, record key, field name):
/// the order in which `validation::validate` walks a household.
pub(super) type FieldIssues = std::collections::BTreeMap<(usize, String, &'static str), Issue>;

pub(super) fn entity_rank(entity: Entity) -> usize {
    Entity::ALL
        .iter()
        .position(|e| *e == entity)
        .unwrap_or(usize::MAX)
}

impl Derived {
    /// Reads and checks the whole household.
    pub(super) fn read(doc: &automerge::Automerge, today: jiff::civil::Date) -> Result<Derived> {
        let view = layout::read_household(doc)?;
        let mut field_issues = FieldIssues::new();
        for entity in Entity::ALL {
            for (key, record) in view.records(entity) {
                for (name, field) in record {
                    if let Some(issue) = validation::field_issue(entity, key, name, field, today) {
                        field_issues.insert((entity_rank(entity), key.to_owned(), name), issue);
                    }
                }
            }
        }
        Ok(Derived {
            view,
            today,
            field_issues,
        })
    }

    /// Brings the view and field issues up to date after a change that wrote the root
    /// keys `keys`, re-reading and re-checking only the fields they belong to. Returns
    /// `false` (leaving `self` unusable) when the change reached beyond single fields.
    pub(super) fn refresh(
        &mut self,
        doc: &automerge::Automerge,
        keys: &[String],
        today: jiff::civil::Date,
    ) -> Result<bool> {
        // Each field re-read is a look-up in the document; past a page of fields one
        // pass over the whole document is cheaper.
        if today != self.today
            || keys.len() > REFRESH_MAX_KEYS
            || !layout::refresh_household(doc, &mut self.view, keys.iter().map(String::as_str))?
        {
            return Ok(false);
        }
        let mut paths: Vec<FieldPath> = Vec::new();
        for key in keys {
            let path = match FieldPath::parse(key) {
                Ok(path) => path,
                Err(_) => match key.rsplit_once('.').map(|(set, _)| FieldPath::parse(set)) {
                    Some(Ok(path)) => path,
                    _ => return Ok(false),
                },
            };
            if !paths.contains(&path) {
                paths.push(path);
            }
        }
        for path in paths {
            let slot = (entity_rank(path.entity), path.key.clone(), path.name);
            let issue = self.view.field(&path).and_then(|field| {
                validation::field_issue(path.entity, &path.key, path.name, field, today)
            });
            match issue {
                Some(issue) => self.field_issues.insert(slot, issue),
                None => self.field_issues.remove(&slot),
            };
        }
        Ok(true)
    }

    /// Every issue of the household: the field rules' and the cross-field rules', as
    /// `validation::validate` lists them; and its disputed fields.
    pub(super) fn checked(&self) -> Checked {
        let mut issues: Vec<Issue> = self.field_issues.values().cloned().collect();
        issues.extend(validation::cross_field_issues(&self.view, self.today));
        Checked {
            issues,
            conflicts: self.view.conflicts(),
        }
    }
}

/// The root keys a change writes, or `None` when it writes anything but root keys.
pub(super) fn root_keys_of(change: &automerge::Change) -> Option<Vec<String>> {
    let mut keys: Vec<String> = Vec::new();
    for op in change.decode().operations {
        match (op.obj, op.key) {
            (automerge::legacy::ObjectId::Root, automerge::legacy::Key::Map(key)) => {
                if !keys.iter().any(|k| k.as_str() == key.as_str()) {
                    keys.push(key.to_string());
                }
            }
            _ => return None,
        }
    }
    Some(keys)
}

/// What the rules and the merge say about a household, worked out once per read or edit
/// and shared by its index row and the caller.
pub(super) struct Checked {
    pub(super) issues: Vec<Issue>,
    pub(super) conflicts: Vec<Conflict>,
}

impl Checked {
    pub(super) fn of(view: &HouseholdView) -> Checked {
        Checked {
            issues: validation::validate(view, today()),
            conflicts: view.conflicts(),
        }
    }

    pub(super) fn errors(&self) -> i64 {
        self.issues
            .iter()
            .filter(|i| i.severity == Severity::Error)
            .count() as i64
    }

    pub(super) fn warnings(&self) -> i64 {
        self.issues.len() as i64 - self.errors()
    }
}
