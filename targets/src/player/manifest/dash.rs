//! DASH: one static `Period` of video `AdaptationSet`s, each `Representation` a rendition
//! addressed by a `SegmentTemplate` (`$Number$`, or `$Time$`/`$Number$` over a
//! `SegmentTimeline`) or a `SegmentList`; several `BaseURL`s at a level are copies for failover.
//!
//! dash-mpd's parser reads the XML; what it leaves to the player — inheriting a template from
//! the adaptation set and period, walking a timeline, filling in a template's identifiers — is
//! here, as the crate's own version of it lives in its downloader (with reqwest and ffmpeg).

use super::{Format, ManifestError, Presentation, Rendition, Track, Unsupported};
use dash_mpd_core::{AdaptationSet, BaseURL, Period, Representation, SegmentList, SegmentTemplate, SegmentTimeline};
use std::time::Duration;
use url::Url;

/// At most this many copies of a rendition are kept from nested `BaseURL` lists.
const MAX_COPIES: usize = 8;
/// At most this many segments per rendition (a 2 s segment: 11 hours).
const MAX_SEGMENTS: usize = 20_000;

/// The presentation of the MPD at `url`.
pub fn presentation(url: &Url, body: &[u8]) -> Result<Presentation, ManifestError> {
    let invalid = |reason: String| ManifestError::Invalid { url: url.clone(), format: Format::Dash, reason };
    let xml = std::str::from_utf8(body).map_err(|e| invalid(format!("not UTF-8: {e}")))?;
    let mpd = dash_mpd_core::parse(xml).map_err(|e| invalid(e.to_string()))?;
    let unsupported = |feature| Err(ManifestError::unsupported(url, feature));
    if mpd.mpdtype.as_deref() == Some("dynamic") {
        return unsupported(Unsupported::Live);
    }
    let period = match mpd.periods.as_slice() {
        [] => return Err(ManifestError::Empty { url: url.clone() }),
        [one] => one,
        _ => return unsupported(Unsupported::MultiPeriod),
    };
    if period.href.is_some() {
        return unsupported(Unsupported::RemoteElements);
    }
    let length = period.duration.or(mpd.mediaPresentationDuration);
    let video: Vec<&AdaptationSet> = period.adaptations.iter().filter(dash_mpd_core::is_video_adaptation).collect();
    let mut ladder = Vec::new();
    for set in video {
        if set.href.is_some() {
            return unsupported(Unsupported::RemoteElements);
        }
        for rep in &set.representations {
            let protected =
                [&mpd.ContentProtection, &period.ContentProtection, &set.ContentProtection, &rep.ContentProtection];
            if protected.iter().any(|p| !p.is_empty()) {
                return unsupported(Unsupported::Encryption);
            }
            let bases = bases(url, &[&mpd.base_url, &period.BaseURL, &set.BaseURL, &rep.BaseURL]).map_err(invalid)?;
            let (names, durations) = segments(url, period, set, rep, length)?;
            let track = |base: &Url| -> Result<Track, String> {
                let join = |name: &String| base.join(name).map_err(|e| format!("`{name}` is not a URI: {e}"));
                Ok(Track {
                    init: names.init.as_ref().map(join).transpose()?,
                    segments: names.media.iter().map(join).collect::<Result<_, _>>()?,
                })
            };
            let copies = bases.iter().map(track).collect::<Result<_, _>>().map_err(invalid)?;
            let kbps = u32::try_from(rep.bandwidth.unwrap_or(0).div_ceil(1000)).unwrap_or(u32::MAX);
            ladder.push((Rendition { kbps, copies }, durations));
        }
    }
    Presentation::assemble(url, ladder)
}

/// Where a representation's segments are, each copy's: every level's `BaseURL`s resolved
/// against the level above's (the first of each level first), or the MPD's own URL.
fn bases(url: &Url, levels: &[&Vec<BaseURL>]) -> Result<Vec<Url>, String> {
    let mut bases = vec![url.clone()];
    for level in levels.iter().filter(|l| !l.is_empty()) {
        let mut next = Vec::new();
        for b in level.iter() {
            for parent in &bases {
                next.push(parent.join(b.base.trim()).map_err(|e| format!("BaseURL `{}`: {e}", b.base))?);
            }
        }
        next.truncate(MAX_COPIES);
        bases = next;
    }
    Ok(bases)
}

/// A representation's segment names (relative to its base) before resolving.
struct Names {
    init: Option<String>,
    media: Vec<String>,
}

/// A Representation's segment names and durations: from its SegmentList, or its
/// SegmentTemplate (each attribute from the innermost of Representation, set and Period).
fn segments(
    url: &Url,
    period: &Period,
    set: &AdaptationSet,
    rep: &Representation,
    length: Option<Duration>,
) -> Result<(Names, Vec<Duration>), ManifestError> {
    let id = rep.id.clone().unwrap_or_default();
    let vars = Vars { id: &id, bandwidth: rep.bandwidth.unwrap_or(0) };
    let invalid = |reason: &str| ManifestError::Invalid {
        url: url.clone(),
        format: Format::Dash,
        reason: format!("Representation `{id}`: {reason}"),
    };
    if let Some(list) = rep.SegmentList.as_ref().or(set.SegmentList.as_ref()).or(period.SegmentList.as_ref()) {
        return segment_list(url, list, length, invalid);
    }
    let templates = [&rep.SegmentTemplate, &set.SegmentTemplate, &period.SegmentTemplate];
    if templates.iter().all(|t| t.is_none()) {
        let ranged = rep.SegmentBase.is_some() || set.SegmentBase.is_some() || period.SegmentBase.is_some();
        return match ranged || !rep.BaseURL.is_empty() {
            true => Err(ManifestError::unsupported(url, Unsupported::ByteRanges)),
            false => Err(invalid("neither a SegmentTemplate nor a SegmentList")),
        };
    }
    template_segments(&Inherited(templates.map(Option::as_ref)), &vars, length, invalid)
}

/// The segments a `SegmentTemplate` names: its timeline's, or as many @duration segments as the
/// period (`length`) holds.
fn template_segments(
    t: &Inherited,
    vars: &Vars,
    length: Option<Duration>,
    invalid: impl Fn(&str) -> ManifestError,
) -> Result<(Names, Vec<Duration>), ManifestError> {
    let timescale = t.get(|t| t.timescale).unwrap_or(1).max(1);
    let start = t.get(|t| t.startNumber).unwrap_or(1);
    let media = t.get(|t| t.media.clone()).ok_or_else(|| invalid("a SegmentTemplate without @media"))?;
    let init =
        t.get(|t| t.initialization.clone()).map(|i| vars.fill(&i, None, None)).transpose().map_err(|r| invalid(&r))?;
    let timeline = t.get(|t| t.SegmentTimeline.clone());
    let times = match &timeline {
        Some(timeline) => timeline_times(timeline, length.map(|l| l.as_secs_f64() * timescale as f64)),
        None => duration_times(t, timescale as f64, length),
    };
    let times = times.map_err(|r| invalid(&r))?;
    let mut names = Vec::with_capacity(times.len());
    let mut durations = Vec::with_capacity(times.len());
    for (i, (time, d)) in times.into_iter().enumerate() {
        names.push(vars.fill(&media, Some(start + i as u64), Some(time)).map_err(|r| invalid(&r))?);
        durations.push(Duration::from_secs_f64(d as f64 / timescale as f64));
    }
    // The last @duration segment ends with the period.
    if let (Some(total), None) = (length, timeline) {
        let before: Duration = durations.iter().rev().skip(1).sum();
        if let Some(last) = durations.last_mut() {
            *last = total.saturating_sub(before).min(*last);
        }
    }
    Ok((Names { init, media: names }, durations))
}

/// `(start time, duration)` of each @duration segment of the period (`length`), in timescale
/// units.
fn duration_times(t: &Inherited, timescale: f64, length: Option<Duration>) -> Result<Vec<(u64, u64)>, String> {
    let d = t
        .get(|t| t.duration)
        .filter(|d| *d > 0.0)
        .ok_or("a SegmentTemplate with neither @duration nor a SegmentTimeline")?;
    let total = length.ok_or("@duration segments but no Period@duration or @mediaPresentationDuration")?;
    let count = ((total.as_secs_f64() * timescale / d) - 1e-9).ceil().max(0.0) as usize;
    if count > MAX_SEGMENTS {
        return Err("more than 20,000 segments".into());
    }
    Ok((0..count).map(|i| ((i as f64 * d) as u64, d as u64)).collect())
}

/// A `SegmentTemplate`'s attributes, each from the innermost level that has it.
struct Inherited<'a>([Option<&'a SegmentTemplate>; 3]);

impl Inherited<'_> {
    fn get<T>(&self, field: impl Fn(&SegmentTemplate) -> Option<T>) -> Option<T> {
        self.0.iter().flatten().find_map(|t| field(t))
    }
}

fn segment_list(
    url: &Url,
    list: &SegmentList,
    length: Option<Duration>,
    invalid: impl Fn(&str) -> ManifestError,
) -> Result<(Names, Vec<Duration>), ManifestError> {
    if list.href.is_some() {
        return Err(ManifestError::unsupported(url, Unsupported::RemoteElements));
    }
    if list.segment_urls.iter().any(|s| s.mediaRange.is_some()) {
        return Err(ManifestError::unsupported(url, Unsupported::ByteRanges));
    }
    let timescale = list.timescale.unwrap_or(1).max(1) as f64;
    let media: Vec<String> = list.segment_urls.iter().map(|s| s.media.clone().unwrap_or_default()).collect();
    let durations = match (&list.SegmentTimeline, list.duration) {
        (Some(timeline), _) => timeline_times(timeline, length.map(|l| l.as_secs_f64() * timescale))
            .map_err(|r| invalid(&r))?
            .into_iter()
            .map(|(_, d)| Duration::from_secs_f64(d as f64 / timescale))
            .collect(),
        (None, Some(d)) if d > 0 => vec![Duration::from_secs_f64(d as f64 / timescale); media.len()],
        _ => return Err(invalid("a SegmentList with neither @duration nor a SegmentTimeline")),
    };
    if durations.len() != media.len() {
        return Err(invalid(&format!("{} SegmentURLs but {} timeline entries", media.len(), durations.len())));
    }
    let init = list.Initialization.as_ref().and_then(|i| i.sourceURL.clone());
    Ok((Names { init, media }, durations))
}

/// `(start time, duration)` of each timeline entry, in timescale units. A negative repeat count
/// runs to the end of the period (`length`, in timescale units).
fn timeline_times(timeline: &SegmentTimeline, length: Option<f64>) -> Result<Vec<(u64, u64)>, String> {
    let mut out = Vec::new();
    let mut time = 0u64;
    for s in &timeline.segments {
        if s.d == 0 {
            return Err("an S element with d=\"0\"".into());
        }
        time = s.t.unwrap_or(time);
        let repeats = match s.r.unwrap_or(0) {
            r if r >= 0 => r as u64,
            _ => {
                let end = length.ok_or("S@r=-1 with no period length")?;
                ((end - time as f64) / s.d as f64).ceil().max(1.0) as u64 - 1
            }
        };
        for _ in 0..=repeats {
            if out.len() >= MAX_SEGMENTS {
                return Err("more than 20,000 segments".into());
            }
            out.push((time, s.d));
            time += s.d;
        }
    }
    Ok(out)
}

/// The values a template's identifiers take for one representation.
struct Vars<'a> {
    id: &'a str,
    bandwidth: u64,
}

impl Vars<'_> {
    /// `template` with `$RepresentationID$`, `$Bandwidth$`, `$Number$`, `$Time$` (each with an
    /// optional `%0Nd` width) and `$$` filled in (ISO/IEC 23009-1 §5.3.9.4.4).
    fn fill(&self, template: &str, number: Option<u64>, time: Option<u64>) -> Result<String, String> {
        let mut out = String::with_capacity(template.len() + 8);
        let mut parts = template.split('$');
        out.push_str(parts.next().unwrap_or_default());
        let mut inside = true;
        for part in parts {
            if !inside {
                out.push_str(part);
                inside = true;
                continue;
            }
            inside = false;
            let (name, width) = match part.split_once('%') {
                Some((name, format)) => {
                    (name, Some(width(format).ok_or_else(|| format!("`${part}$`: the format must be %0Nd"))?))
                }
                None => (part, None),
            };
            let value = match name {
                "" => {
                    out.push('$');
                    continue;
                }
                "RepresentationID" if width.is_none() => {
                    out.push_str(self.id);
                    continue;
                }
                "Bandwidth" => Some(self.bandwidth),
                "Number" => number,
                "Time" => time,
                _ => None,
            };
            let value = value.ok_or_else(|| format!("`${part}$` cannot be filled in here"))?;
            out.push_str(&format!("{value:0width$}", width = width.unwrap_or(0)));
        }
        if inside {
            return Ok(out);
        }
        Err(format!("`{template}`: an identifier's closing `$` is missing"))
    }
}

/// N of a `%0Nd` format.
fn width(format: &str) -> Option<usize> {
    format.strip_prefix('0')?.strip_suffix('d')?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    fn mpd(inner: &str) -> String {
        format!(
            r#"<?xml version="1.0"?><MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static" mediaPresentationDuration="PT5.0S"><Period id="0">{inner}</Period></MPD>"#
        )
    }

    fn read(inner: &str) -> Result<Presentation, ManifestError> {
        presentation(&url("http://a.test/v/manifest.mpd"), mpd(inner).as_bytes())
    }

    #[test]
    fn number_template_counts_segments_from_the_period_length() {
        let p = read(r#"<AdaptationSet contentType="video">
            <SegmentTemplate timescale="1000" duration="2000" initialization="init-$RepresentationID$.m4s" media="c-$RepresentationID$-$Number%05d$.m4s" startNumber="1"/>
            <Representation id="hi" bandwidth="1200000"/><Representation id="lo" bandwidth="200000"/></AdaptationSet>"#)
        .unwrap();
        assert_eq!(p.renditions.iter().map(|r| r.kbps).collect::<Vec<_>>(), [200, 1200]);
        let lo = &p.renditions[0].copies[0];
        assert_eq!(lo.init, Some(url("http://a.test/v/init-lo.m4s")));
        assert_eq!(lo.segments.last(), Some(&url("http://a.test/v/c-lo-00003.m4s")));
        assert_eq!(p.durations, [2000, 2000, 1000].map(Duration::from_millis));
    }

    #[test]
    fn timeline_fills_time_and_repeats() {
        let p = read(
            r#"<AdaptationSet mimeType="video/mp4"><Representation id="0" bandwidth="500000">
            <SegmentTemplate timescale="12800" media="c-$RepresentationID$-$Time$.m4s">
            <SegmentTimeline><S t="0" d="25600" r="1"/><S d="12800"/></SegmentTimeline></SegmentTemplate>
            </Representation></AdaptationSet>"#,
        )
        .unwrap();
        let names: Vec<&str> = p.renditions[0].copies[0].segments.iter().map(|u| u.path()).collect();
        assert_eq!(names, ["/v/c-0-0.m4s", "/v/c-0-25600.m4s", "/v/c-0-51200.m4s"]);
        assert_eq!(p.durations, [2000, 2000, 1000].map(Duration::from_millis));
    }

    #[test]
    fn segment_list_and_base_urls_as_copies() {
        let p = read(
            r#"<BaseURL>http://a.test/media/</BaseURL><BaseURL>http://b.test/media/</BaseURL>
            <AdaptationSet contentType="video"><Representation id="0" bandwidth="200000">
            <SegmentList timescale="1000" duration="2500"><Initialization sourceURL="init.m4s"/>
            <SegmentURL media="s1.m4s"/><SegmentURL media="s2.m4s"/></SegmentList></Representation></AdaptationSet>"#,
        )
        .unwrap();
        let copies = &p.renditions[0].copies;
        assert_eq!(copies.len(), 2);
        assert_eq!(copies[1].segments[1], url("http://b.test/media/s2.m4s"));
        assert_eq!(copies[0].init, Some(url("http://a.test/media/init.m4s")));
        assert_eq!(p.duration(), Duration::from_secs(5));
    }

    #[test]
    fn audio_is_left_out() {
        let p = read(
            r#"<AdaptationSet contentType="audio"><Representation id="a" bandwidth="64000">
            <SegmentTemplate timescale="1" duration="1" media="a$Number$.m4s"/></Representation></AdaptationSet>
            <AdaptationSet contentType="video"><Representation id="v" bandwidth="300000">
            <SegmentTemplate timescale="1" duration="1" media="v$Number$.m4s"/></Representation></AdaptationSet>"#,
        )
        .unwrap();
        assert_eq!(p.renditions.len(), 1);
        assert_eq!(p.renditions[0].kbps, 300);
    }

    fn refused(body: &str) -> Unsupported {
        match presentation(&url("http://a.test/m.mpd"), body.as_bytes()) {
            Err(ManifestError::Unsupported { feature, .. }) => feature,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn what_this_player_cannot_play_is_named() {
        let rep = r#"<AdaptationSet contentType="video"><Representation id="v" bandwidth="1"><SegmentTemplate duration="1" media="$Number$"/></Representation></AdaptationSet>"#;
        assert_eq!(refused(&mpd(rep).replace("static", "dynamic")), Unsupported::Live);
        let two = format!(
            r#"<MPD type="static" mediaPresentationDuration="PT2S"><Period>{rep}</Period><Period>{rep}</Period></MPD>"#
        );
        assert_eq!(refused(&two), Unsupported::MultiPeriod);
        let drm = rep.replace(
            "<Representation",
            r#"<ContentProtection schemeIdUri="urn:mpeg:dash:mp4protection:2011"/><Representation"#,
        );
        assert_eq!(refused(&mpd(&drm)), Unsupported::Encryption);
        let base = r#"<AdaptationSet contentType="video"><Representation id="v" bandwidth="1"><BaseURL>v.mp4</BaseURL><SegmentBase indexRange="0-99"/></Representation></AdaptationSet>"#;
        assert_eq!(refused(&mpd(base)), Unsupported::ByteRanges);
    }

    #[test]
    fn template_identifiers() {
        let v = Vars { id: "r1", bandwidth: 500 };
        assert_eq!(
            v.fill("$RepresentationID$/$Bandwidth$/$Number%03d$-$$.m4s", Some(7), None).unwrap(),
            "r1/500/007-$.m4s"
        );
        assert!(v.fill("$Time$.m4s", Some(1), None).is_err());
        assert!(v.fill("$Number", Some(1), None).is_err());
        assert!(v.fill("$Number%5x$", Some(1), None).is_err());
    }
}
