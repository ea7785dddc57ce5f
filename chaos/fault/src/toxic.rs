//! Toxiproxy's toxics: names, attributes and JSON shape as Toxiproxy's HTTP API writes them,
//! so that its clients' requests deserialize unchanged. The TCP proxy (feature `tcp`) applies
//! them; an experiment's `fault: { toxic: ... }` names one in the same shape.
//!
//! ```json
//! {"name": "latency_downstream", "type": "latency", "stream": "downstream", "toxicity": 1.0,
//!  "attributes": {"latency": 100, "jitter": 10}}
//! ```

use serde::{Deserialize, Serialize};

/// Which way the data a toxic acts on flows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stream {
    /// From the client to the upstream.
    Upstream,
    /// From the upstream to the client (Toxiproxy's default).
    #[default]
    Downstream,
}

impl Stream {
    /// Its name in Toxiproxy's JSON.
    pub fn name(self) -> &'static str {
        match self {
            Stream::Upstream => "upstream",
            Stream::Downstream => "downstream",
        }
    }
}

/// A toxic: what it does, on which stream, to which share of the connections.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Toxic {
    /// Unique per proxy; Toxiproxy's default is `TYPE_STREAM`.
    #[serde(default)]
    pub name: String,
    /// The direction it acts on.
    #[serde(default)]
    pub stream: Stream,
    /// The probability that a connection is affected, drawn once per connection (default 1).
    #[serde(default = "always")]
    pub toxicity: f32,
    /// What it does.
    #[serde(flatten)]
    pub kind: ToxicKind,
}

fn always() -> f32 {
    1.0
}

/// A toxic as written: `attributes` may be left out (each defaults to 0, as in Toxiproxy), and
/// a key or attribute it does not know is refused rather than ignored — a misspelt `latncy`
/// would otherwise make a fault that does nothing.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ToxicInput {
    #[serde(default)]
    name: String,
    #[serde(default)]
    stream: Stream,
    #[serde(default = "always")]
    toxicity: f32,
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    attributes: Option<serde_json::Value>,
}

impl<'de> Deserialize<'de> for Toxic {
    fn deserialize<D: serde::Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        let ToxicInput { name, stream, toxicity, kind, attributes } = ToxicInput::deserialize(de)?;
        let attributes = attributes.unwrap_or_else(|| serde_json::json!({}));
        let kind = ToxicKind::deserialize(serde_json::json!({ "type": kind, "attributes": attributes }))
            .map_err(serde::de::Error::custom)?;
        Ok(Toxic { name, stream, toxicity, kind })
    }
}

/// What a toxic does, with Toxiproxy's attributes (times in milliseconds unless named).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "attributes", rename_all = "snake_case")]
pub enum ToxicKind {
    /// Every chunk of data waits `latency` ± `jitter` from the moment it was read.
    Latency(LatencyToxic),
    /// Data flows at no more than `rate` KB/s.
    Bandwidth(BandwidthToxic),
    /// The close (EOF) is passed on `delay` after it came.
    SlowClose(SlowCloseToxic),
    /// No data gets through; the connection is closed after `timeout`, or never with 0 (data is
    /// dropped until the toxic goes).
    Timeout(TimeoutToxic),
    /// At the first data, wait `timeout`, then reset the connection (TCP RST).
    ResetPeer(ResetPeerToxic),
    /// Each chunk is cut into pieces of `average_size` ± `size_variation` bytes, `delay` µs apart.
    Slicer(SlicerToxic),
    /// The connection is closed once `bytes` have gone through on the stream.
    LimitData(LimitDataToxic),
}

/// `latency` attributes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LatencyToxic {
    /// Milliseconds.
    pub latency: u64,
    /// ± milliseconds, drawn uniformly per chunk.
    pub jitter: u64,
}

/// `bandwidth` attributes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BandwidthToxic {
    /// KB per second (1 KB = 1000 bytes, as Toxiproxy counts); 0 lets data through unpaced.
    pub rate: u64,
}

/// `slow_close` attributes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SlowCloseToxic {
    /// Milliseconds.
    pub delay: u64,
}

/// `timeout` attributes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TimeoutToxic {
    /// Milliseconds; 0: never closed.
    pub timeout: u64,
}

/// `reset_peer` attributes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ResetPeerToxic {
    /// Milliseconds after the first data; 0: at once.
    pub timeout: u64,
}

/// `slicer` attributes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SlicerToxic {
    /// Bytes.
    pub average_size: u64,
    /// ± bytes; less than `average_size`.
    pub size_variation: u64,
    /// Microseconds between pieces.
    pub delay: u64,
}

/// `limit_data` attributes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitDataToxic {
    /// Bytes let through before the close.
    pub bytes: u64,
}

/// Why a toxic cannot be used.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ToxicError {
    /// `toxicity` outside [0, 1].
    #[error("toxicity must be between 0 and 1, got {0}")]
    Toxicity(f32),
    /// A time past [`crate::MAX_DELAY`].
    #[error("{0} must be at most a day")]
    TooLong(&'static str),
    /// A slicer that cannot cut.
    #[error("slicer: average_size must be at least 1 and size_variation less than it")]
    Slicer,
    /// Another toxic of the proxy has this name.
    #[error("toxic already exists: {0}")]
    Exists(String),
    /// No toxic of the proxy has this name.
    #[error("toxic not found: {0}")]
    NotFound(String),
}

impl Toxic {
    /// A toxic acting on every connection, named as Toxiproxy names it by default.
    pub fn new(stream: Stream, kind: ToxicKind) -> Self {
        let name = format!("{}_{}", kind.type_name(), stream.name());
        Self { name, stream, toxicity: 1.0, kind }
    }

    /// Fills the default name and checks the attributes.
    pub fn checked(mut self) -> Result<Self, ToxicError> {
        if self.name.is_empty() {
            self.name = format!("{}_{}", self.kind.type_name(), self.stream.name());
        }
        if !(0.0..=1.0).contains(&self.toxicity) {
            return Err(ToxicError::Toxicity(self.toxicity));
        }
        let day = crate::MAX_DELAY.as_millis() as u64;
        let times: &[(&'static str, u64)] = match &self.kind {
            ToxicKind::Latency(l) => &[("latency", l.latency), ("jitter", l.jitter)],
            ToxicKind::SlowClose(s) => &[("delay", s.delay)],
            ToxicKind::Timeout(t) => &[("timeout", t.timeout)],
            ToxicKind::ResetPeer(r) => &[("timeout", r.timeout)],
            ToxicKind::Slicer(s) => &[("delay", s.delay / 1000)],
            ToxicKind::Bandwidth(_) | ToxicKind::LimitData(_) => &[],
        };
        if let Some((name, _)) = times.iter().find(|(_, ms)| *ms > day) {
            return Err(ToxicError::TooLong(name));
        }
        if let ToxicKind::Slicer(s) = &self.kind
            && (s.average_size == 0 || s.size_variation >= s.average_size)
        {
            return Err(ToxicError::Slicer);
        }
        Ok(self)
    }
}

impl ToxicKind {
    /// Its `type` in Toxiproxy's JSON.
    pub fn type_name(&self) -> &'static str {
        match self {
            ToxicKind::Latency(_) => "latency",
            ToxicKind::Bandwidth(_) => "bandwidth",
            ToxicKind::SlowClose(_) => "slow_close",
            ToxicKind::Timeout(_) => "timeout",
            ToxicKind::ResetPeer(_) => "reset_peer",
            ToxicKind::Slicer(_) => "slicer",
            ToxicKind::LimitData(_) => "limit_data",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toxiproxy_json_reads_and_writes_unchanged() {
        let text = r#"{"name":"lag","stream":"upstream","toxicity":0.5,"type":"latency","attributes":{"latency":100,"jitter":10}}"#;
        let toxic: Toxic = serde_json::from_str(text).unwrap();
        assert_eq!(toxic.kind, ToxicKind::Latency(LatencyToxic { latency: 100, jitter: 10 }));
        assert_eq!((toxic.stream, toxic.toxicity), (Stream::Upstream, 0.5));
        assert_eq!(serde_json::to_string(&toxic).unwrap(), text);
    }

    #[test]
    fn defaults_are_toxiproxys_and_bad_attributes_are_named() {
        let t: Toxic = serde_json::from_str(r#"{"type":"limit_data","attributes":{"bytes":5}}"#).unwrap();
        let t = t.checked().unwrap();
        assert_eq!((t.name.as_str(), t.stream, t.toxicity), ("limit_data_downstream", Stream::Downstream, 1.0));
        let bad = |json: &str| serde_json::from_str::<Toxic>(json).unwrap().checked().unwrap_err();
        assert_eq!(bad(r#"{"type":"latency","toxicity":2,"attributes":{}}"#), ToxicError::Toxicity(2.0));
        assert_eq!(bad(r#"{"type":"slicer","attributes":{"average_size":4,"size_variation":4}}"#), ToxicError::Slicer);
        assert_eq!(bad(r#"{"type":"timeout","attributes":{"timeout":86400001}}"#), ToxicError::TooLong("timeout"));
        assert!(serde_json::from_str::<Toxic>(r#"{"type":"melt","attributes":{}}"#).is_err());
        let misspelt = serde_json::from_str::<Toxic>(r#"{"type":"latency","attributes":{"latncy":100}}"#);
        assert!(misspelt.unwrap_err().to_string().contains("latncy"), "a misspelt attribute is refused");
        let bare: Toxic = serde_json::from_str(r#"{"type":"reset_peer"}"#).unwrap();
        assert_eq!(bare.kind, ToxicKind::ResetPeer(ResetPeerToxic { timeout: 0 }), "attributes may be left out");
    }
}
