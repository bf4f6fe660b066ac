//! HdrHistogram interval logs (`.hlog`, V2 compressed histograms), the standard format other
//! HdrHistogram tools read: each case's histograms are kept in result.json encoded, written as
//! `hlog/<case>.hlog`, and `postload merge` adds logs from several load machines exactly.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use hdrhistogram::serialization::interval_log::{
    IntervalLogHistogram, IntervalLogIterator, IntervalLogWriterBuilder, LogEntry, Tag,
};
use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer};
use hdrhistogram::Histogram;

/// A histogram as V2-deflate bytes in base64 (what an interval log line carries).
pub fn encode(h: &Histogram<u64>) -> String {
    use base64::Engine;
    let mut bytes = Vec::new();
    V2DeflateSerializer::new()
        .serialize(h, &mut bytes)
        .expect("serializing into memory cannot fail");
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The inverse of [`encode`].
pub fn decode(text: &str) -> Result<Histogram<u64>, String> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .map_err(|e| format!("not base64: {e}"))?;
    Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .map_err(|e| format!("not a V2 histogram: {e:?}"))
}

/// An interval log of the tagged histograms, each covering `duration` from `start`.
pub fn write_log(
    comment: &str,
    start: SystemTime,
    duration: Duration,
    histograms: &BTreeMap<String, Histogram<u64>>,
) -> Vec<u8> {
    let mut out = Vec::new();
    let mut serializer = V2DeflateSerializer::new();
    {
        let mut writer = IntervalLogWriterBuilder::new()
            .add_comment(comment)
            .with_start_time(start)
            .with_base_time(start)
            .with_max_value_divisor(1000.0) // values are µs; the max column is in ms
            .begin_log_with(&mut out, &mut serializer)
            .expect("writing into memory cannot fail");
        for (tag, h) in histograms {
            writer
                .write_histogram(h, Duration::ZERO, duration, Tag::new(tag))
                .expect("writing into memory cannot fail");
        }
    }
    out
}

/// Reads every histogram of an interval log, by tag (untagged ones under ""), adding
/// histograms that share a tag.
pub fn read_log(bytes: &[u8]) -> Result<BTreeMap<String, Histogram<u64>>, String> {
    let mut out: BTreeMap<String, Histogram<u64>> = BTreeMap::new();
    for entry in IntervalLogIterator::new(bytes) {
        let entry = entry.map_err(|e| format!("not an interval log: {e:?}"))?;
        if let LogEntry::Interval(h) = entry {
            add(&mut out, &h)?;
        }
    }
    Ok(out)
}

fn add(
    into: &mut BTreeMap<String, Histogram<u64>>,
    h: &IntervalLogHistogram<'_>,
) -> Result<(), String> {
    let tag = h.tag().map_or(String::new(), |t| t.as_str().to_string());
    let hist = decode(h.encoded_histogram())?;
    match into.get_mut(&tag) {
        Some(existing) => existing
            .add(&hist)
            .map_err(|e| format!("histograms of `{tag}` cannot be added: {e:?}"))?,
        None => {
            into.insert(tag, hist);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hist(values: &[u64]) -> Histogram<u64> {
        let mut h = Histogram::new_with_bounds(1, 3_600_000_000, 3).unwrap();
        for v in values {
            h.record(*v).unwrap();
        }
        h
    }

    #[test]
    fn a_log_we_write_reads_back_with_identical_counts() {
        let mut hs = BTreeMap::new();
        hs.insert(
            "post_ok".to_string(),
            hist(&[1_000, 2_000, 2_000, 5_000_000]),
        );
        hs.insert("caption".to_string(), hist(&[700_000; 10]));
        let log = write_log(
            "postload test",
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
            Duration::from_secs(12),
            &hs,
        );
        let text = String::from_utf8(log.clone()).unwrap();
        assert!(text.contains("#[StartTime: 1700000000.000"), "{text}");
        assert!(text.contains("Tag=post_ok,"), "{text}");
        let back = read_log(&log).unwrap();
        assert_eq!(back.len(), 2);
        for (tag, h) in &hs {
            let b = &back[tag];
            assert_eq!(b.len(), h.len(), "{tag}");
            assert_eq!(b.max(), h.max());
            assert_eq!(b.value_at_quantile(0.5), h.value_at_quantile(0.5));
            for v in h.iter_recorded() {
                assert_eq!(b.count_at(v.value_iterated_to()), v.count_at_value());
            }
        }
    }

    #[test]
    fn logs_merge_exactly() {
        let mut a = BTreeMap::new();
        a.insert("post_ok".to_string(), hist(&[1_000, 3_000]));
        let mut b = BTreeMap::new();
        b.insert("post_ok".to_string(), hist(&[2_000, 3_000, 9_000]));
        let t = SystemTime::UNIX_EPOCH;
        let mut both = write_log("a", t, Duration::from_secs(1), &a);
        both.extend(write_log("b", t, Duration::from_secs(1), &b));
        let merged = read_log(&both).unwrap();
        let m = &merged["post_ok"];
        assert_eq!(m.len(), 5);
        assert_eq!(m.count_at(3_000), 2);
        assert_eq!(m.max(), m.highest_equivalent(9_000));
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(decode("not base64!").is_err());
        assert!(decode("aGVsbG8=").is_err());
        assert!(read_log(b"Tag=x,0.0,1.0,1.0,@@@@\n").is_err());
    }
}
