//! The planner's grid, recommendations and monthly table against the embedded data and the
//! note's figures.

use super::*;

fn spec() -> PlanSpec {
    PlanSpec {
        tiers: vec![1, 2, 3],
        target: Goal {
            p95_s: 12.0,
            min_success: 1.0,
        },
        seed: 1,
        ..PlanSpec::default()
    }
}

#[test]
fn the_notes_monthly_table_is_reproduced_exactly_from_its_per_post_figures() {
    let claims: ClaimsFile =
        crate::claims::parse("claims.toml", crate::claims::EMBEDDED_CLAIMS).unwrap();
    let rows = monthly_table(&claims, &[], &Default::default());
    assert_eq!(rows.len(), 12);
    for r in &rows {
        assert_eq!(r.from_note_per_post_usd, r.note_usd, "{r:?}");
    }
}

#[test]
fn tier_1_cannot_take_a_gpt_4o_burst_and_the_lowest_tier_is_found() {
    let c = Catalog::embedded();
    let claims = crate::claims::parse("claims.toml", crate::claims::EMBEDDED_CLAIMS).unwrap();
    let r = plan(&c, &spec(), &claims, &Default::default()).unwrap();
    assert_eq!(r.cells.len(), 2 * 2 * 2 * 3);
    let cell = |m: &str, t: u8, u: u32, s: Strategy| {
        r.cells
            .iter()
            .find(|c| c.model == m && c.tier == t && c.users == u && c.strategy == s)
            .unwrap()
    };
    // 30,000 TPM against ~2,300 reserved tokens a post: most of a 100-post burst fails.
    let t1 = cell("gpt-4o", 1, 100, Strategy::Sdk);
    assert!(t1.success < 0.2 && t1.http_429 > 100, "{t1:?}");
    assert!(t1.wasted_tokens > 0);
    // Tier 2 (450,000 TPM) takes it whole.
    let t2 = cell("gpt-4o", 2, 100, Strategy::Sdk);
    assert_eq!((t2.success, t2.http_429), (1.0, 0));
    let rec = r
        .recommendations
        .iter()
        .find(|x| x.model == "gpt-4o" && x.users == 100 && x.strategy == Strategy::Sdk)
        .unwrap();
    assert_eq!(rec.lowest_tier, Some(2));
    // A client-side queue at Tier 1 loses nothing, but waits: p95 far past the target.
    let q = cell("gpt-4o", 1, 100, Strategy::Queue);
    assert_eq!((q.success, q.http_429), (1.0, 0));
    assert!(q.p95_s.unwrap() > 60.0, "{q:?}");
    // gpt-4o-mini's 200,000 TPM at Tier 1 takes 50 posts.
    assert_eq!(cell("gpt-4o-mini", 1, 50, Strategy::Sdk).success, 1.0);
    // Caching cuts the monthly bill.
    let e = &r.caching[1];
    assert_eq!((e.model.as_str(), e.tier), ("gpt-4o", 2));
    let usd = |i: usize| e.rows[i].usd_per_month.unwrap();
    assert!(usd(1) < usd(0) * 0.8 && usd(2) < usd(0) && usd(3) < usd(1));
}
