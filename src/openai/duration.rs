//! OpenAI's duration strings: Go's `time.Duration` format (`644ms`, `3.89s`, `6m0s`, `14h29m11.04s`),
//! rounded up to the millisecond, as used in `x-ratelimit-reset-*` headers and 429 messages.

use std::time::Duration;

/// Rounds `d` up to a whole millisecond.
pub fn ceil_ms(d: Duration) -> u64 {
    let ns = d.as_nanos();
    ns.div_ceil(1_000_000) as u64
}

/// Formats `d`, rounded up to the millisecond, the way Go prints a `time.Duration`.
pub fn go_duration(d: Duration) -> String {
    format_ms(ceil_ms(d))
}

/// Formats a whole number of milliseconds the way Go prints a `time.Duration`.
pub fn format_ms(ms: u64) -> String {
    if ms == 0 {
        return "0s".to_string();
    }
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let hours = ms / 3_600_000;
    let minutes = (ms / 60_000) % 60;
    let secs = (ms / 1000) % 60;
    let frac = ms % 1000;
    let mut out = String::new();
    if hours > 0 {
        out.push_str(&format!("{hours}h"));
    }
    if hours > 0 || minutes > 0 {
        out.push_str(&format!("{minutes}m"));
    }
    out.push_str(&secs.to_string());
    if frac > 0 {
        let digits = format!("{frac:03}");
        out.push('.');
        out.push_str(digits.trim_end_matches('0'));
    }
    out.push('s');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_go_formatting_seen_in_openai_headers() {
        assert_eq!(format_ms(0), "0s");
        assert_eq!(format_ms(12), "12ms");
        assert_eq!(format_ms(120), "120ms");
        assert_eq!(format_ms(644), "644ms");
        assert_eq!(format_ms(1000), "1s");
        assert_eq!(format_ms(3890), "3.89s");
        assert_eq!(format_ms(18_642), "18.642s");
        assert_eq!(format_ms(60_000), "1m0s");
        assert_eq!(format_ms(360_000), "6m0s");
        assert_eq!(format_ms(3_600_000), "1h0m0s");
        assert_eq!(
            format_ms(14 * 3_600_000 + 29 * 60_000 + 11_040),
            "14h29m11.04s"
        );
    }

    #[test]
    fn rounds_up_to_the_millisecond() {
        assert_eq!(go_duration(Duration::from_nanos(1)), "1ms");
        assert_eq!(go_duration(Duration::from_micros(644_000)), "644ms");
        assert_eq!(go_duration(Duration::from_micros(644_001)), "645ms");
        assert_eq!(go_duration(Duration::ZERO), "0s");
    }
}
