//! The file names other tools write into archive descriptions, decoded, so that a vault written
//! by any of them can be restored (or migrated to S3 objects named after its files) from its
//! inventory alone: mt-aws-glacier's (and this CLI's) `mt2`/`mt1`
//! ([`crate::mt2`]), FastGlacier's XML (`<m><v>4</v><p>BASE64</p><lm>…</lm></m>`, and
//! version 1's `<ArchiveMetadata><Path>BASE64</Path></ArchiveMetadata>`), and JSON with a
//! `Path` key (CloudBerry and others, `UTCDateModified` as the time). Any other description
//! names no file.

use crate::mt2::compact_time;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// A file name found in an archive description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveName {
    /// The path as the tool wrote it, `/`-separated (backslashes turned into slashes),
    /// without leading slashes.
    pub path: String,
    /// The file's modification time, seconds since the epoch, when the description has one.
    pub mtime: Option<i64>,
    /// Which tool's format it was: `mt2`, `fastglacier` or `json`.
    pub format: &'static str,
}

/// The file name in `description`, if it is in one of the formats above and names a file
/// (a FastGlacier folder marker, a path ending in `/`, names none).
pub fn decode(description: &str) -> Option<ArchiveName> {
    let d = description.trim().trim_matches('"').trim();
    let named = if let Some((path, mtime)) = crate::mt2::decode(d) {
        Some(ArchiveName {
            path,
            mtime: Some(mtime),
            format: "mt2",
        })
    } else if d.starts_with('<') {
        fastglacier(d)
    } else if d.starts_with('{') {
        json_path(d)
    } else {
        None
    }?;
    let path = named.path.replace('\\', "/");
    let path = path.trim().trim_start_matches('/');
    if path.is_empty() || path.ends_with('/') {
        return None;
    }
    Some(ArchiveName {
        path: path.to_owned(),
        ..named
    })
}

/// FastGlacier: `<m><v>2..4</v><p>BASE64 UTF-8 path</p><lm>YYYYMMDDTHHMMSSZ</lm></m>`, or
/// version 1's `<ArchiveMetadata><Path>BASE64</Path></ArchiveMetadata>`; spaces allowed
/// around the values.
fn fastglacier(d: &str) -> Option<ArchiveName> {
    let b64 = element(d, "p").or_else(|| element(d, "Path"))?;
    let bytes = STANDARD.decode(b64.trim()).ok()?;
    Some(ArchiveName {
        path: String::from_utf8(bytes).ok()?,
        mtime: element(d, "lm").and_then(|t| compact_time(t.trim())),
        format: "fastglacier",
    })
}

/// JSON with a `Path` (CloudBerry and others), with `UTCDateModified` when there is one.
fn json_path(d: &str) -> Option<ArchiveName> {
    let v: serde_json::Value = serde_json::from_str(d).ok()?;
    Some(ArchiveName {
        path: v.get("Path")?.as_str()?.to_owned(),
        mtime: v
            .get("UTCDateModified")
            .and_then(|t| t.as_str())
            .and_then(compact_time),
        format: "json",
    })
}

/// The text of the first `<tag>…</tag>` in `d`.
fn element<'a>(d: &'a str, tag: &str) -> Option<&'a str> {
    let start = d.find(&format!("<{tag}>"))? + tag.len() + 2;
    let len = d[start..].find(&format!("</{tag}>"))?;
    Some(&d[start..start + len])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(d: &str) -> Option<(String, Option<i64>, &'static str)> {
        decode(d).map(|n| (n.path, n.mtime, n.format))
    }

    #[test]
    fn every_tools_names() {
        // FastGlacier 2–4, as it and the tools compatible with it write them (with spaces).
        assert_eq!(
            named("<m><v>4</v><p>L3NhbXBsZS8xMjM0LnBkZg==</p><lm>20190501T100059Z</lm></m>"),
            Some(("sample/1234.pdf".into(), Some(1_556_704_859), "fastglacier"))
        );
        assert_eq!(
            named(
                "\"   <m><v>4</v><p>RlgxNTAvQ0JCX2ZpZ3VyZS90ZXN0X3B5dGjDtm5fZmlsZS5jYmI=</p><lm>20190121T085242Z   </lm>  </m>\""
            )
            .map(|n| n.0),
            Some("FX150/CBB_figure/test_pythön_file.cbb".into())
        );
        // FastGlacier 1.
        assert_eq!(
            named(
                "<ArchiveMetadata>   <Path>  UkVOREVSRkFSTTUvQjovb25lL3R3by90aHJlZS9jaDAxX3NlcTAwNF9zaDAwMTAuMjA0NC5kcHg=  </Path></ArchiveMetadata>"
            ),
            Some((
                "RENDERFARM5/B:/one/two/three/ch01_seq004_sh0010.2044.dpx".into(),
                None,
                "fastglacier"
            ))
        );
        // JSON with a Path (CloudBerry), backslashes as slashes.
        assert_eq!(
            named(r#"{"Path":"C:\\docs\\a.txt","UTCDateModified":"20100310T110623Z"}"#),
            Some(("C:/docs/a.txt".into(), Some(1_268_219_183), "json"))
        );
        // mt2 through mt2::decode.
        let mt2 = crate::mt2::encode("dir/f", 1_700_000_000).unwrap();
        assert_eq!(
            named(&mt2),
            Some(("dir/f".into(), Some(1_700_000_000), "mt2"))
        );
        // No name: free text, folders, empty or broken values.
        for d in [
            "",
            "backup 2014",
            "<m><v>4</v><p>Zm9sZGVyLw==</p><lm>20190501T100059Z</lm></m>",
            "<m><v>4</v><p>!!</p></m>",
            r#"{"Path":"   "}"#,
            r#"{"name":"a"}"#,
            "{not json",
        ] {
            assert_eq!(decode(d), None, "{d:?}");
        }
    }
}
