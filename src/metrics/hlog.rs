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

use crate::limits::{MAX_HLOG_COUNT, MAX_HLOG_COUNTERS, MAX_HLOG_TAGS};

/// A histogram as V2-deflate bytes in base64 (what an interval log line carries).
pub fn encode(h: &Histogram<u64>) -> String {
    use base64::Engine;
    let mut bytes = Vec::new();
    V2DeflateSerializer::new()
        .serialize(h, &mut bytes)
        .expect("serializing into memory cannot fail");
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The inverse of [`encode`], for bytes from anywhere: the histogram's header is checked
/// before anything is allocated from it (its range and precision set how many counters the
/// decoder allocates, and its payload length how many bytes), and its count is bounded, so
/// no input makes the decoder allocate more than [`MAX_HLOG_COUNTERS`] counters or overflow.
pub fn decode(text: &str) -> Result<Histogram<u64>, String> {
    use base64::Engine;
    use std::io::Read;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .map_err(|_| "the histogram is not base64".to_string())?;
    let (cookie, rest) = be_u32(&bytes)?;
    let v2: std::borrow::Cow<'_, [u8]> = match cookie {
        V2_COOKIE => bytes.as_slice().into(),
        V2_COMPRESSED_COOKIE => {
            let (len, rest) = be_u32(rest)?;
            let compressed = rest
                .get(..len as usize)
                .ok_or("the compressed histogram is cut short")?;
            let cap = V2_HEADER_BYTES + MAX_HLOG_COUNTERS * MAX_VARINT_BYTES;
            let mut inflated = Vec::new();
            flate2::read::ZlibDecoder::new(compressed)
                .take(cap + 1)
                .read_to_end(&mut inflated)
                .map_err(|_| "the compressed histogram does not inflate".to_string())?;
            if inflated.len() as u64 > cap {
                return Err(format!(
                    "the histogram inflates past {cap} bytes, more than {MAX_HLOG_COUNTERS} counters need"
                ));
            }
            inflated.into()
        }
        _ => return Err("not a V2 histogram (unknown cookie)".into()),
    };
    check_header(&v2)?;
    let h: Histogram<u64> = Deserializer::new()
        .deserialize(&mut &v2[..])
        .map_err(|e| format!("the histogram does not decode: {}", in_words(&e)))?;
    if h.len() > MAX_HLOG_COUNT {
        return Err(format!(
            "the histogram claims {} samples, more than {MAX_HLOG_COUNT} (2^53)",
            h.len()
        ));
    }
    Ok(h)
}

/// Adds `h` into `into`, refusing a sum past [`MAX_HLOG_COUNT`] samples or a range that would
/// need more than [`MAX_HLOG_COUNTERS`] counters (rather than overflowing or allocating).
pub fn add_checked(into: &mut Histogram<u64>, h: &Histogram<u64>) -> Result<(), String> {
    let total = into.len().saturating_add(h.len());
    if total > MAX_HLOG_COUNT {
        return Err(format!(
            "{} + {} samples is more than {MAX_HLOG_COUNT} (2^53)",
            into.len(),
            h.len()
        ));
    }
    let high = into.high().max(h.max());
    let need = counters(into.low(), high, into.sigfig() as u32);
    if need > MAX_HLOG_COUNTERS {
        return Err(format!(
            "values up to {} would need {need} counters at this precision, more than {MAX_HLOG_COUNTERS}",
            h.max()
        ));
    }
    into.auto(true);
    into.add(h)
        .map_err(|_| format!("values up to {} cannot be added", h.max()))
}

const V2_COOKIE: u32 = 0x1c84_9313;
const V2_COMPRESSED_COOKIE: u32 = 0x1c84_9314;
/// cookie, payload length, normalizing offset, significant digits (4 bytes each), lowest and
/// highest value, integer-to-double ratio (8 bytes each).
const V2_HEADER_BYTES: u64 = 40;
/// A counter is a zig-zag LEB128 number: at most 9 bytes.
const MAX_VARINT_BYTES: u64 = 9;

fn be_u32(b: &[u8]) -> Result<(u32, &[u8]), String> {
    match b.split_first_chunk::<4>() {
        Some((n, rest)) => Ok((u32::from_be_bytes(*n), rest)),
        None => Err("the histogram is cut short".into()),
    }
}

/// Checks a V2 header: precision, range, the counters they need, and that the payload it
/// claims is there.
fn check_header(v2: &[u8]) -> Result<(), String> {
    let field = |at: usize, n: usize| {
        v2.get(at..at + n)
            .ok_or_else(|| "the histogram's header is cut short".to_string())
    };
    let u32_at = |at| field(at, 4).map(|b| u32::from_be_bytes(b.try_into().expect("4 bytes")));
    let u64_at = |at| field(at, 8).map(|b| u64::from_be_bytes(b.try_into().expect("8 bytes")));
    let payload = u32_at(4)? as u64;
    let digits = u32_at(12)?;
    let (low, high) = (u64_at(16)?, u64_at(24)?);
    if digits > 5 {
        return Err(format!(
            "the histogram claims {digits} significant figures (at most 5)"
        ));
    }
    if low < 1 || high < low.saturating_mul(2) {
        return Err(format!(
            "the histogram claims the range {low} to {high} (need 1 <= lowest and 2 x lowest <= highest)"
        ));
    }
    let need = counters(low, high, digits);
    if need > MAX_HLOG_COUNTERS {
        return Err(format!(
            "the histogram claims the range {low} to {high} at {digits} significant figures: {need} counters, more than {MAX_HLOG_COUNTERS}"
        ));
    }
    let held = (v2.len() as u64).saturating_sub(V2_HEADER_BYTES);
    if payload > held {
        return Err(format!(
            "the histogram claims {payload} bytes of counts but holds {held}"
        ));
    }
    Ok(())
}

/// How many counters a histogram of this range and precision allocates (hdrhistogram 7's
/// layout: (buckets + 1) × half a sub-bucket), saturating.
pub fn counters(low: u64, high: u64, digits: u32) -> u64 {
    let largest_single_unit = 2 * 10u128.pow(digits.min(5));
    let sub_bucket_count_magnitude = 128 - (largest_single_unit - 1).leading_zeros();
    let half_magnitude = sub_bucket_count_magnitude.max(1) - 1;
    let sub_bucket_count = 1u128 << (half_magnitude + 1);
    let unit_magnitude = 63 - low.max(1).leading_zeros();
    let mut smallest_untrackable = sub_bucket_count << unit_magnitude;
    let mut buckets: u128 = 1;
    while smallest_untrackable <= high as u128 {
        if smallest_untrackable > (u64::MAX / 2) as u128 {
            buckets += 1;
            break;
        }
        smallest_untrackable <<= 1;
        buckets += 1;
    }
    u64::try_from((buckets + 1) * (sub_bucket_count / 2)).unwrap_or(u64::MAX)
}

/// A decoding error in words.
fn in_words(e: &hdrhistogram::serialization::DeserializeError) -> &'static str {
    use hdrhistogram::serialization::DeserializeError as E;
    match e {
        E::IoError(_) => "it is cut short",
        E::InvalidCookie => "unknown cookie",
        E::UnsupportedFeature => "it uses a feature postload does not read",
        E::UnsuitableCounterType => "a count is too large",
        E::InvalidParameters => "its range or precision is invalid",
        E::UsizeTypeTooSmall => "it claims more than this machine can address",
        E::EncodedArrayTooLong => "it holds more counts than its range has room for",
    }
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
/// histograms that share a tag. Errors name the line and say what is wrong in words.
pub fn read_log(bytes: &[u8]) -> Result<BTreeMap<String, Histogram<u64>>, String> {
    let mut out: BTreeMap<String, Histogram<u64>> = BTreeMap::new();
    for (i, line) in bytes.split_inclusive(|b| *b == b'\n').enumerate() {
        let at = |m: String| format!("line {}: {m}", i + 1);
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        for entry in IntervalLogIterator::new(line) {
            let entry = entry.map_err(|_| {
                at("not an interval log line (a `#` comment or header, the legend, or `Tag=...,start,length,max,histogram`)".into())
            })?;
            if let LogEntry::Interval(h) = entry {
                add(&mut out, &h).map_err(at)?;
            }
        }
    }
    Ok(out)
}

fn add(
    into: &mut BTreeMap<String, Histogram<u64>>,
    h: &IntervalLogHistogram<'_>,
) -> Result<(), String> {
    let tag = h.tag().map_or(String::new(), |t| t.as_str().to_string());
    let hist = decode(h.encoded_histogram()).map_err(|e| format!("tag `{tag}`: {e}"))?;
    let tags = into.len();
    match into.get_mut(&tag) {
        Some(existing) => add_checked(existing, &hist).map_err(|e| format!("tag `{tag}`: {e}"))?,
        None if tags >= MAX_HLOG_TAGS => {
            return Err(format!("tag `{tag}`: more than {MAX_HLOG_TAGS} tags"))
        }
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
    fn counters_match_what_hdrhistogram_allocates() {
        for (low, high, digits) in [
            (1, 3_600_000_000, 3),
            (1, 2, 0),
            (1, 1 << 40, 5),
            (1_000, 1 << 50, 2),
            (7, u64::MAX, 1),
        ] {
            let h = Histogram::<u64>::new_with_bounds(low, high, digits as u8).unwrap();
            assert_eq!(
                counters(low, high, digits),
                h.distinct_values() as u64,
                "{low} {high} {digits}"
            );
        }
        // postload's own: (22 buckets + 1) × 1,024.
        assert_eq!(counters(1, 3_600_000_000, 3), 23_552);
        // 4 figures over an hour of nanoseconds: 2^15 sub-buckets reach 3.6e12 after 27
        // doublings, so (28 + 1) × 16,384.
        assert_eq!(counters(1, 3_600_000_000_000, 4), 475_136);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(decode("not base64!").is_err());
        assert!(decode("aGVsbG8=").is_err());
        assert!(read_log(b"Tag=x,0.0,1.0,1.0,@@@@\n").is_err());
    }

    /// A V2 (uncompressed) histogram: header, then `payload` as its counts.
    fn v2(digits: u32, low: u64, high: u64, payload: &[u8]) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend(V2_COOKIE.to_be_bytes());
        b.extend((payload.len() as u32).to_be_bytes());
        b.extend(0u32.to_be_bytes()); // normalizing offset
        b.extend(digits.to_be_bytes());
        b.extend(low.to_be_bytes());
        b.extend(high.to_be_bytes());
        b.extend(1.0f64.to_be_bytes());
        b.extend(payload);
        b
    }

    /// `body` zlib-compressed behind the V2 compressed cookie and its length.
    fn compressed(body: &[u8]) -> Vec<u8> {
        use std::io::Write;
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
        z.write_all(body).unwrap();
        let z = z.finish().unwrap();
        let mut b = Vec::new();
        b.extend(V2_COMPRESSED_COOKIE.to_be_bytes());
        b.extend((z.len() as u32).to_be_bytes());
        b.extend(z);
        b
    }

    fn b64(bytes: &[u8]) -> String {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }

    /// Every recorded value's count, in order.
    fn counts(h: &Histogram<u64>) -> Vec<(u64, u64)> {
        h.iter_recorded()
            .map(|v| (v.value_iterated_to(), v.count_at_value()))
            .collect()
    }

    #[test]
    fn decode_reads_back_what_encode_wrote_and_plain_v2_too() {
        let h = hist(&[1, 1_000, 1_000, 2_047]);
        // Below 2,048 µs every value is its own bucket at 3 figures.
        let want = vec![(1, 1), (1_000, 2), (2_047, 1)];
        assert_eq!(counts(&decode(&encode(&h)).unwrap()), want);
        let mut plain = Vec::new();
        hdrhistogram::serialization::V2Serializer::new()
            .serialize(&h, &mut plain)
            .unwrap();
        assert_eq!(
            u32::from_be_bytes(plain[..4].try_into().unwrap()),
            V2_COOKIE
        );
        assert_eq!(counts(&decode(&b64(&plain)).unwrap()), want);
    }

    #[test]
    fn decode_says_what_is_wrong() {
        assert_eq!(
            decode(&b64(&[0x1c, 0x84])).unwrap_err(),
            "the histogram is cut short"
        );
        assert_eq!(
            decode(&b64(&[0, 0, 0, 1, 0])).unwrap_err(),
            "not a V2 histogram (unknown cookie)"
        );
        // Claims 100 compressed bytes, holds 2.
        let mut short = V2_COMPRESSED_COOKIE.to_be_bytes().to_vec();
        short.extend(100u32.to_be_bytes());
        short.extend([1, 2]);
        assert_eq!(
            decode(&b64(&short)).unwrap_err(),
            "the compressed histogram is cut short"
        );
        // 1 µs to 2 µs at 3 figures: one bucket of 2,048 sub-buckets, 1,024 + 1,024 = 2,048
        // counters; 2,049 counts of 1 (zig-zag LEB128: the byte 2) are one too many.
        assert_eq!(
            decode(&b64(&v2(3, 1, 2, &[2; 2_049]))).unwrap_err(),
            "the histogram does not decode: it holds more counts than its range has room for"
        );
    }

    #[test]
    fn an_inflated_histogram_may_fill_the_counters_and_no_more() {
        // The cap: the 40-byte header and 2^19 counters of at most 9 bytes: 40 + 524,288 × 9
        // = 4,718,632 bytes.
        let cap = 4_718_632usize;
        // cap bytes exactly pass the inflate check; their counts (all 1, far more than the
        // 23,552 counters) are then too many for the range.
        let mut body = v2(3, 1, 3_600_000_000, &[]);
        body.resize(cap, 2);
        body[4..8].copy_from_slice(&((cap - 40) as u32).to_be_bytes());
        assert_eq!(
            decode(&b64(&compressed(&body))).unwrap_err(),
            "the histogram does not decode: it holds more counts than its range has room for"
        );
        // One byte more is refused before it is read.
        body.push(2);
        body[4..8].copy_from_slice(&((cap - 39) as u32).to_be_bytes());
        assert_eq!(
            decode(&b64(&compressed(&body))).unwrap_err(),
            "the histogram inflates past 4718632 bytes, more than 524288 counters need"
        );
    }

    #[test]
    fn a_histogram_of_2_pow_53_samples_decodes_and_one_more_does_not() {
        let mut h = hist(&[]);
        h.record_n(1_000, 1 << 53).unwrap();
        assert_eq!(decode(&encode(&h)).unwrap().len(), 1 << 53);
        h.record(1_000).unwrap();
        assert_eq!(
            decode(&encode(&h)).unwrap_err(),
            "the histogram claims 9007199254740993 samples, more than 9007199254740992 (2^53)"
        );
    }

    #[test]
    fn check_header_takes_each_bound_and_refuses_past_it() {
        let ok = |digits, low, high| check_header(&v2(digits, low, high, &[]));
        assert_eq!(ok(5, 1, 2), Ok(()));
        assert_eq!(
            ok(6, 1, 2).unwrap_err(),
            "the histogram claims 6 significant figures (at most 5)"
        );
        // 1 <= lowest and 2 x lowest <= highest.
        let range = |low, high| {
            format!("the histogram claims the range {low} to {high} (need 1 <= lowest and 2 x lowest <= highest)")
        };
        assert_eq!(ok(3, 0, 100).unwrap_err(), range(0, 100));
        assert_eq!(ok(3, 1, 1).unwrap_err(), range(1, 1));
        assert_eq!(ok(3, 3, 5).unwrap_err(), range(3, 5));
        assert_eq!(ok(3, 3, 6), Ok(()));
        // 5 figures: 2^18 sub-buckets, half of them (131,072) per bucket past the first; up to
        // 1,048,575 = 2^20 - 1 takes 3 buckets, (3 + 1) × 131,072 = 524,288 = 2^19 counters,
        // the most allowed; 2^20 takes a 4th bucket: 655,360.
        assert_eq!(ok(5, 1, 1_048_575), Ok(()));
        assert_eq!(
            ok(5, 1, 1_048_576).unwrap_err(),
            "the histogram claims the range 1 to 1048576 at 5 significant figures: 655360 counters, more than 524288"
        );
        // The payload it claims must be there.
        let mut v = v2(3, 1, 2, &[0]);
        assert_eq!(check_header(&v), Ok(()));
        v[4..8].copy_from_slice(&2u32.to_be_bytes());
        assert_eq!(
            check_header(&v).unwrap_err(),
            "the histogram claims 2 bytes of counts but holds 1"
        );
        assert_eq!(
            check_header(&v[..31]).unwrap_err(),
            "the histogram's header is cut short"
        );
    }

    #[test]
    fn add_checked_takes_2_pow_53_samples_and_refuses_more() {
        let mut into = hist(&[]);
        into.record_n(1_000, (1 << 53) - 1).unwrap();
        add_checked(&mut into, &hist(&[2_000])).unwrap();
        assert_eq!(into.len(), 1 << 53);
        assert_eq!(
            add_checked(&mut into, &hist(&[2_000])).unwrap_err(),
            "9007199254740992 + 1 samples is more than 9007199254740992 (2^53)"
        );
    }

    #[test]
    fn add_checked_grows_the_range_up_to_its_counters_and_no_further() {
        let five = |v: u64| {
            let mut h = Histogram::<u64>::new_with_bounds(1, 2 * v, 5).unwrap();
            h.record(v).unwrap();
            h
        };
        let mut into = Histogram::<u64>::new_with_bounds(1, 2, 5).unwrap();
        // 1,048,575 is in the bucket [524,288, 1,048,576) of 4 µs steps: highest equivalent
        // 1,048,575; up to it 524,288 counters (see check_header's test), the most allowed.
        add_checked(&mut into, &five(1_048_575)).unwrap();
        assert_eq!((into.len(), into.max()), (1, 1_048_575));
        // 1,048,576 starts the next bucket, of 8 µs steps: highest equivalent 1,048,583,
        // which needs 655,360 counters.
        assert_eq!(
            add_checked(&mut into, &five(1_048_576)).unwrap_err(),
            "values up to 1048583 would need 655360 counters at this precision, more than 524288"
        );
        assert_eq!(into.len(), 1);
    }

    #[test]
    fn a_log_keeps_at_most_32_tags() {
        let one = BTreeMap::from([("x".to_string(), hist(&[1_000]))]);
        let tagged = |n: usize| -> BTreeMap<String, Histogram<u64>> {
            (0..n)
                .map(|i| (format!("t{i:02}"), hist(&[1_000])))
                .collect()
        };
        let t = SystemTime::UNIX_EPOCH;
        let log = write_log("32", t, Duration::from_secs(1), &tagged(32));
        assert_eq!(read_log(&log).unwrap().len(), 32);
        // A 33rd tag is refused; one of the 32 again is added to its own.
        let mut more = log.clone();
        more.extend(write_log("x", t, Duration::from_secs(1), &one));
        let e = read_log(&more).unwrap_err();
        assert!(e.ends_with("tag `x`: more than 32 tags"), "{e}");
        let mut again = log;
        again.extend(write_log("t00", t, Duration::from_secs(1), &tagged(1)));
        assert_eq!(read_log(&again).unwrap()["t00"].len(), 2);
    }
}
