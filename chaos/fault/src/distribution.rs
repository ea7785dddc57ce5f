//! Delay distributions shared by injected latency and the targets' service-time models.

use crate::one_key::{OneKey, deserialize_one, serialize_one};
use rand::Rng;
use rand_distr::Distribution as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::time::Duration;

/// A distribution of durations, written in YAML as `{ fixed: 2s }`,
/// `{ uniform: { min: 10ms, max: 50ms } }`, `{ normal: { mean: 100ms, stddev: 20ms } }`,
/// `{ lognormal: { median: 80ms, sigma: 0.5 } }` or `{ pareto: { scale: 10ms, shape: 1.5 } }`.
///
/// Samples are clamped at zero (a normal can draw a negative value).
#[derive(Clone, Debug, PartialEq)]
pub enum Distribution {
    /// Always the same duration.
    Fixed(Duration),
    /// Uniform between `min` and `max`.
    Uniform(UniformParams),
    /// Gaussian with the given mean and standard deviation.
    Normal(NormalParams),
    /// Log-normal with the given median: the usual shape of service times.
    Lognormal(LognormalParams),
    /// Pareto with a minimum and a tail index: heavy tails.
    Pareto(ParetoParams),
}

/// Parameters of [`Distribution::Uniform`].
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UniformParams {
    /// Smallest value.
    #[cfg_attr(feature = "schema", schemars(with = "String"))]
    #[serde(with = "humantime_serde")]
    pub min: Duration,
    /// Largest value.
    #[cfg_attr(feature = "schema", schemars(with = "String"))]
    #[serde(with = "humantime_serde")]
    pub max: Duration,
}

/// Parameters of [`Distribution::Normal`].
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NormalParams {
    /// Mean.
    #[cfg_attr(feature = "schema", schemars(with = "String"))]
    #[serde(with = "humantime_serde")]
    pub mean: Duration,
    /// Standard deviation.
    #[cfg_attr(feature = "schema", schemars(with = "String"))]
    #[serde(with = "humantime_serde")]
    pub stddev: Duration,
}

/// Parameters of [`Distribution::Lognormal`].
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LognormalParams {
    /// Median of the distribution (`e^mu`).
    #[cfg_attr(feature = "schema", schemars(with = "String"))]
    #[serde(with = "humantime_serde")]
    pub median: Duration,
    /// Standard deviation of the underlying normal (0 gives a fixed delay).
    pub sigma: f64,
}

/// Parameters of [`Distribution::Pareto`].
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParetoParams {
    /// Smallest value (the distribution's scale).
    #[cfg_attr(feature = "schema", schemars(with = "String"))]
    #[serde(with = "humantime_serde")]
    pub scale: Duration,
    /// Tail index; smaller is heavier (must be > 0).
    pub shape: f64,
}

impl Serialize for Distribution {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Fixed(d) => serialize_one(s, "fixed", &humantime_serde::Serde::from(*d)),
            Self::Uniform(p) => serialize_one(s, "uniform", p),
            Self::Normal(p) => serialize_one(s, "normal", p),
            Self::Lognormal(p) => serialize_one(s, "lognormal", p),
            Self::Pareto(p) => serialize_one(s, "pareto", p),
        }
    }
}

impl OneKey for Distribution {
    const WHAT: &'static str = "a distribution";
    const VARIANTS: &'static [&'static str] = Distribution::VARIANTS;
    fn from_entry<'de, A: serde::de::MapAccess<'de>>(key: &str, map: &mut A) -> Result<Self, A::Error> {
        map.next_value_seed(VariantSeed(key))
    }
}

impl<'de> Deserialize<'de> for Distribution {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        deserialize_one(de)
    }
}

/// Deserializes the value of a distribution's key.
pub(crate) struct VariantSeed<'k>(pub &'k str);

impl<'de> serde::de::DeserializeSeed<'de> for VariantSeed<'_> {
    type Value = Distribution;
    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<Distribution, D::Error> {
        Distribution::deserialize_variant(self.0, de)
    }
}

/// Why a [`Distribution`]'s parameters are invalid.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("invalid {distribution} distribution: {reason}")]
pub struct DistributionError {
    distribution: &'static str,
    reason: String,
}

impl Distribution {
    /// Checks the parameters, so that [`Distribution::sample`] never fails later; every duration
    /// is at most [`crate::MAX_DELAY`].
    pub fn validate(&self) -> Result<(), DistributionError> {
        let bad = |distribution, reason: &str| Err(DistributionError { distribution, reason: reason.into() });
        crate::check_delays(&self.durations())
            .map_err(|reason| DistributionError { distribution: self.name(), reason })?;
        match self {
            Self::Uniform(p) if p.min > p.max => bad("uniform", "min is greater than max"),
            Self::Lognormal(p) if !(p.sigma.is_finite() && p.sigma >= 0.0) => {
                bad("lognormal", "sigma must be a finite number >= 0")
            }
            Self::Lognormal(p) if p.median.is_zero() => bad("lognormal", "median must be > 0"),
            Self::Pareto(p) if !(p.shape.is_finite() && p.shape > 0.0) => {
                bad("pareto", "shape must be a finite number > 0")
            }
            Self::Pareto(p) if p.scale.is_zero() => bad("pareto", "scale must be > 0"),
            _ => Ok(()),
        }
    }

    /// The name written in YAML.
    fn name(&self) -> &'static str {
        match self {
            Self::Fixed(_) => "fixed",
            Self::Uniform(_) => "uniform",
            Self::Normal(_) => "normal",
            Self::Lognormal(_) => "lognormal",
            Self::Pareto(_) => "pareto",
        }
    }

    /// The distribution's duration parameters, by name.
    fn durations(&self) -> Vec<(&'static str, Duration)> {
        match *self {
            Self::Fixed(d) => vec![("fixed", d)],
            Self::Uniform(p) => vec![("min", p.min), ("max", p.max)],
            Self::Normal(p) => vec![("mean", p.mean), ("stddev", p.stddev)],
            Self::Lognormal(p) => vec![("median", p.median)],
            Self::Pareto(p) => vec![("scale", p.scale)],
        }
    }

    /// Draws one duration. Invalid parameters (see [`Distribution::validate`]) give zero.
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> Duration {
        let secs = match *self {
            Self::Fixed(d) => return d,
            Self::Uniform(p) => {
                rand_distr::Uniform::new_inclusive(p.min.as_secs_f64(), p.max.as_secs_f64()).map(|u| u.sample(rng)).ok()
            }
            Self::Normal(p) => {
                rand_distr::Normal::new(p.mean.as_secs_f64(), p.stddev.as_secs_f64()).map(|n| n.sample(rng)).ok()
            }
            Self::Lognormal(p) => {
                rand_distr::LogNormal::new(p.median.as_secs_f64().ln(), p.sigma).map(|n| n.sample(rng)).ok()
            }
            Self::Pareto(p) => rand_distr::Pareto::new(p.scale.as_secs_f64(), p.shape).map(|d| d.sample(rng)).ok(),
        };
        secs.filter(|s| s.is_finite() && *s > 0.0)
            // Capped at MAX_DELAY (a day): a Pareto tail must not overflow a Duration.
            .map(|s| Duration::from_secs_f64(s.min(crate::MAX_DELAY.as_secs_f64())))
            .unwrap_or_default()
    }

    /// Deserializes the distribution named `variant` from the value `de` (used where the
    /// distribution's key shares a map with other keys, as in `{ fixed: 2s, jitter: 5ms }`).
    pub(crate) fn deserialize_variant<'de, D: serde::Deserializer<'de>>(
        variant: &str,
        de: D,
    ) -> Result<Self, D::Error> {
        Ok(match variant {
            "fixed" => Self::Fixed(humantime_serde::deserialize(de)?),
            "uniform" => Self::Uniform(UniformParams::deserialize(de)?),
            "normal" => Self::Normal(NormalParams::deserialize(de)?),
            "lognormal" => Self::Lognormal(LognormalParams::deserialize(de)?),
            "pareto" => Self::Pareto(ParetoParams::deserialize(de)?),
            other => return Err(serde::de::Error::unknown_variant(other, Self::VARIANTS)),
        })
    }

    /// The names of the distributions, as written in YAML.
    pub const VARIANTS: &'static [&'static str] = &["fixed", "uniform", "normal", "lognormal", "pareto"];

    /// The distribution's mean where it is finite and fits a `Duration` (used in benches and
    /// tests).
    pub fn mean(&self) -> Option<Duration> {
        let secs = match *self {
            Self::Fixed(d) => d.as_secs_f64(),
            Self::Uniform(p) => (p.min.as_secs_f64() + p.max.as_secs_f64()) / 2.0,
            Self::Normal(p) => p.mean.as_secs_f64(),
            Self::Lognormal(p) => p.median.as_secs_f64() * (p.sigma * p.sigma / 2.0).exp(),
            Self::Pareto(p) if p.shape > 1.0 => p.shape * p.scale.as_secs_f64() / (p.shape - 1.0),
            Self::Pareto(_) => return None,
        };
        Duration::try_from_secs_f64(secs.max(0.0)).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{SeedableRng, rngs::SmallRng};

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn sample_mean(d: &Distribution, n: u32) -> f64 {
        let mut rng = SmallRng::seed_from_u64(7);
        (0..n).map(|_| d.sample(&mut rng).as_secs_f64()).sum::<f64>() / f64::from(n)
    }

    #[test]
    fn every_distribution_samples_near_its_mean() {
        let cases = [
            Distribution::Fixed(ms(20)),
            Distribution::Uniform(UniformParams { min: ms(10), max: ms(30) }),
            Distribution::Normal(NormalParams { mean: ms(50), stddev: ms(5) }),
            Distribution::Lognormal(LognormalParams { median: ms(40), sigma: 0.3 }),
            Distribution::Pareto(ParetoParams { scale: ms(10), shape: 3.0 }),
        ];
        for d in cases {
            let want = d.mean().unwrap().as_secs_f64();
            let got = sample_mean(&d, 20_000);
            assert!((got - want).abs() / want < 0.05, "{d:?}: mean {got} vs {want}");
        }
    }

    #[test]
    fn the_same_seed_draws_the_same_sequence() {
        let d = Distribution::Lognormal(LognormalParams { median: ms(40), sigma: 1.0 });
        let draw = |seed| {
            let mut rng = SmallRng::seed_from_u64(seed);
            (0..10).map(|_| d.sample(&mut rng)).collect::<Vec<_>>()
        };
        assert_eq!(draw(1), draw(1));
        assert_ne!(draw(1), draw(2));
    }

    #[test]
    fn invalid_parameters_are_rejected_by_validate() {
        assert!(Distribution::Uniform(UniformParams { min: ms(5), max: ms(1) }).validate().is_err());
        assert!(Distribution::Pareto(ParetoParams { scale: ms(5), shape: 0.0 }).validate().is_err());
        assert!(Distribution::Lognormal(LognormalParams { median: ms(5), sigma: f64::NAN }).validate().is_err());
        assert!(Distribution::Normal(NormalParams { mean: ms(5), stddev: ms(1) }).validate().is_ok());
    }

    #[test]
    fn yaml_shape_is_one_key_per_distribution() {
        let d: Distribution = serde_json::from_str(r#"{"uniform":{"min":"10ms","max":"1s"}}"#).unwrap();
        assert_eq!(d, Distribution::Uniform(UniformParams { min: ms(10), max: ms(1000) }));
        let d: Distribution = serde_json::from_str(r#"{"fixed":"2s"}"#).unwrap();
        assert_eq!(d, Distribution::Fixed(ms(2000)));
    }
}
