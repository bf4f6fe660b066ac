//! Helpers: start the stub on 127.0.0.1 port 0 with a chosen configuration and clock.

use std::sync::Arc;
use std::time::Duration;

use postload::clock::{Clock, ManualClock};
use postload::openai::catalog::Catalog;
use postload::stub::{self, StubConfig, StubHandle};
use serde_json::{json, Value};

pub fn config() -> StubConfig {
    let mut c = StubConfig::new(Arc::new(Catalog::embedded()));
    c.fixed_latency = Some(Duration::ZERO);
    c
}

pub async fn start(config: StubConfig) -> StubHandle {
    start_clocked(config, Arc::new(ManualClock::new())).await
}

pub async fn start_clocked(config: StubConfig, clock: Arc<dyn Clock>) -> StubHandle {
    let listener = stub::bind_loopback(0).expect("bind 127.0.0.1:0");
    stub::start_with_clock(config, listener, clock)
        .await
        .expect("stub starts")
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client")
}

pub fn chat_body(model: &str, prompt: &str, max_tokens: Option<u32>) -> Value {
    let mut b = json!({
        "model": model,
        "messages": [
            {"role": "system", "content": "You write short marketing captions."},
            {"role": "user", "content": prompt}
        ]
    });
    if let Some(m) = max_tokens {
        b["max_tokens"] = json!(m);
    }
    b
}

pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| v.to_str().expect("ascii header").to_string())
    }
}

pub async fn post_raw(client: &reqwest::Client, stub: &StubHandle, body: Vec<u8>) -> Answer {
    let r = client
        .post(format!("{}/chat/completions", stub.base_url()))
        .header("content-type", "application/json")
        .header("authorization", "Bearer sk-test-not-a-real-key")
        .body(body)
        .send()
        .await
        .expect("request reaches the stub");
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let text = r.text().await.expect("body");
    Answer {
        status,
        headers,
        text,
    }
}

pub async fn post(client: &reqwest::Client, stub: &StubHandle, body: &Value) -> Answer {
    post_raw(client, stub, serde_json::to_vec(body).unwrap()).await
}

/// Goose keeps process-wide state (its killswitch and logger): attacks in this test binary run
/// one at a time.
pub async fn goose_lock() -> tokio::sync::MutexGuard<'static, ()> {
    static LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    LOCK.lock().await
}

/// A fresh folder under the system's temporary directory.
pub fn tempdir(tag: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!(
        "postload-test-{tag}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The one run folder under `report_dir` and its result.json.
pub fn read_result(report_dir: &std::path::Path) -> (std::path::PathBuf, Value) {
    let runs: Vec<_> = std::fs::read_dir(report_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(runs.len(), 1, "{runs:?}");
    let text = std::fs::read_to_string(runs[0].join("result.json")).unwrap();
    (runs[0].clone(), serde_json::from_str(&text).unwrap())
}

/// The source a calibrated overlay's entries name (as `postload calibrate` writes them).
pub const CALIBRATED: &str = "calibrated against example.test on 2026-12-01";

/// A `--mocks` folder as `calibrate` leaves it: tier set `account` and the latency profiles, each
/// sourced [`CALIBRATED`]; fixed 20 ms latencies, so that runs and plans on it are quick.
pub fn calibrated_mocks(tag: &str) -> std::path::PathBuf {
    let dir = tempdir(tag);
    let profile = |name: &str| {
        format!(
            "[profiles.{name}]\nkind = \"fixed\"\nas_of = \"2026-12-01\"\nsource = \"{CALIBRATED}: 40 calls\"\n\
             latency_ms = 20\nfixed_completion_tokens = 100\n\n"
        )
    };
    let latency: String = ["gpt-4o", "gpt-4o-mini", "fixed"].map(profile).concat();
    std::fs::write(dir.join("latency.toml"), latency).unwrap();
    let tiers = format!(
        "default_set = \"account\"\n[sets.account]\nas_of = \"2026-12-01\"\n\
         source = \"{CALIBRATED}: rate-limit headers\"\n[[sets.account.tier]]\ntier = 1\n\
         qualification = \"the account\"\nlimits.gpt-4o = {{ rpm = 500, tpm = 30000 }}\n\
         limits.gpt-4o-mini = {{ rpm = 500, tpm = 200000 }}\n"
    );
    std::fs::write(dir.join("tiers.toml"), tiers).unwrap();
    dir
}

/// A loopback port that refuses connections for as long as the guard lives: bound but never
/// listening, so no other socket can be given the number. (Binding port 0, letting it go and
/// then using the number raced: a test started in between could be given it and answer.)
pub struct ClosedPort {
    _socket: socket2::Socket,
    pub port: u16,
}

pub fn closed_port() -> ClosedPort {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).expect("a TCP socket");
    let any = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    socket.bind(&any.into()).expect("bind 127.0.0.1:0");
    let port = socket
        .local_addr()
        .unwrap()
        .as_socket()
        .expect("an IP address")
        .port();
    ClosedPort {
        _socket: socket,
        port,
    }
}

/// The lowest port the kernel hands out for port 0 (Linux's `ip_local_port_range`; 32,768, its
/// default, where the file cannot be read).
fn ephemeral_low() -> u16 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|t| t.split_whitespace().next()?.parse().ok())
        .unwrap_or(32_768)
}

/// The first port [`unused_port`] hands out from.
const FIXED_PORTS_FROM: u16 = 10_000;

/// A free loopback port for code that binds it by number itself (`--with-stub PORT`, a service's
/// OpenAI URL). Chosen below the kernel's ephemeral range, where no port-0 bind (every other
/// test's stub, service and client socket) can be given it, and never twice in this process;
/// free when chosen (other processes choosing fixed ports are the one race left, and unlikely).
/// Binding port 0 and letting it go raced with every port-0 bind in between.
pub fn unused_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let low = ephemeral_low();
    let span = u32::from(low.saturating_sub(FIXED_PORTS_FROM));
    if span < 1_000 {
        eprintln!("no fixed port range below the ephemeral range (from {low}): port 0's number");
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        return l.local_addr().unwrap().port();
    }
    // Processes running these tests at once start at different places.
    let start = std::process::id().wrapping_mul(7_919) % span;
    for _ in 0..span {
        let k = (start + NEXT.fetch_add(1, Ordering::SeqCst)) % span;
        let port = FIXED_PORTS_FROM + k as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port from {FIXED_PORTS_FROM} to {low}");
}
