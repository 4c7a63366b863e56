//! mt-aws-glacier's archive descriptions: `mt2 ` and the base64url (unpadded) of
//! `{"filename": PATH, "mtime": "YYYYMMDDTHHMMSSZ"}`, or the older `mt1` with the mtime in
//! seconds. They let a vault be restored from its inventory alone, by this CLI or by
//! mt-aws-glacier.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::json;

/// Why a path and mtime have no `mt2` description.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Mt2Error {
    #[error("the path is too long for an archive description ({0} of at most 1024 characters)")]
    TooLong(usize),
    #[error(
        "the modification time {0} is outside the years 0 to 9999 that an mt2 description holds"
    )]
    Mtime(i64),
}

/// Encodes a relative path and mtime (seconds since the epoch) as an `mt2` description.
pub fn encode(path: &str, mtime: i64) -> Result<String, Mt2Error> {
    let t = time::OffsetDateTime::from_unix_timestamp(mtime).map_err(|_| Mt2Error::Mtime(mtime))?;
    if !(0..=9999).contains(&t.year()) {
        return Err(Mt2Error::Mtime(mtime));
    }
    let iso = format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    let json = json!({"filename": path, "mtime": iso}).to_string();
    let out = format!("mt2 {}", URL_SAFE_NO_PAD.encode(json));
    if out.len() > 1024 {
        return Err(Mt2Error::TooLong(out.len()));
    }
    Ok(out)
}

/// Decodes an `mt2` (or the older `mt1`) description into (relative path, mtime).
pub fn decode(description: &str) -> Option<(String, i64)> {
    let (marker, b64) = description.split_once(' ')?;
    if marker != "mt1" && marker != "mt2" {
        // Most descriptions are not mt2: say so before decoding anything.
        return None;
    }
    let bytes = URL_SAFE_NO_PAD.decode(b64.trim_end_matches('=')).ok()?;
    let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let filename = v.get("filename")?.as_str()?.to_owned();
    let mtime = match marker {
        "mt1" => v.get("mtime")?.as_i64()?,
        "mt2" => compact_time(v.get("mtime")?.as_str()?)?,
        _ => return None,
    };
    Some((filename, mtime))
}

/// `YYYYMMDDTHHMMSSZ` (mt2's and FastGlacier's times) as seconds since the epoch.
pub(crate) fn compact_time(s: &str) -> Option<i64> {
    let format = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    Some(
        time::PrimitiveDateTime::parse(s, format)
            .ok()?
            .assume_utc()
            .unix_timestamp(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mt2_round_trip_and_mt_aws_glacier_compatibility() {
        let d = encode("photos/été 2024.jpg", 1_700_000_000).unwrap();
        // Found by fuzzing: a year of more or fewer than four digits encoded to a description
        // that did not decode (sync would upload what restore then passes by).
        assert_eq!(
            encode("a", -77_309_411_329),
            Err(Mt2Error::Mtime(-77_309_411_329))
        );
        assert_eq!(
            encode("a", 253_402_300_800),
            Err(Mt2Error::Mtime(253_402_300_800))
        );
        let first = encode("a", -62_167_219_200).unwrap();
        assert_eq!(
            decode(&first),
            Some(("a".to_owned(), -62_167_219_200)),
            "year 0"
        );
        assert!(matches!(
            encode(&"p".repeat(800), 0),
            Err(Mt2Error::TooLong(_))
        ));
        assert!(
            d.starts_with("mt2 ") && d.bytes().all(|b| (0x20..=0x7e).contains(&b)),
            "{d}"
        );
        assert_eq!(
            decode(&d),
            Some(("photos/été 2024.jpg".to_string(), 1_700_000_000))
        );
        // As mt-aws-glacier writes them: JSON {"mtime":"20131104T123456Z","filename":...}.
        let theirs = format!(
            "mt2 {}",
            URL_SAFE_NO_PAD.encode(r#"{"mtime":"20131104T123456Z","filename":"dir/file.txt"}"#)
        );
        assert_eq!(
            decode(&theirs),
            Some(("dir/file.txt".to_string(), 1_383_568_496))
        );
        let mt1 = format!(
            "mt1 {}",
            URL_SAFE_NO_PAD.encode(r#"{"mtime":1383568496,"filename":"a"}"#)
        );
        assert_eq!(decode(&mt1), Some(("a".to_string(), 1_383_568_496)));
        assert_eq!(decode("plain description"), None);
        assert_eq!(decode("mt2 !!!"), None);
    }
}
