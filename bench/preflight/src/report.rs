//! The tables: a confusion table of verdicts, then per condition how often the verdict and the
//! reason set were right, and the overall share of runs where both were.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use crate::conditions::Condition;

/// Verdict columns; `error` is a check that failed to give a report (or ran out of time).
const VERDICTS: [&str; 4] = ["good", "fair", "poor", "error"];

/// What one run of the check gave.
#[derive(Debug, Clone)]
pub(crate) struct Outcome {
    /// `good`, `fair`, `poor` or `error`.
    pub(crate) verdict: String,
    pub(crate) reasons: Vec<String>,
    pub(crate) duration: Duration,
}

impl Outcome {
    pub(crate) fn verdict_right(&self, c: &Condition) -> bool {
        self.verdict == c.verdict
    }

    /// The reason codes as a set equal the expected set.
    pub(crate) fn reasons_right(&self, c: &Condition) -> bool {
        let mut got: Vec<&str> = self.reasons.iter().map(String::as_str).collect();
        let mut want = c.reasons.to_vec();
        got.sort_unstable();
        got.dedup();
        want.sort_unstable();
        got == want
    }

    pub(crate) fn right(&self, c: &Condition) -> bool {
        self.verdict_right(c) && self.reasons_right(c)
    }
}

fn median(mut xs: Vec<Duration>) -> Duration {
    xs.sort_unstable();
    match xs.len() {
        0 => Duration::ZERO,
        n if n % 2 == 1 => xs[n / 2],
        n => (xs[n / 2 - 1] + xs[n / 2]) / 2,
    }
}

/// `k/n`.
fn share(k: usize, n: usize) -> String {
    format!("{k}/{n}")
}

/// The most frequent results of a condition, e.g. `poor [packet_loss] ×4; fair [] ×1`.
fn seen(outcomes: &[Outcome]) -> String {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for o in outcomes {
        let mut reasons = o.reasons.clone();
        reasons.sort_unstable();
        *counts
            .entry(format!("{} [{}]", o.verdict, reasons.join(",")))
            .or_default() += 1;
    }
    let mut counts: Vec<_> = counts.into_iter().collect();
    counts.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    counts
        .iter()
        .map(|(k, n)| format!("{k} ×{n}"))
        .collect::<Vec<_>>()
        .join("; ")
}

/// The printed tables and the overall share of runs right in both verdict and reasons.
pub(crate) fn tables(results: &[(Condition, Vec<Outcome>)]) -> (String, f64) {
    let mut out = String::new();
    // Confusion table: rows expected, columns actual.
    let mut confusion = [[0usize; 4]; 3];
    for (c, outcomes) in results {
        let Some(row) = VERDICTS.iter().position(|v| *v == c.verdict) else {
            continue;
        };
        for o in outcomes {
            let col = VERDICTS.iter().position(|v| *v == o.verdict).unwrap_or(3);
            confusion[row][col] += 1;
        }
    }
    let _ = writeln!(out, "verdicts (rows: expected, columns: actual)");
    let _ = writeln!(
        out,
        "{:>10} {:>6} {:>6} {:>6} {:>6}",
        "", VERDICTS[0], VERDICTS[1], VERDICTS[2], VERDICTS[3]
    );
    for (v, row) in VERDICTS.iter().take(3).zip(confusion) {
        let _ = writeln!(
            out,
            "{:>10} {:>6} {:>6} {:>6} {:>6}",
            v, row[0], row[1], row[2], row[3]
        );
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "{:<24} {:<28} {:>7} {:>7} {:>7} {:>8}  seen",
        "condition", "expected", "verdict", "reasons", "both", "median"
    );
    let (mut right, mut total) = (0, 0);
    for (c, outcomes) in results {
        let n = outcomes.len();
        let v = outcomes.iter().filter(|o| o.verdict_right(c)).count();
        let r = outcomes.iter().filter(|o| o.reasons_right(c)).count();
        let b = outcomes.iter().filter(|o| o.right(c)).count();
        right += b;
        total += n;
        let med = median(outcomes.iter().map(|o| o.duration).collect());
        let _ = writeln!(
            out,
            "{:<24} {:<28} {:>7} {:>7} {:>7} {:>7.1}s  {}",
            c.name,
            format!("{} [{}]", c.verdict, c.reasons.join(",")),
            share(v, n),
            share(r, n),
            share(b, n),
            med.as_secs_f64(),
            seen(outcomes)
        );
    }
    let pct = if total == 0 {
        0.0
    } else {
        100.0 * right as f64 / total as f64
    };
    let _ = writeln!(
        out,
        "\nverdict and reasons both right: {right}/{total} = {pct:.1} %"
    );
    (out, pct)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conditions;

    fn outcome(verdict: &str, reasons: &[&str]) -> Outcome {
        Outcome {
            verdict: verdict.into(),
            reasons: reasons.iter().map(|r| (*r).to_owned()).collect(),
            duration: Duration::from_secs(2),
        }
    }

    #[test]
    fn reasons_compare_as_sets_and_the_share_counts_both() {
        let all = conditions::all();
        let cap = all.iter().find(|c| c.name == "cap-500").unwrap();
        assert!(outcome("fair", &["low_download", "low_upload"]).right(cap));
        assert!(!outcome("fair", &["low_upload"]).right(cap));
        assert!(!outcome("poor", &["low_upload", "low_download"]).right(cap));
        let results = vec![(
            *cap,
            vec![
                outcome("fair", &["low_upload", "low_download"]),
                outcome("error", &[]),
            ],
        )];
        let (text, pct) = tables(&results);
        assert_eq!(pct, 50.0);
        assert!(
            text.contains("      fair      0      1      0      1"),
            "{text}"
        );
    }
}
