//! The command line before a command runs: the parsers of values that clap checks (sizes,
//! part sizes, ranges, descriptions, endpoints), flags typed before the command moved after
//! it, and clap's refusals printed as every other error is.

use crate::Cli;

pub(crate) fn parse_bytes(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let (digits, unit) = match s.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => s.split_at(i),
        None => (s, ""),
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("{s:?} is not a number of bytes such as 500K or 10M"))?;
    let unit = unit.to_ascii_uppercase();
    let factor: u64 = match unit.trim_end_matches("/S").trim_end_matches('B') {
        "" => 1,
        "K" | "KI" => 1 << 10,
        "M" | "MI" => 1 << 20,
        "G" | "GI" => 1 << 30,
        "T" | "TI" => 1 << 40,
        other => return Err(format!("unknown unit {other:?} in {s:?}: use K, M, G or T")),
    };
    n.checked_mul(factor)
        .filter(|r| *r > 0)
        .ok_or_else(|| format!("{s:?} is not a positive number of bytes"))
}

/// A part or chunk size: K, M or G suffixed like [`parse_bytes`], a bare number being MiB
/// (the unit these flags always had); it must be 1 MiB × 2^n up to 4 GiB, which is what lets
/// tree hashes of parts combine.
pub(crate) fn parse_part_size(s: &str) -> Result<u64, String> {
    let bytes = if s.trim().bytes().all(|b| b.is_ascii_digit()) {
        parse_bytes(&format!("{}M", s.trim()))
    } else {
        parse_bytes(s)
    };
    match bytes {
        Ok(bytes) if glacier_core::validate::is_part_size(bytes) => Ok(bytes),
        _ => Err(format!(
            "{s:?} is not a part size: use a power of two from 1M to 4G (1M, 2M, 4M, 8M, … 4G)"
        )),
    }
}

/// A retrieval's `--range`: byte offsets `FIRST-LAST`, LAST included, as plain numbers (whether
/// they suit the archive is checked against its size).
pub(crate) fn parse_range(s: &str) -> Result<String, String> {
    let example = "e.g. 0-1048575 for the first MiB, 1048576-2097151 for the second";
    let Some((first, last)) = s.split_once('-') else {
        return Err(format!(
            "{s:?} is not a range: use FIRST-LAST in bytes, {example}"
        ));
    };
    let number = |n: &str| {
        n.parse::<u64>()
            .ok()
            .filter(|_| n.bytes().all(|b| b.is_ascii_digit()))
    };
    match (number(first), number(last)) {
        (Some(a), Some(b)) if a <= b => Ok(s.to_owned()),
        (Some(_), Some(_)) => Err(format!(
            "{s:?} ends before it begins: the range is FIRST-LAST in bytes, {example}"
        )),
        _ => Err(format!(
            "{s:?}: the range takes byte offsets as plain numbers, without K, M or G ({example})"
        )),
    }
}

/// An archive description as Glacier takes it: printable ASCII, at most 1024 bytes.
pub(crate) fn parse_description(s: &str) -> Result<String, String> {
    glacier_core::validate::archive_description(s)
        .map(|()| s.to_owned())
        .map_err(|e| {
            format!(
                "{} (Glacier allows only those; `glacier upload` describes a file whose name is not ASCII in mt2, which keeps any name)",
                e.0
            )
        })
}

/// An endpoint URL: `http://` or `https://` and a host.
pub(crate) fn parse_endpoint(s: &str) -> Result<String, String> {
    match reqwest::Url::parse(s) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Ok(s.to_owned()),
        Ok(u) => Err(format!(
            "{s:?} is not a Glacier endpoint: it must be an http:// or https:// URL with a host, not {}:",
            u.scheme()
        )),
        Err(e) => Err(format!(
            "{s:?} is not a URL ({e}): e.g. http://127.0.0.1:9090"
        )),
    }
}

/// `glacier get -ID1 ID2 --vault V` as `glacier get ID2 --vault V -- -ID1`: archive ids
/// may begin with '-' (base64url), and `get` takes several, so the ids that look like flags go
/// after `--`, where clap takes them as the values they are.
pub(crate) fn separate_archive_ids(argv: Vec<std::ffi::OsString>) -> Vec<std::ffi::OsString> {
    let is_id = |a: &std::ffi::OsString| {
        a.to_str().is_some_and(|s| {
            s.len() == 138
                && s.starts_with('-')
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
    };
    let get = argv.iter().position(|a| a == "get");
    let Some(get) = get.filter(|_| !argv.iter().any(|a| a == "--")) else {
        return argv;
    };
    let (mut kept, mut ids): (Vec<_>, Vec<_>) = (Vec::new(), Vec::new());
    for (i, a) in argv.into_iter().enumerate() {
        if i > get && is_id(&a) {
            ids.push(a);
        } else {
            kept.push(a);
        }
    }
    if !ids.is_empty() {
        kept.push("--".into());
        kept.extend(ids);
    }
    kept
}

/// `glacier --endpoint URL vault list` as `glacier vault --endpoint URL list`: flags given
/// before the command (as people type them) go after its name, where the command takes them.
pub(crate) fn hoist_flags(
    argv: Vec<std::ffi::OsString>,
    command: &clap::Command,
) -> Vec<std::ffi::OsString> {
    // A flag's arguments, wherever a command defines it.
    let find = |flag: &str| {
        command.get_subcommands().find_map(|sub| {
            sub.get_arguments()
                .find(|a| match flag.strip_prefix("--") {
                    Some(long) => a.get_long() == Some(long.split('=').next().unwrap_or(long)),
                    None => flag.strip_prefix('-').and_then(|s| s.chars().next()) == a.get_short(),
                })
                .map(|a| a.get_action().takes_values() && !flag.contains('='))
        })
    };
    let mut leading = Vec::new();
    let mut i = 1;
    while let Some(flag) = argv.get(i).and_then(|a| a.to_str()) {
        if !flag.starts_with('-') || flag == "-" {
            break;
        }
        let Some(takes_value) = find(flag) else {
            return argv; // --help, --version, or not a flag of any command: clap says.
        };
        let end = if takes_value { i + 2 } else { i + 1 };
        leading.extend(
            argv.get(i..end.min(argv.len()))
                .unwrap_or_default()
                .iter()
                .cloned(),
        );
        i = end;
    }
    if leading.is_empty() || i >= argv.len() {
        return argv;
    }
    let mut out = vec![argv[0].clone(), argv[i].clone()];
    out.extend(leading);
    out.extend(argv[i + 1..].iter().cloned());
    out
}

/// A command line clap refused: one line on standard error (a JSON line under `-o json`) and
/// exit status 1, as other errors; help and the version are printed as asked.
pub(crate) fn usage_error(e: &clap::Error, argv: &[std::ffi::OsString]) -> std::process::ExitCode {
    use clap::error::ErrorKind;
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = e.print();
            return std::process::ExitCode::SUCCESS;
        }
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = e.print();
            return std::process::ExitCode::from(1);
        }
        _ => {}
    }
    let args: Vec<&str> = argv.iter().skip(1).filter_map(|a| a.to_str()).collect();
    let rendered = e.render().to_string();
    // The first paragraph: the error, and what it lists (missing arguments, …).
    let first: Vec<&str> = rendered
        .lines()
        .take_while(|l| !l.trim().is_empty())
        .map(str::trim)
        .collect();
    let first = first.join(" ");
    let first = first.trim_start_matches("error: ");
    let command = <Cli as clap::CommandFactory>::command();
    let mut path = vec!["glacier".to_owned()];
    let mut at = &command;
    for a in &args {
        match at.find_subcommand(a) {
            Some(sub) => {
                path.push((*a).to_owned());
                at = sub;
            }
            None if a.starts_with('-') => {}
            None => break,
        }
    }
    let message = format!("{first} (`{} --help` shows the usage)", path.join(" "));
    let json = args
        .windows(2)
        .any(|w| matches!(w, ["-o" | "--output", "json"]))
        || args
            .iter()
            .any(|a| matches!(*a, "--output=json" | "-ojson"));
    if json {
        eprintln!(
            "{}",
            serde_json::json!({"event": "error", "message": message})
        );
    } else {
        eprintln!("error: {message}");
    }
    std::process::ExitCode::from(1)
}

#[cfg(test)]
mod tests {
    /// Archive ids beginning with '-' go after `--`, the other arguments stay in order; a
    /// command line with `--` already, or another command, is left alone.
    #[test]
    fn archive_ids_that_look_like_flags() {
        let dash = format!("-{}", "a".repeat(137));
        let plain = "b".repeat(138);
        let argv = |args: &[&str]| -> Vec<std::ffi::OsString> {
            args.iter().map(std::ffi::OsString::from).collect()
        };
        assert_eq!(
            super::separate_archive_ids(argv(&["glacier", "get", &dash, &plain, "--vault", "v"])),
            argv(&["glacier", "get", &plain, "--vault", "v", "--", &dash])
        );
        for unchanged in [
            argv(&["glacier", "get", "--vault", "v", "--", &dash]),
            argv(&["glacier", "delete", &dash, "--vault", "v"]),
            argv(&["glacier", "get", &plain, "--vault", "v"]),
        ] {
            assert_eq!(super::separate_archive_ids(unchanged.clone()), unchanged);
        }
    }

    #[test]
    fn part_sizes() {
        assert_eq!(super::parse_part_size("8"), Ok(8 << 20));
        assert_eq!(super::parse_part_size("8M"), Ok(8 << 20));
        assert_eq!(super::parse_part_size("1g"), Ok(1 << 30));
        for bad in ["3", "0", "3M", "512K", "8G", "x"] {
            let e = super::parse_part_size(bad).unwrap_err();
            assert!(e.starts_with(&format!("{bad:?} is not a part size")), "{e}");
        }
    }

    #[test]
    fn ranges_descriptions_and_endpoints() {
        assert_eq!(super::parse_range("0-1048575").as_deref(), Ok("0-1048575"));
        let e = super::parse_range("1M-2M").unwrap_err();
        assert!(e.contains("plain numbers, without K, M or G"), "{e}");
        assert!(
            super::parse_range("5-1")
                .unwrap_err()
                .contains("ends before")
        );
        assert!(super::parse_range("5").unwrap_err().contains("not a range"));
        assert!(super::parse_description("plain").is_ok());
        let e = super::parse_description("café").unwrap_err();
        assert!(e.contains("not printable ASCII"), "{e}");
        assert!(super::parse_endpoint("https://glacier.example:443").is_ok());
        let e = super::parse_endpoint("ftp://host").unwrap_err();
        assert!(
            e.contains("http:// or https://") && e.contains("not ftp:"),
            "{e}"
        );
        assert!(super::parse_endpoint("127.0.0.1:9090").is_err());
    }

    #[test]
    fn rates() {
        assert_eq!(super::parse_bytes("100"), Ok(100));
        assert_eq!(super::parse_bytes("10M"), Ok(10 << 20));
        assert_eq!(super::parse_bytes("500k"), Ok(500 << 10));
        assert_eq!(super::parse_bytes("2GiB/s"), Ok(2 << 30));
        assert!(super::parse_bytes("fast").is_err());
        assert!(super::parse_bytes("0").is_err());
        assert!(super::parse_bytes("5X").is_err());
    }
}
