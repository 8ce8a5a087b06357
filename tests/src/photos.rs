//! A phone's photo upload, spoken as `docs/PROTOCOL.md` ("Photos") says, over plain HTTP/1.1
//! on a TCP connection per request, so that a test can cut the link anywhere in a request
//! and count every byte that crosses it.

use serde_json::Value;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// The chunk size a phone on 2G sends (64 KiB; the server takes up to 256 KiB).
pub const CHUNK_BYTES: usize = 64 * 1024;

/// What one request's bytes met on the link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// Sent whole and answered.
    Whole,
    /// The link dropped after this many bytes of the request: the rest and the answer are
    /// lost. A cut at the request's full length loses only the answer.
    CutAfter(usize),
}

/// Decides, for each request of `len` bytes, whether the link drops during it.
pub trait Link {
    fn fate(&mut self, len: usize) -> Fate;
}

/// The smallest chunk the uploader halves down to after cuts.
pub const MIN_CHUNK_BYTES: usize = 4 * 1024;

/// A link that never drops.
#[derive(Debug, Default)]
pub struct Steady;

impl Link for Steady {
    fn fate(&mut self, _: usize) -> Fate {
        Fate::Whole
    }
}

/// A link that drops every `every` bytes sent, wherever that falls.
#[derive(Debug)]
pub struct CutEvery {
    pub every: usize,
    sent: usize,
}

impl CutEvery {
    pub fn new(every: usize) -> CutEvery {
        CutEvery { every, sent: 0 }
    }
}

impl Link for CutEvery {
    fn fate(&mut self, len: usize) -> Fate {
        let left = self.every - self.sent;
        if len < left {
            self.sent += len;
            Fate::Whole
        } else {
            self.sent = 0;
            Fate::CutAfter(left)
        }
    }
}

/// One answered request: the status and the body.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|_| {
            panic!(
                "not JSON ({}): {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }
}

/// Counts what crosses the link.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Traffic {
    /// Bytes sent and received, headers included.
    pub wire_bytes: u64,
    pub requests: u64,
    pub cuts: u64,
}

/// A phone's side of the photo requests, with its device token, to one server.
#[derive(Debug)]
pub struct PhotoClient {
    address: String,
    token: String,
    pub traffic: Traffic,
}

impl PhotoClient {
    /// `url` is the server's `http://host:port`.
    pub fn new(url: &str, token: &str) -> PhotoClient {
        PhotoClient {
            address: url.trim_start_matches("http://").to_owned(),
            token: token.to_owned(),
            traffic: Traffic::default(),
        }
    }

    /// Sends one request through `link`; `None` when the link dropped.
    pub fn send(
        &mut self,
        method: &str,
        target: &str,
        body: &[u8],
        link: &mut dyn Link,
    ) -> Option<Answer> {
        let mut request = format!(
            "{method} {target} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\nConnection: close\r\n",
            self.address, self.token
        )
        .into_bytes();
        if method == "PUT" {
            request.extend(
                format!(
                    "Content-Type: application/octet-stream\r\nContent-Length: {}\r\n",
                    body.len()
                )
                .as_bytes(),
            );
        }
        request.extend(b"\r\n");
        request.extend(body);
        self.traffic.requests += 1;
        let mut stream = TcpStream::connect(&self.address).expect("the server is listening");
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .expect("a timeout");
        match link.fate(request.len()) {
            Fate::CutAfter(sent) => {
                let sent = sent.min(request.len());
                let _ = stream.write_all(&request[..sent]);
                let _ = stream.flush();
                // The link is gone: nothing more goes either way.
                let _ = stream.shutdown(std::net::Shutdown::Both);
                self.traffic.wire_bytes += sent as u64;
                self.traffic.cuts += 1;
                None
            }
            Fate::Whole => {
                stream.write_all(&request).expect("the request is sent");
                let mut answer = Vec::new();
                stream.read_to_end(&mut answer).expect("the answer is read");
                self.traffic.wire_bytes += (request.len() + answer.len()) as u64;
                Some(parse_answer(&answer))
            }
        }
    }

    /// `GET /api/v1/photos/{hash}/upload?household=ID`, through a steady link.
    pub fn status(&mut self, hash: &str, household: &str) -> Answer {
        let target = format!("/api/v1/photos/{hash}/upload?household={household}");
        self.send("GET", &target, b"", &mut Steady)
            .expect("a steady link answers")
    }

    /// `PUT /api/v1/photos/{hash}/upload?household=ID&offset=N&size=TOTAL`.
    pub fn chunk(
        &mut self,
        hash: &str,
        household: &str,
        offset: usize,
        size: usize,
        bytes: &[u8],
        link: &mut dyn Link,
    ) -> Option<Answer> {
        let target = format!(
            "/api/v1/photos/{hash}/upload?household={household}&offset={offset}&size={size}"
        );
        self.send("PUT", &target, bytes, link)
    }

    /// Uploads `photo` as a phone does: asks the status, sends nothing if complete, else
    /// chunks from the byte the server holds; after a cut, asks again and halves the chunk
    /// (down to 4 KiB: a link that drops every few KB still gets a chunk through), which
    /// doubles back up to `chunk_bytes` with each chunk that gets through. Returns what
    /// crossed the link.
    pub fn upload(
        &mut self,
        hash: &str,
        household: &str,
        photo: &[u8],
        chunk_bytes: usize,
        link: &mut dyn Link,
    ) -> Traffic {
        let before = self.traffic;
        let mut received: Option<usize> = None;
        let mut chunk_now = chunk_bytes;
        // A bound, so that a server that never completes fails the test rather than hangs it.
        for _ in 0..100_000 {
            let offset = match received {
                Some(offset) => offset,
                None => {
                    let target = format!("/api/v1/photos/{hash}/upload?household={household}");
                    let Some(answer) = self.send("GET", &target, b"", link) else {
                        continue;
                    };
                    let status = answer.json();
                    assert_eq!(answer.status, 200, "status: {status}");
                    if status["complete"] == true {
                        return self.since(before);
                    }
                    status["received"].as_u64().expect("received") as usize
                }
            };
            let end = (offset + chunk_now).min(photo.len());
            let Some(answer) = self.chunk(
                hash,
                household,
                offset,
                photo.len(),
                &photo[offset..end],
                link,
            ) else {
                received = None;
                chunk_now = (chunk_now / 2).max(MIN_CHUNK_BYTES);
                continue;
            };
            chunk_now = (chunk_now * 2).min(chunk_bytes);
            let status = answer.json();
            match answer.status {
                200 if status["complete"] == true => return self.since(before),
                200 | 409 => {
                    received = Some(status["received"].as_u64().expect("received") as usize)
                }
                other => panic!("the chunk at {offset} was refused ({other}): {status}"),
            }
        }
        panic!("the upload never completed");
    }

    fn since(&self, before: Traffic) -> Traffic {
        Traffic {
            wire_bytes: self.traffic.wire_bytes - before.wire_bytes,
            requests: self.traffic.requests - before.requests,
            cuts: self.traffic.cuts - before.cuts,
        }
    }
}

/// The status code and body of an HTTP/1.1 answer (`Content-Length` or chunked body).
fn parse_answer(answer: &[u8]) -> Answer {
    let split = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("an answer with headers");
    let head = String::from_utf8_lossy(&answer[..split]).to_ascii_lowercase();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .expect("a status line");
    let raw = &answer[split + 4..];
    let body = if head.contains("transfer-encoding: chunked") {
        dechunk(raw)
    } else {
        raw.to_vec()
    };
    Answer { status, body }
}

fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    loop {
        let Some(line_end) = raw.windows(2).position(|w| w == b"\r\n") else {
            return body;
        };
        let size_text = String::from_utf8_lossy(&raw[..line_end]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("0").trim(), 16)
            .unwrap_or(0);
        if size == 0 {
            return body;
        }
        let start = line_end + 2;
        body.extend(&raw[start..start + size]);
        raw = &raw[start + size + 2..];
    }
}

/// A JPEG of `width` × `height` that compresses as a photo does (a gradient with grain), and
/// its SHA-256 address.
pub fn photo(width: u32, height: u32, seed: u32) -> (Vec<u8>, String) {
    use sha2::Digest;
    let mut state = seed.wrapping_mul(2_654_435_761).max(1);
    let image = image::RgbImage::from_fn(width, height, |x, y| {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let grain = (state % 24) as u8;
        image::Rgb([
            ((x * 255 / width) as u8).saturating_add(grain),
            ((y * 255 / height) as u8).saturating_add(grain),
            (((x + y) % 256) as u8).saturating_add(grain / 2),
        ])
    });
    let mut bytes = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 80)
        .encode_image(&image)
        .expect("a JPEG");
    let hash = hex::encode(sha2::Sha256::digest(&bytes));
    (bytes, hash)
}

/// The SHA-256 address of any bytes.
pub fn address(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}
