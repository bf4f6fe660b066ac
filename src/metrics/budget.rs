//! The spend guard's arithmetic. Before a call that may be billed is sent, its worst-case cost
//! (the largest prompt count a usage may report and still be believed, at the input price, and
//! `max_tokens` of completion at the output price) is reserved; when it ends, the reservation is
//! replaced by what it really cost (its usage if believed, else the reservation). A reservation
//! that would take spent + reserved past the cap is refused and the guard trips: nothing more is
//! sent. So the money spent never exceeds the cap as long as the provider bills what it reports.

use serde::{Deserialize, Serialize};

use super::cost::{cost_usd, Tokens};
use super::usage::max_plausible_prompt;
use crate::openai::catalog::Price;

/// A spending cap and what has been spent and reserved against it.
#[derive(Debug, Clone, PartialEq)]
pub struct Budget {
    cap_usd: f64,
    spent_usd: f64,
    reserved_usd: f64,
    tripped: bool,
    refused: u64,
}

/// A granted reservation, to hand back to [`Budget::settle`].
#[derive(Debug, Clone, Copy, PartialEq)]
#[must_use]
pub struct Reservation(f64);

impl Budget {
    pub fn new(cap_usd: f64) -> Self {
        Self {
            cap_usd,
            spent_usd: 0.0,
            reserved_usd: 0.0,
            tripped: false,
            refused: 0,
        }
    }

    /// Reserves `worst_usd`, or refuses (and trips) if that could take the spend past the cap.
    pub fn reserve(&mut self, worst_usd: f64) -> Option<Reservation> {
        if self.tripped || self.spent_usd + self.reserved_usd + worst_usd > self.cap_usd {
            self.tripped = true;
            self.refused += 1;
            return None;
        }
        self.reserved_usd += worst_usd;
        Some(Reservation(worst_usd))
    }

    /// The reserved call ended having cost `actual_usd`.
    pub fn settle(&mut self, r: Reservation, actual_usd: f64) {
        self.reserved_usd = (self.reserved_usd - r.0).max(0.0);
        self.spent_usd += actual_usd;
    }

    /// The calls reserved and never settled were abandoned (their answers will never be read):
    /// each is charged its worst case, what it was reserved at. Returns what was charged.
    pub fn charge_open(&mut self) -> f64 {
        let open = std::mem::take(&mut self.reserved_usd);
        self.spent_usd += open;
        open
    }

    pub fn cap_usd(&self) -> f64 {
        self.cap_usd
    }
    pub fn spent_usd(&self) -> f64 {
        self.spent_usd
    }
    pub fn reserved_usd(&self) -> f64 {
        self.reserved_usd
    }
    /// A reservation was refused: the run must stop.
    pub fn tripped(&self) -> bool {
        self.tripped
    }
    /// Calls not sent because of the cap.
    pub fn refused(&self) -> u64 {
        self.refused
    }
}

/// The most a call of a `prompt_tokens` prompt can be billed while its usage is believed: the
/// largest plausible prompt ([`max_plausible_prompt`]: tokenizers differ, and a usage within it is
/// taken as the truth) plus `max_tokens` of completion, nothing cached. Reserving less would let
/// a provider that bills a plausible prompt larger than ours take the spend past the cap.
pub fn worst_case_usd(price: &Price, prompt_tokens: u64, max_tokens: u64) -> f64 {
    cost_usd(
        price,
        Tokens {
            prompt: max_plausible_prompt(prompt_tokens),
            cached: 0,
            completion: max_tokens,
        },
    )
}

/// What the report says of the spend guard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct BudgetInfo {
    /// `--max-cost`.
    pub max_cost_usd: f64,
    /// Printed before the run: every planned post at its worst case.
    pub estimated_max_usd: f64,
    /// Spent by the calls that were sent (worst case where a call's usage was not seen).
    pub spent_usd: f64,
    /// The cap was reached and the attack stopped (exit 3).
    pub stopped: bool,
    /// Calls not sent because of the cap.
    pub calls_refused: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    const GPT_4O: Price = Price {
        input: 2.5,
        cached_input: Some(1.25),
        output: 10.0,
    };

    #[test]
    fn worst_case_is_the_largest_believed_prompt_plus_max_tokens() {
        // An 800-token prompt may be reported as up to 2 × 800 + 64 = 1,664 tokens and believed:
        // 1,664 × $2.5/M + 150 × $10/M = 0.00416 + 0.0015 = $0.00566.
        assert!((worst_case_usd(&GPT_4O, 800, 150) - 0.00566).abs() < 1e-12);
    }

    #[test]
    fn no_believed_usage_costs_more_than_its_reservation() {
        // The regression (issue 24): a $0.0738 cap passed to $0.0745 by a provider billing a
        // plausible prompt larger than the one sent, while the reservation held the sent one.
        use crate::metrics::usage::prompt_plausible;
        for (sent, max_tokens) in [
            (0u64, 0u64),
            (1, 1),
            (800, 150),
            (1_500, 400),
            (100_000, 16_384),
        ] {
            let worst = worst_case_usd(&GPT_4O, sent, max_tokens);
            let largest = (0..=3 * sent + 200)
                .filter(|&p| prompt_plausible(sent, p))
                .max()
                .unwrap();
            let billed = cost_usd(
                &GPT_4O,
                Tokens {
                    prompt: largest,
                    cached: 0,
                    completion: max_tokens,
                },
            );
            assert!(
                billed <= worst,
                "{sent} sent, {largest} billed: {billed} > {worst}"
            );
            // And one token more is no longer believed: the reservation is not wider than needed.
            assert!(!prompt_plausible(sent, largest + 1));
        }
    }

    #[test]
    fn reserves_until_the_cap_then_trips_and_refuses_everything() {
        let mut b = Budget::new(0.01);
        assert_eq!(b.cap_usd(), 0.01);
        let r1 = b.reserve(0.004).unwrap();
        let r2 = b.reserve(0.004).unwrap();
        // 0.008 reserved: another 0.004 could pass 0.01.
        assert_eq!(b.reserve(0.004), None);
        assert!(b.tripped());
        b.settle(r1, 0.001);
        b.settle(r2, 0.0);
        assert!((b.spent_usd() - 0.001).abs() < 1e-15);
        assert!(b.reserved_usd().abs() < 1e-15);
        // Tripped stays tripped, even with room again.
        assert_eq!(b.reserve(0.000_1), None);
        assert_eq!(b.refused(), 2);
    }

    #[test]
    fn abandoned_calls_are_charged_their_worst_case() {
        // Binary-exact: 0.25 settled at 0.125, 0.5 + 0.25 abandoned: spent 0.125 + 0.75.
        let mut b = Budget::new(1.0);
        let r = b.reserve(0.25).unwrap();
        let _lost = b.reserve(0.5).unwrap();
        let _lost_too = b.reserve(0.25).unwrap();
        b.settle(r, 0.125);
        assert_eq!(b.charge_open(), 0.75);
        assert_eq!((b.spent_usd(), b.reserved_usd()), (0.875, 0.0));
        assert_eq!(b.charge_open(), 0.0);
    }

    #[test]
    fn a_reservation_that_reaches_the_cap_exactly_fits() {
        // Binary-exact figures, so every sum below is exact: a $1 cap, $0.5 spent, then
        // 0.25 + 0.25 reserved: 0.5 + 0.5 = 1.0, at the cap, not past it.
        let mut b = Budget::new(1.0);
        assert_eq!(b.cap_usd(), 1.0);
        let r = b.reserve(0.5).unwrap();
        assert_eq!(b.reserved_usd(), 0.5);
        b.settle(r, 0.5);
        assert_eq!((b.spent_usd(), b.reserved_usd()), (0.5, 0.0));
        let _first = b.reserve(0.25).unwrap();
        let _second = b.reserve(0.25).unwrap();
        assert_eq!(b.reserved_usd(), 0.5);
        assert!(!b.tripped());
        assert_eq!(b.refused(), 0);
        // Anything more passes it: 0.5 + 0.5 + 0.125 = 1.125 > 1.
        assert_eq!(b.reserve(0.125), None);
        assert!(b.tripped());
        assert_eq!(b.refused(), 1);
    }

    #[test]
    fn spend_never_passes_the_cap_when_calls_cost_at_most_their_worst_case() {
        let mut b = Budget::new(0.05);
        let mut x = 12_345u64;
        let mut open = Vec::new();
        for _ in 0..10_000 {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            let worst = 0.001 + (x >> 40) as f64 / (1u64 << 24) as f64 * 0.004;
            if let Some(r) = b.reserve(worst) {
                open.push((r, worst * ((x >> 20) % 100) as f64 / 100.0));
            }
            if open.len() > 3 || b.tripped() {
                for (r, actual) in open.drain(..) {
                    b.settle(r, actual);
                }
            }
            assert!(b.spent_usd() + b.reserved_usd() <= 0.05 + 1e-12);
        }
        assert!(b.tripped());
    }
}
