//! `olap fuzz`'s report: the counts, the worst time ratio, and each failure
//! with its SQL, what olap ran instead, and both answers.

use super::{OutputFormat, grid, json};
use crate::fuzz::{FuzzReport, SLOW_FACTOR, SLOW_SLACK_MS};

pub fn render(r: &FuzzReport, format: OutputFormat) -> String {
    if format == OutputFormat::Json {
        return json(r) + "\n";
    }
    let mut g = grid(format);
    g.set_header(vec!["questions", "count"]);
    let rows: [(&str, u64); 11] = [
        ("tried", r.tried),
        ("of them stored failures (corpus)", r.corpus_cases),
        ("equal", r.equal),
        ("wrong", r.wrong),
        ("slow", r.slow),
        ("rewritten by olap", r.rewritten),
        (
            "rewritten only with --rewrite always (answers checked)",
            r.rewritten_always,
        ),
        ("rewrites abandoned at run time", r.abandoned),
        ("run on the keyed fact view (key ranges given)", r.keyed),
        ("refused by the plain engine (not compared)", r.invalid),
        ("past the plain engine's limit (skipped)", r.plain_too_slow),
    ];
    for (what, n) in rows {
        g.add_row(vec![what.to_string(), n.to_string()]);
    }
    let mut s = format!("{g}\n");
    let rule = if r.timed {
        format!(
            "slow means olap > {SLOW_FACTOR}× the faster of --rewrite off and plain DuckDB + {SLOW_SLACK_MS} ms"
        )
    } else {
        "answers judged, time not (--no-timing)".to_string()
    };
    let stopped = if r.interrupted {
        " · stopped by Ctrl-C"
    } else {
        ""
    };
    s.push_str(&format!(
        "seed {} · {:.0} s{stopped} · {rule}\n",
        r.seed, r.seconds
    ));
    if let Some((ratio, at)) = &r.worst_ratio {
        s.push_str(&format!(
            "worst time ratio olap / best other: {ratio:.2} ({at})\n"
        ));
    }
    for f in &r.failures {
        s.push_str(&format!(
            "\n{} ({}): {}\nSQL:\n  {}\n",
            f.kind.to_uppercase(),
            f.origin,
            f.detail,
            f.sql
        ));
        if let (Some(note), Some(sql)) = (&f.rewrite, &f.rewritten_sql) {
            s.push_str(&format!("olap rewrote it ({note}) to:\n  {sql}\n"));
        }
    }
    s
}
