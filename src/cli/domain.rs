//! Domain commands: list, info and state queries, XML, lifecycle, autostart, memory and vCPUs.

use super::format::{field, parse_scaled, state_reason, yes_no};
use super::spec::Parsed;
use super::{read_file, CmdResult, Failure, Session};
use crate::driver::{flags, Connection, DomainRef};
use crate::error::{Error, ErrorCode, ErrorDomain};
use uuid::Uuid;

/// Which lookups a command's domain argument may use, tried in virsh's order: id, then UUID, then name.
#[derive(Clone, Copy)]
struct By {
    id: bool,
    uuid: bool,
    name: bool,
}

const ANY: By = By {
    id: true,
    uuid: true,
    name: true,
};

/// A UUID argument: virsh tries a UUID lookup only for the 36-character written form.
pub(super) fn parse_uuid(text: &str) -> Option<Uuid> {
    if text.len() == 36 {
        Uuid::parse_str(text).ok()
    } else {
        None
    }
}

async fn lookup(driver: &Connection, text: &str, by: By) -> Result<DomainRef, Failure> {
    if by.id {
        if let Some(id) = text.parse::<i32>().ok().filter(|id| *id >= 0) {
            if let Ok(dom) = driver.domain_lookup_by_id(id).await {
                return Ok(dom);
            }
        }
    }
    if by.uuid {
        if let Some(uuid) = parse_uuid(text) {
            if let Ok(dom) = driver.domain_lookup_by_uuid(&uuid).await {
                return Ok(dom);
            }
        }
    }
    if by.name {
        if let Ok(dom) = driver.domain_lookup_by_name(text).await {
            return Ok(dom);
        }
    }
    // virsh drops the driver's message here and prints only its own line.
    Err(Failure::msg(format!("failed to get domain '{text}'")))
}

async fn domain_arg(s: &Session, p: &Parsed, by: By) -> Result<DomainRef, Failure> {
    lookup(&s.driver, p.required("domain"), by).await
}

/// virsh's order: running domains by id, then inactive ones by name (case-insensitive).
fn sort_domains(domains: &mut [DomainRef]) {
    domains.sort_by(|a, b| match (a.id < 0, b.id < 0) {
        (false, false) => a.id.cmp(&b.id),
        (true, true) => a.name.to_lowercase().cmp(&b.name.to_lowercase()),
        (false, true) => std::cmp::Ordering::Less,
        (true, false) => std::cmp::Ordering::Greater,
    });
}

fn id_text(dom: &DomainRef) -> String {
    if dom.id < 0 {
        "-".to_string()
    } else {
        dom.id.to_string()
    }
}

pub(super) async fn list(s: &mut Session, p: &Parsed) -> CmdResult {
    let mut filter = if p.flag("all") {
        flags::LIST_DOMAINS_ACTIVE | flags::LIST_DOMAINS_INACTIVE
    } else if p.flag("inactive") {
        flags::LIST_DOMAINS_INACTIVE
    } else {
        flags::LIST_DOMAINS_ACTIVE
    };
    let extra = [
        ("persistent", flags::LIST_DOMAINS_PERSISTENT),
        ("transient", flags::LIST_DOMAINS_TRANSIENT),
        ("state-running", flags::LIST_DOMAINS_RUNNING),
        ("state-paused", flags::LIST_DOMAINS_PAUSED),
        ("state-shutoff", flags::LIST_DOMAINS_SHUTOFF),
        ("state-other", flags::LIST_DOMAINS_OTHER),
        ("autostart", flags::LIST_DOMAINS_AUTOSTART),
        ("no-autostart", flags::LIST_DOMAINS_NO_AUTOSTART),
    ];
    for (name, bit) in extra {
        if p.flag(name) {
            filter |= bit;
        }
    }
    if p.flag("table") {
        if let Some(other) = ["name", "uuid", "id"].into_iter().find(|f| p.flag(f)) {
            return Err(Failure::msg(format!(
                "Options --table and --{other} are mutually exclusive"
            )));
        }
    }
    let mut domains = s
        .driver
        .list_all_domains(filter)
        .await
        .map_err(|e| Failure::context("Failed to list domains", &e))?;
    sort_domains(&mut domains);
    if p.flag("name") || p.flag("uuid") || p.flag("id") {
        for dom in &domains {
            let mut parts = Vec::new();
            if p.flag("id") {
                if dom.id < 0 {
                    continue;
                }
                parts.push(dom.id.to_string());
            }
            if p.flag("uuid") {
                parts.push(dom.uuid.to_string());
            }
            if p.flag("name") {
                parts.push(dom.name.clone());
            }
            s.line(parts.join(" "));
        }
        return Ok(());
    }
    let mut rows = Vec::with_capacity(domains.len());
    for dom in &domains {
        let (state, _) = s
            .driver
            .domain_get_state(dom, 0)
            .await
            .map_err(|e| Failure::context("Failed to get domain state", &e))?;
        rows.push(vec![
            id_text(dom),
            dom.name.clone(),
            state.virsh_name().to_string(),
        ]);
    }
    s.table(&["Id", "Name", "State"], &rows);
    Ok(())
}

pub(super) async fn dominfo(s: &mut Session, p: &Parsed) -> CmdResult {
    let dom = domain_arg(s, p, ANY).await?;
    let d = s.driver.clone();
    let mut text = String::new();
    text += &field("Id:", 15, id_text(&dom));
    text += &field("Name:", 15, &dom.name);
    text += &field("UUID:", 15, dom.uuid);
    if let Ok(os) = d.domain_get_os_type(&dom).await {
        text += &field("OS Type:", 15, os);
    }
    if let Ok(info) = d.domain_get_info(&dom).await {
        text += &field("State:", 15, info.state.virsh_name());
        text += &field("CPU(s):", 15, info.nr_virt_cpu);
        if info.cpu_time_ns != 0 {
            // Tenths of a second are all virsh shows; the f64 rounding is far below that.
            #[allow(clippy::cast_precision_loss)]
            let seconds = info.cpu_time_ns as f64 / 1e9;
            text += &field("CPU time:", 15, format!("{seconds:.1}s"));
        }
        text += &field("Max memory:", 15, format!("{} KiB", info.max_mem_kib));
        text += &field("Used memory:", 15, format!("{} KiB", info.memory_kib));
    }
    let persistent = match d.domain_is_persistent(&dom).await {
        Ok(value) => yes_no(value),
        Err(_) => "unknown",
    };
    text += &field("Persistent:", 15, persistent);
    let autostart = match d.domain_get_autostart(&dom).await {
        Ok(true) => "enable",
        Ok(false) => "disable",
        Err(_) => "no autostart",
    };
    text += &field("Autostart:", 15, autostart);
    let managed = match d.domain_has_managed_save_image(&dom, 0).await {
        Ok(value) => yes_no(value),
        Err(_) => "unknown",
    };
    text += &field("Managed save:", 15, managed);
    if let Ok((model, doi)) = d.node_get_security_model().await {
        if !model.is_empty() {
            text += &field("Security model:", 15, model);
            text += &field("Security DOI:", 15, doi);
            if let Ok((label, enforcing)) = d.domain_get_security_label(&dom).await {
                if !label.is_empty() {
                    let mode = if enforcing { "enforcing" } else { "permissive" };
                    text += &field("Security label:", 15, format!("{label} ({mode})"));
                }
            }
        }
    }
    s.print(&text);
    Ok(())
}

pub(super) async fn domstate(s: &mut Session, p: &Parsed) -> CmdResult {
    let dom = domain_arg(s, p, ANY).await?;
    let (state, reason) = s
        .driver
        .domain_get_state(&dom, 0)
        .await
        .map_err(Failure::from)?;
    if p.flag("reason") {
        s.line(format!(
            "{} ({})",
            state.virsh_name(),
            state_reason(state, reason)
        ));
    } else {
        s.line(state.virsh_name());
    }
    Ok(())
}

pub(super) async fn domid(s: &mut Session, p: &Parsed) -> CmdResult {
    let by = By {
        id: false,
        uuid: true,
        name: true,
    };
    let dom = domain_arg(s, p, by).await?;
    s.line(id_text(&dom));
    Ok(())
}

pub(super) async fn domuuid(s: &mut Session, p: &Parsed) -> CmdResult {
    let by = By {
        id: true,
        uuid: false,
        name: true,
    };
    let dom = domain_arg(s, p, by).await?;
    s.line(dom.uuid.to_string());
    Ok(())
}

pub(super) async fn domname(s: &mut Session, p: &Parsed) -> CmdResult {
    let by = By {
        id: true,
        uuid: true,
        name: false,
    };
    let dom = domain_arg(s, p, by).await?;
    s.line(&dom.name);
    Ok(())
}

pub(super) async fn dumpxml(s: &mut Session, p: &Parsed) -> CmdResult {
    let dom = domain_arg(s, p, ANY).await?;
    let mut bits = 0;
    for (name, bit) in [
        ("inactive", flags::XML_INACTIVE),
        ("security-info", flags::XML_SECURE),
        ("update-cpu", flags::XML_UPDATE_CPU),
        ("migratable", flags::XML_MIGRATABLE),
    ] {
        if p.flag(name) {
            bits |= bit;
        }
    }
    let xml = s
        .driver
        .domain_get_xml_desc(&dom, bits)
        .await
        .map_err(Failure::from)?;
    s.xml(&xml);
    Ok(())
}

pub(super) async fn define(s: &mut Session, p: &Parsed) -> CmdResult {
    let file = p.required("file");
    let xml = read_file(file)?;
    let bits = if p.flag("validate") {
        flags::DEFINE_VALIDATE
    } else {
        0
    };
    let dom = s
        .driver
        .domain_define_xml(&xml, bits)
        .await
        .map_err(|e| Failure::context(format!("Failed to define domain from {file}"), &e))?;
    s.notice(format!("Domain '{}' defined from {file}", dom.name));
    Ok(())
}

pub(super) async fn create(s: &mut Session, p: &Parsed) -> CmdResult {
    let file = p.required("file");
    let xml = read_file(file)?;
    let mut bits = 0;
    for (name, bit) in [
        ("paused", flags::START_PAUSED),
        ("autodestroy", flags::START_AUTODESTROY),
        ("validate", flags::START_VALIDATE),
    ] {
        if p.flag(name) {
            bits |= bit;
        }
    }
    let dom = s
        .driver
        .domain_create_xml(&xml, bits)
        .await
        .map_err(|e| Failure::context(format!("Failed to create domain from {file}"), &e))?;
    s.notice(format!("Domain '{}' created from {file}", dom.name));
    Ok(())
}

pub(super) async fn undefine(s: &mut Session, p: &Parsed) -> CmdResult {
    let dom = domain_arg(s, p, ANY).await?;
    let mut bits = 0;
    for (name, bit) in [
        ("managed-save", flags::UNDEFINE_MANAGED_SAVE),
        ("snapshots-metadata", flags::UNDEFINE_SNAPSHOTS_METADATA),
        ("nvram", flags::UNDEFINE_NVRAM),
        ("keep-nvram", flags::UNDEFINE_KEEP_NVRAM),
    ] {
        if p.flag(name) {
            bits |= bit;
        }
    }
    s.driver
        .domain_undefine(&dom, bits)
        .await
        .map_err(|e| Failure::context(format!("Failed to undefine domain '{}'", dom.name), &e))?;
    s.notice(format!("Domain '{}' has been undefined", dom.name));
    Ok(())
}

pub(super) async fn start(s: &mut Session, p: &Parsed) -> CmdResult {
    let by = By {
        id: false,
        uuid: true,
        name: true,
    };
    let dom = domain_arg(s, p, by).await?;
    if dom.id >= 0 {
        return Err(Failure::msg("Domain is already active"));
    }
    let mut bits = 0;
    for (name, bit) in [
        ("paused", flags::START_PAUSED),
        ("autodestroy", flags::START_AUTODESTROY),
        ("bypass-cache", flags::START_BYPASS_CACHE),
        ("force-boot", flags::START_FORCE_BOOT),
    ] {
        if p.flag(name) {
            bits |= bit;
        }
    }
    s.driver
        .domain_create(&dom, bits)
        .await
        .map_err(|e| Failure::context(format!("Failed to start domain '{}'", dom.name), &e))?;
    s.notice(format!("Domain '{}' started", dom.name));
    Ok(())
}

pub(super) async fn destroy(s: &mut Session, p: &Parsed) -> CmdResult {
    let dom = domain_arg(s, p, ANY).await?;
    // virDomainDestroyFlags' GRACEFUL bit.
    let bits = u32::from(p.flag("graceful"));
    s.driver
        .domain_destroy(&dom, bits)
        .await
        .map_err(|e| Failure::context(format!("Failed to destroy domain '{}'", dom.name), &e))?;
    s.notice(format!("Domain '{}' destroyed", dom.name));
    Ok(())
}

/// `--mode a,b` of shutdown and reboot as `virDomainShutdownFlagValues` bits.
fn shutdown_mode(p: &Parsed) -> Result<u32, Failure> {
    let Some(modes) = p.value("mode") else {
        return Ok(0);
    };
    let mut bits = 0;
    for mode in modes.split(',') {
        bits |= match mode {
            "acpi" => 1,
            "agent" => 2,
            "initctl" => 4,
            "signal" => 8,
            "paravirt" => 16,
            other => {
                return Err(Failure::msg(format!(
                    "Unknown mode {other} value, expecting 'acpi', 'agent', 'initctl', 'signal', or 'paravirt'"
                )))
            }
        };
    }
    Ok(bits)
}

pub(super) async fn shutdown(s: &mut Session, p: &Parsed) -> CmdResult {
    let bits = shutdown_mode(p)?;
    let dom = domain_arg(s, p, ANY).await?;
    s.driver
        .domain_shutdown(&dom, bits)
        .await
        .map_err(|e| Failure::context(format!("Failed to shutdown domain '{}'", dom.name), &e))?;
    s.notice(format!("Domain '{}' is being shutdown", dom.name));
    Ok(())
}

pub(super) async fn reboot(s: &mut Session, p: &Parsed) -> CmdResult {
    let bits = shutdown_mode(p)?;
    let dom = domain_arg(s, p, ANY).await?;
    s.driver
        .domain_reboot(&dom, bits)
        .await
        .map_err(|e| Failure::context(format!("Failed to reboot domain '{}'", dom.name), &e))?;
    s.notice(format!("Domain '{}' is being rebooted", dom.name));
    Ok(())
}

pub(super) async fn suspend(s: &mut Session, p: &Parsed) -> CmdResult {
    let dom = domain_arg(s, p, ANY).await?;
    s.driver
        .domain_suspend(&dom)
        .await
        .map_err(|e| Failure::context(format!("Failed to suspend domain '{}'", dom.name), &e))?;
    s.notice(format!("Domain '{}' suspended", dom.name));
    Ok(())
}

pub(super) async fn resume(s: &mut Session, p: &Parsed) -> CmdResult {
    let dom = domain_arg(s, p, ANY).await?;
    s.driver
        .domain_resume(&dom)
        .await
        .map_err(|e| Failure::context(format!("Failed to resume domain '{}'", dom.name), &e))?;
    s.notice(format!("Domain '{}' resumed", dom.name));
    Ok(())
}

pub(super) async fn autostart(s: &mut Session, p: &Parsed) -> CmdResult {
    let dom = domain_arg(s, p, ANY).await?;
    let enable = !p.flag("disable");
    let verb = if enable { "mark" } else { "unmark" };
    s.driver
        .domain_set_autostart(&dom, enable)
        .await
        .map_err(|e| {
            Failure::context(
                format!("Failed to {verb} domain '{}' as autostarted", dom.name),
                &e,
            )
        })?;
    s.notice(format!("Domain '{}' {verb}ed as autostarted", dom.name));
    Ok(())
}

/// `--config`, `--live`, `--current` as `virDomainModificationImpact` bits, with virsh's exclusivity checks.
fn affect_flags(p: &Parsed) -> Result<u32, Failure> {
    for other in ["live", "config"] {
        if p.flag("current") && p.flag(other) {
            return Err(Failure::msg(format!(
                "Options --current and --{other} are mutually exclusive"
            )));
        }
    }
    let mut bits = flags::AFFECT_CURRENT;
    if p.flag("config") {
        bits |= flags::AFFECT_CONFIG;
    }
    if p.flag("live") {
        bits |= flags::AFFECT_LIVE;
    }
    Ok(bits)
}

/// `setmem` (current memory) and `setmaxmem` (`maximum`): sizes are scaled integers, KiB by default.
pub(super) async fn setmem(s: &mut Session, p: &Parsed, maximum: bool) -> CmdResult {
    let mut bits = affect_flags(p)?;
    if maximum {
        bits |= flags::MEM_MAXIMUM;
    }
    let dom = domain_arg(s, p, ANY).await?;
    let text = p.required("size");
    let kib = parse_scaled(text, 1024)
        .map(|bytes| bytes.div_ceil(1024))
        .ok_or_else(|| {
            Failure::msg(format!(
                "Scaled numeric value '{text}' for <size> option is malformed or out of range"
            ))
        })?;
    // libvirt's client library refuses zero before any driver sees it.
    let result = if kib == 0 {
        Err(Error::new(
            ErrorCode::INVALID_ARG,
            ErrorDomain::NONE,
            "memory in virDomainSetMemoryFlags must not be zero",
        ))
    } else {
        s.driver.domain_set_memory(&dom, kib, bits).await
    };
    match result {
        Ok(()) => Ok(()),
        Err(e) if maximum => Err(Failure::context("Unable to change MaxMemorySize", &e)),
        Err(e) => Err(e.into()),
    }
}

pub(super) async fn setvcpus(s: &mut Session, p: &Parsed) -> CmdResult {
    let mut bits = affect_flags(p)?;
    if p.flag("maximum") {
        if !p.flag("config") {
            return Err(Failure::msg(
                "Option --config is required by option --maximum",
            ));
        }
        bits |= flags::VCPU_MAXIMUM;
    }
    let dom = domain_arg(s, p, ANY).await?;
    let text = p.required("count");
    let count: u32 = text.parse().map_err(|_| {
        Failure::msg(format!(
            "Numeric value '{text}' for <count> option is malformed or out of range"
        ))
    })?;
    if count == 0 {
        return Err(Failure::msg("Can't set 0 processors for a VM"));
    }
    s.driver
        .domain_set_vcpus(&dom, count, bits)
        .await
        .map_err(Failure::from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::driver::DomainState;

    fn dom(name: &str, id: i32) -> DomainRef {
        DomainRef {
            name: name.to_string(),
            uuid: Uuid::nil(),
            id,
        }
    }

    #[test]
    fn domains_sort_like_virsh() {
        let mut list = vec![dom("b", -1), dom("z", 3), dom("A", -1), dom("y", 1)];
        sort_domains(&mut list);
        let names: Vec<&str> = list.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names, ["y", "z", "A", "b"]);
    }

    #[test]
    fn states_have_virsh_words() {
        assert_eq!(DomainState::Shutoff.virsh_name(), "shut off");
    }
}
