//! The bound on a whole plan's work: every post the grid, the caching table and the lever
//! search would simulate, counted from the options before anything is simulated. Each cell is
//! bounded too ([`super::MAX_PLAN_POSTS`]); this bounds their number, which the options
//! multiply (at the per-cell maximum the lever search alone was billions of posts: past ten
//! minutes and 1.8 GB, and nothing written).

use super::{levers, posts_per_day, Design, PlanError, PlanSpec};
use crate::limits::num;
use crate::openai::catalog::Catalog;

/// Posts a whole plan may simulate (grid, caching table and lever search together). The
/// heaviest plan under it (patient retries, two million-post bursts, 18 M posts) took 61 s of
/// CPU and 1.2 GB (release build, docs/limits.md gives the command).
pub const MAX_PLAN_TOTAL_POSTS: f64 = 20_000_000.0;

/// What a plan simulates, in posts, at most (every lever-search tier tried: none is clean).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PlanWork {
    /// Posts of one cell summed over the user counts.
    pub posts_over_users: f64,
    /// Cells per user count in the grid: models × tiers × strategies.
    pub grid_cells: f64,
    /// Simulations of each grid cell in the lever search: designs × seeds.
    pub lever_runs: f64,
    /// The caching table's posts.
    pub caching: f64,
}

/// Posts one cell of `users` simulates: a trace's own count (not its posts a day × days,
/// which rounding could lift past a bound the trace meets), a burst's users, or the day's.
pub fn cell_posts(spec: &PlanSpec, users: u32) -> f64 {
    match (&spec.trace, spec.posts_per_user_per_day) {
        (Some(t), _) => t.posts as f64,
        (None, None) => users as f64,
        (None, Some(_)) => posts_per_day(spec, users) * spec.days,
    }
}

impl PlanWork {
    /// `reasoning_models`: how many of the spec's models reason (the search tries each of their
    /// designs at a second effort too).
    pub fn of(spec: &PlanSpec, reasoning_models: usize) -> Self {
        let posts = |users: u32| cell_posts(spec, users);
        let designs = if spec.design == Design::default() {
            Design::grid().len()
        } else {
            1
        };
        let models = spec.models.len() as f64;
        Self {
            posts_over_users: spec.users.iter().map(|&u| posts(u)).sum(),
            grid_cells: models * spec.tiers.len() as f64 * spec.strategies.len() as f64,
            // Averaged over the models: a reasoning model's designs are searched twice.
            lever_runs: (designs as u64 * levers::SEEDS) as f64
                * if designs > 1 && !spec.models.is_empty() {
                    (spec.models.len() + reasoning_models) as f64 / models
                } else {
                    1.0
                },
            caching: models
                * spec.tiers.len().min(2) as f64
                * 4.0
                * spec.users.first().map_or(0.0, |&u| posts(u)),
        }
    }

    pub fn total(&self) -> f64 {
        self.posts_over_users * self.grid_cells * (1.0 + self.lever_runs) + self.caching
    }
}

/// `--find-rate`'s posts at most: a search per model × tier, each of at most
/// [`super::rate::MAX_STEPS`] steps of at most [`super::rate::MAX_STEP_POSTS`] posts.
pub fn find_rate_posts(spec: &PlanSpec) -> f64 {
    if !spec.find_rate {
        return 0.0;
    }
    (spec.models.len() * spec.tiers.len() * super::rate::MAX_STEPS) as f64
        * super::rate::MAX_STEP_POSTS
}

/// Refuses a plan whose whole work is past [`MAX_PLAN_TOTAL_POSTS`], naming the options whose
/// product it is.
pub fn check(spec: &PlanSpec, catalog: &Catalog) -> Result<(), PlanError> {
    let reasoning_models = spec
        .models
        .iter()
        .filter(|m| catalog.reasoning(m).is_some())
        .count();
    let w = PlanWork::of(spec, reasoning_models);
    let total = w.total();
    let rate = find_rate_posts(spec);
    if total <= MAX_PLAN_TOTAL_POSTS && total + rate > MAX_PLAN_TOTAL_POSTS {
        return Err(PlanError(format!(
            "--find-rate: --model ({}) × --tier ({}) searches of up to {} steps of up to {} posts: about {} simulated posts, with the plan's {} more than {}; give fewer models or tiers",
            spec.models.len(),
            spec.tiers.len(),
            super::rate::MAX_STEPS,
            num(super::rate::MAX_STEP_POSTS),
            num(rate),
            num(total.round()),
            num(MAX_PLAN_TOTAL_POSTS),
        )));
    }
    if total <= MAX_PLAN_TOTAL_POSTS {
        return Ok(());
    }
    let load = match (&spec.trace, spec.posts_per_user_per_day) {
        (Some(_), _) => "--trace",
        (None, None) => "--users",
        (None, Some(_)) => "--users × --posts-per-day × --days",
    };
    Err(PlanError(format!(
        "--model ({}) × --tier ({}) × --retry ({}) × {load} ({} posts over the user counts) × (1 + {} lever-search runs{}): about {} simulated posts, more than {} (the heaviest plan under it took 61 s of CPU and 1.2 GB, measured); give fewer values, fewer users{}",
        spec.models.len(),
        spec.tiers.len(),
        spec.strategies.len(),
        num(w.posts_over_users.round()),
        w.lever_runs,
        if w.lever_runs > levers::SEEDS as f64 {
            ", 32 designs (twice for a reasoning model: at a second effort) × 6 seeds"
        } else {
            ""
        },
        num(total.round()),
        num(MAX_PLAN_TOTAL_POSTS),
        if w.lever_runs > levers::SEEDS as f64 {
            ", or name a --lever (the search then runs one design, not 32)"
        } else {
            ""
        }
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn find_rate_counts_its_searches_against_the_plans_bound() {
        // The default plan (579,800 posts) with --find-rate: 2 models × 5 tiers × 30 steps ×
        // 50,000 posts = 15,000,000 more, 15.6 M in all: under 20 M. A third model makes it
        // 22.5 M + the plan's: refused, naming --find-rate.
        let mut spec = PlanSpec {
            find_rate: true,
            ..PlanSpec::default()
        };
        assert_eq!(find_rate_posts(&spec), 15_000_000.0);
        let c = Catalog::embedded();
        assert!(check(&spec, &c).is_ok());
        spec.models.push("gpt-4.1-mini".into());
        let e = check(&spec, &c).unwrap_err().0;
        assert!(
            e.starts_with("--find-rate: --model (3) × --tier (5)"),
            "{e}"
        );
        spec.find_rate = false;
        assert_eq!(find_rate_posts(&spec), 0.0);
    }

    #[test]
    fn a_traces_cell_counts_its_arrivals_exactly() {
        // A million arrivals (the trace bound) over 3 days: 333,333.33 posts a day × 3 days
        // need not come back to exactly 1,000,000 in floating point; the count is taken as is.
        let trace = crate::scenario::trace::Trace {
            file: "t.csv".into(),
            posts: (0..1_000_000u64)
                .map(|i| crate::scenario::trace::TracePost {
                    at: std::time::Duration::from_millis(i * 200),
                    ..Default::default()
                })
                .collect(),
            has_image_prompts: false,
        };
        let mut spec = PlanSpec::default();
        super::super::PlanTrace::install(&mut spec, trace, 1.0);
        assert_eq!((spec.users.clone(), spec.days), (vec![1], 3.0));
        assert_eq!(cell_posts(&spec, 1), 1_000_000.0);
        // The per-cell bound holds; the whole plan (the default grid and lever search) is
        // refused by the plan bound, naming it.
        let e = crate::plan::check(&spec, &crate::openai::catalog::Catalog::embedded())
            .unwrap_err()
            .0;
        assert!(
            e.contains("× --trace (1000000 posts") && e.contains("more than 20000000"),
            "{e}"
        );
    }

    #[test]
    fn the_default_plan_is_counted_by_hand() {
        // 2 models × 5 tiers × 2 strategies = 20 cells per user count; users 50 + 100 = 150
        // posts; the lever search runs each cell 32 designs × 6 seeds = 192 times:
        // 150 × 20 × 193 = 579,000; caching: 2 models × 2 tiers × 4 rows × 50 posts = 800.
        let spec = PlanSpec::default();
        assert_eq!(spec.tiers.len(), 5, "{:?}", spec.tiers);
        let w = PlanWork::of(&spec, 0);
        assert_eq!(w.total(), 579_800.0);
        assert!(check(&spec, &Catalog::embedded()).is_ok());
    }

    #[test]
    fn a_reasoning_models_designs_are_counted_twice() {
        // gpt-4o and gpt-5-mini, of which one reasons: its 32 designs are searched at its
        // default effort and at its lowest, so the lever runs average (32 + 64) / 2 × 6 = 288
        // per cell: 150 × 20 × 289 = 867,000, plus the caching table's 800.
        let spec = PlanSpec {
            models: vec!["gpt-4o".into(), "gpt-5-mini".into()],
            ..PlanSpec::default()
        };
        let w = PlanWork::of(&spec, 1);
        assert_eq!(w.lever_runs, 288.0);
        assert_eq!(w.total(), 867_800.0);
    }
}
