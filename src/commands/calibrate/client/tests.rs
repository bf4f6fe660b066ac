//! The client's readers against hostile answers: usage values, rate-limit headers and stream
//! framing (property tests, as tests/props.rs does for the files), and servers on 127.0.0.1 that
//! drip or never end (in paused tokio time: no real waiting).

use super::*;

#[test]
fn the_first_content_delta_is_found_across_chunk_boundaries() {
    let mut r = SseReader::default();
    assert_eq!(
        r.feed(b"data: {\"choices\":[{\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\n"),
        Ok(false)
    );
    assert_eq!(r.feed(b"data: {\"choices\":[{\"delta\":{\"cont"), Ok(false));
    assert_eq!(r.feed(b"ent\":\"Hi\"}}]}\n\n"), Ok(true));
    // Only the first content delta counts as the first.
    assert_eq!(
        r.feed(b"data: {\"choices\":[{\"delta\":{\"content\":\"x\"}}]}\n"),
        Ok(false)
    );
    let mut junk = SseReader::default();
    assert_eq!(
        junk.feed(b"data: not json\n\ndata: [DONE]\n\n: comment\n"),
        Ok(false)
    );
}

#[test]
fn usage_from_a_stream_or_a_completion_or_a_refusal() {
    let stream = b"data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}],\"usage\":null}\n\n\
data: {\"choices\":[],\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":1,\"prompt_tokens_details\":{\"cached_tokens\":0}}}\n\n\
data: [DONE]\n\n";
    assert_eq!(
        stream_usage(stream, Asked::default()),
        Ok(UsageRead::Tokens(Tokens {
            prompt: 12,
            cached: 0,
            completion: 1
        }))
    );
    assert_eq!(
        stream_usage(b"data: {\"choices\":[]}\n\n", Asked::default()),
        Ok(UsageRead::Missing)
    );
    assert!(stream_usage(b"<html>", Asked::default()).is_err());
    let plain = br#"{"choices":[{"message":{"content":"x"}}],"usage":{"prompt_tokens":5,"completion_tokens":1}}"#;
    assert!(matches!(
        completion_usage(plain, Asked::default()),
        Ok(UsageRead::Tokens(_))
    ));
    assert_eq!(
        completion_usage(
            br#"{"choices":[{"message":{}}],"usage":"lots"}"#,
            Asked::default()
        ),
        Ok(UsageRead::Bad)
    );
    assert!(completion_usage(b"{}", Asked::default()).is_err());
    assert!(completion_usage(b"\xff\xfe", Asked::default()).is_err());
}

#[test]
fn a_5_mib_stream_line_in_64_byte_chunks_is_cut_at_the_line_cap() {
    // Before: the pending line was re-scanned from its start on every chunk: a 5 MiB line
    // without a newline, in 64-byte chunks, cost 77 s of CPU. Now each byte is looked at once
    // and the line stops at 64 KiB: 65,536 / 64 = 1,024 chunks fit, the 1,025th is refused.
    let mut r = SseReader::default();
    let chunk = [b'x'; 64];
    let mut fed = 0usize;
    let err = loop {
        match r.feed(&chunk) {
            Ok(_) => fed += chunk.len(),
            Err(e) => break e,
        }
        assert!(fed <= 5 << 20, "never refused");
    };
    assert_eq!(fed, MAX_SSE_LINE_BYTES);
    assert!(err.contains("a line of the stream passed"), "{err}");
    assert!(r.pending.len() <= MAX_SSE_LINE_BYTES);
    // A complete line longer than the cap in one chunk is refused too.
    let mut long = b"data: ".to_vec();
    long.extend(std::iter::repeat_n(b'x', MAX_SSE_LINE_BYTES));
    long.push(b'\n');
    assert!(SseReader::default().feed(&long).is_err());
}

#[test]
fn a_streamed_usage_above_max_tokens_is_impossible() {
    let stream = b"data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\n\
data: {\"choices\":[],\"usage\":{\"prompt_tokens\":60,\"completion_tokens\":9999999}}\n\ndata: [DONE]\n\n";
    let asked = Asked {
        prompt_tokens: Some(64),
        max_tokens: Some(1),
    };
    assert_eq!(stream_usage(stream, asked), Ok(UsageRead::Bad));
}

fn spec() -> CallSpec {
    CallSpec {
        model: "gpt-4o".into(),
        purpose: crate::calibrate::Purpose::Speed,
        prompt_tokens: 64,
        max_tokens: 100,
        shared_prefix_tokens: 0,
    }
}

/// A server on 127.0.0.1:0 that answers one connection with `head`, then `piece` every
/// second, forever (in the test's paused time).
async fn never_ending(head: &'static [u8], piece: &'static [u8]) -> std::net::SocketAddr {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await.unwrap();
        let mut buf = vec![0u8; 64 << 10];
        let _ = sock.read(&mut buf).await;
        if sock.write_all(head).await.is_err() {
            return;
        }
        loop {
            if sock.write_all(piece).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
    addr
}

fn caller(addr: std::net::SocketAddr) -> Caller {
    Caller {
        client: reqwest::Client::builder().no_proxy().build().unwrap(),
        url: format!("http://{addr}/v1/chat/completions"),
        api_key: None,
        time_scale: crate::clock::TimeScale::ONE,
        call_timeout: Duration::from_secs(120),
    }
}

#[tokio::test(start_paused = true)]
async fn a_never_ending_stream_is_cut_at_the_call_time_bound() {
    // Before: a stream that never ends (a chunk a second) kept the call, and calibrate, alive
    // for as long as the server liked.
    let addr = never_ending(
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n",
        b"2f\r\ndata: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\n\r\n",
    )
    .await;
    let body = serde_json::json!({"model": "gpt-4o", "max_tokens": 100, "messages": []});
    let sent = caller(addr).send(&spec(), &body).await;
    assert_eq!(
        sent.outcome,
        CallOutcome::Failed("no whole answer within 120 s".into())
    );
    // Its answer was never read whole: the spend guard keeps its worst case.
    assert_eq!(sent.tokens, None);
}

#[tokio::test(start_paused = true)]
async fn a_dripping_body_is_cut_at_the_call_time_bound() {
    let addr = never_ending(
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 100000\r\n\r\n{",
        b" ",
    )
    .await;
    let body = serde_json::json!({"model": "gpt-4o", "max_tokens": 100, "messages": []});
    let sent = caller(addr).send(&spec(), &body).await;
    assert_eq!(
        sent.outcome,
        CallOutcome::Failed("no whole answer within 120 s".into())
    );
    assert_eq!(sent.tokens, None);
}

mod props {
    use super::*;
    use crate::metrics::usage::{prompt_plausible, MAX_USAGE_TOKENS};
    use crate::openai::catalog::{MAX_RPM, MAX_TPM};
    use proptest::prelude::*;

    /// Values that break careless number handling, as JSON.
    const HOSTILE: &[&str] = &[
        "-1",
        "0",
        "-0",
        "1e300",
        "1e-300",
        "0.5",
        "18446744073709551615",
        "18446744073709551616",
        "9999999",
        "10000001",
        "4294967296",
        "1",
        "64",
        "100",
        "\"7\"",
        "null",
        "[]",
        "{}",
        "true",
    ];

    fn number() -> impl Strategy<Value = String> {
        prop_oneof![
            proptest::sample::select(HOSTILE).prop_map(str::to_string),
            (0u64..300).prop_map(|n| n.to_string()),
        ]
    }

    /// A usage object with hostile counts, or something that is no usage at all.
    fn usage() -> impl Strategy<Value = String> {
        prop_oneof![
            4 => (number(), number(), proptest::option::of(number())).prop_map(|(p, c, k)| {
                let cached = k.map_or(String::new(), |k| {
                    format!(r#","prompt_tokens_details":{{"cached_tokens":{k}}}"#)
                });
                format!(r#"{{"prompt_tokens":{p},"completion_tokens":{c}{cached}}}"#)
            }),
            1 => proptest::sample::select(HOSTILE).prop_map(str::to_string),
        ]
    }

    /// A stream: content chunks, junk lines, a usage chunk, `[DONE]`, with hostile line ends.
    fn stream() -> impl Strategy<Value = Vec<u8>> {
        let line = prop_oneof![
            Just(r#"data: {"choices":[{"delta":{"content":"a"}}]}"#.to_string()),
            Just(r#"data: {"choices":[{"delta":{"content":""}}]}"#.to_string()),
            Just("data: [DONE]".to_string()),
            Just(": keep-alive".to_string()),
            Just("data: {\"choices\":[{\"delta\":{\"cont".to_string()),
            Just(String::new()),
            usage().prop_map(|u| format!(r#"data: {{"choices":[],"usage":{u}}}"#)),
            "[ -~]{0,40}",
        ];
        let end = prop_oneof![Just("\n"), Just("\r\n"), Just("\n\n"), Just("")];
        proptest::collection::vec((line, end), 0..12).prop_map(|lines| {
            lines
                .into_iter()
                .flat_map(|(l, e)| format!("{l}{e}").into_bytes())
                .collect()
        })
    }

    fn asked() -> impl Strategy<Value = Asked> {
        (
            proptest::option::of(0u64..2_000),
            proptest::option::of(0u64..300),
        )
            .prop_map(|(p, m)| Asked {
                prompt_tokens: p,
                max_tokens: m,
            })
    }

    /// A usage read as tokens keeps to everything the call asked and to the bounds.
    fn plausible(read: UsageRead, asked: Asked) -> Result<(), TestCaseError> {
        if let UsageRead::Tokens(t) = read {
            prop_assert!(t.prompt <= MAX_USAGE_TOKENS && t.completion <= MAX_USAGE_TOKENS);
            prop_assert!(t.cached <= t.prompt);
            if let Some(m) = asked.max_tokens {
                prop_assert!(t.completion <= m, "{t:?} above max_tokens {m}");
            }
            if let Some(p) = asked.prompt_tokens {
                prop_assert!(prompt_plausible(p, t.prompt), "{t:?} for a prompt of {p}");
            }
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn a_stream_reads_the_same_however_it_is_cut_and_never_trusts_its_usage(
            bytes in stream(),
            cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..8),
            asked in asked(),
        ) {
            let whole = stream_usage(&bytes, asked);
            let mut points: Vec<usize> = cuts.iter().map(|i| i.index(bytes.len() + 1)).collect();
            points.sort_unstable();
            let mut r = SseReader::default();
            let mut first = 0;
            let mut prev = 0;
            let mut pieces = Vec::new();
            for p in points.into_iter().chain([bytes.len()]) {
                pieces.push(&bytes[prev..p]);
                prev = p;
            }
            let mut cut = Ok(());
            for piece in pieces {
                match r.feed(piece) {
                    Ok(true) => first += 1,
                    Ok(false) => {}
                    Err(e) => { cut = Err(e); break; }
                }
            }
            let cut = cut.and_then(|()| r.finish()).and_then(|()| r.usage(asked));
            prop_assert_eq!(&cut, &whole);
            prop_assert!(first <= 1, "the first content delta was found {} times", first);
            if let Ok(read) = whole {
                plausible(read, asked)?;
            }
        }

        #[test]
        fn a_plain_answers_usage_is_never_trusted(u in usage(), asked in asked()) {
            let body = format!(r#"{{"choices":[{{"message":{{"content":"x"}}}}],"usage":{u}}}"#);
            if let Ok(read) = completion_usage(body.as_bytes(), asked) {
                plausible(read, asked)?;
            }
        }

        #[test]
        fn limit_headers_are_read_within_the_catalogs_bounds(
            values in proptest::collection::vec(
                prop_oneof![
                    number(),
                    "[0-9]{1,25}",
                    Just("6m0s".to_string()),
                    Just("1e300".to_string()),
                    Just("-1".to_string()),
                    "[0-9.]{1,6}(h|m|s|ms|us|ns){1,3}",
                ],
                9,
            )
        ) {
            let names = [
                "x-ratelimit-limit-requests",
                "x-ratelimit-limit-tokens",
                "x-ratelimit-remaining-requests",
                "x-ratelimit-remaining-tokens",
                "x-ratelimit-reset-requests",
                "x-ratelimit-reset-tokens",
                "retry-after-ms",
                "retry-after",
                "x-other",
            ];
            let header = |name: &str| names.iter().position(|n| *n == name).map(|i| values[i].as_str());
            let l = AccountLimits::from_headers(header);
            prop_assert!(l.rpm.is_none_or(|r| (1..=MAX_RPM).contains(&r)));
            prop_assert!(l.tpm.is_none_or(|t| (1..=MAX_TPM).contains(&t)));
            // A wait is at most a day (then the 60 s bound gives the model up).
            prop_assert!(l.wait_ms().is_none_or(|w| w <= 86_400_000));
            // A limit header present and out of range is named, never silently dropped.
            let ignored = AccountLimits::out_of_range(header);
            let named = |name: &str| ignored.iter().any(|n| n.starts_with(name));
            let count = |i: usize| values[i].trim().parse::<u64>().ok();
            prop_assert_eq!(named("x-ratelimit-limit-requests"), count(0).is_some() && l.rpm.is_none());
            prop_assert_eq!(named("x-ratelimit-limit-tokens"), count(1).is_some() && l.tpm.is_none());
        }
    }
}

/// A hand-made reasoning answer on an exact account (TTFT 500 ms after the reasoning, 50
/// tokens/s: 20 ms a token, prompt factor 100): 300 completion tokens of which 100 reasoning,
/// so 200 visible, streamed from 500 ms to 500 + 199 × 20 + 64 × 0.2 = 4,492.8 ms. Read as
/// written tokens, the speed is (199 + 0.64) × 1000 / 3,992.8 = 50.0 tokens/s; had the 300
/// completion tokens been counted, (299 + 0.64) / 3.9928 s = 75.0 tokens/s.
#[test]
fn a_reasoning_answer_counts_its_visible_tokens_as_written_and_records_its_reasoning() {
    let usage = serde_json::json!({"prompt_tokens": 64, "completion_tokens": 300,
        "completion_tokens_details": {"reasoning_tokens": 100}});
    let asked = Asked {
        prompt_tokens: Some(64),
        max_tokens: Some(1_024),
    };
    let read = read_call_usage(Some(&usage), asked);
    let t = read.tokens().unwrap();
    let visible = visible_completion(UsageShape::Chat, Some(&usage), read);
    let latency = 500.0 + 199.0 * 20.0 + 64.0 * 0.2;
    let CallOutcome::Answered(o) = observed(&spec(), t, visible, latency, Some(500.0)) else {
        panic!("an answer with visible tokens is an observation")
    };
    assert_eq!((o.completion_tokens, o.reasoning_tokens), (200, 100));
    let speed = (o.completion_tokens as f64 - 1.0 + o.prompt_tokens as f64 / 100.0) * 1000.0
        / (o.latency_ms - o.first_token_ms.unwrap());
    assert!((speed - 50.0).abs() < 1e-9, "{speed}");
    // The fit's own reading of such calls: all at 50 tokens/s.
    let mut obs: Vec<_> = (0..6)
        .map(|_| {
            let mut p = o.clone();
            p.purpose = crate::calibrate::Purpose::Probe;
            p.completion_tokens = 1;
            p.reasoning_tokens = 0;
            p.latency_ms = 500.0 + 64.0 * 0.2;
            p
        })
        .collect();
    for _ in 0..2 {
        let mut p = obs[0].clone();
        p.prompt_tokens = 1_200;
        p.latency_ms = 500.0 + 1_200.0 * 0.2;
        obs.push(p);
    }
    obs.extend((0..4).map(|_| o.clone()));
    let f = crate::calibrate::fit::fit("gpt-5-mini", &obs, &shipped(), "d", "s").unwrap();
    assert!((f.tokens_per_s_min.value - 50.0).abs() < 1e-6, "{f:?}");
    assert!((f.tokens_per_s_max.value - 50.0).abs() < 1e-6, "{f:?}");
}

/// An answer with no visible token whose usage says the reasoning took its tokens (OpenAI's
/// `length` with empty content) is no observation: counted, with its reasoning tokens.
#[test]
fn an_answer_whose_reasoning_spent_the_cap_is_no_observation() {
    let t = Tokens {
        prompt: 64,
        cached: 0,
        completion: 100,
    };
    assert_eq!(
        observed(&spec(), t, 0, 2_000.0, None),
        CallOutcome::ReasonedOut {
            reasoning_tokens: 100
        }
    );
    // A model that does not reason and wrote nothing is still an observation, as before.
    let none = Tokens { completion: 0, ..t };
    assert!(matches!(
        observed(&spec(), none, 0, 500.0, Some(500.0)),
        CallOutcome::Answered(_)
    ));
}

/// At a measured effort the same answer is what the call shows: an observation whose count is
/// censored at the cap (no visible token), for `calibrate::reasoning` to rank above the rest.
#[test]
fn at_a_measured_effort_reasoning_to_the_cap_is_a_censored_observation() {
    use crate::calibrate::reasoning::Count;
    use crate::openai::reasoning::Effort;
    let t = Tokens {
        prompt: 1_200,
        cached: 0,
        completion: 4_552,
    };
    let at_high = CallSpec {
        purpose: crate::calibrate::Purpose::Reasoning(Effort::High),
        max_tokens: 4_552,
        ..spec()
    };
    let CallOutcome::Answered(o) = observed(&at_high, t, 0, 60_000.0, None) else {
        panic!("an observation");
    };
    assert_eq!((o.completion_tokens, o.reasoning_tokens), (0, 4_552));
    assert_eq!(
        Count::of(&o),
        Count {
            tokens: 4_552,
            censored: true
        }
    );
}

fn shipped() -> crate::openai::latency::Profile {
    use crate::openai::latency::{LengthDist, Profile, Range, TtftPercentiles};
    Profile::HeavyTail {
        as_of: "2025-11-13".into(),
        source: "test".into(),
        ttft_ms: TtftPercentiles {
            p50: 890.0,
            p95: 1593.4,
            p99: 6291.3,
            p99_99: 9763.5,
        },
        output_tokens_per_s: Range {
            min: 50.0,
            max: 95.0,
        },
        prompt_tokens_per_output_token: 100.0,
        completion_tokens: LengthDist {
            median: 220,
            sigma: 0.35,
            min: 8,
            max: 2048,
        },
    }
}

/// A designed call is given 120 s; a call allowed more tokens its cap at 20 tokens/s after an
/// 11 s first token: 4,552 tokens 11 + 227.6 = 238.6 s, 13,512 tokens 11 + 675.6 = 686.6 s.
/// 1,024 tokens (a speed call) would take 62.2 s: the 120 s stands.
#[test]
fn a_call_allowed_more_tokens_is_given_the_time_its_cap_takes() {
    assert_eq!(call_limit_s(120.0, 1_024), 120.0);
    assert!((call_limit_s(120.0, 4_552) - 238.6).abs() < 1e-9);
    assert!((call_limit_s(120.0, 13_512) - 686.6).abs() < 1e-9);
    assert!((call_limit_s(600.0, 4_552) - 600.0).abs() < 1e-9);
}
