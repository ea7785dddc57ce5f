//! CTA-5004 Common Media Client Data, version 1: what the player tells the origin with each
//! request — its session, the object, the rendition, its buffer and measured throughput — so
//! that an origin's or a CDN's logs can be joined with what the viewer saw.
//!
//! Sent as the `CMCD` query argument or as the four `CMCD-*` headers: keys in alphabetical
//! order, strings quoted, a true boolean as its bare key (a false one left out), numbers as
//! integers, the buffer and the throughput rounded to the nearest 100. Written by hand: no Rust
//! crate encodes CMCD (the reference implementation is the SVTA's TypeScript
//! common-media-library).

use super::stream::Status;
use http::{HeaderName, HeaderValue};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::{Deserialize, Serialize};
use std::fmt::Write;
use std::time::Duration;

/// Whether and how the player sends CMCD.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CmcdMode {
    /// Not at all.
    #[default]
    Off,
    /// As the `CMCD` query argument of every request.
    Query,
    /// As the `CMCD-Object`, `CMCD-Request`, `CMCD-Session` and `CMCD-Status` headers.
    Headers,
}

/// What a request fetches (`ot`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Object {
    /// A manifest or a playlist (`m`).
    Manifest,
    /// An initialisation segment (`i`).
    Init,
    /// A media segment of a video rendition (`v`).
    Video,
}

/// The streaming format (`sf`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamingFormat {
    /// HLS (`h`).
    Hls,
    /// MPEG-DASH (`d`).
    Dash,
}

/// What every request of a session says the same way (`cid`, `sf`, `sid`, `st`).
#[derive(Clone, Debug, PartialEq)]
pub struct CmcdSession {
    /// How it is sent.
    pub mode: CmcdMode,
    /// The session's id (`sid`).
    pub sid: String,
    /// The content's id (`cid`): the title, or the manifest's path.
    pub cid: String,
    /// `sf`, once the manifest has been read.
    pub format: Option<StreamingFormat>,
}

impl CmcdSession {
    /// Session `n` of a player, of content `cid`; `None` when `mode` is off. The id is made from
    /// the count in a UUID's shape, so that a run sends the same ids each time.
    pub fn new(mode: CmcdMode, n: u64, cid: &str) -> Option<Self> {
        let sid = format!("00000000-0000-4000-8000-{:012x}", n & 0xffff_ffff_ffff);
        (mode != CmcdMode::Off).then(|| Self { mode, sid, cid: cid.to_string(), format: None })
    }

    /// A manifest's request at the start of the session.
    pub fn manifest(&self) -> Cmcd<'_> {
        let status = Status { starting: true, ..Status::default() };
        Cmcd { session: self, object: Object::Manifest, kbps: None, duration: None, status }
    }
}

/// One request's data.
#[derive(Clone, Debug, PartialEq)]
pub struct Cmcd<'a> {
    /// The session's part.
    pub session: &'a CmcdSession,
    /// What is fetched.
    pub object: Object,
    /// The rendition's bitrate, kbit/s (`br`), and the ladder's top (`tb`).
    pub kbps: Option<(u32, u32)>,
    /// The object's media time (`d`).
    pub duration: Option<Duration>,
    /// The player's state (`bl`, `bs`, `mtp`, `su`).
    pub status: Status,
}

/// A value as CMCD writes it.
enum Value<'a> {
    Integer(u64),
    String(&'a str),
    Token(&'static str),
    True,
}

/// The header a key travels in.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Shard {
    Object,
    Request,
    Session,
    Status,
}

const SHARDS: [(Shard, &str); 4] = [
    (Shard::Object, "cmcd-object"),
    (Shard::Request, "cmcd-request"),
    (Shard::Session, "cmcd-session"),
    (Shard::Status, "cmcd-status"),
];

/// What `encodeURIComponent` leaves as it is: CMCD's query argument is encoded with it.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'!')
    .remove(b'~')
    .remove(b'*')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')');

impl Cmcd<'_> {
    /// The keys this request sends, in alphabetical order.
    fn pairs(&self) -> Vec<(&'static str, Shard, Value<'_>)> {
        let s = &self.status;
        let hundred = |x: f64| Value::Integer(((x / 100.0).round() * 100.0).max(0.0) as u64);
        let media = self.object != Object::Manifest;
        let mut out = Vec::with_capacity(12);
        if self.object == Object::Video {
            out.push(("bl", Shard::Request, hundred(s.buffer.as_secs_f64() * 1000.0)));
        }
        if let (true, Some((kbps, _))) = (media, self.kbps) {
            out.push(("br", Shard::Object, Value::Integer(kbps.into())));
        }
        if s.starved {
            out.push(("bs", Shard::Status, Value::True));
        }
        out.push(("cid", Shard::Session, Value::String(&self.session.cid)));
        if let Some(d) = self.duration {
            out.push(("d", Shard::Object, Value::Integer(d.as_millis() as u64)));
        }
        if let Some(kbps) = s.throughput_kbps {
            out.push(("mtp", Shard::Request, hundred(kbps)));
        }
        let object = match self.object {
            Object::Manifest => "m",
            Object::Init => "i",
            Object::Video => "v",
        };
        out.push(("ot", Shard::Object, Value::Token(object)));
        if let Some(format) = self.session.format {
            out.push(("sf", Shard::Session, Value::Token(if format == StreamingFormat::Hls { "h" } else { "d" })));
        }
        out.push(("sid", Shard::Session, Value::String(&self.session.sid)));
        out.push(("st", Shard::Session, Value::Token("v")));
        if s.starting {
            out.push(("su", Shard::Request, Value::True));
        }
        if let (true, Some((_, top))) = (media, self.kbps) {
            out.push(("tb", Shard::Object, Value::Integer(top.into())));
        }
        out
    }

    /// The keys of `shard` (all with `None`), as CMCD writes them: `k=v,k2,k3="s"`.
    fn payload(&self, shard: Option<Shard>) -> String {
        let mut out = String::new();
        for (key, _, value) in self.pairs().into_iter().filter(|(_, s, _)| shard.is_none_or(|want| *s == want)) {
            if !out.is_empty() {
                out.push(',');
            }
            out.push_str(key);
            let _ = match value {
                Value::Integer(n) => write!(out, "={n}"),
                Value::Token(t) => write!(out, "={t}"),
                Value::String(s) => write!(out, "=\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\"")),
                Value::True => Ok(()),
            };
        }
        out
    }

    /// The `CMCD=…` query argument, percent-encoded.
    pub fn query(&self) -> String {
        format!("CMCD={}", utf8_percent_encode(&self.payload(None), COMPONENT))
    }

    /// The `CMCD-*` headers that have keys.
    pub fn headers(&self) -> Vec<(HeaderName, HeaderValue)> {
        SHARDS
            .iter()
            .filter_map(|&(shard, name)| {
                let payload = self.payload(Some(shard));
                let value = HeaderValue::try_from(payload).ok().filter(|v| !v.is_empty())?;
                Some((HeaderName::from_static(name), value))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session() -> CmcdSession {
        CmcdSession {
            mode: CmcdMode::Query,
            sid: "6e2fb550-c457-11e9-bb97-0800200c9a66".into(),
            cid: "/v/master.m3u8".into(),
            format: Some(StreamingFormat::Hls),
        }
    }

    fn segment(session: &CmcdSession) -> Cmcd<'_> {
        let status = Status {
            buffer: Duration::from_millis(21_340),
            throughput_kbps: Some(25_432.0),
            starting: false,
            starved: true,
        };
        Cmcd {
            session,
            object: Object::Video,
            kbps: Some((3000, 6000)),
            duration: Some(Duration::from_millis(4004)),
            status,
        }
    }

    #[test]
    fn a_segment_request_sends_every_key_in_order() {
        let s = session();
        assert_eq!(
            segment(&s).payload(None),
            "bl=21300,br=3000,bs,cid=\"/v/master.m3u8\",d=4004,mtp=25400,ot=v,sf=h,\
             sid=\"6e2fb550-c457-11e9-bb97-0800200c9a66\",st=v,tb=6000"
        );
        assert!(segment(&s).query().starts_with("CMCD=bl%3D21300%2Cbr%3D3000%2Cbs%2Ccid%3D%22%2Fv%2Fmaster.m3u8%22"));
    }

    #[test]
    fn headers_split_the_keys_by_shard() {
        let s = session();
        let headers: Vec<(String, String)> =
            segment(&s).headers().into_iter().map(|(k, v)| (k.to_string(), v.to_str().unwrap().to_string())).collect();
        assert_eq!(
            headers,
            [
                ("cmcd-object".into(), "br=3000,d=4004,ot=v,tb=6000".into()),
                ("cmcd-request".into(), "bl=21300,mtp=25400".into()),
                (
                    "cmcd-session".into(),
                    "cid=\"/v/master.m3u8\",sf=h,sid=\"6e2fb550-c457-11e9-bb97-0800200c9a66\",st=v".into()
                ),
                ("cmcd-status".into(), "bs".into()),
            ]
        );
    }

    #[test]
    fn a_manifest_request_at_startup_has_no_rendition_and_strings_are_escaped() {
        let mut s = session();
        s.cid = "a \"b\" \\c".into();
        s.format = None;
        let status = Status { starting: true, ..Status::default() };
        let m = Cmcd { session: &s, object: Object::Manifest, kbps: Some((3000, 6000)), duration: None, status };
        assert_eq!(
            m.payload(None),
            "cid=\"a \\\"b\\\" \\\\c\",ot=m,sid=\"6e2fb550-c457-11e9-bb97-0800200c9a66\",st=v,su"
        );
    }
}
