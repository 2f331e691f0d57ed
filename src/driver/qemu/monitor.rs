//! What a client may ask of a running guest's monitor and agent directly: `qemu-monitor-command` (QMP passed
//! through, or HMP through `human-monitor-command`), which taints the domain as libvirt does; the power-management
//! calls (suspend through the guest agent, `system_wakeup`).

use super::qmp::QmpError;
use super::status::RunStatus;
use super::{append_log, check_flags, no_domain, now_ms, qmp_error, QemuDriver};
use crate::driver::flags::QEMU_MONITOR_COMMAND_HMP as MONITOR_COMMAND_HMP;
use crate::driver::DomainRef;
use crate::error::{Error, ErrorDomain, Result};
use serde_json::{json, Value};

/// `VIR_NODE_SUSPEND_TARGET_MEM`, `_DISK`, `_HYBRID`: the targets `virDomainPMSuspendForDuration` knows.
const SUSPEND_TARGETS: [u32; 3] = [0, 1, 2];

/// libvirt's `virDomainTaintFlags` name for monitor commands a client ran behind the driver's back.
const TAINT_CUSTOM_MONITOR: &str = "custom-monitor";

fn not_active() -> Error {
    Error::operation_invalid(ErrorDomain::QEMU, "domain is not running")
}

/// A failed command as libvirt reports one QEMU refused.
pub(super) fn command_error(err: QmpError) -> Error {
    match err {
        QmpError::Command { command, desc, .. } => Error::internal(
            ErrorDomain::QEMU,
            format!("unable to execute QEMU command '{command}': {desc}"),
        ),
        other => qmp_error(other),
    }
}

/// The taint names this driver knows, as `'static` names for a run's record.
const KNOWN_TAINTS: &[&str] = &[TAINT_CUSTOM_MONITOR, super::agent::TAINT_CUSTOM_GA_COMMAND];

/// A status record carrying the run's taints.
pub(super) fn with_taints(mut status: RunStatus, taints: &[&'static str]) -> RunStatus {
    status.taints = taints.iter().map(|t| (*t).to_string()).collect();
    status
}

/// The known taints among the names a status file recorded (unknown ones are dropped with a log line).
pub(super) fn known_taints(names: &[String]) -> Vec<&'static str> {
    names
        .iter()
        .filter_map(|name| {
            let known = KNOWN_TAINTS.iter().find(|t| **t == name.as_str()).copied();
            if known.is_none() {
                tracing::warn!("unknown taint '{name}' in a status file");
            }
            known
        })
        .collect()
}

impl QemuDriver {
    /// Fails unless the domain exists and runs (any live state: libvirt's `virDomainObjCheckActive`).
    pub(super) fn check_active(&self, dom: &DomainRef) -> Result<()> {
        let domains = self.domains();
        let obj = domains.get(&dom.uuid).ok_or_else(no_domain)?;
        if obj.run.is_none() {
            return Err(not_active());
        }
        Ok(())
    }

    /// Marks the running domain tainted by `taint` once per run: a warning in the daemon's log and a line in
    /// the domain's log, as libvirt writes them. The definition is unchanged.
    pub(super) fn taint(&self, dom: &DomainRef, taint: &'static str) {
        let mut domains = self.domains();
        let Some(obj) = domains.get_mut(&dom.uuid) else {
            return;
        };
        let id = obj.id;
        let name = obj.name().to_string();
        let Some(run) = obj.run.as_mut() else {
            return;
        };
        if run.taints.contains(&taint) {
            return;
        }
        run.taints.push(taint);
        // Recorded in the status file, so a daemon restart knows the run is tainted.
        self.shared.save_status_locked(obj);
        drop(domains);
        tracing::warn!(
            "Domain id={id} name='{name}' uuid={} is tainted: {taint}",
            dom.uuid
        );
        let log = self.shared.files.log_dir().join(format!("{name}.log"));
        append_log(
            &log,
            &format!("{}: Domain id={id} is tainted: {taint}\n", now_ms()),
        );
    }

    /// `virDomainQemuMonitorCommand`: QMP JSON passed through (QEMU's whole reply object comes back, an error
    /// reply included), or with `MONITOR_COMMAND_HMP` a human monitor line (its text output comes back).
    pub(super) async fn monitor_command(
        &self,
        dom: &DomainRef,
        cmd: &str,
        flags: u32,
    ) -> Result<String> {
        check_flags(
            flags,
            MONITOR_COMMAND_HMP,
            "qemuDomainQemuMonitorCommandWithFiles",
        )?;
        self.check_active(dom)?;
        self.taint(dom, TAINT_CUSTOM_MONITOR);
        let qmp = self.monitor(dom)?;
        if flags & MONITOR_COMMAND_HMP != 0 {
            let output = qmp
                .execute(
                    "human-monitor-command",
                    Some(json!({ "command-line": cmd })),
                )
                .await
                .map_err(command_error)?;
            return match output {
                Value::String(text) => Ok(text),
                _ => Err(Error::internal(
                    ErrorDomain::QEMU,
                    "human monitor command was missing return data",
                )),
            };
        }
        let parsed: Value = serde_json::from_str(cmd).map_err(|err| {
            Error::internal(ErrorDomain::QEMU, format!("cannot parse json {cmd}: {err}"))
        })?;
        let Value::Object(object) = parsed else {
            return Err(Error::internal(
                ErrorDomain::QEMU,
                format!("cannot parse json {cmd}: not a JSON object"),
            ));
        };
        // The monitor's own id goes into the command, as libvirt adds one; a caller's would collide with it.
        if object.contains_key("execute") && object.contains_key("id") {
            return Err(Error::internal(ErrorDomain::QEMU, "duplicate key 'id'"));
        }
        let reply = qmp.execute_raw(object).await.map_err(qmp_error)?;
        Ok(reply.to_string())
    }

    /// `virDomainPMSuspendForDuration`: done by the guest agent.
    pub(super) async fn pm_suspend(
        &self,
        dom: &DomainRef,
        target: u32,
        duration: u64,
        flags: u32,
    ) -> Result<()> {
        check_flags(flags, 0, "qemuDomainPMSuspendForDuration")?;
        if duration != 0 {
            return Err(Error::invalid_arg(
                ErrorDomain::QEMU,
                "Duration not supported. Use 0 for now",
            ));
        }
        if !SUSPEND_TARGETS.contains(&target) {
            return Err(Error::invalid_arg(
                ErrorDomain::QEMU,
                format!("Unknown suspend target: {target}"),
            ));
        }
        self.check_active(dom)?;
        self.agent_pm_suspend(dom, target).await
    }

    /// `virDomainPMWakeup`: QMP `system_wakeup`; QEMU refuses it for a guest that is not suspended.
    pub(super) async fn pm_wakeup(&self, dom: &DomainRef, flags: u32) -> Result<()> {
        check_flags(flags, 0, "qemuDomainPMWakeup")?;
        self.check_active(dom)?;
        let qmp = self.monitor(dom)?;
        qmp.execute("system_wakeup", None)
            .await
            .map_err(command_error)?;
        Ok(())
    }
}
