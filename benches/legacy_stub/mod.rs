//! The stub's engine before issue 12, for side-by-side benchmarks only: wiremock 0.6 serving the
//! same [`StubCore`], with the store compaction the stub used to bound wiremock's memory
//! (copied from `src/stub/mod.rs` as it was; the chat and reset routes only).

use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, Weak};

use postload::stub::StubCore;
use wiremock::http::HeaderName;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

pub struct LegacyStub {
    server: Arc<MockServer>,
    _shared: Arc<Shared>,
}

impl LegacyStub {
    pub fn base_url(&self) -> String {
        format!("{}/v1", self.server.uri())
    }
}

/// Starts wiremock on `listener` with the old default retain limit (10,000 requests).
pub async fn start(core: Arc<StubCore>, listener: TcpListener, retain_limit: u64) -> LegacyStub {
    let _ = postload::openai::tokens::bpe();
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
        compacting: AtomicBool::new(false),
    });
    let _ = shared.server.set(Arc::downgrade(&server));
    mount(&server, &shared).await;
    LegacyStub {
        server,
        _shared: shared,
    }
}

struct Shared {
    core: Arc<StubCore>,
    server: OnceLock<Weak<MockServer>>,
    retain_limit: u64,
    retained: AtomicU64,
    compacting: AtomicBool,
}

impl Shared {
    fn schedule_compaction(self: &Arc<Self>) {
        if self.compacting.swap(true, Ordering::AcqRel) {
            return;
        }
        let shared = Arc::clone(self);
        tokio::spawn(async move {
            if let Some(server) = shared.server.get().and_then(Weak::upgrade) {
                server.reset().await;
                mount(&server, &shared).await;
                shared.retained.store(0, Ordering::Relaxed);
            }
            shared.compacting.store(false, Ordering::Release);
        });
    }
}

async fn mount(server: &MockServer, shared: &Arc<Shared>) {
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(Responder {
            shared: Arc::clone(shared),
            reset: false,
        })
        .mount(server)
        .await;
    Mock::given(method("POST"))
        .and(path("/__postload/reset"))
        .respond_with(Responder {
            shared: Arc::clone(shared),
            reset: true,
        })
        .mount(server)
        .await;
}

struct Responder {
    shared: Arc<Shared>,
    reset: bool,
}

impl Respond for Responder {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let shared = &self.shared;
        let held = shared.retained.fetch_add(1, Ordering::Relaxed) + 1;
        if shared.retain_limit > 0 && held >= shared.retain_limit {
            shared.schedule_compaction();
        }
        if self.reset {
            shared.core.reset();
            shared.schedule_compaction();
            return ResponseTemplate::new(200).set_body_json(serde_json::json!({"reset": true}));
        }
        let stream = request
            .headers
            .get(postload::openai::world::DRAW_STREAM_HEADER)
            .map(|v| v.to_str().unwrap_or("(not text)"));
        let reply = shared.core.chat(&request.body, stream);
        let mut t =
            ResponseTemplate::new(reply.status).set_body_raw(reply.body, reply.content_type);
        for (name, value) in reply.headers {
            t = t.insert_header(HeaderName::from_static(name), value);
        }
        if !reply.delay.is_zero() {
            t = t.set_delay(reply.delay.div_f64(shared.core.clock().scale()));
        }
        t
    }
}
