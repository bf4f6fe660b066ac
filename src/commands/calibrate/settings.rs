//! `postload calibrate`'s options checked into [`Settings`]: the destination through the run's own
//! checks (`--allow-spend` / `--max-cost` outside loopback, the API key, `--resolve` on loopback
//! only, the HTTP client without redirects), the models against the base catalog, and the
//! designed calls with their worst-case cost at the price table.

use std::path::PathBuf;
use std::sync::Arc;

use crate::calibrate::design::{design, reasoning_calls, spread, DEFAULT_CALLS_PER_MODEL};
use crate::calibrate::CallSpec;
use crate::cli::{CalibrateArgs, StreamArg};
use crate::clock::TimeScale;
use crate::config::{self, Destination};
use crate::metrics::budget::worst_case_usd;
use crate::openai::catalog::{Catalog, ModelEntry};
use crate::openai::reasoning::Effort;
use crate::run::post::ClientFactory;
use crate::run::Endpoint;

/// The most calls per model (a calibration is a measurement for cents, not a load test).
pub const MAX_CALLS: u32 = 1_000;
/// The most calls in flight.
pub const MAX_CONCURRENCY: u32 = 8;

/// One model to calibrate: its designed calls and what it is in the catalog.
#[derive(Debug, Clone)]
pub struct ModelPlan {
    pub model: String,
    /// The latency profile it is served with (replaced in the overlay).
    pub profile: String,
    /// Its rate-limit family (the account set's limits are per family).
    pub family: String,
    pub calls: Vec<CallSpec>,
    /// Every call at its worst case: prompt + its completion cap at the model's price (the cap
    /// is the same number whether sent as `max_tokens` or, for a reasoning model,
    /// `max_completion_tokens`: reasoning tokens are billed as output inside it).
    pub worst_usd: f64,
    /// A reasoning model's `reasoning_effort`: the lowest it takes (`None`: not a reasoning
    /// model, whose calls send `max_tokens`).
    pub effort: Option<Effort>,
    /// The efforts measured besides the lowest (`--effort`), each with its calls' cap.
    pub reasoning: Vec<EffortPlan>,
}

/// One `--effort` of one model: its calls' `max_completion_tokens` and the shipped figures.
#[derive(Debug, Clone)]
pub struct EffortPlan {
    pub effort: Effort,
    pub cap: u32,
    pub shipped: crate::openai::reasoning::ReasoningTokens,
}

/// Everything the command needs, checked.
pub struct Settings {
    pub endpoint: Endpoint,
    /// The host the calls go to, as the overlay names it.
    pub host: String,
    pub client: ClientFactory,
    /// `--max-cost`; `None` on loopback without it.
    pub max_cost: Option<f64>,
    pub catalog: Arc<Catalog>,
    /// Where the base data came from (`--mocks DIR` or the shipped mocks/).
    pub base: String,
    /// `--mocks DIR`.
    pub mocks: Option<PathBuf>,
    pub models: Vec<ModelPlan>,
    pub out: PathBuf,
    pub stream: StreamArg,
    pub concurrency: u32,
    pub seed: u64,
    pub time_scale: TimeScale,
    pub date: String,
    pub quiet: bool,
}

impl Settings {
    /// The worst case of every call of every model.
    pub fn worst_usd(&self) -> f64 {
        self.models.iter().map(|m| m.worst_usd).sum()
    }
}

/// Checks the options in a fixed order (the destination first, as `run` does).
pub fn settings(args: &CalibrateArgs) -> anyhow::Result<Settings> {
    let dest = Destination {
        base_url: args.dest.base_url.clone(),
        allow_spend: args.spend.allow.allow_spend,
        max_cost: args.spend.max_cost,
        api_key_env: args.dest.api_key_env.clone(),
        resolve: args.resolve.resolve.clone(),
        ..Destination::default()
    };
    let max_cost = config::spend_cap(&dest)?;
    let resolves = dest
        .resolve
        .iter()
        .map(|r| config::parse_resolve(r))
        .collect::<Result<Vec<_>, _>>()?;
    let remote = config::check_remote(&dest, &[])?;
    // clap requires --base-url here (`mut_arg` on `CalibrateArgs`); built by hand, say so.
    let base_url = args.dest.base_url.as_deref().ok_or_else(|| {
        anyhow::Error::msg("calibrate: give --base-url URL, the endpoint to measure")
    })?;
    let host = reqwest::Url::parse(base_url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .unwrap_or_default();
    let calls = match args.calls {
        Some(n) if !(1..=MAX_CALLS).contains(&n) => {
            return Err(anyhow::anyhow!(
                "--calls {n}: give 1 to {MAX_CALLS} calls per model"
            ))
        }
        n => n.unwrap_or(DEFAULT_CALLS_PER_MODEL),
    };
    if !(1..=MAX_CONCURRENCY).contains(&args.concurrency) {
        anyhow::bail!(
            "--concurrency {}: give 1 to {MAX_CONCURRENCY} calls in flight",
            args.concurrency
        );
    }
    let time_scale = args.time.time_scale.unwrap_or(TimeScale::ONE);
    let catalog = config::catalog_from(args.data.mocks.as_deref())?;
    let reasoning = Reasoning::parse(&args.effort, args.reasoning_cap)?;
    let models = model_plans(&args.model, calls, &reasoning, &catalog)?;
    let endpoint = config::endpoint(&dest, base_url, remote)?;
    let date = chrono::Utc::now().format("%Y-%m-%d").to_string();
    Ok(Settings {
        endpoint,
        host,
        client: config::client_factory(resolves),
        max_cost,
        base: match &args.data.mocks {
            Some(dir) => dir.display().to_string(),
            None => "the shipped mocks/".into(),
        },
        mocks: args.data.mocks.clone(),
        catalog,
        models,
        out: out_dir(args, &date),
        stream: args.stream,
        concurrency: args.concurrency,
        seed: args.seed.seed.unwrap_or_else(clock_seed),
        time_scale,
        date,
        quiet: args.verbosity.quiet,
    })
}

/// The models (default gpt-4o and gpt-4o-mini), each known to the catalog with a price, and no
/// two sharing a latency profile (the overlay holds one profile for both). A reasoning model's
/// profile is fitted at its lowest effort; each `--effort` adds reasoning calls at it.
fn model_plans(
    given: &[String],
    calls: u32,
    reasoning: &Reasoning,
    catalog: &Catalog,
) -> anyhow::Result<Vec<ModelPlan>> {
    let names: Vec<String> = if given.is_empty() {
        vec!["gpt-4o".into(), "gpt-4o-mini".into()]
    } else {
        given.to_vec()
    };
    let post = crate::scenario::Prompts::default();
    let image = (
        post.image_prompt.prompt_tokens,
        post.image_prompt.max_tokens,
    );
    let caption = (post.caption.prompt_tokens, post.caption.max_tokens);
    let mut plans: Vec<ModelPlan> = Vec::new();
    for name in names {
        let entry = catalog.model(&name).ok_or_else(|| {
            anyhow::anyhow!(
                "--model {name}: not in models.toml (known: {})",
                catalog
                    .models
                    .iter()
                    .map(|m| m.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })?;
        let price = catalog
            .prices
            .models
            .get(&name)
            .ok_or_else(|| anyhow::anyhow!("--model {name}: no price in prices.toml"))?;
        if let Some(other) = plans.iter().find(|p| p.profile == entry.profile) {
            anyhow::bail!(
                "--model {name}: shares the latency profile `{}` with --model {}; calibrate one of them",
                entry.profile, other.model
            );
        }
        if !matches!(
            catalog.profiles.get(&entry.profile),
            Some(crate::openai::latency::Profile::HeavyTail { .. })
        ) {
            anyhow::bail!(
                "--model {name}: its profile `{}` is not a heavy_tail profile to compare with",
                entry.profile
            );
        }
        // The profile is fitted at the lowest effort the model takes (`minimal` for gpt-5-mini,
        // `none` for GPT-5.6): its hidden reasoning comes before the first visible token, and at
        // a higher effort a random amount of it would sit inside every TTFT the fit reads. The
        // other efforts asked get calls of their own, fitted apart (`calibrate::reasoning`).
        let efforts = entry.reasoning().map(|r| r.efforts);
        let effort = efforts.as_ref().and_then(|e| e.iter().min().copied());
        let room = image.1.max(caption.1).max(1);
        let extra = effort_plans(entry, catalog, reasoning, effort, room)?;
        let asked: Vec<(Effort, u32)> = extra.iter().map(|e| (e.effort, e.cap)).collect();
        let more = reasoning_calls(&name, &asked, per_effort(calls), image, caption);
        let specs = spread(design(&name, calls, image, caption), more);
        let worst_usd = specs
            .iter()
            .map(|c| worst_case_usd(price, c.prompt_tokens as u64, c.max_tokens as u64))
            .sum();
        plans.push(ModelPlan {
            model: name,
            profile: entry.profile.clone(),
            family: entry.limits.clone(),
            calls: specs,
            worst_usd,
            effort,
            reasoning: extra,
        });
    }
    if let Some(asked) = reasoning.efforts.first() {
        if plans.iter().all(|p| p.effort.is_none()) {
            anyhow::bail!("--effort {asked}: none of the models reasons");
        }
    }
    Ok(plans)
}

/// The calls asked at each `--effort` above the model's lowest (`effort`), each with its
/// completion cap: `--reasoning-cap`, or the answer's `room` plus the shipped 99th percentile of
/// reasoning at that effort, within the model's output cap.
fn effort_plans(
    entry: &ModelEntry,
    catalog: &Catalog,
    reasoning: &Reasoning,
    effort: Option<Effort>,
    room: u32,
) -> anyhow::Result<Vec<EffortPlan>> {
    let name = &entry.id;
    let efforts = entry.reasoning().map(|r| r.efforts);
    let mut extra: Vec<EffortPlan> = Vec::new();
    for &asked in reasoning.efforts.iter().filter(|&&e| Some(e) != effort) {
        let Some(takes) = &efforts else { continue };
        if !takes.contains(&asked) {
            anyhow::bail!(
                "--effort {asked}: {name} takes {}",
                takes
                    .iter()
                    .map(|e| e.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        let shipped = catalog
            .reasoning_tokens
            .get(&entry.profile)
            .and_then(|t| t.get(&asked))
            .copied()
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "--effort {asked}: profile `{}` has no reasoning_tokens.{asked}",
                    entry.profile
                )
            })?;
        let cap = match reasoning.cap {
            Some(cap) => cap,
            None => {
                (room + crate::calibrate::reasoning::default_room(&shipped)).min(entry.output_cap())
            }
        };
        if !(room + 1..=entry.output_cap()).contains(&cap) {
            anyhow::bail!(
                "--reasoning-cap {cap}: give {} to {} (more than the answer's {room} tokens, at most {name}'s output cap)",
                room + 1,
                entry.output_cap()
            );
        }
        extra.push(EffortPlan {
            effort: asked,
            cap,
            shipped,
        });
    }
    Ok(extra)
}

/// Reasoning calls per effort: a quarter of the designed calls, at least 8 (at 40, the default's,
/// a log-normal median of σ 0.8 comes within about ±30 % at 95 %: 1.96 · 1.25 · 0.8/√40).
pub fn per_effort(calls: u32) -> u32 {
    (calls / 4).max(8)
}

/// `--effort` and `--reasoning-cap`, checked.
#[derive(Debug, Clone, Default)]
pub struct Reasoning {
    pub efforts: Vec<Effort>,
    pub cap: Option<u32>,
}

impl Reasoning {
    /// Each `--effort` an effort's name, none given twice.
    pub fn parse(efforts: &[String], cap: Option<u32>) -> anyhow::Result<Reasoning> {
        let mut out: Vec<Effort> = Vec::new();
        for e in efforts {
            let effort = Effort::parse(e).ok_or_else(|| {
                anyhow::anyhow!(
                    "--effort {e}: not a reasoning effort (one of {})",
                    Effort::ALL.map(Effort::as_str).join(", ")
                )
            })?;
            if out.contains(&effort) {
                anyhow::bail!("--effort {e}: given twice");
            }
            out.push(effort);
        }
        Ok(Reasoning { efforts: out, cap })
    }
}

fn clock_seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// Refuses a worst case above the cap before anything is sent.
pub fn check_worst_case(s: &Settings) -> anyhow::Result<()> {
    match s.max_cost {
        Some(cap) if s.worst_usd() > cap => Err(anyhow::anyhow!(
            "--max-cost {}: the worst case of this calibration is ${:.4} ({} calls, every one at the largest prompt a usage may report and be believed, 2 × sent + 64, + max_tokens at the price table); raise --max-cost or lower --calls",
            crate::limits::num(cap),
            s.worst_usd(),
            s.models.iter().map(|m| m.calls.len()).sum::<usize>()
        )),
        _ => Ok(()),
    }
}

/// Where the overlay and the report go: `--report-dir DIR` gives DIR/calibration-<date>/ (as
/// run and plan write their own folder in it); the old `--out DIR` is that folder itself.
fn out_dir(args: &CalibrateArgs, date: &str) -> PathBuf {
    args.out
        .clone()
        .unwrap_or_else(|| args.output.report_dir.join(format!("calibration-{date}")))
}

#[cfg(test)]
mod out_tests {
    use clap::Parser;

    use crate::cli::{Cli, Command};

    fn out(argv: &[&str]) -> std::path::PathBuf {
        let argv = [
            &[
                "postload",
                "calibrate",
                "--base-url",
                "http://127.0.0.1:9/v1",
            ],
            argv,
        ]
        .concat();
        match Cli::parse_from(argv).command {
            Some(Command::Calibrate(a)) => super::out_dir(&a, "2026-12-06"),
            _ => unreachable!("calibrate"),
        }
    }

    #[test]
    fn report_dir_holds_a_dated_folder_and_the_old_out_is_the_folder_itself() {
        // The default is what `--out` defaulted to before: reports/calibration-<date>.
        assert_eq!(
            out(&[]),
            std::path::Path::new("reports/calibration-2026-12-06")
        );
        assert_eq!(
            out(&["--report-dir", "r"]),
            std::path::Path::new("r/calibration-2026-12-06")
        );
        assert_eq!(out(&["--out", "o"]), std::path::Path::new("o"));
        let both = [
            "postload",
            "calibrate",
            "--base-url",
            "u",
            "--out",
            "o",
            "--report-dir",
            "r",
        ];
        assert!(Cli::try_parse_from(both).is_err(), "one or the other");
    }
}

#[cfg(test)]
mod effort_tests {
    use super::*;
    use crate::calibrate::Purpose;

    fn plans_with(
        models: &[&str],
        efforts: &[&str],
        cap: Option<u32>,
    ) -> anyhow::Result<Vec<ModelPlan>> {
        let models: Vec<String> = models.iter().map(|m| m.to_string()).collect();
        let efforts: Vec<String> = efforts.iter().map(|e| e.to_string()).collect();
        let r = Reasoning::parse(&efforts, cap)?;
        model_plans(&models, 20, &r, &Catalog::embedded())
    }

    fn plans(models: &[&str], efforts: &[&str]) -> anyhow::Result<Vec<ModelPlan>> {
        plans_with(models, efforts, None)
    }

    fn err(r: anyhow::Result<Vec<ModelPlan>>) -> String {
        r.unwrap_err().to_string()
    }

    #[test]
    fn a_reasoning_models_profile_is_fitted_at_its_lowest_effort() {
        // gpt-5-mini takes minimal, low, medium, high (default medium): minimal is sent.
        let p = plans(&["gpt-5-mini", "gpt-4o"], &[]).unwrap();
        assert_eq!(p[0].effort, Some(Effort::Minimal));
        assert_eq!(p[1].effort, None, "gpt-4o does not reason");
        assert!(p
            .iter()
            .all(|p| p.reasoning.is_empty() && p.calls.len() == 20));
        // Asking for the lowest adds nothing: it is the profile's own effort.
        let p = plans(&["gpt-5-mini"], &["minimal"]).unwrap();
        assert!(p[0].reasoning.is_empty() && p[0].calls.len() == 20);
    }

    #[test]
    fn each_effort_asked_adds_a_quarter_of_the_calls_at_least_8_capped_with_room_to_reason() {
        // 20 calls: a quarter is 5, so 8 each at medium and high: 36 calls.
        let p = plans(&["gpt-5-mini", "gpt-4o"], &["medium", "high"]).unwrap();
        assert_eq!(p[0].calls.len(), 20 + 2 * 8);
        assert_eq!(
            p[1].calls.len(),
            20,
            "gpt-4o does not reason: no calls added"
        );
        let at = |e| {
            p[0].calls
                .iter()
                .filter(|c| c.purpose == Purpose::Reasoning(e))
                .count()
        };
        assert_eq!((at(Effort::Medium), at(Effort::High)), (8, 8));
        assert_eq!(per_effort(160), 40);
        // The caps: the answer's room (the caption's 200 of the post's calls) plus the shipped
        // 99th percentile in steps of 256: medium 4,352 and high 13,312 (`calibrate::reasoning`'s
        // tests work them out), each effort's calls at its own.
        let caps: Vec<(Effort, u32)> = p[0].reasoning.iter().map(|r| (r.effort, r.cap)).collect();
        assert_eq!(caps, [(Effort::Medium, 4_552), (Effort::High, 13_512)]);
        for c in &p[0].calls {
            match c.purpose {
                Purpose::Reasoning(Effort::Medium) => assert_eq!(c.max_tokens, 4_552),
                Purpose::Reasoning(Effort::High) => assert_eq!(c.max_tokens, 13_512),
                Purpose::Reasoning(e) => panic!("{e}"),
                _ => assert!(c.max_tokens <= 1_024),
            }
        }
        // The worst case counts every call at its cap: more than the 20 designed calls alone.
        let alone = plans(&["gpt-5-mini"], &[]).unwrap()[0].worst_usd;
        assert!(
            p[0].worst_usd > alone + 8.0 * 13_512.0 * 2.0 / 1e6,
            "{}",
            p[0].worst_usd
        );
    }

    #[test]
    fn efforts_a_model_does_not_take_or_malformed_are_refused_naming_the_flag() {
        assert_eq!(
            err(plans(&["gpt-5-mini"], &["xhigh"])),
            "--effort xhigh: gpt-5-mini takes minimal, low, medium, high"
        );
        assert!(err(plans(&["gpt-5-mini"], &["fast"]))
            .starts_with("--effort fast: not a reasoning effort (one of none, minimal"));
        assert_eq!(
            err(plans(&["gpt-5-mini"], &["high", "high"])),
            "--effort high: given twice"
        );
        assert_eq!(
            err(plans(&["gpt-4o"], &["minimal"])),
            "--effort minimal: none of the models reasons"
        );
        // --reasoning-cap must leave room above the answer and stay within the output cap.
        assert_eq!(
            err(plans_with(&["gpt-5-mini"], &["high"], Some(200))),
            "--reasoning-cap 200: give 201 to 128000 (more than the answer's 200 tokens, at most gpt-5-mini's output cap)"
        );
        assert!(err(plans_with(&["gpt-5-mini"], &["high"], Some(128_001)))
            .starts_with("--reasoning-cap 128001"));
        let p = plans_with(&["gpt-5-mini"], &["high"], Some(30_000)).unwrap();
        assert_eq!(p[0].reasoning[0].cap, 30_000);
        assert!(p[0].calls.iter().filter(|c| c.max_tokens == 30_000).count() == 8);
    }
}
