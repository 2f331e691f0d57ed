//! The way to one listener: its URL (`http://host:port/path`, `https://...`), and an HTTP/1.1 connection to it,
//! reused from one delivery to the next while it lasts, over TLS for https. Every post has a deadline, so a
//! listener that never reads or never answers costs its own subscription a timeout and nothing else.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

use super::export::{check_export_response, CONTENT_TYPE, EXPORT_HEADERS};

/// The largest answer read from a listener.
const MAX_ANSWER: usize = 64 * 1024;

/// A listener destination's URL, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListenerUrl {
    pub https: bool,
    pub host: String,
    pub port: u16,
    /// The request target: the URL's path, `/` when it has none.
    pub path: String,
}

impl ListenerUrl {
    /// Parses `http[s]://host[:port][/path]` (an IPv6 host in brackets); the port defaults to 5988/5989 as
    /// DSP0200 has it for CIM-XML.
    pub fn parse(text: &str) -> Result<ListenerUrl, String> {
        let text = text.trim();
        let (https, rest) = if let Some(rest) = strip_prefix_ci(text, "https://") {
            (true, rest)
        } else if let Some(rest) = strip_prefix_ci(text, "http://") {
            (false, rest)
        } else {
            return Err(format!(
                "destination {text:?} is not an http:// or https:// URL"
            ));
        };
        let (authority, path) = match rest.find('/') {
            Some(at) => (&rest[..at], &rest[at..]),
            None => (rest, "/"),
        };
        if authority.contains('@') {
            return Err("user information in the destination URL is not supported".into());
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let end = v6
                .find(']')
                .ok_or_else(|| format!("destination {text:?}: unclosed '['"))?;
            let after = &v6[end + 1..];
            let port = match after.strip_prefix(':') {
                Some(p) => Some(p),
                None if after.is_empty() => None,
                None => return Err(format!("destination {text:?}: bad authority")),
            };
            (v6[..end].to_owned(), port)
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h.to_owned(), Some(p)),
                None => (authority.to_owned(), None),
            }
        };
        if host.is_empty() {
            return Err(format!("destination {text:?} names no host"));
        }
        let port = match port {
            Some(p) => p
                .parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| format!("destination {text:?}: bad port {p:?}"))?,
            None if https => 5989,
            None => 5988,
        };
        if path.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(format!("destination {text:?}: bad path"));
        }
        Ok(ListenerUrl {
            https,
            host,
            port,
            path: path.to_owned(),
        })
    }

    fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

fn strip_prefix_ci<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    (text.len() >= prefix.len() && text[..prefix.len()].eq_ignore_ascii_case(prefix))
        .then(|| &text[prefix.len()..])
}

/// One subscription's connection to its listener.
pub struct ListenerClient {
    url: ListenerUrl,
    tls: Option<Arc<rustls::ClientConfig>>,
    /// `Authorization` header value (the destination's username and password).
    authorization: Option<String>,
    conn: Option<(SendRequest<Full<Bytes>>, JoinHandle<()>)>,
}

impl Drop for ListenerClient {
    fn drop(&mut self) {
        self.reset();
    }
}

impl ListenerClient {
    pub fn new(
        url: ListenerUrl,
        tls: Option<Arc<rustls::ClientConfig>>,
        credentials: Option<(&str, &str)>,
    ) -> ListenerClient {
        use base64::Engine as _;
        let authorization = credentials.map(|(user, password)| {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
            )
        });
        ListenerClient {
            url,
            tls,
            authorization,
            conn: None,
        }
    }

    /// Drops the connection (the next post opens a new one).
    pub fn reset(&mut self) {
        if let Some((_, task)) = self.conn.take() {
            task.abort();
        }
    }

    /// Posts one export request and waits for the listener's acknowledgement, within `deadline`.
    pub async fn post(&mut self, body: String, deadline: Duration) -> Result<(), String> {
        let result = match tokio::time::timeout(deadline, self.post_inner(body)).await {
            Ok(result) => result,
            Err(_) => Err(format!("no answer within {} ms", deadline.as_millis())),
        };
        if result.is_err() {
            self.reset();
        }
        result
    }

    async fn connect(&mut self) -> Result<(), String> {
        let tcp = TcpStream::connect((self.url.host.as_str(), self.url.port))
            .await
            .map_err(|e| format!("cannot connect to {}: {e}", self.url.authority()))?;
        let _ = tcp.set_nodelay(true);
        let (sender, task) = if self.url.https {
            let config = self
                .tls
                .clone()
                .ok_or_else(|| "no TLS configuration for an https listener".to_string())?;
            let name = ServerName::try_from(self.url.host.clone())
                .map_err(|e| format!("bad host name {:?}: {e}", self.url.host))?;
            let tls = tokio_rustls::TlsConnector::from(config)
                .connect(name, tcp)
                .await
                .map_err(|e| format!("TLS with {}: {e}", self.url.authority()))?;
            let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
                .await
                .map_err(|e| e.to_string())?;
            (
                sender,
                tokio::spawn(async move {
                    let _ = conn.await;
                }),
            )
        } else {
            let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
                .await
                .map_err(|e| e.to_string())?;
            (
                sender,
                tokio::spawn(async move {
                    let _ = conn.await;
                }),
            )
        };
        self.conn = Some((sender, task));
        Ok(())
    }

    async fn post_inner(&mut self, body: String) -> Result<(), String> {
        let reusable = match &mut self.conn {
            Some((sender, _)) => sender.ready().await.is_ok(),
            None => false,
        };
        if !reusable {
            self.reset();
            self.connect().await?;
        }
        let Some((sender, _)) = &mut self.conn else {
            return Err("no connection".into());
        };
        let mut request = hyper::Request::builder()
            .method(hyper::Method::POST)
            .uri(self.url.path.as_str())
            .header(hyper::header::HOST, self.url.authority())
            .header(hyper::header::CONTENT_TYPE, CONTENT_TYPE)
            .header(hyper::header::ACCEPT, "text/xml")
            .header(hyper::header::CONTENT_LENGTH, body.len());
        for (name, value) in EXPORT_HEADERS {
            request = request.header(name, value);
        }
        if let Some(auth) = &self.authorization {
            request = request.header(hyper::header::AUTHORIZATION, auth.as_str());
        }
        let request = request
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| e.to_string())?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| format!("{}: {e}", self.url.authority()))?;
        let status = response.status().as_u16();
        let body = Limited::new(response.into_body(), MAX_ANSWER)
            .collect()
            .await
            .map_err(|e| format!("reading the answer: {e}"))?
            .to_bytes();
        check_export_response(status, &String::from_utf8_lossy(&body)).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listener_urls() {
        let u = ListenerUrl::parse("http://127.0.0.1:5990").expect("url");
        assert_eq!(
            u,
            ListenerUrl {
                https: false,
                host: "127.0.0.1".into(),
                port: 5990,
                path: "/".into()
            }
        );
        let u = ListenerUrl::parse("HTTPS://[::1]/cimlistener/x").expect("url");
        assert!(u.https);
        assert_eq!(
            (u.host.as_str(), u.port, u.path.as_str()),
            ("::1", 5989, "/cimlistener/x")
        );
        for bad in [
            "ftp://x",
            "127.0.0.1:5990",
            "http://",
            "http://h:0",
            "http://h:99999",
            "http://u@h:1",
            "http://[::1",
            "http://h:1/a b",
        ] {
            assert!(ListenerUrl::parse(bad).is_err(), "{bad}");
        }
    }
}
