//! `doorstep review …`: the review queue for staff who work from a terminal. It talks to a
//! running server through the same JSON API as the web console, with the staff member's
//! session token (`doorstep login`), so every decision goes through the one code path and
//! names its author. `doorstep login` lives here too: it is the same kind of client.

use clap::Subcommand;
use schema::Message;
use serde_json::{Value, json};
use std::time::Duration;

#[derive(Debug, Subcommand)]
pub enum ReviewCommand {
    /// List review items (open ones unless --status says otherwise).
    List {
        /// County, township or village code; the token's whole area when absent.
        #[arg(long)]
        area: Option<String>,
        /// conflict, rule or duplicate.
        #[arg(long)]
        kind: Option<String>,
        /// open, resolved, settled or dismissed.
        #[arg(long)]
        status: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
        #[arg(long)]
        json: bool,
    },
    /// Show one item: the candidates side by side, the field's history, the household.
    Show {
        item: String,
        /// Show ID numbers and other sensitive fields in full (county roles; audited).
        #[arg(long)]
        reveal: bool,
        #[arg(long)]
        json: bool,
    },
    /// Decide an item: pick a candidate by its number, or enter a new value.
    Resolve {
        item: String,
        #[arg(long, conflicts_with = "value", required_unless_present = "value")]
        pick: Option<usize>,
        #[arg(long)]
        value: Option<String>,
        #[arg(long)]
        comment: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Move a person recorded in the wrong household of a duplicate into the right one.
    Move {
        item: String,
        /// The person's member key (as `show` lists it).
        #[arg(long)]
        member: String,
        /// The household of the pair the person belongs to.
        #[arg(long)]
        to: String,
        #[arg(long)]
        comment: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Settle a duplicate as not the same household (say why).
    Dismiss {
        item: String,
        #[arg(long)]
        comment: String,
        #[arg(long)]
        json: bool,
    },
    /// Merge a duplicate household into the one that stays. Only for one family recorded
    /// twice; values that differ stay on the survivor as conflicts to review.
    Merge {
        keep: String,
        absorb: String,
        #[arg(long)]
        comment: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

/// Where the server is and who is asking.
#[derive(Debug, Clone)]
pub struct Connection {
    pub server: String,
    pub token: String,
}

struct ApiClient {
    agent: ureq::Agent,
    connection: Connection,
}

impl ApiClient {
    fn new(connection: Connection) -> ApiClient {
        let config = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(60)))
            .http_status_as_error(false)
            .build();
        ApiClient {
            agent: ureq::Agent::new_with_config(config),
            connection,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.connection.server.trim_end_matches('/'))
    }

    fn answer(
        &self,
        response: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<Value, String> {
        let mut response = response.map_err(|err| {
            let server = &self.connection.server;
            Message::new(
                format!("无法连接服务器 {server}：{err}"),
                format!("cannot reach the server {server}: {err}"),
            )
            .to_string()
        })?;
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().map_err(|err| {
            Message::new(
                format!("读取服务器应答失败：{err}"),
                format!("cannot read the answer: {err}"),
            )
            .to_string()
        })?;
        let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if status == 200 {
            return Ok(body);
        }
        let zh = body["message"]["zh"].as_str().unwrap_or("服务器拒绝了请求");
        let en = body["message"]["en"]
            .as_str()
            .unwrap_or("the server refused");
        Err(Message::new(
            format!("{zh}（HTTP {status}）"),
            format!("{en} (HTTP {status})"),
        )
        .to_string())
    }

    fn get(&self, path: &str, query: &[(&str, String)]) -> Result<Value, String> {
        let mut request = self.agent.get(self.url(path)).header(
            "Authorization",
            &format!("Bearer {}", self.connection.token),
        );
        for (name, value) in query {
            request = request.query(*name, value);
        }
        self.answer(request.call())
    }

    fn post(&self, path: &str, body: &Value) -> Result<Value, String> {
        let response = self
            .agent
            .post(self.url(path))
            .header(
                "Authorization",
                &format!("Bearer {}", self.connection.token),
            )
            .header("Content-Type", "application/json")
            .send(body.to_string().as_bytes());
        self.answer(response)
    }
}

/// `doorstep login`: reads the password from standard input, logs in and prints the session
/// token. The HTTP client blocks, so it runs off the async workers.
pub async fn log_in(server: String, username: String, totp: Option<String>) -> Result<(), String> {
    let password = super::read_password()?;
    let token =
        tokio::task::spawn_blocking(move || login(server, &username, &password, totp.as_deref()))
            .await
            .map_err(thread_failed)??;
    println!("{token}");
    Ok(())
}

/// `doorstep review …`, off the async workers like [`log_in`]. An HTTP client of the server:
/// it needs no database of its own.
pub async fn review(connection: Connection, command: ReviewCommand) -> Result<(), String> {
    tokio::task::spawn_blocking(move || run(connection, command))
        .await
        .map_err(thread_failed)?
}

/// A worker thread of the command that panicked or was cancelled.
fn thread_failed(err: tokio::task::JoinError) -> String {
    Message::new(
        format!("命令的工作线程失败：{err}"),
        format!("the command's worker thread failed: {err}"),
    )
    .to_string()
}

/// Logs in and returns the session token.
fn login(
    server: String,
    username: &str,
    password: &str,
    totp: Option<&str>,
) -> Result<String, String> {
    let client = ApiClient::new(Connection {
        server,
        token: String::new(),
    });
    let response = client
        .agent
        .post(client.url("/api/v1/login"))
        .header("Content-Type", "application/json")
        .send(
            json!({ "username": username, "password": password, "totp": totp })
                .to_string()
                .as_bytes(),
        );
    let body = client.answer(response)?;
    body["token"].as_str().map(str::to_owned).ok_or_else(|| {
        Message::new("服务器应答中没有令牌", "the server's answer holds no token").to_string()
    })
}

fn run(connection: Connection, command: ReviewCommand) -> Result<(), String> {
    let client = ApiClient::new(connection);
    match command {
        ReviewCommand::List {
            area,
            kind,
            status,
            limit,
            json,
        } => {
            let mut query = vec![("limit", limit.to_string())];
            for (name, value) in [("area", area), ("kind", kind), ("status", status)] {
                if let Some(value) = value {
                    query.push((name, value));
                }
            }
            let page = client.get("/api/v1/review/items", &query)?;
            print(&page, json, render_list)
        }
        ReviewCommand::Show { item, reveal, json } => {
            let query = [("reveal", reveal.to_string())];
            let detail = client.get(&format!("/api/v1/review/items/{item}"), &query)?;
            print(&detail, json, render_item)
        }
        ReviewCommand::Resolve {
            item,
            pick,
            value,
            comment,
            json,
        } => {
            // Decide against the version shown now, so that a decision racing another
            // staff member's is kept beside it rather than silently replacing it.
            let detail = client.get(&format!("/api/v1/review/items/{item}"), &[])?;
            let body = json!({
                "pick": pick,
                "value": value,
                "comment": comment,
                "heads": detail["heads"],
            });
            let outcome = client.post(&format!("/api/v1/review/items/{item}/resolve"), &body)?;
            print(&outcome, json, render_message)
        }
        ReviewCommand::Move {
            item,
            member,
            to,
            comment,
            json,
        } => {
            let body = json!({ "member": member, "to": to, "comment": comment });
            let outcome = client.post(&format!("/api/v1/review/items/{item}/move"), &body)?;
            print(&outcome, json, render_message)
        }
        ReviewCommand::Dismiss {
            item,
            comment,
            json,
        } => {
            let body = json!({ "comment": comment });
            let outcome = client.post(&format!("/api/v1/review/items/{item}/dismiss"), &body)?;
            print(&outcome, json, render_message)
        }
        ReviewCommand::Merge {
            keep,
            absorb,
            comment,
            json,
        } => {
            let body = json!({ "keep": keep, "absorb": absorb, "comment": comment });
            let outcome = client.post("/api/v1/review/merge", &body)?;
            print(&outcome, json, render_message)
        }
    }
}

/// What the server said happened, in both languages.
fn render_message(outcome: &Value) -> String {
    format!(
        "{}\n{}\n",
        outcome["message"]["zh"].as_str().unwrap_or(""),
        outcome["message"]["en"].as_str().unwrap_or("")
    )
}

fn print(value: &Value, json: bool, render: impl Fn(&Value) -> String) -> Result<(), String> {
    if json {
        let text = serde_json::to_string_pretty(value).map_err(|err| {
            Message::new(
                format!("无法生成 JSON：{err}"),
                format!("the JSON could not be written: {err}"),
            )
            .to_string()
        })?;
        println!("{text}");
    } else {
        print!("{}", render(value));
    }
    Ok(())
}

fn kind_label(kind: &str) -> &str {
    match kind {
        "conflict" => "冲突 conflict",
        "rule" => "规则 rule",
        "duplicate" => "重复 duplicate",
        other => other,
    }
}

fn status_label(status: &str) -> &str {
    match status {
        "open" => "待处理 open",
        "resolved" => "已处理 resolved",
        "settled" => "已自行消除 settled",
        "dismissed" => "不是同一户 dismissed",
        other => other,
    }
}

/// A moment as a clerk in China reads it.
fn china_time(seconds: &Value) -> String {
    let Some(seconds) = seconds.as_i64() else {
        return "—".to_owned();
    };
    match jiff::Timestamp::from_second(seconds) {
        Ok(moment) => moment
            .to_zoned(jiff::tz::TimeZone::fixed(jiff::tz::offset(8)))
            .strftime("%Y-%m-%d %H:%M")
            .to_string(),
        Err(_) => seconds.to_string(),
    }
}

fn text(value: &Value) -> &str {
    value.as_str().unwrap_or("")
}

fn render_list(page: &Value) -> String {
    let mut out = String::new();
    let counts = &page["counts"];
    let open = |kind: &str| counts[kind]["open"].as_i64().unwrap_or(0);
    out.push_str(&format!(
        "待处理 {} 项：冲突 {}，规则 {}，重复 {}\nOpen: {} (conflicts {}, rules {}, duplicates {})\n",
        page["total"],
        open("conflict"),
        open("rule"),
        open("duplicate"),
        page["total"],
        open("conflict"),
        open("rule"),
        open("duplicate"),
    ));
    if let Some(items) = page["items"].as_array() {
        for item in items {
            out.push_str(&format!(
                "\n{}  {}  {}\n  村 {} · 户 {} · 户主 {}\n  {}\n  {}\n",
                text(&item["id"]),
                kind_label(text(&item["kind"])),
                status_label(text(&item["status"])),
                text(&item["village"]),
                item["household_number"].as_str().unwrap_or("—"),
                item["head_name"].as_str().unwrap_or("—"),
                text(&item["summary"]["zh"]),
                text(&item["summary"]["en"]),
            ));
        }
    }
    out
}

fn who(entry: &Value) -> String {
    let person = entry["staff"]
        .as_str()
        .map(|s| format!("{s}（县审核 staff）"))
        .or_else(|| entry["volunteer"].as_str().map(str::to_owned))
        .unwrap_or_else(|| "?".to_owned());
    let device = entry["device"].as_str().unwrap_or("?");
    format!("{person} · 设备 device {device}")
}

fn render_item(detail: &Value) -> String {
    let item = &detail["item"];
    let mut out = format!(
        "审核项 item {} · {} · {}\n{}\n{}\n",
        text(&item["id"]),
        kind_label(text(&item["kind"])),
        status_label(text(&item["status"])),
        text(&item["summary"]["zh"]),
        text(&item["summary"]["en"]),
    );
    out.push_str(&format!(
        "户 household {} · 户主 head {} · 村 village {}\n",
        item["household_number"].as_str().unwrap_or("—"),
        item["head_name"].as_str().unwrap_or("—"),
        text(&item["village"]),
    ));
    if !text(&detail["place"]["zh"]).is_empty() {
        out.push_str(&format!(
            "字段 field：{} / {}\n",
            text(&detail["place"]["zh"]),
            text(&detail["place"]["en"])
        ));
    }
    if let Some(candidates) = detail["candidates"].as_array().filter(|c| !c.is_empty()) {
        out.push_str("\n候选值 candidates:\n");
        for candidate in candidates {
            out.push_str(&format!(
                "  [{}] {}\n      {} · 设备时间 device time {} · 服务器收到 received {}{}\n",
                candidate["number"],
                text(&candidate["readable"]["zh"]),
                who(candidate),
                china_time(&candidate["time"]),
                china_time(&candidate["received_at"]),
                candidate["visit"]
                    .as_str()
                    .map(|v| format!(" · 走访 visit {v}"))
                    .unwrap_or_default(),
            ));
        }
    } else if let Some(current) = detail["current"].as_object() {
        out.push_str(&format!(
            "\n当前值 current value: {}\n",
            text(&current["readable"]["zh"])
        ));
    }
    if let Some(history) = detail["history"].as_array().filter(|h| !h.is_empty()) {
        out.push_str("\n历史 history (oldest first):\n");
        for entry in history {
            let value = match entry["readable"]["zh"].as_str() {
                Some(value) => value.to_owned(),
                None => "（清空 cleared）".to_owned(),
            };
            let code = entry["code"]
                .as_str()
                .map(|c| format!(" [{c}]"))
                .unwrap_or_default();
            out.push_str(&format!(
                "  {}  {value}{code}  — {}{}\n",
                china_time(&entry["time"]),
                who(entry),
                entry["comment"]
                    .as_str()
                    .map(|c| format!(" · 说明 comment: {c}"))
                    .unwrap_or_default(),
            ));
        }
    }
    if let Some(events) = detail["events"].as_array().filter(|e| !e.is_empty()) {
        out.push_str("\n处理记录 events:\n");
        for event in events {
            out.push_str(&format!(
                "  {}  {}  {}\n",
                china_time(&event["at"]),
                text(&event["action"]),
                text(&event["who"]),
            ));
        }
    }
    let id = text(&item["id"]);
    match text(&item["kind"]) {
        "duplicate" if detail["other_household"].is_object() => {
            out.push_str(&side_by_side(
                &detail["household"],
                &detail["other_household"],
            ));
            out.push_str(&format!(
                "\n处理 settle:\n  同一户 same family:      doorstep review merge {} {} [--comment 说明]\n  成员登记错户 wrong household: doorstep review move {id} --member 成员键 --to 正确户\n  不是同一户 not the same:  doorstep review dismiss {id} --comment 说明\n",
                text(&item["household_id"]),
                item["other_household_id"].as_str().unwrap_or("OTHER"),
            ))
        }
        _ if detail["candidates"]
            .as_array()
            .is_some_and(|c| !c.is_empty()) =>
        {
            out.push_str(&format!(
                "\n处理 settle: doorstep review resolve {id} --pick N [--comment 说明]\n"
            ))
        }
        _ => out.push_str(&format!(
            "\n处理 settle: doorstep review resolve {id} --value 新值 [--comment 说明]\n"
        )),
    }
    out
}

/// One household of a duplicate, as lines: who lives there, where, and who visited.
fn household_lines(part: &Value) -> Vec<String> {
    let field = |record: &Value, name: &str| -> String {
        record[name]["value"]
            .as_str()
            .map(str::to_owned)
            .or_else(|| record[name]["value"].as_i64().map(|n| n.to_string()))
            .unwrap_or_else(|| "—".to_owned())
    };
    let household = &part["household"];
    let mut lines = vec![
        format!("户 household {}", text(&part["id"])),
        format!("编号 number {}", field(household, "number")),
        format!("地址 address {}", field(household, "address")),
        format!("电话 phone {}", field(household, "phone")),
        "成员 members:".to_owned(),
    ];
    for (key, member) in part["members"].as_object().into_iter().flatten() {
        let recorder = &part["members_recorded_by"][key];
        lines.push(format!(
            "  {} {} 关系 {}",
            field(member, "name"),
            field(member, "id_number"),
            field(member, "relation"),
        ));
        lines.push(format!("    键 key {key}"));
        lines.push(format!("    登记 by {}", who(recorder)));
    }
    lines.push("走访 visits:".to_owned());
    for visit in part["visits"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(_, v)| v)
    {
        lines.push(format!(
            "  {} {}",
            china_time(&visit["started_at"]["value"]),
            field(visit, "outcome"),
        ));
        lines.push(format!(
            "    {} · 设备 device {}",
            field(visit, "volunteer"),
            field(visit, "device"),
        ));
    }
    lines
}

/// Two households of a duplicate in two columns, so a clerk compares them line by line.
fn side_by_side(left: &Value, right: &Value) -> String {
    let (left, right) = (household_lines(left), household_lines(right));
    let width = left.iter().map(|l| columns(l)).max().unwrap_or(0) + 4;
    let mut out = String::from("\n两户对照 side by side:\n");
    for row in 0..left.len().max(right.len()) {
        let first = left.get(row).map(String::as_str).unwrap_or("");
        let second = right.get(row).map(String::as_str).unwrap_or("");
        let pad = " ".repeat(width.saturating_sub(columns(first)));
        out.push_str(&format!("{first}{pad}│ {second}\n"));
    }
    out
}

/// How many terminal columns a line takes: Chinese characters take two.
fn columns(line: &str) -> usize {
    line.chars()
        .map(|c| match u32::from(c) {
            0x1100..=0x115F
            | 0x2E80..=0xA4CF
            | 0xAC00..=0xD7A3
            | 0xF900..=0xFAFF
            | 0xFE30..=0xFE4F
            | 0xFF00..=0xFF60
            | 0xFFE0..=0xFFE6 => 2,
            _ => 1,
        })
        .sum()
}
