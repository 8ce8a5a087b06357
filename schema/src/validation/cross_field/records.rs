//! Rules about the records kept beside the members: trainings and subsidies (each for a
//! member of this household), visits, and photo references.

use super::{Rules, flag, integer, text};
use crate::fields::Entity;
use crate::layout::{PhotoOf, Record, photo_key};
use crate::message::Message;
use crate::photo::PhotoHash;
use crate::validation::{Severity, parse_date};

impl Rules<'_> {
    fn member_reference(&mut self, entity: Entity, key: &str, record: &Record) {
        match text(record, "member") {
            None => self.push(
                Severity::Error,
                entity,
                key,
                "member",
                "record.member_missing",
                Message::new(
                    "未指明是哪位成员的记录",
                    "The record does not say which member it belongs to",
                ),
            ),
            Some(member) if !self.view.members.contains_key(member) => self.push(
                Severity::Error,
                entity,
                key,
                "member",
                "record.member_unknown",
                Message::new(
                    format!("本户没有成员“{member}”"),
                    format!("This household has no member \"{member}\""),
                ),
            ),
            Some(_) => {}
        }
    }

    pub(super) fn training(&mut self, key: &str, training: &Record) {
        self.member_reference(Entity::Training, key, training);
        let start = text(training, "start_date").and_then(parse_date);
        let end = text(training, "end_date").and_then(parse_date);
        if let (Some(start), Some(end)) = (start, end)
            && end < start
        {
            self.push(
                Severity::Error,
                Entity::Training,
                key,
                "end_date",
                "training.ends_before_start",
                Message::new(
                    format!("培训结束日期 {end} 早于开始日期 {start}"),
                    format!("Training ends on {end}, before it starts on {start}"),
                ),
            );
        }
        if flag(training, "completed") == Some(true) && end.is_some_and(|end| end > self.today) {
            self.push(
                Severity::Warning,
                Entity::Training,
                key,
                "completed",
                "training.completed_before_end",
                Message::new(
                    "培训登记为已结业，但结束日期尚未到来",
                    "Training is marked completed, but its end date has not come yet",
                ),
            );
        }
    }

    pub(super) fn subsidy(&mut self, key: &str, subsidy: &Record) {
        self.member_reference(Entity::Subsidy, key, subsidy);
        // A subsidy already paid stays right even when the person has since come home.
        let paid = text(subsidy, "status") == Some("03");
        if text(subsidy, "kind") == Some("01") && !paid {
            let outside_province = text(subsidy, "member")
                .and_then(|m| self.view.members.get(m))
                .and_then(|m| text(m, "employment.status"))
                == Some("01");
            if !outside_province {
                self.push(Severity::Warning, Entity::Subsidy, key, "kind", "subsidy.transport_without_cross_province_work", Message::new(
                    "一次性交通补助只发给省外务工人员，但该成员未登记为省外务工",
                    "The one-off transport subsidy is for people working outside the province, but this member is not recorded so",
                ));
            }
        }
    }

    pub(super) fn visit(&mut self, key: &str, visit: &Record) {
        if let (Some(start), Some(end)) =
            (integer(visit, "started_at"), integer(visit, "finished_at"))
            && end < start
        {
            self.push(
                Severity::Error,
                Entity::Visit,
                key,
                "finished_at",
                "visit.finished_before_started",
                Message::new(
                    "走访结束时间早于开始时间",
                    "The visit finished before it started",
                ),
            );
        }
    }

    /// A photo reference must name its photo by a hash its key starts, and what it
    /// belongs to must be in the household: otherwise the photo cannot be found or shown.
    pub(super) fn photo(&mut self, key: &str, photo: &Record) {
        let hash = text(photo, "hash").and_then(PhotoHash::parse);
        if hash.is_none_or(|hash| photo_key(&hash).as_str() != key) {
            self.push(
                Severity::Error,
                Entity::Photo,
                key,
                "hash",
                "photo.bad_hash",
                Message::new(
                    "照片引用的哈希不是该照片标识开头的64位十六进制数",
                    "The photo reference's hash is not 64 hex digits starting with its key",
                ),
            );
        }
        let of = text(photo, "of").map(PhotoOf::parse);
        match of {
            Some(Ok(of)) if of.exists_in(self.view) => {}
            Some(Ok(of)) => self.push(
                Severity::Warning,
                Entity::Photo,
                key,
                "of",
                "photo.record_unknown",
                Message::new(
                    format!("照片所属的记录“{of}”不在本户"),
                    format!("The record \"{of}\" the photo belongs to is not in this household"),
                ),
            ),
            Some(Err(message)) => self.push(
                Severity::Error,
                Entity::Photo,
                key,
                "of",
                "photo.bad_record",
                message,
            ),
            None => {}
        }
    }
}
