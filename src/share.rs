//! A share (a part of a whole): `0.1` or `10%`. The one parser of every flag and gate-file value
//! that takes one (`compare --tolerance`, `error_rate <= 1%`, `--prompt-cache-hit`, ...), so that
//! a bare `10` never reads as 1,000 % anywhere: a bare number above 1 is refused, with the two
//! spellings that say what was meant. A leaf.

/// `text` as a share: `10%` is 0.1, `0.1` is 0.1. A bare number must be from 0 to 1; a
/// percentage any finite amount from 0 (a tolerance may pass 100 %). The caller checks its own
/// upper bound.
pub fn parse(text: &str) -> Result<f64, String> {
    let t = text.trim();
    let (number, percent) = match t.strip_suffix('%') {
        Some(n) => (n.trim_end(), true),
        None => (t, false),
    };
    let value: f64 = number
        .parse()
        .ok()
        .filter(|v: &f64| v.is_finite())
        .ok_or_else(|| {
            format!("`{t}` is not a share: write a percentage (10%) or a share (0.1)")
        })?;
    if value < 0.0 {
        return Err(format!("`{t}`: a share cannot be negative"));
    }
    if percent {
        return Ok(value / 100.0);
    }
    if value > 1.0 {
        return Err(format!(
            "`{t}` is above 1, a bare number is a share from 0 to 1: write {t}% or {}",
            crate::limits::num(value / 100.0)
        ));
    }
    Ok(value)
}

/// [`parse`] as a clap value parser, so that every share flag reads the same way.
pub fn arg(text: &str) -> Result<f64, String> {
    parse(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_ten_is_refused_not_read_as_a_thousand_percent() {
        // The regression: `compare --tolerance 10` let +50 % calls pass as within 1,000 %.
        let e = parse("10").unwrap_err();
        assert!(e.contains("write 10% or 0.1"), "{e}");
        let e = parse("1.5").unwrap_err();
        assert!(e.contains("write 1.5% or 0.015"), "{e}");
    }

    #[test]
    fn percentages_and_shares_read_alike() {
        for (text, want) in [
            ("10%", 0.1),
            ("0.1", 0.1),
            ("0", 0.0),
            ("1", 1.0),
            ("0%", 0.0),
            (" 5 % ", 0.05),
            ("150%", 1.5),
            ("0.5%", 0.005),
        ] {
            assert_eq!(parse(text), Ok(want), "{text}");
        }
        for bad in ["-0.1", "-5%", "NaN", "inf%", "ten", "%", "10%%", ""] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
