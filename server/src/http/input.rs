//! The text a request may carry, checked once at the edge, before any handler runs, so every
//! handler gets only clean text by construction:
//!
//! - no control character (NUL above all: PostgreSQL refuses it in text, so it would end as a
//!   500) in a path segment, a query string's names and values, or a JSON body's strings
//!   and keys, each read after percent-decoding and JSON unescaping. A JSON body may keep
//!   tabs and line breaks, which a comment of several lines holds;
//! - no path segment or query value longer than [`MAX_PARAM_CHARS`]: every free-text
//!   parameter is bounded (a search string becomes a `LIKE` pattern, which SQLite refuses past
//!   50,000 bytes); a JSON body is bounded whole by `MAX_JSON_BODY_BYTES`;
//! - every state-changing request (POST, PUT, PATCH, DELETE) of the API but a sync or a photo
//!   chunk carries a JSON body, which a cross-site form cannot send without a CORS preflight
//!   the server never grants. A sync or a photo chunk carries its own media type and a bearer
//!   token no browser adds by itself.
//!   The console's pages (every path outside `/api/`) post HTML forms instead, whose fields
//!   are checked here like a query string's (line breaks allowed in values: a comment), and
//!   which the console guards against cross-site posts itself (`console::guard`).
//!
//! The sync body is CBOR: `http/sync.rs` checks its strings with [`clean`] where it reads them.
//! A roster upload (`http/imported_rosters.rs`) is a spreadsheet or CSV file, whose media
//! type no cross-site form can send; its cells are checked where its rows are. The console's
//! roster upload (`console/comparison.rs`) is the one multipart form: its handler guards it
//! as every console form is guarded and checks its text fields as this file would.

use super::MAX_JSON_BODY_BYTES;
use super::error::ApiError;
use axum::body::Body;
use axum::extract::Request;
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use schema::Message;
use schema::error_code::ErrorCode;
use serde_json::Value;

/// The longest path segment or query value accepted, in characters: longer than any id, area
/// code, name or search a person types, far below what a database pattern can take.
pub const MAX_PARAM_CHARS: usize = 200;

/// Whether `text` holds no control character; `line_breaks` lets tabs and line breaks through.
pub fn clean(text: &str, line_breaks: bool) -> bool {
    text.chars()
        .all(|c| !c.is_control() || (line_breaks && matches!(c, '\t' | '\n' | '\r')))
}

/// The refusal of text with a control character in `place` (Chinese, English).
pub fn control_character(place: (&str, &str)) -> ApiError {
    ApiError::bad_request(Message::new(
        format!("{}含有控制字符（如 NUL），请删除后重试", place.0),
        format!(
            "The {} holds a control character (such as NUL); remove it and try again",
            place.1
        ),
    ))
}

fn too_long(place: (&str, &str)) -> ApiError {
    ApiError::bad_request(Message::new(
        format!("{}过长，最多 {MAX_PARAM_CHARS} 个字符", place.0),
        format!(
            "The {} is too long; at most {MAX_PARAM_CHARS} characters",
            place.1
        ),
    ))
}

/// Checks one decoded path segment or query name or value.
fn check_param(text: &str, place: (&str, &str)) -> Result<(), ApiError> {
    if !clean(text, false) {
        return Err(control_character(place));
    }
    if text.chars().count() > MAX_PARAM_CHARS {
        return Err(too_long(place));
    }
    Ok(())
}

/// The path's segments and the query string's pairs, as handlers will read them.
fn check_uri(uri: &axum::http::Uri) -> Result<(), ApiError> {
    for segment in uri.path().split('/') {
        let decoded = percent_encoding::percent_decode_str(segment).decode_utf8_lossy();
        check_param(&decoded, ("路径", "path"))?;
    }
    let query = uri.query().unwrap_or_default();
    for (name, value) in form_urlencoded::parse(query.as_bytes()) {
        check_param(&name, ("查询参数名", "query parameter name"))?;
        check_param(
            &value,
            (
                &format!("查询参数“{name}”"),
                &format!("query parameter \"{name}\""),
            ),
        )?;
    }
    Ok(())
}

/// Whether a request's body is an HTML form, as axum's `Form` extractor reads it.
fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|essence| {
            essence
                .trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
}

/// Checks a form's decoded field names and values.
fn check_form(body: &[u8]) -> Result<(), ApiError> {
    for (name, value) in form_urlencoded::parse(body) {
        check_param(&name, ("表单字段名", "form field name"))?;
        if !clean(&value, true) {
            return Err(control_character((
                &format!("表单字段“{name}”"),
                &format!("form field \"{name}\""),
            )));
        }
    }
    Ok(())
}

/// Whether a request says its body is JSON, as axum's `Json` extractor reads it.
fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or_default().trim();
    let essence = essence.to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

fn changes_state(method: &Method) -> bool {
    [Method::POST, Method::PUT, Method::PATCH, Method::DELETE].contains(method)
}

fn json_body_required() -> ApiError {
    ApiError {
        status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
        code: ErrorCode::JsonRequired,
        message: Message::new(
            "此请求须带 JSON 请求体（Content-Type: application/json），没有内容时发送 {}",
            "This request needs a JSON body (Content-Type: application/json); send {} when there is nothing to say",
        ),
    }
}

fn body_too_large() -> ApiError {
    ApiError {
        status: StatusCode::PAYLOAD_TOO_LARGE,
        code: ErrorCode::TooLarge,
        message: Message::new(
            "请求过大或传输中断",
            "The request is too large or was cut off",
        ),
    }
}

/// Whether every string and key of a JSON value is clean.
fn clean_json(value: &Value) -> bool {
    match value {
        Value::String(text) => clean(text, true),
        Value::Array(items) => items.iter().all(clean_json),
        Value::Object(fields) => fields
            .iter()
            .all(|(key, value)| clean(key, false) && clean_json(value)),
        Value::Null | Value::Bool(_) | Value::Number(_) => true,
    }
}

/// A photo chunk (`PUT /api/v1/photos/{hash}/upload`): raw bytes, which a cross-site page
/// cannot send either (a PUT needs a preflight), with a device's bearer token.
fn is_photo_upload(path: &str) -> bool {
    path.strip_prefix("/api/v1/photos/")
        .and_then(|rest| rest.strip_suffix("/upload"))
        .is_some_and(|hash| !hash.contains('/'))
}

/// The middleware: refuses a request whose text is not clean, or a state-changing request
/// without a JSON body; passes everything else on unchanged.
pub async fn check(request: Request, next: Next) -> Response {
    if let Err(err) = check_uri(request.uri()) {
        return err.into_response();
    }
    let path = request.uri().path();
    let is_sync = path == "/api/v1/sync"
        || is_photo_upload(path)
        || super::imported_rosters::is_upload(path, request.headers())
        || super::console::is_roster_upload(request.method(), path, request.headers());
    let is_api = request.uri().path().starts_with("/api/");
    if !is_api && is_form(request.headers()) {
        let (parts, body) = request.into_parts();
        let Ok(bytes) = axum::body::to_bytes(body, MAX_JSON_BODY_BYTES).await else {
            return body_too_large().into_response();
        };
        if let Err(err) = check_form(&bytes) {
            return err.into_response();
        }
        return next
            .run(Request::from_parts(parts, Body::from(bytes)))
            .await;
    }
    if !is_json(request.headers()) {
        if changes_state(request.method()) && !is_sync {
            return json_body_required().into_response();
        }
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_JSON_BODY_BYTES).await else {
        return body_too_large().into_response();
    };
    // A body that is not JSON is left to the handler, whose extractor says what is wrong.
    if let Ok(value) = serde_json::from_slice::<Value>(&bytes)
        && !clean_json(&value)
    {
        return control_character(("请求内容", "request body")).into_response();
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_refused_and_line_breaks_only_in_bodies() {
        assert!(clean("张三 Zhang-3 ok", false));
        assert!(!clean("a\0b", false));
        assert!(!clean("a\u{7f}", false));
        assert!(!clean("a\u{85}", false));
        assert!(!clean("two\nlines", false));
        assert!(clean("two\nlines\tand\r\n", true));
        assert!(!clean("a\0b", true));
    }

    #[test]
    fn the_uri_is_checked_after_decoding() {
        let check = |uri: &str| check_uri(&uri.parse().expect("a URI")).map_err(|e| e.message.en);
        assert!(check("/api/v1/households?search=%E5%BC%A0&area=141124").is_ok());
        assert!(check("/api/v1/households?search=%00").is_err());
        assert!(check("/api/v1/households?search=a+b%0A").is_err());
        assert!(check("/api/v1/staff/%00/disable").is_err());
        assert!(check("/api/v1/audit?%00=x").is_err());
        let long = format!(
            "/api/v1/households?search={}",
            "a".repeat(MAX_PARAM_CHARS + 1)
        );
        let refused = check(&long).err().unwrap_or_default();
        assert!(refused.contains("\"search\" is too long"), "{refused}");
        let longest = format!("/api/v1/households?search={}", "张".repeat(MAX_PARAM_CHARS));
        assert!(check(&longest).is_ok());
    }

    #[test]
    fn json_strings_and_keys_are_checked_after_unescaping() {
        let json = |text: &str| clean_json(&serde_json::from_str(text).expect("JSON"));
        assert!(json(
            r#"{"username":"张三","comment":"line\nbreak","n":[1,true,null]}"#
        ));
        assert!(!json(r#"{"username":"\u0000","password":"x"}"#));
        assert!(!json(r#"{"a":[{"b":["\u001b"]}]}"#));
        assert!(!json(r#"{"\u0000":1}"#));
    }

    #[test]
    fn form_fields_are_checked_after_decoding_with_line_breaks_in_values() {
        assert!(
            check_form("comment=%E4%B8%A4%E8%A1%8C%0A%E8%AF%84%E8%AE%BA&a=b".as_bytes()).is_ok()
        );
        assert!(check_form(b"comment=a%00b").is_err());
        assert!(check_form(b"a%0Ab=1").is_err());
    }

    #[test]
    fn json_media_types_are_recognised_as_axum_does() {
        let headers = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(CONTENT_TYPE, value.parse().expect("a header value"));
            headers
        };
        assert!(is_json(&headers("application/json")));
        assert!(is_json(&headers("Application/JSON; charset=utf-8")));
        assert!(is_json(&headers("application/problem+json")));
        assert!(!is_json(&headers("text/plain")));
        assert!(!is_json(&HeaderMap::new()));
    }
}
