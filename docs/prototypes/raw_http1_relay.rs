//! Prototype: HTTP/1 relay without hyper, one upstream connection per downstream connection,
//! one task per connection pair. Requests without bodies only (benchmark); responses framed by
//! content-length.
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

fn head_len(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4)
}

async fn relay(mut down: TcpStream, upstream: String) -> std::io::Result<()> {
    down.set_nodelay(true)?;
    let mut up = TcpStream::connect(&upstream).await?;
    up.set_nodelay(true)?;
    let mut req = Vec::with_capacity(8192);
    let mut res = Vec::with_capacity(8192);
    loop {
        // one request head
        let n = loop {
            if let Some(n) = head_len(&req) { break n; }
            if down.read_buf(&mut req).await? == 0 { return Ok(()); }
        };
        {
            let mut headers = [httparse::EMPTY_HEADER; 64];
            let mut r = httparse::Request::new(&mut headers);
            r.parse(&req[..n]).map_err(|e| std::io::Error::other(e.to_string()))?;
        }
        up.write_all(&req[..n]).await?;
        req.drain(..n);
        // response head + body
        let (hn, body) = loop {
            if let Some(hn) = head_len(&res) {
                let mut headers = [httparse::EMPTY_HEADER; 64];
                let mut r = httparse::Response::new(&mut headers);
                r.parse(&res[..hn]).map_err(|e| std::io::Error::other(e.to_string()))?;
                let len = r.headers.iter().find(|h| h.name.eq_ignore_ascii_case("content-length"))
                    .and_then(|h| std::str::from_utf8(h.value).ok()?.trim().parse::<usize>().ok()).unwrap_or(0);
                break (hn, len);
            }
            if up.read_buf(&mut res).await? == 0 { return Ok(()); }
        };
        while res.len() < hn + body {
            if up.read_buf(&mut res).await? == 0 { return Ok(()); }
        }
        down.write_all(&res[..hn + body]).await?;
        res.drain(..hn + body);
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let l = TcpListener::bind(&args[1]).await?;
    loop {
        let (s, _) = l.accept().await?;
        let up = args[2].clone();
        tokio::spawn(async move { let _ = relay(s, up).await; });
    }
}
