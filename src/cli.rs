//! The command line (clap derive): raw values only; `config` turns them into checked settings.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

mod shared;
pub use shared::*;
#[cfg(test)]
mod tests;

#[derive(Debug, Parser)]
#[command(
    name = "postload",
    version,
    about = "Load-test an OpenAI-backed marketing-post service, against the real service or a faithful OpenAI stub",
    long_about = None,
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// With no subcommand, postload runs (`postload run`'s options apply).
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    #[command(about = crate::scenario::run_about())]
    Run(Box<RunArgs>),
    /// Serve the OpenAI stub until Ctrl-C; prints the OPENAI_BASE_URL a service should use.
    Stub(StubArgs),
    /// Render report.md, report.html and the charts again from a saved result.json (into the
    /// result's folder).
    Report(ReportArgs),
    /// Merge HdrHistogram interval logs (from several load machines) exactly and print the
    /// percentiles of each tag; or merge the result.json files of a run's shards (--shard)
    /// into one result and its reports.
    Merge(MergeArgs),
    /// Compare two results metric by metric: exit 1 on a regression beyond the tolerance that
    /// is not within noise.
    Compare(CompareArgs),
    /// Check a saved result.json against a gate file: exit 0 if every threshold holds, 1 if one
    /// fails, 2 if the gate or result is wrong.
    Check(CheckArgs),
    /// Plan capacity by simulation (no HTTP): which tier and client strategy meet a target for
    /// each model and user count, and what it costs a month.
    Plan(Box<PlanArgs>),
    /// Serve a reference marketing-post service (POST /api/marketing-post) that calls OpenAI
    /// (or the stub) like the planning note's service, until Ctrl-C.
    ExampleService(ExampleServiceArgs),
    /// Measure an account's rate limits and latency with a few capped calls and write them as a
    /// mocks overlay (latency.toml, tiers.toml) that run, stub and plan take with --mocks DIR.
    Calibrate(Box<CalibrateArgs>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StreamArg {
    /// Try one streamed call; stream if the endpoint streams as it writes, else send plain calls.
    Auto,
    /// Stream every call (the time to first token from the first content chunk).
    On,
    /// Plain calls (the time to first token by regression of latency on output tokens).
    Off,
}

#[derive(Debug, Clone, Args)]
#[command(mut_arg("base_url", |a| a.required(true)))]
pub struct CalibrateArgs {
    // The endpoint to measure (--base-url, required).
    #[command(flatten)]
    pub dest: DestinationArgs,
    /// Models to calibrate. Repeatable. Default: gpt-4o and gpt-4o-mini.
    #[arg(long, value_name = "M")]
    pub model: Vec<String>,
    /// Calls per model (default: the designed number, see docs/calibrate.md).
    #[arg(long, value_name = "N")]
    pub calls: Option<u32>,
    /// A reasoning effort to measure besides the lowest (which the profile is fitted at): a
    /// quarter as many calls again (at least 8), their reasoning tokens and time fitted.
    /// Repeatable (docs/calibrate.md).
    #[arg(long, value_name = "E")]
    pub effort: Vec<String>,
    /// The max_completion_tokens of the --effort calls (default: the answer's room plus the
    /// shipped profile's 99th percentile of reasoning at that effort).
    #[arg(long, value_name = "TOKENS", requires = "effort")]
    pub reasoning_cap: Option<u32>,
    #[command(flatten)]
    pub output: ReportDir,
    /// Before --report-dir: the exact folder for the overlay and the report (kept for a release;
    /// `--report-dir DIR` writes DIR/calibration-<date>/).
    #[arg(long, value_name = "DIR", hide = true, conflicts_with = "report_dir")]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub spend: SpendArgs,
    #[command(flatten)]
    pub resolve: ResolveArgs,
    #[command(flatten)]
    pub data: Mocks,
    /// Stream the calls (auto: when the endpoint streams as it writes).
    #[arg(long, value_name = "WHEN", value_enum, default_value_t = StreamArg::Auto)]
    pub stream: StreamArg,
    /// Calls in flight at once (1 to 8).
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub concurrency: u32,
    #[command(flatten)]
    pub seed: Seed,
    #[command(flatten)]
    pub time: TimeScaleArg,
    #[command(flatten)]
    pub verbosity: Verbosity,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StrategyArg {
    /// The official SDK's retries.
    Sdk,
    /// The cookbook's patient retries.
    Patient,
    /// A client-side token bucket: calls wait until the tier's limits let them through.
    Queue,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CurveArg {
    /// Quiet nights, a morning peak, steady afternoons (see docs/planning.md).
    Business,
    /// The same rate all day.
    Flat,
}

#[derive(Debug, Clone, Args)]
pub struct PlanArgs {
    /// Models to plan for. Repeatable. Default: gpt-4o and gpt-4o-mini.
    #[arg(long, value_name = "M")]
    pub model: Vec<String>,
    /// Tier set (openai-2025, or seed: the planning note's claims).
    #[arg(long = "tiers", value_name = "SET")]
    pub tier_set: Option<String>,
    /// Tiers to try. Repeatable. Default: every tier of the set.
    #[arg(long, value_name = "N")]
    pub tier: Vec<u8>,
    /// User counts. Repeatable. Default: 50 and 100.
    #[arg(long, value_name = "N")]
    pub users: Vec<u32>,
    /// Posts per user per day across a day (a daily curve) instead of one burst of every user.
    #[arg(long, value_name = "N")]
    pub posts_per_day: Option<f64>,
    /// Days to simulate with --posts-per-day.
    #[arg(long, value_name = "D", default_value_t = 1.0)]
    pub days: f64,
    /// The daily curve for --posts-per-day.
    #[arg(long, value_name = "SHAPE", value_enum, default_value_t = CurveArg::Business)]
    pub curve: CurveArg,
    /// Client retry policies to compare (the client strategies). Repeatable. Default: sdk and
    /// queue.
    #[arg(long = "retry", alias = "strategy", value_enum, value_name = "POLICY")]
    pub strategy: Vec<StrategyArg>,
    /// Target: p95 of successful posts at most this many seconds (above 0, at most 3600).
    #[arg(long, value_name = "SECS", value_parser = crate::limits::p95_arg, default_value_t = 5.0)]
    pub p95: f64,
    /// Target: at least this share of posts succeed (1 = no failed post).
    #[arg(long, value_name = "SHARE", value_parser = crate::share::arg, default_value_t = 1.0)]
    pub min_success: f64,
    /// Share of posts the service answers from its own response cache (the note's Redis idea),
    /// without calling OpenAI.
    #[arg(
        long = "response-cache-hit",
        alias = "cache-hit",
        value_name = "SHARE",
        value_parser = crate::share::arg,
        default_value_t = 0.0
    )]
    pub cache_hit: f64,
    #[command(flatten)]
    pub prompt_cache: PromptCacheHit,
    /// Share of posts that bring their own image prompt.
    #[arg(long, value_name = "SHARE", value_parser = crate::share::arg, default_value_t = 0.0)]
    pub image_prompt_share: f64,
    /// A design lever every cell runs with, instead of searching them all. Repeatable:
    /// parallel, stream, caption-max-tokens=N, image-max-tokens=N, image-prompt-share=S,
    /// cache-hit=S, effort=E (a reasoning model's effort) (see docs/planning.md)
    #[arg(long, value_name = "LEVER")]
    pub lever: Vec<String>,
    #[command(flatten)]
    pub seed: Seed,
    #[command(flatten)]
    pub output: ReportDir,
    #[command(flatten)]
    pub data: Mocks,
    /// Claims whose monthly tables to set beside the plan (default: the planning note's).
    #[arg(long, value_name = "FILE")]
    pub claims: Option<PathBuf>,
    /// A result.json from `postload run`: its measured $/post joins the monthly table.
    #[arg(long, value_name = "FILE")]
    pub result: Option<PathBuf>,
    /// Also find, for each model and tier, the highest rate of posts a second the target holds
    /// at: open (Poisson) arrivals, an hour a step, the bracket to 2 % (see docs/planning.md).
    #[arg(long)]
    pub find_rate: bool,
    /// Also run the live harness (embedded stub) on burst-50 and burst-100 at Tiers 1 and 2 and
    /// print its p50, p95, makespan and success beside the planner's.
    #[arg(long)]
    pub validate: bool,
    #[command(flatten)]
    pub time: TimeScaleArg,
    /// With --validate: seeds per case, each run live and simulated with the same draws (each
    /// side pooled: percentiles over every successful post, means of the rest).
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub validate_repeat: u32,
    /// With --validate: override the user counts of the live bursts (default 50 and 100).
    #[arg(long, value_name = "N")]
    pub validate_users: Vec<u32>,
    /// With --validate: override the tiers (default 1 and 2; 2 for --validate-levers). Repeatable.
    #[arg(long, value_name = "N")]
    pub validate_tier: Vec<u8>,
    /// With --validate: also run the executable design levers live beside the planner (the
    /// note's design, parallel calls, caption max_tokens 120, image prompt max_tokens 100, image
    /// prompt share 0.5, and the plan's best combination), at Tier 2; six times the live runs.
    #[arg(long, requires = "validate")]
    pub validate_levers: bool,
    #[command(flatten)]
    pub verbosity: Verbosity,
    /// Simulate the arrivals of this trace (CSV or JSONL, docs/trace.md) on every cell, in
    /// place of --users and --posts-per-day.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["users", "posts_per_day", "days", "curve", "validate"])]
    pub trace: Option<String>,
    /// Simulate a trace K times faster than the file's pace (arrivals only; 1 to 100,000).
    #[arg(long, value_name = "K", requires = "trace")]
    pub trace_speed: Option<f64>,
}

#[derive(Debug, Clone, Args)]
#[command(
    mut_arg("base_url", |a| a
        .env("OPENAI_BASE_URL")
        .hide_env_values(true)
        .default_value("http://127.0.0.1:9000/v1")),
    mut_arg("api_key_env", |a| a.default_value("OPENAI_API_KEY"))
)]
pub struct ExampleServiceArgs {
    /// Port on 127.0.0.1 (0 picks a free one).
    #[arg(long, value_name = "PORT", default_value_t = 8000)]
    pub port: u16,
    // Where the service's OpenAI calls go (--base-url) and its key.
    #[command(flatten)]
    pub dest: DestinationArgs,
    /// The model of both calls.
    #[arg(long, value_name = "M", env = "OPENAI_MODEL", default_value = "gpt-4o")]
    pub model: String,
    /// The OpenAI endpoint its calls go to: chat (chat completions) or responses (the
    /// Responses API).
    #[arg(long, value_name = "API", value_enum, default_value_t = crate::scenario::prompts::ApiEndpoint::Chat)]
    pub openai_endpoint: crate::scenario::prompts::ApiEndpoint,
    /// The brand-memory look-up's delay.
    #[arg(long, value_name = "MS", default_value_t = 20)]
    pub memory_ms: u64,
    /// Look-ups the memory store serves at once (a client's connection pool; 1 to 10,000):
    /// more wait their turn, so past N ÷ the delay posts a second the service's own time
    /// rises with the rate. Default: any number.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub memory_pool: Option<u32>,
    /// The service's OpenAI client retries.
    #[arg(long, value_name = "POLICY", value_enum, default_value_t = RetryArg::Sdk)]
    pub retry: RetryArg,
    /// Regression to try a gate on: a third OpenAI call per post (hashtags for the caption).
    #[arg(long)]
    pub extra_call: bool,
    /// Regression to try a gate on: both prompts this many times their size (1.3: 30 % longer).
    #[arg(long, value_name = "X", default_value_t = 1.0)]
    pub prompt_scale: f64,
    /// The status it answers when OpenAI still rate-limits it after its retries (500: the
    /// regression a gate should catch).
    #[arg(long, value_name = "STATUS", default_value_t = 429)]
    pub status_on_429: u16,
    /// Do not forward the incoming `traceparent` on the OpenAI calls (a service without trace
    /// propagation: postload then estimates its own time from means).
    #[arg(long)]
    pub no_trace_propagation: bool,
    /// A broken service to try a gate on: server-error (500 to every post), hang (never
    /// answers), bad-body (200 without a caption, after its calls).
    #[arg(long, value_name = "KIND", value_enum)]
    pub fault: Option<crate::example::Fault>,
    #[command(flatten)]
    pub spend: AllowSpend,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RetryArg {
    /// The official SDK's: 2 retries, 0.5 s then 1 s, -25 % jitter, honours retry-after.
    Sdk,
    /// No retries.
    None,
    /// The cookbook's: up to 5 retries after random waits of 1 to 60 s.
    Patient,
}

#[derive(Debug, Clone, Default, Args)]
pub struct RunArgs {
    #[arg(long, value_name = "NAME|PATH", help = crate::scenario::scenario_help())]
    pub scenario: Vec<String>,
    /// Override the scenarios' user count (1 to 10,000).
    #[arg(long, value_name = "N")]
    pub users: Option<u32>,
    /// Override the scenarios' model.
    #[arg(long, value_name = "M")]
    pub model: Option<String>,
    /// Run at this tier instead of the scenarios' tiers. Repeatable.
    #[arg(long, value_name = "N")]
    pub tier: Vec<u8>,
    /// Override the scenarios' tier set (openai-2025, or seed: the planning note's claims).
    #[arg(long = "tiers", value_name = "SET")]
    pub tier_set: Option<String>,
    #[command(flatten)]
    pub seed: Seed,
    /// Override the scenarios' retry policy.
    #[arg(long, value_name = "POLICY", value_enum)]
    pub retry: Option<RetryArg>,
    #[command(flatten)]
    pub output: ReportDir,
    #[command(flatten)]
    pub verbosity: Verbosity,
    // Where the posts' OpenAI calls go (--base-url; default: an embedded stub) and their key.
    #[command(flatten)]
    pub dest: DestinationArgs,
    /// Service mode: post to the service at this URL (e.g. http://127.0.0.1:8000) instead of
    /// calling OpenAI directly; the scenarios' [target] sections shape the request (default:
    /// `postload example-service`'s POST /api/marketing-post).
    #[arg(long, value_name = "URL")]
    pub target: Option<String>,
    /// Service mode: start the OpenAI stub on 127.0.0.1:PORT for the service (print its
    /// OPENAI_BASE_URL, wait for the service to answer, reset the stub for every case) and
    /// attribute tokens, cost and the inner calls' latencies from the stub's counts.
    #[arg(long, value_name = "PORT")]
    pub with_stub: Option<u16>,
    /// Service mode: how long to wait for the service to answer before the load (30s, 2m, 500ms;
    /// default: 30s with --with-stub, else none: a service that does not answer is refused).
    #[arg(long, value_name = "DURATION", value_parser = crate::limits::duration_arg)]
    pub wait_for_target: Option<f64>,
    #[command(flatten)]
    pub spend: SpendArgs,
    #[command(flatten)]
    pub resolve: ResolveArgs,
    #[command(flatten)]
    pub time: TimeScaleArg,
    /// Embedded stub: serve every call with this constant latency instead of the model's profile.
    #[arg(long, value_name = "MS")]
    pub latency_ms: Option<u64>,
    /// Embedded stub: send retry-after and retry-after-ms on 429s.
    #[arg(long)]
    pub retry_after: bool,
    #[command(flatten)]
    pub prompt_cache: PromptCacheHit,
    #[command(flatten)]
    pub data: Mocks,
    /// Claims to judge in report.md (default: the planning note's, scenarios/claims.toml).
    #[arg(long, value_name = "FILE")]
    pub claims: Option<std::path::PathBuf>,
    /// Run every scenario × tier K times (seeds seed, seed+1, ...), keeping each repetition;
    /// `postload compare` pools them. 1 to 100.
    #[arg(long, value_name = "K")]
    pub repeat: Option<u32>,
    /// Check these thresholds after the run: exit 1 if one fails (see gates/).
    #[arg(long, value_name = "FILE")]
    pub gate: Option<std::path::PathBuf>,
    /// Write the gate checks as JUnit XML here (default: junit.xml in the report folder).
    #[arg(long, value_name = "FILE")]
    pub junit: Option<std::path::PathBuf>,
    /// Replay the arrivals of this trace (CSV or JSONL, docs/trace.md) in every scenario, in
    /// place of its load.
    #[arg(long, value_name = "FILE")]
    pub trace: Option<String>,
    /// Replay a trace K times faster than the file's pace (arrivals only; 1 to 100,000).
    #[arg(long, value_name = "K")]
    pub trace_speed: Option<f64>,
    /// Find the highest rate of posts a second at which the target (--p95, --min-success)
    /// holds, live: open (Poisson) arrivals a step, the bracket to 5 %, the planner's answer
    /// beside it (docs/run.md). The first scenario's model and design, at each --tier.
    #[arg(long, conflicts_with_all = ["repeat", "trace", "gate", "junit", "shard"])]
    pub find_rate: bool,
    /// With --find-rate, the target: p95 of successful posts at most this many seconds (above
    /// 0, at most 3600).
    #[arg(
        long,
        value_name = "SECS",
        requires = "find_rate",
        value_parser = crate::limits::p95_arg,
        default_value_t = 5.0
    )]
    pub p95: f64,
    /// With --find-rate, the target: at least this share of posts succeed.
    #[arg(long, value_name = "SHARE", requires = "find_rate", value_parser = crate::share::arg, default_value_t = 0.99)]
    pub min_success: f64,
    /// With --find-rate: each step's arrivals last this long (modelled time; 1m to 60m), longer
    /// where 300 posts need it: the first minute's full bucket may lift an answer by up to
    /// 1 min ÷ this.
    #[arg(long, value_name = "DURATION", requires = "find_rate", value_parser = crate::limits::duration_arg, default_value = "10m")]
    pub step: f64,
    /// With --find-rate: stop searching after this much real time (90s, 20m); the answer says
    /// when the bracket was not closed.
    #[arg(long, value_name = "DURATION", requires = "find_rate", value_parser = crate::limits::duration_arg, default_value = "30m")]
    pub time_budget: f64,
    /// Send only shard i of N machines' share: a burst's posts i, i+N, ... (from 1), a
    /// sustained load's or trace's every N-th arrival at its own time, each post with the seeds
    /// it has unsharded (docs/shards.md). `postload merge` combines the shards' result.json files.
    #[arg(long, value_name = "i/N", value_parser = crate::shard::arg)]
    pub shard: Option<crate::shard::Shard>,
}

#[derive(Debug, Clone, Args)]
pub struct CompareArgs {
    /// The baseline result.json.
    #[arg(value_name = "BASE.json")]
    pub base: std::path::PathBuf,
    /// The new result.json.
    #[arg(value_name = "NEW.json")]
    pub new: std::path::PathBuf,
    /// Allowed rise of a lower-is-better metric, as a share (0.1) or percent (10%).
    #[arg(long, value_name = "SHARE", default_value = "10%")]
    pub tolerance: String,
    #[command(flatten)]
    pub output: OutFile,
    #[command(flatten)]
    pub verbosity: Verbosity,
}

#[derive(Debug, Clone, Args)]
pub struct MergeArgs {
    /// Interval logs (.hlog) written by `postload run` (in reports/<run-id>/hlog/), or the
    /// result.json files of one run's shards (`run --shard 1/N` ... `N/N`, docs/shards.md).
    #[arg(required = true, value_name = "FILE")]
    pub logs: Vec<std::path::PathBuf>,
    #[command(flatten)]
    pub output: OutFile,
    // Results: where the merged result and its reports go (<DIR>/<run-id>-merged/).
    #[command(flatten)]
    pub report_dir: ReportDir,
    /// Results: claims to judge on the merged figures (default: the planning note's).
    #[arg(long, value_name = "FILE")]
    pub claims: Option<std::path::PathBuf>,
    #[command(flatten)]
    pub data: Mocks,
}

#[derive(Debug, Clone, Args)]
pub struct CheckArgs {
    /// A result.json written by `postload run`.
    #[arg(value_name = "RESULT.json")]
    pub result: std::path::PathBuf,
    /// The thresholds to check.
    #[arg(long, value_name = "FILE", required_unless_present = "suggest")]
    pub gate: Option<std::path::PathBuf>,
    /// Write the checks as JUnit XML here (default: junit.xml beside the result).
    #[arg(long, value_name = "FILE")]
    pub junit: Option<std::path::PathBuf>,
    /// Instead of checking, write a gate file fitted to this baseline result (service mode):
    /// exact figures at their value, timings with a margin (docs/gates.md).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["gate", "junit"])]
    pub suggest: Option<std::path::PathBuf>,
    #[command(flatten)]
    pub verbosity: Verbosity,
}

#[derive(Debug, Clone, Args)]
pub struct ReportArgs {
    /// A result.json written by `postload run`.
    #[arg(value_name = "RESULT.json")]
    pub result: std::path::PathBuf,
    /// Claims to judge (default: the planning note's, scenarios/claims.toml).
    #[arg(long, value_name = "FILE")]
    pub claims: Option<std::path::PathBuf>,
    #[command(flatten)]
    pub data: Mocks,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RejectedCostArg {
    /// A 429 consumes nothing.
    Nothing,
    /// A 429 consumes one request from the RPM/RPD buckets (default).
    Request,
    /// A 429 consumes its request and the tokens it asked for.
    RequestAndTokens,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PromptEstimateArg {
    /// The exact o200k prompt token count.
    Tokens,
    /// Characters of the message contents divided by 4.
    CharsDiv4,
}

/// Options shared by everything that builds a stub.
#[derive(Debug, Clone, Args)]
pub struct StubOptions {
    /// Rate-limit tier within the tier set.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub tier: u8,
    /// Named tier set from mocks/tiers.toml: openai-2025, or seed (the planning note's claims).
    #[arg(long = "tiers", value_name = "SET")]
    pub tier_set: Option<String>,
    #[command(flatten)]
    pub seed: Seed,
    /// Send retry-after and retry-after-ms on 429s (as Azure OpenAI does; OpenAI does not).
    #[arg(long)]
    pub retry_after: bool,
    /// Serve every model with this constant latency (the fixed profile) instead of its own profile.
    #[arg(long, value_name = "MS")]
    pub latency_ms: Option<u64>,
    #[command(flatten)]
    pub data: Mocks,
    /// Share (0..1) of admitted requests answered 500 server_error.
    #[arg(long, value_name = "SHARE", value_parser = crate::share::arg, default_value_t = 0.0)]
    pub fault_500: f64,
    /// Share (0..1) of admitted requests answered 503 overloaded.
    #[arg(long, value_name = "SHARE", value_parser = crate::share::arg, default_value_t = 0.0)]
    pub fault_503: f64,
    /// Share (0..1) of successful responses made slower by --slow-ms.
    #[arg(long, value_name = "SHARE", value_parser = crate::share::arg, default_value_t = 0.0)]
    pub slow_share: f64,
    /// Extra latency of a slow response.
    #[arg(long, value_name = "MS", default_value_t = 10_000)]
    pub slow_ms: u64,
    /// The first N chat requests get a 429 whatever the buckets say.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub first_429: u64,
    /// What a rejected request still costs the buckets.
    #[arg(long, value_name = "WHAT", value_enum, default_value_t = RejectedCostArg::Request)]
    pub rejected_cost: RejectedCostArg,
    /// Tokens reserved for the completion when a request names no max_tokens.
    #[arg(long, value_name = "TOKENS", default_value_t = 0)]
    pub missing_max_tokens: u32,
    #[command(flatten)]
    pub prompt_cache: PromptCacheHit,
    /// No effect, kept so existing scripts still run: the stub keeps no request past its answer
    /// (it once bounded wiremock's request store).
    #[arg(long, value_name = "N", default_value_t = crate::stub::DEFAULT_RETAIN_LIMIT, hide = true)]
    pub retain: u64,
    /// Close a connection that owes the stub its next request's headers, or the rest of a body,
    /// or reads none of its answer, for this many seconds (idle keep-alive, slowloris and
    /// non-reading connections).
    #[arg(long, value_name = "SECS", default_value_t = crate::stub::DEFAULT_IDLE_TIMEOUT.as_secs(), value_parser = clap::value_parser!(u64).range(1..))]
    pub idle_timeout: u64,
    /// Refuse request bodies above this many MiB with a 413, before reading them whole.
    #[arg(long, value_name = "MIB", default_value_t = (crate::stub::DEFAULT_MAX_BODY_BYTES >> 20) as u64, value_parser = clap::value_parser!(u64).range(1..=4096))]
    pub max_body_mib: u64,
    /// How the rate limiter estimates a request's prompt.
    #[arg(long, value_name = "HOW", value_enum, default_value_t = PromptEstimateArg::Tokens)]
    pub prompt_estimate: PromptEstimateArg,
    #[command(flatten)]
    pub time: TimeScaleArg,
}

#[derive(Debug, Clone, Args)]
pub struct StubArgs {
    /// Port on 127.0.0.1 (0 picks a free one).
    #[arg(long, value_name = "PORT", default_value_t = 9000)]
    pub port: u16,
    #[command(flatten)]
    pub stub: StubOptions,
    #[command(flatten)]
    pub verbosity: Verbosity,
}

/// `--seed`: a whole number that fits its 64 bits, or a plain message saying what does.
fn seed(text: &str) -> Result<u64, String> {
    text.parse::<u64>().map_err(|_| {
        let digits = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
        format!(
            "{}: a seed is a whole number from 0 to {}",
            if digits {
                "too large"
            } else {
                "not a whole number"
            },
            u64::MAX
        )
    })
}
