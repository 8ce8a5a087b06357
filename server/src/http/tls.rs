//! TLS for offices without a reverse proxy: the server's certificate chain and private key,
//! read from PEM files once at start, with rustls on ring's primitives.
//!
//! Every way the files can be wrong is an error that names the file and what is wrong with
//! it, so `doorstep serve` stops with a sentence rather than a panic or a failed handshake
//! at the first phone.

use rustls::ServerConfig;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use schema::Message;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read the TLS certificate file {}: {source}", path.display())]
    ReadCertificate {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the TLS certificate file {} holds no PEM certificate (\"-----BEGIN CERTIFICATE-----\")", path.display())]
    NoCertificate { path: PathBuf },
    #[error("the TLS certificate file {} is not valid PEM: {detail}", path.display())]
    BadCertificate { path: PathBuf, detail: String },
    #[error("cannot read the TLS key file {}: {source}", path.display())]
    ReadKey {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the TLS key file {} holds no PEM private key (PKCS#8, PKCS#1 or SEC1)", path.display())]
    NoKey { path: PathBuf },
    #[error("the TLS key file {} is not valid PEM: {detail}", path.display())]
    BadKey { path: PathBuf, detail: String },
    #[error("the TLS key {} is not the key of the certificate {}", key.display(), certificate.display())]
    Mismatch { certificate: PathBuf, key: PathBuf },
    #[error("cannot use the TLS certificate {} with the key {}: {detail}", certificate.display(), key.display())]
    Unusable {
        certificate: PathBuf,
        key: PathBuf,
        detail: rustls::Error,
    },
}

impl TlsError {
    /// What the operator starting `doorstep serve` reads: Chinese first, the English of
    /// `Display` too.
    pub fn message(&self) -> Message {
        let zh = match self {
            TlsError::ReadCertificate { path, source } => {
                format!("无法读取 TLS 证书文件 {}：{source}", path.display())
            }
            TlsError::NoCertificate { path } => format!(
                "TLS 证书文件 {} 中没有 PEM 证书（“-----BEGIN CERTIFICATE-----”）",
                path.display()
            ),
            TlsError::BadCertificate { path, detail } => {
                format!("TLS 证书文件 {} 不是有效的 PEM：{detail}", path.display())
            }
            TlsError::ReadKey { path, source } => {
                format!("无法读取 TLS 私钥文件 {}：{source}", path.display())
            }
            TlsError::NoKey { path } => format!(
                "TLS 私钥文件 {} 中没有 PEM 私钥（PKCS#8、PKCS#1 或 SEC1）",
                path.display()
            ),
            TlsError::BadKey { path, detail } => {
                format!("TLS 私钥文件 {} 不是有效的 PEM：{detail}", path.display())
            }
            TlsError::Mismatch { certificate, key } => format!(
                "TLS 私钥 {} 不是证书 {} 的私钥",
                key.display(),
                certificate.display()
            ),
            TlsError::Unusable {
                certificate,
                key,
                detail,
            } => format!(
                "无法将 TLS 证书 {} 与私钥 {} 一起使用：{detail}",
                certificate.display(),
                key.display()
            ),
        };
        Message::new(zh, self.to_string())
    }
}

/// Reads a certificate chain (the server's certificate first, then any intermediates) and
/// its private key, and checks that they belong together.
pub fn load(certificate: &Path, key: &Path) -> Result<Arc<ServerConfig>, TlsError> {
    let chain = read_chain(certificate)?;
    let private_key = read_key(key)?;
    // The provider is named, not taken from the process default: this crate builds rustls
    // with ring only, and must not depend on which provider another crate installs first.
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let unusable = |detail: rustls::Error| TlsError::Unusable {
        certificate: certificate.to_owned(),
        key: key.to_owned(),
        detail,
    };
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(unusable)?
        .with_no_client_auth()
        .with_single_cert(chain, private_key)
        .map_err(|err| match err {
            rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch) => {
                TlsError::Mismatch {
                    certificate: certificate.to_owned(),
                    key: key.to_owned(),
                }
            }
            other => unusable(other),
        })?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

fn read_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bytes = std::fs::read(path).map_err(|source| TlsError::ReadCertificate {
        path: path.to_owned(),
        source,
    })?;
    let chain = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, pem::Error>>()
        .map_err(|err| TlsError::BadCertificate {
            path: path.to_owned(),
            detail: err.to_string(),
        })?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate {
            path: path.to_owned(),
        });
    }
    Ok(chain)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let bytes = std::fs::read(path).map_err(|source| TlsError::ReadKey {
        path: path.to_owned(),
        source,
    })?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|err| match err {
        pem::Error::NoItemsFound => TlsError::NoKey {
            path: path.to_owned(),
        },
        other => TlsError::BadKey {
            path: path.to_owned(),
            detail: other.to_string(),
        },
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    struct Files {
        dir: tempfile::TempDir,
    }

    impl Files {
        fn new() -> Files {
            Files {
                dir: tempfile::tempdir().unwrap(),
            }
        }

        fn write(&self, name: &str, contents: &str) -> PathBuf {
            let path = self.dir.path().join(name);
            std::fs::write(&path, contents).unwrap();
            path
        }

        /// A fresh self-signed certificate and its key, as two PEM files.
        fn pair(&self, name: &str) -> (PathBuf, PathBuf) {
            let made = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
            (
                self.write(&format!("{name}.crt"), &made.cert.pem()),
                self.write(&format!("{name}.key"), &made.signing_key.serialize_pem()),
            )
        }
    }

    #[test]
    fn a_certificate_and_its_key_load() {
        let files = Files::new();
        let (certificate, key) = files.pair("server");
        let config = load(&certificate, &key).unwrap();
        assert_eq!(config.alpn_protocols[1], b"http/1.1");
    }

    #[test]
    fn a_missing_file_is_named() {
        let files = Files::new();
        let (certificate, key) = files.pair("server");
        let missing = files.dir.path().join("missing.pem");
        let err = load(&missing, &key).unwrap_err();
        assert!(matches!(err, TlsError::ReadCertificate { .. }), "{err}");
        assert!(err.to_string().contains("missing.pem"), "{err}");
        let err = load(&certificate, &missing).unwrap_err();
        assert!(matches!(err, TlsError::ReadKey { .. }), "{err}");
    }

    #[test]
    fn a_key_of_another_certificate_is_refused() {
        let files = Files::new();
        let (certificate, _) = files.pair("one");
        let (_, other_key) = files.pair("two");
        let err = load(&certificate, &other_key).unwrap_err();
        assert!(matches!(err, TlsError::Mismatch { .. }), "{err}");
        assert!(err.to_string().contains("two.key"), "{err}");
    }

    #[test]
    fn swapped_or_empty_files_are_refused() {
        let files = Files::new();
        let (certificate, key) = files.pair("server");
        let err = load(&key, &certificate).unwrap_err();
        assert!(matches!(err, TlsError::NoCertificate { .. }), "{err}");
        let empty = files.write("empty.pem", "");
        let err = load(&certificate, &empty).unwrap_err();
        assert!(matches!(err, TlsError::NoKey { .. }), "{err}");
        let damaged = files.write(
            "damaged.pem",
            "-----BEGIN CERTIFICATE-----\nnot base64 at all!\n-----END CERTIFICATE-----\n",
        );
        let err = load(&damaged, &key).unwrap_err();
        assert!(
            matches!(
                err,
                TlsError::BadCertificate { .. } | TlsError::Unusable { .. }
            ),
            "{err}"
        );
    }
}
