//! The spend guard's use by a case's calls: each attempt reserves its worst case from the run's
//! budget before it is sent (a refusal trips Goose's killswitch, so the attack stops), and
//! settles what it is taken to have cost once it is back.

use std::sync::{Arc, Mutex};

use super::CaseContext;
use crate::metrics::budget::{Budget, Reservation};
use crate::openai::catalog::Price;

/// The spend guard of a run against a billed endpoint, shared by every case.
#[derive(Debug)]
pub struct SpendGuard {
    /// One budget for the whole run.
    pub budget: Arc<Mutex<Budget>>,
    /// The case's model's price.
    pub price: Price,
}

impl SpendGuard {
    fn reserve(&self, worst_usd: f64) -> Option<Reservation> {
        let r = self
            .budget
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .reserve(worst_usd);
        if r.is_none() {
            goose::trigger_killswitch("the spend guard's --max-cost was reached");
        }
        r
    }

    fn settle(&self, r: Reservation, actual_usd: f64) {
        self.budget
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .settle(r, actual_usd);
    }
}
/// The spend guard refused an attempt: the run's budget cannot cover its worst case.
pub(super) struct Refused;

impl CaseContext {
    /// Reserves an attempt's worst case (`worst_usd` of the case's price): `Ok(None)` when the
    /// run has no spend guard.
    pub(super) fn reserve(
        &self,
        worst_usd: impl FnOnce(&Price) -> f64,
    ) -> Result<Option<Reservation>, Refused> {
        match &self.guard {
            Some(g) => match g.reserve(worst_usd(&g.price)) {
                Some(r) => Ok(Some(r)),
                None => Err(Refused),
            },
            None => Ok(None),
        }
    }

    /// Settles a reservation at what the attempt is taken to have cost (`actual_usd` of the
    /// case's price).
    pub(super) fn settle(
        &self,
        reservation: Option<Reservation>,
        actual_usd: impl FnOnce(&Price) -> f64,
    ) {
        if let (Some(g), Some(r)) = (&self.guard, reservation) {
            g.settle(r, actual_usd(&g.price));
        }
    }
}
