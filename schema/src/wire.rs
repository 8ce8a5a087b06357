//! The sync protocol's messages and their encoding: CBOR, compressed with Brotli, behind a
//! checksum.
//!
//! One round trip carries everything: the device uploads its unconfirmed changes and its
//! place in the server's change feed; the server answers with what it accepted and a page of
//! the feed. Every message can be sent again without effect, so any request may be retried.
//! `docs/PROTOCOL.md` is the full description; the doc comments here are its summary.

use crate::error_code::ErrorCode;
use crate::message::Message;
use crate::quarantine::Rule;
use serde::{Deserialize, Serialize};
use std::io::{Read, Write};

/// The protocol version this code speaks.
pub const PROTOCOL_VERSION: u32 = 2;
/// The media type of a sync body.
pub const CONTENT_TYPE: &str = "application/vnd.doorstep.sync+cbor";
/// The largest decoded message accepted, whatever its compressed size.
pub const MAX_DECODED_BYTES: usize = 16 * 1024 * 1024;
/// The most a response's page may carry, whatever a device asks for in `page_bytes`: half of
/// [`MAX_DECODED_BYTES`], so a page that overshoots by its last item, plus the message
/// around it, still decodes on the phone.
pub const MAX_PAGE_BYTES: u32 = 8 * 1024 * 1024;
/// What a device asks for when it does not say: a page that finishes on a slow link.
pub const DEFAULT_PAGE_BYTES: u32 = 256 * 1024;
/// The checksum before the compressed message: the first bytes of the BLAKE3 hash of the
/// CBOR. Brotli, unlike gzip, has no checksum of its own, and a damaged body must never
/// decode into a different message.
const CHECKSUM_BYTES: usize = 8;
/// Brotli quality for what the server sends, and everything but a device's request: fast,
/// since one server answers many phones, and saved documents compress well at any quality.
const QUALITY: u32 = 5;
/// Brotli quality for a device's sync request. Its bytes go up a slow, metered phone link
/// once; this quality takes a phone tens of milliseconds for a day's visits and sends about
/// 7% fewer bytes than [`QUALITY`] (11, the highest, costs three times as long for 1% more).
const REQUEST_QUALITY: u32 = 10;
/// Brotli's window (2^20 bytes): messages are rarely larger, and a phone decoding one keeps
/// at most this much in memory.
const WINDOW_BITS: u32 = 20;

/// Raw bytes: an Automerge change, a saved document, or a change hash.
pub type Bytes = serde_bytes::ByteBuf;

/// Device → server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyncRequest {
    pub protocol: u32,
    /// The device's Automerge actor (hex). The feed leaves out its own changes.
    pub actor: String,
    /// Where the device is in the feed; `None` before its first completed download.
    pub cursor: Option<Cursor>,
    /// Changes the server has not confirmed, grouped by household.
    pub uploads: Vec<Upload>,
    /// How many bytes of documents and changes the response may carry (before
    /// compression), at most [`MAX_PAGE_BYTES`] (more is read as that). The server always
    /// sends at least one item, so progress never stalls.
    pub page_bytes: u32,
}

/// A position in the server's change feed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// Every change the server stored at or below this feed position has been sent.
    pub feed: u64,
    /// While a first download is under way: the last household sent whole. Households
    /// after it (in id order) are still to come.
    pub download_after: Option<String>,
}

/// A device's unconfirmed changes to one household.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Upload {
    pub household: String,
    /// Automerge changes, each as `Change::raw_bytes`, in an order that applies cleanly.
    pub changes: Vec<Bytes>,
}

/// Server → device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyncResponse {
    pub protocol: u32,
    /// One result per upload, in the same order.
    pub results: Vec<UploadResult>,
    /// Households changed by others since the request's cursor, or sent whole during a
    /// first download.
    pub updates: Vec<DocumentUpdate>,
    /// Where the device is once it has durably applied `updates`.
    pub cursor: Cursor,
    /// Whether more updates are waiting: the device should ask again at once.
    pub more: bool,
    /// The villages assigned to the device now (12-digit codes). A device keeps only these
    /// villages' households, dropping the others once the server holds their edits, and
    /// downloads again when one is added. `None` from servers that do not say, which tells
    /// the device nothing (an empty list would mean no villages).
    #[serde(default)]
    pub villages: Option<Vec<String>>,
    /// The deployment's member-key secret (64 hex digits), sent with a first download, so
    /// that every phone keys the same person alike and nobody without it can turn a member
    /// key back into an ID number.
    #[serde(default)]
    pub member_key_secret: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UploadResult {
    pub household: String,
    pub outcome: UploadOutcome,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum UploadOutcome {
    /// Stored. `heads` are the server's heads for the household afterwards; the device
    /// counts every change they cover as confirmed.
    Accepted { heads: Vec<Bytes> },
    /// Refused. The device keeps its changes and shows `reason`.
    Rejected { code: RejectCode, reason: Message },
    /// Some changes break a rule of what a device may write (or build on one that does),
    /// and are held in quarantine for county staff to release or discard. The server holds
    /// every change of the upload: the accepted ones in the document, whose heads are
    /// `heads` (empty when it has no document yet), the others in quarantine, `held` (32-byte
    /// hashes). The device counts both as confirmed, so it stops sending them, and shows
    /// `reason`; `rule` is the rule broken.
    Quarantined {
        heads: Vec<Bytes>,
        held: Vec<Bytes>,
        rule: Rule,
        reason: Message,
    },
}

/// Why an upload was refused, for the device to act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectCode {
    /// The household is not in the device's villages. Retrying will not help.
    OutOfScope,
    /// The changes depend on changes the server does not have: send the whole history.
    MissingHistory,
    /// The bytes are not valid Automerge changes, or not a household.
    Invalid,
}

impl RejectCode {
    pub const ALL: [RejectCode; 3] = [
        RejectCode::OutOfScope,
        RejectCode::MissingHistory,
        RejectCode::Invalid,
    ];

    /// The code as it is on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            RejectCode::OutOfScope => "out_of_scope",
            RejectCode::MissingHistory => "missing_history",
            RejectCode::Invalid => "invalid",
        }
    }

    pub fn parse(code: &str) -> Option<RejectCode> {
        RejectCode::ALL.into_iter().find(|c| c.as_str() == code)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DocumentUpdate {
    pub household: String,
    pub payload: Payload,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "bytes", rename_all = "snake_case")]
pub enum Payload {
    /// The whole household, as `Automerge::save` writes it.
    Document(Bytes),
    /// Changes the device lacks, in feed order.
    Changes(Vec<Bytes>),
}

/// An error body, for every 4xx and 5xx the server sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: ErrorCode,
    pub message: Message,
}

#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error("the body is damaged or cut off")]
    Damaged,
    #[error("the body is in the gzip encoding of sync protocol 1")]
    OlderProtocol,
    #[error("the body decodes to more bytes than allowed")]
    TooLarge,
    #[error("the body is not a valid message: {0}")]
    Decode(String),
    #[error("the message could not be encoded: {0}")]
    Encode(String),
}

/// Encodes a message the server sends (or any but a device's request).
pub fn encode<T: Serialize>(message: &T) -> Result<Vec<u8>, WireError> {
    encode_at(message, QUALITY)
}

/// Encodes a device's sync request, compressed harder than what the server sends.
pub fn encode_request(request: &SyncRequest) -> Result<Vec<u8>, WireError> {
    encode_at(request, REQUEST_QUALITY)
}

fn encode_at<T: Serialize>(message: &T, quality: u32) -> Result<Vec<u8>, WireError> {
    let mut cbor = Vec::new();
    ciborium::into_writer(message, &mut cbor).map_err(|e| WireError::Encode(e.to_string()))?;
    let body = checksum(&cbor).to_vec();
    let mut brotli = brotli::CompressorWriter::new(body, 4096, quality, WINDOW_BITS);
    brotli
        .write_all(&cbor)
        .map_err(|e| WireError::Encode(e.to_string()))?;
    // Ends the stream; writing into a Vec cannot fail.
    Ok(brotli.into_inner())
}

fn checksum(cbor: &[u8]) -> [u8; CHECKSUM_BYTES] {
    let mut sum = [0; CHECKSUM_BYTES];
    sum.copy_from_slice(&blake3::hash(cbor).as_bytes()[..CHECKSUM_BYTES]);
    sum
}

/// Decodes a message, refusing anything damaged, truncated or too large.
pub fn decode<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, WireError> {
    decode_limited(body, MAX_DECODED_BYTES)
}

fn decode_limited<T: for<'de> Deserialize<'de>>(body: &[u8], limit: usize) -> Result<T, WireError> {
    let cbor = decompress(body, limit).map_err(|err| {
        // Protocol 1 sent gzip (magic 1f 8b, deflate 08): the sender needs updating.
        if matches!(err, WireError::Damaged) && body.starts_with(&[0x1f, 0x8b, 0x08]) {
            WireError::OlderProtocol
        } else {
            err
        }
    })?;
    ciborium::from_reader(cbor.as_slice()).map_err(|e| WireError::Decode(e.to_string()))
}

fn decompress(body: &[u8], limit: usize) -> Result<Vec<u8>, WireError> {
    let (sum, compressed) = body
        .split_at_checked(CHECKSUM_BYTES)
        .ok_or(WireError::Damaged)?;
    let mut cbor = Vec::new();
    brotli::Decompressor::new(compressed, 4096)
        .take(limit as u64 + 1)
        .read_to_end(&mut cbor)
        .map_err(|_| WireError::Damaged)?;
    if cbor.len() > limit {
        return Err(WireError::TooLarge);
    }
    if checksum(&cbor) != sum {
        return Err(WireError::Damaged);
    }
    Ok(cbor)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn request() -> SyncRequest {
        SyncRequest {
            protocol: PROTOCOL_VERSION,
            actor: "0a1b".into(),
            cursor: Some(Cursor {
                feed: 42,
                download_after: Some("h1".into()),
            }),
            uploads: vec![Upload {
                household: "h1".into(),
                changes: vec![Bytes::from(vec![1, 2, 3])],
            }],
            page_bytes: DEFAULT_PAGE_BYTES,
        }
    }

    #[test]
    fn test_request_round_trips() {
        let request = request();
        assert_eq!(
            decode::<SyncRequest>(&encode(&request).unwrap()).unwrap(),
            request
        );
    }

    #[test]
    fn test_response_round_trips_with_every_variant() {
        let response = SyncResponse {
            protocol: PROTOCOL_VERSION,
            results: vec![
                UploadResult {
                    household: "h1".into(),
                    outcome: UploadOutcome::Accepted {
                        heads: vec![Bytes::from(vec![7; 32])],
                    },
                },
                UploadResult {
                    household: "h2".into(),
                    outcome: UploadOutcome::Rejected {
                        code: RejectCode::OutOfScope,
                        reason: Message::new("不在本设备的村", "Not in this device's villages"),
                    },
                },
                UploadResult {
                    household: "h5".into(),
                    outcome: UploadOutcome::Quarantined {
                        heads: vec![Bytes::from(vec![6; 32])],
                        held: vec![Bytes::from(vec![5; 32])],
                        rule: Rule::MovesHousehold,
                        reason: Message::new("不能迁户", "Cannot move a household"),
                    },
                },
            ],
            updates: vec![
                DocumentUpdate {
                    household: "h3".into(),
                    payload: Payload::Document(Bytes::from(vec![9; 10])),
                },
                DocumentUpdate {
                    household: "h4".into(),
                    payload: Payload::Changes(vec![Bytes::from(vec![8; 5])]),
                },
            ],
            cursor: Cursor {
                feed: 7,
                download_after: None,
            },
            more: true,
            villages: Some(vec!["141124100201".into()]),
            member_key_secret: Some("ab".repeat(32)),
        };
        assert_eq!(
            decode::<SyncResponse>(&encode(&response).unwrap()).unwrap(),
            response
        );
    }

    /// A response of a server that predates `villages` still reads, and says nothing about
    /// the device's villages.
    #[test]
    fn test_a_response_without_villages_reads_as_none() {
        #[derive(Serialize)]
        struct Older {
            protocol: u32,
            results: Vec<UploadResult>,
            updates: Vec<DocumentUpdate>,
            cursor: Cursor,
            more: bool,
        }
        let older = Older {
            protocol: PROTOCOL_VERSION,
            results: vec![],
            updates: vec![],
            cursor: Cursor {
                feed: 3,
                download_after: None,
            },
            more: false,
        };
        let response: SyncResponse = decode(&encode(&older).unwrap()).unwrap();
        assert_eq!(response.villages, None);
        assert_eq!(response.cursor.feed, 3);
    }

    #[test]
    fn test_a_reject_code_is_its_wire_string() {
        for code in RejectCode::ALL {
            let text = serde_json::to_string(&code).unwrap();
            assert_eq!(text, format!("\"{}\"", code.as_str()));
            assert_eq!(RejectCode::parse(code.as_str()), Some(code));
        }
    }

    #[test]
    fn test_error_body_round_trips() {
        let body = ErrorBody {
            error: "unauthorized".into(),
            message: Message::new("令牌无效", "Invalid token"),
        };
        assert_eq!(decode::<ErrorBody>(&encode(&body).unwrap()).unwrap(), body);
    }

    #[test]
    fn test_truncated_and_garbage_bodies_are_refused() {
        let body = encode_request(&request()).unwrap();
        for cut in 0..body.len() {
            assert!(decode::<SyncRequest>(&body[..cut]).is_err(), "cut at {cut}");
        }
        assert!(decode::<SyncRequest>(b"garbage").is_err());
        let mut flipped = body.clone();
        let middle = flipped.len() / 2;
        flipped[middle] ^= 0xff;
        assert!(decode::<SyncRequest>(&flipped).is_err());
    }

    #[test]
    fn test_a_zip_bomb_is_refused() {
        let limit = 1024 * 1024;
        let bomb = encode(&serde_bytes::ByteBuf::from(vec![0u8; limit + 1])).unwrap();
        assert!(bomb.len() < limit / 100);
        assert!(matches!(
            decode_limited::<SyncRequest>(&bomb, limit),
            Err(WireError::TooLarge)
        ));
    }

    #[test]
    fn test_every_damaged_byte_is_refused() {
        let body = encode_request(&request()).unwrap();
        for position in 0..body.len() {
            let mut damaged = body.clone();
            damaged[position] ^= 0x20;
            assert!(
                decode::<SyncRequest>(&damaged).is_err(),
                "a flipped bit at byte {position} went unnoticed"
            );
        }
    }

    #[test]
    fn test_a_request_of_protocol_1_is_recognised() {
        let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        let mut cbor = Vec::new();
        ciborium::into_writer(&request(), &mut cbor).unwrap();
        gzip.write_all(&cbor).unwrap();
        let old = gzip.finish().unwrap();
        assert!(matches!(
            decode::<SyncRequest>(&old),
            Err(WireError::OlderProtocol)
        ));
    }
}
