//! Limits on how fast one client may ask, and the security headers every response carries.
//!
//! Three rate limits, each a GCRA bucket per key (`governor`):
//!
//! - **per client**: every request, keyed by the client's address (an IPv6 client by its /64,
//!   since one subscriber holds the whole prefix);
//! - **per credential**: every request that carries a device token or a staff session (bearer
//!   or cookie), keyed by a hash of it: the per-device limit for `/api/v1/sync`, the
//!   per-session limit for staff;
//! - **credential guessing**: logins and enrollment-code redemptions, one stricter bucket per
//!   client address for both.
//!
//! A refusal is a 429 `rate_limited` with `Retry-After`. It is logged, at most once a minute per
//! client and limit, and never audited: an audit row per refusal would turn a flood into
//! database writes. Limits are per server process; several servers behind one balancer each
//! count on their own.

use super::error::ApiError;
use super::principal;
use axum::Router;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, REFERRER_POLICY, RETRY_AFTER,
    STRICT_TRANSPORT_SECURITY, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::HashMapStateStore;
use governor::{Quota, RateLimiter};
use schema::Message;
use schema::error_code::ErrorCode;
use std::hash::Hash;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tower_http::set_header::SetResponseHeaderLayer;

/// How fast clients may ask. Zero turns a limit off (behind a reverse proxy every client has
/// the proxy's address, so the per-client limit would throttle everyone at once).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimits {
    /// Requests a second from one client address.
    pub per_client_per_second: u32,
    /// Requests a second with one device token or staff session.
    pub per_credential_per_second: u32,
    /// Logins and enrollment-code redemptions a minute from one client address, all of
    /// which may come at once.
    pub login_attempts_per_minute: u32,
}

/// A per-second limit lets this many seconds' worth of requests come at once: a phone
/// uploading page after page, or a console opening a page of several requests, is a burst.
pub const BURST_SECONDS: u32 = 10;

impl Default for RateLimits {
    /// Generous: a county office or a mobile carrier's NAT puts many people behind one
    /// address, and a sync of a whole village is many requests in a row. The limits are
    /// there to stop floods and password guessing, not to shape normal work.
    fn default() -> Self {
        RateLimits {
            per_client_per_second: 100,
            per_credential_per_second: 50,
            login_attempts_per_minute: 30,
        }
    }
}

/// The paths where a request is a guess at a secret: a password (the API's login and the
/// console's sign-in page) or an enrollment code.
const GUESSING_PATHS: [&str; 3] = ["/api/v1/login", "/sign-in", "/api/v1/enroll"];

/// Every so many checks, keys whose buckets are full again are forgotten, so memory follows
/// the clients of the last few seconds rather than every client ever seen.
const SWEEP_EVERY: u64 = 1024;

/// A client's key: its address, with an IPv6 address cut to its /64 and an IPv4-mapped one
/// read as IPv4.
fn client_key(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V4(_) => address,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let [a, b, c, d, ..] = v6.segments();
                IpAddr::V6(Ipv6Addr::new(a, b, c, d, 0, 0, 0, 0))
            }
        },
    }
}

/// A credential's key: a hash, so the limiter's memory holds no token that could be replayed,
/// and a client sending enormous tokens costs 16 bytes a key.
type CredentialKey = [u8; 16];

fn credential_key(headers: &HeaderMap) -> Option<CredentialKey> {
    let token = principal::session_token(headers)?;
    let hash = blake3::hash(token.as_bytes());
    let mut key = [0u8; 16];
    key.copy_from_slice(&hash.as_bytes()[..16]);
    Some(key)
}

/// Which limit refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Limit {
    Client,
    Credential,
    Guessing,
}

impl Limit {
    fn name(self) -> &'static str {
        match self {
            Limit::Client => "per_client",
            Limit::Credential => "per_credential",
            Limit::Guessing => "login_attempts",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Refusal {
    limit: Limit,
    /// Whole seconds until the request would be let through, at least one.
    retry_after_secs: u64,
    /// Whether this refusal is the one logged for its client and limit this minute.
    log: bool,
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let seconds = self.retry_after_secs;
        let message = match self.limit {
            Limit::Guessing => Message::new(
                format!("登录或设备注册尝试过于频繁，请 {seconds} 秒后再试"),
                format!("Too many login or enrollment attempts; try again in {seconds} seconds"),
            ),
            Limit::Client | Limit::Credential => Message::new(
                format!("请求过于频繁，请 {seconds} 秒后再试"),
                format!("Too many requests; try again in {seconds} seconds"),
            ),
        };
        let mut response = ApiError {
            status: StatusCode::TOO_MANY_REQUESTS,
            code: ErrorCode::RateLimited,
            message,
        }
        .into_response();
        response
            .headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from(seconds));
        response
    }
}

type Keyed<K, C> = RateLimiter<K, HashMapStateStore<K>, C, NoOpMiddleware<<C as Clock>::Instant>>;

/// The live buckets of the three limits.
#[derive(Debug)]
struct Limiters<C: Clock = DefaultClock> {
    clock: C,
    per_client: Option<Keyed<IpAddr, C>>,
    per_credential: Option<Keyed<CredentialKey, C>>,
    guessing: Option<Keyed<IpAddr, C>>,
    /// One log line a minute per client and limit: a flood must not become a flood of logs.
    reported: Keyed<(Limit, IpAddr), C>,
    checks: AtomicU64,
}

fn per_second(rate: u32) -> Option<Quota> {
    let rate = NonZeroU32::new(rate)?;
    let burst = NonZeroU32::new(rate.get().saturating_mul(BURST_SECONDS)).unwrap_or(rate);
    Some(Quota::per_second(rate).allow_burst(burst))
}

fn per_minute(rate: u32) -> Option<Quota> {
    NonZeroU32::new(rate).map(Quota::per_minute)
}

impl Limiters<DefaultClock> {
    fn new(limits: RateLimits) -> Self {
        Limiters::with_clock(limits, DefaultClock::default())
    }
}

impl<C: Clock + Clone> Limiters<C> {
    fn with_clock(limits: RateLimits, clock: C) -> Self {
        fn keyed<K: Hash + Eq + Clone, C: Clock + Clone>(quota: Quota, clock: &C) -> Keyed<K, C> {
            RateLimiter::new(quota, HashMapStateStore::default(), clock.clone())
        }
        Limiters {
            per_client: per_second(limits.per_client_per_second).map(|q| keyed(q, &clock)),
            per_credential: per_second(limits.per_credential_per_second).map(|q| keyed(q, &clock)),
            guessing: per_minute(limits.login_attempts_per_minute).map(|q| keyed(q, &clock)),
            reported: keyed(Quota::per_minute(NonZeroU32::MIN), &clock),
            clock,
            checks: AtomicU64::new(0),
        }
    }

    /// Takes one request from each bucket it falls under, or says which refused it. A
    /// refused request takes nothing from the buckets after the one that refused it.
    fn check(
        &self,
        client: IpAddr,
        path: &str,
        credential: Option<CredentialKey>,
    ) -> Result<(), Refusal> {
        if self.checks.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            self.sweep();
        }
        let client = client_key(client);
        self.take(&self.per_client, &client, Limit::Client, client)?;
        if GUESSING_PATHS.contains(&path) {
            self.take(&self.guessing, &client, Limit::Guessing, client)?;
        }
        if let Some(credential) = credential {
            self.take(&self.per_credential, &credential, Limit::Credential, client)?;
        }
        Ok(())
    }

    fn take<K: Hash + Eq + Clone>(
        &self,
        limiter: &Option<Keyed<K, C>>,
        key: &K,
        limit: Limit,
        client: IpAddr,
    ) -> Result<(), Refusal> {
        let Some(limiter) = limiter else {
            return Ok(());
        };
        limiter.check_key(key).map_err(|not_until| {
            let wait = not_until.wait_time_from(self.clock.now());
            Refusal {
                limit,
                retry_after_secs: whole_seconds(wait),
                log: self.reported.check_key(&(limit, client)).is_ok(),
            }
        })
    }

    fn sweep(&self) {
        fn sweep_one<K: Hash + Eq + Clone, C: Clock>(limiter: &Keyed<K, C>) {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
        self.per_client.iter().for_each(sweep_one);
        self.per_credential.iter().for_each(sweep_one);
        self.guessing.iter().for_each(sweep_one);
        sweep_one(&self.reported);
    }

    #[cfg(test)]
    fn keys(&self) -> usize {
        self.per_client.as_ref().map_or(0, Keyed::len)
            + self.per_credential.as_ref().map_or(0, Keyed::len)
            + self.guessing.as_ref().map_or(0, Keyed::len)
            + self.reported.len()
    }
}

/// Rounded up, so a client that waits as long as it is told is let through.
fn whole_seconds(wait: Duration) -> u64 {
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    seconds.max(1)
}

async fn rate_limit(
    State(limiters): State<Arc<Limiters>>,
    request: Request,
    next: Next,
) -> Response {
    // Served without connection info (never in `serve`), every client shares one bucket
    // rather than escaping the limits.
    let client = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |ConnectInfo(address)| {
            address.ip()
        });
    let credential = credential_key(request.headers());
    match limiters.check(client, request.uri().path(), credential) {
        Ok(()) => next.run(request).await,
        Err(refusal) => {
            if refusal.log {
                tracing::warn!(
                    limit = refusal.limit.name(),
                    %client,
                    path = request.uri().path(),
                    "rate limited; further refusals of this client by this limit go unlogged for a minute"
                );
            }
            refusal.into_response()
        }
    }
}

fn header<S>(router: Router<S>, name: HeaderName, value: &'static str) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    // A handler that sets one of these itself (a future web console's own policy) keeps it.
    router.layer(SetResponseHeaderLayer::if_not_present(
        name,
        HeaderValue::from_static(value),
    ))
}

/// Adds the rate limits and the security headers to the whole API. Applied outside every
/// other layer, so that the headers reach every response, the ones made by layers included
/// (`json_errors` builds new responses), and a refused request costs no more than a lookup.
pub fn protect<S>(router: Router<S>, limits: RateLimits) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    let router = router.layer(axum::middleware::from_fn_with_state(
        Arc::new(Limiters::new(limits)),
        rate_limit,
    ));
    let router = header(router, X_CONTENT_TYPE_OPTIONS, "nosniff");
    let router = header(router, X_FRAME_OPTIONS, "DENY");
    let router = header(router, REFERRER_POLICY, "no-referrer");
    // The API serves no HTML: nothing it answers may load anything, or be framed.
    let router = header(
        router,
        CONTENT_SECURITY_POLICY,
        "default-src 'none'; frame-ancestors 'none'",
    );
    // Answers carry personal data: no cache on the way, or in a shared office browser, keeps
    // a copy.
    header(router, CACHE_CONTROL, "no-store")
}

/// Tells browsers to come back only over HTTPS, for a year. Only for a server that speaks
/// TLS itself: over plain HTTP the header is ignored, and behind a proxy the proxy sets it.
pub fn hsts<S>(router: Router<S>) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    header(router, STRICT_TRANSPORT_SECURITY, "max-age=31536000")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use axum::http::header::{AUTHORIZATION, COOKIE};
    use governor::clock::FakeRelativeClock;

    fn address(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn headers(pairs: &[(HeaderName, &str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(name.clone(), HeaderValue::from_str(value).unwrap());
        }
        headers
    }

    fn limiters(limits: RateLimits) -> (Limiters<FakeRelativeClock>, FakeRelativeClock) {
        let clock = FakeRelativeClock::default();
        (Limiters::with_clock(limits, clock.clone()), clock)
    }

    const OFF: RateLimits = RateLimits {
        per_client_per_second: 0,
        per_credential_per_second: 0,
        login_attempts_per_minute: 0,
    };

    #[test]
    fn an_ipv6_client_is_keyed_by_its_prefix() {
        assert_eq!(client_key(address("10.1.2.3")), address("10.1.2.3"));
        assert_eq!(
            client_key(address("2001:db8:1:2::1")),
            client_key(address("2001:db8:1:2:ffff:ffff:ffff:ffff"))
        );
        assert_ne!(
            client_key(address("2001:db8:1:2::1")),
            client_key(address("2001:db8:1:3::1"))
        );
        assert_eq!(
            client_key(address("::ffff:192.0.2.7")),
            address("192.0.2.7")
        );
    }

    #[test]
    fn a_credential_is_keyed_the_same_by_bearer_or_cookie() {
        let bearer = credential_key(&headers(&[(AUTHORIZATION, "Bearer dss_abc")]));
        let lowercase = credential_key(&headers(&[(AUTHORIZATION, "bearer dss_abc")]));
        let cookie = credential_key(&headers(&[(
            COOKIE,
            "theme=dark; doorstep_session=dss_abc",
        )]));
        assert!(bearer.is_some());
        assert_eq!(bearer, lowercase);
        assert_eq!(bearer, cookie);
        let other = credential_key(&headers(&[(AUTHORIZATION, "Bearer dss_abd")]));
        assert_ne!(bearer, other);
        assert_eq!(credential_key(&headers(&[])), None);
        assert_eq!(
            credential_key(&headers(&[(AUTHORIZATION, "Bearer ")])),
            None
        );
        assert_eq!(credential_key(&headers(&[(COOKIE, "theme=dark")])), None);
    }

    #[test]
    fn one_client_over_its_limit_leaves_others_alone() {
        let limits = RateLimits {
            per_client_per_second: 1,
            ..OFF
        };
        let (limiters, clock) = limiters(limits);
        let one = address("192.0.2.1");
        for _ in 0..BURST_SECONDS {
            limiters.check(one, "/healthz", None).unwrap();
        }
        let refusal = limiters.check(one, "/healthz", None).unwrap_err();
        assert_eq!(refusal.limit, Limit::Client);
        assert_eq!(refusal.retry_after_secs, 1);
        limiters
            .check(address("192.0.2.2"), "/healthz", None)
            .unwrap();
        // Another address in the same IPv6 /64 is the same client.
        let v6 = address("2001:db8::1");
        for _ in 0..BURST_SECONDS {
            limiters.check(v6, "/healthz", None).unwrap();
        }
        assert!(
            limiters
                .check(address("2001:db8::2"), "/healthz", None)
                .is_err()
        );
        clock.advance(Duration::from_secs(1));
        limiters.check(one, "/healthz", None).unwrap();
    }

    #[test]
    fn one_credential_over_its_limit_leaves_others_and_anonymous_requests_alone() {
        let limits = RateLimits {
            per_credential_per_second: 2,
            ..OFF
        };
        let (limiters, _clock) = limiters(limits);
        let client = address("192.0.2.1");
        let device = Some([1u8; 16]);
        for _ in 0..2 * BURST_SECONDS {
            limiters.check(client, "/api/v1/sync", device).unwrap();
        }
        let refusal = limiters.check(client, "/api/v1/sync", device).unwrap_err();
        assert_eq!(refusal.limit, Limit::Credential);
        limiters
            .check(client, "/api/v1/sync", Some([2u8; 16]))
            .unwrap();
        limiters.check(client, "/healthz", None).unwrap();
    }

    #[test]
    fn logins_and_enrollments_share_one_stricter_limit() {
        let limits = RateLimits {
            login_attempts_per_minute: 3,
            ..OFF
        };
        let (limiters, clock) = limiters(limits);
        let client = address("192.0.2.1");
        limiters.check(client, "/api/v1/login", None).unwrap();
        limiters.check(client, "/api/v1/enroll", None).unwrap();
        limiters.check(client, "/api/v1/login", None).unwrap();
        let refusal = limiters.check(client, "/api/v1/enroll", None).unwrap_err();
        assert_eq!(refusal.limit, Limit::Guessing);
        assert_eq!(refusal.retry_after_secs, 20);
        // Other endpoints and other addresses are not held back by it.
        limiters.check(client, "/api/v1/me", None).unwrap();
        limiters
            .check(address("192.0.2.2"), "/api/v1/login", None)
            .unwrap();
        clock.advance(Duration::from_secs(20));
        limiters.check(client, "/api/v1/login", None).unwrap();
    }

    #[test]
    fn a_limit_of_zero_is_off() {
        let (limiters, _clock) = limiters(OFF);
        for _ in 0..1000 {
            limiters
                .check(address("192.0.2.1"), "/api/v1/login", Some([1u8; 16]))
                .unwrap();
        }
    }

    #[test]
    fn the_defaults_let_a_bench_of_requests_through() {
        let (limiters, _clock) = limiters(RateLimits::default());
        let client = address("127.0.0.1");
        // A benchmark's few hundred requests on one staff session, at once.
        for _ in 0..400 {
            limiters
                .check(client, "/api/v1/review/items", Some([1u8; 16]))
                .unwrap();
        }
        for _ in 0..30 {
            limiters.check(client, "/api/v1/login", None).unwrap();
        }
    }

    #[test]
    fn refusals_are_logged_once_a_minute_per_client_and_limit() {
        let limits = RateLimits {
            login_attempts_per_minute: 1,
            ..OFF
        };
        let (limiters, clock) = limiters(limits);
        let client = address("192.0.2.1");
        limiters.check(client, "/api/v1/login", None).unwrap();
        assert!(
            limiters
                .check(client, "/api/v1/login", None)
                .unwrap_err()
                .log
        );
        assert!(
            !limiters
                .check(client, "/api/v1/login", None)
                .unwrap_err()
                .log
        );
        limiters
            .check(address("192.0.2.2"), "/api/v1/login", None)
            .unwrap();
        assert!(
            limiters
                .check(address("192.0.2.2"), "/api/v1/login", None)
                .unwrap_err()
                .log
        );
        clock.advance(Duration::from_secs(60));
        limiters.check(client, "/api/v1/login", None).unwrap();
        assert!(
            limiters
                .check(client, "/api/v1/login", None)
                .unwrap_err()
                .log
        );
    }

    #[test]
    fn idle_keys_are_forgotten() {
        let (limiters, clock) = limiters(RateLimits::default());
        for n in 0..=255u8 {
            limiters
                .check(
                    IpAddr::V4(Ipv4Addr::new(192, 0, 2, n)),
                    "/healthz",
                    Some([n; 16]),
                )
                .unwrap();
        }
        assert_eq!(limiters.keys(), 2 * 256);
        clock.advance(Duration::from_secs(60));
        limiters.sweep();
        assert_eq!(limiters.keys(), 0);
        // The sweep also runs by itself, every SWEEP_EVERY checks: without it, each of these
        // clients would still hold a key.
        for n in 0..SWEEP_EVERY {
            let client = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + n as u32));
            limiters.check(client, "/healthz", None).unwrap();
            clock.advance(Duration::from_secs(60));
        }
        assert!(limiters.keys() < SWEEP_EVERY as usize);
    }

    #[tokio::test]
    async fn a_refusal_is_a_json_429_with_retry_after() {
        let response = Refusal {
            limit: Limit::Credential,
            retry_after_secs: 3,
            log: false,
        }
        .into_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()[RETRY_AFTER], "3");
        let body = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["error"], "rate_limited");
        assert!(body["message"]["zh"].as_str().unwrap().contains("3 秒"));
        assert!(
            body["message"]["en"]
                .as_str()
                .unwrap()
                .contains("3 seconds")
        );
    }

    #[test]
    fn waits_round_up_to_whole_seconds() {
        assert_eq!(whole_seconds(Duration::ZERO), 1);
        assert_eq!(whole_seconds(Duration::from_millis(1)), 1);
        assert_eq!(whole_seconds(Duration::from_millis(1001)), 2);
        assert_eq!(whole_seconds(Duration::from_secs(20)), 20);
    }
}
