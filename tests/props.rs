//! Property tests for every parser of user input: scenario, gate and claims files, the four
//! mocks files, result.json, .hlog and the stub's request bodies. Each input is a valid file
//! with random edits (numbers swapped for hostile ones, lines dropped, doubled or cut, bytes
//! inserted) or plain random bytes. Each parser must not panic, and must give either a value or
//! an error that names its file (the stub: a 4xx with OpenAI's error body).
//!
//! `cargo test` runs 48 cases per property (about a second each in a debug build). A longer run:
//! `PROPTEST_CASES=5000 cargo test --release --test tests props::`.

use std::sync::Arc;

use postload::clock::ManualClock;
use postload::openai::catalog::{
    Catalog, EMBEDDED_LATENCY, EMBEDDED_MODELS, EMBEDDED_PRICES, EMBEDDED_TIERS,
};
use postload::report::claims;
use postload::report::{Exporter, RunResult};
use postload::stub::{StubConfig, StubCore};
use proptest::prelude::*;

/// Values that break careless number handling.
const HOSTILE: &[&str] = &[
    "-1",
    "0",
    "-0",
    "1e300",
    "-1e300",
    "nan",
    "inf",
    "1e-300",
    "18446744073709551616",
    "99999999999999999999999999999",
    "4294967296",
    "65536",
    "256",
    "0.5",
    "\"x\"",
    "[]",
    "{}",
    "true",
    "\"\"",
    "\"../../x\"",
];

/// One edit of a text.
#[derive(Debug, Clone)]
enum Edit {
    /// Replace the n-th number in the text by a hostile value.
    Number(usize, usize),
    /// Drop line n.
    DropLine(usize),
    /// Write line n twice.
    DoubleLine(usize),
    /// Cut the text at a point.
    Truncate(usize),
    /// Insert bytes at a point.
    Insert(usize, Vec<u8>),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        8 => (any::<usize>(), 0..HOSTILE.len()).prop_map(|(n, v)| Edit::Number(n, v)),
        1 => any::<usize>().prop_map(Edit::DropLine),
        1 => any::<usize>().prop_map(Edit::DoubleLine),
        1 => any::<usize>().prop_map(Edit::Truncate),
        1 => (any::<usize>(), proptest::collection::vec(any::<u8>(), 1..8))
            .prop_map(|(at, b)| Edit::Insert(at, b)),
    ]
}

/// Spans of the numbers in `text` outside quoted strings (digits with a sign, dots, exponents
/// and underscores), not counting digits inside names such as `p99_99`.
fn numbers(text: &str) -> Vec<(usize, usize)> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut quoted = false;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'"' => quoted = !quoted,
            b'\n' => quoted = false,
            c if !quoted
                && c.is_ascii_digit()
                && (i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_')) =>
            {
                let start = if i > 0 && b[i - 1] == b'-' { i - 1 } else { i };
                let mut j = i;
                while j < b.len() && (b[j].is_ascii_digit() || matches!(b[j], b'.' | b'e' | b'_')) {
                    j += 1;
                }
                out.push((start, j));
                i = j;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    out
}

fn apply(text: &str, edits: &[Edit]) -> Vec<u8> {
    let mut s = text.to_string();
    for e in edits {
        match e {
            Edit::Number(n, v) => {
                let spans = numbers(&s);
                if let Some(&(a, b)) = spans.get(n % spans.len().max(1)) {
                    s.replace_range(a..b, HOSTILE[*v]);
                }
            }
            Edit::DropLine(n) | Edit::DoubleLine(n) => {
                let mut lines: Vec<&str> = s.lines().collect();
                if !lines.is_empty() {
                    let i = n % lines.len();
                    if matches!(e, Edit::DropLine(_)) {
                        lines.remove(i);
                    } else {
                        lines.insert(i, lines[i]);
                    }
                }
                s = lines.join("\n");
            }
            Edit::Truncate(at) => {
                let mut at = at % (s.len() + 1);
                while !s.is_char_boundary(at) {
                    at -= 1;
                }
                s.truncate(at);
            }
            Edit::Insert(at, bytes) => {
                let mut v = s.into_bytes();
                let at = at % (v.len() + 1);
                v.splice(at..at, bytes.iter().copied());
                return v;
            }
        }
    }
    s.into_bytes()
}

/// A valid text with 0 to 4 edits, or random bytes.
fn hostile(valid: &'static str) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        9 => proptest::collection::vec(edit(), 0..5).prop_map(move |e| apply(valid, &e)),
        1 => proptest::collection::vec(any::<u8>(), 0..200),
    ]
}

/// 128 cases from a fixed seed, so `cargo test` is repeatable; `PROPTEST_CASES` and
/// `PROPTEST_RNG_SEED` (proptest's own variables) explore further.
fn config() -> ProptestConfig {
    let env = |name: &str| std::env::var(name).ok().and_then(|v| v.parse::<u64>().ok());
    ProptestConfig {
        cases: env("PROPTEST_CASES").map_or(128, |c| c.min(u64::from(u32::MAX)) as u32),
        rng_seed: proptest::test_runner::RngSeed::Fixed(env("PROPTEST_RNG_SEED").unwrap_or(1)),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

const SCENARIO: &str = include_str!("../scenarios/burst-50.toml");
const SUSTAINED: &str = include_str!("../scenarios/sustained.toml");
const GATE: &str = include_str!("../gates/tier2-bursts.toml");
const RESULT: &str = include_str!("fixtures/result-default-run.json");
const CHAT: &str = r#"{"model":"gpt-4o","messages":[{"role":"system","content":"You write captions."},{"role":"user","content":"A bakery on Main Street, 20% off croissants."}],"max_tokens":200,"temperature":0.7,"n":1,"stop":["\n\n"],"stream":false,"response_format":{"type":"text"},"top_logprobs":2,"logprobs":true}"#;

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn scenario_files_parse_or_name_the_file(a in hostile(SCENARIO), b in hostile(SUSTAINED)) {
        for bytes in [a, b] {
            if let Err(e) = postload::scenario::Scenario::parse("bad.toml", &text(&bytes)) {
                prop_assert!(e.to_string().contains("bad.toml"), "{e}");
            }
        }
    }

    #[test]
    fn gate_files_parse_or_name_the_file(bytes in hostile(GATE)) {
        if let Err(e) = postload::gate::parse("gate.toml", &text(&bytes)) {
            prop_assert!(e.contains("gate.toml"), "{e}");
        }
    }

    #[test]
    fn claims_files_parse_or_name_the_file(bytes in hostile(claims::EMBEDDED_CLAIMS)) {
        if let Err(e) = claims::parse("claims.toml", &text(&bytes)) {
            prop_assert!(e.contains("claims.toml"), "{e}");
        }
    }

    /// A mocks file that passes its check must serve: the stub draws every model's latency and
    /// length from it without panicking.
    #[test]
    fn mocks_files_parse_or_name_the_file_and_what_parses_serves(
        (which, bytes) in prop_oneof![
            hostile(EMBEDDED_MODELS).prop_map(|b| (0usize, b)),
            hostile(EMBEDDED_TIERS).prop_map(|b| (1, b)),
            hostile(EMBEDDED_LATENCY).prop_map(|b| (2, b)),
            hostile(EMBEDDED_PRICES).prop_map(|b| (3, b)),
        ],
        seed in any::<u64>(),
    ) {
        let names = ["models.toml", "tiers.toml", "latency.toml", "prices.toml"];
        let mut files = [
            (names[0].to_string(), EMBEDDED_MODELS.to_string()),
            (names[1].to_string(), EMBEDDED_TIERS.to_string()),
            (names[2].to_string(), EMBEDDED_LATENCY.to_string()),
            (names[3].to_string(), EMBEDDED_PRICES.to_string()),
        ];
        files[which].1 = text(&bytes);
        match Catalog::from_texts(files) {
            Err(e) => {
                let e = e.to_string();
                prop_assert!(names.iter().any(|n| e.contains(n)), "{e}");
            }
            Ok(catalog) => {
                // Every profile at the extremes of its draws: far tails of the score, the
                // slowest and fastest speeds (any seed), the largest token counts.
                for profile in catalog.profiles.values() {
                    for z in [-50.0, -3.0, 0.0, 1.7, 2.4, 3.8, 50.0] {
                        let _ = profile.ttft_at(z);
                    }
                    let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(seed);
                    for _ in 0..8 {
                        let _ = profile.draw_completion_tokens(&mut rng);
                        let _ = profile.draw_call(&mut rng, u32::MAX, u32::MAX);
                    }
                }
                let catalog = Arc::new(catalog);
                let mut c = StubConfig::new(Arc::clone(&catalog));
                c.seed = seed;
                c.tier = 5;
                if let Ok(core) = StubCore::new(c, Arc::new(ManualClock::new())) {
                    for model in catalog.models.iter().map(|m| m.id.clone()) {
                        let body = CHAT.replace("gpt-4o", &model);
                        let reply = core.chat(body.as_bytes(), Some("7"));
                        prop_assert!((200..600).contains(&reply.status));
                    }
                }
            }
        }
    }

    /// result.json from a user: parse it, and what parses renders as Markdown without a panic.
    #[test]
    fn result_json_parses_or_errs_and_what_parses_renders(bytes in hostile(RESULT)) {
        if let Ok(result) = serde_json::from_slice::<RunResult>(&bytes) {
            let exporter = postload::report::markdown::MarkdownExporter {
                claims: claims::parse("claims.toml", claims::EMBEDDED_CLAIMS).unwrap(),
                prices: Catalog::embedded().prices,
            };
            let _ = exporter.render(&result);
            let _ = postload::report::HlogExporter.outputs(&result);
        }
    }

    #[test]
    fn hlog_files_read_or_say_why(bytes in prop_oneof![
        hostile(HLOG.as_str()),
        proptest::collection::vec(any::<u8>(), 0..400),
    ]) {
        match postload::metrics::hlog::read_log(&bytes) {
            Ok(logs) => prop_assert!(logs.values().all(|h| h.len() < u64::MAX)),
            Err(e) => prop_assert!(!e.is_empty()),
        }
    }

    /// The stub's chat endpoint on hostile bodies: 200, or a 4xx with OpenAI's error body.
    #[test]
    fn stub_bodies_get_an_answer_or_an_openai_4xx(bytes in hostile(CHAT), stream in any::<Option<u8>>()) {
        let core = StubCore::new(StubConfig::new(Arc::new(Catalog::embedded())), Arc::new(ManualClock::new())).unwrap();
        let stream = stream.map(|s| s.to_string());
        let reply = core.chat(&bytes, stream.as_deref());
        if reply.status != 200 {
            prop_assert!((400..500).contains(&reply.status), "{}", reply.status);
            let body: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
            prop_assert!(body["error"]["message"].is_string(), "{body}");
            prop_assert!(body["error"]["type"].is_string(), "{body}");
        }
    }
}

/// A valid .hlog: two tagged histograms.
static HLOG: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let mut logs = std::collections::BTreeMap::new();
    for (tag, values) in [
        ("post", [1_000u64, 2_000, 30_000]),
        ("caption", [500, 700, 900]),
    ] {
        let mut h = hdrhistogram::Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).unwrap();
        for v in values {
            h.record(v).unwrap();
        }
        logs.insert(tag.to_string(), h);
    }
    let bytes = postload::metrics::hlog::write_log(
        "props",
        std::time::UNIX_EPOCH,
        std::time::Duration::from_secs(1),
        &logs,
    );
    String::from_utf8(bytes).unwrap()
});
