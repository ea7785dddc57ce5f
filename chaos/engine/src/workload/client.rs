//! The HTTP workload's client: `chaos load`'s hand-written keep-alive connection
//! ([`crate::http_load::wire`]) behind a pool per `host:port`, so that an arrival takes an idle
//! connection or opens one, and gives it back when the server keeps it. Each request is a
//! timeout, a refusal, a reset or an answer, told apart as its client saw it.

use crate::http_load::wire::{self, Conn, Failure};
use crate::requests::RequestFailure;
use std::sync::Mutex;
use tokio::time::Instant;

/// Idle connections kept per address at most; more are closed when given back.
const MAX_IDLE: usize = 1024;

/// Keep-alive connections to one `host:port`.
pub(crate) struct Pool {
    addr: String,
    idle: Mutex<Vec<Conn>>,
}

/// What a request must find in its answer.
pub(crate) struct Expectation<'a> {
    /// Accepted statuses (empty: 200..=399).
    pub status: &'a [u16],
    /// Text the body must contain.
    pub body_contains: Option<&'a [u8]>,
}

impl Expectation<'_> {
    fn judge(&self, status: u16, body: Option<&[u8]>) -> Result<u16, RequestFailure> {
        let accepted =
            if self.status.is_empty() { (200..400).contains(&status) } else { self.status.contains(&status) };
        if !accepted {
            return Err(RequestFailure::Status(status));
        }
        match (self.body_contains, body) {
            (Some(needle), Some(body)) if !contains(body, needle) => Err(RequestFailure::Expectation),
            _ => Ok(status),
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}

impl Pool {
    /// A pool for `addr` (`host:port`).
    pub fn new(addr: String) -> Self {
        Self { addr, idle: Mutex::new(Vec::new()) }
    }

    fn take(&self) -> Option<Conn> {
        self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop()
    }

    fn give_back(&self, conn: Conn) {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < MAX_IDLE {
            idle.push(conn);
        }
    }

    /// Sends `request` (its bytes) and judges its answer, giving up at `deadline`.
    pub async fn send(
        &self,
        request: &[u8],
        expect: &Expectation<'_>,
        deadline: Instant,
    ) -> Result<u16, RequestFailure> {
        tokio::time::timeout_at(deadline, self.exchange(request, expect)).await.unwrap_or(Err(RequestFailure::Timeout))
    }

    /// One request: on a kept connection the server had dropped meanwhile (no byte of an answer
    /// came), sent once more on a new one, as wrk does; on a new connection that is a reset.
    async fn exchange(&self, request: &[u8], expect: &Expectation<'_>) -> Result<u16, RequestFailure> {
        loop {
            let mut conn = match self.take() {
                Some(conn) => conn,
                None => wire::connect(&self.addr).await.map_err(|e| match e.kind() {
                    std::io::ErrorKind::ConnectionRefused => RequestFailure::Refused,
                    _ => RequestFailure::Reset,
                })?,
            };
            let mut body = expect.body_contains.map(|_| Vec::new());
            match conn.exchange_keeping(request, body.as_mut()).await {
                Ok(status) => {
                    if conn.usable() {
                        self.give_back(conn);
                    }
                    return expect.judge(status, body.as_deref());
                }
                Err(Failure::Stale) if conn.reused() => continue,
                Err(Failure::Stale | Failure::Broken | Failure::Reset) => return Err(RequestFailure::Reset),
                Err(Failure::Malformed) => return Err(RequestFailure::Protocol),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_expectation_checks_the_status_then_the_body() {
        let any = Expectation { status: &[], body_contains: None };
        assert_eq!(any.judge(302, None), Ok(302));
        assert_eq!(any.judge(404, None), Err(RequestFailure::Status(404)));
        let strict = Expectation { status: &[201], body_contains: Some(b"\"ok\"") };
        assert_eq!(strict.judge(200, Some(b"\"ok\"")), Err(RequestFailure::Status(200)));
        assert_eq!(strict.judge(201, Some(b"{\"status\":\"ok\"}")), Ok(201));
        assert_eq!(strict.judge(201, Some(b"{\"status\":\"degraded\"}")), Err(RequestFailure::Expectation));
    }
}
