//! The verdict block every run output leads with (report.md, report.html, the step summary) or
//! ends with (the console): how many verdicts hold, fail or are not measured, one sentence per
//! question the note asks (latency, cost, tier, the model switch), and the failed claims with
//! their cause. Built once here, from the judged claims; each exporter only renders it. Pure.

use super::{Check, ClaimVerdict, ClaimsFile, Judgement};
use crate::report::document::{Section, TableCell};

/// A question the note answers, and the kinds of claim that answer it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Question {
    Latency,
    Cost,
    Tier,
    Switch,
}

impl Question {
    pub const ALL: [Question; 4] = [
        Question::Latency,
        Question::Cost,
        Question::Tier,
        Question::Switch,
    ];

    /// The question in a few words, as the block prints it.
    pub fn label(self) -> &'static str {
        match self {
            Question::Latency => "latency (is a post done in the claimed time?)",
            Question::Cost => "cost (tokens and $ per post, per batch, per month)",
            Question::Tier => "tier (which rate-limit tier the load needs)",
            Question::Switch => "model switch (what the cheaper model saves)",
        }
    }

    /// The question a claim's check answers; `None` for a claim about the service, caching or
    /// queuing (counted, not answered here).
    pub fn of(check: &Check) -> Option<Question> {
        match check {
            Check::Latency { .. } => Some(Question::Latency),
            Check::TokensPerPost { .. }
            | Check::TokensPerBatch { .. }
            | Check::CostPerPost { .. }
            | Check::CostPerCall(_)
            | Check::CostPerBatch { .. }
            | Check::MonthlyCost { .. } => Some(Question::Cost),
            Check::NeedsTier { .. } | Check::TierLimit { .. } => Some(Question::Tier),
            Check::ModelSwitch(_) => Some(Question::Switch),
            Check::ServiceOwnTime { .. }
            | Check::Caching { .. }
            | Check::Queuing { .. }
            | Check::Elsewhere(_) => None,
        }
    }
}

/// One question's answer: its verdicts' counts and one sentence.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub question: Question,
    pub holds: usize,
    pub fails: usize,
    pub not_measured: usize,
    pub sentence: String,
}

/// The verdict block's content.
#[derive(Debug, Clone, PartialEq)]
pub struct Headline {
    /// Claims in the file (one claim about a load or a tier has a verdict per matching case).
    pub claims: usize,
    pub holds: usize,
    pub fails: usize,
    pub not_measured: usize,
    pub answers: Vec<Answer>,
    /// The failed verdicts, in the claims' order.
    pub failed: Vec<ClaimVerdict>,
}

fn case_of(v: &ClaimVerdict) -> String {
    v.case
        .as_deref()
        .map_or(String::new(), |c| format!(" ({c})"))
}

/// "statement (case): measured", a verdict in a few words.
fn example(v: &ClaimVerdict) -> String {
    format!("{}{}: {}", v.statement, case_of(v), v.measured)
}

/// How well a claim's kind answers its question in one example (lower first): a cost answers
/// with its $ per post, a tier with the tier a load needs.
fn rank(check: Option<&Check>) -> u8 {
    match check {
        Some(Check::CostPerPost { .. } | Check::NeedsTier { .. }) => 0,
        Some(Check::MonthlyCost { .. }) => 1,
        _ => 2,
    }
}

/// The answer to `question` from its verdicts (each with its claim's check): "no" if any fails,
/// "yes" if all measured hold, with one failing and one holding example of the best-ranked kind
/// (the last failing one: claims list their cases by tier and load, so it is the most
/// favourable case that still fails); for cost, the monthly figure too.
fn answer(question: Question, checked: &[(&ClaimVerdict, Option<&Check>)]) -> Answer {
    let best = |j: Judgement| {
        checked
            .iter()
            .filter(|(v, _)| v.verdict == j)
            .map(|(_, c)| rank(*c))
            .min()
    };
    let pick = |j: Judgement| {
        let r = best(j);
        let mut of = checked
            .iter()
            .filter(move |(v, c)| v.verdict == j && Some(rank(*c)) == r)
            .map(|(v, _)| *v);
        if j == Judgement::Fails {
            of.next_back()
        } else {
            of.next()
        }
    };
    // The monthly table in a few words (its statement repeats the note's whole table): the
    // model, how many figures, the tolerance and the verdict; the figures are in the claim list.
    let monthly = checked
        .iter()
        .filter(|(v, _)| v.verdict != Judgement::NotMeasured)
        .find_map(|(v, c)| match c {
            Some(Check::MonthlyCost {
                model,
                tolerance,
                table,
            }) => Some(format!(
                " Per month on {model}{}: {} (the note's {} figure{} within {:.0} %).",
                case_of(v),
                v.verdict.label(),
                table.len(),
                plural(table.len()),
                tolerance * 100.0,
            )),
            _ => None,
        })
        .unwrap_or_default();
    let verdicts: Vec<&ClaimVerdict> = checked.iter().map(|(v, _)| *v).collect();
    let mut a = answer_of(
        question,
        &verdicts,
        pick(Judgement::Fails),
        pick(Judgement::Holds),
    );
    if question == Question::Cost && a.holds + a.fails > 0 {
        a.sentence.push_str(&monthly);
    }
    a
}

fn answer_of(
    question: Question,
    verdicts: &[&ClaimVerdict],
    last_fail: Option<&ClaimVerdict>,
    first_hold: Option<&ClaimVerdict>,
) -> Answer {
    let count = |j: Judgement| verdicts.iter().filter(|v| v.verdict == j).count();
    let (holds, fails, not_measured) = (
        count(Judgement::Holds),
        count(Judgement::Fails),
        count(Judgement::NotMeasured),
    );
    let measured = holds + fails;
    let sentence = match (last_fail, first_hold) {
        _ if verdicts.is_empty() => "no claim of the file asks it.".to_string(),
        _ if measured == 0 => format!(
            "not measured by this run ({not_measured} verdict{}).",
            plural(not_measured)
        ),
        (Some(f), Some(h)) => format!(
            "no: {fails} of {measured} measured verdicts fail, e.g. {}; {holds} hold, e.g. {}.",
            example(f),
            example(h)
        ),
        (Some(f), None) => format!(
            "no: all {measured} measured verdicts fail, e.g. {}.",
            example(f)
        ),
        (None, Some(h)) => format!(
            "yes: all {measured} measured verdicts hold, e.g. {}.",
            example(h)
        ),
        (None, None) => unreachable!("measured > 0 means a verdict holds or fails"),
    };
    Answer {
        question,
        holds,
        fails,
        not_measured,
        sentence,
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// The verdict block of `verdicts`, judged from `claims` (which says each verdict's question).
pub fn headline(claims: &ClaimsFile, verdicts: &[ClaimVerdict]) -> Headline {
    let check_of = |v: &ClaimVerdict| claims.claim.iter().find(|c| c.id == v.id).map(|c| &c.check);
    let question_of = |v: &ClaimVerdict| check_of(v).and_then(Question::of);
    let count = |j: Judgement| verdicts.iter().filter(|v| v.verdict == j).count();
    Headline {
        claims: claims.claim.len(),
        holds: count(Judgement::Holds),
        fails: count(Judgement::Fails),
        not_measured: count(Judgement::NotMeasured),
        answers: Question::ALL
            .iter()
            .map(|q| {
                let of_q: Vec<(&ClaimVerdict, Option<&Check>)> = verdicts
                    .iter()
                    .filter(|v| question_of(v) == Some(*q))
                    .map(|v| (v, check_of(v)))
                    .collect();
                answer(*q, &of_q)
            })
            .filter(|a| a.holds + a.fails + a.not_measured > 0)
            .collect(),
        failed: verdicts
            .iter()
            .filter(|v| v.verdict == Judgement::Fails)
            .cloned()
            .collect(),
    }
}

impl Headline {
    /// The counts in one line: "verdict: 9 hold, 14 fail, 8 not measured (31 verdicts on 27
    /// claims)".
    pub fn count_line(&self) -> String {
        let verdicts = self.holds + self.fails + self.not_measured;
        format!(
            "verdict: {} hold, {} fail, {} not measured ({verdicts} verdict{} on {} claim{}: a claim about a load or a tier has one per matching case)",
            self.holds,
            self.fails,
            self.not_measured,
            plural(verdicts),
            self.claims,
            plural(self.claims)
        )
    }

    fn cause(v: &ClaimVerdict) -> String {
        v.cause
            .clone()
            .unwrap_or_else(|| format!("measured {}", v.measured))
    }

    /// The block as the console prints it (last, after the claim lines).
    pub fn console(&self) -> String {
        let mut out = format!("{}\n", self.count_line());
        for a in &self.answers {
            out.push_str(&format!("  {}: {}\n", a.question.label(), a.sentence));
        }
        if !self.failed.is_empty() {
            out.push_str("  failed:\n");
            for v in &self.failed {
                out.push_str(&format!(
                    "    {}{}: {}\n",
                    v.statement,
                    case_of(v),
                    Self::cause(v)
                ));
            }
        }
        out
    }

    /// The block as the report's first section: the counts, the answers, then a table of the
    /// failed claims with their cause.
    pub fn section(&self) -> Section {
        let mut paragraphs = vec![self.count_line()];
        paragraphs.extend(
            self.answers
                .iter()
                .map(|a| format!("{}: {}", a.question.label(), a.sentence)),
        );
        let rows = self
            .failed
            .iter()
            .map(|v| {
                vec![
                    TableCell::from(v.statement.clone()),
                    TableCell::from(v.case.clone().unwrap_or_else(|| "-".into())),
                    TableCell {
                        text: Self::cause(v),
                        strong: true,
                    },
                ]
            })
            .collect::<Vec<_>>();
        Section {
            title: "Verdict".into(),
            paragraphs,
            header: if rows.is_empty() {
                vec![]
            } else {
                vec!["failed claim", "case", "cause"]
            },
            right: vec![false; 3],
            rows,
            notes: vec!["The full list of claims, with their evidence, is under Claims.".into()],
        }
    }
}

#[cfg(test)]
#[path = "headline_tests.rs"]
mod tests;
