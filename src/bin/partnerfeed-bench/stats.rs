//! Results: the Markdown tables every scenario prints, and the statistics in them.

#[allow(unused_imports)]
use super::*;

#[derive(Default)]
pub(crate) struct Table {
    pub(crate) title: String,
    /// (backend, metric, unit, values)
    pub(crate) rows: Vec<(String, String, String, Vec<f64>)>,
    pub(crate) notes: Vec<String>,
}

impl Table {
    pub(crate) fn new(title: &str) -> Table {
        Table {
            title: title.to_string(),
            ..Default::default()
        }
    }

    pub(crate) fn add(&mut self, backend: &str, metric: &str, unit: &str, values: Vec<f64>) {
        self.rows
            .push((backend.into(), metric.into(), unit.into(), values));
    }

    /// Adds a note under the table, once however often it is given.
    pub(crate) fn note(&mut self, note: impl Into<String>) {
        let note = note.into();
        if !self.notes.contains(&note) {
            self.notes.push(note);
        }
    }

    pub(crate) fn print(&self) {
        println!("\n### {}\n", self.title);
        println!("| backend | metric | unit | min | median | max | runs |");
        println!("|---|---|---|---:|---:|---:|---:|");
        for (backend, metric, unit, values) in &self.rows {
            let (min, med, max) = stats(values);
            println!(
                "| {backend} | {metric} | {unit} | {} | {} | {} | {} |",
                fmt_num(min),
                fmt_num(med),
                fmt_num(max),
                values.len()
            );
        }
        for note in &self.notes {
            println!("\n{note}");
        }
        let _ = std::io::stdout().flush();
    }
}

pub(crate) fn stats(values: &[f64]) -> (f64, f64, f64) {
    if values.is_empty() {
        return (f64::NAN, f64::NAN, f64::NAN);
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let med = if v.len() % 2 == 1 {
        v[v.len() / 2]
    } else {
        (v[v.len() / 2 - 1] + v[v.len() / 2]) / 2.0
    };
    (v[0], med, v[v.len() - 1])
}

pub(crate) fn fmt_num(x: f64) -> String {
    if x.is_nan() {
        "n/a".into()
    } else if x.abs() >= 1000.0 {
        let s = format!("{:.0}", x);
        let (sign, digits) = s.strip_prefix('-').map_or(("", s.as_str()), |d| ("-", d));
        let mut out = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i) % 3 == 0 {
                out.push(',');
            }
            out.push(c);
        }
        format!("{sign}{out}")
    } else if x.abs() >= 10.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.3}")
    }
}

pub(crate) fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}
