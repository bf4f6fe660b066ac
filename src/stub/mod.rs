//! The OpenAI stub: `POST /v1/chat/completions` and `GET /v1/models` served by wiremock, with
//! OpenAI's validation, usage, latency, rate limits and faults from [`core::StubCore`]. It knows
//! nothing of the harness. Start it in-process with [`start`] (port 0 in tests) or standalone
//! with `postload stub`.
//!
//! Memory: wiremock keeps every request a mock has matched (its `MountedMock` stores a clone,
//! body included) until `MockServer::reset`, and deactivating a mock does not free them. The stub
//! therefore counts what is retained (`retained_requests`, `retained_bytes` in the stats) and
//! [`StubHandle::reset`] (or `POST /__postload/reset`) resets wiremock and mounts the mocks again,
//! which frees it all. Reset only between runs: a request arriving in the instant between
//! wiremock's reset and the re-mount would get wiremock's empty 404.

pub mod core;
pub mod sse;
pub mod stats;
pub mod validate;

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;

use tokio::sync::mpsc;
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

pub use self::core::{Faults, PromptEstimate, Reply, StubConfig, StubCore};
pub use self::stats::StubStats;
use crate::clock::{Clock, SystemClock};
use crate::openai::errors::ApiError;

/// A running stub. Dropping it stops the server.
pub struct StubHandle {
    server: Arc<MockServer>,
    shared: Arc<Shared>,
    compactor: tokio::task::JoinHandle<()>,
}

impl Drop for StubHandle {
    fn drop(&mut self) {
        self.compactor.abort();
    }
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
        self.shared.core.stats()
    }

    /// Zeroes the counters, refills the buckets, restarts the seeded sequence and frees the
    /// requests wiremock retained. Call it between runs, with no request in flight.
    pub async fn reset(&self) {
        self.server.reset().await;
        mount(&self.server, &self.shared).await;
        self.shared.core.reset(true);
    }
}

/// Binds `127.0.0.1:port` (0 picks a free port).
pub fn bind_loopback(port: u16) -> std::io::Result<TcpListener> {
    TcpListener::bind(("127.0.0.1", port))
}

/// Starts the stub on `listener` with the wall clock (sped up if `time_scale` > 1).
pub async fn start(config: StubConfig, listener: TcpListener) -> anyhow::Result<StubHandle> {
    start_with_clock(config, listener, Arc::new(SystemClock::new())).await
}

/// Starts the stub on `listener`; its buckets and latencies follow `clock`.
pub async fn start_with_clock(
    config: StubConfig,
    listener: TcpListener,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<StubHandle> {
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
    let (reset_tx, mut reset_rx) = mpsc::unbounded_channel::<()>();
    let shared = Arc::new(Shared { core, reset_tx });
    mount(&server, &shared).await;
    let compactor = {
        // Weak references: the task must not keep the server (whose mocks hold the sender) alive.
        let server = Arc::downgrade(&server);
        let shared = Arc::downgrade(&shared);
        tokio::spawn(async move {
            while reset_rx.recv().await.is_some() {
                let (Some(server), Some(shared)) = (server.upgrade(), shared.upgrade()) else {
                    break;
                };
                server.reset().await;
                mount(&server, &shared).await;
                shared.core.reset(true);
            }
        })
    };
    Ok(StubHandle {
        server,
        shared,
        compactor,
    })
}

async fn mount(server: &MockServer, shared: &Arc<Shared>) {
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(Endpoint::new(shared, Route::Chat))
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/models"))
        .respond_with(Endpoint::new(shared, Route::Models))
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path_regex(r"^/v1/models/[^/]+$"))
        .respond_with(Endpoint::new(shared, Route::Model))
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path("/__postload/stats"))
        .respond_with(Endpoint::new(shared, Route::Stats))
        .mount(server)
        .await;
    Mock::given(method("POST"))
        .and(path("/__postload/reset"))
        .respond_with(Endpoint::new(shared, Route::Reset))
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

/// What every endpoint shares: the core, and the way to ask the compactor task for a reset (the
/// reset endpoint's responder runs synchronously under wiremock's lock, so it cannot reset
/// wiremock itself).
struct Shared {
    core: Arc<StubCore>,
    reset_tx: mpsc::UnboundedSender<()>,
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

/// Approximate bytes wiremock keeps for one request: its body, headers and URL.
fn retained_size(request: &Request) -> usize {
    let headers: usize = request
        .headers
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len() + 64)
        .sum();
    request.body.capacity() + headers + request.url.as_str().len() + 256
}

impl Respond for Endpoint {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let core = &self.shared.core;
        core.note_retained(retained_size(request));
        match self.route {
            Route::Chat => to_template(core.chat(&request.body), core.clock().scale()),
            Route::Models => ResponseTemplate::new(200).set_body_json(core.models_body()),
            Route::Model => {
                let id = request.url.path().rsplit('/').next().unwrap_or_default();
                match core.config().catalog.model(id) {
                    Some(m) => ResponseTemplate::new(200).set_body_json(serde_json::json!({
                        "id": m.id, "object": "model", "created": 1_715_367_049u64, "owned_by": "system"
                    })),
                    None => {
                        let e = ApiError::model_not_found(id);
                        ResponseTemplate::new(e.status).set_body_json(e.body())
                    }
                }
            }
            Route::Stats => ResponseTemplate::new(200).set_body_json(core.stats()),
            Route::Reset => {
                if self.shared.reset_tx.send(()).is_ok() {
                    ResponseTemplate::new(202)
                        .set_body_json(serde_json::json!({"reset": "scheduled"}))
                } else {
                    core.reset(false);
                    ResponseTemplate::new(200)
                        .set_body_json(serde_json::json!({"reset": "counters"}))
                }
            }
        }
    }
}

fn to_template(reply: Reply, time_scale: f64) -> ResponseTemplate {
    let mut t = ResponseTemplate::new(reply.status).set_body_raw(reply.body, reply.content_type);
    for (name, value) in reply.headers {
        t = t.insert_header(name, value);
    }
    if !reply.delay.is_zero() {
        t = t.set_delay(reply.delay.div_f64(time_scale));
    }
    t
}
