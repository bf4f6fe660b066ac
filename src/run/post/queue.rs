//! The client's own request queue (the scenario's `client_queue`, the planner's `queue`
//! strategy): a token bucket with the case's tier limits that every call's first attempt must
//! fit in before it is sent, one FIFO queue across the case's users. The bucket is the planner's
//! client bucket ([`RateLimiter`] with [`RejectedCost::Nothing`]: a refusal only decides when to
//! send), asked for what the stub's bucket will be asked for (prompt tokens + max_tokens). Its
//! time is the case's modelled time, so `--time-scale` speeds the queue with everything else.
//! A call's place in the line is a number; a burst's posts take theirs with their post numbers,
//! so they queue in the order the planner queues them (by post number), whichever user thread
//! reaches the queue first.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::oneshot;

use crate::metrics::FailureCause;
use crate::openai::bucket::{Limits, RateLimiter, RejectedCost};

use super::CaseContext;

/// The slack a call leaves in the client's bucket, in real time's worth of refill. The server's
/// bucket runs on the times requests reach it, a little after the client decides: an empty
/// bucket starts refilling at its first arrival, and the first of a burst, on a new connection
/// among many, arrives later than a call sent alone on a quiet one (here about 5 ms against
/// 1 ms). A call sent when the client's bucket has just room for it would find the server's
/// short by that difference, and be refused. So a call goes once it fits with this much refill
/// to spare (25 tokens at 30,000 TPM, 500 under `--time-scale 20`); the spare does not add up
/// along the queue, which keeps refilling meanwhile.
pub(super) const TRANSPORT_MARGIN: Duration = Duration::from_millis(50);

/// A call's place in the client's queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Place(u64);

/// The case's client-side bucket and the line in front of it. Only the call whose turn it is
/// asks the bucket, and it keeps the turn while it waits for room, so the calls behind it wait
/// behind it, as the planner's queue keeps them behind its head.
pub(crate) struct ClientQueue {
    bucket: Mutex<RateLimiter>,
    line: Mutex<Line>,
    /// Held while a burst's post takes its number and its calls' places.
    numbering: Mutex<()>,
    tpm: u64,
    /// [`TRANSPORT_MARGIN`] in tokens of the minute limit, at the run's time scale.
    slack: u64,
}

/// Places given out, the one whose turn it is, and how to wake the calls waiting for theirs.
#[derive(Default)]
struct Line {
    next: u64,
    serving: u64,
    waiting: HashMap<u64, oneshot::Sender<()>>,
}

impl ClientQueue {
    /// A full bucket with `limits`, its time zero the case's origin; `margin` is
    /// [`TRANSPORT_MARGIN`] in modelled time.
    pub(crate) fn new(limits: Limits, margin: Duration) -> Self {
        let slack = (limits.tpm as u128 * margin.as_nanos()).div_ceil(60_000_000_000);
        Self {
            bucket: Mutex::new(RateLimiter::new(
                limits,
                RejectedCost::Nothing,
                Duration::ZERO,
            )),
            line: Mutex::default(),
            numbering: Mutex::default(),
            tpm: limits.tpm,
            slack: slack.min(u64::MAX as u128) as u64,
        }
    }

    fn line(&self) -> std::sync::MutexGuard<'_, Line> {
        self.line.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The next place in the line. Every place given out must come to the queue (or its
    /// waiter be dropped), or the calls behind it wait for ever.
    fn place(&self) -> Place {
        let mut line = self.line();
        line.next += 1;
        Place(line.next - 1)
    }

    /// Takes a post number from `next` and, in the same step, places for the post's first
    /// calls (`calls` says how many): a burst's posts then queue in their numbers' order.
    pub(super) fn number_post(
        &self,
        next: impl FnOnce() -> u64,
        calls: impl FnOnce(u64) -> usize,
    ) -> (u64, [Option<Place>; 2]) {
        let _numbering = self.numbering.lock().unwrap_or_else(|p| p.into_inner());
        let i = next();
        let mut places = [None; 2];
        for p in places.iter_mut().take(calls(i)) {
            *p = Some(self.place());
        }
        (i, places)
    }

    /// `None` when it is `place`'s turn, else what wakes it when it is.
    fn wait_for(&self, place: Place) -> Option<oneshot::Receiver<()>> {
        let mut line = self.line();
        if line.serving == place.0 {
            return None;
        }
        let (tx, rx) = oneshot::channel();
        line.waiting.insert(place.0, tx);
        Some(rx)
    }

    /// The turn passes to the next place whose call still waits.
    fn pass_turn(&self) {
        let mut line = self.line();
        loop {
            line.serving += 1;
            let serving = line.serving;
            // Not come yet (it will find its turn), or woken; a call that gave up waiting (the
            // run stopped) passes the turn on.
            let gave_up = line
                .waiting
                .remove(&serving)
                .is_some_and(|tx| tx.send(()).is_err());
            if !gave_up {
                return;
            }
        }
    }
}

impl ClientQueue {
    /// At modelled time `now`, the head of the line's call reserving `reserve` tokens: takes its
    /// share and gives `None` if it fits with the slack to spare, else how long to wait before
    /// asking again; `RateLimited` if it can never go (larger than the whole limit).
    fn try_admit(&self, now: Duration, reserve: u64) -> Result<Option<Duration>, FailureCause> {
        // Room for the call and the slack (never more than the whole limit, unless the call
        // alone is: then `admit` says it can never go).
        let padded = reserve
            .saturating_add(self.slack)
            .min(self.tpm.max(reserve));
        let mut bucket = self.bucket.lock().unwrap_or_else(|p| p.into_inner());
        match bucket.tokens_wait(now, padded) {
            Some(wait) if !wait.is_zero() => Ok(Some(wait)),
            _ => match bucket.admit(now, reserve) {
                Ok(()) => Ok(None),
                // A request limit's wait, or a call larger than the whole limit.
                Err(rejection) => rejection.wait().map(Some).ok_or(FailureCause::RateLimited),
            },
        }
    }
}

/// The turn of the call at the head of the line, passed on however that call ends.
struct Turn<'a>(&'a ClientQueue);

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        self.0.pass_turn();
    }
}

impl CaseContext {
    /// Waits until a call reserving `reserve` tokens fits the client's bucket, behind the calls
    /// before it in line (`place`, or the next place now), takes its share and records the
    /// wait. Returns at once without a queue. Fails, and the call must not be sent, when it is
    /// larger than the whole limit (it could never go: `RateLimited`, as the planner says), or
    /// when the run stops while it waits (the spend guard's stop, or Ctrl-C: still held back by
    /// the rate limits).
    pub(super) async fn wait_in_queue(
        &self,
        reserve: u64,
        place: Option<Place>,
    ) -> Result<(), FailureCause> {
        let Some(queue) = &self.queue else {
            return Ok(());
        };
        let arrived = self.now();
        let place = place.unwrap_or_else(|| queue.place());
        if let Some(turn) = queue.wait_for(place) {
            tokio::select! {
                _ = turn => {}
                _ = self.sleep_until(Duration::MAX) => return Err(self.stopped_cause()),
            }
        }
        let _turn = Turn(queue);
        let admitted = loop {
            let now = self.now();
            let Some(wait) = queue.try_admit(now, reserve)? else {
                break now;
            };
            // The bucket's wait is exact to the nanosecond; the next check reads the clock
            // again, so a wake a little early only waits once more.
            if !self
                .sleep_until(now + wait.max(Duration::from_micros(1)))
                .await
            {
                return Err(self.stopped_cause());
            }
        };
        self.recorder
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .record_queue_wait(admitted.saturating_sub(arrived));
        Ok(())
    }

    fn stopped_cause(&self) -> FailureCause {
        if self.budget_tripped() {
            FailureCause::BudgetStopped
        } else {
            FailureCause::RateLimited
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TIER_1: Limits = Limits {
        rpm: 500,
        tpm: 30_000,
        rpd: None,
    };

    /// 30,000 TPM refills 500 tokens a second: the 50 ms margin is 25 tokens, and 1 s (the
    /// margin at `--time-scale 20`) 500; 10,000 TPM over 1 s is ⌈166.7⌉ = 167.
    #[test]
    fn the_slack_is_the_margins_refill_of_the_minute_limit() {
        let slack = |limits, margin| ClientQueue::new(limits, margin).slack;
        assert_eq!(slack(TIER_1, TRANSPORT_MARGIN), 25);
        assert_eq!(slack(TIER_1, Duration::from_secs(1)), 500);
        let seed = Limits {
            tpm: 10_000,
            ..TIER_1
        };
        assert_eq!(slack(seed, Duration::from_secs(1)), 167);
    }

    /// The line's head at each admission on a virtual clock, as `wait_in_queue` asks: at
    /// `arrivals[k]` call k (reserving `reserves[k]`) joins the line; the head asks
    /// [`ClientQueue::try_admit`] and, told to wait, asks again exactly that much later.
    fn admissions(q: &ClientQueue, calls: &[(Duration, u64)]) -> Vec<Duration> {
        let mut now = Duration::ZERO;
        let mut out = Vec::new();
        for &(arrival, reserve) in calls {
            now = now.max(arrival);
            while let Some(wait) = q.try_admit(now, reserve).unwrap() {
                assert!(!wait.is_zero());
                now += wait;
            }
            out.push(now);
        }
        out
    }

    /// tests/queue.rs's burst, on a virtual clock (its live run can only show that no call
    /// went early): the seed set's Tier 1 (10,000 TPM, a token back every 6 ms), the slack of
    /// `--time-scale 20` (1 s of refill: 167 tokens), 12 image calls of 950 tokens queued at
    /// t = 0. Ten go at once (9,500 + 167 <= 10,000); the 11th waits for 950 + 167 - 500 = 617
    /// tokens, 3.702 s; the 12th for its own 950, 5.7 s more: 9.402 s. Captions queued behind
    /// them at 0.05 s each go their own reservation's refill after the call before: 1,350
    /// tokens, 8.1 s each. Exact to the nanosecond.
    #[test]
    fn queued_calls_go_exactly_when_the_bucket_has_room_with_the_slack() {
        let seed = Limits {
            rpm: 500,
            tpm: 10_000,
            rpd: None,
        };
        let q = ClientQueue::new(seed, Duration::from_secs(1));
        assert_eq!(q.slack, 167);
        let mut calls = vec![(Duration::ZERO, 950); 12];
        calls.extend([(Duration::from_millis(50), 1_350); 3]);
        let got = admissions(&q, &calls);
        let ms = Duration::from_millis;
        let mut want = vec![Duration::ZERO; 10];
        want.extend([ms(3_702), ms(9_402)]);
        want.extend([ms(9_402 + 8_100), ms(9_402 + 16_200), ms(9_402 + 24_300)]);
        assert_eq!(got, want);
    }

    /// A call larger than the whole limit can never go: `RateLimited`, never a wait.
    #[test]
    fn a_call_larger_than_the_limit_is_refused_not_queued() {
        let q = ClientQueue::new(TIER_1, TRANSPORT_MARGIN);
        assert_eq!(
            q.try_admit(Duration::ZERO, 30_001),
            Err(FailureCause::RateLimited)
        );
        // The whole limit fits a full bucket (the slack gives way to it).
        assert_eq!(q.try_admit(Duration::ZERO, 30_000), Ok(None));
    }

    /// A post numbered with its places gets consecutive ones (two for parallel calls); the
    /// turns go in place order, each woken when the one before passes it; a call that gave up
    /// waiting is skipped, and one that has not come yet finds its turn when it does.
    #[test]
    fn places_are_served_in_order_and_a_call_that_gave_up_passes_its_turn() {
        let q = ClientQueue::new(TIER_1, Duration::ZERO);
        let (i, places) = q.number_post(|| 7, |_| 2);
        assert_eq!((i, places), (7, [Some(Place(0)), Some(Place(1))]));
        let (_, places) = q.number_post(|| 8, |_| 1);
        assert_eq!(places, [Some(Place(2)), None]);
        let last = q.place();
        assert_eq!(last, Place(3));
        assert!(
            q.wait_for(Place(0)).is_none(),
            "the first place's turn at once"
        );
        let mut second = q.wait_for(Place(1)).expect("waits");
        let third = q.wait_for(Place(2)).expect("waits");
        assert!(second.try_recv().is_err());
        drop(third);
        q.pass_turn();
        assert!(second.try_recv().is_ok(), "woken by the first");
        q.pass_turn();
        assert!(
            q.wait_for(last).is_none(),
            "the third gave up: the fourth's turn"
        );
    }
}
