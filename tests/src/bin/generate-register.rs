//! Makes a county register to browse or measure: `--households N` households (100,000 by
//! default) with about `--review-items N` open review items (2,000), in `--data DIR`, on
//! SQLite or, with `--database-url URL` (an empty PostgreSQL database), on PostgreSQL.
//! Then `doorstep serve --data DIR` serves it, and the accounts it prints sign in.
//!
//! Real phones record and sync the template households through the real `doorstep` binary;
//! the rest are SQL copies of them (`doorstep_e2e::seed`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use doorstep_e2e::{Account, Server, Sql, TestDatabase, seed};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

const USAGE: &str = "用法 usage: generate-register --data DIR [--households 100000] \
                     [--review-items 2000] [--database-url postgres://…]";

#[derive(Debug)]
struct Options {
    data: PathBuf,
    database_url: Option<String>,
    households: usize,
    review_items: usize,
}

/// A refusal in both languages, Chinese first.
fn refusal(zh: &str, en: &str) -> String {
    format!("错误 error: {zh} / {en}\n{USAGE}")
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut data = None;
    let mut database_url = std::env::var("DATABASE_URL")
        .ok()
        .filter(|url| !url.is_empty());
    let mut households = 100_000;
    let mut review_items = 2_000;
    let mut args = args.iter();
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .ok_or_else(|| refusal(&format!("{flag} 缺少值"), &format!("{flag} needs a value")))?;
        let count = || {
            value
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=10_000_000).contains(n))
                .ok_or_else(|| {
                    refusal(
                        &format!("{flag} 应为 1 到 10000000 之间的整数：{value}"),
                        &format!("{flag} must be a whole number from 1 to 10000000: {value}"),
                    )
                })
        };
        match flag.as_str() {
            "--data" => data = Some(PathBuf::from(value)),
            "--database-url" => database_url = Some(value.clone()),
            "--households" => households = count()?,
            "--review-items" => review_items = count()?,
            _ => {
                return Err(refusal(
                    &format!("未知选项：{flag}"),
                    &format!("unknown option: {flag}"),
                ));
            }
        }
    }
    let data =
        data.ok_or_else(|| refusal("请用 --data 指定目录", "name a directory with --data"))?;
    Ok(Options {
        data,
        database_url,
        households,
        review_items,
    })
}

fn show(role: &str, account: &Account) {
    println!(
        "  {role}: username {}  password {}{}",
        account.username,
        account.password,
        account
            .totp_secret
            .as_ref()
            .map(|secret| format!("  TOTP secret {secret}"))
            .unwrap_or_default()
    );
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let options = match parse(&args) {
        Ok(options) => options,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    if let Err(err) = std::fs::create_dir_all(&options.data) {
        eprintln!(
            "{}",
            refusal(
                &format!("无法创建目录 {}：{err}", options.data.display()),
                &format!("cannot make directory {}: {err}", options.data.display()),
            )
        );
        return ExitCode::FAILURE;
    }
    if options.database_url.is_none() && options.data.join("doorstep.db").exists() {
        eprintln!(
            "{}",
            refusal(
                &format!("{} 中已有登记库；请换一个空目录", options.data.display()),
                &format!(
                    "{} already holds a register; name an empty directory",
                    options.data.display()
                ),
            )
        );
        return ExitCode::FAILURE;
    }
    let started = Instant::now();
    let db = TestDatabase::kept(options.data.clone(), options.database_url.clone());
    let server = Server::start(&db);
    if seed::households(&Sql::open(&db)) > 0 {
        eprintln!(
            "{}",
            refusal(
                "这个数据库中已有住户；请用一个空数据库",
                "this database already holds households; name an empty one",
            )
        );
        return ExitCode::FAILURE;
    }
    let register = seed::register(
        &db,
        &server,
        options.households,
        options.review_items,
        &mut |step| eprintln!("[{:>4.0} s] {step}", started.elapsed().as_secs_f64()),
    );
    drop(server);
    let open: usize = register.open_items.values().sum();
    println!(
        "A register of {} households with {open} open review items ({}) in {:.0} s.",
        register.households,
        register
            .open_items
            .iter()
            .map(|(kind, n)| format!("{n} {kind}"))
            .collect::<Vec<_>>()
            .join(", "),
        started.elapsed().as_secs_f64()
    );
    println!("Serve it with:");
    let url = options
        .database_url
        .as_ref()
        .map(|url| format!("DATABASE_URL={url} "))
        .unwrap_or_default();
    println!(
        "  {url}doorstep serve --data {}   (then open http://127.0.0.1:8080/)",
        options.data.display()
    );
    println!("Accounts of county 141124:");
    show("county clerk", &register.clerk);
    show("county admin", &register.admin);
    show("auditor", &register.auditor);
    ExitCode::SUCCESS
}
