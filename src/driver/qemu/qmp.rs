//! QMP, QEMU's JSON monitor protocol: a sans-IO core (line framing with caps, message decoding, command encoding)
//! and a tokio client (one task per connection; commands matched to replies by id; events forwarded; a monitor
//! that dies, hangs or writes garbage ends the connection with a reason instead of blocking anyone).

use serde_json::{Map, Value};
use std::collections::HashMap;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;
use tokio::sync::{mpsc, oneshot, Notify};

/// The longest line accepted from QEMU (libvirt's `QEMU_MONITOR_MAX_RESPONSE`): the driver's own replies are
/// small, but a pass-through command (`qemu-monitor-command`) may ask for a large one.
pub const MAX_LINE: usize = 10 << 20;
/// How long a caller waits for a command's answer. A command that outlives it is not yet a hung monitor: QEMU
/// is declared hung only when, after that, it stays silent for as long again (a busy host can make a
/// `device_add` slow; a stopped QEMU says nothing at all).
pub const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a QMP exchange failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QmpError {
    #[error("QMP line longer than {MAX_LINE} bytes")]
    LineTooLong,
    #[error("QMP message is not valid JSON: {0}")]
    BadJson(String),
    #[error("QMP message has an unexpected shape: {0}")]
    BadMessage(String),
    #[error("QEMU refused '{command}': {class}: {desc}")]
    Command {
        command: String,
        class: String,
        desc: String,
    },
    #[error("QMP command '{0}' timed out")]
    Timeout(String),
    #[error("the QMP connection is closed: {0}")]
    Closed(String),
    #[error("cannot connect to QMP socket: {0}")]
    Connect(String),
}

/// One message from QEMU.
#[derive(Debug, Clone, PartialEq)]
pub enum QmpMessage {
    Greeting {
        version: String,
    },
    Return {
        id: Option<String>,
        value: Value,
    },
    Error {
        id: Option<String>,
        class: String,
        desc: String,
    },
    Event {
        name: String,
        data: Value,
    },
}

/// Splits a byte stream into lines, refusing any line over the cap before buffering more of it.
#[derive(Default)]
pub struct LineReader {
    buf: Vec<u8>,
}

impl LineReader {
    /// Adds bytes and returns the complete lines they finish (without the newline).
    pub fn push(&mut self, bytes: &[u8]) -> Result<Vec<Vec<u8>>, QmpError> {
        let mut lines = Vec::new();
        for chunk in bytes.split_inclusive(|b| *b == b'\n') {
            let complete = chunk.last() == Some(&b'\n');
            let body = if complete {
                &chunk[..chunk.len() - 1]
            } else {
                chunk
            };
            if self.buf.len() + body.len() > MAX_LINE {
                return Err(QmpError::LineTooLong);
            }
            self.buf.extend_from_slice(body);
            if complete {
                let mut line = std::mem::take(&mut self.buf);
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                if !line.iter().all(u8::is_ascii_whitespace) {
                    lines.push(line);
                }
            }
        }
        Ok(lines)
    }
}

fn id_of(object: &Map<String, Value>) -> Option<String> {
    match object.get("id") {
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => Some(other.to_string()),
        None => None,
    }
}

/// Decodes one line from QEMU.
pub fn parse_message(line: &[u8]) -> Result<QmpMessage, QmpError> {
    let value: Value =
        serde_json::from_slice(line).map_err(|e| QmpError::BadJson(e.to_string()))?;
    let Value::Object(object) = value else {
        return Err(QmpError::BadMessage("not a JSON object".into()));
    };
    if let Some(greeting) = object.get("QMP") {
        let version = greeting
            .pointer("/version/qemu")
            .map(|v| {
                let part = |k: &str| v.get(k).and_then(Value::as_u64).unwrap_or(0);
                format!("{}.{}.{}", part("major"), part("minor"), part("micro"))
            })
            .unwrap_or_default();
        return Ok(QmpMessage::Greeting { version });
    }
    if let Some(value) = object.get("return") {
        return Ok(QmpMessage::Return {
            id: id_of(&object),
            value: value.clone(),
        });
    }
    if let Some(error) = object.get("error") {
        let text = |k: &str| {
            error
                .get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        return Ok(QmpMessage::Error {
            id: id_of(&object),
            class: text("class"),
            desc: text("desc"),
        });
    }
    if let Some(Value::String(name)) = object.get("event") {
        return Ok(QmpMessage::Event {
            name: name.clone(),
            data: object.get("data").cloned().unwrap_or(Value::Null),
        });
    }
    Err(QmpError::BadMessage(
        "neither greeting, return, error nor event".into(),
    ))
}

/// Encodes a command with its id, newline-terminated.
pub fn encode_command(command: &str, arguments: Option<&Value>, id: &str) -> Vec<u8> {
    let mut object = Map::new();
    object.insert("execute".into(), Value::String(command.into()));
    if let Some(arguments) = arguments {
        object.insert("arguments".into(), arguments.clone());
    }
    object.insert("id".into(), Value::String(id.into()));
    let mut bytes = Value::Object(object).to_string().into_bytes();
    bytes.push(b'\n');
    bytes
}

/// What the connection task reports to its owner.
#[derive(Debug, Clone, PartialEq)]
pub enum MonitorEvent {
    /// An asynchronous QMP event.
    Event { name: String, data: Value },
    /// The connection ended (EOF, I/O error, garbage, or a command that timed out); the last message.
    Closed { why: String },
}

struct Request {
    command: String,
    arguments: Option<Value>,
    /// A file descriptor sent along with the command (SCM_RIGHTS), as `getfd` and `add-fd` expect.
    fd: Option<OwnedFd>,
    /// A caller's own command object, sent as it is (with our id added); its whole reply comes back.
    raw: Option<Map<String, Value>>,
    reply: oneshot::Sender<Result<Value, QmpError>>,
}

/// A connected, negotiated QMP client. Dropping it closes the connection (QEMU keeps running).
pub struct QmpClient {
    requests: mpsc::Sender<Request>,
    hung: Arc<Notify>,
    timeout: Duration,
    version: String,
}

impl std::fmt::Debug for QmpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QmpClient")
            .field("version", &self.version)
            .finish()
    }
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

async fn read_message(
    stream: &mut UnixStream,
    reader: &mut LineReader,
    pending: &mut Vec<Vec<u8>>,
) -> Result<QmpMessage, QmpError> {
    loop {
        if !pending.is_empty() {
            let line = pending.remove(0);
            return parse_message(&line);
        }
        let mut chunk = [0u8; 4096];
        let n = stream
            .read(&mut chunk)
            .await
            .map_err(|e| QmpError::Closed(e.to_string()))?;
        if n == 0 {
            return Err(QmpError::Closed("end of file".into()));
        }
        pending.extend(reader.push(&chunk[..n])?);
    }
}

impl QmpClient {
    /// Connects to `path`, reads the greeting and negotiates capabilities, all within `timeout`; then serves the
    /// connection on a task. Events arrive on the returned receiver, which ends with [`MonitorEvent::Closed`].
    pub async fn connect(
        path: &Path,
        timeout: Duration,
    ) -> Result<(Self, mpsc::Receiver<MonitorEvent>), QmpError> {
        let handshake = async {
            let mut stream = UnixStream::connect(path)
                .await
                .map_err(|e| QmpError::Connect(format!("{}: {e}", path.display())))?;
            let mut reader = LineReader::default();
            let mut pending = Vec::new();
            let version = match read_message(&mut stream, &mut reader, &mut pending).await? {
                QmpMessage::Greeting { version } => version,
                other => {
                    return Err(QmpError::BadMessage(format!(
                        "expected a greeting, got {other:?}"
                    )))
                }
            };
            stream
                .write_all(&encode_command("qmp_capabilities", None, "negotiate"))
                .await
                .map_err(|e| QmpError::Closed(e.to_string()))?;
            loop {
                match read_message(&mut stream, &mut reader, &mut pending).await? {
                    QmpMessage::Return { .. } => break,
                    QmpMessage::Error { class, desc, .. } => {
                        return Err(QmpError::Command {
                            command: "qmp_capabilities".into(),
                            class,
                            desc,
                        })
                    }
                    // Events may come before the reply; nobody is listening yet.
                    _ => {}
                }
            }
            Ok((stream, reader, pending, version))
        };
        let (stream, reader, pending, version) =
            tokio::time::timeout(timeout, handshake)
                .await
                .map_err(|_| QmpError::Timeout("qmp_capabilities".into()))??;
        let (requests, request_rx) = mpsc::channel(16);
        let (events, event_rx) = mpsc::channel(64);
        let hung = Arc::new(Notify::new());
        tokio::spawn(serve(
            stream,
            reader,
            pending,
            request_rx,
            events,
            Arc::clone(&hung),
            timeout,
        ));
        Ok((
            Self {
                requests,
                hung,
                timeout,
                version,
            },
            event_rx,
        ))
    }

    /// QEMU's version from the greeting ("7.2.22").
    pub fn version(&self) -> &str {
        &self.version
    }

    /// Runs one command and returns its `return` value. A timeout makes the monitor suspect: if QEMU then says
    /// nothing more for another timeout, the connection is closed as hung.
    pub async fn execute(
        &self,
        command: &str,
        arguments: Option<Value>,
    ) -> Result<Value, QmpError> {
        self.exchange(command, arguments, None, None).await
    }

    /// Runs one command with a file descriptor passed alongside (`getfd`): QEMU receives its own copy.
    pub async fn execute_with_fd(
        &self,
        command: &str,
        arguments: Option<Value>,
        fd: OwnedFd,
    ) -> Result<Value, QmpError> {
        self.exchange(command, arguments, None, Some(fd)).await
    }

    /// Sends a caller's command object as it is (an `id` is added) and returns QEMU's whole reply object, an
    /// error reply included: what libvirt's `qemu-monitor-command` passes through.
    pub async fn execute_raw(&self, command: Map<String, Value>) -> Result<Value, QmpError> {
        let name = command
            .get("execute")
            .and_then(Value::as_str)
            .unwrap_or("(no execute)")
            .to_string();
        self.exchange(&name, None, Some(command), None).await
    }

    async fn exchange(
        &self,
        command: &str,
        arguments: Option<Value>,
        raw: Option<Map<String, Value>>,
        fd: Option<OwnedFd>,
    ) -> Result<Value, QmpError> {
        let (reply, answer) = oneshot::channel();
        let request = Request {
            command: command.into(),
            arguments,
            fd,
            raw,
            reply,
        };
        let exchange = async {
            self.requests
                .send(request)
                .await
                .map_err(|_| QmpError::Closed("connection task ended".into()))?;
            answer
                .await
                .map_err(|_| QmpError::Closed("connection task ended".into()))?
        };
        match tokio::time::timeout(self.timeout, exchange).await {
            Ok(result) => result,
            Err(_) => {
                self.hung.notify_one();
                Err(QmpError::Timeout(command.into()))
            }
        }
    }
}

/// Writes `bytes` with `fd` attached to the first chunk (SCM_RIGHTS); the rest, if the socket took only part,
/// goes as plain bytes.
async fn write_with_fd(stream: &mut UnixStream, bytes: &[u8], fd: &OwnedFd) -> std::io::Result<()> {
    use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
    let fds = [fd.as_raw_fd()];
    let sent = loop {
        stream.writable().await?;
        let attempt = stream.try_io(tokio::io::Interest::WRITABLE, || {
            let cmsgs = [ControlMessage::ScmRights(&fds)];
            sendmsg::<()>(
                stream.as_raw_fd(),
                &[std::io::IoSlice::new(bytes)],
                &cmsgs,
                MsgFlags::MSG_NOSIGNAL,
                None,
            )
            .map_err(std::io::Error::from)
        });
        match attempt {
            Ok(n) => break n,
            Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(err) => return Err(err),
        }
    };
    stream.write_all(&bytes[sent..]).await
}

/// A command in flight: its name, whether its caller wants the whole reply object, and where the answer goes.
type Waiting = (String, bool, oneshot::Sender<Result<Value, QmpError>>);

/// The connection task: writes requests, matches replies by id, forwards events, ends on the first fault.
async fn serve(
    mut stream: UnixStream,
    mut reader: LineReader,
    mut pending_lines: Vec<Vec<u8>>,
    mut requests: mpsc::Receiver<Request>,
    events: mpsc::Sender<MonitorEvent>,
    hung: Arc<Notify>,
    grace: Duration,
) {
    // Set when a caller gave up waiting; cleared by anything QEMU says.
    let mut silent_until: Option<tokio::time::Instant> = None;
    let mut waiting: HashMap<String, Waiting> = HashMap::new();
    let why = 'conn: loop {
        // Lines already buffered are handled before reading more.
        while !pending_lines.is_empty() {
            let line = pending_lines.remove(0);
            let message = parse_message(&line);
            let whole = match &message {
                Ok(
                    QmpMessage::Return { id: Some(id), .. }
                    | QmpMessage::Error { id: Some(id), .. },
                ) => waiting.get(id).is_some_and(|(_, whole, _)| *whole),
                _ => false,
            };
            if whole {
                if let Ok(
                    QmpMessage::Return { id: Some(id), .. }
                    | QmpMessage::Error { id: Some(id), .. },
                ) = &message
                {
                    if let Some((_, _, reply)) = waiting.remove(id) {
                        let _ = reply.send(
                            serde_json::from_slice(&line)
                                .map_err(|e| QmpError::BadJson(e.to_string())),
                        );
                    }
                }
                continue;
            }
            match message {
                Ok(QmpMessage::Event { name, data }) => {
                    if events
                        .send(MonitorEvent::Event { name, data })
                        .await
                        .is_err()
                    {
                        break 'conn None;
                    }
                }
                Ok(QmpMessage::Return { id, value }) => {
                    if let Some((_, _, reply)) = id.and_then(|id| waiting.remove(&id)) {
                        let _ = reply.send(Ok(value));
                    }
                }
                Ok(QmpMessage::Error { id, class, desc }) => {
                    if let Some((command, _, reply)) = id.and_then(|id| waiting.remove(&id)) {
                        let _ = reply.send(Err(QmpError::Command {
                            command,
                            class,
                            desc,
                        }));
                    }
                }
                Ok(QmpMessage::Greeting { .. }) => {
                    break 'conn Some("unexpected second greeting".to_string())
                }
                Err(err) => break 'conn Some(err.to_string()),
            }
        }
        let mut chunk = [0u8; 4096];
        tokio::select! {
            request = requests.recv() => {
                let Some(request) = request else { break 'conn None };
                let id = format!("virtcim-{}", NEXT_ID.fetch_add(1, Ordering::Relaxed));
                let whole = request.raw.is_some();
                let bytes = match request.raw {
                    Some(mut object) => {
                        object.insert("id".into(), Value::String(id.clone()));
                        let mut bytes = Value::Object(object).to_string().into_bytes();
                        bytes.push(b'\n');
                        bytes
                    }
                    None => encode_command(&request.command, request.arguments.as_ref(), &id),
                };
                let written = match request.fd {
                    Some(fd) => write_with_fd(&mut stream, &bytes, &fd).await,
                    None => stream.write_all(&bytes).await,
                };
                if let Err(err) = written {
                    let _ = request.reply.send(Err(QmpError::Closed(err.to_string())));
                    break 'conn Some(format!("write failed: {err}"));
                }
                waiting.insert(id, (request.command, whole, request.reply));
            }
            read = stream.read(&mut chunk) => {
                match read {
                    Ok(0) => break 'conn Some("QEMU closed the monitor (end of file)".to_string()),
                    Ok(n) => match reader.push(&chunk[..n]) {
                        Ok(lines) => {
                            silent_until = None;
                            pending_lines.extend(lines);
                        }
                        Err(err) => break 'conn Some(err.to_string()),
                    },
                    Err(err) => break 'conn Some(format!("read failed: {err}")),
                }
            }
            () = hung.notified() => {
                silent_until.get_or_insert_with(|| tokio::time::Instant::now() + grace);
            }
            () = async {
                match silent_until {
                    Some(deadline) => tokio::time::sleep_until(deadline).await,
                    None => std::future::pending().await,
                }
            } => break 'conn Some("a QMP command timed out and QEMU stayed silent: the monitor is hung".to_string()),
        }
    };
    for (_, (_, _, reply)) in waiting.drain() {
        let _ = reply.send(Err(QmpError::Closed(
            why.clone().unwrap_or_else(|| "client closed".into()),
        )));
    }
    if let Some(why) = why {
        let _ = events.send(MonitorEvent::Closed { why }).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use tokio::io::{AsyncBufReadExt, BufReader};
    use tokio::net::UnixListener;

    const GREETING: &[u8] = br#"{"QMP": {"version": {"qemu": {"micro": 22, "minor": 2, "major": 7}, "package": ""}, "capabilities": ["oob"]}}"#;

    #[test]
    fn lines_are_split_across_chunks() {
        let mut reader = LineReader::default();
        assert!(reader.push(b"{\"a\"").unwrap().is_empty());
        let lines = reader.push(b":1}\r\n{\"b\":2}\n\n{\"c\"").unwrap();
        assert_eq!(lines, vec![b"{\"a\":1}".to_vec(), b"{\"b\":2}".to_vec()]);
        assert_eq!(reader.push(b":3}\n").unwrap(), vec![b"{\"c\":3}".to_vec()]);
    }

    #[test]
    fn an_endless_line_is_refused_at_the_cap() {
        let mut reader = LineReader::default();
        let chunk = vec![b'x'; 64 * 1024];
        let mut result = Ok(Vec::new());
        for _ in 0..=(MAX_LINE / chunk.len()) {
            result = reader.push(&chunk);
            if result.is_err() {
                break;
            }
        }
        assert_eq!(result, Err(QmpError::LineTooLong));
    }

    #[test]
    fn messages_decode() {
        assert_eq!(
            parse_message(GREETING).unwrap(),
            QmpMessage::Greeting {
                version: "7.2.22".into()
            }
        );
        assert_eq!(
            parse_message(br#"{"return": {"status": "running"}, "id": "x1"}"#).unwrap(),
            QmpMessage::Return {
                id: Some("x1".into()),
                value: json!({"status": "running"})
            }
        );
        assert_eq!(
            parse_message(br#"{"error": {"class": "GenericError", "desc": "no"}, "id": "x2"}"#)
                .unwrap(),
            QmpMessage::Error {
                id: Some("x2".into()),
                class: "GenericError".into(),
                desc: "no".into()
            }
        );
        assert_eq!(
            parse_message(br#"{"timestamp": {"seconds": 1, "microseconds": 2}, "event": "SHUTDOWN", "data": {"guest": true}}"#).unwrap(),
            QmpMessage::Event { name: "SHUTDOWN".into(), data: json!({"guest": true}) }
        );
    }

    #[test]
    fn garbage_is_refused() {
        assert!(matches!(
            parse_message(b"\xff\xfe"),
            Err(QmpError::BadJson(_))
        ));
        assert!(matches!(
            parse_message(b"[1,2]"),
            Err(QmpError::BadMessage(_))
        ));
        assert!(matches!(
            parse_message(b"{\"x\":1}"),
            Err(QmpError::BadMessage(_))
        ));
        assert!(matches!(
            parse_message(b"{\"return\":1} trailing"),
            Err(QmpError::BadJson(_))
        ));
    }

    #[test]
    fn commands_encode_with_id_and_newline() {
        let bytes = encode_command("balloon", Some(&json!({"value": 1024})), "id7");
        assert_eq!(bytes.last(), Some(&b'\n'));
        assert_eq!(bytes.iter().filter(|b| **b == b'\n').count(), 1);
        let value: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(
            value,
            json!({"execute": "balloon", "arguments": {"value": 1024}, "id": "id7"})
        );
        let bare: Value = serde_json::from_slice(&encode_command("stop", None, "i")).unwrap();
        assert_eq!(bare, json!({"execute": "stop", "id": "i"}));
    }

    /// A scripted QEMU: greets, answers negotiation, then runs `script` with the stream.
    async fn fake_qemu<F, Fut>(script: F) -> (tempfile::TempDir, std::path::PathBuf)
    where
        F: FnOnce(BufReader<UnixStream>) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()> + Send,
    {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("qmp.sock");
        let listener = UnixListener::bind(&path).unwrap();
        tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let mut stream = BufReader::new(stream);
            stream.get_mut().write_all(GREETING).await.unwrap();
            stream.get_mut().write_all(b"\n").await.unwrap();
            let mut line = String::new();
            stream.read_line(&mut line).await.unwrap();
            assert!(line.contains("qmp_capabilities"), "{line}");
            stream
                .get_mut()
                .write_all(b"{\"return\": {}, \"id\": \"negotiate\"}\n")
                .await
                .unwrap();
            script(stream).await;
        });
        (dir, path)
    }

    fn id_in(line: &str) -> String {
        let value: Value = serde_json::from_str(line).unwrap();
        value["id"].as_str().unwrap().to_string()
    }

    #[tokio::test]
    async fn replies_are_matched_by_id_and_events_forwarded() {
        let (_dir, path) = fake_qemu(|mut stream| async move {
            let mut line = String::new();
            stream.read_line(&mut line).await.unwrap();
            let id = id_in(&line);
            let reply = format!(
                "{{\"event\":\"STOP\",\"data\":{{}}}}\n{{\"return\":{{\"status\":\"paused\"}},\"id\":\"other\"}}\n{{\"return\":{{\"status\":\"running\"}},\"id\":\"{id}\"}}\n"
            );
            stream.get_mut().write_all(reply.as_bytes()).await.unwrap();
            // Then QEMU dies.
        })
        .await;
        let (client, mut events) = QmpClient::connect(&path, Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(client.version(), "7.2.22");
        let value = client.execute("query-status", None).await.unwrap();
        assert_eq!(value["status"], "running");
        assert_eq!(
            events.recv().await.unwrap(),
            MonitorEvent::Event {
                name: "STOP".into(),
                data: json!({})
            }
        );
        assert!(
            matches!(events.recv().await.unwrap(), MonitorEvent::Closed { why } if why.contains("end of file"))
        );
        assert!(matches!(
            client.execute("query-status", None).await,
            Err(QmpError::Closed(_))
        ));
    }

    #[tokio::test]
    async fn errors_garbage_and_hangs_end_cleanly() {
        // An error reply, then garbage.
        let (_dir, path) = fake_qemu(|mut stream| async move {
            let mut line = String::new();
            stream.read_line(&mut line).await.unwrap();
            let id = id_in(&line);
            let reply = format!(
                "{{\"error\":{{\"class\":\"DeviceNotActive\",\"desc\":\"No balloon device has been activated\"}},\"id\":\"{id}\"}}\nthis is not json\n"
            );
            stream.get_mut().write_all(reply.as_bytes()).await.unwrap();
            tokio::time::sleep(Duration::from_secs(5)).await;
        })
        .await;
        let (client, mut events) = QmpClient::connect(&path, Duration::from_secs(5))
            .await
            .unwrap();
        let err = client
            .execute("balloon", Some(json!({"value": 1})))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, QmpError::Command { class, .. } if class == "DeviceNotActive"),
            "{err}"
        );
        assert!(
            matches!(events.recv().await.unwrap(), MonitorEvent::Closed { why } if why.contains("not valid JSON"))
        );

        // A monitor that never answers.
        let (_dir2, path2) = fake_qemu(|stream| async move {
            tokio::time::sleep(Duration::from_secs(5)).await;
            drop(stream);
        })
        .await;
        let (client, mut events) = QmpClient::connect(&path2, Duration::from_millis(200))
            .await
            .unwrap();
        let err = client.execute("query-status", None).await.unwrap_err();
        assert_eq!(err, QmpError::Timeout("query-status".into()));
        assert!(
            matches!(events.recv().await.unwrap(), MonitorEvent::Closed { why } if why.contains("hung"))
        );
    }

    #[tokio::test]
    async fn a_silent_peer_fails_the_handshake_at_the_deadline() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("qmp.sock");
        let _listener = UnixListener::bind(&path).unwrap();
        let err = QmpClient::connect(&path, Duration::from_millis(200))
            .await
            .unwrap_err();
        assert_eq!(err, QmpError::Timeout("qmp_capabilities".into()));
    }
}
