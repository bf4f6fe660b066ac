//! The options several commands share: one `Args` struct per idea, `#[command(flatten)]`-ed into
//! each command that takes it, so a flag has one spelling, one description and one type
//! everywhere. A command that needs another default or requires the flag says so with
//! `mut_arg` on its own struct. Old spellings stay as hidden aliases for a release (docs/cli.md).

use std::path::PathBuf;

use clap::Args;

// Data: the mocks/ files (models, tiers, latency profiles, prices).
#[derive(Debug, Clone, Default, Args)]
pub struct Mocks {
    /// Directory with edited copies of the mocks/ data files (models.toml, tiers.toml,
    /// latency.toml, prices.toml; a file missing there comes from the shipped mocks/), or a
    /// `postload calibrate` overlay.
    #[arg(long, value_name = "DIR")]
    pub mocks: Option<PathBuf>,
}

// Verbosity.
#[derive(Debug, Clone, Default, Args)]
pub struct Verbosity {
    /// Print only the answer on standard output (the verdict with its table, or the stub's
    /// URL) and only errors on standard error.
    #[arg(long, short)]
    pub quiet: bool,
}

// Seed: one default rule, fixed so that a command repeats itself.
#[derive(Debug, Clone, Default, Args)]
pub struct Seed {
    /// Seed of the random draws (completion lengths, latencies, faults, arrivals, ids): the same
    /// seed repeats the same draws. Default: fixed, never the clock (run: each scenario's own
    /// `seed`; plan and stub: 0), except in calibrate, whose default comes from the clock so that
    /// no prompt repeats an earlier calibration's (OpenAI's prompt cache would answer it); it
    /// writes the seed it used in its report.
    #[arg(long, value_name = "N", value_parser = super::seed)]
    pub seed: Option<u64>,
}

// Time scale: how much faster than the wall clock the modelled time runs.
#[derive(Debug, Clone, Default, Args)]
pub struct TimeScaleArg {
    /// Run K times faster: the stub's latencies and bucket refill and the client's backoffs,
    /// arrivals and timeouts all scale together, and results are reported in modelled time. A
    /// separate `postload stub` must run at the same K. 1 (default) to 20.
    #[arg(long, value_name = "K", value_parser = crate::clock::TimeScale::arg)]
    pub time_scale: Option<crate::clock::TimeScale>,
}

impl From<crate::clock::TimeScale> for TimeScaleArg {
    fn from(k: crate::clock::TimeScale) -> Self {
        Self {
            time_scale: Some(k),
        }
    }
}

// Destination: where the OpenAI calls go, and the key they carry.
#[derive(Debug, Clone, Default, Args)]
pub struct DestinationArgs {
    /// The OpenAI-compatible base URL the OpenAI calls go to: a `postload stub`'s
    /// (http://127.0.0.1:9000/v1), OpenAI's (https://api.openai.com/v1) or a compatible
    /// provider's. A URL outside loopback needs --allow-spend. Default: run, an embedded stub;
    /// example-service, $OPENAI_BASE_URL or http://127.0.0.1:9000/v1; calibrate takes no default.
    #[arg(long, value_name = "URL", alias = "openai-base-url")]
    pub base_url: Option<String>,
    /// The environment variable holding the API key, sent as a bearer token and never written
    /// anywhere. Default OPENAI_API_KEY (run and calibrate read it only for a URL outside
    /// loopback unless it is named here).
    #[arg(long, value_name = "NAME")]
    pub api_key_env: Option<String>,
}

// Destination, continued: name resolution (run and calibrate).
#[derive(Debug, Clone, Default, Args)]
pub struct ResolveArgs {
    /// Connect to HOST:PORT at ADDR instead of resolving HOST (as curl's --resolve). ADDR must
    /// be a loopback address. Repeatable.
    #[arg(long, value_name = "HOST:PORT:ADDR")]
    pub resolve: Vec<String>,
}

// Spend: leaving loopback, where calls cost money.
#[derive(Debug, Clone, Default, Args)]
pub struct AllowSpend {
    /// Allow calls to a base URL or service outside loopback, which cost money (billed to the
    /// API key's owner). Run and calibrate also need --max-cost.
    #[arg(long, alias = "allow-remote-openai")]
    pub allow_spend: bool,
}

// Spend, continued: the guard (run and calibrate).
#[derive(Debug, Clone, Default, Args)]
pub struct SpendArgs {
    #[command(flatten)]
    pub allow: AllowSpend,
    /// The spend guard, in USD; required with --allow-spend. No call is sent that could take the
    /// OpenAI spend past it: run stops its attack there (exit 3; the report is still written),
    /// calibrate refuses to start when its worst case passes it.
    #[arg(long, value_name = "USD")]
    pub max_cost: Option<f64>,
}

// Output: the folder a command writes its reports into.
#[derive(Debug, Clone, Default, Args)]
pub struct ReportDir {
    /// Folder for reports; each command writes a folder of its own in it: run
    /// <DIR>/<run-id>/, plan <DIR>/plan-<id>/, calibrate <DIR>/calibration-<date>/, merge (of
    /// results) <DIR>/<run-id>-merged/.
    #[arg(long, value_name = "DIR", default_value = "reports")]
    pub report_dir: PathBuf,
}

// Output, continued: one file a command writes its answer into (compare, merge).
#[derive(Debug, Clone, Default, Args)]
pub struct OutFile {
    /// Also write the answer to this file: compare, the deltas as JSON; merge, the merged
    /// histograms as one interval log.
    #[arg(long, value_name = "FILE", alias = "json")]
    pub out: Option<PathBuf>,
}

// OpenAI's prompt cache (run's embedded stub, plan, stub).
#[derive(Debug, Clone, Default, Args)]
pub struct PromptCacheHit {
    /// Share (0..1) of eligible calls (a prompt of 1,024 tokens or more whose prefix was sent
    /// before) served from OpenAI's prompt cache, instead of each model's latency profile's
    /// `prompt_cache_hit` (0 as shipped). Not the service's own response cache
    /// (plan --response-cache-hit).
    #[arg(long, value_name = "SHARE", value_parser = crate::share::arg)]
    pub prompt_cache_hit: Option<f64>,
}
