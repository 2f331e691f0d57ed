//! Console redirection (DMTF DSP1076 "KVM Redirection", as libvirt-CIM serves it): the host's
//! `KVM_ConsoleRedirectionService` ("ConsoleRedirectionService") and its `KVM_ConsoleRedirectionServiceCapabilities`
//! ("ConsoleRedirectionCapabilities"), one `KVM_KVMRedirectionSAP` per graphical console session of each guest,
//! and the associations `KVM_HostedAccessPoint` (host -> SAP), `KVM_ServiceAccessBySAP` (service -> SAP),
//! `KVM_SAPAvailableForElement` (SAP -> guest) and `KVM_ServiceAffectsElement` (service -> guest and its pointing
//! devices, display controllers and controllers). The three SAP associations also name the guests' serial
//! consoles, the `KVM_TextRedirectionSAP`s of [`super::text_redirection`].
//!
//! A SAP's Name is libvirt-CIM's `<local port>:<remote port>`: remote -1 when nothing listens on the console's
//! port (EnabledState 3, Disabled), 0 for the listening socket (6, Enabled but Offline) and a connected client's
//! port for each session (2, Enabled). Like libvirt-CIM, sessions come from the host's `/proc/net/tcp{,6}`, read
//! only when the connection's hypervisor is QEMU on this very host; elsewhere (the test driver, a remote host) a
//! running guest's console counts as listening and a stopped guest's as disabled.

use std::sync::Arc;

use async_trait::async_trait;

use super::guest::{
    computer_system_path, load_guest_pieces, load_guests_part, GuestModel, Kinds, LoadOptions,
    ModelPart, ResourceKind, CS_CLASS,
};
use super::pool_config::{service_instance, service_path};
use super::pools::{host_name, host_path, HOST_CLASS, NAMESPACE};
use super::text_redirection::{read_text_saps, TEXT_SAP_CLASS};
use super::{
    get_from_enumeration, not_found, owned_assoc_instance, paths_of, put, singleton_host,
    summaries_in_memory, summary_pieces, HeldPieces, Pieces, Provider, ProviderCtx,
};
use crate::cim::{CimType, Instance, ObjectPath, Value};
use crate::driver::{every_domain, Connection, DomainRef};
use crate::error::ErrorCode;
use crate::model::DomainDef;
use crate::wbem::error::OpError;

pub const CRS_CLASS: &str = "KVM_ConsoleRedirectionService";
pub const CRS_NAME: &str = "ConsoleRedirectionService";
pub const CRSC_CLASS: &str = "KVM_ConsoleRedirectionServiceCapabilities";
pub const CRSC_ID: &str = "ConsoleRedirectionCapabilities";
pub const SAP_CLASS: &str = "KVM_KVMRedirectionSAP";
pub const HOSTED_ACCESS_POINT_CLASS: &str = "KVM_HostedAccessPoint";
pub const SERVICE_ACCESS_BY_SAP_CLASS: &str = "KVM_ServiceAccessBySAP";
pub const SAP_AVAILABLE_CLASS: &str = "KVM_SAPAvailableForElement";
pub const SERVICE_AFFECTS_CLASS: &str = "KVM_ServiceAffectsElement";

/// RedirectionServiceType 3: KVM.
const SERVICE_TYPE_KVM: u16 = 3;
/// SharingMode 3: Shared (the guest's console stays usable by other clients).
const SHARING_SHARED: u16 = 3;
/// libvirt-CIM's MaxCurrentEnabledSAPs.
const MAX_SAP_SESSIONS: u16 = 65535;
/// KVMProtocol values.
const PROTOCOL_OTHER: u16 = 1;
const PROTOCOL_VNC: u16 = 4;
/// SAP EnabledState values libvirt-CIM uses: a session, nothing listening, listening without a session.
const SAP_ACTIVE: u16 = 2;
const SAP_INACTIVE: u16 = 3;
const SAP_AVAILABLE: u16 = 6;

/// The devices the redirection service affects besides the guest itself (libvirt-CIM's list).
const AFFECTED_DEVICES: [ResourceKind; 3] = [
    ResourceKind::Input,
    ResourceKind::Graphics,
    ResourceKind::Controller,
];

pub fn crs_path(host: &str) -> ObjectPath {
    service_path(CRS_CLASS, CRS_NAME, host)
}

pub fn crsc_path() -> ObjectPath {
    ObjectPath::instance(Some(NAMESPACE), CRSC_CLASS, &[("InstanceID", CRSC_ID)])
}

fn s(v: &str) -> Value {
    Value::String(v.to_owned())
}

fn u16_array(values: &[u16]) -> Value {
    Value::Array(
        CimType::Uint16,
        values.iter().map(|v| Value::Uint16(*v)).collect(),
    )
}

// ---- the service and its capabilities ----------------------------------------------------------------------

/// `KVM_ConsoleRedirectionService`: the host's one instance.
pub struct ConsoleRedirectionServiceProvider;

#[async_trait]
impl Provider for ConsoleRedirectionServiceProvider {
    fn class_name(&self) -> &'static str {
        CRS_CLASS
    }

    async fn enumerate_names(&self, ctx: &ProviderCtx<'_>) -> Result<Vec<ObjectPath>, OpError> {
        Ok(vec![crs_path(&host_name(ctx.driver).await)])
    }

    async fn get(&self, ctx: &ProviderCtx<'_>, path: &ObjectPath) -> Result<Instance, OpError> {
        let host = singleton_host(ctx, path, crs_path).await?;
        let class = ctx.class;
        let mut inst = service_instance(ctx, CRS_NAME, &host);
        put(
            &mut inst,
            class,
            "RedirectionServiceType",
            u16_array(&[SERVICE_TYPE_KVM]),
        );
        put(
            &mut inst,
            class,
            "MaxCurrentEnabledSAPs",
            Value::Uint16(MAX_SAP_SESSIONS),
        );
        put(
            &mut inst,
            class,
            "SharingMode",
            Value::Uint16(SHARING_SHARED),
        );
        Ok(inst)
    }
}

/// `KVM_ConsoleRedirectionServiceCapabilities`: one instance.
pub struct ConsoleRedirectionCapabilitiesProvider;

#[async_trait]
impl Provider for ConsoleRedirectionCapabilitiesProvider {
    fn class_name(&self) -> &'static str {
        CRSC_CLASS
    }

    async fn enumerate_names(&self, _ctx: &ProviderCtx<'_>) -> Result<Vec<ObjectPath>, OpError> {
        Ok(vec![crsc_path()])
    }

    async fn get(&self, ctx: &ProviderCtx<'_>, path: &ObjectPath) -> Result<Instance, OpError> {
        super::lookup::validate_ref(path, &crsc_path())?;
        let class = ctx.class;
        let mut inst = ctx.new_instance();
        put(&mut inst, class, "InstanceID", s(CRSC_ID));
        put(&mut inst, class, "ElementName", s(CRSC_ID));
        put(
            &mut inst,
            class,
            "ElementNameEditSupported",
            Value::Boolean(false),
        );
        put(
            &mut inst,
            class,
            "SharingModeSupported",
            u16_array(&[SHARING_SHARED]),
        );
        Ok(ctx.with_path(inst))
    }
}

// ---- consoles and their sessions ---------------------------------------------------------------------------

/// A graphical console protocol.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Protocol {
    Vnc,
    Spice,
}

/// One redirection session point of a guest's graphical console.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ConsoleSap {
    pub domain: String,
    pub protocol: Protocol,
    /// The console's TCP port, -1 when it has none (a stopped guest with autoport).
    pub port: i32,
    /// -1: nothing listens; 0: the listening socket; otherwise a connected client's port.
    pub remote: i32,
}

impl ConsoleSap {
    /// libvirt-CIM's Name: `<local port>:<remote port>`.
    pub fn name(&self) -> String {
        format!("{}:{}", self.port, self.remote)
    }

    pub fn enabled_state(&self) -> u16 {
        match self.remote {
            r if r < 0 => SAP_INACTIVE,
            0 => SAP_AVAILABLE,
            _ => SAP_ACTIVE,
        }
    }

    pub fn path(&self) -> ObjectPath {
        sap_path(&self.domain, &self.name())
    }
}

pub fn sap_path(domain: &str, name: &str) -> ObjectPath {
    ObjectPath::instance(
        Some(NAMESPACE),
        SAP_CLASS,
        &[
            ("CreationClassName", SAP_CLASS),
            ("Name", name),
            ("SystemCreationClassName", CS_CLASS),
            ("SystemName", domain),
        ],
    )
}

/// A TCP socket of the host: its local port and, for an established connection, the peer's port.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct TcpSocket {
    pub local_port: u16,
    /// `None` for a listening socket.
    pub remote_port: Option<u16>,
}

/// The listening and established sockets of a `/proc/net/tcp` or `/proc/net/tcp6` text (other states, such as
/// TIME_WAIT, are no session). Lines that do not parse are skipped.
pub fn parse_proc_net_tcp(text: &str) -> Vec<TcpSocket> {
    const ESTABLISHED: &str = "01";
    const LISTEN: &str = "0A";
    let port = |addr: &str| {
        addr.rsplit_once(':')
            .and_then(|(_, p)| u16::from_str_radix(p, 16).ok())
    };
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let mut fields = line.split_whitespace().skip(1);
            let local = port(fields.next()?)?;
            let remote = port(fields.next()?)?;
            match fields.next()? {
                LISTEN => Some(TcpSocket {
                    local_port: local,
                    remote_port: None,
                }),
                ESTABLISHED => Some(TcpSocket {
                    local_port: local,
                    remote_port: Some(remote),
                }),
                _ => None,
            }
        })
        .collect()
}

/// Whether the connection's guests run on this host (QEMU here), whose sockets then show their sessions.
async fn sockets_are_local(driver: &Connection) -> bool {
    let Ok(hypervisor) = driver.get_type().await else {
        return false;
    };
    if !hypervisor.eq_ignore_ascii_case("QEMU") {
        return false;
    }
    let Ok(theirs) = driver.get_hostname().await else {
        return false;
    };
    nix::unistd::gethostname()
        .ok()
        .and_then(|ours| ours.into_string().ok())
        .is_some_and(|ours| ours == theirs)
}

/// The host's TCP sockets when the connection's guests run on this host, else `None`.
async fn local_sockets(driver: &Connection) -> Option<Vec<TcpSocket>> {
    if !sockets_are_local(driver).await {
        return None;
    }
    let read = tokio::task::spawn_blocking(|| {
        let mut out = Vec::new();
        for file in ["/proc/net/tcp", "/proc/net/tcp6"] {
            // Read in few calls: each read of these files resumes a walk of the kernel's whole TCP table.
            let mut text = Vec::with_capacity(1 << 18);
            let read = std::fs::File::open(file).and_then(|mut f| {
                use std::io::Read;
                f.read_to_end(&mut text)
            });
            if read.is_ok() {
                out.extend(parse_proc_net_tcp(&String::from_utf8_lossy(&text)));
            }
        }
        out
    });
    read.await.ok()
}

/// Whether a running guest's console has a port whose sockets tell its sessions.
fn has_console_port(def: &DomainDef) -> bool {
    def.devices.graphics.iter().any(|g| {
        matches!(g.graphics_type.as_str(), "vnc" | "spice") && g.port.is_some_and(|p| p > 0)
    })
}

/// The SAPs of one guest: each VNC or SPICE console's listening socket and sessions (see the module comment).
/// Names repeated within a guest (two stopped autoport consoles are both "-1:-1") are kept once.
pub fn guest_saps(def: &DomainDef, active: bool, sockets: Option<&[TcpSocket]>) -> Vec<ConsoleSap> {
    let mut out: Vec<ConsoleSap> = Vec::new();
    for g in &def.devices.graphics {
        let protocol = match g.graphics_type.as_str() {
            "vnc" => Protocol::Vnc,
            "spice" => Protocol::Spice,
            _ => continue,
        };
        let port = g.port.filter(|p| *p > 0).unwrap_or(-1);
        let sap = |remote: i32| ConsoleSap {
            domain: def.name.clone(),
            protocol,
            port,
            remote,
        };
        let mut found = Vec::new();
        match (active && port > 0, sockets) {
            (false, _) => found.push(sap(-1)),
            (true, None) => found.push(sap(0)),
            (true, Some(sockets)) => {
                let mut listening = false;
                for socket in sockets.iter().filter(|s| i32::from(s.local_port) == port) {
                    match socket.remote_port {
                        None => listening = true,
                        Some(remote) => found.push(sap(i32::from(remote))),
                    }
                }
                if listening {
                    found.insert(0, sap(0));
                }
                if found.is_empty() {
                    found.push(sap(-1));
                }
            }
        }
        for candidate in found {
            if !out.iter().any(|o| o.name() == candidate.name()) {
                out.push(candidate);
            }
        }
    }
    out
}

fn vanished(err: &crate::error::Error) -> bool {
    err.code == ErrorCode::NO_DOMAIN
}

/// The SAPs of the given domains (every defined one when `only` is `None`).
async fn read_saps(driver: &Connection, only: Option<&str>) -> Result<Vec<ConsoleSap>, OpError> {
    // Each guest's definition and whether it runs.
    let mut guests: Vec<(Arc<DomainDef>, bool)> = Vec::new();
    if let Some(summaries) = summaries_in_memory(driver, only, &every_domain).await? {
        // No XML round trip per domain.
        guests.extend(summaries.into_iter().map(|s| (s.def, s.dom.id >= 0)));
    } else {
        let doms: Vec<DomainRef> = match only {
            Some(name) => match driver.domain_lookup_by_name(name).await {
                Ok(dom) => vec![dom],
                Err(err) if vanished(&err) => return Ok(Vec::new()),
                Err(err) => return Err(err.into()),
            },
            None => driver.list_all_domains(0).await?,
        };
        for dom in doms {
            let xml = match driver.domain_get_xml_desc(&dom, 0).await {
                Ok(xml) => xml,
                Err(err) if vanished(&err) => continue,
                Err(err) => return Err(err.into()),
            };
            match DomainDef::from_xml(&xml, false) {
                Ok(def) => guests.push((Arc::new(def), dom.id >= 0)),
                Err(err) => {
                    tracing::warn!(domain = %dom.name, error = %err, "domain left out of the CIM model");
                }
            }
        }
    }
    // The host's sockets only when some running guest's console has a port to look for.
    let sockets = if guests
        .iter()
        .any(|(def, active)| *active && has_console_port(def))
    {
        local_sockets(driver).await
    } else {
        None
    };
    Ok(guests
        .iter()
        .flat_map(|(def, active)| guest_saps(def, *active, sockets.as_deref()))
        .collect())
}

fn sap_instance(ctx: &ProviderCtx<'_>, sap: &ConsoleSap) -> Instance {
    let class = ctx.class;
    let mut inst = ctx.new_instance();
    let name = sap.name();
    put(&mut inst, class, "CreationClassName", s(&class.name));
    put(&mut inst, class, "Name", s(&name));
    put(&mut inst, class, "SystemCreationClassName", s(CS_CLASS));
    put(&mut inst, class, "SystemName", s(&sap.domain));
    put(&mut inst, class, "ElementName", s(&name));
    match sap.protocol {
        Protocol::Vnc => put(&mut inst, class, "KVMProtocol", Value::Uint16(PROTOCOL_VNC)),
        Protocol::Spice => {
            put(
                &mut inst,
                class,
                "KVMProtocol",
                Value::Uint16(PROTOCOL_OTHER),
            );
            put(&mut inst, class, "OtherKVMProtocol", s("SPICE"));
        }
    }
    put(
        &mut inst,
        class,
        "EnabledState",
        Value::Uint16(sap.enabled_state()),
    );
    ctx.with_path(inst)
}

/// `KVM_KVMRedirectionSAP`.
pub struct RedirectionSapProvider;

#[async_trait]
impl Provider for RedirectionSapProvider {
    fn class_name(&self) -> &'static str {
        SAP_CLASS
    }

    /// Sessions open and close without any driver change, but they are only read for QEMU guests on this host
    /// ([`sockets_are_local`]), whose driver reports no generation, and answers are only ever reused under one: where
    /// reuse can happen the SAPs follow the guests' definitions and states alone.
    fn answers_are_reusable(&self) -> bool {
        true
    }

    async fn enumerate_names(&self, ctx: &ProviderCtx<'_>) -> Result<Vec<ObjectPath>, OpError> {
        Ok(read_saps(ctx.driver, None)
            .await?
            .iter()
            .map(ConsoleSap::path)
            .collect())
    }

    async fn get(&self, ctx: &ProviderCtx<'_>, path: &ObjectPath) -> Result<Instance, OpError> {
        let domain = path.key_str("SystemName").ok_or_else(|| not_found(path))?;
        read_saps(ctx.driver, Some(domain))
            .await?
            .iter()
            .find(|sap| sap.path().same_object(path))
            .map(|sap| sap_instance(ctx, sap))
            .ok_or_else(|| not_found(path))
    }

    async fn enumerate(&self, ctx: &ProviderCtx<'_>) -> Result<Vec<Instance>, OpError> {
        Ok(read_saps(ctx.driver, None)
            .await?
            .iter()
            .map(|sap| sap_instance(ctx, sap))
            .collect())
    }

    fn splits_per_guest(&self) -> bool {
        true
    }

    /// Not split where sessions are read from this host's sockets: those change with no version.
    async fn enumerate_pieces<'a>(
        &'a self,
        ctx: &'a ProviderCtx<'a>,
        have: &dyn HeldPieces,
    ) -> Result<Option<Pieces<'a>>, OpError> {
        if sockets_are_local(ctx.driver).await {
            return Ok(None);
        }
        summary_pieces(ctx, have, |s| {
            guest_saps(&s.def, s.dom.id >= 0, None)
                .iter()
                .map(|sap| sap_instance(ctx, sap))
                .collect()
        })
        .await
    }
}

// ---- associations ------------------------------------------------------------------------------------------

/// Which redirection association a [`RedirectionAssocProvider`] serves.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum RedirectionAssoc {
    HostedAccessPoint,
    ServiceAccessBySap,
    SapAvailableForElement,
    ServiceAffectsElement,
}

impl RedirectionAssoc {
    pub const ALL: [RedirectionAssoc; 4] = [
        RedirectionAssoc::HostedAccessPoint,
        RedirectionAssoc::ServiceAccessBySap,
        RedirectionAssoc::SapAvailableForElement,
        RedirectionAssoc::ServiceAffectsElement,
    ];

    pub fn class_name(self) -> &'static str {
        match self {
            RedirectionAssoc::HostedAccessPoint => HOSTED_ACCESS_POINT_CLASS,
            RedirectionAssoc::ServiceAccessBySap => SERVICE_ACCESS_BY_SAP_CLASS,
            RedirectionAssoc::SapAvailableForElement => SAP_AVAILABLE_CLASS,
            RedirectionAssoc::ServiceAffectsElement => SERVICE_AFFECTS_CLASS,
        }
    }
}

/// What [`affected_by`] reads of a guest's model: its devices' paths.
const AFFECTED_PATHS: ModelPart = ModelPart::Paths {
    rasds: false,
    devices: true,
    kinds: Kinds::of(&AFFECTED_DEVICES),
};

/// KVM_ServiceAffectsElement's pairs for one guest: the guest and its affected devices, each with the service.
fn affected_by(guest: GuestModel, service: &Arc<ObjectPath>) -> Vec<Pair> {
    let pair = |element: ObjectPath| {
        [
            ("AffectedElement", element.into()),
            ("AffectingElement", Arc::clone(service)),
        ]
    };
    let devices = guest
        .resources
        .into_iter()
        .filter(|r| AFFECTED_DEVICES.contains(&r.kind))
        .flat_map(|r| r.devices.into_iter().filter_map(|d| d.path));
    std::iter::once(computer_system_path(&guest.name))
        .chain(devices)
        .map(pair)
        .collect()
}

/// One provider per redirection association class.
pub struct RedirectionAssocProvider {
    pub assoc: RedirectionAssoc,
}

/// The two ends of one association instance, (role, path) each; the service, an end of every instance, is
/// shared, not copied.
type Pair = [(&'static str, Arc<ObjectPath>); 2];

impl RedirectionAssocProvider {
    pub fn all() -> Vec<RedirectionAssocProvider> {
        RedirectionAssoc::ALL
            .into_iter()
            .map(|assoc| RedirectionAssocProvider { assoc })
            .collect()
    }

    /// Whether an object of `class` can be an end of this association.
    fn endpoint(&self, class: &str) -> bool {
        let is = |c: &str| class.eq_ignore_ascii_case(c);
        let sap = is(SAP_CLASS) || is(TEXT_SAP_CLASS);
        match self.assoc {
            RedirectionAssoc::HostedAccessPoint => is(HOST_CLASS) || sap,
            RedirectionAssoc::ServiceAccessBySap => is(CRS_CLASS) || sap,
            RedirectionAssoc::SapAvailableForElement => is(CS_CLASS) || sap,
            RedirectionAssoc::ServiceAffectsElement => {
                is(CRS_CLASS)
                    || is(CS_CLASS)
                    || AFFECTED_DEVICES.iter().any(|k| is(k.device_class()))
            }
        }
    }

    /// The reference pairs of the instances naming a guest (`Some(domain)`) or of every instance.
    async fn pairs(&self, driver: &Connection, only: Option<&str>) -> Result<Vec<Pair>, OpError> {
        let host = host_name(driver).await;
        let service = Arc::new(crs_path(&host));
        let mut out = Vec::new();
        if self.assoc == RedirectionAssoc::ServiceAffectsElement {
            // The association links paths: each guest's objects are built as paths alone, and only the
            // guest asked about is read when there is one.
            let (keys, part) = (LoadOptions::KEYS_ONLY, Some(AFFECTED_PATHS));
            let guests = load_guests_part(driver, only, keys, part).await?;
            for guest in guests {
                out.extend(affected_by(guest, &service));
            }
            return Ok(out);
        }
        let host = Arc::new(host_path(&host));
        let graphical = read_saps(driver, only).await?;
        let text = read_text_saps(driver, only).await?;
        let saps = graphical
            .iter()
            .map(|sap| (sap.path(), &sap.domain))
            .chain(text.iter().map(|sap| (sap.path(), &sap.domain)));
        for (sap, domain) in saps {
            out.push(match self.assoc {
                RedirectionAssoc::HostedAccessPoint => {
                    [("Antecedent", Arc::clone(&host)), ("Dependent", sap.into())]
                }
                RedirectionAssoc::ServiceAccessBySap => [
                    ("Antecedent", Arc::clone(&service)),
                    ("Dependent", sap.into()),
                ],
                _ => [
                    ("AvailableSAP", sap.into()),
                    ("ManagedElement", computer_system_path(domain).into()),
                ],
            });
        }
        Ok(out)
    }
}

#[async_trait]
impl Provider for RedirectionAssocProvider {
    fn class_name(&self) -> &'static str {
        self.assoc.class_name()
    }

    /// As for the SAPs themselves: sessions only matter where answers are never reused.
    fn answers_are_reusable(&self) -> bool {
        true
    }

    async fn enumerate_names(&self, ctx: &ProviderCtx<'_>) -> Result<Vec<ObjectPath>, OpError> {
        Ok(paths_of(self.enumerate(ctx).await?))
    }

    async fn get(&self, ctx: &ProviderCtx<'_>, path: &ObjectPath) -> Result<Instance, OpError> {
        get_from_enumeration(self.enumerate(ctx).await?, path)
    }

    async fn enumerate(&self, ctx: &ProviderCtx<'_>) -> Result<Vec<Instance>, OpError> {
        let pairs = self.pairs(ctx.driver, None).await?;
        Ok(pairs
            .into_iter()
            .map(|refs| owned_assoc_instance(ctx, refs))
            .collect())
    }

    /// KVM_ServiceAffectsElement is listed guest by guest; the SAP associations list the graphical consoles of
    /// every guest before the text ones, so they are not split.
    fn splits_per_guest(&self) -> bool {
        self.assoc == RedirectionAssoc::ServiceAffectsElement
    }

    async fn enumerate_pieces<'a>(
        &'a self,
        ctx: &'a ProviderCtx<'a>,
        have: &dyn HeldPieces,
    ) -> Result<Option<Pieces<'a>>, OpError> {
        if !self.splits_per_guest() {
            return Ok(None);
        }
        let service = Arc::new(crs_path(&host_name(ctx.driver).await));
        let part = Some(AFFECTED_PATHS);
        load_guest_pieces(
            ctx.driver,
            LoadOptions::KEYS_ONLY,
            part,
            have,
            move |guest| {
                affected_by(guest, &service)
                    .into_iter()
                    .map(|refs| owned_assoc_instance(ctx, refs))
                    .collect()
            },
        )
        .await
    }

    /// A SAP, guest or guest device names one guest: only that guest's consoles are read.
    async fn references_to(
        &self,
        ctx: &ProviderCtx<'_>,
        object: &ObjectPath,
    ) -> Result<Option<Vec<Instance>>, OpError> {
        if !self.endpoint(&object.class_name) {
            return Ok(Some(Vec::new()));
        }
        let is = |c: &str| object.class_name.eq_ignore_ascii_case(c);
        if is(HOST_CLASS) || is(CRS_CLASS) {
            return Ok(None);
        }
        let domain = if is(CS_CLASS) {
            object.key_str("Name")
        } else {
            object.key_str("SystemName")
        };
        let Some(domain) = domain else {
            return Ok(Some(Vec::new()));
        };
        let pairs = self.pairs(ctx.driver, Some(domain)).await?;
        Ok(Some(
            pairs
                .into_iter()
                .map(|refs| owned_assoc_instance(ctx, refs))
                .collect(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::GraphicsDef;

    fn guest(graphics: &[(&str, Option<i32>)]) -> DomainDef {
        let mut def = DomainDef {
            name: "g1".into(),
            ..DomainDef::default()
        };
        for (kind, port) in graphics {
            def.devices.graphics.push(GraphicsDef {
                graphics_type: (*kind).into(),
                port: *port,
                ..GraphicsDef::default()
            });
        }
        def
    }

    const TCP: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:170C 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0
   1: 0100007F:170C 0100007F:D431 01 00000000:00000000 00:00000000 00000000     0        0 2 1 0 20 4 30 10 -1
   2: 0100007F:D431 0100007F:170C 01 00000000:00000000 00:00000000 00000000     0        0 3 1 0 20 4 30 10 -1
   3: 0100007F:170C 0100007F:D432 06 00000000:00000000 03:00000000 00000000     0        0 0 3 0
";

    #[test]
    fn proc_net_tcp_listening_and_established() {
        let sockets = parse_proc_net_tcp(TCP);
        assert_eq!(
            sockets,
            vec![
                TcpSocket {
                    local_port: 5900,
                    remote_port: None
                },
                TcpSocket {
                    local_port: 5900,
                    remote_port: Some(54321)
                },
                TcpSocket {
                    local_port: 54321,
                    remote_port: Some(5900)
                },
            ]
        );
        assert!(parse_proc_net_tcp("header\ngarbage line\n").is_empty());
    }

    #[test]
    fn names_and_states_as_libvirt_cim() {
        let def = guest(&[("vnc", Some(5900)), ("sdl", None)]);
        let sockets = parse_proc_net_tcp(TCP);
        let saps = guest_saps(&def, true, Some(&sockets));
        let named: Vec<(String, u16)> =
            saps.iter().map(|s| (s.name(), s.enabled_state())).collect();
        assert_eq!(named, vec![("5900:0".into(), 6), ("5900:54321".into(), 2)]);
        // A stopped guest: nothing is read, the console is disabled.
        let saps = guest_saps(&guest(&[("vnc", Some(-1))]), false, Some(&sockets));
        assert_eq!(saps.len(), 1);
        assert_eq!(
            (saps[0].name().as_str(), saps[0].enabled_state()),
            ("-1:-1", 3)
        );
        // Running, but nothing listens on its port.
        let saps = guest_saps(&guest(&[("vnc", Some(5901))]), true, Some(&sockets));
        assert_eq!(saps[0].name(), "5901:-1");
        // No view of the host's sockets: a running guest's console listens.
        let saps = guest_saps(&guest(&[("spice", Some(5902))]), true, None);
        assert_eq!(
            (saps[0].name().as_str(), saps[0].protocol),
            ("5902:0", Protocol::Spice)
        );
        // Two stopped autoport consoles share a name: kept once.
        let saps = guest_saps(&guest(&[("vnc", None), ("spice", None)]), false, None);
        assert_eq!(saps.len(), 1);
    }
}
