//! Host and connection commands: version, hostname, uri, nodeinfo, capabilities.

use super::format::field;
use super::spec::Parsed;
use super::{version_text, CmdResult, Failure, Session, LIBVIRT_API_VERSION};

pub(super) async fn version(s: &mut Session, p: &Parsed) -> CmdResult {
    let library = version_text(LIBVIRT_API_VERSION);
    s.line(format!("Compiled against library: libvirt {library}"));
    s.line(format!("Using library: libvirt {library}"));
    let kind = s
        .driver
        .get_type()
        .await
        .map_err(|e| Failure::context("failed to get hypervisor type", &e))?;
    s.line(format!("Using API: {kind} {library}"));
    let hv = s
        .driver
        .get_version()
        .await
        .map_err(|e| Failure::context("failed to get the hypervisor version", &e))?;
    if hv == 0 {
        s.line(format!("Cannot extract running {kind} hypervisor version"));
    } else {
        s.line(format!("Running hypervisor: {kind} {}", version_text(hv)));
    }
    if p.flag("daemon") {
        let daemon = s
            .driver
            .get_lib_version()
            .await
            .map_err(|e| Failure::context("failed to get the daemon version", &e))?;
        s.line(format!("Running against daemon: {}", version_text(daemon)));
    }
    Ok(())
}

pub(super) async fn hostname(s: &mut Session) -> CmdResult {
    let name = s
        .driver
        .get_hostname()
        .await
        .map_err(|e| Failure::context("failed to get hostname", &e))?;
    s.line(name);
    Ok(())
}

pub(super) async fn uri(s: &mut Session) -> CmdResult {
    // virsh prints the URI the client opened; a driver may know a canonical form of it.
    let uri = match s.driver.get_uri().await {
        Ok(uri) if !uri.is_empty() => uri,
        _ => s.uri.clone(),
    };
    s.line(uri);
    Ok(())
}

pub(super) async fn nodeinfo(s: &mut Session) -> CmdResult {
    let info = s
        .driver
        .node_get_info()
        .await
        .map_err(|e| Failure::context("failed to get node information", &e))?;
    let mut text = String::new();
    text += &field("CPU model:", 20, &info.model);
    text += &field("CPU(s):", 20, info.cpus);
    text += &field("CPU frequency:", 20, format!("{} MHz", info.mhz));
    text += &field("CPU socket(s):", 20, info.sockets);
    text += &field("Core(s) per socket:", 20, info.cores);
    text += &field("Thread(s) per core:", 20, info.threads);
    text += &field("NUMA cell(s):", 20, info.nodes);
    text += &field("Memory size:", 20, format!("{} KiB", info.memory_kib));
    s.print(&text);
    Ok(())
}

pub(super) async fn capabilities(s: &mut Session) -> CmdResult {
    let caps = s
        .driver
        .get_capabilities()
        .await
        .map_err(|e| Failure::context("failed to get capabilities", &e))?;
    // virsh follows the capabilities document with an empty line of its own.
    s.xml(&caps);
    s.print("\n");
    Ok(())
}
