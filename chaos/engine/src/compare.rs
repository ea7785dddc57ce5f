//! Comparing two reports for regressions (`chaos compare`), for CI on every pull request.

use crate::kpi::{Kpi, Phase};
use crate::report::Report;

/// The largest tolerated worsening of a KPI, as a fraction (0.10 = 10 %).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Limit {
    /// The KPI.
    pub kpi: Kpi,
    /// Tolerated relative worsening.
    pub max: f64,
}

impl std::fmt::Display for Limit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} worse by at most {}%", self.kpi.name(), self.max * 100.0)
    }
}

/// One KPI of one phase, compared.
#[derive(Clone, Debug, PartialEq)]
pub struct Delta {
    /// The phase.
    pub phase: Phase,
    /// The KPI.
    pub kpi: Kpi,
    /// In the base report.
    pub base: f64,
    /// In the new report.
    pub new: f64,
    /// Relative worsening (negative: better).
    pub worse_by: f64,
    /// Beyond its limit.
    pub regression: bool,
    /// Its limit.
    pub limit: f64,
}

impl Delta {
    /// `worse by 4.8 %`, `better by 4.8 %` or `same`.
    pub fn change(&self) -> String {
        match self.worse_by {
            w if w > 0.0 => format!("worse by {:.1} %", w * 100.0),
            w if w < 0.0 => format!("better by {:.1} %", -w * 100.0),
            _ => "same".into(),
        }
    }
}

/// Limits used when none are given.
pub const DEFAULT_LIMITS: &str = "p99=10%,sps=5%,success=1%";

/// Parses `p99=10%,sps=2%` (aliases: p50, p90, p99, p999, max for TTFF; success for
/// play_success_ratio; or any KPI name).
pub fn parse_limits(text: &str) -> Result<Vec<Limit>, String> {
    text.split(',')
        .filter(|p| !p.trim().is_empty())
        .map(|part| {
            let (name, pct) = part.split_once('=').ok_or_else(|| format!("`{part}`: write KPI=PERCENT%"))?;
            let name = name.trim();
            let kpi = match name {
                "p50" => Kpi::TtffP50,
                "p90" => Kpi::TtffP90,
                "p99" => Kpi::TtffP99,
                "p999" => Kpi::TtffP999,
                "max" => Kpi::TtffMax,
                "success" => Kpi::PlaySuccessRatio,
                other => {
                    Kpi::ALL.into_iter().find(|k| k.name() == other).ok_or_else(|| format!("`{other}` is not a KPI"))?
                }
            };
            let pct = pct.trim().trim_end_matches('%');
            let max: f64 = pct.parse().map_err(|_| format!("`{pct}` is not a percentage"))?;
            if !(max.is_finite() && max >= 0.0) {
                return Err(format!("`{pct}` must be a percentage >= 0"));
            }
            Ok(Limit { kpi, max: max / 100.0 })
        })
        .collect()
}

/// Compares every limited KPI in every phase both reports have.
pub fn compare(base: &Report, new: &Report, limits: &[Limit]) -> Vec<Delta> {
    let mut out = Vec::new();
    for b in &base.phases {
        let Some(n) = new.phase(b.phase) else { continue };
        for limit in limits {
            let (Some(Some(bv)), Some(Some(nv))) = (b.kpis.get(&limit.kpi), n.kpis.get(&limit.kpi)) else { continue };
            let worse = if limit.kpi.higher_is_better() { bv - nv } else { nv - bv };
            let worse_by = if *bv == 0.0 { if worse > 0.0 { f64::INFINITY } else { 0.0 } } else { worse / bv.abs() };
            out.push(Delta {
                phase: b.phase,
                kpi: limit.kpi,
                base: *bv,
                new: *nv,
                worse_by,
                regression: worse_by > limit.max,
                limit: limit.max,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_parse_aliases_and_reject_nonsense() {
        let l = parse_limits("p99=10%,sps=2%,play_success_ratio=0.5").unwrap();
        assert_eq!(
            l,
            vec![
                Limit { kpi: Kpi::TtffP99, max: 0.10 },
                Limit { kpi: Kpi::Sps, max: 0.02 },
                Limit { kpi: Kpi::PlaySuccessRatio, max: 0.005 }
            ]
        );
        assert!(parse_limits("p98=1%").is_err());
        assert!(parse_limits("p99").is_err());
        assert!(parse_limits("p99=-3%").is_err());
    }
}
