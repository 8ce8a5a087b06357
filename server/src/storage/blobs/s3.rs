//! The blob store for deployments past one machine: an S3-compatible object store (AWS S3,
//! MinIO, Ceph, the cloud vendors' own), spoken to over its REST API with path-style
//! addresses (`ENDPOINT/BUCKET/KEY`) and AWS Signature Version 4.
//!
//! Three requests are all it needs (PUT, GET, DELETE of one object), so it signs them itself
//! over the server's HTTP client (ureq) and HMAC-SHA256, rather than pulling in an SDK and a
//! second HTTP stack. An object PUT is whole by the protocol: a failed PUT leaves the key as
//! it was.

use super::{BlobError, BlobKey, BlobStore};
use crate::clock::Clock;
use hmac::{Hmac, Mac};
use schema::Message;
use sha2::{Digest, Sha256};
use std::time::Duration;

/// The largest object read back: a photo at its limit, sealed, with room to spare.
const MAX_OBJECT_BYTES: u64 = 2 * schema::photo::MAX_PHOTO_BYTES;
/// A request to the object store still running after this fails; the caller's request fails
/// with it and the phone retries.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Where the bucket is and the keys to it.
#[derive(Clone, PartialEq, Eq)]
pub struct S3Config {
    /// `http://host:port` or `https://host`, without a trailing slash.
    pub endpoint: String,
    pub bucket: String,
    pub region: String,
    pub access_key: String,
    pub secret_key: String,
}

impl std::fmt::Debug for S3Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Config")
            .field("endpoint", &self.endpoint)
            .field("bucket", &self.bucket)
            .field("region", &self.region)
            .field("access_key", &self.access_key)
            .finish_non_exhaustive()
    }
}

fn setting(zh: impl Into<String>, en: impl Into<String>) -> BlobError {
    BlobError::Setting(Message::new(zh, en))
}

impl S3Config {
    /// Reads `s3://BUCKET?endpoint=URL&region=REGION` (region `us-east-1` when absent), the
    /// keys from `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY` as `env` gives them.
    pub fn parse(url: &str, env: impl Fn(&str) -> Option<String>) -> Result<S3Config, BlobError> {
        let rest = url.strip_prefix("s3://").unwrap_or(url);
        let (bucket, query) = rest.split_once('?').unwrap_or((rest, ""));
        let bucket = bucket.trim_end_matches('/');
        let bucket_ok = (3..=63).contains(&bucket.len())
            && bucket
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
        if !bucket_ok {
            return Err(setting(
                format!("存储桶名称“{bucket}”无效：3 到 63 个小写字母、数字、点或连字符"),
                format!(
                    "The bucket name \"{bucket}\" is not valid: 3 to 63 lowercase letters, digits, dots or hyphens"
                ),
            ));
        }
        let mut endpoint = None;
        let mut region = "us-east-1".to_owned();
        for (name, value) in form_urlencoded::parse(query.as_bytes()) {
            match &*name {
                "endpoint" => endpoint = Some(value.trim_end_matches('/').to_owned()),
                "region" => region = value.into_owned(),
                other => {
                    return Err(setting(
                        format!("未知的对象存储参数“{other}”；可用 endpoint、region"),
                        format!("Unknown object store parameter \"{other}\"; use endpoint, region"),
                    ));
                }
            }
        }
        let endpoint = endpoint
            .filter(|e| e.starts_with("http://") || e.starts_with("https://"))
            .ok_or_else(|| {
                setting(
                    "对象存储须给出 endpoint=http(s)://主机[:端口]",
                    "An object store needs endpoint=http(s)://host[:port]",
                )
            })?;
        let key = |name: &str| {
            env(name).filter(|v| !v.is_empty()).ok_or_else(|| {
                setting(
                    format!("对象存储的密钥须在环境变量 {name} 中"),
                    format!("The object store's key must be in the environment variable {name}"),
                )
            })
        };
        Ok(S3Config {
            endpoint,
            bucket: bucket.to_owned(),
            region,
            access_key: key("AWS_ACCESS_KEY_ID")?,
            secret_key: key("AWS_SECRET_ACCESS_KEY")?,
        })
    }

    /// The `Host` header: the endpoint's authority.
    fn host(&self) -> &str {
        let authority = self
            .endpoint
            .split_once("://")
            .map_or(self.endpoint.as_str(), |(_, rest)| rest);
        authority.split('/').next().unwrap_or(authority)
    }
}

#[derive(Debug)]
pub struct S3Store {
    config: S3Config,
    clock: Clock,
    agent: ureq::Agent,
}

impl S3Store {
    pub fn new(config: S3Config, clock: Clock) -> S3Store {
        let agent = ureq::Agent::new_with_config(
            ureq::Agent::config_builder()
                .http_status_as_error(false)
                .timeout_global(Some(REQUEST_TIMEOUT))
                .build(),
        );
        S3Store {
            config,
            clock,
            agent,
        }
    }

    /// The object's path and the signed headers of a request on it.
    fn signed(&self, method: &str, key: &BlobKey, body: &[u8]) -> (String, Vec<(String, String)>) {
        let path = format!("/{}/{}", self.config.bucket, key.name());
        let now = self.clock.now();
        let amz_date = now.strftime("%Y%m%dT%H%M%SZ").to_string();
        let payload = hex::encode(Sha256::digest(body));
        let mut headers = vec![
            ("host".to_owned(), self.config.host().to_owned()),
            ("x-amz-content-sha256".to_owned(), payload.clone()),
            ("x-amz-date".to_owned(), amz_date.clone()),
        ];
        let authorization = authorization(
            &Request {
                method,
                path: &path,
                query: "",
                headers: &headers,
                payload_hash: &payload,
            },
            &amz_date,
            &self.config,
        );
        headers.push(("authorization".to_owned(), authorization));
        (path, headers)
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.config.endpoint)
    }
}

fn remote(method: &str, key: &BlobKey, status: u16, body: &str) -> BlobError {
    let body: String = body.chars().take(200).collect();
    BlobError::Remote(format!("{method} {}: HTTP {status}: {body}", key.name()))
}

/// The headers of a request, less the `Host` that ureq sets from the URL.
fn without_host(headers: &[(String, String)]) -> impl Iterator<Item = &(String, String)> {
    headers.iter().filter(|(name, _)| name != "host")
}

impl BlobStore for S3Store {
    fn put(&self, key: &BlobKey, bytes: &[u8]) -> Result<(), BlobError> {
        let (path, headers) = self.signed("PUT", key, bytes);
        let mut request = self.agent.put(&self.url(&path));
        for (name, value) in without_host(&headers) {
            request = request.header(name, value);
        }
        let mut response = request
            .header("content-type", "application/octet-stream")
            .send(bytes)
            .map_err(|err| BlobError::Remote(err.to_string()))?;
        let status = response.status().as_u16();
        if (200..300).contains(&status) {
            return Ok(());
        }
        let body = response.body_mut().read_to_string().unwrap_or_default();
        Err(remote("PUT", key, status, &body))
    }

    fn get(&self, key: &BlobKey) -> Result<Option<Vec<u8>>, BlobError> {
        let (path, headers) = self.signed("GET", key, b"");
        let mut request = self.agent.get(&self.url(&path));
        for (name, value) in without_host(&headers) {
            request = request.header(name, value);
        }
        let mut response = request
            .call()
            .map_err(|err| BlobError::Remote(err.to_string()))?;
        match response.status().as_u16() {
            200 => response
                .body_mut()
                .with_config()
                .limit(MAX_OBJECT_BYTES)
                .read_to_vec()
                .map(Some)
                .map_err(|err| BlobError::Remote(err.to_string())),
            404 => Ok(None),
            status => {
                let body = response.body_mut().read_to_string().unwrap_or_default();
                Err(remote("GET", key, status, &body))
            }
        }
    }

    fn delete(&self, key: &BlobKey) -> Result<(), BlobError> {
        let (path, headers) = self.signed("DELETE", key, b"");
        let mut request = self.agent.delete(&self.url(&path));
        for (name, value) in without_host(&headers) {
            request = request.header(name, value);
        }
        let mut response = request
            .call()
            .map_err(|err| BlobError::Remote(err.to_string()))?;
        match response.status().as_u16() {
            200..=299 | 404 => Ok(()),
            status => {
                let body = response.body_mut().read_to_string().unwrap_or_default();
                Err(remote("DELETE", key, status, &body))
            }
        }
    }

    fn describe(&self) -> String {
        format!(
            "S3-compatible bucket {} at {}",
            self.config.bucket, self.config.endpoint
        )
    }
}

/// What Signature Version 4 signs of a request. `headers` are lowercase names with trimmed
/// values, every one of them signed.
struct Request<'a> {
    method: &'a str,
    path: &'a str,
    query: &'a str,
    headers: &'a [(String, String)],
    payload_hash: &'a str,
}

/// The `Authorization` header of a request at `amz_date` (`YYYYMMDDTHHMMSSZ`).
fn authorization(request: &Request<'_>, amz_date: &str, config: &S3Config) -> String {
    let mut headers: Vec<&(String, String)> = request.headers.iter().collect();
    headers.sort_by(|a, b| a.0.cmp(&b.0));
    let canonical_headers: String = headers
        .iter()
        .map(|(name, value)| format!("{name}:{}\n", value.trim()))
        .collect();
    let signed_headers = headers
        .iter()
        .map(|(name, _)| name.as_str())
        .collect::<Vec<_>>()
        .join(";");
    let canonical_request = format!(
        "{}\n{}\n{}\n{canonical_headers}\n{signed_headers}\n{}",
        request.method, request.path, request.query, request.payload_hash
    );
    let date = &amz_date[..8.min(amz_date.len())];
    let scope = format!("{date}/{}/s3/aws4_request", config.region);
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        hex::encode(Sha256::digest(canonical_request.as_bytes()))
    );
    let mut key = hmac(format!("AWS4{}", config.secret_key).as_bytes(), date);
    for part in [config.region.as_str(), "s3", "aws4_request"] {
        key = hmac(&key, part);
    }
    let signature = hex::encode(hmac(&key, &string_to_sign));
    format!(
        "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={signature}",
        config.access_key
    )
}

fn hmac(key: &[u8], data: &str) -> Vec<u8> {
    // HMAC takes a key of any length.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC accepts every key length"));
    mac.update(data.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::contract;
    use super::*;
    use axum::body::Bytes;
    use axum::extract::{Path, State};
    use axum::http::{HeaderMap, StatusCode};
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};

    fn example_config(endpoint: &str) -> S3Config {
        S3Config {
            endpoint: endpoint.to_owned(),
            bucket: "examplebucket".to_owned(),
            region: "us-east-1".to_owned(),
            access_key: "AKIAIOSFODNN7EXAMPLE".to_owned(),
            secret_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".to_owned(),
        }
    }

    #[test]
    fn test_the_signature_is_the_one_amazons_documentation_works_out() {
        // "Example: GET Object" of the S3 API reference's Signature Version 4 pages.
        let empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let headers = [
            ("host", "examplebucket.s3.amazonaws.com"),
            ("range", "bytes=0-9"),
            ("x-amz-content-sha256", empty),
            ("x-amz-date", "20130524T000000Z"),
        ]
        .map(|(n, v)| (n.to_owned(), v.to_owned()));
        let request = Request {
            method: "GET",
            path: "/test.txt",
            query: "",
            headers: &headers,
            payload_hash: empty,
        };
        let header = authorization(
            &request,
            "20130524T000000Z",
            &example_config("https://examplebucket.s3.amazonaws.com"),
        );
        assert_eq!(
            header,
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, \
             SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, \
             Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
        );
    }

    #[test]
    fn test_an_object_store_url_is_read_with_its_keys_from_the_environment() {
        let env = |name: &str| match name {
            "AWS_ACCESS_KEY_ID" => Some("id".to_owned()),
            "AWS_SECRET_ACCESS_KEY" => Some("secret".to_owned()),
            _ => None,
        };
        let config = S3Config::parse(
            "s3://photos-141124?endpoint=http://127.0.0.1:9000/&region=cn-north-1",
            env,
        )
        .unwrap();
        assert_eq!(config.endpoint, "http://127.0.0.1:9000");
        assert_eq!(config.host(), "127.0.0.1:9000");
        assert_eq!(config.bucket, "photos-141124");
        assert_eq!(config.region, "cn-north-1");
        assert!(!format!("{config:?}").contains("secret"));
        let refused = |url: &str| S3Config::parse(url, env).err().unwrap().message().en;
        assert!(refused("s3://Bad_Bucket?endpoint=http://x").contains("bucket name"));
        assert!(refused("s3://bucket").contains("endpoint="));
        assert!(refused("s3://bucket?endpoint=http://x&secret=1").contains("Unknown"));
        let no_keys = S3Config::parse("s3://bucket?endpoint=http://x", |_| None);
        assert!(
            no_keys
                .unwrap_err()
                .message()
                .en
                .contains("AWS_ACCESS_KEY_ID")
        );
    }

    /// A tiny S3 on loopback: objects in a map, path-style, and every request refused unless
    /// it is signed for the fake's keys and its payload hash matches its body, as S3 checks.
    #[derive(Clone, Default)]
    struct FakeS3 {
        objects: Arc<Mutex<HashMap<String, Vec<u8>>>>,
    }

    fn checked(headers: &HeaderMap, method: &str, path: &str, body: &[u8]) -> bool {
        let get = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        let payload = hex::encode(Sha256::digest(body));
        if get("x-amz-content-sha256") != payload {
            return false;
        }
        let signed =
            ["host", "x-amz-content-sha256", "x-amz-date"].map(|name| (name.to_owned(), get(name)));
        let request = Request {
            method,
            path,
            query: "",
            headers: &signed,
            payload_hash: &payload,
        };
        let config = example_config("http://unused");
        get("authorization") == authorization(&request, &get("x-amz-date"), &config)
    }

    async fn object(
        State(fake): State<FakeS3>,
        method: axum::http::Method,
        Path((bucket, folder, name)): Path<(String, String, String)>,
        headers: HeaderMap,
        body: Bytes,
    ) -> (StatusCode, Vec<u8>) {
        let path = format!("/{bucket}/{folder}/{name}");
        if !checked(&headers, method.as_str(), &path, &body) {
            return (StatusCode::FORBIDDEN, b"SignatureDoesNotMatch".to_vec());
        }
        let mut objects = fake.objects.lock().unwrap();
        match method.as_str() {
            "PUT" => {
                objects.insert(path, body.to_vec());
                (StatusCode::OK, Vec::new())
            }
            "GET" => match objects.get(&path) {
                Some(bytes) => (StatusCode::OK, bytes.clone()),
                None => (StatusCode::NOT_FOUND, b"NoSuchKey".to_vec()),
            },
            _ => {
                objects.remove(&path);
                (StatusCode::NO_CONTENT, Vec::new())
            }
        }
    }

    /// Serves the fake on a port of its own, on a thread of its own; returns its address.
    fn start_fake() -> (String, FakeS3) {
        let fake = FakeS3::default();
        let router = axum::Router::new()
            .route("/{bucket}/{folder}/{name}", axum::routing::any(object))
            .layer(axum::extract::DefaultBodyLimit::max(8 << 20))
            .with_state(fake.clone());
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        listener.set_nonblocking(true).unwrap();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                axum::serve(listener, router).await.unwrap();
            });
        });
        (format!("http://{address}"), fake)
    }

    #[test]
    fn test_an_s3_store_signs_every_request_and_keeps_blobs_whole() {
        let (endpoint, fake) = start_fake();
        let store = S3Store::new(example_config(&endpoint), Clock::system());
        contract::holds_what_was_put_whole_and_forgets_what_was_deleted(&store);
        let names: Vec<String> = fake.objects.lock().unwrap().keys().cloned().collect();
        assert_eq!(
            names,
            vec![format!("/examplebucket/thumbs/{}", contract::hash(1))]
        );

        let wrong = S3Config {
            secret_key: "not the key".to_owned(),
            ..example_config(&endpoint)
        };
        let refused = S3Store::new(wrong, Clock::system())
            .get(&BlobKey::new(
                &contract::hash(1),
                super::super::Variant::Thumb,
            ))
            .unwrap_err();
        assert!(refused.to_string().contains("HTTP 403"), "{refused}");
    }
}
