//! A Prometheus probe's sample: an instant query (`/api/v1/query`), or a range query
//! (`/api/v1/query_range`) whose values each series reduces to one; the values of every series
//! come back, for the check's bounds to judge.

use super::Reading;
use crate::experiment::probe::{PrometheusProbe, Reduce};
use serde::Deserialize;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The API's envelope (<https://prometheus.io/docs/prometheus/latest/querying/api/>).
#[derive(Deserialize)]
struct Answer {
    status: String,
    #[serde(default)]
    data: Option<Data>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Deserialize)]
#[serde(tag = "resultType", content = "result", rename_all = "lowercase")]
enum Data {
    Vector(Vec<Sampled>),
    Matrix(Vec<Ranged>),
    Scalar((f64, String)),
    String((f64, String)),
}

#[derive(Deserialize)]
struct Sampled {
    value: (f64, String),
}

#[derive(Deserialize)]
struct Ranged {
    values: Vec<(f64, String)>,
}

/// Runs the probe's query now and gives each series' value.
pub(super) async fn read(p: &PrometheusProbe, client: &reqwest::Client) -> Reading {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs_f64();
    let base = p.url.trim_end_matches('/');
    let req = match p.range {
        None => {
            client.get(format!("{base}/api/v1/query")).query(&[("query", p.query.as_str())]).query(&[("time", now)])
        }
        Some(range) => {
            let step = p.step.unwrap_or(Duration::from_secs(5)).as_secs_f64().max(0.001);
            client.get(format!("{base}/api/v1/query_range")).query(&[("query", p.query.as_str())]).query(&[
                ("start", now - range.as_secs_f64()),
                ("end", now),
                ("step", step),
            ])
        }
    };
    let answer = match req.timeout(p.timeout).send().await {
        Ok(a) => a,
        Err(e) => return Reading::Error(crate::http_error::plain(&e, p.timeout)),
    };
    let status = answer.status();
    let body = match answer.bytes().await {
        Ok(b) => b,
        Err(e) => return Reading::Error(crate::http_error::plain(&e, p.timeout)),
    };
    match serde_json::from_slice::<Answer>(&body) {
        Ok(a) if a.status == "success" => match a.data {
            Some(data) => values(data, p.reduce.unwrap_or(Reduce::Max), p.quantile.unwrap_or(0.5)),
            None => Reading::Error("a success without data".into()),
        },
        // The server's own message: a bad query says why.
        Ok(a) => Reading::Error(format!("query failed: {}", a.error.unwrap_or_else(|| format!("status {status}")))),
        Err(_) => Reading::Error(format!("not a Prometheus API answer (status {status})")),
    }
}

/// Each series' value (a range reduced by `reduce`).
fn values(data: Data, reduce: Reduce, quantile: f64) -> Reading {
    let number = |s: &str| s.parse::<f64>().map_err(|_| format!("`{s}` is not a number"));
    let parsed: Result<Vec<f64>, String> = match data {
        Data::Vector(v) => v.iter().map(|s| number(&s.value.1)).collect(),
        Data::Scalar((_, v)) => number(&v).map(|v| vec![v]),
        Data::String((_, v)) => Err(format!("the query gives a string (`{v}`), not a number")),
        Data::Matrix(m) => m
            .iter()
            .filter(|r| !r.values.is_empty())
            .map(|r| {
                let vs: Result<Vec<f64>, String> = r.values.iter().map(|(_, v)| number(v)).collect();
                vs.map(|vs| reduced(&vs, reduce, quantile))
            })
            .collect(),
    };
    match parsed {
        Ok(values) => Reading::Values(values),
        Err(e) => Reading::Error(e),
    }
}

/// `values` (not empty) reduced to one.
fn reduced(values: &[f64], reduce: Reduce, quantile: f64) -> f64 {
    match reduce {
        Reduce::Max => values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        Reduce::Min => values.iter().copied().fold(f64::INFINITY, f64::min),
        Reduce::Avg => values.iter().sum::<f64>() / values.len() as f64,
        Reduce::Last => values[values.len() - 1],
        Reduce::Quantile => {
            let mut sorted = values.to_vec();
            sorted.sort_by(f64::total_cmp);
            let rank = (quantile * sorted.len() as f64).ceil() as usize;
            sorted[rank.clamp(1, sorted.len()) - 1]
        }
    }
}

/// Whether a Prometheus API answers at `url`: before the run, so that a server that is not
/// there refuses it instead of failing every sample.
pub(crate) async fn answers(url: &str, client: &reqwest::Client) -> Result<(), String> {
    let base = url.trim_end_matches('/');
    let req = client.get(format!("{base}/api/v1/query")).query(&[("query", "vector(1)")]);
    let answer = req
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .map_err(|e| crate::http_error::plain(&e, Duration::from_secs(5)))?;
    let status = answer.status();
    match answer.json::<Answer>().await {
        Ok(a) if a.status == "success" => Ok(()),
        _ => Err(format!("no Prometheus API there (status {status})")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Reading {
        let a: Answer = serde_json::from_str(json).unwrap();
        values(a.data.unwrap(), Reduce::Max, 0.5)
    }

    #[test]
    fn vectors_scalars_and_ranges_give_one_value_per_series() {
        let vector = r#"{"status":"success","data":{"resultType":"vector","result":[
            {"metric":{"service":"a"},"value":[1700000000.1,"0.5"]},
            {"metric":{"service":"b"},"value":[1700000000.1,"+Inf"]}]}}"#;
        assert!(matches!(parse(vector), Reading::Values(v) if v[0] == 0.5 && v[1].is_infinite()));
        let scalar = r#"{"status":"success","data":{"resultType":"scalar","result":[1700000000,"3"]}}"#;
        assert!(matches!(parse(scalar), Reading::Values(v) if v == [3.0]));
        let matrix = r#"{"status":"success","data":{"resultType":"matrix","result":[
            {"metric":{},"values":[[1,"1"],[2,"7"],[3,"2"]]}]}}"#;
        assert!(matches!(parse(matrix), Reading::Values(v) if v == [7.0]));
        let empty = r#"{"status":"success","data":{"resultType":"vector","result":[]}}"#;
        assert!(matches!(parse(empty), Reading::Values(v) if v.is_empty()));
    }

    #[test]
    fn a_range_reduces_as_asked() {
        let vs = [4.0, 1.0, 9.0, 2.0];
        assert_eq!(reduced(&vs, Reduce::Min, 0.5), 1.0);
        assert_eq!(reduced(&vs, Reduce::Avg, 0.5), 4.0);
        assert_eq!(reduced(&vs, Reduce::Last, 0.5), 2.0);
        assert_eq!(reduced(&vs, Reduce::Quantile, 0.5), 2.0);
        assert_eq!(reduced(&vs, Reduce::Quantile, 0.99), 9.0);
    }
}
