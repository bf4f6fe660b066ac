//! `postload calibrate`: measures an account's rate limits and latency with a few designed calls
//! under the spend guard, fits the latency profile ([`crate::calibrate`]) and writes the overlay
//! that `run`, `stub` and `plan` take with `--mocks DIR`. This module is the edge: it checks the
//! options, prints the worst case, sends ([`session`]), and writes the files; the fit, the drift,
//! the limits and the overlay's texts are pure.

mod client;
mod output;
mod prompts;
mod session;
mod settings;
mod watch;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;

use self::client::Caller;
use self::output::{Calibration, Cost, ModelReport};
use self::session::{Context, ModelRun};
use self::settings::{ModelPlan, Settings};
use crate::calibrate::overlay::{self, LimitsRead};
use crate::calibrate::{drift, fit, reasoning, Purpose};
use crate::cli::CalibrateArgs;
use crate::clock::TimeScale;
use crate::metrics::budget::Budget;
use crate::openai::latency::Profile;
use crate::Outcome;

pub use self::client::MAX_ANSWER_BYTES;

/// Runs `postload calibrate`: exit 0 when it completed, 3 when the spend guard stopped it (what
/// was measured is still written), 2 for an error.
pub async fn calibrate(args: CalibrateArgs) -> anyhow::Result<Outcome> {
    let s = settings::settings(&args)?;
    let expected: Vec<Duration> = s.models.iter().map(|m| expected_time(&s, m)).collect();
    announce(&s, &expected);
    settings::check_worst_case(&s)?;
    measure(&s, &expected, s.max_cost.unwrap_or(f64::INFINITY)).await
}

/// Everything after the worst case was checked against the cap: sends each model's calls
/// under a spend guard of `cap_usd`, fits and writes what was answered. (Apart so that a test
/// can give the guard less than the worst case, the one way to reach its stop on purpose.)
async fn measure(s: &Settings, expected: &[Duration], cap_usd: f64) -> anyhow::Result<Outcome> {
    check_out(&s.out)?;
    let call_timeout = Duration::from_secs_f64(s.time_scale.to_real(MAX_CALL_S));
    // The client's own bound is the longest any call is given (a reasoning call's may be more).
    let longest = s
        .models
        .iter()
        .flat_map(|m| &m.calls)
        .map(|c| c.max_tokens)
        .max();
    let longest_s = client::call_limit_s(MAX_CALL_S, longest.unwrap_or(0));
    let client = (s.client)()
        .timeout(Duration::from_secs_f64(s.time_scale.to_real(longest_s)))
        .build()
        .context("cannot build the HTTP client")?;
    check_time_scale(&client, s).await?;
    let budget = Arc::new(Mutex::new(Budget::new(cap_usd)));
    let ctx = Arc::new(Context {
        caller: Caller {
            client,
            url: crate::secret::join_url(&s.endpoint.url, "/chat/completions"),
            api_key: s.endpoint.api_key.clone(),
            time_scale: s.time_scale,
            call_timeout,
        },
        budget: Arc::clone(&budget),
        concurrency: s.concurrency,
        interrupted: crate::stop::stop_flag_for(crate::stop::Task::Calibration),
        hurry: crate::stop::hurry_flag(),
        model_time: model_time(s),
    });
    let mut reports = Vec::new();
    let mode = crate::progress::mode(
        s.quiet,
        std::io::IsTerminal::is_terminal(&std::io::stderr()),
    );
    for (n, plan) in s.models.iter().enumerate() {
        if ctx.interrupted.load(std::sync::atomic::Ordering::SeqCst) {
            break;
        }
        let watch = watch::Watch {
            mode,
            sink: crate::progress::stderr_sink(),
            cap_usd: Some(cap_usd).filter(|c| c.is_finite()),
            later: expected[n + 1..].iter().sum(),
        };
        let run = send_model(&ctx, s, plan, watch).await;
        let stopped = run.stopped_by_cap;
        reports.push(model_report(s, plan, run));
        if stopped {
            break;
        }
    }
    let budget = budget.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let mut calibration = assemble(s, reports, &budget);
    let signal = crate::stop::signal_received();
    if let Some(sig) = signal {
        calibration.interrupted = true;
        calibration.notes.push(format!(
            "interrupted by {}: no call was sent after it; the calls answered before it are fitted and written",
            crate::stop::name(sig)
        ));
    }
    let overlay = write_files(s, &mut calibration);
    show(s, &calibration);
    overlay?;
    outcome(s, &calibration, signal)
}

/// The line before any call: how many calls to where, the worst case in money and time, and
/// the expected time.
fn announce(s: &Settings, expected: &[Duration]) {
    outln!(
        "calibrate: {} calls to {} ({}); worst case at the price table ${:.4}{}; at most {}{}; expected {}{}",
        s.models.iter().map(|m| m.calls.len()).sum::<usize>(),
        s.host,
        s.models
            .iter()
            .map(|m| format!("{} × {}", m.calls.len(), m.model))
            .collect::<Vec<_>>()
            .join(", "),
        s.worst_usd(),
        s.max_cost.map_or(String::new(), |c| format!(
            ", cap ${}",
            crate::limits::num(c)
        )),
        minutes(worst_time(s)),
        if s.models.len() > 1 {
            format!(
                " ({} a model)",
                minutes(model_time(s) + crate::stop::STOP_GRACE)
            )
        } else {
            String::new()
        },
        minutes(expected.iter().sum()),
        lowest_tier(s).map_or(String::new(), |t| format!(
            " at tier {t}'s limits"
        )),
    );
}

/// What the console shows of a calibration: each model's verdict line when quiet, else the
/// whole summary.
fn show(s: &Settings, calibration: &Calibration) {
    if s.quiet {
        for m in &calibration.models {
            match (&m.drift, &m.fit_error) {
                (Some(d), _) => outln!("{}", d.verdict),
                (None, Some(e)) => outln!("{}: no fit: {e}", m.model),
                (None, None) => {}
            }
        }
    } else {
        out!("{}", calibration.console());
    }
}

/// How the calibration ended: a signal, the spend cap, nothing answered (an error naming why),
/// or success.
fn outcome(
    s: &Settings,
    calibration: &Calibration,
    signal: Option<i32>,
) -> anyhow::Result<Outcome> {
    if let Some(sig) = signal {
        return Ok(Outcome::Interrupted(sig));
    }
    if calibration.cost.stopped_by_cap {
        return Ok(Outcome::BudgetStopped);
    }
    if calibration
        .models
        .iter()
        .all(|m| m.run.observations.is_empty())
    {
        anyhow::bail!(
            "no call was answered ({}); see {}",
            failure_words(calibration),
            s.out.join("calibration.md").display()
        );
    }
    Ok(Outcome::Success)
}

/// The most one attempt may take, from its send to its answer's last byte (modelled seconds):
/// the longest designed call (a speed call's 1,024 tokens at the slowest 20 tokens/s of the
/// shipped profiles, after a time to first token of up to 11 s) takes about 62 s.
pub const MAX_CALL_S: f64 = 120.0;

/// One model's bound in real time ([`session::MAX_MODEL_TIME_MS`] at the time scale).
fn model_time(s: &Settings) -> Duration {
    model_time_at(s.time_scale)
}

fn model_time_at(time_scale: TimeScale) -> Duration {
    Duration::from_secs_f64(time_scale.to_real(session::MAX_MODEL_TIME_MS as f64 / 1000.0))
}

/// The calibration's worst case in real time, printed before anything is sent: every model its
/// bound and the grace of its calls in flight, and the time-scale check's 2 s.
fn worst_time(s: &Settings) -> Duration {
    worst_time_of(s.models.len(), s.time_scale)
}

fn worst_time_of(models: usize, time_scale: TimeScale) -> Duration {
    let check = if time_scale.is_one() {
        Duration::ZERO
    } else {
        Duration::from_secs(2)
    };
    (model_time_at(time_scale) + crate::stop::STOP_GRACE) * models as u32 + check
}

/// A duration in whole minutes, rounded up ("61 min"), or seconds below one.
fn minutes(d: Duration) -> String {
    if d < Duration::from_secs(60) {
        format!("{} s", d.as_secs_f64().ceil())
    } else {
        format!("{} min", d.as_secs().div_ceil(60))
    }
}

/// The files a calibration writes into `--out`.
const OUT_FILES: [&str; 6] = [
    "calibration.json",
    "calibration.md",
    "latency.toml",
    "tiers.toml",
    "models.toml",
    "prices.toml",
];

/// `--out` can hold the files: created, none of its files' names taken by anything but a file,
/// and a file written into it and removed, before any call is sent (as `run` checks `--junit`
/// before any load), so that nothing paid for is lost.
fn check_out(out: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(out)
        .with_context(|| format!("--out {}: cannot create it", out.display()))?;
    for name in OUT_FILES {
        let path = out.join(name);
        if std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir()) {
            anyhow::bail!(
                "--out {}: {name} is a folder there, so it could not be written",
                out.display()
            );
        }
    }
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let probe = out.join(format!(
        ".postload-write-check-{}-{nanos}",
        std::process::id()
    ));
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
        .map_err(|e| anyhow::anyhow!("--out {}: cannot write in it: {e}", out.display()))?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

/// Every failure cause over the models, with its count ("12 × HTTP 401").
fn failure_words(c: &Calibration) -> String {
    let mut all: BTreeMap<&str, u32> = BTreeMap::new();
    for m in &c.models {
        for (why, n) in &m.run.failures {
            *all.entry(why).or_default() += n;
        }
        if m.run.rate_limited > 0 {
            *all.entry("HTTP 429").or_default() += m.run.rate_limited;
        }
    }
    if all.is_empty() {
        return "none was sent".into();
    }
    all.iter()
        .map(|(why, n)| format!("{n} × {why}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Sends one model's designed calls.
async fn send_model(
    ctx: &Arc<Context>,
    s: &Settings,
    plan: &ModelPlan,
    watch: watch::Watch,
) -> ModelRun {
    let price = s.catalog.prices.models[&plan.model];
    let mut writer = prompts::PromptWriter::new(s.seed);
    let bodies = plan
        .calls
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let effort = match c.purpose {
                Purpose::Reasoning(e) => Some(e),
                _ => plan.effort,
            };
            writer.body(c, i, effort)
        })
        .collect();
    if !s.quiet {
        outln!("{}: sending {} calls ...", plan.model, plan.calls.len());
    }
    let mut run = session::run_model(
        Arc::clone(ctx),
        &plan.model,
        price,
        plan.calls.clone(),
        bodies,
        s.stream,
        watch,
    )
    .await;
    run.effort = plan.effort;
    run
}

/// The lowest tier of the base's default tier set: the account's limits are read only from the
/// first answer, so the expected time before it assumes the slowest pacing.
fn lowest_tier(s: &Settings) -> Option<u8> {
    let set = s.catalog.tier_sets.get(&s.catalog.default_tier_set)?;
    set.tier.iter().map(|t| t.tier).min()
}

/// One model's expected time (real), printed before the first call: its calls in their order,
/// paced to half of [`lowest_tier`]'s limits, each taking what the base profile's typical
/// values say ([`crate::calibrate::progress::expected_duration`]).
fn expected_time(s: &Settings, plan: &ModelPlan) -> Duration {
    use crate::calibrate::progress::{expected_call, expected_duration, Paced};
    let limits = lowest_tier(s)
        .and_then(|t| {
            s.catalog
                .limits(&s.catalog.default_tier_set, t, &plan.model)
                .ok()
                .flatten()
        })
        .map_or_else(crate::calibrate::limits::AccountLimits::default, |l| {
            crate::calibrate::limits::AccountLimits {
                rpm: Some(l.rpm),
                tpm: Some(l.tpm),
                ..Default::default()
            }
        });
    let Some(profile) = s.catalog.profiles.get(&plan.profile) else {
        return Duration::ZERO;
    };
    let mut calls: Vec<Paced> = session::send_order(&plan.calls)
        .into_iter()
        .map(|i| {
            let spec = &plan.calls[i];
            let gap_s = s
                .time_scale
                .to_real(session::pace_gap_ms(&limits, spec) / 1000.0);
            let reasoning = plan
                .reasoning
                .iter()
                .find(|r| spec.purpose == Purpose::Reasoning(r.effort))
                .map_or(Duration::ZERO, |r| {
                    reasoning::expected_time(profile, &r.shipped, r.cap)
                });
            Paced {
                gap: crate::limits::secs(gap_s, model_time(s)),
                takes: s.time_scale.real(expected_call(profile, spec) + reasoning),
            }
        })
        .collect();
    // A call whose gap is past the longest the session takes gives the model up at its send
    // (the first call's never counts: the limits are unknown then).
    let longest = s
        .time_scale
        .real(Duration::from_millis(session::MAX_PACE_GAP_MS));
    if let Some(at) = calls.iter().skip(1).position(|c| c.gap > longest) {
        calls.truncate(at + 1);
    }
    expected_duration(&calls, s.concurrency).min(model_time(s))
}

/// The fit of one model's observations, its drift from the shipped profile and its limits'
/// tiers.
fn model_report(s: &Settings, plan: &ModelPlan, run: ModelRun) -> ModelReport {
    let shipped = &s.catalog.profiles[&plan.profile];
    let fitted = fit::fit(&plan.model, &run.observations, shipped, &s.date, "").map(|mut f| {
        let source = format!(
            "calibrated against {} on {}: {} calls, {}; tail above p95 kept from the shipped profile",
            s.host,
            s.date,
            f.calls,
            match f.method {
                crate::calibrate::Method::Streamed => "streamed",
                crate::calibrate::Method::Regression => "regression",
            }
        );
        if let Profile::HeavyTail { source: src, .. } = &mut f.profile {
            *src = source;
        }
        f
    });
    let (fit, fit_error) = match fitted {
        Ok(f) => (Some(f), None),
        Err(e) => (None, Some(e.to_string())),
    };
    // The time fit reads each call's speed with the prompt factor the profile's fit found,
    // else the shipped one.
    let k = fit
        .as_ref()
        .map(|f| f.prompt_tokens_per_output_token.value)
        .or(match shipped {
            Profile::HeavyTail {
                prompt_tokens_per_output_token,
                ..
            } => Some(*prompt_tokens_per_output_token),
            Profile::Fixed { .. } => None,
        })
        .unwrap_or(0.0);
    let reasoning = plan
        .reasoning
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let seed = s.seed ^ (i as u64 + 1).wrapping_mul(0x9e37_79b9);
            let asked = plan
                .calls
                .iter()
                .filter(|c| c.purpose == Purpose::Reasoning(r.effort))
                .count() as u32;
            reasoning::fit(r.effort, &run.observations, r.cap, r.shipped, k, seed).asked(asked)
        })
        .collect();
    ModelReport {
        model: plan.model.clone(),
        profile: plan.profile.clone(),
        family: plan.family.clone(),
        calls_designed: plan.calls.len() as u32,
        limits: run.limits,
        limits_known: run.limits.known(),
        matched: overlay::matches(&s.catalog, &plan.model, &run.limits),
        drift: fit
            .as_ref()
            .map(|f| drift::drift_with_cache(f, shipped, s.catalog.prompt_cache_hit(&plan.model))),
        fit,
        fit_error,
        reasoning,
        run,
    }
}

/// The whole calibration: every model's report, the account set, the cost.
fn assemble(s: &Settings, models: Vec<ModelReport>, budget: &Budget) -> Calibration {
    let reads: Vec<LimitsRead> = models
        .iter()
        .map(|m| LimitsRead {
            model: m.model.clone(),
            family: m.family.clone(),
            limits: m.limits,
            matched: m.matched.clone(),
        })
        .collect();
    let stamp = format!("calibrated against {} on {}", s.host, s.date);
    let account = overlay::account_set(&s.catalog, &reads, &s.date, &stamp);
    let mut notes = Vec::new();
    if account.is_none() {
        notes.push(
            "limits unknown: no answer stated x-ratelimit-limit-requests and -tokens, so tiers.toml has no account set".into(),
        );
    }
    Calibration {
        schema: output::SCHEMA,
        date: s.date.clone(),
        host: s.host.clone(),
        base_url: crate::secret::shown_url(&s.endpoint.url),
        base: s.base.clone(),
        out: s.out.display().to_string(),
        seed: s.seed,
        time_scale: s.time_scale.get(),
        cost: Cost {
            worst_case_usd: s.worst_usd(),
            max_cost_usd: Some(budget.cap_usd()).filter(|c| c.is_finite()),
            spent_usd: budget.spent_usd(),
            calls_refused: budget.refused(),
            stopped_by_cap: models.iter().any(|m| m.run.stopped_by_cap),
        },
        models,
        account,
        notes,
        interrupted: false,
    }
}

/// The base's `name` file when the base is a folder that has one (copied, so the overlay stands
/// alone), else `None` (the embedded copy applies).
fn base_file(mocks: Option<&Path>, name: &str) -> anyhow::Result<Option<String>> {
    match mocks.map(|d| d.join(name)).filter(|p| p.exists()) {
        Some(p) => Ok(Some(
            crate::limits::read_text(&p, crate::limits::MAX_TEXT_FILE_BYTES)
                .map_err(anyhow::Error::msg)?,
        )),
        None => Ok(None),
    }
}

/// Writes `calibration.json` and `calibration.md` first, whatever comes after (every answer
/// paid for is in them), then the overlay's files (each atomically) once they load as a catalog.
/// If the overlay cannot be built, the two are rewritten with a note saying so, and the error
/// is returned (exit 2).
fn write_files(s: &Settings, c: &mut Calibration) -> anyhow::Result<()> {
    write_report(s, c)?;
    match overlay_files(s, c) {
        Ok(files) => {
            for (name, bytes) in files {
                crate::report::write_atomic(&s.out.join(name), &bytes)?;
            }
            Ok(())
        }
        Err(e) => {
            c.notes.push(format!(
                "the overlay could not be built ({e:#}): only calibration.json and calibration.md were written"
            ));
            write_report(s, c)?;
            Err(e.context(format!(
                "the overlay could not be built; every observation is in {}",
                s.out.join("calibration.json").display()
            )))
        }
    }
}

fn write_report(s: &Settings, c: &Calibration) -> anyhow::Result<()> {
    crate::report::write_atomic(
        &s.out.join("calibration.json"),
        &serde_json::to_vec_pretty(c)?,
    )?;
    crate::report::write_atomic(&s.out.join("calibration.md"), c.markdown().as_bytes())?;
    Ok(())
}

/// The overlay's files, checked to load as a catalog.
fn overlay_files(s: &Settings, c: &Calibration) -> anyhow::Result<Vec<(&'static str, Vec<u8>)>> {
    use crate::openai::catalog::{EMBEDDED_MODELS, EMBEDDED_PRICES};
    let mocks = s.mocks.as_deref();
    let models = base_file(mocks, "models.toml")?;
    let prices = base_file(mocks, "prices.toml")?;
    let fitted: BTreeMap<String, overlay::Fitted> = c
        .models
        .iter()
        .filter_map(|m| {
            let f = m.fit.as_ref()?;
            Some((
                m.profile.clone(),
                overlay::Fitted {
                    profile: f.profile.clone(),
                    prompt_cache_hit: f.prompt_cache_hit.map(|e| e.value),
                },
            ))
        })
        .collect();
    let reasoning: BTreeMap<String, BTreeMap<_, _>> = c
        .models
        .iter()
        .map(|m| {
            let fitted = m.reasoning.iter();
            let efforts = fitted.filter_map(|r| Some((r.effort, r.tokens()?)));
            (m.profile.clone(), efforts.collect::<BTreeMap<_, _>>())
        })
        .filter(|(_, efforts)| !efforts.is_empty())
        .collect();
    let header = format!(
        "# Written by `postload calibrate` against {} on {} (see calibration.md), on {}.\n\n",
        c.host, c.date, c.base
    );
    let latency = overlay::latency_toml(&s.catalog, &fitted, &reasoning, &header)
        .map_err(anyhow::Error::msg)?;
    let tiers =
        overlay::tiers_toml(&s.catalog, c.account.as_ref(), &header).map_err(anyhow::Error::msg)?;
    overlay::check(
        models.as_deref().unwrap_or(EMBEDDED_MODELS),
        &tiers,
        &latency,
        prices.as_deref().unwrap_or(EMBEDDED_PRICES),
    )
    .map_err(anyhow::Error::msg)?;
    let mut files = vec![
        ("latency.toml", latency.into_bytes()),
        ("tiers.toml", tiers.into_bytes()),
    ];
    files.extend(models.map(|m| ("models.toml", m.into_bytes())));
    files.extend(prices.map(|p| ("prices.toml", p.into_bytes())));
    Ok(files)
}

/// `--time-scale K`: only against a postload stub whose clock runs at K (asked at its
/// `/__postload/stats`, through the same client and `--resolve`), since any other endpoint's
/// times would be multiplied by K.
async fn check_time_scale(client: &reqwest::Client, s: &Settings) -> anyhow::Result<()> {
    if s.time_scale.is_one() {
        return Ok(());
    }
    let k = s.time_scale.get();
    let served = crate::stub::probe::served_time_scale(client, &s.endpoint.url).await;
    match crate::stub::probe::mismatch(k, &s.endpoint.url, served) {
        None => Ok(()),
        Some(m) => Err(anyhow::Error::msg(m)),
    }
}

#[cfg(test)]
mod tests;
