//! What every page shares: the reader's language, who is signed in and where, the
//! navigation their role may use, and how times and roles read.

use crate::access::accounts::Account;
use crate::access::roles::{Permission, Role};
use axum::http::HeaderMap;
use axum::http::header::COOKIE;
use jiff::Timestamp;
use jiff::tz::TimeZone;
use schema::Message;
use std::sync::OnceLock;

/// The cookie that keeps the reader's language.
pub const LANGUAGE_COOKIE: &str = "doorstep_lang";

/// The language a page is written in: Chinese unless the reader chose English.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Zh,
    En,
}

impl Lang {
    /// The reader's choice, kept in a cookie.
    pub fn of(headers: &HeaderMap) -> Lang {
        let english = headers
            .get_all(COOKIE)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .any(|(name, value)| name == LANGUAGE_COOKIE && value.trim() == "en");
        if english { Lang::En } else { Lang::Zh }
    }

    pub fn code(self) -> &'static str {
        match self {
            Lang::Zh => "zh",
            Lang::En => "en",
        }
    }

    /// The other language, which the toggle offers.
    pub fn other(self) -> Lang {
        match self {
            Lang::Zh => Lang::En,
            Lang::En => Lang::Zh,
        }
    }

    /// The language's name, in itself.
    pub fn name(self) -> &'static str {
        match self {
            Lang::Zh => "中文",
            Lang::En => "English",
        }
    }

    /// A label written in both languages, in the reader's.
    pub fn t<'a>(self, zh: &'a str, en: &'a str) -> &'a str {
        match self {
            Lang::Zh => zh,
            Lang::En => en,
        }
    }

    /// A message in the reader's language.
    pub fn msg(self, message: &Message) -> &str {
        self.t(&message.zh, &message.en)
    }
}

/// A page of the console, as the navigation lists it. A page a role may not use is not shown.
#[derive(Debug, Clone, Copy)]
pub struct Page {
    pub path: &'static str,
    pub zh: &'static str,
    pub en: &'static str,
    /// What the role must be allowed; `None` for pages every signed-in person uses.
    pub needs: Option<Permission>,
}

/// The console's pages in navigation order.
pub const PAGES: &[Page] = &[
    Page {
        path: "/progress",
        zh: "工作进度",
        en: "Progress",
        needs: Some(Permission::ReadRegister),
    },
    Page {
        path: "/register",
        zh: "登记册",
        en: "Register",
        needs: Some(Permission::ReadRegister),
    },
    // Reports (issue 16): who reads the register reads its indicators, as the API allows.
    Page {
        path: "/reports",
        zh: "报表",
        en: "Reports",
        needs: Some(Permission::ReadRegister),
    },
    Page {
        path: "/review",
        zh: "审核队列",
        en: "Review",
        needs: Some(Permission::ResolveReview),
    },
    Page {
        path: "/quarantine",
        zh: "隔离区",
        en: "Quarantine",
        needs: Some(Permission::DecideQuarantine),
    },
    Page {
        path: "/devices",
        zh: "设备",
        en: "Devices",
        needs: Some(Permission::ManageDevices),
    },
    Page {
        path: "/accounts",
        zh: "账号",
        en: "Accounts",
        needs: Some(Permission::ManageStaff),
    },
    Page {
        path: "/audit",
        zh: "审计日志",
        en: "Audit log",
        needs: Some(Permission::ReadAudit),
    },
    Page {
        path: "/password",
        zh: "修改密码",
        en: "Change password",
        needs: None,
    },
    Page {
        path: "/tasks",
        zh: "核实任务",
        en: "Visit tasks",
        needs: Some(Permission::ReadRegister),
    },
    // System information comparison: county roles import; everyone reading the register
    // sees the mismatches of their area.
    Page {
        path: "/comparison/imports",
        zh: "名册导入",
        en: "Roster imports",
        needs: Some(Permission::ImportRosters),
    },
    Page {
        path: "/comparison/mismatches",
        zh: "比对结果",
        en: "Mismatches",
        needs: Some(Permission::ReadRegister),
    },
];

/// The pages `staff` may use.
pub fn pages_for(staff: &Account) -> impl Iterator<Item = &'static Page> {
    PAGES
        .iter()
        .filter(|page| page.needs.is_none_or(|needs| staff.may(needs)))
}

/// A link of the navigation bar.
#[derive(Debug, Clone)]
pub struct NavLink {
    pub path: &'static str,
    pub label: &'static str,
    pub current: bool,
}

/// Who is signed in, as the header names them.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub name: String,
    pub role: String,
    /// The area's name and code.
    pub area: String,
    /// The form token of the sign-out button.
    pub form_token: String,
}

/// The layout's data: every page template holds one as `frame`.
#[derive(Debug, Clone)]
pub struct Frame {
    pub lang: Lang,
    pub signed_in: Option<SignedIn>,
    pub nav: Vec<NavLink>,
    /// The page's own address (path and query), where the language toggle comes back to.
    pub here: String,
}

impl Frame {
    /// The frame of a page nobody needs to be signed in for.
    pub fn anonymous(lang: Lang, here: &str) -> Frame {
        Frame {
            lang,
            signed_in: None,
            nav: Vec::new(),
            here: here.to_owned(),
        }
    }

    pub fn t<'a>(&self, zh: &'a str, en: &'a str) -> &'a str {
        self.lang.t(zh, en)
    }

    pub fn msg<'a>(&self, message: &'a Message) -> &'a str {
        self.lang.msg(message)
    }

    /// A time (seconds since the epoch) as read in the county: Asia/Shanghai.
    pub fn time(&self, seconds: &i64) -> String {
        local_time(*seconds)
    }

    /// An optional time, or a dash.
    pub fn maybe_time(&self, seconds: &Option<i64>) -> String {
        seconds.map_or_else(|| "—".to_owned(), local_time)
    }
}

/// The role's name as people say it.
pub fn role_label(role: Role) -> Message {
    match role {
        Role::CountyAdmin => Message::new("县级管理员", "County admin"),
        Role::CountyStaff => Message::new("县级工作人员", "County staff"),
        Role::TownshipStaff => Message::new("乡镇工作人员", "Township staff"),
        Role::Auditor => Message::new("审计员", "Auditor"),
    }
}

fn shanghai() -> &'static TimeZone {
    static ZONE: OnceLock<TimeZone> = OnceLock::new();
    // The database is inside the binary (jiff's bundled tzdb), so the zone is always there;
    // UTC+8 is what it says in any case, China having kept one offset since 1991.
    ZONE.get_or_init(|| {
        TimeZone::get("Asia/Shanghai")
            .unwrap_or_else(|_| TimeZone::fixed(jiff::tz::Offset::constant(8)))
    })
}

/// Seconds since the epoch as a local date and time in Asia/Shanghai.
pub fn local_time(seconds: i64) -> String {
    match Timestamp::from_second(seconds) {
        Ok(at) => at
            .to_zoned(shanghai().clone())
            .strftime("%Y-%m-%d %H:%M")
            .to_string(),
        Err(_) => seconds.to_string(),
    }
}

/// The first second of a day (`YYYY-MM-DD`) as read in the county, in seconds since the
/// epoch; `None` for text that is not a date.
pub fn local_day_start(date: &str) -> Option<i64> {
    let date: jiff::civil::Date = date.trim().parse().ok()?;
    let start = date.to_zoned(shanghai().clone()).ok()?;
    Some(start.timestamp().as_second())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_times_read_in_shanghai() {
        // 2026-03-01 00:00 UTC is 08:00 in the county.
        assert_eq!(local_time(1_772_323_200), "2026-03-01 08:00");
    }

    #[test]
    fn test_a_day_starts_at_midnight_in_shanghai() {
        // 2026-03-01 00:00 in the county is 2026-02-28 16:00 UTC.
        assert_eq!(
            local_day_start("2026-03-01"),
            Some(1_772_323_200 - 8 * 3600)
        );
        assert_eq!(local_day_start("2026-02-30"), None);
        assert_eq!(local_day_start("yesterday"), None);
    }

    #[test]
    fn test_the_language_is_chinese_unless_the_cookie_says_english() {
        let mut headers = HeaderMap::new();
        assert_eq!(Lang::of(&headers), Lang::Zh);
        headers.insert(COOKIE, "a=b; doorstep_lang=en".parse().expect("a header"));
        assert_eq!(Lang::of(&headers), Lang::En);
        headers.insert(COOKIE, "doorstep_lang=fr".parse().expect("a header"));
        assert_eq!(Lang::of(&headers), Lang::Zh);
    }
}
