//! Byte ranges of the API: `Content-Range: bytes a-b/*` on parts, `Range: bytes=a-b` on job
//! output, and the `RetrievalByteRange` of archive retrievals.

use crate::treehash::MIB;
use crate::validate::Invalid;

/// An inclusive byte range `[start, end]`, `start <= end < u64::MAX`, so that its length
/// always fits a `u64`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub start: u64,
    pub end: u64,
}

impl Span {
    /// The bytes the span covers (saturating, for a span built by hand against the rule).
    pub fn len(&self) -> u64 {
        self.end.saturating_sub(self.start).saturating_add(1)
    }

    pub fn is_empty(&self) -> bool {
        false
    }
}

impl std::fmt::Display for Span {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.start, self.end)
    }
}

fn parse_pair(s: &str) -> Option<(u64, &str)> {
    let (a, b) = s.split_once('-')?;
    if a.is_empty() || !a.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    Some((a.parse().ok()?, b))
}

fn number(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Parses `a-b` with `a <= b < u64::MAX` (the length `b - a + 1` must fit 64 bits).
pub fn span(s: &str) -> Option<Span> {
    let (start, rest) = parse_pair(s)?;
    let end = number(rest)?;
    (start <= end && end < u64::MAX).then_some(Span { start, end })
}

/// Parses the `Content-Range` of UploadMultipartPart: `bytes a-b/*`, or `bytes a-b/TOTAL` with
/// the archive's decimal size in place of `*` (RFC 2616 §14.16, which the Glacier reference
/// cites; tools send it), which must lie past the part (`b < TOTAL`).
pub fn content_range(raw: &str) -> Result<Span, Invalid> {
    let bad = || {
        Invalid(format!(
            "Invalid Content-Range: {raw:?}: expected 'bytes <first>-<last>/*' or 'bytes <first>-<last>/<total>' with first <= last < 18446744073709551615"
        ))
    };
    let (part, total) = raw
        .trim()
        .strip_prefix("bytes ")
        .and_then(|r| r.split_once('/'))
        .ok_or_else(bad)?;
    let span = span(part).ok_or_else(bad)?;
    match total {
        "*" => Ok(span),
        total => match number(total) {
            Some(total) if span.end < total => Ok(span),
            Some(total) => Err(Invalid(format!(
                "Invalid Content-Range: {raw:?}: the part ends at byte {} but the total size is {total} bytes",
                span.end
            ))),
            None => Err(bad()),
        },
    }
}

/// A `Range: bytes=a-b` or `bytes=a-` request header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpRange {
    pub start: u64,
    pub end: Option<u64>,
}

impl HttpRange {
    /// The part of `total` bytes this range selects: its end is clipped to the last byte, as HTTP
    /// defines. `None` when the range starts at or beyond the end.
    pub fn resolve(&self, total: u64) -> Option<Span> {
        if self.start >= total {
            return None;
        }
        let end = self.end.map_or(total - 1, |e| e.min(total - 1));
        Some(Span {
            start: self.start,
            end,
        })
    }
}

/// Parses an HTTP `Range` header of the form `bytes=a-b` or `bytes=a-`.
pub fn http_range(raw: &str) -> Result<HttpRange, Invalid> {
    let bad = || {
        Invalid(format!(
            "Invalid Range: {raw:?}: expected 'bytes=<first>-<last>' or 'bytes=<first>-'"
        ))
    };
    let r = raw.trim().strip_prefix("bytes=").ok_or_else(bad)?;
    let (start, rest) = parse_pair(r).ok_or_else(bad)?;
    if rest.is_empty() {
        return Ok(HttpRange { start, end: None });
    }
    let end = number(rest).ok_or_else(bad)?;
    if end < start {
        return Err(bad());
    }
    Ok(HttpRange {
        start,
        end: Some(end),
    })
}

/// Parses and checks a `RetrievalByteRange` for an archive of `total` bytes: the start must be a
/// multiple of 1 MiB and the end + 1 a multiple of 1 MiB or the end of the archive.
pub fn retrieval_range(raw: &str, total: u64) -> Result<Span, Invalid> {
    let s = span(raw.trim()).ok_or_else(|| {
        Invalid(format!(
            "Invalid RetrievalByteRange: {raw:?}: expected '<first>-<last>' with first <= last"
        ))
    })?;
    if s.end >= total {
        return Err(Invalid(format!(
            "Invalid RetrievalByteRange: {raw:?}: the archive is {total} bytes long"
        )));
    }
    if s.start % MIB != 0 || ((s.end + 1) % MIB != 0 && s.end + 1 != total) {
        return Err(Invalid(format!(
            "Invalid RetrievalByteRange: {raw:?}: the range must be megabyte aligned (start a multiple of 1048576, end + 1 a multiple of 1048576 or the archive size)"
        )));
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_ranges() {
        assert_eq!(
            content_range("bytes 0-1048575/*"),
            Ok(Span {
                start: 0,
                end: MIB - 1
            })
        );
        assert_eq!(content_range("bytes 5-5/*").map(|s| s.len()), Ok(1));
        // RFC 2616's complete length in place of `*`, as real uploaders send it.
        assert_eq!(
            content_range("bytes 1048576-2097151/3000000"),
            Ok(Span {
                start: MIB,
                end: 2 * MIB - 1
            })
        );
        assert_eq!(content_range("bytes 0-9/10").map(|s| s.len()), Ok(10));
        let e = content_range("bytes 0-10/10").unwrap_err();
        assert!(
            e.0.contains("ends at byte 10 but the total size is 10"),
            "{e}"
        );
        for bad in [
            "bytes 0-10",
            "0-10/*",
            "bytes 10-0/*",
            "bytes -1-3/*",
            "bytes a-b/*",
            "bytes 0-1/1",
            "bytes 0-1/",
            "bytes 0-1/-5",
            "bytes 0-1/1e9",
            "bytes 0-1/*/*",
            "bytes 0-18446744073709551615/*",
            "bytes 0-18446744073709551616/*",
        ] {
            let e = content_range(bad).unwrap_err();
            assert!(e.0.contains("Content-Range"), "{bad}: {e}");
        }
    }

    #[test]
    fn http_ranges() {
        assert_eq!(
            http_range("bytes=0-99"),
            Ok(HttpRange {
                start: 0,
                end: Some(99)
            })
        );
        assert_eq!(
            http_range("bytes=100-"),
            Ok(HttpRange {
                start: 100,
                end: None
            })
        );
        for bad in ["bytes=-5", "0-5", "bytes=5-1", "bytes=a-", "items=0-1"] {
            assert!(http_range(bad).is_err(), "{bad}");
        }
        let r = HttpRange {
            start: 10,
            end: Some(1000),
        };
        assert_eq!(
            r.resolve(100),
            Some(Span { start: 10, end: 99 }),
            "end clipped"
        );
        assert_eq!(r.resolve(10), None, "starts past the end");
    }

    #[test]
    fn retrieval_ranges() {
        let total = 3 * MIB + 10;
        assert!(retrieval_range("0-1048575", total).is_ok());
        assert!(retrieval_range(&format!("{}-{}", MIB, total - 1), total).is_ok());
        assert!(
            retrieval_range("1-1048575", total)
                .unwrap_err()
                .0
                .contains("aligned")
        );
        assert!(
            retrieval_range("0-1048574", total)
                .unwrap_err()
                .0
                .contains("aligned")
        );
        assert!(
            retrieval_range(&format!("0-{total}"), total)
                .unwrap_err()
                .0
                .contains("bytes long")
        );
        assert!(retrieval_range("x", total).is_err());
    }

    /// Property tests over arbitrary and near-miss strings: the parsers never panic, and
    /// whatever they accept is a span whose length fits 64 bits and that prints back to the
    /// same text.
    mod fuzz {
        use super::*;
        use proptest::prelude::*;

        /// Strings shaped like ranges, numbers near the limits of u64 included.
        fn rangy() -> impl Strategy<Value = String> {
            let number = prop_oneof![
                any::<u64>().prop_map(|n| n.to_string()),
                Just(u64::MAX.to_string()),
                Just("18446744073709551616".to_owned()),
                Just(String::new()),
                "[0-9]{1,25}",
                "-?[0-9a-f+ ]{0,4}",
            ];
            (number.clone(), number, "[ =/*bytes-]{0,3}")
                .prop_map(|(a, b, junk)| format!("{a}-{b}{junk}"))
        }

        fn check(s: Span) -> Result<(), TestCaseError> {
            prop_assert!(s.start <= s.end && s.end < u64::MAX, "{:?}", s);
            prop_assert_eq!(
                u128::from(s.len()),
                u128::from(s.end) - u128::from(s.start) + 1
            );
            Ok(())
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(2000))]

            #[test]
            fn content_range_accepts_only_sound_spans(body in prop_oneof![rangy(), any::<String>()], prefix in prop_oneof![Just("bytes "), Just(""), Just("bytes=")], suffix in prop_oneof![Just("/*"), Just(""), Just("/10")]) {
                let raw = format!("{prefix}{body}{suffix}");
                if let Ok(s) = content_range(&raw) {
                    check(s)?;
                    prop_assert_eq!(content_range(&format!("bytes {s}/*")), Ok(s));
                    prop_assert_eq!(content_range(&format!("bytes {s}/{}", s.end + 1)), Ok(s));
                }
            }

            #[test]
            fn content_range_of_numbers(a in prop_oneof![any::<u64>(), Just(u64::MAX), Just(0u64)], b in prop_oneof![any::<u64>(), Just(u64::MAX), Just(u64::MAX - 1)]) {
                let parsed = content_range(&format!("bytes {a}-{b}/*"));
                prop_assert_eq!(parsed.is_ok(), a <= b && b < u64::MAX, "{}-{}", a, b);
            }

            #[test]
            fn http_ranges_resolve_inside_the_output(body in prop_oneof![rangy(), any::<String>()], total in prop_oneof![any::<u64>(), Just(0u64), Just(1u64), Just(u64::MAX)]) {
                if let Some(s) = http_range(&format!("bytes={body}")).ok().and_then(|r| r.resolve(total)) {
                    check(s)?;
                    prop_assert!(s.end < total);
                }
            }

            #[test]
            fn retrieval_ranges_are_aligned_and_inside(body in prop_oneof![rangy(), any::<String>()], total in prop_oneof![any::<u64>(), Just(u64::MAX), (1u64..5).prop_map(|n| n * MIB)]) {
                if let Ok(s) = retrieval_range(&body, total) {
                    check(s)?;
                    prop_assert!(s.end < total);
                    prop_assert!(s.start % MIB == 0);
                    prop_assert!((s.end + 1) % MIB == 0 || s.end + 1 == total);
                }
            }
        }
    }
}
