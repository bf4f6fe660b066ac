//! The calls a calibration sends to one model, and in what order. Most are cheap: short
//! probes (`max_tokens` 1) whose latency is the time to first token, plus a few probes with the
//! post's long prompt, which alone expose the prompt factor. Speed calls ask for an uncapped
//! answer, so they sample the writing speed and the answer-length distribution; calls shaped
//! like the post's two calls (the caption's with a shared prefix of at least 1,024 tokens) add
//! speed samples on the real shapes and measure the account's prompt caching. The kinds are
//! interleaved evenly, so that a drift of the service during the calibration touches every
//! kind alike; the first call is a probe, whose headers the command reads for the limits.

use super::{CallSpec, Purpose};
use crate::openai::reasoning::Effort;

/// Calls per model by default, chosen from the precision simulation (see `docs/calibrate.md`,
/// Precision): enough for 95 % of calibrations of the shipped profiles to land within 10 % on
/// TTFT p50, p95 and the speed range with streamed calls.
pub const DEFAULT_CALLS_PER_MODEL: u32 = 160;
/// A probe's prompt: the smallest prompt the client writes.
pub const PROBE_PROMPT_TOKENS: u32 = 64;
/// A speed call's `max_tokens`: far above any answer the shipped length distributions give
/// (median 220, σ 0.35: 1,024 is 4.4 σ out), so the answer length is the model's own.
pub const SPEED_MAX_TOKENS: u32 = 1_024;
/// Below this many prompt tokens a probe counts as short (its prompt term is a few ms).
pub const LONG_PROBE_FROM: u32 = 512;
/// OpenAI caches prompts from 1,024 tokens, in 128-token steps (`openai::world::cached_tokens`).
pub const CACHE_MIN_PREFIX: u32 = 1_024;
const CACHE_STEP: u32 = 128;
/// The caption calls' prompts differ only in their last this many tokens.
const UNIQUE_TAIL: u32 = 64;

/// How many calls of each kind a design of `calls` holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mix {
    pub probes: u32,
    pub long_probes: u32,
    pub speed: u32,
    pub image: u32,
    pub caption: u32,
}

impl Mix {
    /// Shares 55 % short probes, 5 % long probes, 25 % speed, 7.5 % image-prompt and 7.5 %
    /// caption calls (largest remainders), with at least one caption call after a first one
    /// (so one call can hit the cache) and one speed call when there is room.
    pub fn of(calls: u32) -> Mix {
        const SHARES: [f64; 5] = [0.55, 0.05, 0.25, 0.075, 0.075];
        let exact: Vec<f64> = SHARES.iter().map(|s| s * calls as f64).collect();
        let mut n: Vec<u32> = exact.iter().map(|x| x.floor() as u32).collect();
        let mut order: Vec<usize> = (0..5).collect();
        order.sort_by(|&i, &j| {
            (exact[j] - exact[j].floor()).total_cmp(&(exact[i] - exact[i].floor()))
        });
        let mut left = calls - n.iter().sum::<u32>();
        for &i in order.iter().cycle().take(5) {
            if left == 0 {
                break;
            }
            n[i] += 1;
            left -= 1;
        }
        // Small designs: make sure the kinds that measure something alone are present.
        for (kind, want) in [(2, 1), (4, 2), (3, 1)] {
            while n[kind] < want && n[0] > 1 {
                n[0] -= 1;
                n[kind] += 1;
            }
        }
        Mix {
            probes: n[0],
            long_probes: n[1],
            speed: n[2],
            image: n[3],
            caption: n[4],
        }
    }

    fn counts(&self) -> [u32; 5] {
        [
            self.probes,
            self.long_probes,
            self.speed,
            self.image,
            self.caption,
        ]
    }
}

/// The caption call as designed: the post's prompt, at least long enough to be cached, its
/// first tokens shared by every caption call of the model.
fn caption_shape(caption: (u32, u32)) -> (u32, u32, u32) {
    let prompt = caption.0.max(CACHE_MIN_PREFIX + CACHE_STEP);
    let prefix = prompt.saturating_sub(UNIQUE_TAIL).max(CACHE_MIN_PREFIX);
    (prompt, caption.1.max(1), prefix)
}

/// The calls to send for one model: `calls` of them, in the order to send them.
/// `image` and `caption` give the post's two call shapes (prompt tokens, max_tokens).
pub fn design(model: &str, calls: u32, image: (u32, u32), caption: (u32, u32)) -> Vec<CallSpec> {
    let mix = Mix::of(calls);
    let (cap_prompt, cap_max, cap_prefix) = caption_shape(caption);
    let long_prompt = image.0.max(cap_prompt).max(LONG_PROBE_FROM);
    let spec = |kind: usize| {
        let (purpose, prompt_tokens, max_tokens, shared_prefix_tokens) = match kind {
            0 => (Purpose::Probe, PROBE_PROMPT_TOKENS, 1, 0),
            1 => (Purpose::Probe, long_prompt, 1, 0),
            2 => (Purpose::Speed, PROBE_PROMPT_TOKENS, SPEED_MAX_TOKENS, 0),
            3 => (Purpose::ImagePrompt, image.0, image.1.max(1), 0),
            _ => (Purpose::Caption, cap_prompt, cap_max, cap_prefix),
        };
        CallSpec {
            model: model.to_string(),
            purpose,
            prompt_tokens,
            max_tokens,
            shared_prefix_tokens,
        }
    };
    interleave(mix.counts(), calls)
        .into_iter()
        .map(spec)
        .collect()
}

/// The reasoning calls: `per_effort` at each of `efforts` (an effort and its calls' cap), the
/// efforts taking turns and each effort's calls shaped like the post's image-prompt and caption
/// calls in turn (no shared prefix). The cap is `max_completion_tokens`, the reasoning and the
/// visible answer together: one per effort, so a call that reasons to it is censored at one
/// point.
pub fn reasoning_calls(
    model: &str,
    efforts: &[(Effort, u32)],
    per_effort: u32,
    image: (u32, u32),
    caption: (u32, u32),
) -> Vec<CallSpec> {
    (0..per_effort)
        .flat_map(|j| {
            efforts.iter().map(move |&(e, cap)| CallSpec {
                model: model.to_string(),
                purpose: Purpose::Reasoning(e),
                prompt_tokens: if j % 2 == 0 { image.0 } else { caption.0 },
                max_tokens: cap,
                shared_prefix_tokens: 0,
            })
        })
        .collect()
}

/// `extra` spread evenly among `base`: after base call `i`, `⌊(i + 1)·e/b⌋` of the `e` extra
/// calls have been placed, so the base's first call stays first and a drift of the service
/// touches both alike.
pub fn spread(base: Vec<CallSpec>, extra: Vec<CallSpec>) -> Vec<CallSpec> {
    let (b, e) = (base.len(), extra.len());
    let mut out = Vec::with_capacity(b + e);
    let mut extra = extra.into_iter();
    for (i, c) in base.into_iter().enumerate() {
        out.push(c);
        let due = (i + 1) * e / b;
        while out.len() < i + 1 + due {
            out.extend(extra.next());
        }
    }
    out.extend(extra);
    out
}

/// Spreads the kinds evenly over `calls` slots: each slot goes to the kind furthest behind its
/// even share (ties to the earlier kind, so the first slot is a probe).
fn interleave(counts: [u32; 5], calls: u32) -> Vec<usize> {
    let mut sent = [0u32; 5];
    (0..calls)
        .map(|slot| {
            let due =
                |k: usize| counts[k] as f64 * (slot + 1) as f64 / calls as f64 - sent[k] as f64;
            let k = (0..5)
                .filter(|&k| sent[k] < counts[k])
                .max_by(|&a, &b| due(a).total_cmp(&due(b)).then(b.cmp(&a)))
                .unwrap_or(0);
            sent[k] += 1;
            k
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_mix_adds_up_and_keeps_the_shares() {
        let m = Mix::of(160);
        assert_eq!(
            m,
            Mix {
                probes: 88,
                long_probes: 8,
                speed: 40,
                image: 12,
                caption: 12
            }
        );
        for calls in 0..300 {
            assert_eq!(Mix::of(calls).counts().iter().sum::<u32>(), calls);
        }
    }

    #[test]
    fn small_designs_keep_a_speed_call_and_two_captions() {
        let m = Mix::of(6);
        assert!(m.speed >= 1 && m.caption >= 2 && m.probes >= 1, "{m:?}");
    }

    #[test]
    fn design_shapes_each_kind() {
        let d = design("gpt-4o", 40, (800, 150), (1_200, 200));
        assert_eq!(d.len(), 40);
        assert_eq!(d[0].purpose, Purpose::Probe);
        assert_eq!(d[0].prompt_tokens, PROBE_PROMPT_TOKENS);
        for c in &d {
            assert_eq!(c.model, "gpt-4o");
            match c.purpose {
                Purpose::Probe => assert_eq!(c.max_tokens, 1),
                Purpose::Speed => assert_eq!(
                    (c.prompt_tokens, c.max_tokens),
                    (PROBE_PROMPT_TOKENS, SPEED_MAX_TOKENS)
                ),
                Purpose::ImagePrompt => assert_eq!((c.prompt_tokens, c.max_tokens), (800, 150)),
                // 1,200 − 64 = 1,136 shared tokens: cached as 1,024 (8 steps of 128).
                Purpose::Caption => assert_eq!(
                    (c.prompt_tokens, c.max_tokens, c.shared_prefix_tokens),
                    (1_200, 200, 1_136)
                ),
                Purpose::Reasoning(_) => panic!("the design has no reasoning call"),
            }
        }
        let long = d
            .iter()
            .filter(|c| c.prompt_tokens == 1_200 && c.max_tokens == 1);
        assert_eq!(long.count(), 2);
    }

    #[test]
    fn a_short_caption_is_lengthened_to_be_cacheable() {
        assert_eq!(caption_shape((600, 120)), (1_152, 120, 1_088));
    }

    #[test]
    fn kinds_are_spread_over_the_run() {
        let d = design("m", 160, (800, 150), (1_200, 200));
        let first_half = |p: Purpose| d[..80].iter().filter(|c| c.purpose == p).count();
        assert_eq!(first_half(Purpose::Speed), 20);
        assert_eq!(first_half(Purpose::Caption), 6);
        let first_caption = d.iter().position(|c| c.purpose == Purpose::Caption);
        assert!(first_caption.unwrap() < 10);
    }

    /// Largest remainders by hand. 10 calls: 5.5, 0.5, 2.5, 0.75, 0.75 floor to 5, 0, 2, 0, 0
    /// (7); the 3 left go to the largest remainders, image and caption (0.75) then probes
    /// (0.5, the first of the ties): 6, 0, 2, 1, 1; then a second caption from the probes:
    /// 5, 0, 2, 1, 2. 20 calls: 11, 1, 5, 1.5, 1.5 floor to 19; the one left to image: 11, 1,
    /// 5, 2, 1; a second caption: 10, 1, 5, 2, 2. 3 calls: 1.65, 0.15, 0.75, 0.225, 0.225
    /// floor to 1, 0, 0, 0, 0; the two left to speed (0.75) and probes (0.65): 2, 0, 1, 0, 0;
    /// one caption from the probes leaves a single probe, which stays: 1, 0, 1, 0, 1.
    #[test]
    fn small_mixes_by_hand() {
        let mix = |calls| Mix::of(calls).counts();
        assert_eq!(mix(10), [5, 0, 2, 1, 2]);
        assert_eq!(mix(20), [10, 1, 5, 2, 2]);
        assert_eq!(mix(3), [1, 0, 1, 0, 1]);
        assert_eq!(mix(1), [1, 0, 0, 0, 0]);
        assert_eq!(mix(0), [0, 0, 0, 0, 0]);
    }

    /// Each slot to the kind furthest behind its share, ties to the earlier kind (the rule
    /// worked out slot by slot in Python): 2 probes, a speed and a caption call in 4 slots go
    /// probe, speed (0.5 behind, tied with the caption), caption (0.75), probe.
    #[test]
    fn interleaving_by_hand() {
        assert_eq!(interleave([2, 0, 1, 0, 1], 4), vec![0, 2, 4, 0]);
        assert_eq!(
            interleave([5, 0, 2, 1, 2], 10),
            vec![0, 2, 4, 0, 0, 3, 0, 2, 4, 0]
        );
        assert_eq!(
            interleave([10, 1, 5, 2, 2], 20),
            vec![0, 2, 0, 3, 0, 4, 2, 0, 0, 1, 2, 0, 0, 2, 0, 3, 4, 0, 2, 0]
        );
    }

    /// The long probes take the longest of the post's prompts (and at least 512 tokens); an
    /// image call asking for 0 tokens asks for 1.
    #[test]
    fn long_probes_take_the_longest_prompt() {
        let long = |image: (u32, u32), caption: (u32, u32)| {
            let d = design("m", 20, image, caption);
            let p: Vec<u32> = d
                .iter()
                .filter(|c| c.purpose == Purpose::Probe && c.prompt_tokens != 64)
                .map(|c| c.prompt_tokens)
                .collect();
            assert_eq!(p.len(), 1);
            p[0]
        };
        assert_eq!(long((2_000, 150), (1_200, 200)), 2_000);
        assert_eq!(long((800, 150), (1_500, 200)), 1_500);
        // A 100-token caption is lengthened to 1,152 to be cacheable; that is the longest.
        assert_eq!(long((100, 150), (100, 200)), 1_152);
        let d = design("m", 20, (800, 0), (1_200, 0));
        assert!(d
            .iter()
            .filter(|c| matches!(c.purpose, Purpose::ImagePrompt | Purpose::Caption))
            .all(|c| c.max_tokens == 1));
        // A 2,000-token caption shares all but its last 64 tokens.
        assert_eq!(caption_shape((2_000, 10)), (2_000, 10, 1_936));
    }

    #[test]
    fn reasoning_calls_take_turns_by_effort_then_by_shape() {
        let r = reasoning_calls(
            "gpt-5-mini",
            &[(Effort::Low, 4_552), (Effort::High, 13_512)],
            3,
            (800, 150),
            (1_200, 200),
        );
        let got: Vec<(Purpose, u32)> = r.iter().map(|c| (c.purpose, c.prompt_tokens)).collect();
        let (low, high) = (
            Purpose::Reasoning(Effort::Low),
            Purpose::Reasoning(Effort::High),
        );
        assert_eq!(
            got,
            [
                (low, 800),
                (high, 800),
                (low, 1_200),
                (high, 1_200),
                (low, 800),
                (high, 800)
            ]
        );
        let caps: Vec<u32> = r.iter().map(|c| c.max_tokens).collect();
        assert_eq!(caps, [4_552, 13_512, 4_552, 13_512, 4_552, 13_512]);
        assert!(r
            .iter()
            .all(|c| c.shared_prefix_tokens == 0 && c.model == "gpt-5-mini"));
    }

    /// 4 base calls and 2 extra: after base call i, ⌊(i + 1)·2/4⌋ extra are due: 0, 1, 1, 2,
    /// so b0 b1 e0 b2 b3 e1. 3 base and 7 extra: due 2, 4, 7: b0 e0 e1 b1 e2 e3 b2 e4 e5 e6.
    #[test]
    fn spread_by_hand() {
        let call = |p: u32| CallSpec {
            model: "m".into(),
            purpose: Purpose::Probe,
            prompt_tokens: p,
            max_tokens: 1,
            shared_prefix_tokens: 0,
        };
        let order = |b: u32, e: u32| -> Vec<u32> {
            spread(
                (0..b).map(call).collect(),
                (100..100 + e).map(call).collect(),
            )
            .iter()
            .map(|c| c.prompt_tokens)
            .collect()
        };
        assert_eq!(order(4, 2), [0, 1, 100, 2, 3, 101]);
        assert_eq!(order(3, 7), [0, 100, 101, 1, 102, 103, 2, 104, 105, 106]);
        assert_eq!(order(0, 2), [100, 101]);
        assert_eq!(order(2, 0), [0, 1]);
    }
}
