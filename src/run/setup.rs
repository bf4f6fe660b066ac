//! A checked run configuration ([`RunConfig`]) and its parts: where the calls go, service
//! mode's settings, the entry scenarios. The config module builds it from the command line; the
//! run only reads it.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use super::post::ClientFactory;
use crate::claims::ClaimsFile;
use crate::openai::catalog::Catalog;
use crate::scenario::target::ServiceTarget;
use crate::scenario::Scenario;
use crate::secret::Secret;
use crate::stub::StubConfig;

impl std::fmt::Debug for RunConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunConfig")
            .field("scenarios", &self.scenarios)
            .field("target", &self.target)
            .field("service_mode", &self.service_mode)
            .field("max_cost_usd", &self.max_cost_usd)
            .field("reports_root", &self.reports_root)
            .finish_non_exhaustive()
    }
}

/// Where the pipeline's OpenAI calls go (or, in service mode, the stub started alongside).
#[derive(Debug, Clone)]
pub enum OpenAiTarget {
    /// A fresh in-process stub per case, configured from this template (tier, tier set and seed
    /// are set per case). In service mode with `--with-stub`, one stub for the run, reset to
    /// each case's tier and seed.
    Embedded(StubConfig),
    /// An OpenAI-compatible base URL such as `http://127.0.0.1:9000/v1`.
    BaseUrl(Endpoint),
}

/// An OpenAI-compatible endpoint.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// Without a trailing slash.
    pub url: String,
    /// Sent as a bearer token (from `--api-key-env`).
    pub api_key: Option<Secret>,
    /// Outside loopback: only with the spend guard.
    pub remote: bool,
}

/// Service mode's settings for the run.
#[derive(Debug, Clone)]
pub struct ServiceMode {
    /// Start the stub (the `Embedded` template) on 127.0.0.1 at this port for the service.
    pub with_stub: Option<u16>,
    /// How long to wait for each service to answer before the run (with `--with-stub`).
    pub ready_wait: Duration,
}

/// One scenario of the run, with its service when it runs in service mode.
#[derive(Debug, Clone)]
pub struct RunScenario {
    /// The file name, for messages.
    pub file: String,
    pub scenario: Scenario,
    pub service: Option<ServiceTarget>,
}

/// A checked run configuration.
#[derive(Clone)]
pub struct RunConfig {
    /// In run order. Either every one has a service (service mode) or none does.
    pub scenarios: Vec<RunScenario>,
    /// Set when the scenarios run in service mode.
    pub service_mode: Option<ServiceMode>,
    /// `--max-cost`: the spend guard's cap in USD.
    pub max_cost_usd: Option<f64>,
    /// Builds each Goose user's HTTP client (`--resolve`).
    pub client: Option<ClientFactory>,
    pub catalog: Arc<Catalog>,
    pub target: OpenAiTarget,
    /// Where the run's folder goes (`reports/`): the folder itself, `reports/<run-id>`, is
    /// created when the first file is written (never left empty), with a `-2`, `-3`, ... suffix
    /// if another run already has that id.
    pub reports_root: PathBuf,
    /// The run id wanted; the result's `run_id` is the folder's name.
    pub run_id: String,
    pub quiet: bool,
    /// Set to stop the run (Ctrl-C); checked between cases and inside the attack.
    pub stop: Arc<AtomicBool>,
    /// The claims report.md judges.
    pub claims: ClaimsFile,
    /// Print the claims' verdicts on the console too: off in service mode unless `--claims`
    /// names a file (the planning note's claims are about postload's model, not the service:
    /// they stay in report.md, under "Claims").
    pub print_claims: bool,
    /// Run every case this many times (seed + 0, 1, ...), keeping each repetition.
    pub repeat: u32,
    /// Modelled seconds per real second: the embedded stub's latencies and bucket refill and the
    /// run's waits all run this much faster; results are reported in modelled time.
    pub time_scale: crate::clock::TimeScale,
    /// Set by a second signal: abandon the attack at once and write only result.json and
    /// report.md.
    pub hurry: Arc<AtomicBool>,
    /// `--shard i/N`: send only this shard's posts, each with its unsharded number and seeds.
    pub shard: Option<crate::shard::Shard>,
}
