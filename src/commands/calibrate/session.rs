//! Sends one model's designed calls: the first alone (it decides whether to stream and reads the
//! limits), the rest a few at a time, paced to half the limits just read. Every attempt reserves
//! its worst case with the spend guard first and settles what it cost, so the cap holds with
//! retries too. A 429 is counted, never observed: the call waits as the headers say (at most
//! [`MAX_WAIT_MS`]) and is sent again, at most [`MAX_429_PER_CALL`] times; a second call dropped so
//! gives the model up.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::Value;

use super::client::{CallOutcome, Caller, Sent};
use super::prompts::streamed;
use crate::calibrate::limits::AccountLimits;
use crate::calibrate::{CallSpec, Observation, Purpose};
use crate::cli::StreamArg;
use crate::metrics::budget::{worst_case_usd, Budget};
use crate::metrics::cost::cost_usd;
use crate::openai::catalog::Price;

/// The longest a 429 may ask to wait (modelled ms) before the model is given up.
pub const MAX_WAIT_MS: u64 = 60_000;
/// 429s one call may meet before it is dropped.
pub const MAX_429_PER_CALL: u32 = 4;
/// Calls dropped after their 429s before the model is given up.
const MAX_DROPPED: u32 = 2;
/// The share of a limit the pacing uses ("well under" it).
const PACE_SHARE: f64 = 0.5;
/// The wait after a 429 that names none (modelled ms).
const DEFAULT_WAIT_MS: u64 = 2_000;

/// What one model's calls came to.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ModelRun {
    pub model: String,
    pub observations: Vec<Observation>,
    /// The limits from the first answer that stated them (else the first answer's).
    pub limits: AccountLimits,
    /// The calls were streamed (the endpoint streams as it writes).
    pub streamed: bool,
    /// Attempts sent (429s and failures included).
    pub attempts: u32,
    pub rate_limited: u32,
    /// Failed calls by what went wrong.
    pub failures: BTreeMap<String, u32>,
    /// Calls dropped after [`MAX_429_PER_CALL`] + 1 429s in a row.
    pub dropped: u32,
    /// What could not be done, in plain words.
    pub notes: Vec<String>,
    /// The spend guard refused a call: nothing more was sent.
    pub stopped_by_cap: bool,
}

/// What every call of a calibration shares.
pub struct Context {
    pub caller: Caller,
    pub budget: Arc<Mutex<Budget>>,
    pub concurrency: u32,
    /// Set by a signal: no call is sent after it; the calls in flight finish.
    pub interrupted: Arc<std::sync::atomic::AtomicBool>,
}

impl Context {
    fn interrupted(&self) -> bool {
        self.interrupted.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// One model's calls in flight.
struct Session {
    ctx: Arc<Context>,
    price: Price,
    specs: Vec<CallSpec>,
    bodies: Vec<Value>,
    state: Mutex<State>,
}

struct State {
    queue: VecDeque<usize>,
    run: ModelRun,
    /// `--stream`: auto until the first answer decides.
    mode: StreamArg,
    /// Send the calls streamed.
    stream: bool,
    /// The streams come as written: their first chunks time the first token.
    timed: bool,
    /// No call is sent before this instant (pacing and 429 waits).
    next_send: Instant,
    stop: bool,
}

/// Sends `specs` (their plain `bodies`) for `model` and gathers what came back.
pub async fn run_model(
    ctx: Arc<Context>,
    model: &str,
    price: Price,
    specs: Vec<CallSpec>,
    bodies: Vec<Value>,
    stream: StreamArg,
) -> ModelRun {
    let first = first_call(&specs);
    let mut queue: VecDeque<usize> = (0..specs.len()).filter(|i| *i != first).collect();
    queue.push_front(first);
    let session = Arc::new(Session {
        ctx: Arc::clone(&ctx),
        price,
        specs,
        bodies,
        state: Mutex::new(State {
            queue,
            run: ModelRun {
                model: model.to_string(),
                ..ModelRun::default()
            },
            mode: stream,
            stream: stream != StreamArg::Off,
            timed: stream != StreamArg::Off,
            next_send: Instant::now(),
            stop: false,
        }),
    });
    // The first call alone: its answer tells the limits and whether the endpoint streams.
    if let Some(i) = session.next() {
        session.call(i, stream != StreamArg::Off).await;
    }
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..ctx.concurrency.max(1) {
        let s = Arc::clone(&session);
        workers.spawn(async move {
            while let Some(i) = s.next() {
                s.call(i, false).await;
            }
        });
    }
    while let Some(done) = workers.join_next().await {
        if let Err(e) = done {
            session
                .lock()
                .run
                .notes
                .push(format!("a sending task ended early: {e}"));
        }
    }
    let mut state = session.lock();
    if (1..MAX_DROPPED).contains(&state.run.dropped) {
        let n = state.run.dropped;
        state.run.notes.push(format!(
            "{n} calls met {} 429s in a row each and were dropped",
            MAX_429_PER_CALL + 1
        ));
    }
    std::mem::take(&mut state.run)
}

/// The call to send first: the longest answer asked for (a speed call), so that a stream shows
/// whether it comes as written.
fn first_call(specs: &[CallSpec]) -> usize {
    specs
        .iter()
        .enumerate()
        .max_by_key(|(i, c)| (c.purpose == Purpose::Speed, c.max_tokens, usize::MAX - i))
        .map_or(0, |(i, _)| i)
}

impl Session {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn next(&self) -> Option<usize> {
        let mut st = self.lock();
        if st.stop || self.ctx.interrupted() {
            return None;
        }
        st.queue.pop_front()
    }

    /// Sends call `i` until it is answered, fails, or meets too many 429s. `probe`: this call
    /// decides whether the rest are streamed.
    async fn call(&self, i: usize, probe: bool) {
        let spec = &self.specs[i];
        let worst = worst_case_usd(
            &self.price,
            spec.prompt_tokens as u64,
            spec.max_tokens as u64,
        );
        for _ in 0..=MAX_429_PER_CALL {
            let Some((body, reservation)) = self.wait_turn(i, worst).await else {
                return;
            };
            let sent = self.ctx.caller.send(spec, &body).await;
            let cost = sent.tokens.map_or(worst, |t| cost_usd(&self.price, t));
            lock_budget(&self.ctx.budget).settle(reservation, cost);
            if !self.record(sent, probe) {
                return;
            }
        }
        let mut st = self.lock();
        st.run.dropped += 1;
        if st.run.dropped >= MAX_DROPPED && !st.stop {
            st.stop = true;
            st.run.notes.push(format!(
                "{MAX_DROPPED} calls met {} 429s in a row each: the limits are spent (a daily limit?), the model was given up",
                MAX_429_PER_CALL + 1
            ));
        }
    }

    /// Waits until the pacing lets call `i` go, reserves its worst case, and gives its body;
    /// `None` when the calibration stopped or the spend guard refused.
    async fn wait_turn(
        &self,
        i: usize,
        worst: f64,
    ) -> Option<(Value, crate::metrics::budget::Reservation)> {
        loop {
            let wait = {
                let mut st = self.lock();
                if st.stop || self.ctx.interrupted() {
                    return None;
                }
                let now = Instant::now();
                if st.next_send <= now {
                    let spec = &self.specs[i];
                    let gap = pace_gap(&st.run.limits, spec, self.ctx.caller.time_scale);
                    st.next_send = now + gap;
                    let Some(r) = lock_budget(&self.ctx.budget).reserve(worst) else {
                        st.stop = true;
                        st.run.stopped_by_cap = true;
                        return None;
                    };
                    st.run.attempts += 1;
                    let body = if st.stream {
                        streamed(&self.bodies[i])
                    } else {
                        self.bodies[i].clone()
                    };
                    return Some((body, r));
                }
                st.next_send - now
            };
            // In short steps, so that a signal during a long wait (a 429's) stops it soon.
            tokio::time::sleep(wait.min(Duration::from_millis(200))).await;
        }
    }

    /// Records what a call came to; true when it met a 429 and should be sent again.
    fn record(&self, sent: Sent, probe: bool) -> bool {
        let mut st = self.lock();
        let stated = sent.limits != AccountLimits::default();
        if !st.run.limits.known() && stated {
            st.run.limits = sent.limits;
        }
        match sent.outcome {
            CallOutcome::Answered(mut obs) => {
                if probe {
                    decide_streaming(&mut st, &obs);
                }
                if !st.timed {
                    obs.first_token_ms = None;
                }
                st.run.streamed = st.timed;
                st.run.observations.push(obs);
                false
            }
            CallOutcome::RateLimited => {
                st.run.rate_limited += 1;
                self.after_429(&mut st, &sent.limits)
            }
            CallOutcome::Failed(why) => {
                if let Some(status @ (401 | 403 | 404)) = sent.status {
                    if !st.stop {
                        st.stop = true;
                        st.run.notes.push(format!(
                            "HTTP {status}: the endpoint refuses the key or does not serve the model; nothing more was sent"
                        ));
                    }
                } else if probe && st.mode == StreamArg::Auto {
                    st.stream = false;
                    st.timed = false;
                    st.run.notes.push(format!(
                        "the first streamed call failed ({why}): plain calls, time to first token by regression"
                    ));
                }
                *st.run.failures.entry(why).or_default() += 1;
                false
            }
        }
    }

    /// Holds every call back as long as a 429 asks; gives the model up past [`MAX_WAIT_MS`].
    fn after_429(&self, st: &mut State, limits: &AccountLimits) -> bool {
        let wait_ms = limits.wait_ms().unwrap_or(DEFAULT_WAIT_MS);
        if wait_ms > MAX_WAIT_MS {
            st.stop = true;
            st.run.notes.push(format!(
                "a 429 asked to wait {} s (more than {} s): the model was given up",
                wait_ms / 1000,
                MAX_WAIT_MS / 1000
            ));
            return false;
        }
        let real = Duration::from_secs_f64(wait_ms as f64 / 1000.0 / self.ctx.caller.time_scale);
        st.next_send = st.next_send.max(Instant::now() + real);
        true
    }
}

/// After the first streamed answer: a stream that came whole cannot time the first token, so
/// `auto` sends plain calls from then on, and `on` keeps streaming but times none.
fn decide_streaming(st: &mut State, first: &Observation) {
    if streams_as_written(first) {
        return;
    }
    st.timed = false;
    st.stream = st.mode == StreamArg::On;
    st.run.notes.push(
        if st.stream {
            "the endpoint does not stream as it writes (the first chunk came with the last): streamed calls, but time to first token by regression"
        } else {
            "the endpoint does not stream as it writes (the first chunk came with the last): plain calls, time to first token by regression"
        }
        .into(),
    );
}

fn lock_budget(b: &Mutex<Budget>) -> std::sync::MutexGuard<'_, Budget> {
    b.lock().unwrap_or_else(|p| p.into_inner())
}

/// The real time to leave after sending `spec` so that requests and tokens stay at
/// [`PACE_SHARE`] of the limits (zero while they are unknown).
fn pace_gap(limits: &AccountLimits, spec: &CallSpec, time_scale: f64) -> Duration {
    let per_request = limits
        .rpm
        .map_or(0.0, |rpm| 60.0 / (rpm as f64 * PACE_SHARE));
    let tokens = (spec.prompt_tokens + spec.max_tokens) as f64;
    let per_tokens = limits
        .tpm
        .map_or(0.0, |tpm| tokens * 60.0 / (tpm as f64 * PACE_SHARE));
    Duration::from_secs_f64(per_request.max(per_tokens) / time_scale.max(1.0))
}

/// Whether a streamed answer came as it was written: its first content chunk clearly before its
/// last byte. A stream sent whole (first chunk with the last) cannot time the first token.
pub fn streams_as_written(obs: &Observation) -> bool {
    match obs.first_token_ms {
        Some(first) => obs.completion_tokens >= 8 && obs.latency_ms - first >= 0.1 * obs.latency_ms,
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(
            pace_gap(&limits, &spec(Purpose::Probe, 10, 10), 1.0),
            Duration::from_millis(200)
        );
        assert_eq!(
            pace_gap(&limits, &spec(Purpose::Caption, 900, 100), 1.0),
            Duration::from_secs(2)
        );
        assert_eq!(
            pace_gap(&limits, &spec(Purpose::Caption, 900, 100), 20.0),
            Duration::from_millis(100)
        );
        assert_eq!(
            pace_gap(
                &AccountLimits::default(),
                &spec(Purpose::Probe, 10, 10),
                1.0
            ),
            Duration::ZERO
        );
    }

    #[test]
    fn a_stream_sent_whole_is_not_timed() {
        let obs = |first: Option<f64>, latency: f64, tokens: u32| Observation {
            purpose: Purpose::Speed,
            prompt_tokens: 50,
            completion_tokens: tokens,
            cached_tokens: 0,
            latency_ms: latency,
            first_token_ms: first,
        };
        assert!(streams_as_written(&obs(Some(600.0), 3_000.0, 200)));
        assert!(!streams_as_written(&obs(Some(2_990.0), 3_000.0, 200)));
        assert!(!streams_as_written(&obs(None, 3_000.0, 200)));
        assert!(!streams_as_written(&obs(Some(600.0), 3_000.0, 2)));
    }
}
