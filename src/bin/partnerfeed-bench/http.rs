//! A minimal blocking HTTP/1.1 client on `std::net` (keep-alive, Content-Length and chunked
//! bodies), loopback only.

#[allow(unused_imports)]
use super::*;

pub(crate) struct Http {
    pub(crate) addr: SocketAddr,
    pub(crate) conn: Option<BufReader<TcpStream>>,
}

pub(crate) struct Response {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
    /// Bytes of body received (also when the body was not kept).
    pub(crate) body_len: u64,
}

impl Response {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn json(&self) -> anyhow::Result<Value> {
        serde_json::from_slice(&self.body).context("response is not JSON")
    }
}

impl Http {
    pub(crate) fn new(addr: SocketAddr) -> Http {
        assert!(addr.ip().is_loopback(), "the bench only talks to loopback");
        Http { addr, conn: None }
    }

    pub(crate) fn connection(&mut self) -> anyhow::Result<&mut BufReader<TcpStream>> {
        if self.conn.is_none() {
            let stream = TcpStream::connect_timeout(&self.addr, Duration::from_secs(5))?;
            stream.set_nodelay(true)?;
            stream.set_read_timeout(Some(Duration::from_secs(600)))?;
            self.conn = Some(BufReader::with_capacity(1 << 16, stream));
        }
        self.conn.as_mut().context("no connection")
    }

    /// Sends one request; `keep_body` false counts body bytes without keeping them.
    pub(crate) fn send(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        keep_body: bool,
    ) -> anyhow::Result<Response> {
        let reused = self.conn.is_some();
        let mut result = self.send_once(method, path, headers, body, keep_body);
        if result.is_err() {
            self.conn = None;
            if reused {
                // The server may have closed an idle keep-alive connection: retry once.
                result = self.send_once(method, path, headers, body, keep_body);
            }
        }
        result
    }

    pub(crate) fn send_once(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        keep_body: bool,
    ) -> anyhow::Result<Response> {
        let mut out = Vec::new();
        let mut discard = std::io::sink();
        let sink: &mut dyn Write = if keep_body { &mut out } else { &mut discard };
        let mut response = self.exchange(method, path, headers, body, sink)?;
        response.body = out;
        Ok(response)
    }

    /// Sends one request on a fresh connection and streams the response body into `w`.
    pub(crate) fn send_to(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        w: &mut dyn Write,
    ) -> anyhow::Result<Response> {
        self.conn = None;
        self.exchange(method, path, headers, b"", w)
    }

    pub(crate) fn exchange(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        sink: &mut dyn Write,
    ) -> anyhow::Result<Response> {
        let host = self.addr.to_string();
        let conn = self.connection()?;
        let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\n");
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        if !body.is_empty() || method == "POST" || method == "PUT" {
            head.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        head.push_str("\r\n");
        {
            let stream = conn.get_mut();
            stream.write_all(head.as_bytes())?;
            stream.write_all(body)?;
            stream.flush()?;
        }
        let mut line = String::new();
        conn.read_line(&mut line)?;
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .with_context(|| format!("bad status line {line:?}"))?;
        let mut headers = Vec::new();
        loop {
            line.clear();
            if conn.read_line(&mut line)? == 0 {
                bail!("connection closed in headers");
            }
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((n, v)) = l.split_once(':') {
                headers.push((n.trim().to_string(), v.trim().to_string()));
            }
        }
        let find = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
        };
        let mut len = 0u64;
        let mut buf = [0u8; 1 << 16];
        let mut take = |conn: &mut BufReader<TcpStream>, mut n: u64| -> anyhow::Result<()> {
            len += n;
            while n > 0 {
                let want = n.min(buf.len() as u64) as usize;
                let got = conn.read(&mut buf[..want])?;
                if got == 0 {
                    bail!("connection closed in body");
                }
                sink.write_all(&buf[..got])?;
                n -= got as u64;
            }
            Ok(())
        };
        let no_body = status == 304 || status == 204 || method == "HEAD";
        if no_body {
        } else if find("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
            loop {
                line.clear();
                conn.read_line(&mut line)?;
                let size = u64::from_str_radix(line.trim().split(';').next().unwrap_or(""), 16)
                    .with_context(|| format!("bad chunk size {line:?}"))?;
                if size == 0 {
                    loop {
                        line.clear();
                        conn.read_line(&mut line)?;
                        if line.trim().is_empty() {
                            break;
                        }
                    }
                    break;
                }
                take(conn, size)?;
                line.clear();
                conn.read_line(&mut line)?;
            }
        } else if let Some(n) = find("content-length").and_then(|v| v.parse::<u64>().ok()) {
            take(conn, n)?;
        } else {
            bail!("response without length");
        }
        if find("connection").is_some_and(|v| v.eq_ignore_ascii_case("close")) {
            self.conn = None;
        }
        Ok(Response {
            status,
            headers,
            body: Vec::new(),
            body_len: len,
        })
    }
}

pub(crate) fn expect_ok(r: &Response, what: &str) -> anyhow::Result<()> {
    if !(200..300).contains(&r.status) {
        bail!(
            "{what}: HTTP {} {}",
            r.status,
            String::from_utf8_lossy(&r.body[..r.body.len().min(500)])
        );
    }
    Ok(())
}
