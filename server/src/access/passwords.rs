//! Passwords: argon2id hashes, computed off the async workers, and the shortest password
//! accepted.

use super::secrets::random_bytes;
use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use schema::Message;

/// The shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 10;

/// Runs argon2 on tokio's blocking threads. A hash is meant to cost tens of milliseconds
/// of CPU; on an async worker it would hold up every other request that worker serves.
pub(super) async fn off_the_async_workers<R: Send + 'static>(
    work: impl FnOnce() -> R + Send + 'static,
) -> R {
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => result,
        // A panic is raised again here, as if the work had run inline. (A blocking task is
        // only ever cancelled when the runtime shuts down, which drops this caller too.)
        Err(err) => std::panic::resume_unwind(err.into_panic()),
    }
}

/// A new argon2id hash of `password`, computed off the async workers.
pub(super) async fn hash_password(password: &str) -> Result<String, Message> {
    let password = password.to_owned();
    off_the_async_workers(move || argon2_hash(&password)).await
}

/// Whether `password` is the one `stored` is a hash of, checked off the async workers.
pub(super) async fn password_matches(password: &str, stored: &str) -> bool {
    let (password, stored) = (password.to_owned(), stored.to_owned());
    off_the_async_workers(move || argon2_matches(&password, &stored)).await
}

fn argon2_hash(password: &str) -> Result<String, Message> {
    let failed = |err: argon2::password_hash::Error| {
        Message::new(
            format!("无法生成密码哈希：{err}"),
            format!("Cannot hash the password: {err}"),
        )
    };
    let salt = SaltString::encode_b64(&random_bytes::<16>()).map_err(failed)?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(failed)
}

pub(super) fn argon2_matches(password: &str, stored: &str) -> bool {
    PasswordHash::new(stored).is_ok_and(|hash| {
        Argon2::default()
            .verify_password(password.as_bytes(), &hash)
            .is_ok()
    })
}

/// An argon2 hash of no one's password: checked when the username is unknown, so that an
/// unknown name takes as long to refuse as a wrong password and does not give itself away.
pub(super) fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| argon2_hash("no such account, no such password").unwrap_or_default())
}

/// Refuses a password shorter than [`MIN_PASSWORD_CHARS`].
pub(super) fn check_password(password: &str) -> Result<(), Message> {
    if password.chars().count() >= MIN_PASSWORD_CHARS {
        Ok(())
    } else {
        Err(Message::new(
            format!("密码太短：至少 {MIN_PASSWORD_CHARS} 个字符"),
            format!("The password is too short: at least {MIN_PASSWORD_CHARS} characters"),
        ))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[tokio::test]
    async fn test_password_hash_verifies_only_the_password() {
        let hash = hash_password("correct horse battery").await.unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(password_matches("correct horse battery", &hash).await);
        assert!(!password_matches("correct horse batterY", &hash).await);
        assert!(!password_matches("correct horse battery", "not a hash").await);
    }

    #[test]
    fn test_an_invalid_account_prints_chinese_first_and_english() {
        let printed = check_password("short").unwrap_err().to_string();
        assert_eq!(
            printed,
            format!(
                "密码太短：至少 {MIN_PASSWORD_CHARS} 个字符 / \
                 The password is too short: at least {MIN_PASSWORD_CHARS} characters"
            )
        );
    }
}
