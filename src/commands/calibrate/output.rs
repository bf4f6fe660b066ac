//! What a calibration found, as `calibration.json` (every figure), `calibration.md` (the human
//! report with the drift table) and the console's lines. Built from plain data: nothing here
//! sends or writes, and nothing here ever holds the key or the auth header.

use serde::Serialize;

use super::session::ModelRun;
use crate::calibrate::drift::Drift;
use crate::calibrate::fit::Fit;
use crate::calibrate::limits::AccountLimits;
use crate::calibrate::reasoning::ReasoningFit;
use crate::openai::catalog::TierSet;

/// The schema name of `calibration.json`.
pub const SCHEMA: &str = "postload-calibration/1";

/// Everything a calibration found.
#[derive(Debug, Clone, Serialize)]
pub struct Calibration {
    pub schema: &'static str,
    pub date: String,
    /// The endpoint's host (never its key).
    pub host: String,
    pub base_url: String,
    /// The data compared with and built on.
    pub base: String,
    /// The overlay's folder.
    pub out: String,
    pub seed: u64,
    pub time_scale: f64,
    pub cost: Cost,
    pub models: Vec<ModelReport>,
    /// The `account` tier set written to tiers.toml; `None` when no limits were read.
    pub account: Option<TierSet>,
    /// What could not be measured, across models.
    pub notes: Vec<String>,
    /// A signal stopped the calibration: what was answered before it is fitted and written.
    pub interrupted: bool,
}

/// The spend: the worst case printed before sending, the cap, what was spent.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Cost {
    pub worst_case_usd: f64,
    pub max_cost_usd: Option<f64>,
    pub spent_usd: f64,
    /// Calls the spend guard did not send.
    pub calls_refused: u64,
    pub stopped_by_cap: bool,
}

/// One model's calls, limits, fit and drift.
#[derive(Debug, Clone, Serialize)]
pub struct ModelReport {
    pub model: String,
    pub profile: String,
    pub family: String,
    pub calls_designed: u32,
    pub limits: AccountLimits,
    pub limits_known: bool,
    /// Each base tier set with the tier the limits match (`None`: no tier).
    pub matched: Vec<(String, Option<u8>)>,
    /// The fit, or why there is none.
    pub fit: Option<Fit>,
    pub fit_error: Option<String>,
    pub drift: Option<Drift>,
    /// Each `--effort` measured besides the lowest.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub reasoning: Vec<ReasoningFit>,
    /// The calls as sent and answered (429s, failures, observations).
    pub run: ModelRun,
}

impl ModelReport {
    /// What the sending and the fit could not do or measure, in that order.
    fn notes(&self) -> impl Iterator<Item = &String> {
        self.run
            .notes
            .iter()
            .chain(self.fit.iter().flat_map(|f| &f.notes))
            .chain(self.reasoning.iter().flat_map(|r| &r.notes))
    }

    /// "Tier N of SET", or "no tier of SET, SET".
    pub fn tier_words(&self) -> String {
        if !self.limits_known {
            return "limits unknown (the answers stated none)".into();
        }
        let hits: Vec<String> = self
            .matched
            .iter()
            .filter_map(|(s, t)| t.map(|t| format!("tier {t} of {s}")))
            .collect();
        if hits.is_empty() {
            let sets: Vec<&str> = self.matched.iter().map(|(s, _)| s.as_str()).collect();
            format!("matches no tier of {}", sets.join(", "))
        } else {
            format!("matches {}", hits.join(", "))
        }
    }

    fn limits_words(&self) -> String {
        let l = &self.limits;
        let n = |v: Option<u64>| v.map_or("unknown".to_string(), |v| v.to_string());
        format!("{} RPM / {} TPM", n(l.rpm), n(l.tpm))
    }
}

/// A figure with the digits it needs: 639.4, 38.94, 0.418.
fn fig(v: f64) -> String {
    match v.abs() {
        a if !a.is_finite() => "∞".into(),
        a if a >= 100.0 => format!("{v:.1}"),
        a if a >= 10.0 => format!("{v:.2}"),
        _ => format!("{v:.3}"),
    }
}

fn est(e: &crate::calibrate::Estimate) -> String {
    format!("{} [{}, {}]", fig(e.value), fig(e.low), fig(e.high))
}

fn method_words(m: crate::calibrate::Method) -> &'static str {
    match m {
        crate::calibrate::Method::Streamed => "streamed (first content chunk)",
        crate::calibrate::Method::Regression => "regression (whole answers)",
    }
}

/// Beside a drift row: `(drifted)` only past the practical threshold as well as the interval.
fn drift_mark(r: &crate::calibrate::drift::DriftRow) -> &'static str {
    match (r.within, r.drifted) {
        (_, true) => "   (drifted)",
        (false, false) => "   (outside the interval, under 10 %: within noise)",
        (true, false) => "",
    }
}

/// `shipped S: within` or `shipped S: outside the interval`, against an interval; `whole`
/// figures are token counts.
fn against(e: &crate::calibrate::Estimate, shipped: f64, whole: bool) -> String {
    let inside = (e.low..=e.high).contains(&shipped);
    format!(
        "shipped {}: {}",
        if whole {
            format!("{shipped:.0}")
        } else {
            fig(shipped)
        },
        if inside {
            "within"
        } else {
            "outside the interval"
        }
    )
}

/// One `--effort`'s lines, the same in the console and calibration.md: the calls, the fitted
/// tokens against the shipped ones, and the reasoning's time against the model's.
pub fn reasoning_lines(r: &ReasoningFit) -> Vec<String> {
    let calls = match r.unanswered {
        0 => format!("{} calls", r.calls),
        lost => format!("{} of {} calls answered,", r.calls, r.calls + lost),
    };
    let mut lines = vec![format!(
        "effort {}: {calls} capped at {} tokens ({} reasoned to the cap, {} not at all)",
        r.effort, r.cap, r.censored, r.none
    )];
    if let (Some(m), Some(sg)) = (&r.median, &r.sigma) {
        lines.push(format!(
            "reasoning tokens: median {:.0} [{:.0}, {:.0}] ({}), σ {} ({})",
            m.value,
            m.low,
            m.high,
            against(m, r.shipped.median as f64, true),
            est(sg),
            against(sg, r.shipped.sigma, false)
        ));
    }
    if let Some(t) = &r.time_factor {
        lines.push(format!(
            "a reasoning token takes {} × a visible token's time ({})",
            est(t),
            if r.time_differs() {
                "the model's 1 is outside: the stub and the planner reason at the writing speed, so their reasoning time is off by this factor"
            } else {
                "the model's 1 is within"
            }
        ));
    }
    lines
}

/// The drift table in Markdown.
fn drift_table(d: &Drift) -> String {
    let mut t = String::from(
        "| figure | shipped | fitted [95 % interval] | shipped within |\n|---|---:|---:|:---:|\n",
    );
    for r in &d.rows {
        t.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            r.figure,
            fig(r.shipped),
            est(&r.fitted),
            if r.within { "yes" } else { "no" }
        ));
    }
    t
}

impl Calibration {
    /// `postload plan --mocks DIR`: what each tier would give at this account's latency (with
    /// an `account` set, its tier marked among the published ones; docs/planning.md).
    pub fn plan_step(&self) -> String {
        format!("postload plan --mocks {}", self.out)
    }

    fn plan_step_words(&self) -> &'static str {
        if self.account.is_some() {
            "what upgrading buys: every tier at this account's latency, its own tier marked"
        } else {
            "every published tier at this account's latency"
        }
    }

    /// `postload run --mocks DIR ...`: the next step, with the account set's tier when there is one.
    pub fn next_step(&self) -> String {
        match &self.account {
            Some(set) => format!(
                "postload run --mocks {} --tiers account --tier {}",
                self.out,
                set.tier.first().map_or(1, |t| t.tier)
            ),
            None => format!("postload run --mocks {}", self.out),
        }
    }

    fn cost_words(&self) -> String {
        let c = &self.cost;
        format!(
            "spent ${:.4} of {} (worst case ${:.4}){}",
            c.spent_usd,
            c.max_cost_usd
                .map_or("no cap (loopback)".to_string(), |m| format!("a ${m} cap")),
            c.worst_case_usd,
            if c.stopped_by_cap {
                format!(
                    "; the spend guard stopped it ({} calls not sent)",
                    c.calls_refused
                )
            } else {
                String::new()
            }
        )
    }

    /// The console's report: per model its limits and tier, the calls, the drift rows and the
    /// verdict; then the cost and the next step.
    pub fn console(&self) -> String {
        let mut out = String::new();
        for m in &self.models {
            out.push_str(&format!(
                "{}: {} ({})\n",
                m.model,
                m.limits_words(),
                m.tier_words()
            ));
            out.push_str(&format!(
                "  calls: {} answered of {} designed, {} attempts, {} 429s, {} failed\n",
                m.run.observations.len(),
                m.calls_designed,
                m.run.attempts,
                m.run.rate_limited,
                m.run.failures.values().sum::<u32>()
            ));
            match (&m.fit, &m.drift) {
                (Some(f), Some(d)) => {
                    out.push_str(&format!(
                        "  method: {}, {} calls used\n",
                        method_words(f.method),
                        f.calls
                    ));
                    for r in &d.rows {
                        out.push_str(&format!(
                            "  {:<32} shipped {:>8}   fitted {}{}\n",
                            r.figure,
                            fig(r.shipped),
                            est(&r.fitted),
                            drift_mark(r)
                        ));
                    }
                    out.push_str(&format!("  {}\n", d.verdict));
                }
                _ => out.push_str(&format!(
                    "  no fit: {}\n",
                    m.fit_error.as_deref().unwrap_or("no observations")
                )),
            }
            for r in &m.reasoning {
                for line in reasoning_lines(r) {
                    out.push_str(&format!("  {line}\n"));
                }
            }
            for n in m.notes() {
                out.push_str(&format!("  note: {n}\n"));
            }
        }
        for n in &self.notes {
            out.push_str(&format!("note: {n}\n"));
        }
        out.push_str(&format!("cost: {}\n", self.cost_words()));
        out.push_str(&format!("overlay: {}\n", self.out));
        if self.answered() {
            out.push_str(&format!("next: {}\n", self.next_step()));
            out.push_str(&format!(
                "upgrade: {}   ({})\n",
                self.plan_step(),
                self.plan_step_words()
            ));
        }
        out
    }

    /// Some call was answered: only then is there a calibration to run with.
    fn answered(&self) -> bool {
        self.models.iter().any(|m| !m.run.observations.is_empty())
    }

    /// `calibration.md`.
    pub fn markdown(&self) -> String {
        let mut md = format!(
            "# Calibration against {} on {}\n\nBase data: {}. Endpoint: `{}`. Seed {}.\n\n",
            self.host, self.date, self.base, self.base_url, self.seed
        );
        if self.interrupted {
            md.push_str(
                "**Interrupted: the figures cover the calls answered before the signal.**\n\n",
            );
        }
        for n in &self.notes {
            md.push_str(&format!("- Note: {n}\n"));
        }
        if !self.notes.is_empty() {
            md.push('\n');
        }
        for m in &self.models {
            md.push_str(&format!("## {}\n\n", m.model));
            md.push_str(&format!(
                "- Limits: {} ({}).\n- Calls: {} answered of {} designed; {} attempts, {} answered 429 (not observations), {} failed.\n",
                m.limits_words(),
                m.tier_words(),
                m.run.observations.len(),
                m.calls_designed,
                m.run.attempts,
                m.run.rate_limited,
                m.run.failures.values().sum::<u32>()
            ));
            for (why, n) in &m.run.failures {
                md.push_str(&format!("  - {n} × {why}\n"));
            }
            if let Some(e) = m.run.effort {
                md.push_str(&format!(
                    "- Reasoning: effort {e} (the lowest the model takes); {} reasoning tokens reported, billed as output and not counted as written tokens.\n",
                    m.run.reasoning_tokens
                ));
            }
            match (&m.fit, &m.drift) {
                (Some(f), Some(d)) => {
                    md.push_str(&format!(
                        "- Method: {} ({} calls used).\n",
                        method_words(f.method),
                        f.calls
                    ));
                    if let Some(h) = &f.prompt_cache_hit {
                        md.push_str(&format!(
                            "- Prompt cache hits on eligible calls: {}.\n",
                            est(h)
                        ));
                    }
                    md.push_str(&format!("\n{}\n**{}**\n\n", drift_table(d), d.verdict));
                }
                _ => md.push_str(&format!(
                    "- No fit: {}.\n\n",
                    m.fit_error.as_deref().unwrap_or("no observations")
                )),
            }
            for r in &m.reasoning {
                let mut lines = reasoning_lines(r).into_iter();
                md.push_str(&format!(
                    "- Reasoning at {}.\n",
                    lines.next().unwrap_or_default()
                ));
                for line in lines {
                    md.push_str(&format!("  - {line}.\n"));
                }
            }
            for n in m.notes() {
                md.push_str(&format!("- Note: {n}\n"));
            }
            md.push('\n');
        }
        md.push_str(&self.overlay_words());
        md
    }

    fn overlay_words(&self) -> String {
        let mut md = String::from("## Overlay\n\n");
        md.push_str(match &self.account {
            Some(_) => "- `tiers.toml`: the base sets plus `account`, the limits as read.\n",
            None => "- `tiers.toml`: the base sets unchanged; no `account` set (no answer stated the limits).\n",
        });
        if let Some(a) = &self.account {
            md.push_str(&format!("  - {}\n", a.source));
        }
        md.push_str("- `latency.toml`: the base profiles, each calibrated model's replaced by its fit (the tail above p95 keeps the shipped shape).\n");
        for m in &self.models {
            let fitted: Vec<String> = m
                .reasoning
                .iter()
                .filter(|r| r.tokens().is_some())
                .map(|r| r.effort.to_string())
                .collect();
            if !fitted.is_empty() {
                md.push_str(&format!(
                    "  - {}'s reasoning tokens at {} are the fit's (median and σ; `max` raised to the most seen); its other efforts' are the base's.\n",
                    m.model,
                    fitted.join(", ")
                ));
            }
        }
        md.push_str(&format!("- Cost: {}.\n", self.cost_words()));
        if self.answered() {
            md.push_str(&format!("\nNext: `{}`\n", self.next_step()));
            md.push_str(&format!(
                "\nUpgrade: `{}` ({}).\n",
                self.plan_step(),
                self.plan_step_words()
            ));
        }
        md
    }
}

#[cfg(test)]
mod reasoning_tests {
    use super::*;
    use crate::calibrate::Estimate;
    use crate::openai::reasoning::{Effort, ReasoningTokens};

    fn e(value: f64, low: f64, high: f64) -> Option<Estimate> {
        Some(Estimate { value, low, high })
    }

    /// One effort's lines as a reader sees them: the calls and cap, the tokens in whole tokens
    /// against the shipped 640 (outside [650, 990]) and σ 0.8 (within), and a time factor whose
    /// interval leaves out 1, named with what it means for the stub and the planner.
    #[test]
    fn an_efforts_lines_name_each_figure_against_the_shipped_one() {
        let r = ReasoningFit {
            effort: Effort::Medium,
            calls: 40,
            unanswered: 0,
            censored: 2,
            none: 1,
            cap: 4_552,
            median: e(800.3, 650.4, 990.2),
            sigma: e(0.754, 0.562, 0.904),
            time_factor: e(1.5, 1.3, 1.7),
            shipped: ReasoningTokens {
                median: 640,
                sigma: 0.8,
                min: 0,
                max: 32_768,
            },
            most: 4_552,
            notes: vec![],
        };
        assert_eq!(
            reasoning_lines(&r),
            [
                "effort medium: 40 calls capped at 4552 tokens (2 reasoned to the cap, 1 not at all)",
                "reasoning tokens: median 800 [650, 990] (shipped 640: outside the interval), σ 0.754 [0.562, 0.904] (shipped 0.800: within)",
                "a reasoning token takes 1.500 [1.300, 1.700] × a visible token's time (the model's 1 is outside: the stub and the planner reason at the writing speed, so their reasoning time is off by this factor)",
            ]
        );
        // Without a median or a time factor, only the first line.
        let bare = ReasoningFit {
            median: None,
            sigma: None,
            time_factor: None,
            ..r
        };
        assert_eq!(reasoning_lines(&bare).len(), 1);
        // Two of 42 designed calls gave no count: the first line says so.
        let short = ReasoningFit {
            unanswered: 2,
            ..bare
        };
        assert_eq!(
            reasoning_lines(&short)[0],
            "effort medium: 40 of 42 calls answered, capped at 4552 tokens (2 reasoned to the cap, 1 not at all)"
        );
    }
}
