//! The token bucket chart: the TPM bucket's level over a case as the stub models it, replayed
//! from the recorded attempts (send time, reserved tokens, 429 or not) through the stub's own
//! [`Bucket`]. Each admitted attempt takes its reservation (a drop), each 429 is marked where the
//! level stood, and between them the bucket refills at TPM / 60 tokens a second up to its
//! capacity. Rejected attempts take no tokens: the embedded stub's policy
//! ([`RejectedCost::Request`](crate::openai::bucket::RejectedCost)) charges them a request only.
//! The replay takes the attempts in the client's send order, but the stub saw them in its own:
//! sends race to it, by a few milliseconds of real time, which `--time-scale K` multiplies by K
//! (at K = 20 on a loaded machine, rivals sent 0.3 s of modelled time later were admitted first).
//! A 429 is therefore marked where the stub could have given it: at its send if the replayed
//! level was already below what it asked for, else at the first admission after it that left
//! less (the stub decided it no earlier than its send, and after the rivals that took the
//! tokens). A 429 the bucket never explains (a request limit, a forced one) stays at its send.

use std::time::Duration;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{legend, Drawn, PALETTE};
use crate::metrics::{AttemptPoint, KEPT_ATTEMPTS};
use crate::openai::bucket::Bucket;
use crate::result::CaseResult;

const MINUTE: Duration = Duration::from_secs(60);

/// The bucket's level over the replayed attempts.
#[derive(Debug, Clone, PartialEq)]
pub struct Replay {
    pub capacity: u64,
    /// Tokens left, as a polyline: (s, tokens). It rises along the refill, reaches the capacity
    /// where the bucket is full, and drops straight down at each admitted attempt.
    pub level: Vec<(f64, u64)>,
    /// Each 429: (s, tokens left when it came, tokens it asked for).
    pub rejected: Vec<(f64, u64, u64)>,
    pub admitted: u64,
}

/// Replays `attempts` (in any order) through a full TPM bucket of `tpm` from time zero, and
/// follows the refill to `until_s` (or to the last attempt, if later).
pub fn replay(tpm: u64, attempts: &[AttemptPoint], until_s: f64) -> Replay {
    let mut sorted: Vec<(Duration, &AttemptPoint)> = attempts
        .iter()
        .take(KEPT_ATTEMPTS)
        .filter_map(|a| Some((Duration::try_from_secs_f64(a.sent_s).ok()?, a)))
        .collect();
    sorted.sort_by_key(|(t, _)| *t);
    let mut bucket = Bucket::new(tpm, MINUTE, Duration::ZERO);
    let mut r = Replay {
        capacity: tpm,
        level: vec![(0.0, tpm)],
        rejected: Vec::new(),
        admitted: 0,
    };
    // 429s that still fitted when sent: (sent s, level then, asked), waiting for an admission
    // that leaves less than they asked for.
    let mut raced: Vec<(f64, u64, u64)> = Vec::new();
    let mut last = Duration::ZERO;
    for (t, a) in sorted {
        refill_to(&mut r, &mut bucket, last, t);
        let before = bucket.remaining(t);
        let at = (t.as_secs_f64(), before, a.reserved_tokens);
        if a.status == Some(429) {
            if a.reserved_tokens > before {
                r.rejected.push(at);
            } else {
                raced.push(at);
            }
        } else {
            bucket.force_take(t, a.reserved_tokens);
            r.admitted += 1;
            let left = bucket.remaining(t);
            r.level.push((t.as_secs_f64(), left));
            raced.retain(|&(_, _, asked)| {
                let explained = asked > left;
                if explained {
                    r.rejected.push((t.as_secs_f64(), left, asked));
                }
                !explained
            });
        }
        last = t;
    }
    r.rejected.extend(raced);
    r.rejected.sort_by(|a, b| a.0.total_cmp(&b.0));
    let until = Duration::try_from_secs_f64(until_s)
        .unwrap_or(last)
        .max(last);
    refill_to(&mut r, &mut bucket, last, until);
    r
}

/// The refill from `from` to `to`: up the slope, flat at the capacity once full.
fn refill_to(r: &mut Replay, bucket: &mut Bucket, from: Duration, to: Duration) {
    let full_at = from + bucket.reset_after(from);
    if from < full_at && full_at < to {
        r.level.push((full_at.as_secs_f64(), r.capacity));
    }
    if to > from {
        r.level.push((to.as_secs_f64(), bucket.remaining(to)));
    }
}

/// The parts of the polyline `points` at or below `max_y`, each cut where it crosses that
/// line. Plotters draws a point past the top at the edge, so the zoomed panel showed a full
/// bucket as a flat line at its top, as if that many tokens were left.
pub fn below(points: &[(f64, f64)], max_y: f64) -> Vec<Vec<(f64, f64)>> {
    let cross = |(ta, ya): (f64, f64), (tb, yb): (f64, f64)| {
        (ta + (max_y - ya) / (yb - ya) * (tb - ta), max_y)
    };
    let mut runs: Vec<Vec<(f64, f64)>> = Vec::new();
    let mut run: Vec<(f64, f64)> = Vec::new();
    if let [first, ..] = points {
        if first.1 <= max_y {
            run.push(*first);
        }
    }
    for w in points.windows(2) {
        let (a, b) = (w[0], w[1]);
        match (a.1 <= max_y, b.1 <= max_y) {
            (true, true) => run.push(b),
            (true, false) => {
                run.push(cross(a, b));
                runs.push(std::mem::take(&mut run));
            }
            (false, true) => run.extend([cross(a, b), b]),
            (false, false) => {}
        }
    }
    if !run.is_empty() {
        runs.push(run);
    }
    runs
}

/// The caption: the case, the limit, and how many attempts were replayed.
pub fn title(c: &CaseResult) -> String {
    let kept = c.measured.attempts.len().min(KEPT_ATTEMPTS) as u64;
    let of = if kept < c.measured.calls.attempts {
        format!(", first {kept} of {} attempts", c.measured.calls.attempts)
    } else {
        String::new()
    };
    format!(
        "TPM bucket as the stub models it: {} ({} TPM{of})",
        c.label(),
        c.inputs.limits.tpm
    )
}

/// Two panels: the whole bucket (its capacity, and how fast the burst empties it), and below,
/// the bottom of the bucket up to a few reservations, where the 429s happen.
pub(super) fn draw<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, c: &CaseResult) -> Drawn
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE)?;
    let m = &c.measured;
    let last = m.attempts.iter().map(|a| a.sent_s).fold(1.0f64, f64::max);
    let max_x = (last * 1.15).max(last + 1.0);
    let r = replay(c.inputs.limits.tpm, &m.attempts, max_x);
    let cap = (r.capacity as f64).max(1.0);
    let asked = m
        .attempts
        .iter()
        .map(|a| a.reserved_tokens)
        .max()
        .unwrap_or(0) as f64;
    let (whole, bottom) = root.split_vertically(250);
    let title = title(c);
    panel(
        &whole,
        &r,
        Panel {
            title: &title,
            max_x,
            max_y: cap * 1.25,
            legend: true,
        },
    )?;
    let zoom = format!(
        "zoomed in: the bottom {:.0} tokens, where the 429s are",
        (asked * 3.0).min(cap)
    );
    panel(
        &bottom,
        &r,
        Panel {
            title: &zoom,
            max_x,
            max_y: (asked * 3.0).clamp(1.0, cap * 1.25),
            legend: false,
        },
    )
}

/// What differs between the two panels.
struct Panel<'a> {
    title: &'a str,
    max_x: f64,
    max_y: f64,
    legend: bool,
}

fn panel<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, r: &Replay, p: Panel) -> Drawn
where
    DB::ErrorType: 'static,
{
    let cap = r.capacity as f64;
    let mut b = ChartBuilder::on(area);
    b.caption(p.title, ("sans-serif", if p.legend { 24 } else { 18 }))
        .margin(12)
        .x_label_area_size(if p.legend { 30 } else { 50 })
        .y_label_area_size(90);
    let mut chart = b.build_cartesian_2d(0.0..p.max_x, 0.0..p.max_y)?;
    let mut mesh = chart.configure_mesh();
    mesh.y_desc("tokens left")
        .y_labels(if p.legend { 4 } else { 8 })
        .y_label_formatter(&|y| format!("{y:.0}"))
        .label_style(("sans-serif", 16))
        .axis_desc_style(("sans-serif", 18));
    if !p.legend {
        mesh.x_desc("time since start (s)");
    }
    mesh.draw()?;
    // Points past the axes are drawn at its edge: the zoomed panel leaves the capacity out.
    let capacity = if cap <= p.max_y {
        vec![(0.0, cap), (p.max_x, cap)]
    } else {
        Vec::new()
    };
    chart
        .draw_series(LineSeries::new(capacity, RED.stroke_width(2)))?
        .label(format!(
            "capacity: {} tokens, refilled at {:.0} a second",
            r.capacity,
            cap / 60.0
        ))
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], RED.stroke_width(2)));
    let level = PALETTE[0];
    let shown = below(
        &r.level
            .iter()
            .map(|(t, l)| (*t, *l as f64))
            .collect::<Vec<_>>(),
        p.max_y,
    );
    chart
        .draw_series(
            shown
                .into_iter()
                .map(|run| PathElement::new(run, level.stroke_width(2))),
        )?
        .label(format!(
            "tokens left: {} admitted reservations drop it, the refill raises it",
            r.admitted
        ))
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], level.stroke_width(2)));
    let mark = PALETTE[3];
    // Each 429's reservation, from the level it found up to what it asked for.
    // A mark past the top would be drawn at the edge: the zoomed panel leaves it out.
    let rejected: Vec<_> = r
        .rejected
        .iter()
        .filter(|(_, l, _)| *l as f64 <= p.max_y)
        .collect();
    chart.draw_series(rejected.iter().map(|(t, l, asked)| {
        PathElement::new(
            vec![(*t, *l as f64), (*t, (*asked as f64).max(*l as f64))],
            mark.mix(0.35).stroke_width(1),
        )
    }))?;
    chart
        .draw_series(
            rejected
                .iter()
                .map(|(t, l, _)| Cross::new((*t, *l as f64), 5, mark.stroke_width(2))),
        )?
        .label(format!(
            "429: {} requests that did not fit (a faint line up to what each asked for)",
            r.rejected.len()
        ))
        .legend(move |(x, y)| Cross::new((x + 10, y), 5, mark.stroke_width(2)));
    if p.legend {
        legend(&mut chart, SeriesLabelPosition::UpperRight)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(sent_s: f64, status: u16) -> AttemptPoint {
        AttemptPoint {
            sent_s,
            reserved_tokens: 950,
            status: Some(status),
        }
    }

    #[test]
    fn a_tier_1_burst_replayed_by_hand() {
        // 30,000 TPM refills 500 tokens a second. At t = 0, 31 attempts of 950 fit
        // (31 × 950 = 29,450; a 32nd would need 30,400): 550 left, and the 32nd is a 429 there.
        // At t = 1 s the bucket has refilled to 550 + 500 = 1,050: one more fits, leaving 100.
        // It is full again 29,900 / 500 = 59.8 s later, at 60.8 s.
        let mut attempts: Vec<AttemptPoint> = (0..31).map(|_| at(0.0, 200)).collect();
        attempts.push(at(0.0, 429));
        attempts.push(at(1.0, 200));
        let r = replay(30_000, &attempts, 70.0);
        assert_eq!(r.capacity, 30_000);
        assert_eq!(r.admitted, 32);
        assert_eq!(r.rejected, vec![(0.0, 550, 950)]);
        let mut want = vec![(0.0, 30_000)];
        want.extend((1..=31).map(|k| (0.0, 30_000 - 950 * k)));
        want.extend([(1.0, 1_050), (1.0, 100), (60.8, 30_000), (70.0, 30_000)]);
        assert_eq!(r.level.len(), want.len());
        for ((t, l), (wt, wl)) in r.level.iter().zip(&want) {
            assert!((t - wt).abs() < 1e-9 && l == wl, "{:?}", r.level);
        }
    }

    #[test]
    fn the_zoomed_level_is_cut_where_it_leaves_the_panel_not_drawn_along_its_top() {
        // Regression: the zoomed panel drew the full bucket as a flat line at its top.
        // Up to 4,000: the drop from 30,000 enters at (0, 4,000); the rise from 1,500 at 1 s
        // to 5,000 at 2 s leaves at 1 + 2,500 / 3,500 = 1.7142857 s; the fall from 5,000 at
        // 2 s to 2,000 at 3 s comes back at 2 + 1,000 / 3,000 = 2.3333333 s.
        let level = [
            (0.0, 30_000.0),
            (0.0, 1_000.0),
            (1.0, 1_500.0),
            (2.0, 5_000.0),
            (3.0, 2_000.0),
        ];
        let runs = below(&level, 4_000.0);
        assert_eq!(runs.len(), 2, "{runs:?}");
        assert_eq!(
            runs[0][..3],
            [(0.0, 4_000.0), (0.0, 1_000.0), (1.0, 1_500.0)]
        );
        assert!((runs[0][3].0 - 1.714_285_714).abs() < 1e-6 && runs[0][3].1 == 4_000.0);
        assert!((runs[1][0].0 - 2.333_333_333).abs() < 1e-6 && runs[1][0].1 == 4_000.0);
        assert_eq!(runs[1][1], (3.0, 2_000.0));
        // All inside: one run, unchanged.
        assert_eq!(below(&level[1..3], 4_000.0), [level[1..3].to_vec()]);
        assert!(below(&[(0.0, 9_000.0)], 4_000.0).is_empty());
    }

    /// Regression: at `--time-scale 20` the chart of a Tier-1 burst-100 showed its 429s from
    /// 24,000 tokens left down, the bucket draining over 0.35 s, "about 20 admitted at t = 0"
    /// read against 31 at K = 1, while the stub had admitted 32 image prompts in the first
    /// modelled second (31 at K = 1). The 429s' sends had raced rivals sent up to 0.3 s
    /// (15 ms real × 20) later, which the stub admitted first.
    #[test]
    fn a_429_that_raced_later_sends_is_marked_where_the_bucket_could_refuse_it() {
        // 30,000 TPM, 500 tokens a second. Sent in this order: 6 admitted at 0 (30,000 - 6 × 950
        // = 24,300 left); a 429 at 0.05 s, refill 25: 24,325 left, 950 would fit, so the stub
        // saw it later; 25 admitted at 0.3 s: 24,300 + 0.3 × 500 = 24,450, less 25 × 950 =
        // 23,750, leaves 700 < 950: the 429 is marked there, at (0.3, 700). A 429 at 0.4 s
        // (700 + 50 = 750 left) is below its 950 when sent: marked there. A 429 of 100 tokens
        // at 0.5 s (800 left) that nothing after it explains (a request limit) stays at its send.
        let mut attempts: Vec<AttemptPoint> = (0..6).map(|_| at(0.0, 200)).collect();
        attempts.push(at(0.05, 429));
        attempts.extend((0..25).map(|_| at(0.3, 200)));
        attempts.push(at(0.4, 429));
        attempts.push(AttemptPoint {
            reserved_tokens: 100,
            ..at(0.5, 429)
        });
        let r = replay(30_000, &attempts, 1.0);
        assert_eq!(r.admitted, 31);
        assert_eq!(r.rejected.len(), 3);
        let want = [(0.3, 700, 950), (0.4, 750, 950), (0.5, 800, 100)];
        for ((t, l, asked), (wt, wl, wa)) in r.rejected.iter().zip(want) {
            assert!(
                (t - wt).abs() < 1e-9 && *l == wl && *asked == wa,
                "{:?}",
                r.rejected
            );
        }
        // No 429 is marked where its reservation would have fitted, save the unexplained one.
        assert!(r.rejected[..2].iter().all(|(_, l, asked)| asked > l));
    }

    #[test]
    fn the_replay_ends_at_the_last_attempt_when_asked_for_less() {
        let r = replay(30_000, &[at(2.0, 200)], 0.0);
        assert_eq!(r.level, vec![(0.0, 30_000), (2.0, 30_000), (2.0, 29_050)]);
    }
}
