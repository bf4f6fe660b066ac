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
