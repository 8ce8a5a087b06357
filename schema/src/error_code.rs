//! The stable codes of the server's JSON error bodies (`{"error": <code>, "message": …}`),
//! one enum for the server that sends them and the clients that act on them.

use serde::{Deserialize, Serialize};

/// What went wrong with a request as a whole, as the `error` of its error body. The wire
/// strings are the snake_case names (`device_revoked`, `too_large`, …); `docs/PROTOCOL.md`
/// lists what the sync and enrollment endpoints send.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    BadRequest,
    /// The body of a state-changing request must be JSON.
    JsonRequired,
    TooLarge,
    Timeout,
    MethodNotAllowed,
    Unauthorized,
    /// The device was revoked: it erases what it holds and stops syncing.
    DeviceRevoked,
    /// A sync request's `actor` is not the one the device enrolled with.
    WrongActor,
    UnsupportedProtocol,
    Forbidden,
    NotFound,
    /// The request clashes with the state it would change.
    Conflict,
    /// A decision was made on an item that changed since it was read.
    Stale,
    RateLimited,
    BadCredentials,
    LockedOut,
    TotpRequired,
    SessionExpired,
    /// Enrollment: not 16 base32 characters, or the actor is not hex.
    InvalidCode,
    UnknownCode,
    CodeExpired,
    CodeUsed,
    /// An enrollment code that can no longer make a QR code: used or expired.
    CodeSpent,
    /// Enrollment: the phone's actor belongs to a live device already.
    AlreadyEnrolled,
    Internal,
    Unavailable,
    /// A photo upload or download for a household whose document does not reference it.
    PhotoNotReferenced,
    /// A photo chunk's offset is not the byte the server holds up to.
    UploadOffset,
    /// A photo's bytes do not hash to its address.
    PhotoHashMismatch,
    /// Not a JPEG, or a corrupt or truncated one.
    PhotoNotAnImage,
    /// A photo claiming more pixels than the server decodes.
    PhotoTooManyPixels,
    /// Staff accounts: a username that is not 3 to 64 letters, digits, `_`, `-` or `.`.
    InvalidUsername,
    /// Staff accounts: the username is another account's.
    UsernameTaken,
    /// A new password the password rules refuse.
    WeakPassword,
    /// Staff accounts: an area that does not fit the role.
    AreaDoesNotFitRole,
    /// Enrollment codes: no volunteer's name, or one too long.
    InvalidVolunteer,
    /// Enrollment codes: a validity outside the hours allowed.
    InvalidExpiry,
    /// A code this build does not know, as a newer server may send: read so that its
    /// message still reaches the user. The server never sends it.
    #[serde(untagged)]
    Unknown(String),
}

impl ErrorCode {
    /// The code as it is on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            ErrorCode::BadRequest => "bad_request",
            ErrorCode::JsonRequired => "json_required",
            ErrorCode::TooLarge => "too_large",
            ErrorCode::Timeout => "timeout",
            ErrorCode::MethodNotAllowed => "method_not_allowed",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::DeviceRevoked => "device_revoked",
            ErrorCode::WrongActor => "wrong_actor",
            ErrorCode::UnsupportedProtocol => "unsupported_protocol",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::NotFound => "not_found",
            ErrorCode::Conflict => "conflict",
            ErrorCode::Stale => "stale",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::BadCredentials => "bad_credentials",
            ErrorCode::LockedOut => "locked_out",
            ErrorCode::TotpRequired => "totp_required",
            ErrorCode::SessionExpired => "session_expired",
            ErrorCode::InvalidCode => "invalid_code",
            ErrorCode::UnknownCode => "unknown_code",
            ErrorCode::CodeExpired => "code_expired",
            ErrorCode::CodeUsed => "code_used",
            ErrorCode::CodeSpent => "code_spent",
            ErrorCode::AlreadyEnrolled => "already_enrolled",
            ErrorCode::Internal => "internal",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::PhotoNotReferenced => "photo_not_referenced",
            ErrorCode::UploadOffset => "upload_offset",
            ErrorCode::PhotoHashMismatch => "photo_hash_mismatch",
            ErrorCode::PhotoNotAnImage => "photo_not_an_image",
            ErrorCode::PhotoTooManyPixels => "photo_too_many_pixels",
            ErrorCode::InvalidUsername => "invalid_username",
            ErrorCode::UsernameTaken => "username_taken",
            ErrorCode::WeakPassword => "weak_password",
            ErrorCode::AreaDoesNotFitRole => "area_does_not_fit_role",
            ErrorCode::InvalidVolunteer => "invalid_volunteer",
            ErrorCode::InvalidExpiry => "invalid_expiry",
            ErrorCode::Unknown(code) => code,
        }
    }
}

/// Reads a code as it is on the wire; one this build does not know is kept as it is.
impl From<&str> for ErrorCode {
    fn from(code: &str) -> ErrorCode {
        use serde::de::value::{Error, StrDeserializer};
        ErrorCode::deserialize(StrDeserializer::<Error>::new(code))
            .unwrap_or_else(|_| ErrorCode::Unknown(code.to_owned()))
    }
}

impl From<String> for ErrorCode {
    fn from(code: String) -> ErrorCode {
        ErrorCode::from(code.as_str())
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Tests and logs compare a code with its wire string.
impl PartialEq<&str> for ErrorCode {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<str> for ErrorCode {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn test_every_code_is_its_wire_string_both_ways_and_an_unknown_one_is_kept() {
        let known = [
            ErrorCode::BadRequest,
            ErrorCode::JsonRequired,
            ErrorCode::TooLarge,
            ErrorCode::Timeout,
            ErrorCode::MethodNotAllowed,
            ErrorCode::Unauthorized,
            ErrorCode::DeviceRevoked,
            ErrorCode::WrongActor,
            ErrorCode::UnsupportedProtocol,
            ErrorCode::Forbidden,
            ErrorCode::NotFound,
            ErrorCode::Conflict,
            ErrorCode::Stale,
            ErrorCode::RateLimited,
            ErrorCode::BadCredentials,
            ErrorCode::LockedOut,
            ErrorCode::TotpRequired,
            ErrorCode::SessionExpired,
            ErrorCode::InvalidCode,
            ErrorCode::UnknownCode,
            ErrorCode::CodeExpired,
            ErrorCode::CodeUsed,
            ErrorCode::CodeSpent,
            ErrorCode::AlreadyEnrolled,
            ErrorCode::Internal,
            ErrorCode::Unavailable,
            ErrorCode::PhotoNotReferenced,
            ErrorCode::UploadOffset,
            ErrorCode::PhotoHashMismatch,
            ErrorCode::PhotoNotAnImage,
            ErrorCode::PhotoTooManyPixels,
            ErrorCode::InvalidUsername,
            ErrorCode::UsernameTaken,
            ErrorCode::WeakPassword,
            ErrorCode::AreaDoesNotFitRole,
            ErrorCode::InvalidVolunteer,
            ErrorCode::InvalidExpiry,
        ];
        for code in known {
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
            assert_eq!(ErrorCode::from(code.as_str()), code);
            assert_eq!(serde_json::from_str::<ErrorCode>(&json).unwrap(), code);
        }
        assert_eq!(
            serde_json::from_str::<ErrorCode>("\"new_in_v9\"").unwrap(),
            ErrorCode::Unknown("new_in_v9".to_owned())
        );
        assert_eq!(ErrorCode::DeviceRevoked, "device_revoked");
        assert_eq!(ErrorCode::from("code_used"), ErrorCode::CodeUsed);
        assert_eq!(
            ErrorCode::from("new_in_v9"),
            ErrorCode::Unknown("new_in_v9".to_owned())
        );
    }
}
