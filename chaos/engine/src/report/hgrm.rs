//! Histograms in the report and the `.hgrm` files made from them.
//!
//! The report keeps each latency histogram in HdrHistogram's compressed V2 encoding, base64 —
//! the form of HdrHistogram's interval logs — so `chaos report` can re-render everything from the
//! JSON alone. The `.hgrm` text is HdrHistogram's `outputPercentileDistribution` (values in
//! milliseconds, 5 ticks per half distance), which HdrHistogram's plotter reads. Written here
//! because the Rust crate has the histogram but not that printer.

use super::Report;
use super::write::Exporter;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer};
use std::fmt::Write;

/// HdrHistogram's compressed V2 encoding of `h`, base64.
pub fn encode(h: &Histogram<u64>) -> String {
    let mut bytes = Vec::new();
    match V2DeflateSerializer::new().serialize(h, &mut bytes) {
        Ok(_) => STANDARD.encode(bytes),
        Err(_) => String::new(),
    }
}

/// The histogram of [`encode`]'s text; `None` when it is not one.
pub fn decode(text: &str) -> Option<Histogram<u64>> {
    let bytes = STANDARD.decode(text).ok()?;
    Deserializer::new().deserialize(&mut bytes.as_slice()).ok()
}

/// HdrHistogram's percentile distribution of `h` (recorded in µs), printed in milliseconds.
///
/// The iteration is Java HdrHistogram's `PercentileIterator`, step for step and in its
/// floating-point order (percent levels accumulated tick by tick), so the text is byte for byte
/// what `outputPercentileDistribution` prints; the Rust crate's quantile iterator differs at ties.
pub fn percentile_distribution(h: &Histogram<u64>) -> String {
    const TICKS_PER_HALF_DISTANCE: f64 = 5.0;
    let scale = 1000.0;
    let digits = usize::from(h.sigfig());
    let mut out = format!("{:>12} {:>14} {:>10} {:>14}\n\n", "Value", "Percentile", "TotalCount", "1/(1-Percentile)");
    let total = h.len();
    let mut line = |value: u64, level: f64, count: u64| {
        let (value, q) = (value as f64 / scale, level / 100.0);
        let (value, q) = (java_fixed(value, digits), java_fixed(q, 12));
        let _ = match level < 100.0 {
            true => writeln!(out, "{value:>12} {q:>2} {count:>10} {:>14}", java_fixed(1.0 / (1.0 - level / 100.0), 2)),
            false => writeln!(out, "{value:>12} {q:>2} {count:>10}"),
        };
    };
    let mut level = 0.0_f64;
    let mut so_far = 0;
    let mut last = None;
    for v in h.iter_all() {
        let count = v.count_at_value();
        if count == 0 {
            continue;
        }
        so_far += count;
        last = Some(v.value_iterated_to());
        // Every level this value reaches gets a line; after the value that completes the count,
        // Java's iterator has no next step but the final one to 100 %.
        while 100.0 * so_far as f64 / total as f64 >= level {
            line(v.value_iterated_to(), level, so_far);
            let ticks = TICKS_PER_HALF_DISTANCE * ((100.0 / (100.0 - level)).ln() / 2f64.ln()).trunc().exp2() * 2.0;
            level += 100.0 / ticks;
            if so_far == total {
                break;
            }
        }
    }
    if let Some(max) = last.filter(|_| total > 0) {
        line(max, 100.0, total);
    }
    if total == 0 {
        return out;
    }
    // Mean and deviation over median-equivalent values, as Java computes them.
    let recorded: Vec<(f64, f64)> = h
        .iter_recorded()
        .map(|v| (h.median_equivalent(v.value_iterated_to()) as f64, v.count_at_value() as f64))
        .collect();
    let mean = recorded.iter().map(|(v, n)| v * n).sum::<f64>() / total as f64;
    let stdev = (recorded.iter().map(|(v, n)| (v - mean) * (v - mean) * n).sum::<f64>() / total as f64).sqrt();
    let sub_buckets = (2.0 * 10f64.powi(i32::from(h.sigfig()))).log2().ceil().exp2() as u64;
    let (mean, stdev, max) = (mean / scale, stdev / scale, h.max() as f64 / scale);
    let (mean, stdev, max) = (java_fixed(mean, digits), java_fixed(stdev, digits), java_fixed(max, digits));
    let _ = writeln!(out, "#[Mean    = {mean:>12}, StdDeviation   = {stdev:>12}]");
    let _ = writeln!(out, "#[Max     = {max:>12}, Total count    = {total:>12}]");
    let _ = writeln!(out, "#[Buckets = {:>12}, SubBuckets     = {sub_buckets:>12}]", h.buckets());
    out
}

/// `x` with `digits` decimals as Java's `%.Nf` writes it: the shortest decimal form of the double,
/// rounded half up (Rust rounds the exact binary value, half to even, which differs at ties).
fn java_fixed(x: f64, digits: usize) -> String {
    let shortest = format!("{}", x.abs());
    let (int, frac) = shortest.split_once('.').unwrap_or((&shortest, ""));
    let mut decimal: Vec<u8> = int.bytes().chain(frac.bytes().chain(std::iter::repeat(b'0')).take(digits)).collect();
    if frac.as_bytes().get(digits).is_some_and(|d| *d >= b'5') {
        let mut i = decimal.len();
        loop {
            if i == 0 {
                decimal.insert(0, b'1');
                break;
            }
            i -= 1;
            if decimal[i] == b'9' {
                decimal[i] = b'0';
            } else {
                decimal[i] += 1;
                break;
            }
        }
    }
    let split = decimal.len() - digits;
    let (int, frac) = decimal.split_at(split);
    let sign = if x < 0.0 { "-" } else { "" };
    let text = String::from_utf8_lossy(int).into_owned();
    match digits {
        0 => format!("{sign}{text}"),
        _ => format!("{sign}{text}.{}", String::from_utf8_lossy(frac)),
    }
}

/// One `.hgrm` file: the histogram stored in the report under `key`.
pub struct Hgrm {
    /// The report's histogram key (`ttff/run`, `service/cdn`, ...).
    pub key: String,
    /// The file's name.
    pub file: String,
}

impl Hgrm {
    /// Every histogram of the report, each as `KEY.hgrm` with `/` made `-`.
    pub fn all(report: &Report) -> Vec<Hgrm> {
        report
            .histograms
            .keys()
            .map(|key| Hgrm { key: key.clone(), file: format!("{}.hgrm", key.replace('/', "-")) })
            .collect()
    }
}

impl Exporter for Hgrm {
    fn file_name(&self) -> &str {
        &self.file
    }

    fn render(&self, report: &Report) -> Vec<u8> {
        let h = report.histograms.get(&self.key).and_then(|t| decode(t));
        h.map(|h| percentile_distribution(&h)).unwrap_or_default().into_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_rounded_as_java_rounds_them() {
        assert_eq!(java_fixed(0.9997802734375, 12), "0.999780273438");
        assert_eq!(java_fixed(0.15, 1), "0.2");
        assert_eq!(java_fixed(99.96, 1), "100.0");
        assert_eq!(java_fixed(2.0, 3), "2.000");
        assert_eq!(java_fixed(1024.0, 2), "1024.00");
    }

    #[test]
    fn a_histogram_survives_the_report_and_prints_as_hdrhistogram_does() {
        let mut h = targets::latency_histogram();
        for us in 1..=1000u64 {
            h.record(us * 100).unwrap();
        }
        let back = decode(&encode(&h)).unwrap();
        assert_eq!((back.len(), back.max(), back.min()), (h.len(), h.max(), h.min()));
        let text = percentile_distribution(&back);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "       Value     Percentile TotalCount 1/(1-Percentile)");
        assert!(lines[2].starts_with("       0.100 0.000000000000          1           1.00"), "{}", lines[2]);
        let last_value = lines.iter().rev().find(|l| !l.starts_with('#')).unwrap();
        assert!(last_value.contains(" 1.000000000000       1000"), "{last_value}");
        assert!(text.contains("#[Max     =      100.031, Total count    =         1000]"), "{text}");
        assert!(text.ends_with("#[Buckets =           22, SubBuckets     =         2048]\n"), "{text}");
    }
}
