//! Small inline-SVG line charts for `report.html`: series as polylines, fault windows as shaded
//! bands, linear or logarithmic x axis.
//!
//! Hand-written rather than with `plotters`: the report needs markup a browser test and a
//! stylesheet can address (`class="series"`, `class="fault-band"`, `data-series`), a log axis
//! labelled as HdrHistogram's plotter labels it, and no dependency in the engine for ~150 lines.

use std::fmt::Write;

/// One line.
pub struct Series {
    /// Legend text.
    pub name: String,
    /// (x, y) points, x ascending.
    pub points: Vec<(f64, f64)>,
}

/// A shaded x range with a label (a fault window).
pub struct Band {
    /// Start (x units).
    pub from: f64,
    /// End.
    pub to: f64,
    /// Label drawn at its top.
    pub label: String,
}

/// A chart.
pub struct Chart {
    /// Heading.
    pub title: String,
    /// x axis caption.
    pub x_label: String,
    /// y axis caption.
    pub y_label: String,
    /// Logarithmic x axis (values ≥ 1), ticks at powers of ten.
    pub log_x: bool,
    /// Lines.
    pub series: Vec<Series>,
    /// Shaded ranges.
    pub bands: Vec<Band>,
}

const W: f64 = 760.0;
const H: f64 = 240.0;
const LEFT: f64 = 60.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 24.0;
const BOTTOM: f64 = 40.0;
const COLOURS: [&str; 6] = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"];

fn esc(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// A round step for about five ticks over `span`.
fn step(span: f64) -> f64 {
    let raw = (span / 5.0).max(f64::MIN_POSITIVE);
    let magnitude = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0].iter().map(|m| m * magnitude).find(|s| *s >= raw).unwrap_or(10.0 * magnitude)
}

fn label(v: f64) -> String {
    if v.abs() >= 100.0 || v.fract() == 0.0 { format!("{v:.0}") } else { format!("{v:.2}") }
}

impl Chart {
    /// The chart as an `<svg>` element.
    pub fn render(&self) -> String {
        let points = self.series.iter().flat_map(|s| &s.points);
        let xs = points.clone().map(|p| p.0).chain(self.bands.iter().flat_map(|b| [b.from, b.to]));
        let (mut x0, mut x1) = xs.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| (a.min(x), b.max(x)));
        let y1 = points.map(|p| p.1).fold(0.0_f64, f64::max);
        if !x0.is_finite() {
            (x0, x1) = (0.0, 1.0);
        }
        if self.log_x {
            x0 = 1.0;
            x1 = 10f64.powf(x1.max(10.0).log10().ceil());
        }
        let x1 = if x1 > x0 { x1 } else { x0 + 1.0 };
        let y_step = step(if y1 > 0.0 { y1 } else { 1.0 });
        let y1 = (y1 / y_step).ceil().max(1.0) * y_step;
        let fx = |x: f64| {
            let t = if self.log_x { x.max(1.0).log10() / x1.log10() } else { (x - x0) / (x1 - x0) };
            LEFT + t * (W - LEFT - RIGHT)
        };
        let fy = |y: f64| TOP + (1.0 - y / y1) * (H - TOP - BOTTOM);

        let mut s = format!(
            "<figure class=\"chart\"><figcaption>{}</figcaption><svg viewBox=\"0 0 {W} {H}\" role=\"img\" aria-label=\"{}\">",
            esc(&self.title),
            esc(&self.title)
        );
        for b in &self.bands {
            let (a, z) = (fx(b.from), fx(b.to));
            let _ = write!(
                s,
                "<rect class=\"fault-band\" x=\"{a:.1}\" y=\"{TOP}\" width=\"{:.1}\" height=\"{:.1}\"/><text class=\"band-label\" x=\"{:.1}\" y=\"{:.1}\">{}</text>",
                (z - a).max(1.0),
                H - TOP - BOTTOM,
                a + 3.0,
                TOP + 12.0,
                esc(&b.label)
            );
        }
        // Axes and ticks.
        let _ = write!(
            s,
            "<g class=\"axes\"><line x1=\"{LEFT}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\"/><line x1=\"{LEFT}\" y1=\"{TOP}\" x2=\"{LEFT}\" y2=\"{:.1}\"/>",
            H - BOTTOM,
            W - RIGHT,
            H - BOTTOM,
            H - BOTTOM
        );
        let mut y = 0.0;
        while y <= y1 + y_step / 2.0 {
            let _ = write!(
                s,
                "<text class=\"tick\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
                LEFT - 6.0,
                fy(y) + 4.0,
                label(y)
            );
            y += y_step;
        }
        let x_ticks: Vec<f64> = if self.log_x {
            (0..=x1.log10() as i32).map(|k| 10f64.powi(k)).collect()
        } else {
            let st = step(x1 - x0);
            (0..=((x1 - x0) / st) as usize).map(|i| x0 + i as f64 * st).collect()
        };
        for x in x_ticks {
            let text = if self.log_x { format!("{}%", label(100.0 - 100.0 / x)) } else { label(x) };
            let _ = write!(
                s,
                "<text class=\"tick\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{text}</text>",
                fx(x),
                H - BOTTOM + 16.0
            );
        }
        let _ = write!(
            s,
            "<text class=\"axis-label\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text><text class=\"axis-label\" x=\"12\" y=\"{:.1}\" transform=\"rotate(-90 12 {:.1})\" text-anchor=\"middle\">{}</text></g>",
            (LEFT + W - RIGHT) / 2.0,
            H - 6.0,
            esc(&self.x_label),
            (TOP + H - BOTTOM) / 2.0,
            (TOP + H - BOTTOM) / 2.0,
            esc(&self.y_label)
        );
        for (i, series) in self.series.iter().enumerate() {
            let colour = COLOURS[i % COLOURS.len()];
            let pts: Vec<String> = series.points.iter().map(|&(x, y)| format!("{:.1},{:.1}", fx(x), fy(y))).collect();
            let _ = write!(
                s,
                "<polyline class=\"series\" data-series=\"{}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"1.6\" points=\"{}\"/>",
                esc(&series.name),
                pts.join(" ")
            );
            let _ = write!(
                s,
                "<text class=\"legend\" x=\"{:.1}\" y=\"14\" fill=\"{colour}\">■ {}</text>",
                LEFT + 150.0 * i as f64,
                esc(&series.name)
            );
        }
        s.push_str("</svg></figure>");
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chart_has_one_polyline_per_series_and_one_band_per_fault_window() {
        let chart = Chart {
            title: "SPS".into(),
            x_label: "s".into(),
            y_label: "starts/s".into(),
            log_x: false,
            series: vec![
                Series { name: "sps".into(), points: vec![(0.0, 10.0), (1.0, 12.0), (2.0, 11.0)] },
                Series { name: "a<b".into(), points: vec![(0.0, 1.0), (2.0, 2.0)] },
            ],
            bands: vec![Band { from: 0.5, to: 1.5, label: "kill cdn-0".into() }],
        };
        let svg = chart.render();
        assert_eq!(svg.matches("<polyline class=\"series\"").count(), 2);
        assert_eq!(svg.matches("class=\"fault-band\"").count(), 1);
        assert!(svg.contains("data-series=\"a&lt;b\"") && svg.contains(">kill cdn-0<"), "{svg}");
        assert_eq!(step(47.0), 10.0);
        assert_eq!(step(0.9), 0.2);
    }
}
