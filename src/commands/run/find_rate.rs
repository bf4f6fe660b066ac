//! `postload run --find-rate`: the highest rate of posts a second at which the target holds,
//! live. Each step is one sustained case (open Poisson arrivals at one rate for a window of
//! [`StepWindow::LIVE`]) run by the engine ([`crate::run::execute`]) and judged as the planner
//! judges its steps; the search is the planner's ([`rate::Search`]), stepped here because a
//! live step is async. For each tier the planner answers the same question beside it, for the
//! same windows, so the two can be compared. The search stops at the time budget or a signal,
//! keeping the steps it finished, and says that the bracket was not closed.

use std::time::{Duration, Instant};

use serde::Serialize;

use crate::openai::retry::RetryPolicy;
use crate::plan::rate::{self, Demand, RateAnswer, RateLimit, RateStep, Search, StepWindow};
use crate::plan::{Goal, PlanSpec};
use crate::report::{HlogExporter, JsonExporter};
use crate::run::{OpenAiTarget, RunConfig};
use crate::scenario::{Load, Scenario};
use crate::{cli, config, stop, Outcome};

/// The posts a Goose user pool may hold in flight at a step: the rate times this long, within
/// [`MIN_IN_FLIGHT`] and [`crate::limits::MAX_USERS`] (a post sent late for want of a free
/// user counts its wait: the step then judges the harness, and says so in `late`).
const IN_FLIGHT_S: f64 = 30.0;
const MIN_IN_FLIGHT: u32 = 20;
/// The Goose users a step at `per_s` posts a second has (see [`IN_FLIGHT_S`]).
pub fn pool(per_s: f64) -> u32 {
    ((per_s * IN_FLIGHT_S).ceil() as u32).clamp(MIN_IN_FLIGHT, crate::limits::MAX_USERS)
}

/// Beside a live answer whose first failing step sent posts late: the harness, not the target,
/// may have failed it (a late post's wait is in its latency). Empty otherwise.
pub fn late_text(a: &RateAnswer) -> String {
    let failing = a
        .failing_per_s
        .and_then(|r| a.steps.iter().find(|s| s.per_s == r));
    match failing {
        Some(s) if s.late_sends.is_some_and(|n| n > 0) => format!(
            " (CAUTION: {} of {} posts at {}/s were sent late, all {} of the harness's users busy: that step may have failed on the harness, not the target)",
            s.late_sends.unwrap_or(0),
            s.posts,
            crate::limits::num(s.per_s),
            pool(s.per_s)
        ),
        _ => String::new(),
    }
}

/// The live search stops when its bracket is within 5 % (the planner's, 2 %): a step takes
/// minutes, and a step of a few hundred to a few thousand posts judges its p95 no closer.
pub const LIVE_RESOLUTION: f64 = 1.05;

/// Why a search ended before its bracket closed.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Cut {
    /// The next step would have ended past `--time-budget`.
    TimeBudget,
    /// A signal: the step under way was dropped (its arrivals incomplete).
    Interrupted,
    /// A step could not run (`error` says why): the search ended there.
    Failed,
}

/// One tier's answer: the live search's, and the planner's for the same windows beside it.
#[derive(Debug, Clone, Serialize)]
pub struct TierRate {
    pub tier: u8,
    pub live: RateAnswer,
    /// `None` where the planner cannot model the client (`--retry none`).
    pub planned: Option<RateAnswer>,
    /// Set when the search ended before its bracket was closed.
    pub cut: Option<Cut>,
}

/// What `run --find-rate` writes to find-rate.json.
#[derive(Debug, Clone, Serialize)]
pub struct FindRate {
    pub schema: &'static str,
    pub model: String,
    pub scenario: String,
    pub target: Goal,
    /// Modelled seconds per real second of the steps (`--time-scale`).
    pub time_scale: f64,
    pub window: StepWindow,
    pub service_mode: bool,
    pub tiers: Vec<TierRate>,
    pub interrupted: bool,
    /// Why a step could not run, when one could not (the search ended there; exit 2).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Runs `postload run --find-rate`.
pub async fn find_rate(args: &cli::RunArgs) -> anyhow::Result<Outcome> {
    let cfg = config::run_config(args, stop::stop_flag())?;
    check(&cfg, args)?;
    let goal = Goal {
        p95_s: args.p95,
        min_success: args.min_success,
    };
    let budget = Duration::from_secs_f64(args.time_budget);
    let dir = crate::report::create_unique_dir(&cfg.reports_root, &cfg.run_id)?;
    let window = StepWindow {
        seconds: args.step,
        ..StepWindow::LIVE
    };
    let found = search(cfg, goal, window, budget, &dir).await?;
    write(&dir, &found)?;
    out!("{}", console(&found));
    outln!("report: {}", dir.join("find-rate.md").display());
    if let Some(e) = &found.error {
        anyhow::bail!("--find-rate: a step could not run, so the search ended (the steps before it are in {}): {e}", dir.join("find-rate.md").display());
    }
    Ok(Outcome::Success.unless_interrupted())
}

/// Only what postload can measure without spending: the embedded stub, or a service whose
/// calls go to the stub started alongside it.
fn check(cfg: &RunConfig, args: &cli::RunArgs) -> anyhow::Result<()> {
    let alongside = cfg
        .service_mode
        .as_ref()
        .is_some_and(|s| s.with_stub.is_some());
    match (&cfg.target, &cfg.service_mode) {
        (OpenAiTarget::Embedded(_), None) => {}
        (OpenAiTarget::Embedded(_), Some(_)) if alongside => {}
        _ => anyhow::bail!(
            "--find-rate: runs against the embedded stub, or a service (--target) with --with-stub; against --base-url, or a service calling OpenAI itself, every step would spend, at limits postload does not know"
        ),
    }
    if args.step < 60.0 {
        anyhow::bail!(
            "--step {} s: give at least 1m (a shorter step meets a bucket holding a minute of the tier's limits for most of it)",
            crate::limits::num(args.step)
        );
    }
    if !crate::limits::p95_ok(args.p95) {
        anyhow::bail!(
            "--p95 {}: give a number of seconds above 0, at most {}",
            args.p95,
            crate::limits::MAX_TIMEOUT_S
        );
    }
    Ok(())
}

/// Searches each tier of the first scenario in turn, the planner beside each.
pub async fn search(
    cfg: RunConfig,
    goal: Goal,
    window: StepWindow,
    budget: Duration,
    dir: &std::path::Path,
) -> anyhow::Result<FindRate> {
    let deadline = Instant::now() + budget;
    let first = cfg.scenarios[0].scenario.clone();
    let spec = plan_spec(&first, &cfg, goal);
    let mut found = FindRate {
        schema: "postload-find-rate/1",
        model: first.model.clone(),
        scenario: first.name.clone(),
        target: goal,
        time_scale: cfg.time_scale.get(),
        window,
        service_mode: cfg.service_mode.is_some(),
        tiers: Vec::new(),
        interrupted: false,
        error: None,
    };
    for &tier in &first.tiers {
        if stopped(&cfg) {
            found.interrupted = true;
            break;
        }
        let demand = Demand::of(&cfg.catalog, &spec, &first.model, tier)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let strategy = spec.strategies[0];
        let planned = (first.retry != RetryPolicy::None)
            .then(|| {
                rate::find_rate_windowed(&cfg.catalog, &spec, &first.model, tier, &window)
                    .map_err(|e| anyhow::anyhow!("{e}"))
            })
            .transpose()?;
        // From the planner's answer: the search is the same, its steps fewer. In service mode
        // the planner sees only the OpenAI side, an upper bound: from the rate whose step holds
        // its least posts in its nominal time, if lower.
        let nominal = window.min_posts / window.seconds;
        let start = match planned
            .as_ref()
            .and_then(|p| p.highest_per_s.or(p.failing_per_s))
        {
            Some(p) if found.service_mode => p.min(nominal),
            Some(p) => p,
            None => nominal,
        };
        let bounds = (window.floor_per_s(), demand.ceiling_per_s(&window));
        let mut s = Search::from(start, bounds, LIVE_RESOLUTION);
        let mut cut = None;
        let mut own = Vec::new();
        while let Some(per_s) = s.next_rate() {
            let w = window.at(per_s);
            let real = Duration::from_secs_f64(cfg.time_scale.to_real(w));
            if Instant::now() + real > deadline {
                cut = Some(Cut::TimeBudget);
                break;
            }
            let n = s.steps().len() + 1;
            match step(&cfg, &first, tier, per_s, w, &goal, &dir.join("steps"), n).await {
                Ok(Some((st, own_ms))) => {
                    own.push((per_s, own_ms));
                    s.record(st);
                }
                Ok(None) => {
                    cut = Some(Cut::Interrupted);
                    found.interrupted = true;
                    break;
                }
                // A step that could not run (a service that stopped answering): the steps
                // before it are kept and written, and the error ends the search.
                Err(e) => {
                    cut = Some(Cut::Failed);
                    found.error = Some(format!("{e:#}"));
                    break;
                }
            }
        }
        let mut live = rate::answer(&first.model, tier, strategy, &demand, s.finish());
        if found.service_mode {
            live.limit = service_limit(&live, &own).unwrap_or(live.limit);
        }
        found.tiers.push(TierRate {
            tier,
            live,
            planned,
            cut,
        });
        if found.interrupted || found.error.is_some() {
            break;
        }
    }
    Ok(found)
}

fn stopped(cfg: &RunConfig) -> bool {
    cfg.stop.load(std::sync::atomic::Ordering::SeqCst)
}

/// Runs one step: `per_s` posts a second for `window_s` modelled seconds at `tier`, its
/// result.json in `root`/tier-T-step-NN. `None` when a signal cut it short (not judged: its
/// arrivals were not all sent). With the step, the service's own time a post (service mode).
#[allow(clippy::too_many_arguments)]
async fn step(
    base: &RunConfig,
    scenario: &Scenario,
    tier: u8,
    per_s: f64,
    window_s: f64,
    goal: &Goal,
    root: &std::path::Path,
    n: usize,
) -> anyhow::Result<Option<(RateStep, Option<f64>)>> {
    let mut cfg = base.clone();
    let mut s = scenario.clone();
    let in_flight = pool(per_s);
    s.tiers = vec![tier];
    s.load = Load::Sustained {
        users: in_flight,
        posts_per_user_per_day: None,
        active_hours_per_day: None,
        arrival_multiplier: None,
        rate_per_s: Some(per_s),
        duration_s: window_s,
        max_in_flight: Some(in_flight),
    };
    s.thresholds.clear();
    cfg.scenarios = vec![crate::run::RunScenario {
        scenario: s,
        ..base.scenarios[0].clone()
    }];
    cfg.repeat = 1;
    cfg.quiet = true;
    cfg.reports_root = root.to_path_buf();
    cfg.run_id = format!("tier-{tier}-step-{n:02}");
    let exporters: crate::report::Exporters = vec![Box::new(JsonExporter), Box::new(HlogExporter)];
    let result = crate::run::execute(cfg, exporters).await?;
    let Some(case) = result
        .cases
        .first()
        .filter(|c| !c.interrupted && !result.interrupted)
    else {
        return Ok(None);
    };
    let m = &case.measured;
    // In service mode the 429s are the stub's (the service's calls); else the harness's own.
    let http_429 = match (&case.service, &case.stub) {
        (Some(_), Some(st)) => st.by_status.get(&429).copied().unwrap_or(0),
        _ => m.calls.http_429,
    };
    let own_ms = case.service.as_ref().and_then(|f| {
        f.per_post
            .as_ref()
            .and_then(|p| p.own_ms.p95)
            .or(f.own_mean_ms)
    });
    Ok(Some((
        RateStep {
            goodput: m.goodput(Duration::from_secs_f64(goal.p95_s)),
            late_sends: Some(m.posts.late_sends),
            ..RateStep::judged(
                per_s,
                window_s,
                m.posts.total,
                m.posts.success_share(),
                m.post_latency_ms.ok.p95.map(|ms| ms / 1000.0),
                http_429,
                goal,
            )
        },
        own_ms,
    )))
}

/// Service mode: the service limits the rate where the first failing step met no 429 and, at
/// a failing step (the first where it shows, in rising rate), from the lowest rate tried the
/// service's own time a post (p95) rose by more than the rest of the post (the wait on OpenAI)
/// did, and by at least a tenth: its own time rises with the rate while the wait on OpenAI
/// stays flat. Not the first failing step alone: a search whose lowest rate is already at the
/// service's capacity fails by a hair just above it, where the rise is within noise, and the
/// answer named the model's latency (50 ms a call) for posts that waited on the service
/// (one of five loaded suite runs); a step further up shows it plainly. `own`: each step's rate
/// and own time.
pub fn service_limit(a: &RateAnswer, own: &[(f64, Option<f64>)]) -> Option<RateLimit> {
    let failing = a.failing_per_s?;
    let step = |rate: f64| a.steps.iter().find(|s| s.per_s == rate);
    let at = |rate: f64| own.iter().find(|(r, _)| *r == rate).and_then(|(_, o)| *o);
    let lowest = own.iter().map(|(r, _)| *r).fold(f64::INFINITY, f64::min);
    let low = step(lowest)?;
    if step(failing)?.http_429 > 0 || lowest >= failing {
        return None;
    }
    let own_low = at(lowest)?;
    let rest = |post_s: Option<f64>, own_ms: f64| Some(post_s? * 1000.0 - own_ms);
    let rest_low = rest(low.p95_s, own_low)?;
    let mut failed: Vec<&RateStep> = a
        .steps
        .iter()
        .filter(|s| !s.meets && s.per_s >= failing)
        .collect();
    failed.sort_by(|x, y| x.per_s.total_cmp(&y.per_s));
    failed.into_iter().find_map(|high| {
        let own_high = at(high.per_s)?;
        let rest_rise = rest(high.p95_s, own_high)? - rest_low;
        let own_rise = own_high - own_low;
        (own_rise > rest_rise.max(0.1 * own_low)).then_some(RateLimit::Service {
            own_p95_ms_lowest: own_low,
            own_p95_ms: own_high,
        })
    })
}

/// The planner's question for the first scenario: its model, tier set, tiers, client, prompts
/// and design, the run's seed and `--latency-ms`, and the target.
fn plan_spec(s: &Scenario, cfg: &RunConfig, goal: Goal) -> PlanSpec {
    use crate::plan::sim::Strategy;
    let strategy = if s.client_queue {
        Strategy::Queue
    } else if s.retry == RetryPolicy::Patient {
        Strategy::Patient
    } else {
        Strategy::Sdk
    };
    let (latency_ms, prompt_cache_hit) = match &cfg.target {
        OpenAiTarget::Embedded(stub) => (
            stub.fixed_latency.map(|d| d.as_millis() as u64),
            stub.prompt_cache_hit,
        ),
        OpenAiTarget::BaseUrl(_) => (None, None),
    };
    let mut spec = PlanSpec {
        models: vec![s.model.clone()],
        tier_set: s.tier_set.clone(),
        tiers: s.tiers.clone(),
        users: vec![1],
        strategies: vec![strategy],
        prompts: s.prompts,
        image_prompt_share: s.image_prompt_share,
        target: goal,
        seed: s.seed,
        fixed_latency_ms: latency_ms,
        ..PlanSpec::default()
    };
    spec.design.parallel = s.parallel_calls;
    match prompt_cache_hit {
        Some(share) => spec.prompt_cache_hit = share,
        None => spec.take_profile_prompt_cache_hits(&cfg.catalog),
    }
    spec
}

/// The console: a line per tier, the live answer and the planner's beside it.
pub fn console(f: &FindRate) -> String {
    let mut o = format!("{}:\n", heading(f));
    for t in &f.tiers {
        o.push_str(&format!(
            "  {} Tier {}: {}{}\n",
            f.model,
            t.tier,
            crate::report::rate::answer_text(&t.live),
            cut_text(t.cut)
        ));
        let late = late_text(&t.live);
        if !late.is_empty() {
            o.push_str(&format!("   {}\n", late.trim()));
        }
        o.push_str(&format!(
            "    planner, the same windows: {}\n",
            planned_text(t)
        ));
    }
    o
}

fn heading(f: &FindRate) -> String {
    format!(
        "highest sustainable rate, live ({}{}; open Poisson arrivals, {}, the bracket to 5 %; target: post p95 ≤ {} s, at least {:.1} % of posts ok)",
        if f.service_mode {
            "the service, the stub alongside"
        } else {
            "the embedded stub"
        },
        if f.time_scale == 1.0 {
            String::new()
        } else {
            format!(" at --time-scale {}", f.time_scale)
        },
        f.window.words(),
        f.target.p95_s,
        f.target.min_success * 100.0
    )
}

fn cut_text(cut: Option<Cut>) -> &'static str {
    match cut {
        Some(Cut::TimeBudget) => " (NOT BRACKETED: the time budget ended first)",
        Some(Cut::Interrupted) => " (NOT BRACKETED: interrupted)",
        Some(Cut::Failed) => " (NOT BRACKETED: a step could not run)",
        None => "",
    }
}

fn planned_text(t: &TierRate) -> String {
    match &t.planned {
        None => {
            "- (the planner models the sdk, patient and queue clients, not --retry none)".into()
        }
        Some(p) => {
            let agree = match (t.live.highest_per_s, p.highest_per_s) {
                (Some(l), Some(p)) => format!("; live/planner {:.2}", l / p),
                _ => String::new(),
            };
            format!("{}{agree}", crate::report::rate::answer_text(p))
        }
    }
}

/// find-rate.md: the heading, then a table: tier, the live rate and the planner's, what limits
/// it, and each step.
pub fn markdown(f: &FindRate) -> String {
    let mut o = format!(
        "# Highest sustainable rate\n\n{}.\n\n![p95 and posts ok against the rate](charts/find-rate.png)\n\n",
        heading(f)
    );
    if let Some(e) = &f.error {
        o.push_str(&format!(
            "**A step could not run, and the search ended there**: {e}\n\n"
        ));
    }
    o.push_str("| tier | live | planner (the same windows) | live/planner | limited by (live) |\n|---|---|---|---|---|\n");
    let rate = |v: Option<f64>| v.map_or("none".to_string(), |v| format!("{v:.3}/s"));
    for t in &f.tiers {
        let p = t.planned.as_ref().and_then(|p| p.highest_per_s);
        o.push_str(&format!(
            "| {} | {}{} | {} | {} | {}{} |\n",
            t.tier,
            rate(t.live.highest_per_s),
            cut_text(t.cut),
            t.planned.as_ref().map_or("-".to_string(), |_| rate(p)),
            match (t.live.highest_per_s, p) {
                (Some(l), Some(p)) => format!("{:.2}", l / p),
                _ => "-".into(),
            },
            crate::report::rate::limit_text(&t.live),
            late_text(&t.live)
        ));
    }
    o.push_str("\n## Steps, live\n\n| tier | posts/s | window, s | posts | ok | p95, s | goodput (ok within the target) | 429s | sent late | held |\n|---|---|---|---|---|---|---|---|---|---|\n");
    for t in &f.tiers {
        for s in &t.live.steps {
            o.push_str(&format!(
                "| {} | {:.4} | {:.0} | {} | {} | {} | {} | {} | {} | {} |\n",
                t.tier,
                s.per_s,
                s.window_s,
                s.posts,
                share(s.success),
                s.p95_s.map_or("-".into(), |p| format!("{p:.2}")),
                s.goodput.map_or("-".into(), share),
                s.http_429,
                s.late_sends.map_or("-".into(), |n| n.to_string()),
                if s.meets { "yes" } else { "no" }
            ));
        }
    }
    o
}

/// A share as a percentage to two places, so that 289 of 292 (98.97 %) never reads as the
/// 99.0 % it failed.
fn share(v: f64) -> String {
    format!("{:.2} %", v * 100.0)
}

/// find-rate.json, find-rate.md and the chart, each written whole (a temporary file renamed).
fn write(dir: &std::path::Path, f: &FindRate) -> anyhow::Result<()> {
    let json = serde_json::to_vec_pretty(f)?;
    crate::report::write_atomic(&dir.join("find-rate.json"), &json)?;
    crate::report::write_atomic(&dir.join("find-rate.md"), markdown(f).as_bytes())?;
    std::fs::create_dir_all(dir.join("charts"))?;
    for (name, bytes) in crate::report::charts::find_rate_charts(&view(f))? {
        crate::report::write_atomic(&dir.join(name), &bytes)?;
    }
    Ok(())
}

/// The chart's lines: the live search's and the planner's, per tier.
fn view(f: &FindRate) -> crate::report::charts::RateView<'_> {
    use crate::report::charts::RateLine;
    let mut lines = Vec::new();
    for (k, t) in f.tiers.iter().enumerate() {
        lines.push(RateLine {
            label: format!("live, Tier {}", t.tier),
            answer: &t.live,
            colour: k,
            dashed: false,
        });
        if let Some(p) = &t.planned {
            lines.push(RateLine {
                label: format!("planner, Tier {}", t.tier),
                answer: p,
                colour: k,
                dashed: true,
            });
        }
    }
    crate::report::charts::RateView {
        models: vec![f.model.clone()],
        lines,
        target: f.target,
        streamed: false,
    }
}

#[cfg(test)]
mod tests;
