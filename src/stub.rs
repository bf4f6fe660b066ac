//! The OpenAI stub: `POST /v1/chat/completions`, `POST /v1/responses` and `GET /v1/models` with OpenAI's validation,
//! usage, latency, rate limits and faults from [`core::StubCore`], served by a small hyper front
//! ([`server`]) that bounds what a client can make it hold: connections (idle timeout, accept
//! back-off), bodies (a size limit, answered 413 before the body is read whole) and nothing kept
//! after an answer. It knows nothing of the harness. Start it in-process with [`start`] (port 0
//! in tests) or standalone with `postload stub`. `docs/safety.md` states its limits. The
//! request handling is all in [`StubCore`], free of HTTP; `server` says why the front is a
//! server of its own rather than a mock framework.

pub mod core;
mod pace;
mod parse_errors;
pub mod probe;
pub mod request;
pub mod responses;
mod server;
pub mod sse;
pub mod stats;
pub mod traces;

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

pub use self::core::{Endpoint, Faults, PromptEstimate, Reply, StubConfig, StubCore};
pub use self::stats::StubStats;
use crate::clock::{Clock, SystemClock};
use crate::openai::errors::ApiError;
use crate::traceparent::TraceParent;

/// The bearer token postload's own clients send to a stub when no key is configured (the stub
/// accepts any token but, like OpenAI, refuses a request without one).
pub const STUB_API_KEY: &str = "sk-postload-stub";

/// The default of `retain_limit`, an option without effect (the stub keeps no request past its
/// answer) that stays so that existing configurations and command lines still work.
pub const DEFAULT_RETAIN_LIMIT: u64 = 10_000;

/// The largest request body the stub reads: 64 MiB. A chat request at gpt-4o's whole 128k-token
/// context is well under 1 MB of JSON; only base64-inlined images make bodies large, and 64 MiB
/// leaves room for tens of megabytes of them. Larger bodies get a 413 before they are read whole.
pub const DEFAULT_MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

/// How long a connection may owe the stub its next request's headers or the rest of a body (or
/// read none of its answer) before the stub closes it. Above reqwest's 90 s pool idle timeout, so a client's pooled
/// connection is dropped by the client first, never closed under a request it is sending.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(120);

/// A running stub. Dropping it stops the server.
pub struct StubHandle {
    address: SocketAddr,
    shared: Arc<Shared>,
    /// Dropping the sender ends the server's accept loop and, with it, its runtime.
    _shutdown: watch::Sender<()>,
    /// Fired by the server's thread once its accept loop has returned (its listener closed).
    closed: Option<tokio::sync::oneshot::Receiver<()>>,
}

impl std::fmt::Debug for StubHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StubHandle")
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

impl StubHandle {
    /// Stops the server and waits until its listener is closed, so that the next stub can bind
    /// the same port at once (a `--find-rate` step's stub, then the next step's). Dropping the
    /// handle stops it too, without waiting.
    pub async fn shutdown(mut self) {
        let closed = self.closed.take();
        drop(self);
        if let Some(closed) = closed {
            // An error means the thread ended without sending: its listener is gone too.
            let _ = closed.await;
        }
    }

    /// `http://127.0.0.1:PORT/v1`: what a service should use as `OPENAI_BASE_URL`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.address)
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    pub fn core(&self) -> &Arc<StubCore> {
        &self.shared.core
    }

    pub fn stats(&self) -> StubStats {
        self.shared.stats()
    }

    /// What the stub saw per `traceparent` trace since the last reset (`GET /__postload/traces`).
    pub fn traces(&self) -> traces::TraceReport {
        self.shared.traces().report()
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

    /// From now on answers the first `n` chat requests since the last reset 429 whatever the
    /// buckets (`None`: its `--first-429`): a case's `first_429`.
    pub fn set_first_429(&self, n: Option<u64>) {
        self.shared.core.set_first_429(n);
    }

    /// Zeroes the counters, refills the buckets and restarts the seeded sequence, exactly as
    /// `POST /__postload/reset` does.
    pub async fn reset(&self) -> std::io::Result<()> {
        self.shared.reset();
        Ok(())
    }
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

/// Starts the stub on the caller's runtime (not a thread of its own), so that a test on paused
/// tokio time drives its latencies too: `clock` should then read tokio's clock. For tests.
#[doc(hidden)]
pub async fn start_here(
    config: StubConfig,
    listener: tokio::net::TcpListener,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<StubHandle> {
    let shared = shared(config, clock)?;
    let address = listener.local_addr()?;
    let (shutdown, stop) = watch::channel(());
    let (done, closed) = tokio::sync::oneshot::channel();
    let serving = Arc::clone(&shared);
    tokio::spawn(async move {
        server::serve(listener, serving, stop).await;
        let _ = done.send(());
    });
    Ok(StubHandle {
        address,
        shared,
        _shutdown: shutdown,
        closed: Some(closed),
    })
}

/// Starts the stub on `listener`; its buckets and latencies follow `clock` (a clock running K
/// times faster serves latencies K times shorter).
///
/// The server runs on a current-thread runtime on a thread of its own, so an embedded stub does
/// not compete with the caller's runtime for its worker threads.
pub async fn start_with_clock(
    config: StubConfig,
    listener: TcpListener,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<StubHandle> {
    let shared = shared(config, clock)?;
    let address = listener.local_addr()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    listener.set_nonblocking(true)?;
    let listener = {
        let _guard = runtime.enter();
        tokio::net::TcpListener::from_std(listener)?
    };
    let (shutdown, stop) = watch::channel(());
    let serving = Arc::clone(&shared);
    let (done, closed) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name(format!("postload-stub-{}", address.port()))
        .spawn(move || {
            runtime.block_on(server::serve(listener, serving, stop));
            // The listener closed with the accept loop: the port is free (bound with
            // SO_REUSEADDR, the connections still open do not hold it). Said before the
            // runtime's drop, which waits for any blocking task under way.
            let _ = done.send(());
            drop(runtime);
        })?;
    Ok(StubHandle {
        address,
        shared,
        _shutdown: shutdown,
        closed: Some(closed),
    })
}

/// The core on `clock` and the server's counters, the tokenizer loaded.
fn shared(config: StubConfig, clock: Arc<dyn Clock>) -> anyhow::Result<Arc<Shared>> {
    let core = Arc::new(StubCore::new(config, clock).map_err(anyhow::Error::msg)?);
    // Loading the tokenizer takes ~170 ms: do it now, not in the first request.
    let _ = crate::openai::tokens::bpe();
    Ok(Arc::new(Shared {
        core,
        counters: server::Counters::default(),
        traces: std::sync::Mutex::default(),
    }))
}

/// What the server and the handle share.
struct Shared {
    core: Arc<StubCore>,
    counters: server::Counters,
    /// Per-trace accounting of chat requests that carry a `traceparent`.
    traces: std::sync::Mutex<traces::Traces>,
}

impl Shared {
    fn stats(&self) -> StubStats {
        self.core.stats()
    }

    fn reset(&self) {
        self.core.reset();
        self.traces().clear();
    }

    fn traces(&self) -> std::sync::MutexGuard<'_, traces::Traces> {
        // The store is plain counters: still usable after a panic elsewhere.
        self.traces.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The core's answer to a chat (or Responses) body, counted under its trace when it carries one: its
    /// status, and the time its client waits, from its arrival on the stub's clock: its modelled
    /// latency, which the answer's delivery counts from the same moment, or the stub's own work
    /// when that took longer (the stub's work is OpenAI's time to the client, not the service's).
    fn chat(
        &self,
        body: &[u8],
        stream: Option<&str>,
        retry: u32,
        trace: Option<TraceParent>,
        endpoint: Endpoint,
    ) -> Reply {
        let clock = self.core.clock();
        let arrival = clock.now();
        let reply = self.core.call_with(body, stream, retry, endpoint);
        if let Some(trace) = trace {
            let (body_hash, max_tokens) = traces::Seen::call_of(body, endpoint);
            // Reading the call's type is the stub's work too: measured after it.
            let worked = clock.now().saturating_sub(arrival);
            self.traces().record(traces::Seen {
                trace,
                body_hash,
                max_tokens,
                arrival,
                status: reply.status,
                latency: worked.max(reply.delay),
            });
        }
        reply
    }

    /// An error the front answers itself (404, 405, 401 on the model routes).
    fn front_error(&self, e: &ApiError) -> hyper::Response<pace::Body> {
        server::error_response(e)
    }

    /// An error the front answers to a model call (401, 408, 413, a broken body), counted in
    /// the stats like the core's own answers.
    fn chat_front_error(&self, e: &ApiError, endpoint: Endpoint) -> hyper::Response<pace::Body> {
        self.core.count_front_error(e.status, endpoint);
        server::error_response(e)
    }
}
