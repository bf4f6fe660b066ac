//! Sends one model's designed calls: the first alone (it decides whether to stream and reads the
//! limits), the rest a few at a time, paced to half the limits just read. Every attempt reserves
//! its worst case with the spend guard first and settles what it cost, so the cap holds with
//! retries too. A 429 is counted, never observed: the call waits as the headers say (at most
//! [`MAX_WAIT_MS`]) and is sent again, at most [`MAX_429_PER_CALL`] times; a second call dropped so
//! gives the model up. Time is bounded: a pacing gap above [`MAX_PACE_GAP_MS`] gives the model
//! up, one attempt takes at most the caller's timeout, and a model's sending at most
//! [`MAX_MODEL_TIME_MS`]; past that, or after a signal, no call is sent, the calls in flight get
//! [`crate::stop::STOP_GRACE`] and are then abandoned, charged their worst case.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

// tokio's clock (the wall clock unless a test pauses it): pacing and 429 waits follow it.
use tokio::time::Instant;

use serde::Serialize;
use serde_json::Value;

use super::client::{CallOutcome, Caller, Sent, REASONED_OUT};
use super::prompts::streamed;
use super::watch::Watch;
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
/// The longest pacing gap the limits read may ask between two sends (modelled ms), as a 429's
/// wait is bounded: 1 RPM / 1 TPM asked about 2 h 10 min and slept it silently. Above it the
/// model is given up with a note.
pub const MAX_PACE_GAP_MS: u64 = 60_000;
/// The longest one model's calls may be sent for (modelled ms): past it no call is sent and the
/// calls in flight get [`crate::stop::STOP_GRACE`]. At the half-limit pacing a default
/// calibration of gpt-4o at Tier 1 (30,000 TPM) takes about 6 min (its 160 calls reserve 87,048
/// tokens: 88 × 65 + 8 × 1,201 + 40 × 1,088 + 12 × 950 + 12 × 1,400, at 15,000 a minute).
pub const MAX_MODEL_TIME_MS: u64 = 30 * 60_000;
/// How often a supervisor looks at the stop flags (real time).
const POLL: Duration = Duration::from_millis(50);

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
    /// Calls in flight abandoned after a signal or the time bound (charged their worst case).
    pub abandoned: u32,
    /// What could not be done, in plain words.
    pub notes: Vec<String>,
    /// The spend guard refused a call: nothing more was sent.
    pub stopped_by_cap: bool,
    /// A reasoning model's `reasoning_effort`, as sent (`None`: not a reasoning model).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub effort: Option<crate::openai::reasoning::Effort>,
    /// The reasoning tokens the answers' usages reported, reasoned-out calls included (billed
    /// as output; never counted as written tokens in the speed).
    #[serde(skip_serializing_if = "crate::calibrate::is_zero")]
    pub reasoning_tokens: u64,
}

/// What every call of a calibration shares.
pub struct Context {
    pub caller: Caller,
    pub budget: Arc<Mutex<Budget>>,
    pub concurrency: u32,
    /// Set by a signal: no call is sent after it; the calls in flight get
    /// [`crate::stop::STOP_GRACE`].
    pub interrupted: Arc<std::sync::atomic::AtomicBool>,
    /// Set by a second signal: the calls in flight are abandoned at once.
    pub hurry: Arc<std::sync::atomic::AtomicBool>,
    /// The longest one model's calls may be sent for (real time; [`MAX_MODEL_TIME_MS`] scaled).
    pub model_time: Duration,
}

impl Context {
    fn interrupted(&self) -> bool {
        self.interrupted.load(std::sync::atomic::Ordering::SeqCst)
    }

    fn hurried(&self) -> bool {
        self.hurry.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// Why a model's sending was cut short.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Cut {
    Signal,
    Deadline,
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
    /// Attempts reserved and not yet settled.
    in_flight: u32,
    /// A limit header was ignored as out of range (noted once).
    header_noted: bool,
}

/// Sends `specs` (their plain `bodies`) for `model` and gathers what came back.
pub async fn run_model(
    ctx: Arc<Context>,
    model: &str,
    price: Price,
    specs: Vec<CallSpec>,
    bodies: Vec<Value>,
    stream: StreamArg,
    watch: Watch,
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
            in_flight: 0,
            header_noted: false,
        }),
    });
    let started = tokio::time::Instant::now();
    let deadline = started + ctx.model_time;
    let watch = Arc::new(watch);
    let (s, w) = (Arc::clone(&session), Arc::clone(&watch));
    let ticker = watch.start(move || s.snapshot(&w));
    let mut tasks = tokio::task::JoinSet::new();
    // The first call alone: its answer tells the limits and whether the endpoint streams.
    let s = Arc::clone(&session);
    tasks.spawn(async move {
        if let Some(i) = s.next() {
            s.call(i, stream != StreamArg::Off).await;
        }
    });
    let mut cut = session.supervise(&mut tasks, deadline).await;
    if cut.is_none() {
        for _ in 0..ctx.concurrency.max(1) {
            let s = Arc::clone(&session);
            tasks.spawn(async move {
                while let Some(i) = s.next() {
                    s.call(i, false).await;
                }
            });
        }
        cut = session.supervise(&mut tasks, deadline).await;
    }
    drop(ticker);
    watch.finish(session.snapshot(&watch), started.elapsed());
    let mut state = session.lock();
    if cut == Some(Cut::Deadline) {
        state.run.notes.insert(
            0,
            format!(
                "the model's calls were stopped after {} min (the bound on one model's sending); what was answered is fitted",
                MAX_MODEL_TIME_MS / 60_000
            ),
        );
    }
    if state.run.dropped > 0 {
        // Counted at the end, so the note says what calibration.json's `dropped` says.
        let (n, all) = (state.run.dropped, state.run.rate_limited);
        state.run.notes.push(format!(
            "{n} of the calls met {} 429s in a row each and were dropped ({all} 429s in all){}",
            MAX_429_PER_CALL + 1,
            if n >= MAX_DROPPED {
                ": the limits are spent (a daily limit?), the model was given up"
            } else {
                ""
            }
        ));
    }
    std::mem::take(&mut state.run)
}

/// The calls' indices in the order they are sent: [`first_call`], then the rest in order.
pub fn send_order(specs: &[CallSpec]) -> Vec<usize> {
    let first = first_call(specs);
    std::iter::once(first)
        .chain((0..specs.len()).filter(|i| *i != first))
        .take(specs.len())
        .collect()
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

    /// Waits for `tasks` to end, or for a signal or `deadline`: then nothing more is sent, the
    /// calls in flight get [`crate::stop::STOP_GRACE`] (none after a second signal), and are
    /// abandoned, their reservations charged at their worst case.
    async fn supervise(
        &self,
        tasks: &mut tokio::task::JoinSet<()>,
        deadline: tokio::time::Instant,
    ) -> Option<Cut> {
        let cut = loop {
            tokio::select! {
                done = tasks.join_next() => match done {
                    None => return None,
                    Some(Err(e)) => self.lock().run.notes.push(format!("a sending task ended early: {e}")),
                    Some(Ok(())) => {}
                },
                () = tokio::time::sleep(POLL) => {
                    if self.ctx.interrupted() {
                        break Cut::Signal;
                    }
                    if tokio::time::Instant::now() >= deadline {
                        break Cut::Deadline;
                    }
                }
            }
        };
        self.lock().stop = true;
        let grace_end = tokio::time::Instant::now() + crate::stop::STOP_GRACE;
        while !self.ctx.hurried() && tokio::time::Instant::now() < grace_end {
            tokio::select! {
                done = tasks.join_next() => if done.is_none() { return Some(cut) },
                () = tokio::time::sleep(POLL) => {}
            }
        }
        tasks.abort_all();
        while tasks.join_next().await.is_some() {}
        let mut st = self.lock();
        let open = std::mem::take(&mut st.in_flight);
        if open > 0 {
            let charged = lock_budget(&self.ctx.budget).charge_open();
            st.run.abandoned += open;
            let when = match cut {
                Cut::Signal if self.ctx.hurried() => "at the second signal".to_string(),
                Cut::Signal => format!("{} s after the signal", crate::stop::STOP_GRACE.as_secs()),
                Cut::Deadline => format!(
                    "{} s after the time bound",
                    crate::stop::STOP_GRACE.as_secs()
                ),
            };
            st.run.notes.push(format!(
                "{open} calls in flight were abandoned {when}, charged their worst case (${charged:.4})"
            ));
        }
        Some(cut)
    }

    /// Where the model's calls are now, and the time left ([`Watch::left`]).
    fn snapshot(&self, watch: &Watch) -> crate::calibrate::progress::Snapshot {
        let st = self.lock();
        let (r, calls) = (&st.run, self.specs.len() as u32);
        let queued = if st.stop { 0 } else { st.queue.len() };
        let pace_ms = st.queue.iter().take(queued);
        let pace_ms = pace_ms
            .map(|&i| pace_gap_ms(&r.limits, &self.specs[i]))
            .sum();
        let answered = r.observations.len() as u32;
        let latency_ms = (answered > 0).then(|| {
            r.observations.iter().map(|o| o.latency_ms).sum::<f64>() / f64::from(answered)
        });
        let c = &self.ctx;
        let left = (queued as u32 + st.in_flight, c.concurrency, c.model_time);
        crate::calibrate::progress::Snapshot {
            model: r.model.clone(),
            calls,
            sent: calls - st.queue.len() as u32,
            answered,
            failed: r.failures.values().sum::<u32>() + r.dropped + r.abandoned,
            rate_limited: r.rate_limited,
            spent_usd: lock_budget(&c.budget).spent_usd(),
            cap_usd: watch.cap_usd,
            left: watch.left(pace_ms, latency_ms, c.caller.time_scale, left),
        }
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
            // Only an answer read whole with a plausible usage has tokens below the worst case
            // (an HTTP error and a connection never made have none: nothing to bill).
            let cost = sent.tokens.map_or(worst, |t| cost_usd(&self.price, t));
            {
                let mut st = self.lock();
                lock_budget(&self.ctx.budget).settle(reservation, cost);
                st.in_flight = st.in_flight.saturating_sub(1);
            }
            if !self.record(sent, probe) {
                return;
            }
        }
        let mut st = self.lock();
        st.run.dropped += 1;
        if st.run.dropped >= MAX_DROPPED {
            st.stop = true;
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
                    let gap_ms = pace_gap_ms(&st.run.limits, spec);
                    if gap_ms > MAX_PACE_GAP_MS as f64 {
                        st.stop = true;
                        let l = st.run.limits;
                        let n = |v: Option<u64>| v.map_or("unknown".to_string(), |v| v.to_string());
                        st.run.notes.push(format!(
                            "the limits read ({} RPM / {} TPM) ask {} s between calls at half of them (more than {} s): the model was given up",
                            n(l.rpm),
                            n(l.tpm),
                            crate::limits::num((gap_ms / 1000.0).round()),
                            MAX_PACE_GAP_MS / 1000
                        ));
                        return None;
                    }
                    let scale = self.ctx.caller.time_scale;
                    st.next_send = now + Duration::from_secs_f64(scale.to_real(gap_ms / 1000.0));
                    let Some(r) = lock_budget(&self.ctx.budget).reserve(worst) else {
                        st.stop = true;
                        st.run.stopped_by_cap = true;
                        return None;
                    };
                    st.in_flight += 1;
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
        if !sent.ignored_headers.is_empty() && !st.header_noted {
            st.header_noted = true;
            let words = sent.ignored_headers.join("; ");
            st.run.notes.push(words);
        }
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
                st.run.reasoning_tokens += u64::from(obs.reasoning_tokens);
                st.run.observations.push(obs);
                false
            }
            CallOutcome::ReasonedOut { reasoning_tokens } => {
                // Billed by its usage, counted, never fitted (no first token, no speed).
                st.run.reasoning_tokens += u64::from(reasoning_tokens);
                *st.run.failures.entry(REASONED_OUT.into()).or_default() += 1;
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
        let real =
            Duration::from_secs_f64(self.ctx.caller.time_scale.to_real(wait_ms as f64 / 1000.0));
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

/// The modelled milliseconds to leave after sending `spec` so that requests and tokens stay at
/// [`PACE_SHARE`] of the limits (zero while they are unknown).
pub fn pace_gap_ms(limits: &AccountLimits, spec: &CallSpec) -> f64 {
    let per_request = limits
        .rpm
        .map_or(0.0, |rpm| 60_000.0 / (rpm as f64 * PACE_SHARE));
    let tokens = (f64::from(spec.prompt_tokens)) + f64::from(spec.max_tokens);
    let per_tokens = limits
        .tpm
        .map_or(0.0, |tpm| tokens * 60_000.0 / (tpm as f64 * PACE_SHARE));
    per_request.max(per_tokens)
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
mod cap_tests;
#[cfg(test)]
mod tests;
