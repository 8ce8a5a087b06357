//! Enrollment's contract between a phone and the server (`docs/PROTOCOL.md`, "Enrollment"):
//! the QR code's text, and the JSON of `POST /api/v1/enroll`.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::{Deserialize, Serialize};

/// What a QR code's text starts with when it names the server.
pub const QR_PREFIX: &str = "doorstep:enroll?";

/// Escaped in the QR code's values: all but the characters RFC 3986 leaves unreserved, so
/// a printed code reads the same to every scanner.
const ESCAPED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// What a QR code carries, or what a volunteer typed: the one-time code, and the server to
/// redeem it at when known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QrPayload {
    pub server: Option<String>,
    pub code: String,
}

impl QrPayload {
    /// The QR code's text: `doorstep:enroll?server=<url>&code=<code>`, so one scan sets up
    /// the phone; or the bare code when the server's address is not known (blank).
    pub fn encode(&self) -> String {
        let server = self.server.as_deref().map(str::trim);
        match server.filter(|s| !s.is_empty()) {
            Some(server) => format!(
                "{QR_PREFIX}server={}&code={}",
                utf8_percent_encode(server.trim_end_matches('/'), ESCAPED),
                utf8_percent_encode(&self.code, ESCAPED),
            ),
            None => self.code.clone(),
        }
    }

    /// Reads what a volunteer typed or scanned: a bare code (trimmed), or a QR code's text.
    pub fn read(input: &str) -> QrPayload {
        let input = input.trim();
        let Some(query) = input.strip_prefix(QR_PREFIX) else {
            return QrPayload {
                server: None,
                code: input.to_owned(),
            };
        };
        let mut payload = QrPayload {
            server: None,
            code: String::new(),
        };
        for (name, value) in form_urlencoded::parse(query.as_bytes()) {
            match &*name {
                "server" => payload.server = Some(value.into_owned()),
                "code" => payload.code = value.into_owned(),
                _ => {}
            }
        }
        payload
    }
}

/// `POST /api/v1/enroll`: a phone redeems a code for its device token. The fields are in
/// the order the phone has always sent them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrollRequest {
    /// The phone's Automerge actor, hex: the device token works only with it.
    pub actor: String,
    pub code: String,
    pub device_name: Option<String>,
}

/// The answer to an enrollment: the device's token (shown this once), its volunteer and
/// villages, and the deployment's member-key secret, which the phone needs before it
/// records anyone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrollResponse {
    pub device_id: String,
    pub device_token: String,
    pub volunteer: String,
    pub villages: Vec<String>,
    /// Hex. Always sent; a phone reading an answer without it keeps its own.
    #[serde(default)]
    pub member_key_secret: Option<String>,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn payload(server: Option<&str>, code: &str) -> QrPayload {
        QrPayload {
            server: server.map(str::to_owned),
            code: code.to_owned(),
        }
    }

    #[test]
    fn test_the_payload_names_the_server_when_it_is_known() {
        let code = "ABCD-EFGH-JKMN-PQRS";
        assert_eq!(payload(None, code).encode(), code);
        assert_eq!(payload(Some("  "), code).encode(), code);
        assert_eq!(
            payload(Some("https://county.example:8443/doorstep/"), code).encode(),
            "doorstep:enroll?server=https%3A%2F%2Fcounty.example%3A8443%2Fdoorstep&code=ABCD-EFGH-JKMN-PQRS"
        );
        // Unreserved characters stay as they are; everything else is escaped, in capitals.
        assert_eq!(
            payload(Some("http://a-b.c_d~e/李 x*+"), code).encode(),
            "doorstep:enroll?server=http%3A%2F%2Fa-b.c_d~e%2F%E6%9D%8E%20x%2A%2B&code=ABCD-EFGH-JKMN-PQRS"
        );
    }

    #[test]
    fn test_a_scanned_qr_code_names_the_server_and_a_typed_code_does_not() {
        assert_eq!(
            QrPayload::read(" ABCD-EFGH-JKMN-PQRS "),
            payload(None, "ABCD-EFGH-JKMN-PQRS")
        );
        assert_eq!(
            QrPayload::read(
                "doorstep:enroll?server=https%3A%2F%2Fcounty.example%3A8443%2Fdoorstep&code=ABCD-EFGH-JKMN-PQRS"
            ),
            payload(
                Some("https://county.example:8443/doorstep"),
                "ABCD-EFGH-JKMN-PQRS"
            )
        );
        // A stray `%` is taken as it is rather than dropped.
        assert_eq!(
            QrPayload::read("doorstep:enroll?server=a%2&code=%E6%9D%8E"),
            payload(Some("a%2"), "李")
        );
        let printed = payload(Some("http://a-b.c_d~e/李 x*+"), "ABCD-EFGH-JKMN-PQRS");
        assert_eq!(QrPayload::read(&printed.encode()), printed);
    }

    #[test]
    fn test_the_enrollment_request_is_the_json_phones_send() {
        let request = EnrollRequest {
            actor: "0a1b".to_owned(),
            code: "ABCD-EFGH-JKMN-PQRS".to_owned(),
            device_name: Some("phone-1".to_owned()),
        };
        assert_eq!(
            serde_json::to_string(&request).unwrap(),
            r#"{"actor":"0a1b","code":"ABCD-EFGH-JKMN-PQRS","device_name":"phone-1"}"#
        );
        let without_name: EnrollRequest =
            serde_json::from_str(r#"{"code":"c","actor":"a"}"#).unwrap();
        assert_eq!(without_name.device_name, None);
    }
}
