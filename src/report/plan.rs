//! The plan's outputs: plan.md (through the same format-free [`Document`] as report.md), the
//! console table, and plan.json.

use std::fmt::Write;

use super::charts::plan_chart_links;
use super::document::{Document, Section, TableCell};
use super::markdown::{markdown, verdicts_section};
use super::{name_of, SHIPPED};
use crate::plan::decision::usd;
use crate::plan::{Cell, Goal, PlanResult};

fn s(v: Option<f64>) -> String {
    v.map_or("-".into(), |v| format!("{v:.2}"))
}

fn target_text(t: &Goal) -> String {
    format!(
        "post p95 ≤ {} s with at least {:.0} % of posts succeeding",
        t.p95_s,
        t.min_success * 100.0
    )
}

fn load_text(r: &PlanResult) -> String {
    if let Some(t) = &r.spec.trace {
        return format!(
            "the trace {}: {} posts over {} s, replayed at {}× its pace (the tables' users column is 1: the trace)",
            t.file, t.posts, t.span_s, t.speed
        );
    }
    match r.spec.posts_per_user_per_day {
        None => "every user posts once, all at once (a burst)".into(),
        Some(n) => format!(
            "each user posts {n} times a day over {} day(s), on the daily curve",
            r.spec.days
        ),
    }
}

/// plan.md's content.
pub fn document(r: &PlanResult) -> Document {
    Document {
        verdict: None,
        title: "postload plan".into(),
        intro: intro(r),
        sections: [
            vec![
                super::decision::decision_section(r),
                super::decision::upgrade_section(r),
            ],
            super::rate::section(r).into_iter().collect(),
            vec![super::levers::levers_section(r), recommendations_section(r)],
            verdicts_section("Claims the planner settles", &r.claims, "")
                .into_iter()
                .collect(),
            vec![cells_section(r), caching_section(r), monthly_section(r)],
        ]
        .concat(),
    }
}

/// What was simulated: the load, the target, the tiers, prices and cache shares.
fn intro(r: &PlanResult) -> String {
    format!(
        "Simulated, not measured: the stub's latency model and token buckets, the run's retry \
         policies. Load: {}. Target: {}. Tiers: {} {}{}.{} Prices: {}. Response cache {:.0} %, \
         prompt cache {} of eligible calls.",
        load_text(r),
        target_text(&r.spec.target),
        r.spec.tier_set,
        r.tiers_as_of,
        match r.tiers_from.as_str() {
            "" => String::new(),
            SHIPPED => ", shipped".into(),
            file => format!(", from {file}"),
        },
        latency_text(r),
        r.prices_as_of,
        r.spec.response_cache_hit * 100.0,
        prompt_cache_text(&r.spec),
    )
}

/// ` Latency: gpt-4o (as of ...; source: ...; shipped).`: each planned model's profile, named
/// after the model where the two names differ; empty for a plan.json without them.
fn latency_text(r: &PlanResult) -> String {
    let profiles: Vec<String> = r
        .latency_profiles
        .iter()
        .map(|(model, p)| {
            if *model == p.name {
                p.text()
            } else {
                format!("{model} on {}", p.text())
            }
        })
        .collect();
    if profiles.is_empty() {
        String::new()
    } else {
        format!(" Latency: {}.", profiles.join(", "))
    }
}

/// The prompt-cache share: one for every model, or each model's own (profiles that differ).
fn prompt_cache_text(spec: &crate::plan::PlanSpec) -> String {
    if spec.prompt_cache_hit_by_model.is_empty() {
        return format!("{:.0} %", spec.prompt_cache_hit * 100.0);
    }
    spec.prompt_cache_hit_by_model
        .iter()
        .map(|(m, s)| format!("{:.0} % ({m})", s * 100.0))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The answer: for each model, user count and strategy, the lowest tier that meets the target.
fn recommendations_section(r: &PlanResult) -> Section {
    let mut rec = Section {
        title: format!(
            "Lowest tier that meets the target (post p95 ≤ {} s, the design as it is)",
            r.spec.target.p95_s
        ),
        header: vec!["model", "users", "strategy", "lowest tier", "$/month"],
        right: vec![false, true, false, true, true],
        ..Section::default()
    };
    for x in &r.recommendations {
        rec.rows.push(vec![
            TableCell::from(x.model.clone()),
            TableCell::from(x.users.to_string()),
            TableCell::from(name_of(&x.strategy)),
            TableCell {
                text: x
                    .lowest_tier
                    .map_or("none of those tried".into(), |t| t.to_string()),
                strong: true,
            },
            TableCell::from(usd(x.usd_per_month)),
        ]);
    }
    rec
}

/// Every simulated cell: model, tier, users and strategy, with its latencies, 429s and cost.
fn cells_section(r: &PlanResult) -> Section {
    let mut cells = Section {
        title: format!(
            "Every cell (the design as it is, post p95 against {} s)",
            r.spec.target.p95_s
        ),
        paragraphs: vec![format!(
            "Latencies of whole successful posts in seconds; \"meets\" judges the post p95 \
                 against {} s and the success share against {:.0} %. $/post is a successful \
                 post's own tokens; \"wasted\" is what posts that failed in the end were billed \
                 (tokens and $), apart. {}.",
            r.spec.target.p95_s,
            r.spec.target.min_success * 100.0,
            crate::plan::decision::month_basis(&r.spec)
        )],
        header: vec![
            "model", "tier", "TPM", "users", "strategy", "ok %", "post p50", "post p95",
            "post p99", "makespan", "429s", "$/post", "$/month", "wasted", "meets",
        ],
        right: vec![
            false, true, true, true, false, true, true, true, true, true, true, true, true, true,
            false,
        ],
        ..Section::default()
    };
    for c in &r.cells {
        cells.rows.push(
            [
                c.model.clone(),
                c.tier.to_string(),
                c.tpm.to_string(),
                c.users.to_string(),
                name_of(&c.strategy),
                format!("{:.1}", c.success * 100.0),
                s(c.p50_s),
                s(c.p95_s),
                s(c.p99_s),
                format!("{:.1}", c.makespan_s),
                c.http_429.to_string(),
                usd(c.usd_per_post),
                usd(c.usd_per_month),
                wasted(c),
                if c.meets_target { "yes" } else { "no" }.into(),
            ]
            .map(TableCell::from)
            .to_vec(),
        );
    }
    cells
}

/// The caching comparison: each cache setting's 429s, success and cost.
fn caching_section(r: &PlanResult) -> Section {
    let mut caching = Section {
        title: "Caching (the note's advice)".into(),
        paragraphs: vec![format!(
            "A response cache answers a share of posts without calling OpenAI (5 ms). \
                 OpenAI's prompt caching bills the shared prefix of prompts of 1,024 tokens or \
                 more (the caption call's system prompt and brand memory) at the cached price; \
                 cached tokens still count against TPM, so it saves money, not 429s. SDK \
                 retries. $/month: users × {}, at each row's own cache shares (the percentages \
                 beside its name: response / prompt).",
            crate::plan::decision::posts_a_day(&r.spec)
        )],
        header: vec![
            "model", "users", "tier", "caching", "429s", "ok %", "$/month",
        ],
        right: vec![false, true, true, false, true, true, true],
        ..Section::default()
    };
    for e in &r.caching {
        for row in &e.rows {
            let what = match (row.response_cache_hit > 0.0, row.prompt_cache_hit > 0.0) {
                (false, false) => row.label.clone(),
                _ => format!(
                    "{} ({:.0} % / {:.0} %)",
                    row.label,
                    row.response_cache_hit * 100.0,
                    row.prompt_cache_hit * 100.0
                ),
            };
            caching.rows.push(
                [
                    e.model.clone(),
                    e.users.to_string(),
                    e.tier.to_string(),
                    what,
                    row.http_429.to_string(),
                    format!("{:.1}", row.success * 100.0),
                    usd(row.usd_per_month),
                ]
                .map(TableCell::from)
                .to_vec(),
            );
        }
    }
    caching
}

/// The note's monthly costs beside the planner's $/post and, with `--result`, a run's.
fn monthly_section(r: &PlanResult) -> Section {
    let mut monthly = Section {
        title: "Monthly cost: the note's table beside the model".into(),
        paragraphs: vec![
            "\"From the note's $/post\" recomputes each row as users × posts a day × 30 × the \
             note's own $/post; \"modelled\" uses the planner's $/post for that model, and \
             \"measured\" the $ per successful post of a run (`--result`) that used it."
                .into(),
        ],
        header: vec![
            "model",
            "users",
            "posts/day",
            "the note says",
            "from the note's $/post",
            "modelled",
            "measured",
        ],
        right: vec![false, true, true, true, true, true, true],
        ..Section::default()
    };
    for m in &r.monthly {
        monthly.rows.push(
            [
                m.model.clone(),
                m.users.to_string(),
                m.posts_per_day.to_string(),
                format!("${:.2}", m.note_usd),
                format!("${:.2}", m.from_note_per_post_usd),
                m.modelled_usd.map_or("-".into(), |v| format!("${v:.2}")),
                m.measured_usd.map_or("-".into(), |v| format!("${v:.2}")),
            ]
            .map(TableCell::from)
            .to_vec(),
        );
    }
    monthly
}

/// plan.md, with links to the charts.
pub fn plan_markdown(r: &PlanResult) -> String {
    markdown(&document(r), &plan_chart_links(r))
}

/// What a cell's failed posts were billed, as a run's table shows it: `0`, or `tokens $usd`.
fn wasted(c: &Cell) -> String {
    match (c.wasted_tokens, c.wasted_usd) {
        (0, _) => "0".into(),
        (t, Some(u)) => format!("{t} {}", usd(Some(u))),
        (t, None) => t.to_string(),
    }
}

/// The console table: the cells, then the recommendations.
pub fn table(r: &PlanResult) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "every cell, the design as it is (judged on the post p95 against {} s); load: {}; {}",
        r.spec.target.p95_s,
        load_text(r),
        crate::plan::decision::month_basis(&r.spec)
    );
    let _ = writeln!(
        o,
        "{:<12} {:>4} {:>5} {:<8} {:>6} {:>8} {:>8} {:>8} {:>6} {:>10} {:>10} {:>14}  meets",
        "model",
        "tier",
        "users",
        "strategy",
        "ok%",
        "post p50",
        "post p95",
        "makespan",
        "429s",
        "$/post",
        "$/month",
        "wasted"
    );
    for c in &r.cells {
        let _ = writeln!(
            o,
            "{:<12} {:>4} {:>5} {:<8} {:>5.1}% {:>8} {:>8} {:>7.1}s {:>6} {:>10} {:>10} {:>14}  {}",
            c.model,
            c.tier,
            c.users,
            name_of(&c.strategy),
            c.success * 100.0,
            s(c.p50_s),
            s(c.p95_s),
            c.makespan_s,
            c.http_429,
            usd(c.usd_per_post),
            usd(c.usd_per_month),
            wasted(c),
            if c.meets_target { "yes" } else { "no" }
        );
    }
    let _ = writeln!(
        o,
        "\nlowest tier meeting the target (post p95, the design as it is):"
    );
    for x in &r.recommendations {
        let _ = writeln!(
            o,
            "  {}, {}: {}",
            crate::plan::decision::who(&r.spec, &x.model, x.users),
            name_of(&x.strategy),
            x.lowest_tier
                .map_or("none of the tiers tried".into(), |t| format!(
                    "tier {t} ({}/month)",
                    usd(x.usd_per_month)
                ))
        );
    }
    o
}

#[cfg(test)]
mod tests {
    use super::prompt_cache_text;
    use crate::plan::PlanSpec;

    #[test]
    fn prompt_cache_share_names_each_models_own_when_the_profiles_differ() {
        let mut spec = PlanSpec {
            prompt_cache_hit: 0.25,
            ..PlanSpec::default()
        };
        assert_eq!(prompt_cache_text(&spec), "25 %");
        // Each model's own share, in the map's (alphabetical) order; the single share is unused.
        spec.prompt_cache_hit_by_model = [
            ("gpt-4o".to_string(), 0.5),
            ("gpt-4o-mini".to_string(), 0.0),
        ]
        .into_iter()
        .collect();
        assert_eq!(prompt_cache_text(&spec), "50 % (gpt-4o), 0 % (gpt-4o-mini)");
    }
}
