//! reqwest's errors for people: what went wrong and its causes, without the URL (the caller
//! names it, once).

use std::time::Duration;

/// `cannot connect: …`, `no answer within 5s`, `request failed: …`, with each cause.
pub(crate) fn plain(e: &reqwest::Error, timeout: Duration) -> String {
    let mut s = if e.is_connect() {
        "cannot connect".to_string()
    } else if e.is_timeout() {
        format!("no answer within {}", humantime::format_duration(timeout))
    } else {
        "request failed".to_string()
    };
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        s = format!("{s}: {cause}");
        source = cause.source();
    }
    s
}
