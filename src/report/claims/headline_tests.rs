use super::*;

const CLAIMS: &str = r#"
[[claim]]
id = "lat"
statement = "2-5 s at 100 users"
kind = "latency"
users = 100
model = "gpt-4o"
max_s = 5.0

[[claim]]
id = "cost"
statement = "$0.0085 a post"
kind = "cost_per_post"
model = "gpt-4o"
value = 0.0085
tolerance = 0.1

[[claim]]
id = "tier"
statement = "100 users need Tier 2"
kind = "needs_tier"
users = 100
tier = 2

[[claim]]
id = "svc"
statement = "the service is fast"
kind = "service"
"#;

fn v(
    id: &str,
    case: Option<&str>,
    verdict: Judgement,
    measured: &str,
    cause: Option<&str>,
) -> ClaimVerdict {
    let statement = match id {
        "lat" => "2-5 s at 100 users",
        "cost" => "$0.0085 a post",
        "tier" => "100 users need Tier 2",
        _ => "the service is fast",
    };
    ClaimVerdict {
        id: id.into(),
        statement: statement.into(),
        case: case.map(Into::into),
        measured: measured.into(),
        verdict,
        cause: cause.map(Into::into),
        evidence: "e".into(),
    }
}

fn verdicts() -> Vec<ClaimVerdict> {
    vec![
        // Latency: two cases (tier 1, tier 2), both fail.
        v(
            "lat",
            Some("burst-100 tier 1"),
            Judgement::Fails,
            "1 of 100 posts ok",
            Some("rate limits: 99 of 100 posts failed after 429s"),
        ),
        v(
            "lat",
            Some("burst-100 tier 2"),
            Judgement::Fails,
            "p95 8.10 s",
            Some("model latency"),
        ),
        v(
            "cost",
            Some("burst-100 tier 2"),
            Judgement::Holds,
            "$0.00830 (-2 %)",
            None,
        ),
        // Tier: one case each side; tier 1 fails as claimed (holds), tier 2 holds.
        v(
            "tier",
            Some("burst-100 tier 1"),
            Judgement::Holds,
            "1 of 100 ok",
            None,
        ),
        v(
            "tier",
            Some("burst-100 tier 2"),
            Judgement::Holds,
            "100 of 100 ok",
            None,
        ),
        v("svc", None, Judgement::NotMeasured, "-", None),
    ]
}

#[test]
fn the_block_counts_verdicts_and_answers_each_question_once() {
    let claims = crate::claims::parse("c.toml", CLAIMS).unwrap();
    let h = headline(&claims, &verdicts());
    // 6 verdicts on 4 claims: holds = cost + 2 tier = 3; fails = 2 latency; not measured = svc.
    assert_eq!((h.claims, h.holds, h.fails, h.not_measured), (4, 3, 2, 1));
    assert_eq!(
        h.count_line(),
        "verdict: 3 hold, 2 fail, 1 not measured (6 verdicts on 4 claims: a claim about a load or a tier has one per matching case)"
    );
    // The service claim answers no question; the switch has no claim, so no line.
    let qs: Vec<Question> = h.answers.iter().map(|a| a.question).collect();
    assert_eq!(qs, [Question::Latency, Question::Cost, Question::Tier]);
    // Latency: both fail; the example is the last failing case (tier 2: the model itself).
    assert_eq!(
        h.answers[0].sentence,
        "no: all 2 measured verdicts fail, e.g. 2-5 s at 100 users (burst-100 tier 2): p95 8.10 s."
    );
    assert_eq!(
        h.answers[1].sentence,
        "yes: all 1 measured verdicts hold, e.g. $0.0085 a post (burst-100 tier 2): $0.00830 (-2 %)."
    );
    assert_eq!((h.answers[2].holds, h.answers[2].fails), (2, 0));
    // The failed ones, in order, each with its cause.
    let failed: Vec<&str> = h
        .failed
        .iter()
        .map(|f| f.cause.as_deref().unwrap())
        .collect();
    assert_eq!(
        failed,
        [
            "rate limits: 99 of 100 posts failed after 429s",
            "model latency"
        ]
    );
    let console = h.console();
    assert!(
        console.starts_with("verdict: 3 hold, 2 fail, 1 not measured"),
        "{console}"
    );
    assert!(
        console.ends_with(
            "  failed:\n\
             \x20   2-5 s at 100 users (burst-100 tier 1): rate limits: 99 of 100 posts failed after 429s\n\
             \x20   2-5 s at 100 users (burst-100 tier 2): model latency\n"
        ),
        "{console}"
    );
}

#[test]
fn a_mixed_question_says_no_with_one_example_of_each_and_an_unmeasured_one_says_so() {
    let claims = crate::claims::parse("c.toml", CLAIMS).unwrap();
    let mut vs = verdicts();
    vs[0].verdict = Judgement::Holds;
    vs[0].cause = None;
    vs[2].verdict = Judgement::NotMeasured;
    let h = headline(&claims, &vs);
    assert_eq!(
        h.answers[0].sentence,
        "no: 1 of 2 measured verdicts fail, e.g. 2-5 s at 100 users (burst-100 tier 2): p95 8.10 s; 1 hold, e.g. 2-5 s at 100 users (burst-100 tier 1): 1 of 100 posts ok."
    );
    assert_eq!(
        h.answers[1].sentence,
        "not measured by this run (1 verdict)."
    );
    // The report's section: counts and answers as paragraphs, the failed claim in the table.
    let s = h.section();
    assert_eq!(s.title, "Verdict");
    assert_eq!(s.paragraphs.len(), 1 + h.answers.len());
    assert_eq!(s.rows.len(), 1);
    assert_eq!(s.rows[0][2].text, "model latency");
}

#[test]
fn with_nothing_failed_the_block_has_no_failed_table() {
    let claims = crate::claims::parse("c.toml", CLAIMS).unwrap();
    let h = headline(&claims, &verdicts()[2..]);
    assert_eq!(h.fails, 0);
    assert!(h.section().header.is_empty());
    assert!(!h.console().contains("failed:"));
}

/// The cost answer gives the $ per post (not the first claim listed, tokens) and the month:
/// the note asks both.
#[test]
fn the_cost_answer_gives_the_per_post_and_the_monthly_figure() {
    // The constant's claims with a monthly table of one row.
    let toml = TOKENS_COST_MONTH
        .replace("$63.75 and $127.50 a month", "$63.75 a month")
        .replace(", [100, 5, 127.5]", "");
    let claims = crate::claims::parse("c.toml", &toml).unwrap();
    let verdict = |id: &str, statement: &str, measured: &str| {
        on_tier_2(id, statement, Judgement::Holds, measured)
    };
    let h = headline(
        &claims,
        &[
            verdict("tok", "2,350 tokens a post", "2327 tokens (-1 %)"),
            verdict("cost", "$0.0085 a post", "$0.00830 (-2 %)"),
            verdict("month", "$63.75 a month", "$62.26"),
        ],
    );
    assert_eq!(
        h.answers[0].sentence,
        "yes: all 3 measured verdicts hold, e.g. $0.0085 a post (burst-100 tier 2): $0.00830 (-2 %). \
         Per month on gpt-4o (burst-100 tier 2): holds (the note's 1 figure within 10 %)."
        // 0.1 × 100 = 10 %; the one row of the table is 1 figure.
    );
}

const TOKENS_COST_MONTH: &str = r#"
[[claim]]
id = "tok"
statement = "2,350 tokens a post"
kind = "tokens_per_post"
value = 2350
tolerance = 0.1

[[claim]]
id = "cost"
statement = "$0.0085 a post"
kind = "cost_per_post"
model = "gpt-4o"
value = 0.0085
tolerance = 0.1

[[claim]]
id = "month"
statement = "$63.75 and $127.50 a month"
kind = "monthly_cost"
model = "gpt-4o"
tolerance = 0.1
table = [[50, 5, 63.75], [100, 5, 127.5]]
"#;

fn on_tier_2(id: &str, statement: &str, verdict: Judgement, measured: &str) -> ClaimVerdict {
    ClaimVerdict {
        id: id.into(),
        statement: statement.into(),
        case: Some("burst-100 tier 2".into()),
        measured: measured.into(),
        verdict,
        cause: None,
        evidence: "e".into(),
    }
}

/// Without a $ per post, the monthly table answers the cost question before tokens; a monthly
/// table not measured adds no monthly sentence.
#[test]
fn the_monthly_table_is_the_cost_example_before_tokens_and_only_when_measured() {
    let claims = crate::claims::parse("c.toml", TOKENS_COST_MONTH).unwrap();
    let tok = on_tier_2(
        "tok",
        "2,350 tokens a post",
        Judgement::Holds,
        "2327 tokens (-1 %)",
    );
    let month = |j| on_tier_2("month", "$63.75 and $127.50 a month", j, "$62.26 / $124.52");
    let h = headline(&claims, &[tok.clone(), month(Judgement::Holds)]);
    assert_eq!(
        h.answers[0].sentence,
        "yes: all 2 measured verdicts hold, e.g. $63.75 and $127.50 a month (burst-100 tier 2): $62.26 / $124.52. \
         Per month on gpt-4o (burst-100 tier 2): holds (the note's 2 figures within 10 %)."
    );
    let h = headline(&claims, &[tok, month(Judgement::NotMeasured)]);
    assert_eq!(
        h.answers[0].sentence,
        "yes: all 1 measured verdicts hold, e.g. 2,350 tokens a post (burst-100 tier 2): 2327 tokens (-1 %)."
    );
}

/// More failing verdicts than holding ones: 2 of 3 fail; the $ per post is the failing example,
/// the monthly table the holding one.
#[test]
fn a_cost_answer_with_more_failures_than_holds_counts_both() {
    let claims = crate::claims::parse("c.toml", TOKENS_COST_MONTH).unwrap();
    let h = headline(
        &claims,
        &[
            on_tier_2(
                "tok",
                "2,350 tokens a post",
                Judgement::Fails,
                "2900 tokens (+23 %)",
            ),
            on_tier_2(
                "cost",
                "$0.0085 a post",
                Judgement::Fails,
                "$0.01000 (+18 %)",
            ),
            on_tier_2(
                "month",
                "$63.75 and $127.50 a month",
                Judgement::Holds,
                "$62.26 / $124.52",
            ),
        ],
    );
    assert_eq!((h.answers[0].holds, h.answers[0].fails), (1, 2));
    assert_eq!(
        h.answers[0].sentence,
        "no: 2 of 3 measured verdicts fail, e.g. $0.0085 a post (burst-100 tier 2): $0.01000 (+18 %); \
         1 hold, e.g. $63.75 and $127.50 a month (burst-100 tier 2): $62.26 / $124.52. \
         Per month on gpt-4o (burst-100 tier 2): holds (the note's 2 figures within 10 %)."
    );
}

/// The console's block as a reader sees it: each question named in words before its answer.
#[test]
fn the_console_block_names_each_question_in_words() {
    let claims = crate::claims::parse("c.toml", CLAIMS).unwrap();
    let h = headline(&claims, &verdicts());
    assert_eq!(
        h.console(),
        "verdict: 3 hold, 2 fail, 1 not measured (6 verdicts on 4 claims: a claim about a load or a tier has one per matching case)\n\
         \x20 latency (is a post done in the claimed time?): no: all 2 measured verdicts fail, e.g. 2-5 s at 100 users (burst-100 tier 2): p95 8.10 s.\n\
         \x20 cost (tokens and $ per post, per batch, per month): yes: all 1 measured verdicts hold, e.g. $0.0085 a post (burst-100 tier 2): $0.00830 (-2 %).\n\
         \x20 tier (which rate-limit tier the load needs): yes: all 2 measured verdicts hold, e.g. 100 users need Tier 2 (burst-100 tier 1): 1 of 100 ok.\n\
         \x20 failed:\n\
         \x20   2-5 s at 100 users (burst-100 tier 1): rate limits: 99 of 100 posts failed after 429s\n\
         \x20   2-5 s at 100 users (burst-100 tier 2): model latency\n"
    );
    // The switch has no claim here; its words as the block would print them.
    assert_eq!(
        Question::Switch.label(),
        "model switch (what the cheaper model saves)"
    );
}
