//! The second factor: TOTP codes (RFC 6238) from an authenticator app, which admin accounts
//! need to log in.

use super::secrets::random_bytes;

/// A new secret, base32, as an authenticator app takes it.
pub fn new_secret() -> String {
    totp_rs::Secret::Raw(random_bytes::<20>().to_vec())
        .to_encoded()
        .to_string()
}

fn totp(secret: &[u8]) -> Option<totp_rs::TOTP> {
    totp_rs::TOTP::new(totp_rs::Algorithm::SHA1, 6, 1, 30, secret.to_vec()).ok()
}

/// Whether `code` is the TOTP code of a base32 secret at `now` (seconds), or the one before
/// or after, for clocks a little apart.
pub fn code_matches(secret_base32: &str, code: &str, now: i64) -> bool {
    let Ok(secret) = totp_rs::Secret::Encoded(secret_base32.to_owned()).to_bytes() else {
        return false;
    };
    let code = code.trim();
    totp(&secret).is_some_and(|totp| u64::try_from(now).is_ok_and(|time| totp.check(code, time)))
}

/// The TOTP code of a base32 secret at a time, as an authenticator app shows it.
pub fn code_at(secret_base32: &str, time: u64) -> Option<String> {
    let secret = totp_rs::Secret::Encoded(secret_base32.to_owned())
        .to_bytes()
        .ok()?;
    totp(&secret).map(|totp| totp.generate(time))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn test_totp_codes_match_within_one_step() {
        let secret = new_secret();
        let now = crate::clock::Clock::system().now_seconds();
        let time = u64::try_from(now).unwrap();
        let code = code_at(&secret, time).unwrap();
        assert!(code_matches(&secret, &code, now));
        let old = code_at(&secret, time - 300).unwrap();
        assert!(old == code || !code_matches(&secret, &old, now));
        assert!(!code_matches(&secret, "not a code", now));
    }
}
