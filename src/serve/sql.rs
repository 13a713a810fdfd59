//! The little reading of SQL text the server needs before DuckDB sees it:
//! splitting a simple query into statements, the statement's first
//! keyword (what it is: a read, a SET, something refused), and `$n`
//! placeholders. Quotes, identifiers and comments are skipped, so a `;`
//! or `$1` inside them is not taken for one.

/// Byte ranges of code outside quotes and comments, as (start, end).
fn code_spans(sql: &str) -> Vec<(usize, usize)> {
    let b = sql.as_bytes();
    let mut spans = Vec::new();
    let (mut i, mut start) = (0, 0);
    while i < b.len() {
        let skip_to = |from: usize, end: &[u8]| -> usize {
            let mut j = from;
            while j < b.len() {
                if b[j..].starts_with(end) {
                    // '' and "" inside quotes are the quote itself.
                    if end.len() == 1 && b.get(j + 1) == Some(&end[0]) {
                        j += 2;
                        continue;
                    }
                    return j + end.len();
                }
                j += 1;
            }
            b.len()
        };
        let next = match b[i] {
            b'\'' => Some(skip_to(i + 1, b"'")),
            b'"' => Some(skip_to(i + 1, b"\"")),
            b'-' if b.get(i + 1) == Some(&b'-') => Some(skip_to(i + 2, b"\n")),
            b'/' if b.get(i + 1) == Some(&b'*') => Some(skip_to(i + 2, b"*/")),
            _ => None,
        };
        match next {
            Some(j) => {
                spans.push((start, i));
                i = j;
                start = j;
            }
            None => i += 1,
        }
    }
    spans.push((start, b.len()));
    spans
}

/// The statements of a simple query, trimmed, empty ones dropped.
pub fn split_statements(sql: &str) -> Vec<String> {
    let mut cuts = Vec::new();
    for (s, e) in code_spans(sql) {
        for (k, c) in sql[s..e].char_indices() {
            if c == ';' {
                cuts.push(s + k);
            }
        }
    }
    let mut out = Vec::new();
    let mut from = 0;
    for cut in cuts.into_iter().chain([sql.len()]) {
        let stmt = sql[from..cut].trim();
        if !code_only(stmt).trim().is_empty() {
            out.push(stmt.to_string());
        }
        from = (cut + 1).min(sql.len());
    }
    out
}

/// `sql` without its quoted text and comments (each replaced by a space).
fn code_only(sql: &str) -> String {
    code_spans(sql)
        .into_iter()
        .map(|(s, e)| &sql[s..e])
        .collect::<Vec<_>>()
        .join(" ")
}

/// The first keyword of a statement, upper case (`SELECT`, `SET`, …),
/// after leading comments and opening parentheses.
pub fn first_keyword(sql: &str) -> String {
    let code = code_only(sql);
    code.trim_start_matches(|c: char| c.is_whitespace() || c == '(')
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect::<String>()
        .to_ascii_uppercase()
}

/// The words of a statement (outside quotes and comments), upper case.
pub fn words(sql: &str) -> Vec<String> {
    code_only(sql)
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
        .map(str::to_ascii_uppercase)
        .collect()
}

/// The highest `$n` placeholder outside quotes and comments (0: none).
pub fn placeholders(sql: &str) -> usize {
    let mut most = 0;
    for (s, e) in code_spans(sql) {
        let part = &sql.as_bytes()[s..e];
        let mut i = 0;
        while i < part.len() {
            if part[i] == b'$' {
                let digits: String = part[i + 1..]
                    .iter()
                    .take_while(|c| c.is_ascii_digit())
                    .map(|&c| c as char)
                    .collect();
                if let Ok(n) = digits.parse::<usize>() {
                    most = most.max(n);
                }
                i += 1 + digits.len();
            } else {
                i += 1;
            }
        }
    }
    most
}

/// `sql` with each `$n` (outside quotes and comments) replaced by `with(n)`.
pub fn replace_placeholders(sql: &str, with: &dyn Fn(usize) -> String) -> String {
    let mut out = String::with_capacity(sql.len());
    let b = sql.as_bytes();
    let mut copied = 0;
    for (s, e) in code_spans(sql) {
        let mut i = s;
        while i < e {
            if b[i] == b'$' {
                let len = b[i + 1..e]
                    .iter()
                    .take_while(|c| c.is_ascii_digit())
                    .count();
                if len > 0 {
                    let n: usize = sql[i + 1..i + 1 + len].parse().unwrap_or(0);
                    out.push_str(&sql[copied..i]);
                    out.push_str(&with(n));
                    copied = i + 1 + len;
                    i = copied;
                    continue;
                }
            }
            i += 1;
        }
    }
    out.push_str(&sql[copied..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_split_outside_quotes_and_comments() {
        assert_eq!(
            split_statements("SET a = 1; SELECT ';' AS x -- ; not here\n; ;"),
            vec!["SET a = 1", "SELECT ';' AS x -- ; not here"]
        );
        assert_eq!(split_statements("  "), Vec::<String>::new());
        assert_eq!(first_keyword("/* hi */ (select 1)"), "SELECT");
        assert_eq!(
            first_keyword("-- c\nwith q as (select 1) select * from q"),
            "WITH"
        );
    }

    #[test]
    fn placeholders_outside_quotes_are_found_and_replaced() {
        let sql = "SELECT $1, '$2', \"$3\", $2 -- $9\n";
        assert_eq!(placeholders(sql), 2);
        assert_eq!(
            replace_placeholders(sql, &|n| format!("NULL::INT /*{n}*/")),
            "SELECT NULL::INT /*1*/, '$2', \"$3\", NULL::INT /*2*/ -- $9\n"
        );
    }
}
