//! The session's rules (the first call, pacing at half the limits, a stream sent whole) and the
//! model's time bound, on paused time.

use super::*;
use crate::commands::calibrate::client::Caller;
use crate::metrics::budget::Budget;

/// A session's context for calls to `addr` on loopback (no key, K = 1), `concurrency` at a time,
/// each given `call_timeout`, charged to `budget`, with no signal and the model's time bound.
pub(super) fn context(
    addr: std::net::SocketAddr,
    budget: &Arc<Mutex<Budget>>,
    call_timeout: Duration,
    concurrency: u32,
) -> Arc<Context> {
    Arc::new(Context {
        caller: Caller {
            client: reqwest::Client::builder().no_proxy().build().unwrap(),
            url: format!("http://{addr}/v1/chat/completions"),
            api_key: None,
            time_scale: crate::clock::TimeScale::ONE,
            call_timeout,
        },
        budget: Arc::clone(budget),
        concurrency,
        interrupted: Arc::new(std::sync::atomic::AtomicBool::new(false)),
        hurry: Arc::new(std::sync::atomic::AtomicBool::new(false)),
        model_time: Duration::from_millis(MAX_MODEL_TIME_MS),
    })
}

fn spec(purpose: Purpose, prompt: u32, max: u32) -> CallSpec {
    CallSpec {
        model: "gpt-4o".into(),
        purpose,
        prompt_tokens: prompt,
        max_tokens: max,
        shared_prefix_tokens: 0,
    }
}

#[test]
fn the_first_call_is_the_longest_speed_call() {
    let specs = [
        spec(Purpose::Probe, 50, 1),
        spec(Purpose::Speed, 50, 300),
        spec(Purpose::Caption, 1_200, 600),
        spec(Purpose::Speed, 50, 400),
        spec(Purpose::Speed, 50, 400),
    ];
    assert_eq!(first_call(&specs), 3);
    assert_eq!(first_call(&specs[..1]), 0);
}

#[test]
fn pacing_keeps_to_half_the_limits() {
    let limits = AccountLimits {
        rpm: Some(600),
        tpm: Some(60_000),
        ..AccountLimits::default()
    };
    // 600 RPM at half: one request every 0.2 s; 1,000 tokens at 30,000 TPM: 2 s.
    assert_eq!(pace_gap_ms(&limits, &spec(Purpose::Probe, 10, 10)), 200.0);
    assert_eq!(
        pace_gap_ms(&limits, &spec(Purpose::Caption, 900, 100)),
        2_000.0
    );
    assert_eq!(
        pace_gap_ms(&AccountLimits::default(), &spec(Purpose::Probe, 10, 10)),
        0.0
    );
    // 1 RPM / 1 TPM (the issue's): 120 s per request, and 1,000 tokens at 0.5 TPM is
    // 120,000 s (33 h): far past the bound, so the model is given up.
    let tiny = AccountLimits {
        rpm: Some(1),
        tpm: Some(1),
        ..AccountLimits::default()
    };
    assert_eq!(
        pace_gap_ms(&tiny, &spec(Purpose::Caption, 900, 100)),
        120_000_000.0
    );
    assert!(pace_gap_ms(&tiny, &spec(Purpose::Probe, 10, 10)) > MAX_PACE_GAP_MS as f64);
}

#[test]
fn a_stream_sent_whole_is_not_timed() {
    let obs = |first: Option<f64>, latency: f64, tokens: u32| Observation {
        purpose: Purpose::Speed,
        prompt_tokens: 50,
        completion_tokens: tokens,
        cached_tokens: 0,
        reasoning_tokens: 0,
        latency_ms: latency,
        first_token_ms: first,
    };
    assert!(streams_as_written(&obs(Some(600.0), 3_000.0, 200)));
    assert!(!streams_as_written(&obs(Some(2_990.0), 3_000.0, 200)));
    assert!(!streams_as_written(&obs(None, 3_000.0, 200)));
    assert!(!streams_as_written(&obs(Some(600.0), 3_000.0, 2)));
}

#[tokio::test(start_paused = true)]
async fn a_model_past_its_time_bound_is_cut_and_its_calls_in_flight_abandoned() {
    // A server that takes the call and never answers. The call's own bound is set past
    // the model's, so the model's bound (30 min modelled) is what ends it: no call after
    // it, the call in flight gets the 2 s grace, then is abandoned at its worst case.
    use tokio::io::AsyncReadExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await.unwrap();
        let mut buf = vec![0u8; 1 << 16];
        while sock.read(&mut buf).await.is_ok_and(|n| n > 0) {}
    });
    let budget = Arc::new(Mutex::new(Budget::new(f64::INFINITY)));
    let ctx = context(addr, &budget, Duration::from_secs(10 * 3_600), 2);
    let specs = vec![spec(Purpose::Speed, 50, 400), spec(Purpose::Probe, 50, 1)];
    let bodies = vec![serde_json::json!({}), serde_json::json!({})];
    // gpt-4o's prices: the speed call's worst case is its prompt at the largest count believed
    // (2 × 50 + 64 = 164) and 400 out: 164 × 2.5 + 400 × 10 = 4,410 per 1M.
    let price = Price {
        input: 2.5,
        cached_input: Some(1.25),
        output: 10.0,
    };
    let started = tokio::time::Instant::now();
    let run = run_model(
        ctx,
        "gpt-4o",
        price,
        specs,
        bodies,
        StreamArg::Auto,
        Watch::off(),
    )
    .await;
    let took = started.elapsed();
    assert_eq!((run.attempts, run.abandoned), (1, 1), "{run:?}");
    assert!(
        run.notes[0].contains("stopped after 30 min"),
        "{:?}",
        run.notes
    );
    assert!(
        run.notes[1].contains("abandoned 2 s after the time bound"),
        "{:?}",
        run.notes
    );
    let b = budget.lock().unwrap();
    assert!(
        (b.spent_usd() - 0.004_41).abs() < 1e-12,
        "{}",
        b.spent_usd()
    );
    assert_eq!(b.reserved_usd(), 0.0);
    // In paused time: 30 min, then the 2 s grace (and a poll step or two).
    assert!(
        took >= Duration::from_secs(1_802) && took < Duration::from_secs(1_803),
        "{took:?}"
    );
}
