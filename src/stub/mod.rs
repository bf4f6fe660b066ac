//! The OpenAI stub: `POST /v1/chat/completions` and `GET /v1/models` served by wiremock, with
//! OpenAI's validation, usage, latency, rate limits and faults from [`core::StubCore`]. It knows
//! nothing of the harness. Start it in-process with [`start`] (port 0 in tests) or standalone
//! with `postload stub`.
//!
//! Memory. wiremock keeps a clone of every request a mock has matched until `MockServer::reset`
//! (deactivating a mock frees nothing), about 14 KB of resident memory for a 5 KB request. The
//! stub bounds it by *compaction*: reset wiremock and mount the mocks again, which frees the store.
//! Done naively this races with traffic: a request reaching wiremock between the reset and the
//! re-mount would get its empty 404. So compaction runs as a task spawned on wiremock's own
//! server runtime, which is single-threaded: its lock acquisitions are uncontended there (no
//! handler holds wiremock's lock across a yield) and complete without yielding, so no connection
//! task can run between the reset and the last re-mount. The test
//! `compaction_under_load_never_404s` checks this under concurrent load. Compaction happens
//! automatically once `retain_limit` requests are held, and on every reset.

pub mod core;
pub mod sse;
pub mod stats;
pub mod validate;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

use tokio::sync::watch;
use wiremock::http::HeaderName;
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

pub use self::core::{Faults, PromptEstimate, Reply, StubConfig, StubCore};
pub use self::stats::StubStats;
use crate::clock::{Clock, SystemClock};
use crate::openai::errors::ApiError;
use crate::openai::world::DRAW_STREAM_HEADER;

/// Requests wiremock may hold before the stub compacts its store (about 140 MB at 14 KB each).
pub const DEFAULT_RETAIN_LIMIT: u64 = 10_000;

/// A running stub. Dropping it stops the server.
pub struct StubHandle {
    server: Arc<MockServer>,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for StubHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StubHandle")
            .field("address", self.server.address())
            .finish_non_exhaustive()
    }
}

impl StubHandle {
    /// `http://127.0.0.1:PORT/v1`: what a service should use as `OPENAI_BASE_URL`.
    pub fn base_url(&self) -> String {
        format!("{}/v1", self.server.uri())
    }

    pub fn address(&self) -> SocketAddr {
        *self.server.address()
    }

    pub fn core(&self) -> &Arc<StubCore> {
        &self.shared.core
    }

    pub fn stats(&self) -> StubStats {
        self.shared.stats()
    }

    /// Serves `tier` (of the stub's tier set) with `seed` from now on, then resets as
    /// [`reset`](Self::reset) does: one long-lived stub, one case after another.
    pub async fn reset_to(&self, tier: u8, seed: u64) -> anyhow::Result<()> {
        self.shared
            .core
            .reset_to(tier, seed)
            .map_err(anyhow::Error::msg)?;
        Ok(self.reset().await?)
    }

    /// Zeroes the counters, refills the buckets, restarts the seeded sequence and empties
    /// wiremock's store, exactly as `POST /__postload/reset` does (it goes through that endpoint,
    /// so the compaction runs on wiremock's runtime), and waits until the store is empty.
    pub async fn reset(&self) -> std::io::Result<()> {
        let mut compactions = self.shared.compactions.subscribe();
        compactions.mark_unchanged();
        let addr = self.address();
        let status = tokio::task::spawn_blocking(move || post_empty(addr, "/__postload/reset"))
            .await
            .map_err(std::io::Error::other)??;
        if status != 200 {
            return Err(std::io::Error::other(format!(
                "reset endpoint answered {status}"
            )));
        }
        tokio::time::timeout(Duration::from_secs(10), compactions.changed())
            .await
            .map_err(|_| std::io::Error::other("the stub did not compact within 10 s"))?
            .map_err(std::io::Error::other)?;
        Ok(())
    }
}

/// A minimal HTTP/1.1 POST with an empty body; returns the status code.
fn post_empty(addr: SocketAddr, path: &str) -> std::io::Result<u16> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = String::new();
    s.read_to_string(&mut response)?;
    response
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| std::io::Error::other("not an HTTP response"))
}

/// Pending connections the stub's listener queues. A burst of 1,000 users connects at once:
/// with the usual backlog of 128 the kernel drops the rest and they retry a second later.
/// (Linux caps it at `net.core.somaxconn`, 4096 by default.)
pub const LISTEN_BACKLOG: i32 = 4096;

/// Binds `127.0.0.1:port` (0 picks a free port) with a backlog for large bursts.
pub fn bind_loopback(port: u16) -> std::io::Result<TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.bind(&SocketAddr::from(([127, 0, 0, 1], port)).into())?;
    socket.listen(LISTEN_BACKLOG)?;
    Ok(socket.into())
}

/// Starts the stub on `listener` with the wall clock.
pub async fn start(config: StubConfig, listener: TcpListener) -> anyhow::Result<StubHandle> {
    start_with_clock(config, listener, Arc::new(SystemClock::new())).await
}

/// Starts the stub on `listener`; its buckets and latencies follow `clock` (a clock running K
/// times faster serves latencies K times shorter).
pub async fn start_with_clock(
    config: StubConfig,
    listener: TcpListener,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<StubHandle> {
    let retain_limit = config.retain_limit;
    let core = Arc::new(StubCore::new(config, clock).map_err(anyhow::Error::msg)?);
    // Loading the tokenizer takes ~170 ms: do it now, not under the server lock of the first request.
    let _ = crate::openai::tokens::bpe();
    let server = Arc::new(
        MockServer::builder()
            .listener(listener)
            .disable_request_recording()
            .start()
            .await,
    );
    let shared = Arc::new(Shared {
        core,
        server: OnceLock::new(),
        retain_limit,
        retained: AtomicU64::new(0),
        retained_body_bytes: AtomicU64::new(0),
        compacting: AtomicBool::new(false),
        compactions: watch::Sender::new(0),
    });
    // The mocks hold the shared state; it holds the server only weakly, so dropping the handle
    // (the one strong reference) stops the server.
    let _ = shared.server.set(Arc::downgrade(&server));
    mount(&server, &shared).await;
    Ok(StubHandle { server, shared })
}

/// What every endpoint shares.
struct Shared {
    core: Arc<StubCore>,
    server: OnceLock<Weak<MockServer>>,
    retain_limit: u64,
    retained: AtomicU64,
    retained_body_bytes: AtomicU64,
    compacting: AtomicBool,
    compactions: watch::Sender<u64>,
}

impl Shared {
    fn stats(&self) -> StubStats {
        let mut s = self.core.stats();
        s.retained_requests = self.retained.load(Ordering::Relaxed);
        s.retained_body_bytes = self.retained_body_bytes.load(Ordering::Relaxed);
        s.compactions = *self.compactions.borrow();
        s
    }

    /// Spawns a compaction on the current runtime, which must be wiremock's (call it only from a
    /// responder). At most one is pending at a time.
    fn schedule_compaction(self: &Arc<Self>) {
        if self.compacting.swap(true, Ordering::AcqRel) {
            return;
        }
        let shared = Arc::clone(self);
        tokio::spawn(async move {
            if let Some(server) = shared.server.get().and_then(Weak::upgrade) {
                // No await below yields (see the module doc): reset and re-mount are atomic with
                // respect to the connection tasks on this single-threaded runtime.
                server.reset().await;
                mount(&server, &shared).await;
                shared.retained.store(0, Ordering::Relaxed);
                shared.retained_body_bytes.store(0, Ordering::Relaxed);
            }
            shared.compacting.store(false, Ordering::Release);
            shared.compactions.send_modify(|n| *n += 1);
        });
    }
}

async fn mount(server: &MockServer, shared: &Arc<Shared>) {
    let routes = [
        ("POST", "/v1/chat/completions", Route::Chat),
        ("GET", "/v1/models", Route::Models),
        ("GET", "/__postload/stats", Route::Stats),
        ("POST", "/__postload/reset", Route::Reset),
    ];
    for (verb, p, route) in routes {
        Mock::given(method(verb))
            .and(path(p))
            .respond_with(Endpoint::new(shared, route))
            .mount(server)
            .await;
    }
    Mock::given(method("GET"))
        .and(path_regex(r"^/v1/models/[^/]+$"))
        .respond_with(Endpoint::new(shared, Route::Model))
        .mount(server)
        .await;
}

#[derive(Debug, Clone, Copy)]
enum Route {
    Chat,
    Models,
    Model,
    Stats,
    Reset,
}

struct Endpoint {
    shared: Arc<Shared>,
    route: Route,
}

impl Endpoint {
    fn new(shared: &Arc<Shared>, route: Route) -> Self {
        Self {
            shared: Arc::clone(shared),
            route,
        }
    }
}

impl Respond for Endpoint {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let shared = &self.shared;
        let core = &shared.core;
        let held = shared.retained.fetch_add(1, Ordering::Relaxed) + 1;
        shared
            .retained_body_bytes
            .fetch_add(request.body.len() as u64, Ordering::Relaxed);
        if shared.retain_limit > 0 && held >= shared.retain_limit {
            shared.schedule_compaction();
        }
        match self.route {
            Route::Chat => {
                let stream = request
                    .headers
                    .get(DRAW_STREAM_HEADER)
                    .map(|v| v.to_str().unwrap_or("(not text)"));
                to_template(core.chat(&request.body, stream), core.clock().scale())
            }
            Route::Models => ResponseTemplate::new(200).set_body_json(core.models_body()),
            Route::Model => {
                let id = request.url.path().rsplit('/').next().unwrap_or_default();
                match core.config().catalog.model(id) {
                    Some(m) => ResponseTemplate::new(200).set_body_json(serde_json::json!({
                        "id": m.id, "object": "model", "created": 1_715_367_049u64, "owned_by": "system"
                    })),
                    None => {
                        let e = ApiError::model_not_found(id);
                        ResponseTemplate::new(e.status)
                            .set_body_raw(e.to_bytes(), "application/json")
                    }
                }
            }
            Route::Stats => ResponseTemplate::new(200).set_body_json(shared.stats()),
            Route::Reset => {
                core.reset();
                shared.schedule_compaction();
                ResponseTemplate::new(200).set_body_json(serde_json::json!({"reset": true}))
            }
        }
    }
}

fn to_template(reply: Reply, time_scale: f64) -> ResponseTemplate {
    let mut t = ResponseTemplate::new(reply.status).set_body_raw(reply.body, reply.content_type);
    for (name, value) in reply.headers {
        // Static names skip parsing and allocation; our values are ASCII digits, ids and durations.
        t = t.insert_header(HeaderName::from_static(name), value);
    }
    if !reply.delay.is_zero() {
        t = t.set_delay(reply.delay.div_f64(time_scale));
    }
    t
}
