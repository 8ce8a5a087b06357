//! Fresh secrets from the operating system, and the hash a secret token is stored as.
//!
//! Session and device tokens are 32 random bytes, so a fast hash is enough: nobody can guess
//! one, and a stolen database does not reveal them.

pub(crate) fn random_bytes<const N: usize>() -> [u8; N] {
    let mut buffer = [0u8; N];
    getrandom::fill(&mut buffer).expect("the operating system's random source failed");
    buffer
}

/// `bytes` random bytes, in hex: ids of accounts, devices and codes.
pub(crate) fn random_hex(bytes: usize) -> String {
    let mut buffer = vec![0u8; bytes];
    getrandom::fill(&mut buffer).expect("the operating system's random source failed");
    hex::encode(buffer)
}

/// What a token is stored and looked up as.
pub(crate) fn token_hash(token: &str) -> String {
    blake3::hash(token.trim().as_bytes()).to_hex().to_string()
}
