//! How the device's requests reach the server: the `Transport` trait the sync client and
//! enrollment post through, and the HTTP(S) one a phone uses, with timeouts for a 2G link
//! and failures told apart by what the volunteer can do about them.

use schema::wire;
use std::time::Duration;

/// The largest enrollment answer read: a token, a name and a township's villages.
const MAX_ENROLLMENT_ANSWER_BYTES: u64 = 1024 * 1024;

/// How a request reaches the server. Tests swap in one that cuts the link, or a server in
/// memory.
pub trait Transport {
    /// A sync round: the wire body (`schema::wire`), with the device token.
    fn post(&self, url: &str, token: &str, body: Vec<u8>) -> Result<Vec<u8>, TransportError>;

    /// An enrollment: the JSON of `POST /api/v1/enroll`, without a token, since the device
    /// has none yet. A link that only carries sync rounds (most test links) refuses it.
    fn enroll(&self, url: &str, body: Vec<u8>) -> Result<Vec<u8>, TransportError> {
        let _ = body;
        Err(TransportError::Network(format!(
            "this link carries sync rounds only, not an enrollment at {url}"
        )))
    }

    /// A photo request that reads (`docs/PROTOCOL.md`, Photos): an upload's status, a
    /// thumbnail or a photo, with the device token; an answer over `limit` bytes fails.
    /// A link that only carries sync rounds refuses it.
    fn photo_get(&self, url: &str, token: &str, limit: u64) -> Result<Vec<u8>, TransportError> {
        let _ = (token, limit);
        Err(TransportError::Network(format!(
            "this link carries sync rounds only, not a photo request at {url}"
        )))
    }

    /// A chunk of a photo's upload: the bytes from the URL's `offset`, with the device
    /// token. The answer is the upload's JSON status.
    fn photo_put(&self, url: &str, token: &str, chunk: &[u8]) -> Result<Vec<u8>, TransportError> {
        let _ = (token, chunk);
        Err(TransportError::Network(format!(
            "this link carries sync rounds only, not a photo upload at {url}"
        )))
    }
}

/// Why a request got no answer, by what helps: waiting and trying again, or nothing the
/// phone can do alone.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// The link failed (refused, reset, dropped mid-answer); a later try may get through.
    #[error("network: {0}")]
    Network(String),
    /// The server took the connection (or never took it) and then said nothing for longer
    /// than the phone waits.
    #[error("server not answering: {0}")]
    NotAnswering(String),
    /// The secure connection could not be set up: the server's certificate is not one the
    /// phone trusts, or is not for the name it connects to. Trying again gives the same.
    #[error("TLS: {0}")]
    Certificate(String),
    #[error("HTTP {status}")]
    Status { status: u16, body: Vec<u8> },
}

/// How long the HTTP transport waits, phase by phase.
///
/// A 2G link moves a few kilobytes a second with round trips of a second or more, so a
/// round of 256 KiB can take minutes while bytes keep coming; what marks a dead link or a
/// server that is not answering is silence, not a slow round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Reaching the server: the TCP connection and the TLS handshake, a few round trips.
    pub connect: Duration,
    /// The longest wait for the next byte, sending or receiving. It covers the server's
    /// work on a round before it answers, which takes seconds.
    pub silence: Duration,
    /// One whole request, however slowly its bytes move.
    pub request: Duration,
}

impl Timeouts {
    /// For a phone on a 2G link.
    pub const MOBILE: Timeouts = Timeouts {
        connect: Duration::from_secs(30),
        silence: Duration::from_secs(45),
        request: Duration::from_secs(600),
    };

    /// The 2G timeouts, none longer than `request` for the whole request.
    pub fn within(request: Duration) -> Timeouts {
        Timeouts {
            connect: Timeouts::MOBILE.connect.min(request),
            silence: Timeouts::MOBILE.silence.min(request),
            request,
        }
    }
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts::MOBILE
    }
}

/// HTTP(S) through ureq.
#[derive(Debug)]
pub struct HttpTransport {
    agent: ureq::Agent,
}

impl HttpTransport {
    /// A transport whose requests each take at most `request`, with the 2G connect and
    /// silence limits within it.
    pub fn new(request: Duration) -> HttpTransport {
        HttpTransport::with_timeouts(Timeouts::within(request))
    }

    pub fn with_timeouts(timeouts: Timeouts) -> HttpTransport {
        HttpTransport {
            agent: agent(timeouts),
        }
    }
}

impl Default for HttpTransport {
    fn default() -> Self {
        HttpTransport::with_timeouts(Timeouts::MOBILE)
    }
}

impl Transport for HttpTransport {
    fn post(&self, url: &str, token: &str, body: Vec<u8>) -> Result<Vec<u8>, TransportError> {
        let response = self
            .agent
            .post(url)
            .header("Authorization", &format!("Bearer {token}"))
            .header("Content-Type", wire::CONTENT_TYPE)
            .send(&body[..])
            .map_err(failure)?;
        answer(response, wire::MAX_DECODED_BYTES as u64)
    }

    fn enroll(&self, url: &str, body: Vec<u8>) -> Result<Vec<u8>, TransportError> {
        let response = self
            .agent
            .post(url)
            .header("Content-Type", "application/json")
            .send(&body[..])
            .map_err(failure)?;
        answer(response, MAX_ENROLLMENT_ANSWER_BYTES)
    }

    fn photo_get(&self, url: &str, token: &str, limit: u64) -> Result<Vec<u8>, TransportError> {
        let response = self
            .agent
            .get(url)
            .header("Authorization", &format!("Bearer {token}"))
            .call()
            .map_err(failure)?;
        answer(response, limit)
    }

    fn photo_put(&self, url: &str, token: &str, chunk: &[u8]) -> Result<Vec<u8>, TransportError> {
        let response = self
            .agent
            .put(url)
            .header("Authorization", &format!("Bearer {token}"))
            .header("Content-Type", "application/octet-stream")
            .send(chunk)
            .map_err(failure)?;
        answer(response, MAX_ENROLLMENT_ANSWER_BYTES)
    }
}

/// A 200's body, read up to `limit` bytes, or the refusal with its status.
fn answer(
    mut response: ureq::http::Response<ureq::Body>,
    limit: u64,
) -> Result<Vec<u8>, TransportError> {
    let status = response.status().as_u16();
    let bytes = response
        .body_mut()
        .with_config()
        .limit(limit)
        .read_to_vec()
        .map_err(failure)?;
    if status == 200 {
        Ok(bytes)
    } else {
        Err(TransportError::Status {
            status,
            body: bytes,
        })
    }
}

/// An HTTP agent with these timeouts that hands back every status as it came.
fn agent(timeouts: Timeouts) -> ureq::Agent {
    ureq::Agent::new_with_config(
        ureq::Agent::config_builder()
            .timeout_connect(Some(timeouts.connect))
            .timeout_per_read(Some(timeouts.silence))
            .timeout_per_write(Some(timeouts.silence))
            .timeout_global(Some(timeouts.request))
            .http_status_as_error(false)
            .build(),
    )
}

/// Sorts a failed request by what the volunteer can do about it.
fn failure(err: ureq::Error) -> TransportError {
    let detail = err.to_string();
    match err {
        ureq::Error::Timeout(_) => TransportError::NotAnswering(detail),
        ureq::Error::Rustls(_) | ureq::Error::Tls(_) | ureq::Error::Pem(_) => {
            TransportError::Certificate(detail)
        }
        ureq::Error::Io(io) => match io.kind() {
            std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => {
                TransportError::NotAnswering(detail)
            }
            // rustls fails a handshake as an I/O error that carries its own.
            _ if io
                .get_ref()
                .is_some_and(|inner| inner.is::<rustls::Error>()) =>
            {
                TransportError::Certificate(detail)
            }
            _ => TransportError::Network(detail),
        },
        _ => TransportError::Network(detail),
    }
}
