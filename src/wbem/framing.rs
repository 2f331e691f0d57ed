//! Request framing as the bytes arrive (sans I/O): which request heads on a connection carried both
//! `Transfer-Encoding` and `Content-Length`. hyper hides that case (RFC 9112 section 6.3 lets a server take
//! the chunked framing and drop Content-Length, which hyper does before the service sees the headers), but
//! this server refuses such a request outright, so it follows the connection's bytes itself: heads parsed with
//! httparse (hyper's own parser), bodies skipped by the framing the head declares, as hyper reads them.

/// Largest head followed; a longer one is refused by hyper, so following stops there.
const MAX_HEAD: usize = 64 * 1024;
/// Longest chunk-size line (with extensions) or trailer line followed.
const MAX_LINE: usize = 4096;
const MAX_HEADERS: usize = 128;

#[derive(Debug)]
enum State {
    /// Collecting a request head.
    Head(Vec<u8>),
    /// Body bytes left (Content-Length).
    Body(u64),
    /// A chunk-size line being collected.
    ChunkSize(Vec<u8>),
    /// Chunk data left, plus its CRLF.
    ChunkData(u64),
    /// Trailer lines after the last chunk, up to an empty line; the line so far.
    Trailers(Vec<u8>),
    /// Lost or done: nothing more is reported (the connection is being refused or hyper will refuse it).
    Off,
}

/// Follows one connection's request bytes.
#[derive(Debug)]
pub struct FramingTracker {
    state: State,
    /// Heads completed so far: the index the next one gets.
    heads: u64,
}

impl Default for FramingTracker {
    fn default() -> FramingTracker {
        FramingTracker {
            state: State::Head(Vec::new()),
            heads: 0,
        }
    }
}

/// What one complete head declares.
enum Framing {
    Conflict,
    Length(u64),
    Chunked,
    /// Something hyper refuses (bad Content-Length, a transfer coding not ending in chunked, a bad head).
    Refused,
}

fn head_framing(head: &[u8]) -> Option<(usize, Framing)> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let len = match req.parse(head) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return None,
        Err(_) => return Some((head.len(), Framing::Refused)),
    };
    let mut length: Option<u64> = None;
    let mut te: Option<&[u8]> = None;
    for h in req.headers.iter() {
        if h.name.eq_ignore_ascii_case("transfer-encoding") {
            te = Some(h.value);
        } else if h.name.eq_ignore_ascii_case("content-length") {
            let parsed = std::str::from_utf8(h.value)
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok());
            match (parsed, length) {
                (None, _) => length = Some(u64::MAX),
                (Some(n), None) => length = Some(n),
                (Some(n), Some(prev)) if n != prev => length = Some(u64::MAX),
                _ => {}
            }
        }
    }
    let framing = match (te, length) {
        (Some(_), Some(_)) => Framing::Conflict,
        (Some(value), None) => {
            let last = value.rsplit(|&b| b == b',').next().unwrap_or_default();
            if last.trim_ascii().eq_ignore_ascii_case(b"chunked") {
                Framing::Chunked
            } else {
                Framing::Refused
            }
        }
        (None, Some(u64::MAX)) => Framing::Refused,
        (None, Some(n)) => Framing::Length(n),
        (None, None) => Framing::Length(0),
    };
    Some((len, framing))
}

/// Collects up to and including the next LF into `line`; the bytes consumed, and whether the line is complete.
fn take_line(line: &mut Vec<u8>, bytes: &[u8]) -> (usize, bool) {
    match bytes.iter().position(|&b| b == b'\n') {
        Some(at) => {
            line.extend_from_slice(&bytes[..=at]);
            (at + 1, true)
        }
        None => {
            line.extend_from_slice(bytes);
            (bytes.len(), false)
        }
    }
}

impl FramingTracker {
    /// Whether a request head has begun and is not complete yet (the header deadline runs only then).
    pub fn head_in_progress(&self) -> bool {
        matches!(&self.state, State::Head(head) if !head.is_empty())
    }

    /// Takes bytes read from the connection; returns the index (0 for the first request) of a head among them
    /// that carries both Transfer-Encoding and Content-Length. Following stops after such a head.
    pub fn feed(&mut self, mut bytes: &[u8]) -> Option<u64> {
        while !bytes.is_empty() {
            let state = std::mem::replace(&mut self.state, State::Off);
            let (used, next) = match state {
                State::Off => return None,
                // A head that arrives whole in one read (the usual case) is parsed where it lies, not copied.
                State::Head(head) if head.is_empty() => {
                    match head_framing(&bytes[..bytes.len().min(MAX_HEAD)]) {
                        Some((len, framing)) => {
                            let index = self.heads;
                            self.heads += 1;
                            match framing {
                                Framing::Conflict => return Some(index),
                                Framing::Refused => (len, State::Off),
                                Framing::Length(0) => (len, State::Head(head)),
                                Framing::Length(n) => (len, State::Body(n)),
                                Framing::Chunked => (len, State::ChunkSize(Vec::new())),
                            }
                        }
                        None => {
                            let mut head = head;
                            let take = bytes.len().min(MAX_HEAD);
                            head.extend_from_slice(&bytes[..take]);
                            if head.len() >= MAX_HEAD {
                                (take, State::Off)
                            } else {
                                (take, State::Head(head))
                            }
                        }
                    }
                }
                State::Head(mut head) => {
                    let before = head.len();
                    // Only as much as the head can still use; the rest is fed again once it is parsed.
                    let take = bytes.len().min(MAX_HEAD.saturating_sub(before).max(1));
                    head.extend_from_slice(&bytes[..take]);
                    // Parsed only once the new bytes may end it (a blank line), so a head sent a byte at a
                    // time costs one parse, not one per byte.
                    let tail = &head[before.saturating_sub(2)..];
                    let may_end = tail.windows(2).any(|w| w == b"\n\n")
                        || tail.windows(3).any(|w| w == b"\n\r\n");
                    let parsed = if may_end { head_framing(&head) } else { None };
                    match parsed {
                        None if head.len() >= MAX_HEAD => (take, State::Off),
                        None => (take, State::Head(head)),
                        Some((len, framing)) => {
                            let used = len.saturating_sub(before).min(take);
                            let index = self.heads;
                            self.heads += 1;
                            match framing {
                                Framing::Conflict => return Some(index),
                                Framing::Refused => (used, State::Off),
                                Framing::Length(0) => (used, State::Head(Vec::new())),
                                Framing::Length(n) => (used, State::Body(n)),
                                Framing::Chunked => (used, State::ChunkSize(Vec::new())),
                            }
                        }
                    }
                }
                State::Body(left) => {
                    let take = u64::try_from(bytes.len()).unwrap_or(u64::MAX).min(left);
                    let left = left - take;
                    let used = usize::try_from(take).unwrap_or(bytes.len());
                    if left == 0 {
                        (used, State::Head(Vec::new()))
                    } else {
                        (used, State::Body(left))
                    }
                }
                State::ChunkSize(mut line) => {
                    let (used, complete) = take_line(&mut line, bytes);
                    if !complete {
                        if line.len() > MAX_LINE {
                            (used, State::Off)
                        } else {
                            (used, State::ChunkSize(line))
                        }
                    } else {
                        let text = std::str::from_utf8(&line).unwrap_or_default();
                        let size = text.split(';').next().unwrap_or_default().trim();
                        match u64::from_str_radix(size, 16) {
                            Ok(0) => (used, State::Trailers(Vec::new())),
                            Ok(n) => (used, State::ChunkData(n.saturating_add(2))),
                            Err(_) => (used, State::Off),
                        }
                    }
                }
                State::ChunkData(left) => {
                    let take = u64::try_from(bytes.len()).unwrap_or(u64::MAX).min(left);
                    let left = left - take;
                    let used = usize::try_from(take).unwrap_or(bytes.len());
                    if left == 0 {
                        (used, State::ChunkSize(Vec::new()))
                    } else {
                        (used, State::ChunkData(left))
                    }
                }
                State::Trailers(mut line) => {
                    let (used, complete) = take_line(&mut line, bytes);
                    if !complete {
                        if line.len() > MAX_LINE {
                            (used, State::Off)
                        } else {
                            (used, State::Trailers(line))
                        }
                    } else if line == b"\r\n" || line == b"\n" {
                        (used, State::Head(Vec::new()))
                    } else {
                        (used, State::Trailers(Vec::new()))
                    }
                }
            };
            self.state = next;
            bytes = &bytes[used..];
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(framing: &str, body: &str) -> String {
        format!("POST /cimom HTTP/1.1\r\nHost: x\r\n{framing}\r\n{body}")
    }

    /// Feeds `input` whole and split at every position; all must give `expected`.
    fn check(input: &str, expected: Option<u64>) {
        let mut whole = FramingTracker::default();
        assert_eq!(whole.feed(input.as_bytes()), expected, "{input:?}");
        for split in 1..input.len() {
            let (a, b) = input.as_bytes().split_at(split);
            let mut tracker = FramingTracker::default();
            let got = tracker.feed(a).or_else(|| tracker.feed(b));
            assert_eq!(got, expected, "{input:?} split at {split}");
        }
        let mut bytewise = FramingTracker::default();
        let got = input.bytes().find_map(|b| bytewise.feed(&[b]));
        assert_eq!(got, expected, "{input:?} byte by byte");
    }

    #[test]
    fn finds_the_head_with_both_framings_among_pipelined_requests() {
        let plain = request("Content-Length: 5\r\n", "hello");
        let chunked = request(
            "Transfer-Encoding: chunked\r\n",
            "5;ext=1\r\nhello\r\n3\r\n\r\n\r\r\n0\r\nTrailer: x\r\n\r\n",
        );
        let empty = "GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_string();
        let conflict = request(
            "Transfer-Encoding: chunked\r\nContent-Length: 3\r\n",
            "0\r\n\r\n",
        );
        let reversed = request(
            "Content-Length: 3\r\nTransfer-Encoding: chunked\r\n",
            "0\r\n\r\n",
        );
        check(&plain, None);
        check(&chunked, None);
        check(&format!("{plain}{chunked}{empty}{plain}"), None);
        check(&conflict, Some(0));
        check(&reversed, Some(0));
        check(&format!("{plain}{chunked}{conflict}{plain}"), Some(2));
        check(&format!("{empty}{reversed}"), Some(1));
        // A body that looks like a conflicting head is a body.
        let inner = request("Content-Length: 0\r\nTransfer-Encoding: chunked\r\n", "");
        let carrier = request(&format!("Content-Length: {}\r\n", inner.len()), &inner);
        check(&format!("{carrier}{plain}"), None);
        // Bare LF line ends, as httparse accepts them.
        check(
            "POST / HTTP/1.1\nTransfer-Encoding: chunked\nContent-Length: 1\n\n0\n\n",
            Some(0),
        );
        // Heads hyper refuses stop the following.
        check(
            &format!("{}{conflict}", request("Content-Length: x\r\n", "")),
            None,
        );
    }

    #[test]
    fn a_head_is_in_progress_from_its_first_byte_to_its_end() {
        let mut tracker = FramingTracker::default();
        assert!(!tracker.head_in_progress());
        tracker.feed(b"POST /cimom HTTP/1.1\r\nContent-Length: 3\r\n");
        assert!(tracker.head_in_progress());
        tracker.feed(b"\r\nab");
        assert!(!tracker.head_in_progress(), "in the body");
        tracker.feed(b"c");
        assert!(!tracker.head_in_progress(), "between requests");
        tracker.feed(b"P");
        assert!(tracker.head_in_progress());
    }
}
