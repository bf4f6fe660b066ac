//! Where a calibration is, in figures: how long it is expected to take before it starts
//! ([`expected_duration`], from the pacing and the shipped latency), how long is left while it
//! runs ([`time_left`]), and the progress line's text ([`line`]). Pure: the command reads the
//! counts and the clock and writes the line.

use std::time::Duration;

use super::CallSpec;
use crate::openai::latency::Profile;

/// One call as the expected duration sees it (real time).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Paced {
    /// The pacing gap the limits ask after its send, before the next.
    pub gap: Duration,
    /// How long it takes, from its send to its last byte.
    pub takes: Duration,
}

/// How long a model's calls take, in the order they are sent: the first alone (the limits are
/// unknown at its send, so no gap follows it), then `concurrency` at a time, each send at least
/// the previous call's gap after it and only when a call in flight has ended; the calibration
/// ends with its last answer.
pub fn expected_duration(calls: &[Paced], concurrency: u32) -> Duration {
    let Some((first, rest)) = calls.split_first() else {
        return Duration::ZERO;
    };
    let mut free = vec![first.takes; concurrency.max(1) as usize];
    let mut next_send = first.takes;
    for call in rest {
        let (slot, at) = free
            .iter()
            .copied()
            .enumerate()
            .min_by_key(|(_, t)| *t)
            .unwrap_or((0, Duration::ZERO));
        let send = at.max(next_send);
        next_send = send + call.gap;
        free[slot] = send + call.takes;
    }
    free.into_iter().max().unwrap_or(Duration::ZERO)
}

/// What `spec` is expected to take at `profile`'s typical values (modelled time): the median
/// time to first token, then the answer (the model's median length, at most `max_tokens`) at the
/// middle of the speed range, plus the prompt's reading time.
pub fn expected_call(profile: &Profile, spec: &CallSpec) -> Duration {
    match profile {
        Profile::HeavyTail {
            ttft_ms,
            output_tokens_per_s: speed,
            prompt_tokens_per_output_token,
            completion_tokens,
            ..
        } => {
            let speed = (speed.min + speed.max) / 2.0;
            let answer = completion_tokens.median.min(spec.max_tokens).max(1);
            let writing = f64::from(answer - 1) / speed;
            let reading = f64::from(spec.prompt_tokens) / (prompt_tokens_per_output_token * speed);
            crate::limits::secs(
                ttft_ms.p50 / 1000.0 + writing + reading,
                Duration::from_secs(3_600),
            )
        }
        Profile::Fixed { latency_ms, .. } => Duration::from_millis(*latency_ms),
    }
}

/// The time left for a model's calls: `calls_left` (queued and in flight) go no faster than the
/// pacing's `pace_left` (the queued calls' gaps) followed by one call's `latency`, nor than
/// `concurrency` at a time at that latency; the slower of the two.
pub fn time_left(
    pace_left: Duration,
    calls_left: u32,
    latency: Duration,
    concurrency: u32,
) -> Duration {
    if calls_left == 0 {
        return Duration::ZERO;
    }
    let rounds = calls_left.div_ceil(concurrency.max(1));
    (pace_left + latency).max(latency * rounds)
}

/// What the progress line shows of the model being calibrated.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub model: String,
    /// Calls designed for the model.
    pub calls: u32,
    /// Calls sent (taken from the queue; a call sent again after a 429 counts once).
    pub sent: u32,
    pub answered: u32,
    /// Failed, dropped after their 429s, or abandoned.
    pub failed: u32,
    pub rate_limited: u32,
    pub spent_usd: f64,
    pub cap_usd: Option<f64>,
    /// The time left over the whole calibration, when it can be estimated.
    pub left: Option<Duration>,
}

/// The line a model's progress ends with: its counts, how long it took, its spend.
pub fn done_line(s: &Snapshot, took: Duration) -> String {
    format!(
        "{}; done in {}; {}",
        counts(s),
        crate::progress::clock(took),
        spend(s)
    )
}

/// The line, short enough for an 80-column terminal (a live line is cut to the terminal's
/// width): `gpt-4o: 45/160 sent, 40 ok, 2 failed, 3 429s; 4:10 left; $0.0312 of $1`. The 429s
/// only when there were some; the time left `-:--` until it can be estimated.
pub fn line(s: &Snapshot) -> String {
    let left = s.left.map_or("-:--".into(), crate::progress::clock);
    format!("{}; {left} left; {}", counts(s), spend(s))
}

fn counts(s: &Snapshot) -> String {
    let limited = if s.rate_limited > 0 {
        format!(", {} 429s", s.rate_limited)
    } else {
        String::new()
    };
    format!(
        "{}: {}/{} sent, {} ok, {} failed{limited}",
        s.model, s.sent, s.calls, s.answered, s.failed
    )
}

fn spend(s: &Snapshot) -> String {
    match s.cap_usd {
        Some(c) => format!("${:.4} of ${}", s.spent_usd, crate::limits::num(c)),
        None => format!("${:.4} spent, no cap", s.spent_usd),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calibrate::Purpose;

    fn s(secs: f64) -> Duration {
        Duration::from_secs_f64(secs)
    }

    fn paced(gap: f64, takes: f64) -> Paced {
        Paced {
            gap: s(gap),
            takes: s(takes),
        }
    }

    #[test]
    fn the_expected_duration_follows_the_pacing_and_the_slots() {
        // First call alone: 0 to 10 s. Then 2 slots, free at 10 s, sends paced 3 s apart:
        // call b sends at 10, ends 15; c at 13 (gap), ends 17; d at 16 (gap) but both slots
        // are busy until 15 -> 16, ends 20; e at max(19, slot free at 17) = 19, ends 20.
        // The last answer: 20 s.
        let calls = [
            paced(99.0, 10.0), // its gap is never waited: the limits are unknown at its send
            paced(3.0, 5.0),
            paced(3.0, 4.0),
            paced(3.0, 4.0),
            paced(3.0, 1.0),
        ];
        assert_eq!(expected_duration(&calls, 2), s(20.0));
        // One slot: 10, then 10-15, 15-19, 19-23, 23-24 (gaps of 3 s shorter than each call).
        assert_eq!(expected_duration(&calls, 1), s(24.0));
        assert_eq!(expected_duration(&[], 3), Duration::ZERO);
    }

    #[test]
    fn the_time_left_is_the_slower_of_pacing_and_concurrency() {
        // Pacing: 40 s of gaps then a 2 s call: 42 s; concurrency: 10 calls 3 at a time is 4
        // rounds of 2 s = 8 s. The pacing is slower: 42 s.
        assert_eq!(time_left(s(40.0), 10, s(2.0), 3), s(42.0));
        // No pacing (limits unknown): 4 rounds of 2 s = 8 s.
        assert_eq!(time_left(Duration::ZERO, 10, s(2.0), 3), s(8.0));
        // Nothing left: nothing, whatever the pacing says.
        assert_eq!(time_left(s(40.0), 0, s(2.0), 3), Duration::ZERO);
    }

    #[test]
    fn an_expected_call_is_the_median_first_token_then_the_answer_at_mid_speed() {
        let p = Profile::HeavyTail {
            as_of: String::new(),
            source: String::new(),
            ttft_ms: crate::openai::latency::TtftPercentiles {
                p50: 500.0,
                p95: 900.0,
                p99: 2_000.0,
                p99_99: 4_000.0,
            },
            output_tokens_per_s: crate::openai::latency::Range {
                min: 40.0,
                max: 120.0,
            },
            prompt_tokens_per_output_token: 100.0,
            completion_tokens: crate::openai::latency::LengthDist {
                median: 201,
                sigma: 0.35,
                min: 8,
                max: 2_048,
            },
        };
        let spec = |prompt, max| CallSpec {
            model: "m".into(),
            purpose: Purpose::Speed,
            prompt_tokens: prompt,
            max_tokens: max,
            shared_prefix_tokens: 0,
        };
        // 0.5 s + 200 tokens at 80/s (2.5 s) + 800 prompt tokens at 8,000/s (0.1 s) = 3.1 s.
        let ms = |d: Duration| (d.as_secs_f64() * 1000.0).round();
        assert_eq!(ms(expected_call(&p, &spec(800, 1_024))), 3_100.0);
        // A probe (max_tokens 1): 0.5 s + 64 / 8,000 s = 0.508 s.
        assert_eq!(ms(expected_call(&p, &spec(64, 1))), 508.0);
    }

    #[test]
    fn the_line_has_every_count_the_spend_against_the_cap_and_the_time_left() {
        let mut snap = Snapshot {
            model: "gpt-4o".into(),
            calls: 160,
            sent: 45,
            answered: 40,
            failed: 2,
            rate_limited: 3,
            spent_usd: 0.031_2,
            cap_usd: Some(1.0),
            left: Some(s(250.0)),
        };
        // 76 characters: within an 80-column terminal.
        let l = line(&snap);
        assert_eq!(
            l,
            "gpt-4o: 45/160 sent, 40 ok, 2 failed, 3 429s; 4:10 left; $0.0312 of $1"
        );
        snap.cap_usd = None;
        snap.left = None;
        snap.rate_limited = 0;
        assert_eq!(
            line(&snap),
            "gpt-4o: 45/160 sent, 40 ok, 2 failed; -:-- left; $0.0312 spent, no cap"
        );
        assert_eq!(
            done_line(&snap, s(312.0)),
            "gpt-4o: 45/160 sent, 40 ok, 2 failed; done in 5:12; $0.0312 spent, no cap"
        );
        // The longest a default-sized line gets (1,000 calls, over an hour left, a $10 cap)
        // still fits 80 columns.
        let long = Snapshot {
            model: "gpt-4o-mini".into(),
            calls: 1_000,
            sent: 1_000,
            answered: 1_000,
            failed: 0,
            rate_limited: 0,
            spent_usd: 0.5905,
            cap_usd: Some(10.0),
            left: Some(s(3_850.0)),
        };
        assert!(line(&long).len() <= 80, "{}", line(&long));
    }
}
