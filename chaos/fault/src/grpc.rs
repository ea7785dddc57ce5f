//! The `grpc` fault: a gRPC call answered with a status instead of the service's reply, as
//! Envoy's and Istio's fault filters abort one. The answer is gRPC's trailers-only response:
//! HTTP 200, `content-type: application/grpc`, `grpc-status` and `grpc-message` in the one
//! header block, no body (on HTTP/2, a HEADERS frame ending the stream).

use http::{HeaderValue, Response, header};
use serde::{Deserialize, Serialize};
use std::fmt;

/// A gRPC status code (grpc/doc/statuscodes.md), written in YAML as its name in either case
/// (`unavailable`, `UNAVAILABLE` as Istio writes it) or its number (`14`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GrpcCode(u8);

/// The codes' names, by number.
const NAMES: [&str; 17] = [
    "ok",
    "cancelled",
    "unknown",
    "invalid_argument",
    "deadline_exceeded",
    "not_found",
    "already_exists",
    "permission_denied",
    "resource_exhausted",
    "failed_precondition",
    "aborted",
    "out_of_range",
    "unimplemented",
    "internal",
    "unavailable",
    "data_loss",
    "unauthenticated",
];

impl GrpcCode {
    /// `OK` (0): the call succeeded.
    pub const OK: Self = Self(0);
    /// `UNAVAILABLE` (14): the service is down for now; clients may retry.
    pub const UNAVAILABLE: Self = Self(14);

    /// The code numbered `n`, if gRPC has one.
    pub fn new(n: u8) -> Option<Self> {
        (usize::from(n) < NAMES.len()).then_some(Self(n))
    }

    /// The code named `name` (`unavailable`, `UNAVAILABLE`, `Unavailable`).
    pub fn from_name(name: &str) -> Option<Self> {
        let lower = name.to_ascii_lowercase();
        NAMES.iter().position(|n| *n == lower || n.replace('_', "") == lower).map(|i| Self(i as u8))
    }

    /// Its number, as `grpc-status` carries it.
    pub fn number(self) -> u8 {
        self.0
    }

    /// Its name in lower case (`unavailable`).
    pub fn name(self) -> &'static str {
        NAMES[usize::from(self.0)]
    }
}

impl fmt::Display for GrpcCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Serialize for GrpcCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for GrpcCode {
    fn deserialize<D: serde::Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = GrpcCode;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a gRPC status: a name (`unavailable`, `UNAVAILABLE`) or a number 0..=16")
            }
            fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<GrpcCode, E> {
                u8::try_from(n)
                    .ok()
                    .and_then(GrpcCode::new)
                    .ok_or_else(|| E::custom(format!("{n} is not a gRPC status (0..=16)")))
            }
            fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<GrpcCode, E> {
                u64::try_from(n)
                    .map_err(|_| E::custom(format!("{n} is not a gRPC status (0..=16)")))
                    .and_then(|n| self.visit_u64(n))
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<GrpcCode, E> {
                GrpcCode::from_name(s)
                    .ok_or_else(|| E::custom(format!("`{s}` is not a gRPC status; one of {}", NAMES.join(", "))))
            }
        }
        de.deserialize_any(V)
    }
}

/// A gRPC call answered with `code` and `message` without calling the service.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrpcFault {
    /// The status (`unavailable`, `UNAVAILABLE` or `14`).
    #[cfg_attr(feature = "schema", schemars(with = "serde_json::Value"))]
    pub code: GrpcCode,
    /// `grpc-message` (percent-encoded on the wire, as gRPC asks).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
}

/// Bytes `grpc-message` sends as they are: printable ASCII but `%` (gRPC's PROTOCOL-HTTP2.md).
const MESSAGE_ESCAPES: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS.add(b'%');

impl GrpcFault {
    /// The trailers-only response, with `empty` as its body.
    pub(crate) fn response<B>(&self, empty: B) -> Response<B> {
        let mut res = Response::new(empty);
        let headers = res.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
        headers.insert("grpc-status", HeaderValue::from(u16::from(self.code.number())));
        if !self.message.is_empty() {
            let encoded = percent_encoding::utf8_percent_encode(&self.message, MESSAGE_ESCAPES).to_string();
            if let Ok(v) = HeaderValue::from_str(&encoded) {
                headers.insert("grpc-message", v);
            }
        }
        res
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_read_as_names_in_either_case_or_numbers_and_write_as_names() {
        for text in ["unavailable", "UNAVAILABLE", "14", "Unavailable"] {
            let code: GrpcCode =
                serde_json::from_str(&if text == "14" { text.into() } else { format!("\"{text}\"") }).unwrap();
            assert_eq!(code, GrpcCode::UNAVAILABLE, "{text}");
        }
        assert_eq!(GrpcCode::from_name("DEADLINE_EXCEEDED").map(GrpcCode::number), Some(4));
        assert_eq!(serde_json::to_string(&GrpcCode::UNAVAILABLE).unwrap(), "\"unavailable\"");
        assert!(serde_json::from_str::<GrpcCode>("17").unwrap_err().to_string().contains("not a gRPC status"));
        assert!(serde_json::from_str::<GrpcCode>("\"down\"").unwrap_err().to_string().contains("one of ok, cancelled"));
    }

    #[test]
    fn the_answer_is_trailers_only_with_the_message_percent_encoded() {
        let fault = GrpcFault { code: GrpcCode::UNAVAILABLE, message: "down 100% — sorry".into() };
        let res = fault.response(String::new());
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["content-type"], "application/grpc");
        assert_eq!(res.headers()["grpc-status"], "14");
        assert_eq!(res.headers()["grpc-message"], "down 100%25 %E2%80%94 sorry");
        assert!(res.body().is_empty());
    }
}
