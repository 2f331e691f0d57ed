//! The QEMU guest agent: a client for `qemu-ga` on the guest's `org.qemu.guest_agent.0` channel (QEMU listens on
//! the channel's unix socket; the guest's agent answers on the port's other end), and the domain calls that go
//! through it, with libvirt's checks, timeouts and errors.
//!
//! Each exchange is preceded by `guest-sync-delimited` with a fresh id: the agent answers it behind a 0xFF byte,
//! so whatever a timed-out earlier command left in the stream is skipped. Whether the guest has the port open at
//! all is QEMU's `frontend-open` of the channel's chardev: a closed port is "not connected" at once, as libvirt
//! knows it from its VSERPORT_CHANGE events.

use super::{check_flags, devices, no_domain, QemuDriver};
use crate::driver::{
    DomainRef, DomainState, FsInfo, GuestInterface, IpAddress, TypedParam, TypedValue,
};
use crate::error::{Error, ErrorCode, ErrorDomain, Result};
use crate::model::tunables::{format_cpu_list, parse_cpu_list};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;
use uuid::Uuid;

/// `VIR_DOMAIN_AGENT_RESPONSE_TIMEOUT_BLOCK` / `_DEFAULT` / `_NOWAIT` (the same values as
/// `VIR_DOMAIN_QEMU_AGENT_COMMAND_*`).
pub(super) const TIMEOUT_BLOCK: i32 = -2;
const TIMEOUT_DEFAULT: i32 = -1;
/// `VIR_DOMAIN_QEMU_AGENT_COMMAND_SHUTDOWN`: what libvirt waits for a `guest-shutdown`.
const TIMEOUT_SHUTDOWN: i32 = 60;
/// libvirt's `QEMU_AGENT_WAIT_TIME`: the default wait, and the longest a sync waits.
const WAIT_SECONDS: i32 = 5;
/// A reply line longer than this is refused (libvirt caps agent replies too).
const MAX_REPLY: usize = 16 << 20;

/// `VIR_DOMAIN_SHUTDOWN_GUEST_AGENT` and `VIR_DOMAIN_REBOOT_GUEST_AGENT` (the same bit).
pub(super) const REBOOT_GUEST_AGENT: u32 = 2;

/// libvirt's taint for a raw agent command.
pub(super) const TAINT_CUSTOM_GA_COMMAND: &str = "custom-ga-command";

/// What each domain's agent has: the open connection of the current run, and the response timeout a client set.
#[derive(Default)]
pub(super) struct Agents {
    links: Mutex<HashMap<Uuid, (u64, SharedLink)>>,
    timeouts: Mutex<HashMap<Uuid, i32>>,
}

impl Agents {
    fn link(&self, uuid: Uuid, generation: u64) -> SharedLink {
        let mut links = self.links.lock().unwrap_or_else(|e| e.into_inner());
        let entry = links
            .entry(uuid)
            .or_insert_with(|| (generation, Arc::default()));
        if entry.0 != generation {
            *entry = (generation, Arc::default());
        }
        entry.1.clone()
    }

    fn timeout(&self, uuid: &Uuid) -> i32 {
        *self
            .timeouts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(uuid)
            .unwrap_or(&TIMEOUT_BLOCK)
    }
}

/// A run's agent connection, taken by one exchange at a time (libvirt serialises agent jobs too).
type SharedLink = Arc<tokio::sync::Mutex<Option<Link>>>;

/// One open connection to the channel's socket and what has been read from it and not consumed.
struct Link {
    stream: UnixStream,
    buffer: Vec<u8>,
}

fn unresponsive(detail: &str) -> Error {
    Error::with_detail(ErrorCode::AGENT_UNRESPONSIVE, ErrorDomain::QEMU, detail)
}

fn not_configured() -> Error {
    Error::with_detail(
        ErrorCode::ARGUMENT_UNSUPPORTED,
        ErrorDomain::QEMU,
        "QEMU guest agent is not configured",
    )
}

fn not_available_now() -> Error {
    unresponsive("Guest agent not available for now")
}

fn disappeared() -> Error {
    unresponsive("Guest agent disappeared while executing command")
}

/// The deadline of a wait of `seconds` (libvirt's meaning: BLOCK waits forever, DEFAULT is 5 s).
fn deadline(seconds: i32) -> Option<Instant> {
    match seconds {
        s if s <= TIMEOUT_BLOCK => None,
        TIMEOUT_DEFAULT => Some(Instant::now() + Duration::from_secs(WAIT_SECONDS as u64)),
        s => Some(Instant::now() + Duration::from_secs(u64::try_from(s).unwrap_or(0))),
    }
}

/// libvirt's readable text for an agent error class without a description.
fn error_class_text(class: Option<&str>) -> String {
    match class {
        Some("BufferOverrun") => "Buffer overrun".into(),
        Some("CommandDisabled") => "The command has been disabled for this instance".into(),
        Some("CommandNotFound") => "The command has not been found".into(),
        Some("FdNotFound") => "File descriptor not found".into(),
        Some("InvalidParameter") => "Invalid parameter".into(),
        Some("InvalidParameterType") => "Invalid parameter type".into(),
        Some("InvalidParameterValue") => "Invalid parameter value".into(),
        Some("OpenFileFailed") => "Cannot open file".into(),
        Some("QgaCommandFailed") => "Guest agent command failed".into(),
        Some("QMPBadInputObjectMember") => "Bad QMP input object member".into(),
        Some("QMPExtraInputObjectMember") => "Unexpected extra object member".into(),
        Some("UndefinedError") => "An undefined error has occurred".into(),
        Some("Unsupported") => "this feature or command is not currently supported".into(),
        Some(other) => other.into(),
        None => "unknown QEMU command error".into(),
    }
}

/// An agent reply checked as libvirt's `qemuAgentCheckError` does.
fn check_reply(command: &str, reply: &Value) -> Result<()> {
    if let Some(error) = reply.get("error") {
        let detail = error["desc"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| error_class_text(error["class"].as_str()));
        return Err(Error::internal(
            ErrorDomain::QEMU,
            format!("unable to execute QEMU agent command '{command}': {detail}"),
        ));
    }
    if reply.get("return").is_none() {
        return Err(Error::internal(
            ErrorDomain::QEMU,
            format!("unable to execute QEMU agent command '{command}'"),
        ));
    }
    Ok(())
}

/// Splits one line off `buffer` (without its newline).
fn take_line(buffer: &mut Vec<u8>) -> Option<Vec<u8>> {
    let at = buffer.iter().position(|b| *b == b'\n')?;
    let mut line: Vec<u8> = buffer.drain(..=at).collect();
    line.pop();
    Some(line)
}

impl Link {
    /// Reads more bytes until `until` passes; false on EOF.
    async fn fill(&mut self, until: Option<Instant>) -> Result<bool> {
        let mut chunk = [0u8; 4096];
        let read = self.stream.read(&mut chunk);
        let n = match until {
            Some(at) => tokio::time::timeout_at(at.into(), read)
                .await
                .map_err(|_| not_available_now())?,
            None => read.await,
        }
        .map_err(|_| disappeared())?;
        if n == 0 {
            return Ok(false);
        }
        if self.buffer.len() + n > MAX_REPLY {
            self.buffer.clear();
            return Err(Error::internal(ErrorDomain::QEMU, "agent reply too long"));
        }
        self.buffer.extend_from_slice(&chunk[..n]);
        Ok(true)
    }

    /// The next JSON line; None on EOF.
    async fn line(&mut self, until: Option<Instant>) -> Result<Option<Value>> {
        loop {
            if let Some(line) = take_line(&mut self.buffer) {
                let text = String::from_utf8_lossy(&line);
                if text.trim().is_empty() {
                    continue;
                }
                return serde_json::from_str(text.trim()).map(Some).map_err(|err| {
                    Error::internal(
                        ErrorDomain::QEMU,
                        format!("cannot parse json {text}: {err}"),
                    )
                });
            }
            if !self.fill(until).await? {
                return Ok(None);
            }
        }
    }

    async fn send(&mut self, bytes: &[u8]) -> Result<()> {
        self.stream
            .write_all(bytes)
            .await
            .map_err(|_| disappeared())
    }

    /// `guest-sync-delimited`: the agent's parser is reset (a 0xFF from us), and its reply to a fresh id comes
    /// behind a 0xFF from it; everything before that is left over from earlier exchanges.
    async fn sync(&mut self, seconds: i32) -> Result<()> {
        let id = u64::from(std::process::id()) << 32
            | u64::from(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.subsec_nanos())
                    .unwrap_or(0),
            );
        let until = deadline(seconds);
        let mut request = vec![0xFF];
        request.extend_from_slice(
            format!(
                "{}\n",
                json!({"execute": "guest-sync-delimited", "arguments": {"id": id}})
            )
            .as_bytes(),
        );
        self.send(&request).await?;
        loop {
            if let Some(at) = self.buffer.iter().position(|b| *b == 0xFF) {
                self.buffer.drain(..=at);
                match self.line(until).await? {
                    Some(reply) if reply["return"].as_u64() == Some(id) => return Ok(()),
                    Some(_) => continue,
                    None => return Err(disappeared()),
                }
            }
            self.buffer.clear();
            if !self.fill(until).await? {
                return Err(disappeared());
            }
        }
    }
}

/// How an agent command ends besides its reply: `guest-shutdown` and `guest-suspend-*` may not answer at all,
/// the guest's power change (seen on QMP) tells it is done.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Await {
    Reply,
    State(DomainState),
    Gone,
}

impl QemuDriver {
    /// Checks libvirt's `qemuDomainAgentAvailable`: the domain runs (not paused), has the agent's channel, and
    /// the guest has its port open. Returns the channel's socket and the run's generation.
    async fn agent_available(&self, dom: &DomainRef) -> Result<(PathBuf, u64)> {
        let (state, def, generation) = {
            let domains = self.domains();
            let obj = domains.get(&dom.uuid).ok_or_else(no_domain)?;
            let generation = obj.run.as_ref().map(|r| r.generation);
            (obj.state, obj.def().clone(), generation)
        };
        let Some(generation) = generation.filter(|_| state == DomainState::Running) else {
            return Err(Error::operation_invalid(
                ErrorDomain::QEMU,
                "domain is not running",
            ));
        };
        let Some(path) = agent_socket(&def) else {
            return Err(if devices::has_agent_channel(&def) {
                unresponsive("QEMU guest agent is not connected")
            } else {
                not_configured()
            });
        };
        let qmp = self.monitor(dom)?;
        let chardevs = qmp.execute("query-chardev", None).await.ok();
        let open = chardevs
            .as_ref()
            .and_then(Value::as_array)
            .and_then(|list| {
                list.iter()
                    .find(|c| {
                        c["filename"]
                            .as_str()
                            .is_some_and(|f| f.contains(&*path.to_string_lossy()))
                    })
                    .and_then(|c| c["frontend-open"].as_bool())
            });
        if open == Some(false) {
            return Err(unresponsive("QEMU guest agent is not connected"));
        }
        Ok((path, generation))
    }

    /// Runs one agent command: available, synced, sent, and its reply checked (`Ok(None)` when the command
    /// ended by the awaited power change instead of a reply).
    async fn agent_exchange(
        &self,
        dom: &DomainRef,
        command: &Value,
        seconds: i32,
        awaiting: Await,
    ) -> Result<Option<Value>> {
        let (path, generation) = self.agent_available(dom).await?;
        let name = command["execute"]
            .as_str()
            .unwrap_or("<unknown>")
            .to_string();
        let link = self.shared.agents.link(dom.uuid, generation);
        let mut guard = link.lock().await;
        if guard.is_none() {
            let stream = UnixStream::connect(&path)
                .await
                .map_err(|_| unresponsive("QEMU guest agent is not connected"))?;
            *guard = Some(Link {
                stream,
                buffer: Vec::new(),
            });
        }
        let conn = guard.as_mut().expect("connected above");
        let configured = self.shared.agents.timeout(&dom.uuid);
        // A client's response timeout shorter than the default also bounds the sync.
        let sync_seconds = if (0..WAIT_SECONDS).contains(&configured) {
            configured
        } else {
            TIMEOUT_DEFAULT
        };
        let result = async {
            conn.sync(sync_seconds).await?;
            conn.send(format!("{command}\n").as_bytes()).await?;
            let until = deadline(seconds);
            loop {
                let poll = Instant::now() + Duration::from_millis(200);
                let until_step = Some(until.map_or(poll, |at| at.min(poll)));
                match conn.line(until_step).await {
                    Ok(Some(reply)) => {
                        check_reply(&name, &reply)?;
                        return Ok(Some(reply));
                    }
                    Ok(None) if awaiting != Await::Reply => return Ok(None),
                    Ok(None) => return Err(disappeared()),
                    Err(err) if err.code == ErrorCode::AGENT_UNRESPONSIVE => {
                        let state = self
                            .domains()
                            .get(&dom.uuid)
                            .map(|o| (o.state, o.run.as_ref().map(|r| r.generation)));
                        let done = match (awaiting, state) {
                            (Await::State(want), Some((st, _))) => st == want,
                            (Await::Gone, Some((st, gen))) => {
                                gen != Some(generation) || st != DomainState::Running
                            }
                            (Await::Gone, None) => true,
                            _ => false,
                        };
                        if done {
                            return Ok(None);
                        }
                        if until.is_some_and(|at| Instant::now() >= at) {
                            return Err(not_available_now());
                        }
                    }
                    Err(err) => return Err(err),
                }
            }
        }
        .await;
        if matches!(&result, Err(e) if e.code == ErrorCode::AGENT_UNRESPONSIVE) {
            // A broken or stalled link is dropped; the next call connects afresh.
            *guard = None;
        }
        result
    }

    /// One agent command with the domain's response timeout; the reply's `return` value.
    async fn agent_call(&self, dom: &DomainRef, command: Value) -> Result<Value> {
        let seconds = self.shared.agents.timeout(&dom.uuid);
        let reply = self
            .agent_exchange(dom, &command, seconds, Await::Reply)
            .await?
            .unwrap_or(Value::Null);
        Ok(reply.get("return").cloned().unwrap_or(Value::Null))
    }

    /// The guest's vCPUs as `guest-get-vcpus` lists them.
    async fn agent_vcpus(&self, dom: &DomainRef) -> Result<Vec<GuestVcpu>> {
        guest_vcpus(
            &self
                .agent_call(dom, json!({"execute": "guest-get-vcpus"}))
                .await?,
        )
    }

    /// Sends `guest-set-vcpus` with `changes` (`{"logical-id", "online"}` objects), if there are any.
    async fn agent_change_vcpus(&self, dom: &DomainRef, changes: Vec<Value>) -> Result<()> {
        if changes.is_empty() {
            return Ok(());
        }
        self.agent_call(
            dom,
            json!({"execute": "guest-set-vcpus", "arguments": {"vcpus": changes}}),
        )
        .await?;
        Ok(())
    }

    /// `virDomainSetVcpusFlags` with `VIR_DOMAIN_VCPU_GUEST`: the first `count` guest CPUs online, the rest
    /// offline where the guest lets them go (libvirt's `qemuAgentUpdateCPUInfo`).
    pub(super) async fn agent_set_online_vcpus(&self, dom: &DomainRef, count: u32) -> Result<()> {
        let list = self.agent_vcpus(dom).await?;
        let want = usize::try_from(count).unwrap_or(usize::MAX);
        if want > list.len() {
            return Err(Error::invalid_arg(
                ErrorDomain::QEMU,
                format!(
                    "guest agent reports less cpu than requested ({count} > {})",
                    list.len()
                ),
            ));
        }
        let mut changes = Vec::new();
        let mut now_online = list.iter().filter(|c| c.online).count();
        for cpu in &list {
            if now_online < want && !cpu.online {
                changes.push(json!({"logical-id": cpu.id, "online": true}));
                now_online += 1;
            } else if now_online > want && cpu.online && cpu.offlinable {
                changes.push(json!({"logical-id": cpu.id, "online": false}));
                now_online -= 1;
            }
        }
        if now_online != want {
            return Err(Error::invalid_arg(
                ErrorDomain::QEMU,
                format!("failed to set the guest's vcpu count (only {now_online} possible)"),
            ));
        }
        self.agent_change_vcpus(dom, changes).await
    }

    /// `virDomainGetGuestVcpus`: `guest-get-vcpus` as three CPU lists, every vCPU the guest knows, those online
    /// and those it lets go offline.
    pub(super) async fn agent_guest_vcpus(
        &self,
        dom: &DomainRef,
        flags: u32,
    ) -> Result<Vec<TypedParam>> {
        check_flags(flags, 0, "qemuDomainGetGuestVcpus")?;
        self.check_active(dom)?;
        let list = self.agent_vcpus(dom).await?;
        let ids = |keep: &dyn Fn(&GuestVcpu) -> bool| {
            let mut ids: Vec<u32> = list.iter().filter(|c| keep(c)).map(|c| c.id).collect();
            ids.sort_unstable();
            format_cpu_list(&ids)
        };
        let param = |field: &str, value: String| TypedParam {
            field: field.to_string(),
            value: TypedValue::String(value),
        };
        Ok(vec![
            param("vcpus", ids(&|_| true)),
            param("online", ids(&|c| c.online)),
            param("offlinable", ids(&|c| c.offlinable)),
        ])
    }

    /// `virDomainSetGuestVcpus`: the vCPUs in `cpumap` online (`state` 1) or offline (0) through
    /// `guest-set-vcpus`, refused as a whole when one of them is unknown to the guest or may not go offline.
    pub(super) async fn agent_set_guest_vcpus(
        &self,
        dom: &DomainRef,
        cpumap: &str,
        state: i32,
        flags: u32,
    ) -> Result<()> {
        check_flags(flags, 0, "qemuDomainSetGuestVcpus")?;
        let wanted = parse_cpu_list(cpumap)?;
        self.check_active(dom)?;
        let list = self.agent_vcpus(dom).await?;
        let online = state != 0;
        let missing: Vec<u32> = wanted
            .iter()
            .copied()
            .filter(|id| !list.iter().any(|c| c.id == *id))
            .collect();
        if !missing.is_empty() {
            return Err(Error::invalid_arg(
                ErrorDomain::QEMU,
                format!("guest is missing vCPUs '{}'", format_cpu_list(&missing)),
            ));
        }
        let mut changes = Vec::new();
        for cpu in list.iter().filter(|c| wanted.contains(&c.id)) {
            if !online && !cpu.offlinable {
                return Err(Error::invalid_arg(
                    ErrorDomain::QEMU,
                    format!("vCPU '{}' is not offlinable", cpu.id),
                ));
            }
            if cpu.online != online {
                changes.push(json!({"logical-id": cpu.id, "online": online}));
            }
        }
        self.agent_change_vcpus(dom, changes).await
    }

    /// `virDomainQemuAgentCommand`: the command as given, QEMU's whole reply back; the domain is tainted.
    pub(super) async fn agent_command(
        &self,
        dom: &DomainRef,
        cmd: &str,
        timeout: i32,
        flags: u32,
    ) -> Result<Option<String>> {
        check_flags(flags, 0, "qemuDomainQemuAgentCommand")?;
        self.check_active(dom)?;
        self.agent_available(dom).await?;
        self.taint(dom, TAINT_CUSTOM_GA_COMMAND);
        if timeout < TIMEOUT_BLOCK {
            return Err(Error::invalid_arg(
                ErrorDomain::QEMU,
                format!(
                    "guest agent timeout '{timeout}' is less than the minimum '{TIMEOUT_BLOCK}'"
                ),
            ));
        }
        let command: Value = serde_json::from_str(cmd).map_err(|err| {
            Error::internal(ErrorDomain::QEMU, format!("cannot parse json {cmd}: {err}"))
        })?;
        let reply = self
            .agent_exchange(dom, &command, timeout, Await::Reply)
            .await?;
        Ok(reply.map(|r| r.to_string()))
    }

    /// `virDomainAgentSetResponseTimeout`.
    pub(super) fn agent_set_response_timeout(
        &self,
        dom: &DomainRef,
        timeout: i32,
        flags: u32,
    ) -> Result<()> {
        check_flags(flags, 0, "qemuDomainAgentSetResponseTimeout")?;
        if timeout < TIMEOUT_BLOCK {
            return Err(Error::invalid_arg(
                ErrorDomain::QEMU,
                format!(
                    "guest agent timeout '{timeout}' is less than the minimum '{TIMEOUT_BLOCK}'"
                ),
            ));
        }
        self.domains().get(&dom.uuid).ok_or_else(no_domain)?;
        self.shared
            .agents
            .timeouts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(dom.uuid, timeout);
        Ok(())
    }

    /// `virDomainGetTime` through `guest-get-time` (nanoseconds since the epoch).
    pub(super) async fn agent_get_time(&self, dom: &DomainRef, flags: u32) -> Result<(i64, u32)> {
        check_flags(flags, 0, "qemuDomainGetTime")?;
        self.check_active(dom)?;
        let value = self
            .agent_call(dom, json!({"execute": "guest-get-time"}))
            .await?;
        let Some(ns) = value.as_i64() else {
            return Err(Error::internal(ErrorDomain::QEMU, "malformed return value"));
        };
        let seconds = ns.div_euclid(1_000_000_000);
        let nanos = u32::try_from(ns.rem_euclid(1_000_000_000)).unwrap_or(0);
        Ok((seconds, nanos))
    }

    /// `virDomainSetTime` through `guest-set-time`: the given time, or with `VIR_DOMAIN_TIME_SYNC` the guest's
    /// own hardware clock.
    pub(super) async fn agent_set_time(
        &self,
        dom: &DomainRef,
        seconds: i64,
        nseconds: u32,
        flags: u32,
    ) -> Result<()> {
        const TIME_SYNC: u32 = 1;
        check_flags(flags, TIME_SYNC, "qemuDomainSetTime")?;
        self.check_active(dom)?;
        let rtc_sync = flags & TIME_SYNC != 0;
        let command = if rtc_sync {
            json!({"execute": "guest-set-time"})
        } else {
            if nseconds > 999_999_999 {
                return Err(Error::invalid_arg(
                    ErrorDomain::QEMU,
                    format!("nseconds '{nseconds}' is out of range"),
                ));
            }
            // libvirt refuses what does not fit in a long long of nanoseconds.
            let Some(ns) = seconds
                .checked_mul(1_000_000_000)
                .and_then(|ns| ns.checked_add(i64::from(nseconds)))
            else {
                return Err(Error::invalid_arg(
                    ErrorDomain::QEMU,
                    format!("Time '{seconds}' is too big for guest agent"),
                ));
            };
            json!({"execute": "guest-set-time", "arguments": {"time": ns}})
        };
        self.agent_call(dom, command).await?;
        Ok(())
    }

    /// `virDomainPMSuspendForDuration` through `guest-suspend-ram`/`-disk`/`-hybrid`; done when QEMU reports
    /// the guest suspended (or, for disk, gone).
    pub(super) async fn agent_pm_suspend(&self, dom: &DomainRef, target: u32) -> Result<()> {
        let def = self.live_def_of(dom)?;
        let (mem, disk) = pm_settings(&def);
        if (target == 0 || target == 2) && mem == Some(false) {
            return Err(Error::with_detail(
                ErrorCode::OPERATION_UNSUPPORTED,
                ErrorDomain::QEMU,
                "S3 state is disabled for this domain",
            ));
        }
        if target == 1 && disk == Some(false) {
            return Err(Error::with_detail(
                ErrorCode::OPERATION_UNSUPPORTED,
                ErrorDomain::QEMU,
                "S4 state is disabled for this domain",
            ));
        }
        let (command, awaiting) = match target {
            0 => ("guest-suspend-ram", Await::State(DomainState::PmSuspended)),
            1 => ("guest-suspend-disk", Await::Gone),
            _ => (
                "guest-suspend-hybrid",
                Await::State(DomainState::PmSuspended),
            ),
        };
        let seconds = self.shared.agents.timeout(&dom.uuid);
        self.agent_exchange(dom, &json!({ "execute": command }), seconds, awaiting)
            .await?;
        Ok(())
    }

    /// `guest-shutdown` for `virDomainShutdownFlags`/`virDomainReboot` with the agent: done when the guest went
    /// down (or reset).
    pub(super) async fn agent_shutdown(&self, dom: &DomainRef, reboot: bool) -> Result<()> {
        let mode = if reboot { "reboot" } else { "powerdown" };
        let awaiting = if reboot { Await::Reply } else { Await::Gone };
        let command = json!({"execute": "guest-shutdown", "arguments": {"mode": mode}});
        match self
            .agent_exchange(dom, &command, TIMEOUT_SHUTDOWN, awaiting)
            .await
        {
            // The agent answers nothing when the guest goes down at once; a closed link then is the answer.
            Err(err) if reboot && err.code == ErrorCode::AGENT_UNRESPONSIVE => {
                tracing::debug!("agent reboot ended without a reply: {err}");
                Ok(())
            }
            other => other.map(|_| ()),
        }
    }

    /// libvirt's choice for `virDomainShutdownFlags`/`virDomainReboot`: the agent when asked for, or when no
    /// method is asked for and the agent is connected. True when the agent did it; an agent failure is the
    /// answer unless the power button may be tried too (flags 0 or ACPI asked for as well).
    pub(super) async fn shutdown_by_agent(
        &self,
        dom: &DomainRef,
        flags: u32,
        reboot: bool,
    ) -> Result<bool> {
        let agent_requested = flags & REBOOT_GUEST_AGENT != 0;
        let acpi_requested = flags & 1 != 0;
        if !(agent_requested || (flags == 0 && self.agent_connected(dom).await)) {
            return Ok(false);
        }
        match self.agent_shutdown(dom, reboot).await {
            Ok(()) => Ok(true),
            Err(_) if acpi_requested || flags == 0 => Ok(false),
            Err(err) => Err(err),
        }
    }

    /// Whether the agent's port is open in a running guest (libvirt's `priv->agent`).
    pub(super) async fn agent_connected(&self, dom: &DomainRef) -> bool {
        self.agent_available(dom).await.is_ok()
    }

    /// `virDomainInterfaceAddresses`: the agent's answer; the lease and ARP sources are not implemented here.
    pub(super) async fn interface_addresses(
        &self,
        dom: &DomainRef,
        source: u32,
        flags: u32,
    ) -> Result<Vec<GuestInterface>> {
        check_flags(flags, 0, "qemuDomainInterfaceAddresses")?;
        match source {
            1 => self.agent_interfaces(dom).await,
            0 | 2 => Err(Error::no_support("virDomainInterfaceAddresses")),
            other => Err(Error::invalid_arg(
                ErrorDomain::QEMU,
                format!("Unknown IP address data source {other}"),
            )),
        }
    }

    /// `virDomainInterfaceAddresses` with `VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_AGENT`.
    pub(super) async fn agent_interfaces(&self, dom: &DomainRef) -> Result<Vec<GuestInterface>> {
        self.check_active(dom)?;
        let value = self
            .agent_call(dom, json!({"execute": "guest-network-get-interfaces"}))
            .await?;
        let list = value.as_array().ok_or_else(|| {
            Error::internal(
                ErrorDomain::QEMU,
                "qemu agent didn't return an array of interfaces",
            )
        })?;
        let mut out: Vec<GuestInterface> = Vec::new();
        for iface in list {
            let Some(name) = iface["name"].as_str() else {
                return Err(Error::internal(
                    ErrorDomain::QEMU,
                    "qemu agent didn't provide 'name' field",
                ));
            };
            // libvirt merges aliases (eth0:1) into their device.
            let base = name.split(':').next().unwrap_or(name).to_string();
            let addrs = iface["ip-addresses"]
                .as_array()
                .map(|a| a.as_slice())
                .unwrap_or_default()
                .iter()
                .filter_map(|a| {
                    let kind = match a["ip-address-type"].as_str()? {
                        "ipv4" => 0,
                        "ipv6" => 1,
                        _ => return None,
                    };
                    Some(IpAddress {
                        kind,
                        addr: a["ip-address"].as_str()?.to_string(),
                        prefix: u32::try_from(a["prefix"].as_u64()?).ok()?,
                    })
                })
                .collect::<Vec<_>>();
            match out.iter_mut().find(|i| i.name == base) {
                Some(existing) => existing.addrs.extend(addrs),
                None => out.push(GuestInterface {
                    name: base,
                    hwaddr: iface["hardware-address"].as_str().map(str::to_string),
                    addrs,
                }),
            }
        }
        Ok(out)
    }

    /// `virDomainGetFSInfo` through `guest-get-fsinfo`.
    pub(super) async fn agent_fsinfo(&self, dom: &DomainRef, flags: u32) -> Result<Vec<FsInfo>> {
        check_flags(flags, 0, "qemuDomainGetFSInfo")?;
        self.check_active(dom)?;
        let value = self
            .agent_call(dom, json!({"execute": "guest-get-fsinfo"}))
            .await?;
        let def = self.live_def_of(dom)?;
        Ok(value
            .as_array()
            .map(|a| a.as_slice())
            .unwrap_or_default()
            .iter()
            .map(|fs| FsInfo {
                mountpoint: fs["mountpoint"].as_str().unwrap_or_default().into(),
                name: fs["name"].as_str().unwrap_or_default().into(),
                fstype: fs["type"].as_str().unwrap_or_default().into(),
                dev_aliases: fs_disk_targets(&def, fs),
            })
            .collect())
    }

    /// `virDomainFSFreeze` / `virDomainFSThaw`: the number of file systems frozen or thawed.
    pub(super) async fn agent_fs_freeze(
        &self,
        dom: &DomainRef,
        mountpoints: Vec<String>,
        thaw: bool,
        flags: u32,
    ) -> Result<i32> {
        let api = if thaw {
            "qemuDomainFSThaw"
        } else {
            "qemuDomainFSFreeze"
        };
        check_flags(flags, 0, api)?;
        if thaw && !mountpoints.is_empty() {
            return Err(Error::with_detail(
                ErrorCode::ARGUMENT_UNSUPPORTED,
                ErrorDomain::QEMU,
                "specifying mountpoints is not supported",
            ));
        }
        self.check_active(dom)?;
        let command = if thaw {
            json!({"execute": "guest-fsfreeze-thaw"})
        } else if mountpoints.is_empty() {
            json!({"execute": "guest-fsfreeze-freeze"})
        } else {
            json!({"execute": "guest-fsfreeze-freeze-list", "arguments": {"mountpoints": mountpoints}})
        };
        let value = self.agent_call(dom, command).await?;
        value
            .as_i64()
            .and_then(|n| i32::try_from(n).ok())
            .ok_or_else(|| Error::internal(ErrorDomain::QEMU, "malformed return value"))
    }

    /// `virDomainFSTrim` through `guest-fstrim`.
    pub(super) async fn agent_fs_trim(
        &self,
        dom: &DomainRef,
        mount_point: Option<&str>,
        minimum: u64,
        flags: u32,
    ) -> Result<()> {
        check_flags(flags, 0, "qemuDomainFSTrim")?;
        if mount_point.is_some() {
            return Err(Error::with_detail(
                ErrorCode::ARGUMENT_UNSUPPORTED,
                ErrorDomain::QEMU,
                "Specifying mount point is not supported for now",
            ));
        }
        self.check_active(dom)?;
        self.agent_call(
            dom,
            json!({"execute": "guest-fstrim", "arguments": {"minimum": minimum}}),
        )
        .await?;
        Ok(())
    }

    /// `virDomainSetUserPassword` through `guest-set-user-password` (the password goes base64-encoded).
    pub(super) async fn agent_set_user_password(
        &self,
        dom: &DomainRef,
        user: Option<&str>,
        password: Option<&str>,
        flags: u32,
    ) -> Result<()> {
        const PASSWORD_ENCRYPTED: u32 = 1;
        check_flags(flags, PASSWORD_ENCRYPTED, "qemuDomainSetUserPassword")?;
        self.check_active(dom)?;
        let crypted = flags & PASSWORD_ENCRYPTED != 0;
        let command = json!({"execute": "guest-set-user-password", "arguments": {
            "crypted": crypted,
            "username": user.unwrap_or_default(),
            "password": base64(password.unwrap_or_default().as_bytes()),
        }});
        self.agent_call(dom, command).await?;
        Ok(())
    }

    /// Agent answers for `virDomainGetGuestInfo`: the info types asked for (all when `types` is 0), as typed
    /// parameters in libvirt's names. A type the agent lacks is left out, as libvirt does.
    pub(super) async fn agent_guest_info(
        &self,
        dom: &DomainRef,
        types: u32,
        flags: u32,
    ) -> Result<Vec<TypedParam>> {
        const USERS: u32 = 1;
        const OS: u32 = 2;
        const TIMEZONE: u32 = 4;
        const HOSTNAME: u32 = 8;
        const FILESYSTEM: u32 = 16;
        const DISKS: u32 = 32;
        const INTERFACES: u32 = 64;
        check_flags(flags, 0, "qemuDomainGetGuestInfo")?;
        if types & !(USERS | OS | TIMEZONE | HOSTNAME | FILESYSTEM | DISKS | INTERFACES) != 0 {
            return Err(Error::invalid_arg(
                ErrorDomain::QEMU,
                format!("unsupported guest info types 0x{types:x}"),
            ));
        }
        self.check_active(dom)?;
        let want = |t: u32| types == 0 || types & t != 0;
        let mut out = Vec::new();
        let s = |k: &str, v: &str| TypedParam {
            field: k.to_string(),
            value: TypedValue::String(v.to_string()),
        };
        // Counts and prefixes are UINT, times and sizes ULLONG, as libvirt types them.
        let u = |k: &str, v: u64| TypedParam {
            field: k.to_string(),
            value: if k.ends_with("login-time") || k.ends_with("-bytes") {
                TypedValue::ULLong(v)
            } else {
                TypedValue::UInt(u32::try_from(v).unwrap_or(u32::MAX))
            },
        };
        // Optional commands: an agent without one leaves that group out (libvirt's report_unsupported=false).
        let call = |name: &'static str| async move {
            match self.agent_call(dom, json!({ "execute": name })).await {
                Ok(v) => Ok(Some(v)),
                Err(err)
                    if err.message.contains("The command has not been found")
                        || err.message.contains("has not been found")
                        || err.message.contains("has been disabled") =>
                {
                    Ok(None)
                }
                Err(err) => Err(err),
            }
        };
        if want(USERS) {
            if let Some(users) = call("guest-get-users").await? {
                let list = users.as_array().cloned().unwrap_or_default();
                out.push(u("user.count", list.len() as u64));
                for (i, user) in list.iter().enumerate() {
                    out.push(s(
                        &format!("user.{i}.name"),
                        user["user"].as_str().unwrap_or_default(),
                    ));
                    if let Some(domain) = user["domain"].as_str() {
                        out.push(s(&format!("user.{i}.domain"), domain));
                    }
                    if let Some(login) = user["login-time"].as_f64() {
                        out.push(u(&format!("user.{i}.login-time"), seconds_to_ms(login)));
                    }
                }
            }
        }
        if want(OS) {
            if let Some(os) = call("guest-get-osinfo").await? {
                for (key, field) in [
                    ("os.id", "id"),
                    ("os.name", "name"),
                    ("os.pretty-name", "pretty-name"),
                    ("os.version", "version"),
                    ("os.version-id", "version-id"),
                    ("os.machine", "machine"),
                    ("os.variant", "variant"),
                    ("os.variant-id", "variant-id"),
                    ("os.kernel-release", "kernel-release"),
                    ("os.kernel-version", "kernel-version"),
                ] {
                    if let Some(v) = os[field].as_str() {
                        out.push(s(key, v));
                    }
                }
            }
        }
        if want(TIMEZONE) {
            if let Some(tz) = call("guest-get-timezone").await? {
                if let Some(zone) = tz["zone"].as_str() {
                    out.push(s("timezone.name", zone));
                }
                if let Some(offset) = tz["offset"].as_i64() {
                    out.push(TypedParam {
                        field: "timezone.offset".into(),
                        value: TypedValue::Int(i32::try_from(offset).unwrap_or(0)),
                    });
                }
            }
        }
        if want(HOSTNAME) {
            if let Some(host) = call("guest-get-host-name").await? {
                if let Some(name) = host["host-name"].as_str() {
                    out.push(s("hostname", name));
                }
            }
        }
        if want(FILESYSTEM) {
            if let Some(fss) = call("guest-get-fsinfo").await? {
                let def = self.live_def_of(dom)?;
                let list = fss.as_array().cloned().unwrap_or_default();
                out.push(u("fs.count", list.len() as u64));
                for (i, fs) in list.iter().enumerate() {
                    out.push(s(
                        &format!("fs.{i}.mountpoint"),
                        fs["mountpoint"].as_str().unwrap_or_default(),
                    ));
                    out.push(s(
                        &format!("fs.{i}.name"),
                        fs["name"].as_str().unwrap_or_default(),
                    ));
                    out.push(s(
                        &format!("fs.{i}.fstype"),
                        fs["type"].as_str().unwrap_or_default(),
                    ));
                    if let (Some(total), Some(used)) =
                        (fs["total-bytes"].as_u64(), fs["used-bytes"].as_u64())
                    {
                        out.push(u(&format!("fs.{i}.total-bytes"), total));
                        out.push(u(&format!("fs.{i}.used-bytes"), used));
                    }
                    let disks = fs_disk_targets(&def, fs);
                    out.push(u(&format!("fs.{i}.disk.count"), disks.len() as u64));
                    for (j, target) in disks.iter().enumerate() {
                        out.push(s(&format!("fs.{i}.disk.{j}.alias"), target));
                    }
                }
            }
        }
        if want(DISKS) {
            if let Some(disks) = call("guest-get-disks").await? {
                let list = disks.as_array().cloned().unwrap_or_default();
                out.push(u("disk.count", list.len() as u64));
                for (i, disk) in list.iter().enumerate() {
                    out.push(s(
                        &format!("disk.{i}.name"),
                        disk["name"].as_str().unwrap_or_default(),
                    ));
                    out.push(TypedParam {
                        field: format!("disk.{i}.partition"),
                        value: TypedValue::Boolean(disk["partition"].as_bool().unwrap_or(false)),
                    });
                    if let Some(deps) = disk["dependencies"].as_array() {
                        out.push(u(&format!("disk.{i}.dependency.count"), deps.len() as u64));
                        for (j, dep) in deps.iter().enumerate() {
                            out.push(s(
                                &format!("disk.{i}.dependency.{j}.name"),
                                dep.as_str().unwrap_or_default(),
                            ));
                        }
                    }
                    if let Some(alias) = disk["alias"].as_str() {
                        out.push(s(&format!("disk.{i}.guest_alias"), alias));
                    }
                }
            }
        }
        if want(INTERFACES) {
            let ifaces = self.agent_interfaces(dom).await?;
            out.push(u("if.count", ifaces.len() as u64));
            for (i, iface) in ifaces.iter().enumerate() {
                out.push(s(&format!("if.{i}.name"), &iface.name));
                if let Some(hw) = &iface.hwaddr {
                    out.push(s(&format!("if.{i}.hwaddr"), hw));
                }
                out.push(u(&format!("if.{i}.addr.count"), iface.addrs.len() as u64));
                for (j, addr) in iface.addrs.iter().enumerate() {
                    let kind = if addr.kind == 0 { "ipv4" } else { "ipv6" };
                    out.push(s(&format!("if.{i}.addr.{j}.type"), kind));
                    out.push(s(&format!("if.{i}.addr.{j}.addr"), &addr.addr));
                    out.push(u(
                        &format!("if.{i}.addr.{j}.prefix"),
                        u64::from(addr.prefix),
                    ));
                }
            }
        }
        Ok(out)
    }
}

/// The socket of the agent's channel in a running definition (`<source path>`, set at start).
/// One entry of `guest-get-vcpus`.
struct GuestVcpu {
    id: u32,
    online: bool,
    offlinable: bool,
}

fn guest_vcpus(reply: &Value) -> Result<Vec<GuestVcpu>> {
    let malformed = || Error::internal(ErrorDomain::QEMU, "malformed return value");
    reply
        .as_array()
        .ok_or_else(malformed)?
        .iter()
        .map(|cpu| {
            Ok(GuestVcpu {
                id: cpu["logical-id"]
                    .as_u64()
                    .and_then(|id| u32::try_from(id).ok())
                    .ok_or_else(malformed)?,
                online: cpu["online"].as_bool().unwrap_or(false),
                offlinable: cpu["can-offline"].as_bool().unwrap_or(false),
            })
        })
        .collect()
}

fn agent_socket(def: &crate::model::DomainDef) -> Option<PathBuf> {
    devices::channels(def)
        .find(|n| {
            n.children.iter().any(|c| {
                c.name == "target"
                    && c.attrs
                        .iter()
                        .any(|(k, v)| k == "name" && v == "org.qemu.guest_agent.0")
            })
        })
        .and_then(|n| n.children.iter().find(|c| c.name == "source"))
        .and_then(|s| s.attrs.iter().find(|(k, _)| k == "path"))
        .map(|(_, v)| PathBuf::from(v))
}

/// Applies QEMU's `VSERPORT_CHANGE` (`{"id": "channelN", "open": bool}`) to the live definition: the virtio
/// channel's `<target state='connected'|'disconnected'>`, as libvirt shows it. `Some` when something changed,
/// holding for the agent's channel its new lifecycle state (1 connected, 2 disconnected).
pub(super) fn set_channel_state(
    def: &mut crate::model::DomainDef,
    data: &Value,
) -> Option<Option<i32>> {
    let (Some(id), Some(open)) = (data["id"].as_str(), data["open"].as_bool()) else {
        return None;
    };
    let index = id
        .strip_prefix("channel")
        .and_then(|n| n.parse::<usize>().ok())?;
    let channel = def
        .devices
        .others
        .iter_mut()
        .filter(|n| n.name == "channel")
        .nth(index)?;
    let target = channel.children.iter_mut().find(|c| {
        c.name == "target" && c.attrs.iter().any(|(k, v)| k == "type" && v == "virtio")
    })?;
    let is_agent = target
        .attrs
        .iter()
        .any(|(k, v)| k == "name" && v == "org.qemu.guest_agent.0");
    let state = if open { "connected" } else { "disconnected" };
    match target.attrs.iter_mut().find(|(k, _)| k == "state") {
        Some((_, v)) if v == state => return None,
        Some((_, v)) => *v = state.to_string(),
        None => target.attrs.push(("state".into(), state.into())),
    }
    Some(is_agent.then_some(if open { 1 } else { 2 }))
}

/// `<pm>`: whether suspend-to-mem and suspend-to-disk are enabled (None when not said).
pub(super) fn pm_settings(def: &crate::model::DomainDef) -> (Option<bool>, Option<bool>) {
    let pm = def.extra.children.iter().find(|n| n.name == "pm");
    let get = |name: &str| {
        pm.and_then(|p| p.children.iter().find(|c| c.name == name))
            .and_then(|c| c.attrs.iter().find(|(k, _)| k == "enabled"))
            .map(|(_, v)| v == "yes")
    };
    (get("suspend-to-mem"), get("suspend-to-disk"))
}

/// The guest's disks under a file system, named by the domain's `<target dev>` where the agent's PCI address
/// or serial matches a disk (libvirt matches the same way); unmatched disks are left out.
fn fs_disk_targets(def: &crate::model::DomainDef, fs: &Value) -> Vec<String> {
    let serials: Vec<&str> = fs["disk"]
        .as_array()
        .map(|a| a.as_slice())
        .unwrap_or_default()
        .iter()
        .filter_map(|d| d["serial"].as_str())
        .collect();
    def.devices
        .disks
        .iter()
        .filter(|d| {
            d.extra
                .children
                .iter()
                .find(|c| c.name == "serial")
                .is_some_and(|c| serials.contains(&c.text.trim()))
        })
        .map(|d| d.target_dev.clone())
        .collect()
}

/// An agent's login time (seconds, fractional) in libvirt's milliseconds; negative or absurd values become 0.
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
fn seconds_to_ms(seconds: f64) -> u64 {
    let ms = (seconds * 1000.0).round();
    if ms.is_finite() && ms >= 0.0 && ms < u64::MAX as f64 {
        ms as u64
    } else {
        0
    }
}

fn base64(bytes: &[u8]) -> String {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(TABLE[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_pads_as_rfc4648() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"hunter2"), "aHVudGVyMg==");
    }

    #[test]
    fn agent_errors_read_as_libvirt_words_them() {
        let err =
            check_reply("guest-x", &json!({"error": {"class": "CommandNotFound"}})).unwrap_err();
        assert_eq!(
            err.message,
            "internal error: unable to execute QEMU agent command 'guest-x': The command has not been found"
        );
        let err = check_reply(
            "guest-y",
            &json!({"error": {"class": "GenericError", "desc": "nope"}}),
        )
        .unwrap_err();
        assert!(err.message.ends_with("'guest-y': nope"), "{}", err.message);
        assert!(check_reply("guest-z", &json!({"return": {}})).is_ok());
        assert!(check_reply("guest-z", &json!({})).is_err());
    }

    #[test]
    fn lines_are_split_off_the_buffer() {
        let mut buf = b"{\"a\":1}\n{\"b\"".to_vec();
        assert_eq!(take_line(&mut buf).unwrap(), b"{\"a\":1}");
        assert_eq!(take_line(&mut buf), None);
        assert_eq!(buf, b"{\"b\"");
    }

    #[test]
    fn pm_reads_both_states() {
        let def = crate::model::DomainDef::from_xml(
            "<domain type='qemu'><name>d</name><memory>65536</memory><os><type>hvm</type></os>\
             <pm><suspend-to-mem enabled='no'/><suspend-to-disk enabled='yes'/></pm></domain>",
            true,
        )
        .unwrap();
        assert_eq!(pm_settings(&def), (Some(false), Some(true)));
    }
}
