//! What a run measured, as `result.json` holds it: [`RunResult`] (versioned by
//! [`RESULT_SCHEMA`], its JSON Schema committed), each case's [`CaseResult`] with its inputs, and
//! service mode's figures ([`service`]). Plain data that `run` fills and `report`, `gate`,
//! `compare` and `merge` read: no output format lives here.

pub mod merge;
pub mod service;

use serde::{Deserialize, Serialize};

use crate::metrics::Measured;
use crate::openai::bucket::Limits;
use crate::openai::catalog::provenance::ProfileInfo;
use crate::openai::reasoning::Effort;
use crate::openai::retry::RetryPolicy;
use crate::scenario::prompts::ApiEndpoint;
use crate::scenario::{Load, Prompts};
use crate::stub::StubStats;

/// The name serde gives a unit enum value (`rate_limited`, `sdk`, ...).
pub fn name_of<T: Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// The `schema` field of every result.json this version writes.
pub const RESULT_SCHEMA: &str = "postload.result.v1";

/// Where the load went.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TargetInfo {
    /// A fresh in-process stub for each case.
    EmbeddedStub {
        /// `fixed N ms` or `model profiles`.
        latency: String,
        retry_after: bool,
    },
    /// An OpenAI-compatible base URL (e.g. `postload stub` in another process, or a billed
    /// endpoint behind the spend guard).
    BaseUrl {
        base_url: String,
        /// Outside loopback (real OpenAI or a compatible provider).
        #[serde(default)]
        remote: bool,
    },
    /// Service mode: each case's `service` names the service; the OpenAI calls happen inside it,
    /// against the stub started alongside (`--with-stub`) or wherever the service points.
    Service {
        /// `OPENAI_BASE_URL` of the stub started alongside, if any.
        openai_stub: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PriceInfo {
    pub version: String,
    pub as_of: String,
    pub source: String,
}

/// The inputs of one case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CaseInputs {
    pub scenario_file: String,
    pub description: String,
    /// The model the posts' calls used: the scenario's, or in service mode the one the stub
    /// alongside answered (the service picks its model).
    pub model: String,
    /// Service mode: the scenario's `model` when the service called another one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scenario_model: Option<String>,
    pub tier_set: String,
    pub tier: u8,
    pub limits: Limits,
    pub load: Load,
    pub prompts: Prompts,
    pub image_prompt_share: f64,
    /// The post's two calls went at once (`parallel_calls`; never in service mode).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub parallel_calls: bool,
    /// Each call's first attempt waited for the client's own token bucket with the case's
    /// limits, FIFO across users (`client_queue`; never in service mode).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub client_queue: bool,
    pub retry: RetryPolicy,
    pub request_timeout_s: f64,
    pub seed: u64,
    /// The latency profile the embedded stub served, with its date and source.
    pub latency_profile: Option<ProfileInfo>,
    /// The tier set's date, source and origin (its name is `tier_set`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tier_set_info: Option<ProfileInfo>,
    /// Service mode: the service posted to (header names only, never their values).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<crate::scenario::target::ServiceTargetInfo>,
    /// The OpenAI endpoint the posts' calls went to: absent for chat completions (the
    /// default), `responses` for the Responses API (the scenario's `endpoint`; in service mode,
    /// when the stub alongside saw every call there).
    #[serde(default, skip_serializing_if = "ApiEndpoint::is_chat")]
    pub endpoint: ApiEndpoint,
    /// The reasoning effort the calls ran at, for a reasoning model: the scenario's
    /// `reasoning_effort`, or the model's default when it names none. Absent for a model that
    /// does not reason, and in service mode (the service picks its own effort).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_effort: Option<Effort>,
    /// `--time-scale K`: the stub's latencies and refill and the run's waits ran K times faster;
    /// every time in the result is modelled time (real time × K).
    #[serde(default = "one")]
    pub time_scale: f64,
}

fn one() -> f64 {
    1.0
}

/// One scenario at one tier.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CaseResult {
    pub scenario: String,
    pub tier: u8,
    /// Which repetition this is (1-based) when the run repeated each case (`--repeat K`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repetition: Option<u32>,
    pub inputs: CaseInputs,
    /// The case was cut short by Ctrl-C: its figures cover the posts that finished.
    pub interrupted: bool,
    pub duration_ms: f64,
    #[serde(flatten)]
    pub measured: Measured,
    /// What the stub saw over the case (the embedded stub, or the one started alongside a
    /// service; absent for an external target).
    pub stub: Option<StubStats>,
    /// Goodput (SLO attainment): for each latency bound the claims name, the share of all
    /// posts that succeeded within it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub goodput: Vec<Goodput>,
    /// Service mode with the stub alongside: the service's own figures (calls, tokens, retries
    /// and own time per post), what a gate on the service names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<service::ServiceFigures>,
}

/// The share of a case's posts that succeeded within `within_s` seconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Goodput {
    pub within_s: f64,
    pub share: f64,
}

impl CaseResult {
    /// With its service figures filled in (service mode with the stub alongside).
    pub fn with_service_figures(mut self) -> Self {
        self.service = service::ServiceFigures::of(&self);
        self
    }

    /// With its service figures per post: `posts` joined with the traces the stub alongside
    /// kept (none when the service forwarded no `traceparent`), and the own time of each post
    /// kept among its histograms (`service_own`) for `compare`.
    pub fn with_per_post(
        mut self,
        posts: &[service::per_post::SeenPost],
        traces: Option<&crate::stub::traces::TraceReport>,
    ) -> Self {
        use service::per_post;
        if let (Some(f), Some(traces)) = (self.service.as_mut(), traces) {
            let joined = per_post::join_with_samples(posts, self.inputs.seed, traces);
            if let Some((_, own)) = joined.as_ref().filter(|(_, own)| !own.is_empty()) {
                self.measured.histograms.insert(
                    per_post::OWN_HISTOGRAM.to_string(),
                    crate::metrics::hlog::encode(own),
                );
            }
            f.per_post = joined.map(|(f, _)| f);
        }
        self
    }

    /// `burst-50 tier 2`, or `burst-50 tier 2 #3` for a repetition.
    pub fn label(&self) -> String {
        match self.repetition {
            Some(k) => format!("{} tier {} #{k}", self.scenario, self.tier),
            None => format!("{} tier {}", self.scenario, self.tier),
        }
    }
}

/// `result.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RunResult {
    pub schema: String,
    pub postload_version: String,
    pub run_id: String,
    pub started_at: String,
    pub finished_at: Option<String>,
    /// True when Ctrl-C stopped the run: cases after it were not run.
    pub interrupted: bool,
    pub target: TargetInfo,
    pub prices: PriceInfo,
    /// The spend guard (`--max-cost`), when the run had one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<crate::metrics::budget::BudgetInfo>,
    pub cases: Vec<CaseResult>,
    /// The limits of every tier of each tier set the run used, for each model it ran: the
    /// catalog in force at run time, which the tier claims are judged against.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tier_limits: Vec<TierLimitRow>,
    /// `--shard i/N`: this result holds only shard i's posts of the run split across N
    /// machines (its inputs, seeds included, are the whole run's); `postload merge` combines
    /// the N results. Absent for a whole run, and for a merged one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<crate::shard::Shard>,
}

/// One model's limits at one tier of a tier set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TierLimitRow {
    pub tier_set: String,
    pub tier: u8,
    pub model: String,
    pub tpm: u64,
    pub rpm: u64,
}

impl TierLimitRow {
    /// Every tier of each `(tier set, model)` pair, in the catalog's order; pairs repeat freely.
    pub fn of<'a>(
        catalog: &crate::openai::catalog::Catalog,
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Vec<TierLimitRow> {
        let mut seen: Vec<(&str, &str)> = Vec::new();
        let mut rows = Vec::new();
        for (set, model) in pairs {
            if seen.contains(&(set, model)) {
                continue;
            }
            seen.push((set, model));
            let Some(tiers) = catalog.tier_sets.get(set) else {
                continue;
            };
            for t in &tiers.tier {
                if let Ok(Some(l)) = catalog.limits(set, t.tier, model) {
                    rows.push(TierLimitRow {
                        tier_set: set.into(),
                        tier: t.tier,
                        model: model.into(),
                        tpm: l.tpm,
                        rpm: l.rpm,
                    });
                }
            }
        }
        rows
    }
}

/// The JSON Schema of `result.json` (committed as `schema/result.v1.schema.json`; a test keeps
/// the two equal and validates real results against the file).
pub fn result_schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(RunResult)).expect("a schema serializes")
}
