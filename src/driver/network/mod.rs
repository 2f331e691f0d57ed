//! The host's virtual networks, as libvirt's bridge network driver runs them behind `qemu:///system`: a Linux
//! bridge per network with its addresses, a dnsmasq for DHCP and DNS, and an nftables table for NAT, routing and
//! isolation; or, with `<forward mode='bridge'>`, an existing host bridge used as it is.
//!
//! Definitions live in `<root>/network/NAME.xml`, autostart marks in `autostart/`, and the definition of each
//! running network in `run/NAME.xml`, written before anything is created on the host, so that a daemon that
//! restarts finds the bridge, the dnsmasq (pid file and its command line) and the table again instead of making
//! them twice, and removes what a half-started network left. A dnsmasq found dead at that point is started again,
//! as libvirt does when it refreshes its networks' daemons at start.

mod addr;
mod bridge;
mod dnsmasq;
mod extras;
mod firewall;
mod watch;

use crate::driver::{
    flags, network_event, network_update as nu, NetworkDhcpLease, NetworkDriver, NetworkEvent,
    NetworkRef,
};
use crate::error::{Error, ErrorCode, ErrorDomain, Result};
use crate::model::{validate_name, DhcpHost, NetworkDef};
use crate::persist;
use async_trait::async_trait;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::sync::{broadcast, Mutex};
use uuid::Uuid;

/// How many events a slow subscriber may fall behind before it misses some.
const EVENT_BACKLOG: usize = 256;

/// The forward modes this driver starts.
const MODES: &[Option<&str>] = &[
    None,
    Some("nat"),
    Some("route"),
    Some("open"),
    Some("bridge"),
];

pub(super) struct Dirs {
    config: PathBuf,
    autostart: PathBuf,
    run: PathBuf,
    dnsmasq: PathBuf,
}

impl Dirs {
    pub(super) fn dnsmasq_files(&self, name: &str) -> dnsmasq::Files {
        dnsmasq::Files::new(&self.dnsmasq, &self.run, name)
    }
}

#[derive(Clone, Debug)]
pub(super) struct NetObj {
    persistent: Option<NetworkDef>,
    /// The running definition, when active.
    live: Option<NetworkDef>,
    autostart: bool,
}

impl NetObj {
    fn def(&self) -> &NetworkDef {
        self.live
            .as_ref()
            .or(self.persistent.as_ref())
            .expect("a network object has a definition")
    }
    fn handle(&self) -> NetworkRef {
        let def = self.def();
        NetworkRef {
            name: def.name.clone(),
            uuid: def.uuid,
        }
    }
}

/// The host network driver.
pub struct HostNetworkDriver {
    dirs: Arc<Dirs>,
    nets: Arc<Mutex<BTreeMap<Uuid, NetObj>>>,
    events: broadcast::Sender<NetworkEvent>,
    /// Who each dnsmasq runs as (see [`dnsmasq::RunAs`]).
    run_as: dnsmasq::RunAs,
}

/// Writes the dnsmasq files of `def` and starts it: the configuration (read as root at start, so private), the
/// hosts files (re-read on SIGHUP after dnsmasq has dropped root, so readable by all when it runs unprivileged).
pub(super) async fn start_dnsmasq(
    dirs: &Dirs,
    run_as: dnsmasq::RunAs,
    def: &NetworkDef,
    bridge: &str,
) -> Result<i32> {
    let files = dirs.dnsmasq_files(&def.name);
    let conf = dnsmasq::conf(def, bridge, &files, run_as)?;
    write_file(&files.conf, conf, false)?;
    write_file(&files.hosts, dnsmasq::hostsfile(def), run_as.is_none())?;
    write_file(
        &files.addn_hosts,
        dnsmasq::addn_hosts(def),
        run_as.is_none(),
    )?;
    dnsmasq::start(&files).await
}

/// Writes one file atomically; `public` makes it readable by all (it holds no secret).
pub(super) fn write_file(path: &Path, text: String, public: bool) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    persist::write_atomic(dir, name, text.as_bytes())
        .map_err(|e| io_error(format!("cannot write {}", path.display()), &e))?;
    if public {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644))
            .map_err(|e| io_error(format!("cannot make {} readable", path.display()), &e))?;
    }
    Ok(())
}

fn no_network(detail: impl AsRef<str>) -> Error {
    Error::with_detail(ErrorCode::NO_NETWORK, ErrorDomain::NETWORK, detail)
}

fn op_invalid(detail: impl AsRef<str>) -> Error {
    Error::operation_invalid(ErrorDomain::NETWORK, detail)
}

fn io_error(context: String, err: &std::io::Error) -> Error {
    Error::system(ErrorDomain::NETWORK, context, err)
}

fn wanted(flags: u32, yes: u32, no: u32) -> Option<bool> {
    match (flags & yes != 0, flags & no != 0) {
        (true, false) => Some(true),
        (false, true) => Some(false),
        _ => None,
    }
}

fn is_v6(address: &str) -> bool {
    address.parse::<IpAddr>().is_ok_and(|a| a.is_ipv6())
}

impl HostNetworkDriver {
    /// Opens the driver on `root` (its files go to `root/network`), finds running networks again and starts the
    /// autostarted ones.
    pub async fn open(root: &Path) -> Result<Self> {
        let base = root.join("network");
        let dirs = Dirs {
            autostart: base.join("autostart"),
            run: base.join("run"),
            dnsmasq: base.join("dnsmasq"),
            config: base,
        };
        for dir in [&dirs.config, &dirs.autostart, &dirs.run, &dirs.dnsmasq] {
            persist::create_private_dir(dir)
                .map_err(|e| io_error(format!("cannot create {}", dir.display()), &e))?;
            let _ = persist::remove_temp_files(dir);
        }
        let mut nets: BTreeMap<Uuid, NetObj> = BTreeMap::new();
        for def in load_defs(&dirs.config) {
            let autostart = dirs.autostart.join(&def.name).exists();
            nets.insert(
                def.uuid,
                NetObj {
                    persistent: Some(def),
                    live: None,
                    autostart,
                },
            );
        }
        // As libvirt, dnsmasq drops root for its own default user once started, when that user can reach the
        // files it re-reads; a state directory private to root keeps it root.
        let owned_top = root.parent().unwrap_or(root);
        let run_as = if dnsmasq::open_for_unprivileged(&dirs.dnsmasq, owned_top) {
            None
        } else {
            tracing::info!(
                dir = %dirs.dnsmasq.display(),
                "dnsmasq runs as root: a directory above the state directory is private"
            );
            Some("root")
        };
        let (events, _) = broadcast::channel(EVENT_BACKLOG);
        let driver = Self {
            dirs: Arc::new(dirs),
            nets: Arc::new(Mutex::new(BTreeMap::new())),
            events,
            run_as,
        };
        for live in load_defs(&driver.dirs.run) {
            if driver.reconnect(&live).await {
                match nets.get_mut(&live.uuid) {
                    Some(obj) => obj.live = Some(live),
                    None => {
                        nets.insert(
                            live.uuid,
                            NetObj {
                                persistent: None,
                                live: Some(live),
                                autostart: false,
                            },
                        );
                    }
                }
            }
        }
        let autostart: Vec<Uuid> = nets
            .values()
            .filter(|n| n.autostart && n.live.is_none())
            .map(|n| n.def().uuid)
            .collect();
        for uuid in autostart {
            let Some(obj) = nets.get_mut(&uuid) else {
                continue;
            };
            let def = obj.def().clone();
            match driver.start_def(&def).await {
                Ok(()) => obj.live = Some(def),
                Err(err) => tracing::warn!(
                    network = %def.name,
                    "cannot autostart network: {}",
                    err.message
                ),
            }
        }
        *driver.nets.lock().await = nets;
        watch::spawn(
            Arc::downgrade(&driver.nets),
            driver.dirs.clone(),
            driver.run_as,
        );
        Ok(driver)
    }

    /// Checks a network that was running when the daemon stopped: true when it still runs (its dnsmasq started
    /// again if it died, its table loaded again if it vanished); otherwise whatever is left of it is removed.
    async fn reconnect(&self, def: &NetworkDef) -> bool {
        let Some(bridge) = def.bridge.clone() else {
            self.teardown(def).await;
            return false;
        };
        if !bridge::exists(&bridge) {
            tracing::warn!(network = %def.name, bridge, "network's bridge is gone; network is stopped");
            self.teardown(def).await;
            return false;
        }
        if def.forward_mode.as_deref() == Some("bridge") {
            return true;
        }
        if firewall::has_rules(def) && !firewall::exists(&def.uuid).await {
            if let Err(err) = firewall::add(def, &bridge).await {
                tracing::warn!(network = %def.name, "cannot reload firewall rules: {}", err.message);
            }
        }
        if dnsmasq::wanted(def) {
            let files = self.dirs.dnsmasq_files(&def.name);
            if dnsmasq::running_pid(&files).is_none() {
                tracing::warn!(network = %def.name, "dnsmasq of the network is not running; starting it again");
                if let Err(err) = self.start_dnsmasq(def, &bridge).await {
                    tracing::warn!(network = %def.name, "cannot restart dnsmasq: {}", err.message);
                }
            }
        }
        true
    }

    /// The bridge name a new definition gets when it names none, and libvirt's defaults (STP on, no delay, a
    /// generated MAC) for a bridge this driver makes; refuses a bridge another network uses.
    fn fill_defaults(nets: &BTreeMap<Uuid, NetObj>, def: &mut NetworkDef) -> Result<()> {
        extras::refuse_unapplied(def)?;
        if !MODES.contains(&def.forward_mode.as_deref()) {
            // Defined as libvirt defines them; only starting needs a driver for the mode.
            return Ok(());
        }
        let others: Vec<String> = nets
            .values()
            .filter(|n| n.def().uuid != def.uuid)
            .flat_map(|n| [n.persistent.as_ref(), n.live.as_ref()])
            .flatten()
            .filter(|d| d.forward_mode.as_deref() != Some("bridge"))
            .filter_map(|d| d.bridge.clone())
            .collect();
        if def.forward_mode.as_deref() == Some("bridge") {
            if def.bridge.is_none() && def.forward_dev.is_none() {
                return Err(Error::with_detail(
                    ErrorCode::XML_ERROR,
                    ErrorDomain::NETWORK,
                    format!(
                        "network '{}' has forward mode 'bridge'  but no forward dev and no bridge device specified",
                        def.name
                    ),
                ));
            }
            if !def.ips.is_empty() {
                return Err(Error::with_detail(
                    ErrorCode::CONFIG_UNSUPPORTED,
                    ErrorDomain::NETWORK,
                    format!(
                        "Unsupported <ip> element in network {} with forward mode='bridge'",
                        def.name
                    ),
                ));
            }
            return Ok(());
        }
        match &def.bridge {
            Some(name) if others.contains(name) => {
                return Err(Error::internal(
                    ErrorDomain::NETWORK,
                    format!("bridge name '{name}' already in use."),
                ))
            }
            Some(name) if !bridge::valid_name(name) => {
                return Err(Error::with_detail(
                    ErrorCode::XML_ERROR,
                    ErrorDomain::NETWORK,
                    format!("invalid bridge name '{name}' in network '{}'", def.name),
                ))
            }
            Some(_) => {}
            None => def.bridge = Some(bridge::free_name(&others)),
        }
        def.bridge_stp.get_or_insert(true);
        def.bridge_delay.get_or_insert(0);
        if def.mac.is_none() {
            def.mac = Some(crate::model::generate_mac());
        }
        Ok(())
    }

    /// Refuses a definition whose name or UUID belongs to another network; the object it replaces, if any.
    fn clash<'a>(nets: &'a BTreeMap<Uuid, NetObj>, def: &NetworkDef) -> Result<Option<&'a NetObj>> {
        if let Some(existing) = nets.get(&def.uuid) {
            if existing.def().name != def.name {
                return Err(Error::with_detail(
                    ErrorCode::OPERATION_FAILED,
                    ErrorDomain::NETWORK,
                    format!(
                        "network '{}' is already defined with uuid {}",
                        existing.def().name,
                        def.uuid
                    ),
                ));
            }
            return Ok(Some(existing));
        }
        if let Some(existing) = nets.values().find(|n| n.def().name == def.name) {
            return Err(Error::with_detail(
                ErrorCode::OPERATION_FAILED,
                ErrorDomain::NETWORK,
                format!(
                    "network '{}' already exists with uuid {}",
                    def.name,
                    existing.def().uuid
                ),
            ));
        }
        Ok(None)
    }

    fn emit(&self, net: NetworkRef, event: i32) {
        let _ = self.events.send(NetworkEvent {
            network: net,
            event,
            detail: 0,
        });
    }

    fn save_status(&self, def: &NetworkDef) -> Result<()> {
        persist::write_atomic(
            &self.dirs.run,
            &format!("{}.xml", def.name),
            def.to_xml().as_bytes(),
        )
        .map_err(|e| io_error(format!("cannot save status of network '{}'", def.name), &e))
    }

    fn save_config(&self, def: &NetworkDef) -> Result<()> {
        persist::write_atomic(
            &self.dirs.config,
            &format!("{}.xml", def.name),
            def.to_xml().as_bytes(),
        )
        .map_err(|e| io_error(format!("cannot save network '{}'", def.name), &e))
    }

    async fn start_dnsmasq(&self, def: &NetworkDef, bridge: &str) -> Result<i32> {
        start_dnsmasq(&self.dirs, self.run_as, def, bridge).await
    }

    /// Brings a network up on the host: the status record first, then bridge, forwarding, firewall, dnsmasq.
    /// Any failure undoes what was made.
    async fn start_def(&self, def: &NetworkDef) -> Result<()> {
        let mode = def.forward_mode.as_deref();
        if !MODES.contains(&mode) {
            return Err(Error::with_detail(
                ErrorCode::CONFIG_UNSUPPORTED,
                ErrorDomain::NETWORK,
                format!(
                    "forward mode '{}' is not supported by this host's network driver",
                    mode.unwrap_or_default()
                ),
            ));
        }
        let Some(bridge) = def.bridge.clone() else {
            return Err(Error::internal(
                ErrorDomain::NETWORK,
                format!("network '{}' does not have a bridge name.", def.name),
            ));
        };
        if mode == Some("bridge") {
            return self.save_status(def);
        }
        let routes = std::fs::read_to_string("/proc/net/route").unwrap_or_default();
        bridge::route_collision(def, &routes)?;
        if bridge::exists(&bridge) {
            return Err(Error::new(
                ErrorCode::SYSTEM_ERROR,
                ErrorDomain::NETWORK,
                format!("error creating bridge interface {bridge}: File exists"),
            ));
        }
        self.save_status(def)?;
        let made = async {
            bridge::create(def, &bridge).await?;
            extras::apply(def, &bridge).await?;
            if matches!(mode, Some("nat") | Some("route")) {
                bridge::enable_forwarding(def.ips.iter().any(|ip| is_v6(&ip.address)))?;
            }
            firewall::add(def, &bridge).await?;
            if dnsmasq::wanted(def) {
                self.start_dnsmasq(def, &bridge).await?;
            }
            Ok::<(), Error>(())
        }
        .await;
        if let Err(err) = made {
            self.teardown(def).await;
            return Err(err);
        }
        Ok(())
    }

    /// Removes everything a running (or half-started) network has on the host, and its status record.
    async fn teardown(&self, def: &NetworkDef) {
        dnsmasq::stop(&self.dirs.dnsmasq_files(&def.name)).await;
        if def.forward_mode.as_deref() != Some("bridge") {
            firewall::remove(&def.uuid).await;
            if let Some(bridge) = &def.bridge {
                bridge::delete(bridge).await;
            }
        }
        let files = self.dirs.dnsmasq_files(&def.name);
        for path in [&files.conf, &files.hosts, &files.log] {
            let _ = std::fs::remove_file(path);
        }
        let _ = persist::remove_durable(&self.dirs.run, &format!("{}.xml", def.name));
    }

    fn find<'a>(nets: &'a BTreeMap<Uuid, NetObj>, net: &NetworkRef) -> Result<&'a NetObj> {
        nets.get(&net.uuid).ok_or_else(|| {
            no_network(format!(
                "no network with matching uuid '{}' ({})",
                net.uuid, net.name
            ))
        })
    }
}

/// Every definition in `dir` (`*.xml`); a file that does not parse is skipped with a log line.
fn load_defs(dir: &Path) -> Vec<NetworkDef> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut defs = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if !name.ends_with(".xml") || persist::is_temp_name(name) {
            continue;
        }
        match std::fs::read_to_string(&path)
            .map_err(|e| e.to_string())
            .and_then(|text| NetworkDef::from_xml(&text, false).map_err(|e| e.message))
        {
            Ok(def) if format!("{}.xml", def.name) == name => defs.push(def),
            Ok(def) => {
                tracing::warn!(file = %path.display(), "network file holds network '{}'; skipped", def.name)
            }
            Err(err) => {
                tracing::warn!(file = %path.display(), "unreadable network file skipped: {err}")
            }
        }
    }
    defs
}

/// Applies one `ip-dhcp-host` update to a definition (`virNetworkUpdate`'s rules for that section).
fn update_dhcp_host(
    def: &mut NetworkDef,
    command: u32,
    parent_index: i32,
    host: &DhcpHost,
) -> Result<()> {
    let name = def.name.clone();
    let index = if parent_index >= 0 {
        let index = usize::try_from(parent_index).unwrap_or(usize::MAX);
        if index >= def.ips.len() {
            return Err(op_invalid(format!(
                "couldn't update dhcp host entry - no <ip> element found at index {parent_index} in network '{name}'"
            )));
        }
        index
    } else {
        let by_subnet = host
            .ip
            .as_deref()
            .and_then(|a| def.ips.iter().position(|ip| addr::contains(ip, a)));
        by_subnet
            .or_else(|| def.ips.iter().position(|ip| !is_v6(&ip.address)))
            .ok_or_else(|| {
                op_invalid(format!(
                    "can't update 'ip-dhcp-host' section of network '{name}' - no IPv4 <ip> element found"
                ))
            })?
    };
    let ip = &mut def.ips[index];
    let same = |h: &DhcpHost| match (&host.mac, &h.mac) {
        (Some(a), Some(b)) => a == b,
        _ => host.name.is_some() && host.name == h.name,
    };
    let matching = ip.dhcp_hosts.iter().position(same);
    let describe = || {
        let mut attrs = String::new();
        for (key, value) in [("mac", &host.mac), ("name", &host.name), ("ip", &host.ip)] {
            if let Some(value) = value {
                attrs.push_str(&format!(" {key}='{value}'"));
            }
        }
        format!("<host{attrs}/>")
    };
    match command {
        nu::COMMAND_ADD_FIRST | nu::COMMAND_ADD_LAST => {
            let Some(address) = host.ip.as_deref() else {
                return Err(Error::with_detail(
                    ErrorCode::XML_ERROR,
                    ErrorDomain::NETWORK,
                    format!("Missing IP address in static host definition for network '{name}'"),
                ));
            };
            if !addr::contains(ip, address) {
                return Err(op_invalid(format!(
                    "the address '{address}' of the dhcp host entry is not in the subnet of network '{name}'"
                )));
            }
            let duplicate = ip
                .dhcp_hosts
                .iter()
                .any(|h| same(h) || h.ip.as_deref() == Some(address));
            if duplicate {
                return Err(op_invalid(format!(
                    "there is an existing dhcp host entry in network '{name}' that matches \"{}\"",
                    describe()
                )));
            }
            if command == nu::COMMAND_ADD_FIRST {
                ip.dhcp_hosts.insert(0, host.clone());
            } else {
                ip.dhcp_hosts.push(host.clone());
            }
        }
        nu::COMMAND_DELETE | nu::COMMAND_MODIFY => {
            let Some(at) = matching else {
                return Err(op_invalid(format!(
                    "couldn't locate a matching dhcp host entry in network '{name}'"
                )));
            };
            if command == nu::COMMAND_DELETE {
                ip.dhcp_hosts.remove(at);
            } else {
                ip.dhcp_hosts[at] = host.clone();
            }
        }
        other => {
            return Err(Error::with_detail(
                ErrorCode::NO_SUPPORT,
                ErrorDomain::NETWORK,
                format!("unrecognized network update command code {other}"),
            ))
        }
    }
    Ok(())
}

#[async_trait]
impl NetworkDriver for HostNetworkDriver {
    async fn list_all_networks(&self, list_flags: u32) -> Result<Vec<NetworkRef>> {
        let unknown = list_flags & !((1 << 6) - 1);
        if unknown != 0 {
            return Err(Error::new(
                ErrorCode::INVALID_ARG,
                ErrorDomain::NETWORK,
                format!("unsupported flags (0x{unknown:x}) in function virConnectListAllNetworks"),
            ));
        }
        let active = wanted(
            list_flags,
            flags::LIST_NETWORKS_ACTIVE,
            flags::LIST_NETWORKS_INACTIVE,
        );
        let persistent = wanted(
            list_flags,
            flags::LIST_NETWORKS_PERSISTENT,
            flags::LIST_NETWORKS_TRANSIENT,
        );
        let autostart = wanted(
            list_flags,
            flags::LIST_NETWORKS_AUTOSTART,
            flags::LIST_NETWORKS_NO_AUTOSTART,
        );
        let nets = self.nets.lock().await;
        let mut found: Vec<NetworkRef> = nets
            .values()
            .filter(|n| {
                active.is_none_or(|w| w == n.live.is_some())
                    && persistent.is_none_or(|w| w == n.persistent.is_some())
                    && autostart.is_none_or(|w| w == n.autostart)
            })
            .map(NetObj::handle)
            .collect();
        found.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(found)
    }

    async fn network_lookup_by_name(&self, name: &str) -> Result<NetworkRef> {
        let nets = self.nets.lock().await;
        nets.values()
            .find(|n| n.def().name == name)
            .map(NetObj::handle)
            .ok_or_else(|| no_network(format!("no network with matching name '{name}'")))
    }

    async fn network_lookup_by_uuid(&self, uuid: &Uuid) -> Result<NetworkRef> {
        let nets = self.nets.lock().await;
        nets.get(uuid)
            .map(NetObj::handle)
            .ok_or_else(|| no_network(format!("no network with matching uuid '{uuid}'")))
    }

    async fn network_define_xml(&self, xml: &str, define_flags: u32) -> Result<NetworkRef> {
        let mut def = NetworkDef::from_xml(xml, define_flags & 1 != 0)?;
        validate_name("network", &def.name)?;
        let mut nets = self.nets.lock().await;
        let existing = Self::clash(&nets, &def)?.cloned();
        Self::fill_defaults(&nets, &mut def)?;
        self.save_config(&def)?;
        let obj = match existing {
            Some(obj) => NetObj {
                persistent: Some(def.clone()),
                ..obj
            },
            None => NetObj {
                persistent: Some(def.clone()),
                live: None,
                autostart: false,
            },
        };
        let handle = obj.handle();
        nets.insert(def.uuid, obj);
        self.emit(handle.clone(), network_event::DEFINED);
        Ok(handle)
    }

    async fn network_create_xml(&self, xml: &str, create_flags: u32) -> Result<NetworkRef> {
        let mut def = NetworkDef::from_xml(xml, create_flags & 1 != 0)?;
        validate_name("network", &def.name)?;
        let mut nets = self.nets.lock().await;
        let existing = Self::clash(&nets, &def)?.cloned();
        if existing.as_ref().is_some_and(|o| o.live.is_some()) {
            return Err(op_invalid(format!(
                "network is already active as '{}'",
                def.name
            )));
        }
        Self::fill_defaults(&nets, &mut def)?;
        self.start_def(&def).await?;
        let obj = match existing {
            Some(obj) => NetObj {
                live: Some(def.clone()),
                ..obj
            },
            None => NetObj {
                persistent: None,
                live: Some(def.clone()),
                autostart: false,
            },
        };
        let handle = obj.handle();
        nets.insert(def.uuid, obj);
        self.emit(handle.clone(), network_event::STARTED);
        Ok(handle)
    }

    async fn network_create(&self, net: &NetworkRef) -> Result<()> {
        let mut nets = self.nets.lock().await;
        let obj = Self::find(&nets, net)?;
        if obj.live.is_some() {
            return Err(op_invalid("network is already active"));
        }
        let def = obj.def().clone();
        self.start_def(&def).await?;
        let handle = obj.handle();
        if let Some(obj) = nets.get_mut(&net.uuid) {
            obj.live = Some(def);
        }
        self.emit(handle, network_event::STARTED);
        Ok(())
    }

    async fn network_destroy(&self, net: &NetworkRef) -> Result<()> {
        let mut nets = self.nets.lock().await;
        let obj = Self::find(&nets, net)?;
        let Some(live) = obj.live.clone() else {
            return Err(op_invalid(format!(
                "network '{}' is not active",
                obj.def().name
            )));
        };
        let handle = obj.handle();
        self.teardown(&live).await;
        if obj.persistent.is_some() {
            if let Some(obj) = nets.get_mut(&net.uuid) {
                obj.live = None;
            }
        } else {
            nets.remove(&net.uuid);
        }
        self.emit(handle, network_event::STOPPED);
        Ok(())
    }

    async fn network_undefine(&self, net: &NetworkRef) -> Result<()> {
        let mut nets = self.nets.lock().await;
        let obj = Self::find(&nets, net)?;
        let Some(def) = obj.persistent.clone() else {
            return Err(op_invalid("can't undefine transient network"));
        };
        let handle = obj.handle();
        persist::remove_durable(&self.dirs.config, &format!("{}.xml", def.name))
            .map_err(|e| io_error(format!("cannot remove network '{}'", def.name), &e))?;
        let _ = std::fs::remove_file(self.dirs.autostart.join(&def.name));
        if obj.live.is_some() {
            if let Some(obj) = nets.get_mut(&net.uuid) {
                obj.persistent = None;
                obj.autostart = false;
            }
        } else {
            nets.remove(&net.uuid);
            let files = self.dirs.dnsmasq_files(&def.name);
            for path in [&files.leases, &files.addn_hosts] {
                let _ = std::fs::remove_file(path);
            }
        }
        self.emit(handle, network_event::UNDEFINED);
        Ok(())
    }

    async fn network_get_xml_desc(&self, net: &NetworkRef, xml_flags: u32) -> Result<String> {
        let unknown = xml_flags & !flags::NETWORK_XML_INACTIVE;
        if unknown != 0 {
            return Err(Error::new(
                ErrorCode::INVALID_ARG,
                ErrorDomain::NETWORK,
                format!("unsupported flags (0x{unknown:x}) in function virNetworkGetXMLDesc"),
            ));
        }
        let nets = self.nets.lock().await;
        let obj = Self::find(&nets, net)?;
        let def = match (
            &obj.persistent,
            xml_flags & flags::NETWORK_XML_INACTIVE != 0,
        ) {
            (Some(persistent), true) => persistent,
            _ => obj.def(),
        };
        Ok(def.to_xml())
    }

    async fn network_get_bridge_name(&self, net: &NetworkRef) -> Result<String> {
        let nets = self.nets.lock().await;
        let obj = Self::find(&nets, net)?;
        obj.def().bridge.clone().ok_or_else(|| {
            Error::internal(
                ErrorDomain::NETWORK,
                format!("network '{}' does not have a bridge name.", obj.def().name),
            )
        })
    }

    async fn network_get_autostart(&self, net: &NetworkRef) -> Result<bool> {
        let nets = self.nets.lock().await;
        Ok(Self::find(&nets, net)?.autostart)
    }

    async fn network_set_autostart(&self, net: &NetworkRef, autostart: bool) -> Result<()> {
        let mut nets = self.nets.lock().await;
        let obj = Self::find(&nets, net)?;
        if obj.persistent.is_none() {
            return Err(op_invalid("cannot set autostart for transient network"));
        }
        let name = obj.def().name.clone();
        if autostart {
            persist::write_atomic(&self.dirs.autostart, &name, b"")
        } else {
            persist::remove_durable(&self.dirs.autostart, &name)
        }
        .map_err(|e| io_error(format!("cannot change autostart of network '{name}'"), &e))?;
        if let Some(obj) = nets.get_mut(&net.uuid) {
            obj.autostart = autostart;
        }
        Ok(())
    }

    async fn network_is_active(&self, net: &NetworkRef) -> Result<bool> {
        let nets = self.nets.lock().await;
        Ok(Self::find(&nets, net)?.live.is_some())
    }

    async fn network_is_persistent(&self, net: &NetworkRef) -> Result<bool> {
        let nets = self.nets.lock().await;
        Ok(Self::find(&nets, net)?.persistent.is_some())
    }

    async fn network_get_dhcp_leases(
        &self,
        net: &NetworkRef,
        mac: Option<&str>,
        lease_flags: u32,
    ) -> Result<Vec<NetworkDhcpLease>> {
        if lease_flags != 0 {
            return Err(Error::new(
                ErrorCode::INVALID_ARG,
                ErrorDomain::NETWORK,
                format!(
                    "unsupported flags (0x{lease_flags:x}) in function virNetworkGetDHCPLeases"
                ),
            ));
        }
        let nets = self.nets.lock().await;
        let obj = Self::find(&nets, net)?;
        let def = obj.def();
        let files = self.dirs.dnsmasq_files(&def.name);
        let text = std::fs::read_to_string(&files.leases).unwrap_or_default();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        let bridge = def.bridge.clone().unwrap_or_default();
        Ok(dnsmasq::parse_leases(&text, def, &bridge, mac)
            .into_iter()
            // As libvirt: an expired lease is not reported; 0 means it never expires.
            .filter(|l| l.expiry_time == 0 || l.expiry_time >= now)
            .collect())
    }

    async fn network_update(
        &self,
        net: &NetworkRef,
        command: u32,
        section: u32,
        parent_index: i32,
        xml: &str,
        update_flags: u32,
    ) -> Result<()> {
        let unknown = update_flags & !(nu::AFFECT_LIVE | nu::AFFECT_CONFIG);
        if unknown != 0 {
            return Err(Error::new(
                ErrorCode::INVALID_ARG,
                ErrorDomain::NETWORK,
                format!("unsupported flags (0x{unknown:x}) in function networkUpdate"),
            ));
        }
        let mut nets = self.nets.lock().await;
        let obj = Self::find(&nets, net)?.clone();
        let name = obj.def().name.clone();
        if section != nu::SECTION_IP_DHCP_HOST {
            return Err(Error::with_detail(
                ErrorCode::NO_SUPPORT,
                ErrorDomain::NETWORK,
                format!("can't update section {section} of network '{name}': only ip-dhcp-host is supported"),
            ));
        }
        let mut update_flags = update_flags;
        if update_flags & (nu::AFFECT_LIVE | nu::AFFECT_CONFIG) == 0 {
            update_flags |= if obj.live.is_some() {
                nu::AFFECT_LIVE
            } else {
                nu::AFFECT_CONFIG
            };
        }
        if update_flags & nu::AFFECT_LIVE != 0 && obj.live.is_none() {
            return Err(op_invalid("network is not running"));
        }
        if update_flags & nu::AFFECT_CONFIG != 0 && obj.persistent.is_none() {
            return Err(op_invalid(
                "cannot change persistent config of a transient network",
            ));
        }
        let host = DhcpHost::from_xml(xml, &name)?;
        let mut changed = obj.clone();
        if update_flags & nu::AFFECT_CONFIG != 0 {
            if let Some(def) = changed.persistent.as_mut() {
                update_dhcp_host(def, command, parent_index, &host)?;
            }
        }
        if update_flags & nu::AFFECT_LIVE != 0 {
            if let Some(def) = changed.live.as_mut() {
                update_dhcp_host(def, command, parent_index, &host)?;
            }
        }
        if update_flags & nu::AFFECT_CONFIG != 0 {
            if let Some(def) = &changed.persistent {
                self.save_config(def)?;
            }
        }
        if update_flags & nu::AFFECT_LIVE != 0 {
            if let Some(def) = &changed.live {
                self.save_status(def)?;
                if dnsmasq::wanted(def) {
                    let files = self.dirs.dnsmasq_files(&name);
                    let bridge = def.bridge.clone().unwrap_or_default();
                    let conf_now = std::fs::read_to_string(&files.conf).unwrap_or_default();
                    let reload_enough = dnsmasq::conf(def, &bridge, &files, self.run_as)
                        .is_ok_and(|conf| conf == conf_now);
                    match dnsmasq::running_pid(&files) {
                        // The first static host of a network without DHCP changes the configuration itself:
                        // dnsmasq re-reads only its hosts files on SIGHUP, so it is started afresh.
                        Some(_) if !reload_enough => {
                            dnsmasq::stop(&files).await;
                            self.start_dnsmasq(def, &bridge).await?;
                        }
                        Some(pid) => {
                            write_file(
                                &files.hosts,
                                dnsmasq::hostsfile(def),
                                self.run_as.is_none(),
                            )?;
                            dnsmasq::reload(pid)?;
                        }
                        // As libvirt's refresh: a dnsmasq that is not running is started.
                        None => {
                            self.start_dnsmasq(def, &bridge).await?;
                        }
                    }
                }
            }
        }
        nets.insert(net.uuid, changed);
        Ok(())
    }

    async fn network_event_subscribe(&self) -> Result<broadcast::Receiver<NetworkEvent>> {
        Ok(self.events.subscribe())
    }
}

#[cfg(test)]
mod tests;
