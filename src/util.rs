//! Small parsing and formatting helpers shared by the commands.

/// The SplitMix64 finaliser: a fast bijective 64-bit mixer with full avalanche
/// (the generator's random streams and the content checksums both use it).
#[inline(always)]
pub fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Parses a count like `100000000`, `100_000_000`, `100M`, `1.5B`, `250k`.
pub fn parse_count(s: &str) -> Result<u64, String> {
    let t = s.trim().replace('_', "");
    if t.is_empty() {
        return Err("expected a number like 10M or 100000000".into());
    }
    if t.starts_with('-') {
        return Err(format!("{s:?} is negative; expected a positive number"));
    }
    let (num, mult) = match t.chars().last().map(|c| c.to_ascii_uppercase()) {
        Some('K') => (&t[..t.len() - 1], 1e3),
        Some('M') => (&t[..t.len() - 1], 1e6),
        Some('B') | Some('G') => (&t[..t.len() - 1], 1e9),
        _ => (t.as_str(), 1.0),
    };
    if mult == 1.0 {
        return num
            .parse::<u64>()
            .map_err(|_| format!("{s:?} is not a whole number (examples: 5000000, 5M, 1.5B)"));
    }
    let v: f64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a number (examples: 5000000, 5M, 1.5B)"))?;
    let n = v * mult;
    if !n.is_finite() || n < 0.0 || n > u64::MAX as f64 / 2.0 {
        return Err(format!("{s:?} is out of range"));
    }
    if n.fract() != 0.0 {
        return Err(format!("{s:?} is not a whole number of rows"));
    }
    Ok(n as u64)
}

/// A comma-separated list of counts ("10M,20M,40M"): at least `min` of
/// them, each in 1..=`max`, returned ascending without repeats.
pub fn parse_counts(s: &str, min: usize, max: u64) -> Result<Vec<u64>, String> {
    let mut v: Vec<u64> = s
        .split(',')
        .map(|p| parse_count(p.trim()))
        .collect::<Result<_, _>>()?;
    if v.len() < min {
        let n = if min == 2 {
            "two".into()
        } else {
            min.to_string()
        };
        return Err(format!("give at least {n} sizes, e.g. 10M,20M,40M"));
    }
    if v.iter().any(|&n| n == 0 || n > max) {
        return Err(format!("sizes must be between 1 and {}", human_count(max)));
    }
    v.sort_unstable();
    v.dedup();
    Ok(v)
}

/// A whole number in `range`, named `what` in the error.
pub fn parse_in(
    s: &str,
    range: std::ops::RangeInclusive<usize>,
    what: &str,
) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(n) if range.contains(&n) => Ok(n),
        _ => Err(format!(
            "{what} must be between {} and {}",
            range.start(),
            range.end()
        )),
    }
}

/// A percentage ("10" or "10%") as a fraction, 0..=1000%.
pub fn parse_percent(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .trim()
        .trim_end_matches('%')
        .parse()
        .map_err(|_| format!("{s:?} is not a percentage"))?;
    if !(0.0..=1000.0).contains(&v) {
        return Err("must be between 0 and 1000 (%)".into());
    }
    Ok(v / 100.0)
}

/// A name usable as a file name: letters, digits, '-', '_' and '.'.
pub fn parse_name(s: &str) -> Result<String, String> {
    let ok = !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        && !s.starts_with('.');
    ok.then(|| s.to_string())
        .ok_or_else(|| "names are letters, digits, '-', '_' and '.' (at most 64)".into())
}

/// 1_234_567 -> "1.23M".
pub fn human_count(n: u64) -> String {
    let f = n as f64;
    if n >= 1_000_000_000 {
        format!("{:.2}B", f / 1e9)
    } else if n >= 1_000_000 {
        format!("{:.2}M", f / 1e6)
    } else if n >= 10_000 {
        format!("{:.1}K", f / 1e3)
    } else {
        n.to_string()
    }
}

/// Bytes in binary units: "1.50 GiB".
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut f = n as f64;
    let mut u = 0;
    while f >= 1024.0 && u < UNITS.len() - 1 {
        f /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{f:.2} {}", UNITS[u])
    }
}

/// Seconds with a sensible unit: "850 ms", "12.3 s".
pub fn human_secs(s: f64) -> String {
    if s < 1.0 {
        format!("{:.0} ms", s * 1e3)
    } else {
        format!("{s:.2} s")
    }
}

/// Free bytes on the filesystem holding `path` (or its nearest existing parent).
pub fn free_bytes(path: &std::path::Path) -> Option<u64> {
    let mut p = path.to_path_buf();
    while !p.exists() {
        if !p.pop() {
            p = std::path::PathBuf::from(".");
            break;
        }
    }
    if p.as_os_str().is_empty() {
        p = std::path::PathBuf::from(".");
    }
    available_space(&p)
}

#[cfg(unix)]
fn available_space(p: &std::path::Path) -> Option<u64> {
    let st = rustix::fs::statvfs(p).ok()?;
    Some(st.f_bavail.saturating_mul(st.f_frsize))
}

/// Unknown elsewhere: the space check is skipped and a full disk still
/// fails cleanly (the old data set stays).
#[cfg(not(unix))]
fn available_space(_p: &std::path::Path) -> Option<u64> {
    None
}

/// Worker threads when none are asked for: every core.
pub fn default_threads() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
}

/// olap's per-user cache (`$XDG_CACHE_HOME/olap`, else `~/.cache/olap`): where
/// the query log and the verification stamp of a read-only data set go.
pub fn cache_dir() -> Option<std::path::PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(std::path::PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".cache")))?;
    Some(base.join("olap"))
}

/// A file in [`cache_dir`] under `kind/` named for the data set at `dir`
/// (a hash of its absolute path), with `ext`.
pub fn cache_file(kind: &str, dir: &std::path::Path, ext: &str) -> Option<std::path::PathBuf> {
    let abs = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    let key = xxhash_rust::xxh3::xxh3_64(abs.as_os_str().as_encoded_bytes());
    Some(cache_dir()?.join(kind).join(format!("{key:016x}.{ext}")))
}

/// More threads than this many per core only add switching: a larger
/// `--threads` is capped, with a warning.
pub const MAX_THREADS_PER_CORE: usize = 4;

/// `threads`, capped at [`MAX_THREADS_PER_CORE`] per core.
pub fn cap_threads(threads: usize) -> usize {
    let max = default_threads() * MAX_THREADS_PER_CORE;
    if threads > max {
        tracing::warn!(
            "olap: --threads {threads} on {} cores: using {max} ({MAX_THREADS_PER_CORE} per core)",
            default_threads()
        );
        max
    } else {
        threads
    }
}

/// A progress bar on stderr in olap's one style: `what` names the work,
/// `rows` counts rows (human units and a rate) instead of steps. Hidden
/// when stderr is not a terminal and with `--quiet` (informational output
/// off).
pub fn progress_bar(len: u64, what: &str, rows: bool) -> indicatif::ProgressBar {
    let quiet = tracing::level_filters::LevelFilter::current() < tracing::Level::INFO;
    let bar = if quiet {
        indicatif::ProgressBar::hidden()
    } else {
        indicatif::ProgressBar::new(len)
    };
    let counts = if rows {
        "{human_pos}/{human_len} rows  {per_sec}  ETA {eta}"
    } else {
        "{pos}/{len} {msg}  {elapsed}"
    };
    bar.with_style(
        indicatif::ProgressStyle::with_template(&format!(
            "{{spinner:.green}} {what} [{{bar:30.cyan/blue}}] {counts}"
        ))
        .expect("valid template")
        .progress_chars("=> "),
    )
}

/// Levenshtein distance, for "did you mean" suggestions.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + (ca != *cb) as usize)
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The candidate closest to `word`, if reasonably close.
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (edit_distance(word, c), c))
        .filter(|(d, c)| *d <= (c.len() / 2).max(2) || c.contains(word) || word.contains(c))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// The machine's memory in bytes (what `generate` sizes its in-flight row
/// groups against, and benchmark results record).
pub fn memory_bytes() -> u64 {
    use sysinfo::{MemoryRefreshKind, RefreshKind, System};
    System::new_with_specifics(
        RefreshKind::nothing().with_memory(MemoryRefreshKind::nothing().with_ram()),
    )
    .total_memory()
}

/// Set while a command that stops itself runs (`olap serve`: running
/// queries end first; `olap fuzz`: the question running ends, then the
/// report): Ctrl-C and SIGTERM then ask it to stop instead of ending the
/// process; a second one ends it.
static STOPS_ITSELF: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
static STOP: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

pub fn set_stops_itself(on: bool) {
    STOPS_ITSELF.store(on, std::sync::atomic::Ordering::SeqCst);
}

pub fn stops_itself() -> bool {
    STOPS_ITSELF.load(std::sync::atomic::Ordering::SeqCst)
}

/// Asks a command that stops itself to stop (from the signal handler).
pub fn request_stop() {
    STOP.store(true, std::sync::atomic::Ordering::SeqCst);
}

pub fn stop_requested() -> bool {
    STOP.load(std::sync::atomic::Ordering::SeqCst)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_parse_with_suffixes() {
        assert_eq!(parse_count("100000000"), Ok(100_000_000));
        assert_eq!(parse_count("100_000_000"), Ok(100_000_000));
        assert_eq!(parse_count("100M"), Ok(100_000_000));
        assert_eq!(parse_count("1.5B"), Ok(1_500_000_000));
        assert_eq!(parse_count("250k"), Ok(250_000));
        assert!(parse_count("-5").is_err());
        assert!(parse_count("1.5").is_err());
        assert!(parse_count("1.0000001K").is_err());
        assert!(parse_count("ten").is_err());
        assert!(parse_count("").is_err());
        assert_eq!(
            parse_counts("20M,10M,10M", 2, 100),
            Err("sizes must be between 1 and 100".into())
        );
        assert_eq!(parse_counts("20,10,10", 2, 100), Ok(vec![10, 20]));
        assert!(parse_counts("10", 2, 100).is_err());
        assert_eq!(parse_in("5", 1..=9, "rounds"), Ok(5));
        assert_eq!(
            parse_in("0", 1..=9, "rounds"),
            Err("rounds must be between 1 and 9".into())
        );
        assert_eq!(parse_percent("10%"), Ok(0.1));
        assert!(parse_name("../x").is_err() && parse_name("nightly-2").is_ok());
    }

    #[test]
    fn suggestions_find_near_misses() {
        let c = ["revenue_by_region_year", "moving_average", "yoy_growth"];
        assert_eq!(closest("moving_avg", c), Some("moving_average"));
        assert_eq!(closest("yoy_grwth", c), Some("yoy_growth"));
        assert_eq!(closest("zzzzzzzz", c), None);
    }
}
