//! The spend guard inside one model's calls. `calibrate` refuses (exit 2) a cap below the worst
//! case of all its calls before sending, and a call never costs more than its reservation, so
//! from the command line the cap is not met; here the session itself is given a cap that only
//! some of its calls fit, and must stop at the first reservation that would pass it.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::*;
use crate::metrics::budget::Budget;

/// A server on loopback answering every call plainly with a usage of 50 prompt and 10
/// completion tokens; the count of calls it answered.
async fn billing_server() -> (std::net::SocketAddr, Arc<std::sync::atomic::AtomicU64>) {
    use std::sync::atomic::{AtomicU64, Ordering};
    let count = Arc::new(AtomicU64::new(0));
    let seen = Arc::clone(&count);
    let app = axum::Router::new().route(
        "/v1/chat/completions",
        axum::routing::post(move || {
            seen.fetch_add(1, Ordering::SeqCst);
            async {
                axum::Json(serde_json::json!({
                    "object": "chat.completion",
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": "x"}, "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 50, "completion_tokens": 10, "total_tokens": 60}
                }))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (addr, count)
}

#[tokio::test(start_paused = true)]
async fn a_cap_met_mid_model_stops_the_sending_and_keeps_what_was_answered() {
    // gpt-4o's prices ($2.50 / $10 per 1M). Each call's worst case: the largest believed
    // prompt, 2 × 50 + 64 = 164, and 100 out: 164 × 2.5 + 100 × 10 = 1,410 per 1M. Each
    // answer bills 50 × 2.5 + 10 × 10 = 225 per 1M. One call at a time against a cap of
    // 3,525 per 1M: call k + 1 goes while k × 225 + 1,410 <= 3,525, so k <= 9.4: ten calls go,
    // the eleventh is refused, the twelfth never asked for. Spent: 10 × 225 = 2,250 per 1M.
    let (addr, count) = billing_server().await;
    let budget = Arc::new(Mutex::new(Budget::new(0.003_525)));
    let ctx = super::tests::context(addr, &budget, Duration::from_secs(60), 1);
    let spec = CallSpec {
        model: "gpt-4o".into(),
        purpose: Purpose::Speed,
        prompt_tokens: 50,
        max_tokens: 100,
        shared_prefix_tokens: 0,
    };
    let price = Price {
        input: 2.5,
        cached_input: Some(1.25),
        output: 10.0,
    };
    let run = run_model(
        ctx,
        "gpt-4o",
        price,
        vec![spec; 12],
        vec![serde_json::json!({}); 12],
        StreamArg::Off,
        Watch::off(),
    )
    .await;
    assert!(run.stopped_by_cap, "{run:?}");
    assert_eq!(run.attempts, 10, "{run:?}");
    assert_eq!(run.observations.len(), 10, "{run:?}");
    assert_eq!(count.load(std::sync::atomic::Ordering::SeqCst), 10);
    let b = budget.lock().unwrap();
    assert_eq!(b.refused(), 1);
    assert!(b.tripped());
    assert!(
        (b.spent_usd() - 0.002_25).abs() < 1e-12,
        "{}",
        b.spent_usd()
    );
    assert_eq!(b.reserved_usd(), 0.0);
}
