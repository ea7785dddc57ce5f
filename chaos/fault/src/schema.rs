//! JSON Schemas (feature `schema`) for the types whose serde shape is hand-written: one-key maps
//! and plain strings, as `one_key` reads them.

use crate::{Distribution, Fault, Latency};
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use std::borrow::Cow;

const DURATION: &str = "a duration such as `150ms`, `2s`, `1m`";

fn one_key(key: &str, value: Schema) -> Schema {
    json_schema!({ "type": "object", "properties": { key: value }, "required": [key], "additionalProperties": false })
}

impl JsonSchema for Distribution {
    fn schema_name() -> Cow<'static, str> {
        "Distribution".into()
    }

    fn json_schema(g: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A delay distribution: one key of fixed, uniform, normal, lognormal, pareto.",
            "oneOf": [
                one_key("fixed", json_schema!({ "type": "string", "description": DURATION })),
                one_key("uniform", g.subschema_for::<crate::UniformParams>()),
                one_key("normal", g.subschema_for::<crate::NormalParams>()),
                one_key("lognormal", g.subschema_for::<crate::LognormalParams>()),
                one_key("pareto", g.subschema_for::<crate::ParetoParams>()),
            ]
        })
    }
}

impl JsonSchema for Latency {
    fn schema_name() -> Cow<'static, str> {
        "Latency".into()
    }

    fn json_schema(g: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "One distribution key, plus optional `jitter` and `when` (before | after).",
            "type": "object",
            "properties": {
                "fixed": { "type": "string", "description": DURATION },
                "uniform": g.subschema_for::<crate::UniformParams>(),
                "normal": g.subschema_for::<crate::NormalParams>(),
                "lognormal": g.subschema_for::<crate::LognormalParams>(),
                "pareto": g.subschema_for::<crate::ParetoParams>(),
                "jitter": { "type": "string", "description": DURATION },
                "when": g.subschema_for::<crate::When>(),
            },
            "additionalProperties": false,
            "minProperties": 1
        })
    }
}

impl JsonSchema for Fault {
    fn schema_name() -> Cow<'static, str> {
        "Fault".into()
    }

    fn json_schema(g: &mut SchemaGenerator) -> Schema {
        let duration = || json_schema!({ "type": "string", "description": DURATION });
        json_schema!({
            "description": "What happens to a request: one key (or `reset`, `hang`, `kill`, `pause` alone); `toxic` (Toxiproxy's toxic JSON) only on a TCP proxy. Every duration of a fault (a delay or its distribution's parameters, `jitter`, a hang's or stall's `max`, `restart_after`) is at most a day.",
            "oneOf": [
                { "type": "string", "enum": ["reset", "hang", "kill", "pause"] },
                one_key("latency", g.subschema_for::<Latency>()),
                one_key("slow_first_byte", g.subschema_for::<Latency>()),
                one_key("error", g.subschema_for::<crate::ErrorFault>()),
                one_key("grpc", g.subschema_for::<crate::GrpcFault>()),
                one_key("reset", json_schema!({ "type": ["object", "null"] })),
                one_key("hang", json_schema!({ "type": "object", "properties": { "max": duration() }, "additionalProperties": false })),
                one_key("throttle", json_schema!({ "type": "object", "properties": { "bytes_per_s": { "type": "integer", "minimum": 1 } }, "required": ["bytes_per_s"], "additionalProperties": false })),
                one_key("truncate", json_schema!({ "type": "object", "properties": { "after_bytes": { "type": "integer", "minimum": 0 } }, "required": ["after_bytes"], "additionalProperties": false })),
                one_key("stall", json_schema!({ "type": "object", "properties": { "after_bytes": { "type": "integer", "minimum": 0 }, "max": duration() }, "required": ["after_bytes"], "additionalProperties": false })),
                one_key("kill", json_schema!({ "type": "object", "properties": { "restart_after": duration() }, "additionalProperties": false })),
                one_key("pause", json_schema!({ "type": "object", "additionalProperties": false })),
                one_key("toxic", toxic()),
            ]
        })
    }
}

/// Toxiproxy's toxic, as `fault: { toxic: ... }` takes it (the attributes by type are in
/// `chaos_fault::tcp`'s docs and README's "TCP dependencies").
fn toxic() -> Schema {
    let count = || json_schema!({ "type": "integer", "minimum": 0 });
    json_schema!({
        "type": "object",
        "description": "A Toxiproxy toxic on a TCP proxy's connections. Attributes by type (milliseconds unless named): latency {latency, jitter}; bandwidth {rate: KB/s}; slow_close {delay}; timeout {timeout: 0 never closes}; reset_peer {timeout}; slicer {average_size, size_variation: bytes, delay: µs}; limit_data {bytes}.",
        "properties": {
            "type": { "enum": ["latency", "bandwidth", "slow_close", "timeout", "reset_peer", "slicer", "limit_data"] },
            "stream": { "enum": ["upstream", "downstream"], "description": "upstream: client to server; downstream (default): server to client." },
            "toxicity": { "type": "number", "minimum": 0, "maximum": 1, "description": "The share of connections it acts on (default 1)." },
            "name": { "type": "string" },
            "attributes": {
                "type": "object",
                "properties": {
                    "latency": count(), "jitter": count(), "rate": count(), "delay": count(), "timeout": count(),
                    "average_size": count(), "size_variation": count(), "bytes": count()
                },
                "additionalProperties": false
            }
        },
        "required": ["type"],
        "additionalProperties": false
    })
}
