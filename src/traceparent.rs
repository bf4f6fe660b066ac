//! W3C Trace Context's `traceparent` header (`00-<32 hex trace id>-<16 hex span id>-<flags>`):
//! the one postload sends with each post in service mode, its ids drawn from the case's seed and
//! the post's number so the stub's per-trace counts can be joined with the post; and the
//! parsing the stub and the example service apply to what they receive (anything malformed is
//! `None`, never a panic). Pure.

use crate::openai::world::mix;

/// The header's name (lower case, as HTTP/2 and the spec write it).
pub const HEADER: &str = "traceparent";

/// A `traceparent`'s two ids (never zero, as the spec requires).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TraceParent {
    pub trace_id: u128,
    pub span_id: u64,
}

impl TraceParent {
    /// Post `post`'s trace in a case with `seed`: the trace id's high half from the seed, its
    /// low half the post's number + 1 (so no two posts of a case share one and none is zero);
    /// the span id from both.
    pub fn for_post(seed: u64, post: u64) -> Self {
        let high = mix(seed ^ 0x7472_6163_6570_6172);
        let low = post.wrapping_add(1).max(1);
        Self {
            trace_id: (u128::from(high) << 64) | u128::from(low),
            span_id: mix(high ^ low).max(1),
        }
    }

    /// The same trace under another span (what a client's own span forwards).
    pub fn child(self, span_id: u64) -> Self {
        Self {
            span_id: span_id.max(1),
            ..self
        }
    }

    /// The trace id as the header writes it: 32 lower-case hex digits.
    pub fn trace_hex(&self) -> String {
        format!("{:032x}", self.trace_id)
    }

    /// The header's value, version 00, sampled.
    pub fn header(&self) -> String {
        format!("00-{:032x}-{:016x}-01", self.trace_id, self.span_id)
    }

    /// A received header's value: version 00 exactly as the spec writes it, or a later version
    /// (which may append fields after a `-`); `None` for anything else, including all-zero ids,
    /// upper-case hex and version `ff`.
    pub fn parse(value: &str) -> Option<Self> {
        let v = value.trim_matches([' ', '\t']);
        let b = v.as_bytes();
        // ASCII only: every index below is then a character boundary.
        if !v.is_ascii() || b.len() < 55 || b[2] != b'-' || b[35] != b'-' || b[52] != b'-' {
            return None;
        }
        let version = hex(&v[0..2])?;
        if version == 0xff || (version == 0 && b.len() != 55) || (b.len() > 55 && b[55] != b'-') {
            return None;
        }
        hex(&v[53..55])?;
        let trace_id = u128::from_str_radix(checked_hex(&v[3..35])?, 16).ok()?;
        let span_id = u64::from_str_radix(checked_hex(&v[36..52])?, 16).ok()?;
        (trace_id != 0 && span_id != 0).then_some(Self { trace_id, span_id })
    }
}

/// `s` if it is all lower-case hex digits.
fn checked_hex(s: &str) -> Option<&str> {
    s.bytes()
        .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
        .then_some(s)
}

fn hex(s: &str) -> Option<u8> {
    u8::from_str_radix(checked_hex(s)?, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_posts_header_parses_back_and_posts_differ() {
        let a = TraceParent::for_post(7, 0);
        let b = TraceParent::for_post(7, 1);
        assert_ne!(a.trace_id, b.trace_id);
        // The low half is the post's number + 1.
        assert_eq!(a.trace_id as u64, 1);
        assert_eq!(b.trace_id as u64, 2);
        assert_ne!(a.trace_id >> 64, TraceParent::for_post(8, 0).trace_id >> 64);
        let h = a.header();
        assert_eq!(h.len(), 55);
        assert!(h.starts_with("00-") && h.ends_with("-01"), "{h}");
        assert_eq!(TraceParent::parse(&h), Some(a));
        assert_eq!(&h[3..35], a.trace_hex());
        // The last post a u64 can number still gets a non-zero id.
        assert_ne!(TraceParent::for_post(0, u64::MAX).trace_id as u64, 0);
    }

    #[test]
    fn the_specs_example_parses_and_malformed_values_do_not() {
        let ok = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let t = TraceParent::parse(ok).unwrap();
        assert_eq!(t.trace_id, 0x4bf92f3577b34da6a3ce929d0e0e4736);
        assert_eq!(t.span_id, 0x00f067aa0ba902b7);
        // A later version may carry more fields.
        assert!(TraceParent::parse(&format!("01{}-extra", &ok[2..])).is_some());
        for bad in [
            "",
            "00",
            "garbage",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g",
            "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e47é-00f067aa0ba902b7-01",
        ] {
            assert_eq!(TraceParent::parse(bad), None, "{bad}");
        }
    }

    /// Every seed of a byte gives its own trace ids (the seed is mixed, not masked), and the
    /// posts of one case their own span ids.
    #[test]
    fn each_seed_and_post_has_its_own_ids() {
        let highs: std::collections::HashSet<u128> = (0..=255u64)
            .map(|seed| TraceParent::for_post(seed, 0).trace_id >> 64)
            .collect();
        assert_eq!(highs.len(), 256);
        let spans: std::collections::HashSet<u64> = (0..1_000u64)
            .map(|post| TraceParent::for_post(7, post).span_id)
            .collect();
        assert_eq!(spans.len(), 1_000);
    }

    /// A child keeps the trace and takes its own span (never zero).
    #[test]
    fn a_child_span_keeps_the_trace() {
        let t = TraceParent::for_post(7, 3);
        let c = t.child(0xabc);
        assert_eq!((c.trace_id, c.span_id), (t.trace_id, 0xabc));
        assert_eq!(t.child(0).span_id, 1);
        assert_eq!(TraceParent::parse(&c.header()).unwrap().span_id, 0xabc);
    }

    /// Each separator is checked on its own, and a later version of exactly the 55 characters
    /// of version 00 (no extra fields) is read, as is one followed by `-` and more; one followed
    /// by anything else is not.
    #[test]
    fn each_separator_and_a_later_versions_length() {
        let ok = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        for at in [2, 35, 52] {
            let mut b = ok.as_bytes().to_vec();
            b[at] = b'_';
            let bad = String::from_utf8(b).unwrap();
            assert_eq!(TraceParent::parse(&bad), None, "{bad}");
        }
        let later = format!("01{}", &ok[2..]);
        let t = TraceParent::parse(&later).unwrap();
        assert_eq!(t.span_id, 0x00f067aa0ba902b7);
        assert!(TraceParent::parse(&format!("{later}-x")).is_some());
        assert_eq!(TraceParent::parse(&format!("{later}x")), None);
        assert_eq!(TraceParent::parse(&ok[..54]), None);
        assert_eq!(
            TraceParent::parse(&format!(" {ok}\t")),
            TraceParent::parse(ok)
        );
    }
}
