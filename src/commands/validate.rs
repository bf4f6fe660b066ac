//! `postload plan --validate`: the planner beside the live harness. For burst-50 and burst-100
//! at Tiers 1 and 2 (gpt-4o, SDK retries) it runs the embedded stub through Goose and simulates
//! the same case, then prints p50, p95, makespan, success and 429s side by side with their
//! ratios. Both sides run the same seeds (seed, seed + 1, ..., `--validate-repeat` of them) and
//! share their random draws: the live run names each attempt's draw stream to the embedded
//! stub, so it gets the latency and length the planner draws for that post and attempt (common
//! random numbers). What differs is then what the planner leaves out (the harness, HTTP, the
//! order requests reach the stub), not the luck of the draw. With `--validate-levers`,
//! [`levers`] does the same for each design lever a run can execute.
//!
//! Each side pools its seeds ([`Figures::pooled`]): p50 and p95 of every successful post of every
//! seed (merged histograms), the mean makespan, success and 429s. Not the median of per-seed
//! figures: at Tier 1 one or two posts of a burst succeed, so a seed's p95 is one of two values
//! and their median over seeds jumps between them from one live run to the next.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use serde::Serialize;

use crate::cli::PlanArgs;
use crate::config::{EmbeddedStubOptions, Overrides, RunRequest};
use crate::metrics::{hdr, hlog, Measured};
use crate::openai::catalog::Catalog;
use crate::openai::retry::RetryPolicy;
use crate::plan::sim::Strategy;
use crate::plan::{simulate_measured, CellSpec, Design, PlanResult, PlanSpec};
use crate::result::CaseResult;

pub mod levers;

/// One case, live and simulated.
#[derive(Debug, Clone, Serialize)]
pub struct Side {
    pub scenario: String,
    pub tier: u8,
    pub users: u32,
    pub live: Figures,
    pub planned: Figures,
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct Figures {
    pub p50_s: Option<f64>,
    pub p95_s: Option<f64>,
    pub makespan_s: f64,
    pub success: f64,
    pub http_429: u64,
}

impl Figures {
    /// Several runs of one case as one sample: p50 and p95 over every successful post of every
    /// run (their `post_ok` histograms merged), and the mean makespan, success and 429s.
    pub fn pooled(runs: &[&Measured]) -> Result<Self, String> {
        let (p50_s, p95_s) = pooled_percentiles(runs, "post_ok")?;
        let n = runs.len().max(1) as f64;
        let mean = |f: &dyn Fn(&Measured) -> f64| runs.iter().map(|m| f(m)).sum::<f64>() / n;
        Ok(Self {
            p50_s,
            p95_s,
            makespan_s: mean(&|m| m.makespan_ms / 1000.0),
            success: mean(&|m| m.posts.success_share()),
            http_429: mean(&|m| m.calls.http_429 as f64).round() as u64,
        })
    }
}

/// The p50 and p95, in seconds, of histogram `name` over every run (merged); `None` where no
/// run recorded any.
pub fn pooled_percentiles(
    runs: &[&Measured],
    name: &str,
) -> Result<(Option<f64>, Option<f64>), String> {
    let decoded = runs
        .iter()
        .filter_map(|m| m.histograms.get(name))
        .map(|text| hlog::decode(text))
        .collect::<Result<Vec<_>, _>>()?;
    let pooled = hdr::pool(decoded).map_err(|e| format!("merging histograms: {e}"))?;
    // The middle of the bucket, as result.json and the planner report it.
    let at = |q: f64| {
        pooled
            .as_ref()
            .filter(|h| !h.is_empty())
            .map(|h| hdr::percentile_ms(h, q) / 1000.0)
    };
    Ok((at(0.5), at(0.95)))
}

/// planned ÷ live, or `None` when either is missing or zero.
pub fn ratio(planned: Option<f64>, live: Option<f64>) -> Option<f64> {
    match (planned, live) {
        (Some(p), Some(l)) if l > 0.0 => Some(p / l),
        _ => None,
    }
}

/// What [`compare`] runs: the live bursts (gpt-4o, SDK retries, the embedded stub) and how.
#[derive(Debug, Clone)]
pub struct Validation {
    /// The bursts' user counts.
    pub users: Vec<u32>,
    pub tiers: Vec<u8>,
    /// The live side's `--time-scale`.
    pub time_scale: crate::clock::TimeScale,
    /// The embedded stub's constant latency (`--latency-ms`), on both sides.
    pub fixed_latency_ms: Option<u64>,
    /// Seeds per case.
    pub repeat: u32,
    pub report_dir: PathBuf,
}

/// One tier's seeds of one burst: the live cases and the planner's, seed by seed.
pub struct Pair {
    pub tier: u8,
    pub live: Vec<Measured>,
    pub planned: Vec<Measured>,
}

impl Pair {
    /// Both sides pooled over their seeds.
    pub fn side(&self, scenario: String, users: u32) -> anyhow::Result<Side> {
        let live: Vec<&Measured> = self.live.iter().collect();
        let planned: Vec<&Measured> = self.planned.iter().collect();
        Ok(Side {
            scenario,
            tier: self.tier,
            users,
            live: Figures::pooled(&live).map_err(anyhow::Error::msg)?,
            planned: Figures::pooled(&planned).map_err(anyhow::Error::msg)?,
        })
    }
}

impl Validation {
    /// The live run of the bursts of `users` users under `design` (its executable levers), as
    /// `postload run` would be asked for it (public for the tests that compare its draws with
    /// the planner's).
    pub fn request(&self, spec: &PlanSpec, users: u32, design: &Design) -> RunRequest {
        RunRequest {
            scenarios: vec!["burst-50".into()],
            overrides: Overrides {
                users: Some(users),
                model: Some("gpt-4o".into()),
                tiers: self.tiers.clone(),
                // The planner's tier set, so both sides have the same limits.
                tier_set: Some(spec.tier_set.clone()),
                seed: Some(spec.seed),
                retry: Some(RetryPolicy::Sdk),
                parallel_calls: Some(design.parallel),
                caption_max_tokens: design.caption_max_tokens,
                image_max_tokens: design.image_max_tokens,
                image_prompt_share: design.image_prompt_share,
                ..Overrides::default()
            },
            stub: EmbeddedStubOptions {
                latency_ms: self.fixed_latency_ms,
                retry_after: false,
                // The simulated side plans without prompt caching: so does the live side.
                prompt_cache_hit: Some(0.0),
            },
            time_scale: Some(self.time_scale),
            repeat: (self.repeat > 1).then_some(self.repeat),
            report_dir: self.report_dir.clone(),
            quiet: true,
            ..RunRequest::default()
        }
    }

    /// Runs the bursts of `users` users live under `design` (one run, every tier and seed) and
    /// simulates each tier and seed of it; `spec` carries the validation's fixed latency.
    pub async fn measure(
        &self,
        catalog: &Catalog,
        spec: &PlanSpec,
        users: u32,
        design: &Design,
        stop: Arc<AtomicBool>,
    ) -> anyhow::Result<Vec<Pair>> {
        // The live side runs on the planner's catalog (`--mocks`), so its stub has the same
        // tier sets, profiles and prices.
        let cfg = crate::config::configure(
            &self.request(spec, users, design),
            Arc::new(catalog.clone()),
            stop,
        )?;
        let exporters = crate::report::run_exporters(&cfg.claims, &cfg.catalog.prices);
        let result = crate::run::execute(cfg, exporters).await?;
        let mut pairs = Vec::new();
        for &tier in &self.tiers {
            let live: Vec<Measured> = result
                .cases
                .iter()
                .filter(|c| c.tier == tier)
                .map(|c: &CaseResult| c.measured.clone())
                .collect();
            if live.is_empty() {
                continue;
            }
            let mut planned = Vec::new();
            for k in 0..u64::from(self.repeat.max(1)) {
                let mut s = spec.clone();
                s.seed = spec.seed.wrapping_add(k);
                let at = CellSpec {
                    model: "gpt-4o",
                    tier,
                    users,
                    strategy: Strategy::Sdk,
                    response_cache_hit: 0.0,
                    prompt_cache_hit: 0.0,
                    design: *design,
                };
                let sim = simulate_measured(catalog, &s, at).map_err(|e| anyhow::anyhow!(e.0))?;
                planned.push(sim.measured);
            }
            pairs.push(Pair {
                tier,
                live,
                planned,
            });
        }
        Ok(pairs)
    }
}

/// Runs the comparison of the note's design; returns the pairs.
pub async fn compare(
    catalog: &Catalog,
    spec: &PlanSpec,
    validation: &Validation,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<Vec<Side>> {
    let mut spec = spec.clone();
    spec.fixed_latency_ms = validation.fixed_latency_ms;
    let mut sides = Vec::new();
    for &u in &validation.users {
        let pairs = validation
            .measure(catalog, &spec, u, &Design::default(), Arc::clone(&stop))
            .await?;
        for pair in pairs {
            sides.push(pair.side(format!("burst-{u}"), u)?);
        }
    }
    Ok(sides)
}

/// The side-by-side table.
pub fn table(sides: &[Side]) -> String {
    use std::fmt::Write;
    let f = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.2}"));
    let r = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.2}"));
    let mut o = String::new();
    let _ = writeln!(
        o,
        "{:<10} {:>4} | {:>17} | {:>17} | {:>20} | {:>20} | {:>16}",
        "case",
        "tier",
        "p50 s live/plan",
        "p95 s live/plan",
        "makespan s live/plan",
        "ok % live/plan",
        "429s live/plan"
    );
    for s in sides {
        let _ = writeln!(
            o,
            "{:<10} {:>4} | {:>5} {:>5} x{:>5} | {:>5} {:>5} x{:>5} | {:>6.2} {:>6.2} x{:>5} | {:>6.1} {:>6.1} x{:>5} | {:>4} {:>4} x{:>5}",
            s.scenario,
            s.tier,
            f(s.live.p50_s),
            f(s.planned.p50_s),
            r(ratio(s.planned.p50_s, s.live.p50_s)),
            f(s.live.p95_s),
            f(s.planned.p95_s),
            r(ratio(s.planned.p95_s, s.live.p95_s)),
            s.live.makespan_s,
            s.planned.makespan_s,
            r(ratio(Some(s.planned.makespan_s), Some(s.live.makespan_s))),
            s.live.success * 100.0,
            s.planned.success * 100.0,
            r(ratio(Some(s.planned.success), Some(s.live.success))),
            s.live.http_429,
            s.planned.http_429,
            r(ratio(
                Some(s.planned.http_429 as f64),
                Some(s.live.http_429 as f64)
            )),
        );
    }
    o
}

/// `postload plan --validate`.
pub async fn validate(
    args: &PlanArgs,
    catalog: &Catalog,
    spec: &PlanSpec,
    result: &PlanResult,
    dir: &Path,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<()> {
    let users = if args.validate_users.is_empty() {
        vec![50, 100]
    } else {
        args.validate_users.clone()
    };
    outln!(
        "\nvalidation: the live harness (embedded stub, gpt-4o, SDK retries) beside the planner, both over seeds {}..={} with the same draws per post and attempt (p50/p95 of all their successful posts; makespan, success and 429s their mean); x = plan / live",
        spec.seed,
        spec.seed + u64::from(args.validate_repeat) - 1
    );
    let tiers = if args.validate_tier.is_empty() {
        vec![1, 2]
    } else {
        args.validate_tier.clone()
    };
    let validation = Validation {
        users,
        tiers,
        time_scale: args.time.time_scale.unwrap_or(crate::clock::TimeScale::ONE),
        fixed_latency_ms: None,
        repeat: args.validate_repeat,
        report_dir: dir.join("validation"),
    };
    let sides = compare(catalog, spec, &validation, Arc::clone(&stop)).await?;
    let t = table(&sides);
    out!("{t}");
    crate::report::write_atomic(
        &dir.join("validation.json"),
        &serde_json::to_vec_pretty(&sides)?,
    )?;
    crate::report::write_atomic(&dir.join("validation.txt"), t.as_bytes())?;
    if args.validate_levers {
        let validation = Validation {
            tiers: if args.validate_tier.is_empty() {
                vec![2]
            } else {
                args.validate_tier.clone()
            },
            report_dir: dir.join("validation-levers"),
            ..validation
        };
        levers::validate(catalog, spec, result, &validation, dir, stop).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::metrics::{FailureCause, PostEnd, Recorder};

    /// A run whose posts all start at 0 and end after `secs` (None: failed after 1 s).
    fn run(posts: &[Option<f64>]) -> Measured {
        let mut r = Recorder::new(Duration::from_millis(10));
        for p in posts {
            let finished = Duration::from_secs_f64(p.unwrap_or(1.0));
            r.record_post(&PostEnd {
                intended: Duration::ZERO,
                first_send: Duration::ZERO,
                finished,
                failure: p.is_none().then_some(FailureCause::RateLimited),
                rate_limit_backoff: Duration::ZERO,
            });
        }
        r.summarize(None, posts.len() as u64)
    }

    #[test]
    fn pooled_figures_take_percentiles_over_every_post_and_means_over_runs() {
        // One success each in two runs of a burst, and a third run with four: the median of
        // per-run p50s would be 9 s; over all six successful posts it is 3 s.
        let a = run(&[Some(9.0), None, None, None]);
        let b = run(&[Some(10.0), None, None, None]);
        let c = run(&[Some(1.0), Some(2.0), Some(3.0), Some(4.0)]);
        let f = Figures::pooled(&[&a, &b, &c]).unwrap();
        let near = |v: Option<f64>, want: f64| v.is_some_and(|v| (v - want).abs() < 0.01);
        assert!(near(f.p50_s, 3.0), "{f:?}");
        assert!(near(f.p95_s, 10.0), "{f:?}");
        assert!((f.success - (0.25 + 0.25 + 1.0) / 3.0).abs() < 1e-9);
        // Makespans 9, 10 and 4 s.
        assert!((f.makespan_s - 23.0 / 3.0).abs() < 0.01, "{f:?}");
        // The median of the three runs' own p50s would say 9 s.
        let mut p50s: Vec<f64> = [&a, &b, &c]
            .iter()
            .map(|m| Figures::pooled(&[m]).unwrap().p50_s.unwrap())
            .collect();
        p50s.sort_by(f64::total_cmp);
        assert!((p50s[1] - 9.0).abs() < 0.01, "{p50s:?}");
        // No successful post anywhere: no percentile, not zero.
        let none = run(&[None, None]);
        assert_eq!(Figures::pooled(&[&none]).unwrap().p50_s, None);
    }
}
