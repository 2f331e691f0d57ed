//! Calls on a running guest and on the hypervisor's control of it, with libvirt 9.0's test driver's answers:
//! the balloon's statistics period, the control state (derived, as libvirt derives it, from the guest clock),
//! messages, disk errors, freezing and thawing the two simulated file systems, trimming, user passwords,
//! process signals, lifecycle actions, launch security, core dumps, and the host's free pages.

use super::domains::impact;
use super::tunables::GUEST_CLOCK_SECONDS;
use super::{check_flags, not_running, Persist, World};
use crate::driver::{event, flags, reason, ControlInfo, DiskError, DomainRef, TypedParam};
use crate::error::{Error, ErrorCode, ErrorDomain, Result};
use std::io::Write;

/// The guest's two file systems, as libvirt's test driver reports them (`domfsinfo`) and freezes them.
const MOUNT_POINTS: [&str; 2] = ["/", "/boot"];

/// `VIR_DOMAIN_PROCESS_SIGNAL_LAST`: signal numbers run from 0 (nop) to 64 (SIGRT32).
const PROCESS_SIGNAL_LAST: u32 = 65;

/// `VIR_DOMAIN_LIFECYCLE_*` and `VIR_DOMAIN_LIFECYCLE_ACTION_*` by number, in libvirt's names.
const LIFECYCLE_EVENTS: [&str; 3] = ["poweroff", "reboot", "crash"];
const LIFECYCLE_ACTIONS: [&str; 6] = [
    "destroy",
    "restart",
    "rename-restart",
    "preserve",
    "coredump-destroy",
    "coredump-restart",
];

/// What a core dump of libvirt's test driver holds: its save image magic, NUL included.
const DUMP_MAGIC: &[u8] = b"TestGuestMagic\0";

/// `VIR_DUMP_CRASH`: the domain crashes once dumped.
const DUMP_CRASH: u32 = 1;

/// `VIR_DOMAIN_MESSAGE_DEPRECATION | VIR_DOMAIN_MESSAGE_TAINTING`.
const MESSAGE_KINDS: u32 = 0b11;

/// `VIR_DOMAIN_PASSWORD_ENCRYPTED`.
const PASSWORD_ENCRYPTED: u32 = 1;

/// libvirt's remote daemon refuses to ask for more disk errors than a reply holds.
const DISK_ERRORS_MAX: u32 = 256;

/// libvirt's remote daemon refuses free-page queries whose answer would not fit a reply.
const FREE_PAGES_MAX: u64 = 1024;

impl World {
    /// `virDomainSetMemoryStatsPeriod`: the period lands in one definition's balloon, and is kept.
    pub(in crate::driver::test) fn set_memory_stats_period(
        &mut self,
        store: &dyn Persist,
        dom: &DomainRef,
        period: i32,
        set_flags: u32,
    ) -> Result<()> {
        check_flags(
            set_flags,
            flags::AFFECT_LIVE | flags::AFFECT_CONFIG,
            "testDomainSetMemoryStatsPeriod",
        )?;
        let mut changed = self.domain(dom)?.clone();
        let target = impact(&changed, set_flags, true)?;
        let def = if target.live {
            changed.live_def.as_mut()
        } else {
            changed.persistent_def.as_mut()
        };
        let set = def.is_some_and(|def| def.set_memballoon_period(period));
        if !set {
            return Err(Error::internal(
                ErrorDomain::TEST,
                "No memory balloon device configured, can not set the collection period",
            ));
        }
        store.save_domain(&changed)?;
        self.domains.insert(changed.uuid(), changed);
        Ok(())
    }

    /// `virDomainGetControlInfo`: libvirt's test driver reads a control state out of the guest clock
    /// (`virDomainSetTime`), so each state can be produced: 1–9 999 s a job of that many ms, 10 000–29 999 s
    /// occupied, 30 000–59 999 s an error whose reason is the clock modulo 4, anything else ok.
    pub(in crate::driver::test) fn control_info(
        &self,
        dom: &DomainRef,
        info_flags: u32,
    ) -> Result<ControlInfo> {
        check_flags(info_flags, 0, "testDomainGetControlInfo")?;
        let obj = self.domain(dom)?;
        if !obj.is_active() {
            return Err(not_running());
        }
        let seconds = self
            .guest_times
            .get(&obj.uuid())
            .map_or(GUEST_CLOCK_SECONDS, |(s, _)| *s);
        let since = |base: i64| u64::try_from(seconds - base).unwrap_or(0);
        Ok(match seconds {
            1..=9_999 => ControlInfo {
                state: 1,
                details: 0,
                state_time_ms: since(0),
            },
            10_000..=29_999 => ControlInfo {
                state: 2,
                details: 0,
                state_time_ms: since(10_000),
            },
            30_000..=59_999 => ControlInfo {
                state: 3,
                details: u32::try_from(seconds % 4).unwrap_or(0),
                state_time_ms: since(30_000),
            },
            _ => ControlInfo::default(),
        })
    }

    /// `virDomainGetMessages`: a simulated guest is never tainted and uses nothing deprecated.
    pub(in crate::driver::test) fn domain_messages(
        &self,
        dom: &DomainRef,
        message_flags: u32,
    ) -> Result<Vec<String>> {
        check_flags(message_flags, MESSAGE_KINDS, "testDomainGetMessages")?;
        self.domain(dom)?;
        Ok(Vec::new())
    }

    /// `virDomainGetDiskErrors`: every disk of a running domain reports an error, alternately "unspecified"
    /// and "no space".
    pub(in crate::driver::test) fn disk_errors(
        &self,
        dom: &DomainRef,
        max_errors: u32,
        error_flags: u32,
    ) -> Result<(Vec<DiskError>, i32)> {
        if max_errors > DISK_ERRORS_MAX {
            return Err(Error::with_detail(
                ErrorCode::RPC,
                ErrorDomain::RPC,
                "maxerrors too large",
            ));
        }
        check_flags(error_flags, 0, "testDomainGetDiskErrors")?;
        let obj = self.domain(dom)?;
        if !obj.is_active() {
            return Err(not_running());
        }
        let disks = &obj.def().devices.disks;
        let count = |n: usize| i32::try_from(n).unwrap_or(i32::MAX);
        if max_errors == 0 {
            return Ok((Vec::new(), count(disks.len())));
        }
        let errors: Vec<DiskError> = disks
            .iter()
            .take(max_errors as usize)
            .enumerate()
            .map(|(i, disk)| DiskError {
                disk: disk.target_dev.clone(),
                error: if i % 2 == 0 { 1 } else { 2 },
            })
            .collect();
        let n = count(errors.len());
        Ok((errors, n))
    }

    /// `virDomainFSFreeze` (`freeze`) and `virDomainFSThaw`: the named file systems (all when none is named)
    /// change state; the answer counts those that did. An unknown mount point changes nothing.
    pub(in crate::driver::test) fn freeze_fs(
        &mut self,
        dom: &DomainRef,
        mountpoints: &[String],
        fs_flags: u32,
        freeze: bool,
    ) -> Result<i32> {
        let api = if freeze {
            "testDomainFSFreeze"
        } else {
            "testDomainFSThaw"
        };
        check_flags(fs_flags, 0, api)?;
        let obj = self.domain(dom)?;
        if !obj.is_active() {
            return Err(not_running());
        }
        let uuid = obj.uuid();
        let mut chosen = [mountpoints.is_empty(); 2];
        for mountpoint in mountpoints {
            chosen[mount_index(mountpoint)?] = true;
        }
        let frozen = self.frozen.entry(uuid).or_default();
        let mut changed = 0;
        for (state, _) in frozen.iter_mut().zip(chosen).filter(|(_, c)| *c) {
            if *state != freeze {
                *state = freeze;
                changed += 1;
            }
        }
        Ok(changed)
    }

    /// `virDomainFSTrim`: nothing to discard, but the mount point must exist.
    pub(in crate::driver::test) fn trim_fs(
        &self,
        dom: &DomainRef,
        mount_point: Option<&str>,
        trim_flags: u32,
    ) -> Result<()> {
        check_flags(trim_flags, 0, "testDomainFSTrim")?;
        if !self.domain(dom)?.is_active() {
            return Err(not_running());
        }
        if let Some(mount_point) = mount_point {
            mount_index(mount_point)?;
        }
        Ok(())
    }

    /// `virDomainSetUserPassword`: accepted for a running guest.
    pub(in crate::driver::test) fn set_user_password(
        &self,
        dom: &DomainRef,
        password_flags: u32,
    ) -> Result<()> {
        check_flags(
            password_flags,
            PASSWORD_ENCRYPTED,
            "testDomainSetUserPassword",
        )?;
        if !self.domain(dom)?.is_active() {
            return Err(not_running());
        }
        Ok(())
    }

    /// `virDomainSendProcessSignal`: only the guest's init, pid 1, takes signals, whatever the domain's state.
    pub(in crate::driver::test) fn send_process_signal(
        &self,
        dom: &DomainRef,
        pid: i64,
        signum: u32,
        signal_flags: u32,
    ) -> Result<()> {
        check_flags(signal_flags, 0, "testDomainSendProcessSignal")?;
        if pid != 1 {
            return Err(Error::invalid_arg(
                ErrorDomain::TEST,
                "only sending a signal to pid 1 is supported",
            ));
        }
        if signum >= PROCESS_SIGNAL_LAST {
            return Err(Error::invalid_arg(
                ErrorDomain::TEST,
                format!("signum value {signum} is out of range"),
            ));
        }
        self.domain(dom)?;
        Ok(())
    }

    /// `virDomainSetLifecycleAction`: the `<on_poweroff>`, `<on_reboot>` or `<on_crash>` of the live and/or
    /// persistent definition; core dumps only follow a crash.
    pub(in crate::driver::test) fn set_lifecycle_action(
        &mut self,
        store: &dyn Persist,
        dom: &DomainRef,
        kind: u32,
        action: u32,
        action_flags: u32,
    ) -> Result<()> {
        check_flags(
            action_flags,
            flags::AFFECT_LIVE | flags::AFFECT_CONFIG,
            "testDomainSetLifecycleAction",
        )?;
        let event_name = *LIFECYCLE_EVENTS.get(kind as usize).ok_or_else(|| {
            Error::invalid_arg(
                ErrorDomain::DOMAIN,
                format!("invalid lifecycle type '{kind}'"),
            )
        })?;
        let action_name = *LIFECYCLE_ACTIONS.get(action as usize).ok_or_else(|| {
            Error::invalid_arg(
                ErrorDomain::DOMAIN,
                format!("invalid lifecycle action '{action}'"),
            )
        })?;
        if kind != 2 && action >= 4 {
            return Err(Error::with_detail(
                ErrorCode::CONFIG_UNSUPPORTED,
                ErrorDomain::DOMAIN,
                format!("Lifecycle event '{event_name}' doesn't support '{action_name}' action"),
            ));
        }
        let mut changed = self.domain(dom)?.clone();
        let target = impact(&changed, action_flags, false)?;
        let defs = [
            (target.live, changed.live_def.as_mut()),
            (target.config, changed.persistent_def.as_mut()),
        ];
        for (_, def) in defs.into_iter().filter(|(wanted, _)| *wanted) {
            let Some(def) = def else { continue };
            let slot = match kind {
                0 => &mut def.on_poweroff,
                1 => &mut def.on_reboot,
                _ => &mut def.on_crash,
            };
            *slot = Some(action_name.to_string());
        }
        store.save_domain(&changed)?;
        self.domains.insert(changed.uuid(), changed);
        Ok(())
    }

    /// `virDomainCoreDumpWithFormat`: the file gets the test driver's magic; only the raw format is
    /// supported (refused after the file is written, as libvirt does), and `VIR_DUMP_CRASH` crashes the domain.
    pub(in crate::driver::test) fn core_dump(
        &mut self,
        store: &dyn Persist,
        dom: &DomainRef,
        to: &str,
        format: u32,
        dump_flags: u32,
    ) -> Result<()> {
        check_flags(dump_flags, DUMP_CRASH, "testDomainCoreDumpWithFormat")?;
        let obj = self.domain(dom)?.clone();
        if !obj.is_active() {
            return Err(not_running());
        }
        write_dump(obj.name(), to)?;
        if format != 0 {
            return Err(Error::with_detail(
                ErrorCode::OPERATION_UNSUPPORTED,
                ErrorDomain::TEST,
                "kdump-compressed format is not supported here",
            ));
        }
        if dump_flags & DUMP_CRASH != 0 {
            let mut changed = obj;
            let handle = changed.handle();
            changed.stop(reason::SHUTOFF_CRASHED);
            self.commit_stopped(store, handle.uuid, changed)?;
            self.emit(handle, event::STOPPED, event::STOPPED_CRASHED);
        }
        Ok(())
    }
}

/// `virDomainGetLaunchSecurityInfo`: the test driver's guests have no launch security, and it takes no flag
/// (not even the string-parameter flag every client adds, so real callers always get the flag error).
pub(in crate::driver::test) fn launch_security_info(info_flags: u32) -> Result<Vec<TypedParam>> {
    check_flags(info_flags, 0, "testDomainGetLaunchSecurityInfo")?;
    Ok(Vec::new())
}

/// `virNodeGetFreePages`: libvirt's test driver makes the counts up, cell by cell and size by size, from one
/// running sequence (19, 45, 97, ...), whatever the cells and sizes asked for.
pub(in crate::driver::test) fn free_pages(
    pages: &[u32],
    cell_count: u32,
    page_flags: u32,
) -> Result<Vec<u64>> {
    if pages.len() as u64 * u64::from(cell_count) > FREE_PAGES_MAX {
        return Err(Error::with_detail(
            ErrorCode::RPC,
            ErrorDomain::RPC,
            "the result won't fit",
        ));
    }
    check_flags(page_flags, 0, "testNodeGetFreePages")?;
    let mut x: u64 = 6;
    let total = pages.len() * cell_count as usize;
    Ok((0..total)
        .map(|_| {
            x = x.wrapping_mul(2).wrapping_add(7);
            x
        })
        .collect())
}

/// Which of the two file systems a mount point names.
fn mount_index(mount_point: &str) -> Result<usize> {
    MOUNT_POINTS
        .iter()
        .position(|m| *m == mount_point)
        .ok_or_else(|| {
            Error::operation_invalid(
                ErrorDomain::TEST,
                format!("mount point not found: {mount_point}"),
            )
        })
}

/// Writes a core dump file as libvirt's test driver does: created or truncated, owner-only.
fn write_dump(name: &str, to: &str) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(to)
        .map_err(|e| {
            Error::system(
                ErrorDomain::TEST,
                format!("domain '{name}' coredump: failed to open {to}"),
                &e,
            )
        })?;
    file.write_all(DUMP_MAGIC).map_err(|e| {
        Error::system(
            ErrorDomain::TEST,
            format!("domain '{name}' coredump: failed to write header to {to}"),
            &e,
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_pages_run_one_sequence_over_cells_and_sizes() {
        assert_eq!(free_pages(&[4, 8, 2048], 1, 0).unwrap(), [19, 45, 97]);
        assert_eq!(free_pages(&[4], 2, 0).unwrap(), [19, 45]);
        assert!(free_pages(&[4; 512], 3, 0).is_err());
        assert!(free_pages(&[4], 1, 1).is_err());
    }

    #[test]
    fn mount_points_are_the_two_simulated_ones() {
        assert_eq!(mount_index("/").unwrap(), 0);
        assert_eq!(mount_index("/boot").unwrap(), 1);
        assert!(mount_index("/x").is_err());
    }
}
