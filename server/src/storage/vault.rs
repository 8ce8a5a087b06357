//! Sensitive data at rest: sealing with a key from configuration, and a keyed hash for
//! finding an ID number without decrypting anything.
//!
//! The household documents hold ID numbers, health and poverty status in the clear (they are
//! Automerge bytes), so the server seals every change row, every snapshot and every ID number
//! in the register before writing it, and opens them when it reads them. A stolen database
//! file, backup or replica then holds nothing a person can read without the key, which lives
//! outside the database.
//!
//! A sealed value is `[1] [id length] [key id] [24-byte nonce] [ciphertext + 16-byte tag]`,
//! XChaCha20-Poly1305 with the header as associated data, so neither the key id nor the
//! version can be altered unnoticed. The nonce is random: with 24 bytes, random nonces never
//! collide in practice, so no counter has to be kept (or shared between servers).
//!
//! The keyring holds the current key, which seals, and older keys, which still open what they
//! sealed: rotating is adding a new first line to the key file. Each key is a secret from
//! which the cipher key is derived; the lookup hash's key is derived from the *oldest* secret
//! of the ring, so that rotation leaves every stored hash valid. Retiring the oldest key
//! means re-sealing everything it sealed and re-hashing the register, which is not built.

use base64::Engine;
use chacha20poly1305::aead::AeadInOut;
use chacha20poly1305::{Key, KeyInit, Tag, XChaCha20Poly1305, XNonce};
use schema::Message;
use std::fmt;
use std::path::{Path, PathBuf};

/// The format byte of a sealed value.
const VERSION: u8 = 1;
const NONCE_BYTES: usize = 24;
const TAG_BYTES: usize = 16;
/// Longest key id; short, because every sealed value carries it.
const MAX_ID_CHARS: usize = 16;
/// The first bytes of every Automerge chunk: a row that starts with them was stored before
/// the server sealed anything.
pub(crate) const AUTOMERGE_MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];

const CIPHER_CONTEXT: &str = "doorstep 2026-05 data key: sealing";
const LOOKUP_CONTEXT: &str = "doorstep 2026-05 data key: ID number lookup hash";
const MEMBER_KEY_CONTEXT: &str = "doorstep 2026-11 data key: member key secret";
const KEY_ID_CONTEXT: &str = "doorstep 2026-05 data key: key id";
/// What the key check hashes under the lookup key (spaces and letters: never a normalised
/// ID number).
const LOOKUP_CHECK_TEXT: &[u8] = b"doorstep 2026-12 data key check";

/// The key file made under the data directory when no key is configured.
pub const DEFAULT_KEY_FILE: &str = "doorstep.key";

/// Where a key ring came from, for messages that must tell an operator which key they gave
/// and where the right one is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// `DOORSTEP_DATA_KEY`.
    Environment,
    /// `--data-key-file` (or `DOORSTEP_DATA_KEY_FILE`).
    File(PathBuf),
    /// The key file under the data directory; `made` when this start created it.
    DataDirectory { path: PathBuf, made: bool },
}

impl KeySource {
    /// The source as a person reads it, Chinese first.
    pub fn describe(&self) -> Message {
        match self {
            KeySource::Environment => Message::new(
                "环境变量 DOORSTEP_DATA_KEY",
                "the environment variable DOORSTEP_DATA_KEY",
            ),
            KeySource::File(path) => Message::new(
                format!("密钥文件 {}（--data-key-file）", path.display()),
                format!("the key file {} (--data-key-file)", path.display()),
            ),
            KeySource::DataDirectory { path, .. } => Message::new(
                format!("数据目录中的密钥文件 {}", path.display()),
                format!("the key file {} in the data directory", path.display()),
            ),
        }
    }

    /// The kind and path stored with the database's key check.
    pub fn stored(&self) -> (&'static str, Option<String>) {
        match self {
            KeySource::Environment => ("env", None),
            KeySource::File(path) => ("file", Some(path.display().to_string())),
            KeySource::DataDirectory { path, .. } => {
                ("generated", Some(path.display().to_string()))
            }
        }
    }

    /// A source read back from the database's key check.
    pub fn from_stored(kind: &str, path: Option<String>) -> KeySource {
        let path = PathBuf::from(path.unwrap_or_default());
        match kind {
            "env" => KeySource::Environment,
            "file" => KeySource::File(path),
            _ => KeySource::DataDirectory { path, made: false },
        }
    }
}

/// A path as an operator can find it again from another directory.
fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_owned())
}

#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error(
        "a stored value is not sealed (it was written before encryption at rest, migration 0006); this database cannot be read by this version"
    )]
    NotSealed,
    #[error("a stored value is not a sealed value of a known format")]
    Malformed,
    #[error(
        "a stored value is sealed with key \"{0}\", which this server does not hold; configure the key ring the data was written with"
    )]
    UnknownKey(String),
    #[error(
        "a sealed value fails its check: it was altered, or sealed by another key of the same id"
    )]
    Tampered,
    #[error("data key: {0}")]
    Config(String),
    /// No key is configured and the data directory holds no key file, while the database
    /// already holds sealed data: a new key would seal with the wrong key.
    #[error("data key file {} does not exist", .0.display())]
    NoKeyFile(PathBuf),
    #[error("data key file {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// One key of the ring.
#[derive(Clone)]
struct DataKey {
    id: String,
    cipher: XChaCha20Poly1305,
}

/// The server's keyring: seals with the current key, opens with any of them, and hashes ID
/// numbers for lookup.
#[derive(Clone)]
pub struct Vault {
    /// The current key first, then older ones.
    keys: Vec<DataKey>,
    lookup: [u8; 32],
    member_key_secret: [u8; 32],
}

impl fmt::Debug for Vault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ids: Vec<&str> = self.keys.iter().map(|k| k.id.as_str()).collect();
        f.debug_struct("Vault").field("key_ids", &ids).finish()
    }
}

impl Vault {
    /// The ring from configuration: an explicit key (`DOORSTEP_DATA_KEY`), or a key file
    /// (`--data-key-file`), or else the file [`DEFAULT_KEY_FILE`] under the data directory,
    /// made on first start when `may_create` (the database holds nothing sealed yet), so the
    /// embedded default needs no configuration. Also says where the ring came from.
    pub fn from_config(
        data_dir: &Path,
        key: Option<String>,
        key_file: Option<PathBuf>,
        may_create: bool,
    ) -> Result<(Vault, KeySource), VaultError> {
        let key = key.filter(|k| !k.trim().is_empty());
        match (key, key_file) {
            (Some(_), Some(_)) => Err(VaultError::Config(
                "both DOORSTEP_DATA_KEY and --data-key-file are given; give one".to_owned(),
            )),
            (Some(key), None) => Ok((
                Vault::from_keyring(&key.replace(',', "\n"))?,
                KeySource::Environment,
            )),
            (None, Some(path)) => {
                warn_if_readable_by_others(&path);
                let vault = Vault::from_keyring(&read_key_file(&path)?)?;
                Ok((vault, KeySource::File(absolute(&path))))
            }
            (None, None) => {
                let path = data_dir.join(DEFAULT_KEY_FILE);
                let (text, made) = match std::fs::read_to_string(&path) {
                    Ok(text) => (text, false),
                    Err(err) if err.kind() == std::io::ErrorKind::NotFound && may_create => {
                        create_key_file(data_dir, &path)?
                    }
                    Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                        return Err(VaultError::NoKeyFile(absolute(&path)));
                    }
                    Err(source) => return Err(VaultError::Io { path, source }),
                };
                warn_if_readable_by_others(&path);
                tracing::warn!(
                    path = %path.display(),
                    "the data key lives beside the database: whoever copies the data directory \
                     can read it; in production give DOORSTEP_DATA_KEY or --data-key-file, kept \
                     elsewhere, and back the key up (without it the data cannot be read)"
                );
                let vault = Vault::from_keyring(&text)?;
                Ok((
                    vault,
                    KeySource::DataDirectory {
                        path: absolute(&path),
                        made,
                    },
                ))
            }
        }
    }

    /// A ring of one fresh random key, for tests.
    pub fn generate() -> Vault {
        let secret = random_secret();
        Vault::from_secrets(vec![(key_id(&secret), secret)])
            .expect("one key with a derived id is a valid ring")
    }

    /// A ring from text: one key a line, `id:key` or just `key` (the id is then derived from
    /// the key), the current key first. A key is 32 bytes as 64 hex digits or in base64.
    /// Empty lines and lines starting with `#` are skipped.
    pub fn from_keyring(text: &str) -> Result<Vault, VaultError> {
        let mut secrets = Vec::new();
        for (number, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let bad = |why: &str| VaultError::Config(format!("line {}: {why}", number + 1));
            let (id, material) = match line.split_once(':') {
                Some((id, material)) => (Some(id.trim()), material.trim()),
                None => (None, line),
            };
            let secret = parse_secret(material)
                .ok_or_else(|| bad("a key is 32 bytes, written as 64 hex digits or in base64"))?;
            let id = match id {
                Some(id) if valid_id(id) => id.to_owned(),
                Some(_) => {
                    return Err(bad(&format!(
                        "a key id is 1 to {MAX_ID_CHARS} letters, digits, '-', '_' or '.'"
                    )));
                }
                None => key_id(&secret),
            };
            secrets.push((id, secret));
        }
        Vault::from_secrets(secrets)
    }

    /// A ring from `(id, secret)` pairs, the current key first.
    fn from_secrets(secrets: Vec<(String, [u8; 32])>) -> Result<Vault, VaultError> {
        let Some((_, oldest)) = secrets.last() else {
            return Err(VaultError::Config("no key given".to_owned()));
        };
        let lookup = blake3::derive_key(LOOKUP_CONTEXT, oldest);
        let member_key_secret = blake3::derive_key(MEMBER_KEY_CONTEXT, oldest);
        let mut keys: Vec<DataKey> = Vec::with_capacity(secrets.len());
        for (id, secret) in &secrets {
            if keys.iter().any(|k| &k.id == id) {
                return Err(VaultError::Config(format!(
                    "key id \"{id}\" is given twice"
                )));
            }
            let key = Key::from(blake3::derive_key(CIPHER_CONTEXT, secret));
            keys.push(DataKey {
                id: id.clone(),
                cipher: XChaCha20Poly1305::new(&key),
            });
        }
        Ok(Vault {
            keys,
            lookup,
            member_key_secret,
        })
    }

    /// The id of the key new values are sealed with.
    pub fn current_key_id(&self) -> &str {
        &self.keys[0].id
    }

    /// The ids of the ring's keys, the current one first.
    pub fn key_ids(&self) -> Vec<&str> {
        self.keys.iter().map(|k| k.id.as_str()).collect()
    }

    /// A keyed hash of a fixed text under the lookup key, which the database's key check
    /// keeps: two rings give the same value only if they hash ID numbers alike (have the
    /// same oldest key). The text is no ID number, so the value tells nothing of one.
    pub fn lookup_check(&self) -> String {
        hex::encode(blake3::keyed_hash(&self.lookup, LOOKUP_CHECK_TEXT).as_bytes())
    }

    /// Encrypts `plaintext` under the current key.
    pub fn seal(&self, plaintext: &[u8]) -> Vec<u8> {
        let key = &self.keys[0];
        let header = 2 + key.id.len();
        let mut out = Vec::with_capacity(header + NONCE_BYTES + plaintext.len() + TAG_BYTES);
        out.push(VERSION);
        out.push(key.id.len() as u8);
        out.extend_from_slice(key.id.as_bytes());
        let mut nonce = [0u8; NONCE_BYTES];
        // Sealing cannot go on without randomness, and an operating system that cannot
        // supply 24 bytes of it is not one the server can run on.
        getrandom::fill(&mut nonce).expect("the operating system's random source failed");
        out.extend_from_slice(&nonce);
        out.extend_from_slice(plaintext);
        let (aad, body) = out.split_at_mut(header);
        let body = &mut body[NONCE_BYTES..];
        let tag = key
            .cipher
            .encrypt_inout_detached(&XNonce::from(nonce), aad, body.into())
            .expect("XChaCha20-Poly1305 seals any message shorter than 256 GiB");
        out.extend_from_slice(tag.as_slice());
        out
    }

    /// Decrypts a value sealed by any key of the ring.
    pub fn open(&self, sealed: &[u8]) -> Result<Vec<u8>, VaultError> {
        if sealed.starts_with(&AUTOMERGE_MAGIC) {
            return Err(VaultError::NotSealed);
        }
        let (&version, rest) = sealed.split_first().ok_or(VaultError::Malformed)?;
        let (&id_len, rest) = rest.split_first().ok_or(VaultError::Malformed)?;
        let id_len = usize::from(id_len);
        if version != VERSION || rest.len() < id_len + NONCE_BYTES + TAG_BYTES {
            return Err(VaultError::Malformed);
        }
        let (id, rest) = rest.split_at(id_len);
        let key = self
            .keys
            .iter()
            .find(|k| k.id.as_bytes() == id)
            .ok_or_else(|| VaultError::UnknownKey(String::from_utf8_lossy(id).into_owned()))?;
        let (nonce, rest) = rest.split_at(NONCE_BYTES);
        let (ciphertext, tag) = rest.split_at(rest.len() - TAG_BYTES);
        let nonce = XNonce::try_from(nonce).map_err(|_| VaultError::Malformed)?;
        let tag = Tag::try_from(tag).map_err(|_| VaultError::Malformed)?;
        let mut plaintext = ciphertext.to_vec();
        key.cipher
            .decrypt_inout_detached(
                &nonce,
                &sealed[..2 + id_len],
                plaintext.as_mut_slice().into(),
                &tag,
            )
            .map_err(|_| VaultError::Tampered)?;
        Ok(plaintext)
    }

    /// Opens a value sealed from text.
    pub fn open_text(&self, sealed: &[u8]) -> Result<String, VaultError> {
        String::from_utf8(self.open(sealed)?).map_err(|_| VaultError::Malformed)
    }

    /// The keyed hash an ID number is found by: equal for two spellings of one number (a
    /// lowercase `x`, the legacy 15-digit form), unequal for two numbers, and useless to
    /// anyone without the key, who could otherwise try every birth date and sequence.
    /// The deployment's member-key secret, which phones key member entries with (a keyed
    /// hash of the ID number, `schema::ids::MemberKeySecret`). Handed to every enrolled or
    /// first-syncing device and to no one else: with a public secret, anyone who sees a
    /// member key (it is in every field path) could find the ID number by trying every
    /// birth date and sequence. Derived from the oldest key, so rotation keeps it.
    pub fn member_key_secret(&self) -> [u8; 32] {
        self.member_key_secret
    }

    pub fn lookup_hash(&self, id_number: &str) -> String {
        let normalised = normalise_id_number(id_number);
        let hash = blake3::keyed_hash(&self.lookup, normalised.as_bytes());
        // 128 bits: no two of a country's people collide, and the index is half the size.
        hex::encode(&hash.as_bytes()[..16])
    }
}

/// An ID number as it is hashed: read as `IdNumber::parse` reads it (spaces and hyphens left
/// out, full-width digits as ASCII, `x` upper-cased), a legacy 15-digit number in its
/// 18-character form. Anything else is kept so, so a number recorded wrongly is still found
/// by the same wrong spelling.
pub fn normalise_id_number(input: &str) -> String {
    let number = schema::id_number::normalised_text(input);
    if number.len() == 15 && number.bytes().all(|b| b.is_ascii_digit()) {
        let mut first17 = [0u8; 17];
        let upgraded = format!("{}19{}", &number[..6], &number[6..]);
        for (digit, byte) in first17.iter_mut().zip(upgraded.bytes()) {
            *digit = byte - b'0';
        }
        let check = schema::id_number::check_character(&first17);
        return format!("{upgraded}{check}");
    }
    number
}

/// Whether what a person typed has the shape of an ID number (18 characters, the last a digit
/// or `X`; or 15 digits), valid or not: such a search goes through the lookup hash.
pub fn looks_like_id_number(input: &str) -> bool {
    let number = schema::id_number::normalised_text(input);
    let number = number.as_bytes();
    match number.len() {
        15 => number.iter().all(u8::is_ascii_digit),
        18 => {
            number[..17].iter().all(u8::is_ascii_digit)
                && (number[17].is_ascii_digit() || number[17].eq_ignore_ascii_case(&b'x'))
        }
        _ => false,
    }
}

fn valid_id(id: &str) -> bool {
    (1..=MAX_ID_CHARS).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// A key id derived from the secret: the same secret gets the same id on every server,
/// and 24 bits of a hash say nothing about 256 bits of key.
fn key_id(secret: &[u8; 32]) -> String {
    format!(
        "k{}",
        hex::encode(&blake3::derive_key(KEY_ID_CONTEXT, secret)[..3])
    )
}

fn parse_secret(material: &str) -> Option<[u8; 32]> {
    let bytes = if material.len() == 64 && material.bytes().all(|b| b.is_ascii_hexdigit()) {
        hex::decode(material).ok()?
    } else {
        let engines = [
            base64::engine::general_purpose::STANDARD,
            base64::engine::general_purpose::STANDARD_NO_PAD,
            base64::engine::general_purpose::URL_SAFE,
            base64::engine::general_purpose::URL_SAFE_NO_PAD,
        ];
        engines.iter().find_map(|e| e.decode(material).ok())?
    };
    bytes.try_into().ok()
}

fn random_secret() -> [u8; 32] {
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret).expect("the operating system's random source failed");
    secret
}

fn read_key_file(path: &Path) -> Result<String, VaultError> {
    std::fs::read_to_string(path).map_err(|source| VaultError::Io {
        path: path.to_owned(),
        source,
    })
}

/// Makes the default key file, readable by its owner only. Two servers starting on one data
/// directory at once must end up with one key: the file is written whole under another name
/// and then linked into place, which fails for the later one, who reads the winner's.
fn create_key_file(data_dir: &Path, path: &Path) -> Result<(String, bool), VaultError> {
    let io = |source| VaultError::Io {
        path: path.to_owned(),
        source,
    };
    std::fs::create_dir_all(data_dir).map_err(io)?;
    let secret = random_secret();
    let text = format!(
        "# Doorstep data key: current key first, older keys after it. Without it the data\n\
         # cannot be read; keep a copy apart from the database.\n{}:{}\n",
        key_id(&secret),
        hex::encode(secret)
    );
    let mut suffix = [0u8; 6];
    getrandom::fill(&mut suffix).expect("the operating system's random source failed");
    let temporary = data_dir.join(format!("{DEFAULT_KEY_FILE}.{}.new", hex::encode(suffix)));
    write_private(&temporary, text.as_bytes()).map_err(io)?;
    let linked = std::fs::hard_link(&temporary, path);
    let _ = std::fs::remove_file(&temporary);
    match linked {
        Ok(()) => {
            sync_dir(data_dir).map_err(io)?;
            tracing::warn!(path = %path.display(), "made a new data key");
            Ok((text, true))
        }
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {
            Ok((read_key_file(path)?, false))
        }
        Err(err) => Err(io(err)),
    }
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// A key lost in a crash loses every value sealed with it, so the new name is made durable
/// before anything is sealed.
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        std::fs::File::open(dir)?.sync_all()?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

fn warn_if_readable_by_others(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(path)
            && meta.permissions().mode() & 0o077 != 0
        {
            tracing::warn!(
                path = %path.display(),
                "the data key file can be read by other users; chmod 600 it"
            );
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const OLD: &str = "0101010101010101010101010101010101010101010101010101010101010101";
    const NEW: &str = "0202020202020202020202020202020202020202020202020202020202020202";

    #[test]
    fn test_sealed_value_opens_to_the_plaintext_and_does_not_contain_it() {
        let vault = Vault::generate();
        let plaintext = b"members.a.id_number = 11010519491231002X";
        let sealed = vault.seal(plaintext);
        assert!(!sealed.windows(18).any(|w| w == b"11010519491231002X"));
        assert_eq!(vault.open(&sealed).unwrap(), plaintext);
        assert_eq!(vault.open(&vault.seal(b"")).unwrap(), b"");
        // Random nonces: the same plaintext never seals the same way twice.
        assert_ne!(vault.seal(plaintext), sealed);
    }

    #[test]
    fn test_any_altered_byte_is_refused() {
        let vault = Vault::generate();
        let sealed = vault.seal(b"health: 04");
        for index in 0..sealed.len() {
            let mut altered = sealed.clone();
            altered[index] ^= 0x01;
            assert!(
                vault.open(&altered).is_err(),
                "byte {index} altered, still opened"
            );
        }
        assert!(matches!(
            vault.open(&sealed[..sealed.len() - 1]),
            Err(VaultError::Tampered)
        ));
        assert!(matches!(vault.open(&[]), Err(VaultError::Malformed)));
    }

    #[test]
    fn test_another_key_refuses_to_open() {
        let sealed = Vault::generate().seal(b"poverty_attribute: 2");
        let other = Vault::generate();
        assert!(matches!(
            other.open(&sealed),
            Err(VaultError::UnknownKey(_))
        ));
        // Same id, other secret: the check fails rather than yielding garbage.
        let a = Vault::from_keyring(&format!("main:{OLD}")).unwrap();
        let b = Vault::from_keyring(&format!("main:{NEW}")).unwrap();
        assert!(matches!(b.open(&a.seal(b"x")), Err(VaultError::Tampered)));
    }

    #[test]
    fn test_rotated_ring_opens_old_values_and_seals_with_the_new_key() {
        let before = Vault::from_keyring(&format!("2025:{OLD}\n")).unwrap();
        let old_sealed = before.seal(b"sealed in 2025");
        let after = Vault::from_keyring(&format!("# rotated\n2026:{NEW}\n\n2025:{OLD}\n")).unwrap();
        assert_eq!(after.current_key_id(), "2026");
        assert_eq!(after.open(&old_sealed).unwrap(), b"sealed in 2025");
        let new_sealed = after.seal(b"sealed in 2026");
        assert!(new_sealed.starts_with(b"\x01\x042026"));
        assert!(matches!(
            before.open(&new_sealed),
            Err(VaultError::UnknownKey(id)) if id == "2026"
        ));
        // The lookup key comes from the oldest secret, so rotation keeps every stored hash.
        assert_eq!(
            before.lookup_hash("11010519491231002X"),
            after.lookup_hash("11010519491231002X")
        );
    }

    #[test]
    fn test_lookup_hash_is_stable_keyed_and_blind_to_spelling() {
        let vault = Vault::from_keyring(OLD).unwrap();
        let hash = vault.lookup_hash("11010519491231002X");
        assert_eq!(hash.len(), 32);
        assert_eq!(hash, vault.lookup_hash(" 11010519491231002x "));
        assert_eq!(
            hash,
            Vault::from_keyring(OLD)
                .unwrap()
                .lookup_hash("11010519491231002X")
        );
        assert_ne!(hash, vault.lookup_hash("110105194912310037"));
        assert_ne!(
            hash,
            Vault::from_keyring(NEW)
                .unwrap()
                .lookup_hash("11010519491231002X")
        );
        assert!(!hash.contains("1101"), "{hash}");
        // Not a plain hash: without the key nobody can recompute it.
        assert_ne!(
            hash,
            blake3::hash(b"11010519491231002X").to_hex()[..32].to_owned()
        );
        // A legacy 15-digit number is the same person as its 18-character form.
        assert_eq!(
            vault.lookup_hash("110105491231002"),
            vault.lookup_hash(&normalise_id_number("110105491231002"))
        );
        assert_eq!(normalise_id_number("110105491231002"), "11010519491231002X");
        // Typed in groups or full-width, it is the same number as the phone stores it.
        assert_eq!(
            normalise_id_number("１１０１０５ ４９１２３１－００２"),
            "11010519491231002X"
        );
        assert_eq!(
            vault.lookup_hash("110105 19491231 002x"),
            vault.lookup_hash("11010519491231002X")
        );
    }

    #[test]
    fn test_keys_are_read_as_hex_or_base64_with_or_without_an_id() {
        let hex = Vault::from_keyring(OLD).unwrap();
        let base64 = base64::engine::general_purpose::STANDARD.encode([1u8; 32]);
        let from_base64 = Vault::from_keyring(&base64).unwrap();
        assert_eq!(hex.current_key_id(), from_base64.current_key_id());
        assert_eq!(
            from_base64.open(&hex.seal(b"same key")).unwrap(),
            b"same key"
        );
        for bad in [
            String::new(),
            "main:abc".to_owned(),
            "main:".to_owned(),
            format!("an id far too long:{OLD}"),
            format!("bad id!:{OLD}"),
            "a:b:c".to_owned(),
        ] {
            assert!(Vault::from_keyring(&bad).is_err(), "{bad:?} was accepted");
        }
        let twice = format!("a:{OLD}\na:{NEW}");
        assert!(Vault::from_keyring(&twice).is_err());
        assert!(!format!("{hex:?}").contains("0101"));
    }

    #[test]
    fn test_explicit_key_and_key_file_are_read_and_not_both() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("keys");
        std::fs::write(&file, format!("new:{NEW}\nold:{OLD}\n")).unwrap();
        let (from_file, source) =
            Vault::from_config(dir.path(), None, Some(file.clone()), true).unwrap();
        assert_eq!(from_file.current_key_id(), "new");
        assert_eq!(source, KeySource::File(file.clone()));
        let (from_env, source) =
            Vault::from_config(dir.path(), Some(format!("old:{OLD}")), None, true).unwrap();
        assert_eq!(source, KeySource::Environment);
        assert_eq!(
            from_file.open(&from_env.seal(b"rotated")).unwrap(),
            b"rotated"
        );
        assert!(Vault::from_config(dir.path(), Some(OLD.to_owned()), Some(file), true).is_err());
        let missing = dir.path().join("missing");
        assert!(Vault::from_config(dir.path(), None, Some(missing), true).is_err());
        assert!(!dir.path().join(DEFAULT_KEY_FILE).exists());
    }

    #[test]
    fn test_without_configuration_a_private_key_file_is_made_once_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        // A database that already holds sealed data gets no new key.
        let refused = Vault::from_config(&data, None, None, false);
        assert!(
            matches!(refused, Err(VaultError::NoKeyFile(_))),
            "{refused:?}"
        );
        assert!(!data.join(DEFAULT_KEY_FILE).exists());
        let (first, source) = Vault::from_config(&data, Some("  ".to_owned()), None, true).unwrap();
        let path = data.join(DEFAULT_KEY_FILE);
        assert!(matches!(
            source,
            KeySource::DataDirectory { made: true, .. }
        ));
        assert!(path.exists());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let (again, source) = Vault::from_config(&data, None, None, false).unwrap();
        assert!(matches!(
            source,
            KeySource::DataDirectory { made: false, .. }
        ));
        assert_eq!(first.current_key_id(), again.current_key_id());
        assert_eq!(again.open(&first.seal(b"kept")).unwrap(), b"kept");
        let leftovers = std::fs::read_dir(&data).unwrap().count();
        assert_eq!(leftovers, 1, "only the key file is left behind");
    }

    #[test]
    fn test_plaintext_automerge_rows_are_named_as_unsealed() {
        let vault = Vault::generate();
        let mut doc = automerge::AutoCommit::new();
        let bytes = doc.save();
        assert!(matches!(vault.open(&bytes), Err(VaultError::NotSealed)));
    }

    #[test]
    fn test_id_number_shapes_are_told_from_other_searches() {
        assert!(looks_like_id_number(" 11010519491231002x "));
        assert!(looks_like_id_number("110105491231002"));
        assert!(looks_like_id_number("110105-19491231-002X"));
        assert!(!looks_like_id_number("1411241002010099"));
        assert!(!looks_like_id_number("王芳"));
        assert!(!looks_like_id_number("1101051949123100XX"));
    }
}
