//! The stub's HTTP front: a small hyper 1 HTTP/1.1 server on one current-thread runtime of its
//! own thread, calling [`StubCore`](super::StubCore) for every answer.
//!
//! It exists because wiremock 0.6 cannot survive a hostile client: its accept loop ends for good
//! on the first `accept()` error (EMFILE), it reads each body whole and unbounded before a
//! responder runs, it panics a connection task when a body breaks off (`expect("Failed to read
//! request body.")`), and it keeps a clone of every matched request. Here:
//!
//! - accept errors are logged once per episode and retried with back-off (5 ms doubling to 1 s):
//!   when descriptors run out, the stub waits for connections to close instead of dying;
//! - a connection that owes the stub something (its next request's headers, the rest of a body)
//!   for longer than the idle timeout is closed: idle keep-alive connections and slowloris
//!   clients cannot hold descriptors forever; nor can a client that stops reading its answers
//!   (no write progress for the idle timeout closes the connection);
//! - a body longer than the limit is refused with a 413 as soon as its declared length or its
//!   running total passes the limit, so it is never held whole;
//! - a body that breaks off or is malformed ends its request with a 400 (if the client is still
//!   there to read it), never a panic; a request head hyper cannot parse (too large, a duplicate
//!   Content-Length) gets hyper's 431/414/400 with an OpenAI error body ([`super::parse_errors`]);
//! - nothing of a request outlives its answer.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, ALLOW, AUTHORIZATION, CONNECTION, CONTENT_LENGTH, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::sync::watch;

use super::pace::{self, whole, Body};
use super::parse_errors::ParseErrorBodies;
use super::{Endpoint, Shared};
use crate::openai::errors::ApiError;
use crate::openai::world::DRAW_STREAM_HEADER;
use crate::traceparent::TraceParent;

/// Bodies above this size are answered here, off the server thread, so one large request does
/// not hold up the others while it is parsed.
const BLOCKING_BODY_BYTES: usize = 256 * 1024;

const BACKOFF_MIN: Duration = Duration::from_millis(5);
const BACKOFF_MAX: Duration = Duration::from_secs(1);

/// What the front counts (besides the core's statistics).
#[derive(Debug, Default)]
pub(super) struct Counters {
    pub accept_errors: AtomicU64,
    pub open_connections: AtomicU64,
}

/// Runs the accept loop on `listener` until `shutdown` changes or its sender is dropped.
pub(super) async fn serve(
    listener: tokio::net::TcpListener,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<()>,
) {
    let mut backoff = Duration::ZERO;
    let mut failed = 0u64;
    loop {
        let accepted = tokio::select! {
            biased;
            _ = shutdown.changed() => return,
            a = listener.accept() => a,
        };
        match accepted {
            Ok((stream, _)) => {
                if failed > 0 {
                    eprintln!(
                        "postload stub: accepting connections again after {failed} failed accept() calls"
                    );
                    failed = 0;
                    backoff = Duration::ZERO;
                }
                tokio::spawn(connection(stream, Arc::clone(&shared)));
            }
            // The client gave up between connecting and our accept: nothing to do.
            Err(e) if is_per_connection(&e) => {}
            Err(e) => {
                shared
                    .counters
                    .accept_errors
                    .fetch_add(1, Ordering::Relaxed);
                failed += 1;
                if failed == 1 {
                    eprintln!(
                        "postload stub: cannot accept connections: {e} ({} open); retrying every {} ms at most until connections close (idle ones close after {} s)",
                        shared.counters.open_connections.load(Ordering::Relaxed),
                        BACKOFF_MAX.as_millis(),
                        shared.core.config().idle_timeout.as_secs_f64()
                    );
                }
                backoff = (backoff * 2).clamp(BACKOFF_MIN, BACKOFF_MAX);
                tokio::select! {
                    biased;
                    _ = shutdown.changed() => return,
                    _ = tokio::time::sleep(backoff) => {}
                }
            }
        }
    }
}

fn is_per_connection(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        ConnectionAborted | ConnectionReset | ConnectionRefused | Interrupted | WouldBlock
    )
}

/// Decrements the open-connection count when a connection task ends, however it ends.
struct OpenGuard(Arc<Shared>);

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0
            .counters
            .open_connections
            .fetch_sub(1, Ordering::Relaxed);
    }
}

async fn connection(stream: tokio::net::TcpStream, shared: Arc<Shared>) {
    shared
        .counters
        .open_connections
        .fetch_add(1, Ordering::Relaxed);
    let _guard = OpenGuard(Arc::clone(&shared));
    // A stream's parts are separate writes: with Nagle's algorithm the second waited for the
    // client's delayed ACK (about 40 ms of real time, × the time scale modelled).
    let _ = stream.set_nodelay(true);
    let idle = shared.core.config().idle_timeout;
    let service = hyper::service::service_fn(move |req| {
        let shared = Arc::clone(&shared);
        async move { Ok::<_, Infallible>(handle(shared, req).await) }
    });
    // hyper's header-read timer starts whenever the connection waits for a request head, so it
    // closes idle keep-alive connections and clients that trickle their headers alike.
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(idle);
    // Errors here are the client's (it went away, timed out, or sent garbage): the connection
    // simply ends.
    let io = WriteTimeout {
        io: ParseErrorBodies::new(TokioIo::new(stream)),
        timeout: idle,
        timer: None,
    };
    let _ = builder.serve_connection(io, service).await;
}

/// An I/O stream whose writes fail with `TimedOut` once they have made no progress for
/// `timeout`: a client that stops reading cannot hold its connection (and the answers queued
/// for it) forever. The timer exists only while a write is blocked.
struct WriteTimeout<T> {
    io: T,
    timeout: Duration,
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<T> WriteTimeout<T> {
    /// A write that could not proceed: pending until the timeout, then the error.
    fn stalled<R>(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<R>> {
        let timeout = self.timeout;
        let timer = self
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the client read nothing for the idle timeout",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn progress<R>(
        &mut self,
        cx: &mut Context<'_>,
        p: Poll<std::io::Result<R>>,
    ) -> Poll<std::io::Result<R>> {
        match p {
            Poll::Pending => self.stalled(cx),
            ready => {
                self.timer = None;
                ready
            }
        }
    }
}

impl<T: hyper::rt::Read + Unpin> hyper::rt::Read for WriteTimeout<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

impl<T: hyper::rt::Write + Unpin> hyper::rt::Write for WriteTimeout<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let p = Pin::new(&mut this.io).poll_write(cx, buf);
        this.progress(cx, p)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let p = Pin::new(&mut this.io).poll_write_vectored(cx, bufs);
        this.progress(cx, p)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let p = Pin::new(&mut this.io).poll_flush(cx);
        this.progress(cx, p)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let p = Pin::new(&mut this.io).poll_shutdown(cx);
        this.progress(cx, p)
    }
}

/// The routes, and the methods each allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    Chat,
    Responses,
    Models,
    Model,
    Stats,
    Traces,
    Reset,
}

fn route(path: &str) -> Option<(Route, Method)> {
    Some(match path {
        "/v1/chat/completions" => (Route::Chat, Method::POST),
        "/v1/responses" => (Route::Responses, Method::POST),
        "/v1/models" => (Route::Models, Method::GET),
        super::stats::STATS_PATH => (Route::Stats, Method::GET),
        "/__postload/traces" => (Route::Traces, Method::GET),
        "/__postload/reset" => (Route::Reset, Method::POST),
        p => match p.strip_prefix("/v1/models/") {
            Some(id) if !id.is_empty() && !id.contains('/') => (Route::Model, Method::GET),
            _ => return None,
        },
    })
}

async fn handle(shared: Arc<Shared>, req: Request<Incoming>) -> Response<Body> {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path();
    let Some((route, allowed)) = route(path) else {
        let e = ApiError::invalid_url(parts.method.as_str(), path);
        return shared.front_error(&e);
    };
    if parts.method != allowed {
        let e = ApiError::invalid_method(parts.method.as_str(), path);
        let mut r = shared.front_error(&e);
        r.headers_mut().insert(
            ALLOW,
            HeaderValue::from_str(allowed.as_str()).expect("a method is a valid header"),
        );
        return r;
    }
    let core = &shared.core;
    match route {
        Route::Stats => return json(200, &shared.stats()),
        Route::Traces => return json(200, &shared.traces().report()),
        Route::Reset => {
            shared.reset();
            return json(200, &serde_json::json!({"reset": true}));
        }
        _ => {}
    }
    // OpenAI's own routes need a bearer token (any will do); our control routes do not.
    if !has_bearer_token(parts.headers.get(AUTHORIZATION)) {
        let e = ApiError::missing_api_key();
        return match route {
            Route::Chat => shared.chat_front_error(&e, Endpoint::Chat),
            Route::Responses => shared.chat_front_error(&e, Endpoint::Responses),
            _ => shared.front_error(&e),
        };
    }
    match route {
        Route::Models => json(200, &core.models_body()),
        Route::Model => {
            let id = path.rsplit('/').next().unwrap_or_default();
            match core.config().catalog.model(id) {
                Some(m) => json(
                    200,
                    &serde_json::json!({
                        "id": m.id, "object": "model", "created": 1_715_367_049u64, "owned_by": "system"
                    }),
                ),
                None => shared.front_error(&ApiError::model_not_found(id)),
            }
        }
        Route::Chat | Route::Responses => {
            let endpoint = match route {
                Route::Chat => Endpoint::Chat,
                _ => Endpoint::Responses,
            };
            let body = match read_body(&shared, &parts.headers, body, endpoint).await {
                Ok(b) => b,
                Err(r) => return r,
            };
            let stream = parts
                .headers
                .get(DRAW_STREAM_HEADER)
                .map(|v| v.to_str().unwrap_or("(not text)").to_owned());
            // The official SDKs number their retries; anything else counts as a first attempt.
            let retry: u32 = parts
                .headers
                .get("x-stainless-retry-count")
                .and_then(|v| v.to_str().ok()?.trim().parse().ok())
                .unwrap_or(0);
            let trace = parts
                .headers
                .get(crate::traceparent::HEADER)
                .and_then(|v| TraceParent::parse(v.to_str().ok()?));
            // The modelled latency runs from here: the stub's own work is inside it.
            let read = tokio::time::Instant::now();
            let reply = if body.len() > BLOCKING_BODY_BYTES {
                let answering = Arc::clone(&shared);
                match tokio::task::spawn_blocking(move || {
                    answering.chat(&body, stream.as_deref(), retry, trace, endpoint)
                })
                .await
                {
                    Ok(r) => r,
                    Err(_) => return shared.chat_front_error(&ApiError::server_error(), endpoint),
                }
            } else {
                shared.chat(&body, stream.as_deref(), retry, trace, endpoint)
            };
            // The body is gone: only the answer waits out the modelled latency.
            pace::deliver(reply, core.clock().scale(), read).await
        }
        Route::Stats | Route::Traces | Route::Reset => unreachable!("answered above"),
    }
}

/// `Authorization: Bearer <token>` with a non-empty token.
fn has_bearer_token(value: Option<&HeaderValue>) -> bool {
    let Some(v) = value.and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let mut words = v.split_whitespace();
    matches!(
        (words.next(), words.next(), words.next()),
        (Some(scheme), Some(_token), None) if scheme.eq_ignore_ascii_case("bearer")
    )
}

/// Reads a chat body of at most the configured limit within the idle timeout; any other
/// outcome is the answer to send instead.
async fn read_body(
    shared: &Shared,
    headers: &hyper::HeaderMap,
    body: Incoming,
    endpoint: Endpoint,
) -> Result<Bytes, Response<Body>> {
    let config = shared.core.config();
    let limit = config.max_body_bytes;
    let too_large = || {
        let mut r = shared.chat_front_error(&ApiError::body_too_large(limit), endpoint);
        // The rest of the body is never read: the connection cannot carry another request.
        r.headers_mut()
            .insert(CONNECTION, HeaderValue::from_static("close"));
        r
    };
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    match tokio::time::timeout(config.idle_timeout, read_whole(Limited::new(body, limit))).await {
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(e)) if e.is::<LengthLimitError>() => Err(too_large()),
        // The client went away mid-body, or sent a malformed chunk.
        Ok(Err(_)) => Err(shared.chat_front_error(&ApiError::unparsable_json(), endpoint)),
        Err(_) => {
            let mut r =
                shared.chat_front_error(&ApiError::body_timeout(config.idle_timeout), endpoint);
            r.headers_mut()
                .insert(CONNECTION, HeaderValue::from_static("close"));
            Err(r)
        }
    }
}

/// The body's bytes in one buffer, grown as they come: the body is held once (collecting its
/// frames and then joining them held it twice).
async fn read_whole<B>(mut body: B) -> Result<Bytes, B::Error>
where
    B: hyper::body::Body<Data = Bytes> + Unpin,
{
    let mut all = Vec::new();
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame?.into_data() {
            all.extend_from_slice(&data);
        }
    }
    Ok(Bytes::from(all))
}

fn json<T: serde::Serialize>(status: u16, value: &T) -> Response<Body> {
    let body = serde_json::to_vec(value).expect("plain data always serializes");
    let mut r = Response::new(whole(Bytes::from(body)));
    *r.status_mut() = StatusCode::from_u16(status).expect("a valid status");
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

pub(super) fn error_response(e: &ApiError) -> Response<Body> {
    let mut r = Response::new(whole(Bytes::from(e.to_bytes())));
    *r.status_mut() = StatusCode::from_u16(e.status).expect("a valid status");
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_tokens_are_recognised() {
        let ok = |s: &str| has_bearer_token(Some(&HeaderValue::from_str(s).unwrap()));
        assert!(ok("Bearer sk-abc") && ok("bearer x") && ok("Bearer  sk-abc "));
        assert!(!ok("Bearer") && !ok("Bearer ") && !ok("Basic dXNlcjpwYXNz") && !ok("sk-abc"));
        assert!(!ok("Bearer a b"));
        assert!(!has_bearer_token(None));
    }

    #[test]
    fn routes_and_their_methods() {
        assert_eq!(
            route("/v1/chat/completions"),
            Some((Route::Chat, Method::POST))
        );
        assert_eq!(
            route("/v1/models/gpt-4o"),
            Some((Route::Model, Method::GET))
        );
        assert_eq!(route("/v1/models/"), None);
        assert_eq!(route("/v1/models/a/b"), None);
        assert_eq!(route("/v1/chat/completion"), None);
        assert_eq!(
            route("/v1/responses"),
            Some((Route::Responses, Method::POST))
        );
    }
}
