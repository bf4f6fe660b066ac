//! The plan's decision as users read it first: the console's opening lines and plan.md's first
//! two sections (the decision per model × users, then what each tier step of the current
//! design changes and what it takes to qualify).

use super::document::{Section, TableCell};
use super::name_of;
use crate::plan::decision::{assumed_text, step_text, usd, TierStep};
use crate::plan::PlanResult;

/// The console's opening: the decision lines, the combinations resting on an assumed figure
/// (apart), and the tier steps of the current design.
pub fn console(r: &PlanResult) -> String {
    let d = &r.decision;
    let goal = &r.spec.target;
    let mut o = format!("decision (target: {}; {}):\n", target(r), d.month_basis);
    if let Some(a) = account_text(r) {
        o.push_str(&format!("{a}\n"));
    }
    for l in &d.lines {
        o.push_str(&format!("  {}\n", l.text));
    }
    let assumed: Vec<String> = d
        .lines
        .iter()
        .filter_map(|l| assumed_text(&r.spec, l))
        .collect();
    if !assumed.is_empty() {
        o.push_str(
            "holds only on an assumed response-cache share nobody measured (not the decision; \
             give --response-cache-hit from the service's traffic to plan on one):\n",
        );
        for a in assumed {
            o.push_str(&format!("  {a}\n"));
        }
    }
    if d.upgrades.iter().any(|u| u.tiers.len() > 1) {
        o.push_str(&format!(
            "tier upgrades, the design as it is (post p95 against {} s, one seed):\n",
            goal.p95_s
        ));
        for u in &d.upgrades {
            o.push_str(&format!(
                "  {} ({}): {}\n",
                crate::plan::decision::who(&r.spec, &u.model, u.users),
                name_of(&u.strategy),
                upgrade_text(&u.tiers)
            ));
        }
    }
    o
}

/// The steps that change something, then the tiers that change nothing, in one line.
pub fn upgrade_text(tiers: &[TierStep]) -> String {
    let same = |a: &TierStep, b: &TierStep| {
        a.success == b.success && a.p95_s == b.p95_s && a.usd_per_month == b.usd_per_month
    };
    let mut parts: Vec<String> = tiers
        .windows(2)
        .filter(|w| !same(&w[0], &w[1]))
        .map(|w| step_text(&w[0], &w[1]))
        .collect();
    let unchanged: Vec<u8> = tiers
        .windows(2)
        .filter(|w| same(&w[0], &w[1]))
        .map(|w| w[1].tier)
        .collect();
    if !unchanged.is_empty() {
        let list: Vec<String> = unchanged.iter().map(|t| t.to_string()).collect();
        parts.push(format!(
            "Tier {} change{} nothing (the same figures as the tier below)",
            list.join(", "),
            if unchanged.len() == 1 { "s" } else { "" }
        ));
    }
    parts.join("; ")
}

/// Which tier is the calibrated account's, and where the others come from.
pub fn account_text(r: &PlanResult) -> Option<String> {
    let a = r.spec.account.as_ref()?;
    Some(format!(
        "tiers: Tier {} is {}; the others are {}'s published tiers ({}), every tier at the \
         account's calibrated latency",
        a.tier, a.mark, a.published_set, a.published_from
    ))
}

fn target(r: &PlanResult) -> String {
    format!(
        "p95 ≤ {} s of the latency each line names, at least {:.0} % of posts ok",
        r.spec.target.p95_s,
        r.spec.target.min_success * 100.0
    )
}

/// plan.md's first section: the decision lines.
pub fn decision_section(r: &PlanResult) -> Section {
    let mut paragraphs = vec![format!(
        "Target: {}. {}. Each line names the latency it is judged on: the whole post, or the \
         first caption token when the caption streams (modelled from the profile's \
         time-to-first-token draw). The change is the search's best by fewest changes, then \
         holding on every seed, then $/month, among levers whose effect is modelled.",
        target(r),
        r.decision.month_basis
    )];
    paragraphs.extend(account_text(r).map(|a| format!("{a}.")));
    paragraphs.extend(r.decision.lines.iter().map(|l| format!("- {}", l.text)));
    let assumed: Vec<String> = r
        .decision
        .lines
        .iter()
        .filter_map(|l| assumed_text(&r.spec, l))
        .collect();
    if !assumed.is_empty() {
        paragraphs.push(
            "Holding only on an assumed response-cache share (30 % of posts, a figure only the \
             service's traffic can tell), so not part of the decision:"
                .into(),
        );
        paragraphs.extend(assumed.iter().map(|a| format!("- {a}")));
    }
    Section {
        title: "Decision".into(),
        paragraphs,
        ..Section::default()
    }
}

/// plan.md's second section: each tier of the current design, with its qualification.
pub fn upgrade_section(r: &PlanResult) -> Section {
    let mut sec = Section {
        title: format!(
            "Tier upgrades, the design as it is (post p95 against {} s)",
            r.spec.target.p95_s
        ),
        paragraphs: vec![format!(
            "The grid's cells (one seed) of the first retrying client, tier by tier; \
             \"to qualify\" is the tier set's own condition. {}.",
            r.decision.month_basis
        )],
        header: vec![
            "model",
            "users",
            "client",
            "tier",
            "to qualify",
            "TPM",
            "ok %",
            "post p95",
            "$/month",
            "meets",
        ],
        right: vec![
            false, true, false, true, false, true, true, true, true, false,
        ],
        ..Section::default()
    };
    for u in &r.decision.upgrades {
        for t in &u.tiers {
            sec.rows.push(
                [
                    u.model.clone(),
                    u.users.to_string(),
                    name_of(&u.strategy),
                    t.tier.to_string(),
                    t.qualification.clone(),
                    t.tpm.to_string(),
                    format!("{:.1}", t.success * 100.0),
                    t.p95_s.map_or("-".into(), |v| format!("{v:.2}")),
                    usd(t.usd_per_month),
                    if t.meets_target { "yes" } else { "no" }.into(),
                ]
                .map(TableCell::from)
                .to_vec(),
            );
        }
    }
    sec
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(tier: u8, success: f64, p95: f64, usd: f64) -> TierStep {
        TierStep {
            tier,
            qualification: format!("q{tier}"),
            yours: false,
            tpm: 0,
            success,
            p95_s: Some(p95),
            usd_per_month: Some(usd),
            // The posts that failed were billed: 96 % of a burst at Tier 1.
            wasted_usd: (success < 1.0).then_some(0.1014),
            meets_target: false,
        }
    }

    #[test]
    fn an_upgrade_line_shows_the_steps_that_change_something_and_lists_the_rest() {
        let tiers = [
            step(1, 0.04, 11.86, 62.10),
            step(2, 1.0, 8.34, 62.23),
            step(3, 1.0, 8.34, 62.23),
            step(4, 1.0, 8.34, 62.23),
        ];
        assert_eq!(
            upgrade_text(&tiers),
            "Tier 1 → 2 (to qualify: q2): ok 4.0 % → 100.0 %, post p95 11.86 → 8.34 s, \
             $62.10 → $62.23/month; Tier 1's failed posts also cost $0.10140 a burst (wasted); \
             Tier 3, 4 change nothing (the same figures as the tier below)"
        );
        assert_eq!(
            upgrade_text(&tiers[1..3]),
            "Tier 3 changes nothing (the same figures as the tier below)"
        );
    }
}
