//! Migration as libvirt's version 3 protocol with parameters runs it, the parts every driver shares: flag,
//! parameter and feature numbers, the typed parameters a migration takes, the cookie two drivers exchange, and the
//! peer-to-peer sequence a source driver runs itself (`virsh migrate --p2p`).
//!
//! The client (or, peer to peer, the source daemon) calls Begin on the source, Prepare on the destination,
//! Perform on the source, Finish on the destination and Confirm on the source, passing each phase's cookie to the
//! next (libvirt's `virDomainMigrateVersion3Full`). An offline migration skips Perform.

use super::{Connection, DomainRef, TypedParam, TypedValue};
use crate::error::{Error, ErrorCode, ErrorDomain, Result};
use std::sync::{Arc, OnceLock};
use uuid::Uuid;

/// `virDomainMigrateFlags`.
pub mod flags {
    pub const LIVE: u32 = 1;
    pub const PEER2PEER: u32 = 1 << 1;
    pub const TUNNELLED: u32 = 1 << 2;
    pub const PERSIST_DEST: u32 = 1 << 3;
    pub const UNDEFINE_SOURCE: u32 = 1 << 4;
    pub const PAUSED: u32 = 1 << 5;
    pub const NON_SHARED_DISK: u32 = 1 << 6;
    pub const NON_SHARED_INC: u32 = 1 << 7;
    pub const CHANGE_PROTECTION: u32 = 1 << 8;
    pub const UNSAFE: u32 = 1 << 9;
    pub const OFFLINE: u32 = 1 << 10;
    pub const ABORT_ON_ERROR: u32 = 1 << 12;
    pub const AUTO_CONVERGE: u32 = 1 << 13;
}

/// `VIR_MIGRATE_PARAM_*` names.
pub mod param {
    pub const URI: &str = "migrate_uri";
    pub const DEST_NAME: &str = "destination_name";
    pub const DEST_XML: &str = "destination_xml";
    pub const PERSIST_XML: &str = "persistent_xml";
    pub const BANDWIDTH: &str = "bandwidth";
    pub const LISTEN_ADDRESS: &str = "listen_address";
    pub const GRAPHICS_URI: &str = "graphics_uri";
    /// A disk target to copy (`--migrate-disks`); repeated, one per disk.
    pub const MIGRATE_DISKS: &str = "migrate_disks";
    /// The port the destination's NBD server listens on (`--disks-port`, an int).
    pub const DISKS_PORT: &str = "disks_port";
    /// Where the destination's NBD server listens (`--disks-uri`, `tcp://host[:port]`).
    pub const DISKS_URI: &str = "disks_uri";
}

/// The `VIR_DRV_FEATURE_*` numbers a hypervisor driver answers through CONNECT_SUPPORTS_FEATURE.
pub mod feature {
    pub const MIGRATION_V2: i32 = 3;
    pub const MIGRATION_P2P: i32 = 4;
    pub const MIGRATION_DIRECT: i32 = 5;
    pub const MIGRATION_V3: i32 = 6;
    pub const MIGRATE_CHANGE_PROTECTION: i32 = 7;
    pub const MIGRATION_PARAMS: i32 = 13;
    pub const MIGRATION_OFFLINE: i32 = 12;
    pub const XML_MIGRATABLE: i32 = 11;
}

/// Lifecycle event details and state reasons of a migration (`virDomainEvent*DetailType`, `virDomain*Reason`).
pub mod detail {
    pub const STARTED_MIGRATED: i32 = 1;
    pub const SUSPENDED_MIGRATED: i32 = 1;
    pub const RESUMED_MIGRATED: i32 = 1;
    pub const STOPPED_MIGRATED: i32 = 3;
    pub const RUNNING_MIGRATED: i32 = 2;
    pub const RUNNING_MIGRATION_CANCELED: i32 = 6;
    pub const SHUTOFF_MIGRATED: i32 = 4;
}

/// `VIR_DOMAIN_JOB_OPERATION_MIGRATION_IN` / `_OUT`.
pub const JOB_OPERATION_MIGRATION_IN: i32 = 4;
pub const JOB_OPERATION_MIGRATION_OUT: i32 = 5;

/// `VIR_ERR_OPERATION_ABORTED`.
pub const OPERATION_ABORTED: ErrorCode = ErrorCode(78);

/// The typed parameters of one migration call, read as libvirt's `virTypedParamsGet*` read them.
#[derive(Clone, Debug, Default)]
pub struct Params(pub Vec<TypedParam>);

impl Params {
    /// Refuses parameters outside `known` (libvirt's `virTypedParamsValidate` against the driver's list) and
    /// values of the wrong type.
    pub fn validate(&self, known: &[(&str, Kind)], domain: ErrorDomain) -> Result<()> {
        for p in &self.0 {
            let Some((_, kind)) = known.iter().find(|(name, _)| *name == p.field) else {
                return Err(Error::with_detail(
                    ErrorCode::ARGUMENT_UNSUPPORTED,
                    domain,
                    format!("parameter '{}' not supported", p.field),
                ));
            };
            let ok = matches!(
                (kind, &p.value),
                (Kind::String, TypedValue::String(_))
                    | (Kind::ULLong, TypedValue::ULLong(_))
                    | (Kind::Int, TypedValue::Int(_))
            );
            if !ok {
                return Err(Error::invalid_arg(
                    domain,
                    format!("invalid type for parameter '{}'", p.field),
                ));
            }
        }
        Ok(())
    }

    /// The first string parameter `name`.
    pub fn string(&self, name: &str) -> Option<&str> {
        self.0.iter().find_map(|p| match &p.value {
            TypedValue::String(s) if p.field == name => Some(s.as_str()),
            _ => None,
        })
    }

    /// Every string parameter `name`, in order (`virTypedParamsGetStringList`).
    pub fn strings(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter_map(|p| match &p.value {
                TypedValue::String(s) if p.field == name => Some(s.as_str()),
                _ => None,
            })
            .collect()
    }

    pub fn int(&self, name: &str) -> Option<i32> {
        self.0.iter().find_map(|p| match p.value {
            TypedValue::Int(v) if p.field == name => Some(v),
            _ => None,
        })
    }

    pub fn ullong(&self, name: &str) -> Option<u64> {
        self.0.iter().find_map(|p| match p.value {
            TypedValue::ULLong(v) if p.field == name => Some(v),
            _ => None,
        })
    }

    /// Sets string `name`, replacing what was there (`virTypedParamsReplaceString`).
    pub fn replace_string(&mut self, name: &str, value: &str) {
        self.0.retain(|p| p.field != name);
        self.0.push(TypedParam {
            field: name.to_string(),
            value: TypedValue::String(value.to_string()),
        });
    }
}

/// A parameter's expected type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    String,
    ULLong,
    Int,
}

/// What a finished migration measured, carried from the source to the destination in the cookie, where
/// `domjobinfo --completed` shows it (libvirt's `<statistics>`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Statistics {
    /// Milliseconds from the start of Perform to its end.
    pub time_elapsed: u64,
    /// Milliseconds the guest was paused at the switch-over, as QEMU measured it.
    pub downtime: u64,
    pub memory_total: u64,
    pub memory_processed: u64,
    pub memory_bps: u64,
}

/// The cookie of the QEMU driver, in libvirt's `<qemu-migration>` form: the fields a libvirtd destination needs
/// (name, uuid, hostname, hostuuid), the statistics and the disks copied over NBD. Unknown elements from a
/// libvirtd peer are ignored.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Cookie {
    pub name: String,
    pub uuid: Uuid,
    pub hostname: String,
    pub hostuuid: Uuid,
    pub statistics: Option<Statistics>,
    pub nbd: Option<Nbd>,
}

/// libvirt's `<nbd port='..'><disk target='..' capacity='..'/></nbd>`: from the source, the disks it will copy
/// and their sizes (so the destination can create missing images); from the destination, its NBD server's port.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Nbd {
    pub port: Option<u16>,
    pub disks: Vec<NbdDisk>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NbdDisk {
    pub target: String,
    pub capacity: u64,
}

impl Cookie {
    pub fn to_bytes(&self) -> Vec<u8> {
        let esc = escape;
        let mut xml = format!(
            "<qemu-migration>\n  <name>{}</name>\n  <uuid>{}</uuid>\n  <hostname>{}</hostname>\n  \
             <hostuuid>{}</hostuuid>\n",
            esc(&self.name),
            self.uuid,
            esc(&self.hostname),
            self.hostuuid
        );
        if let Some(s) = &self.statistics {
            xml.push_str(&format!(
                "  <statistics>\n    <time_elapsed>{}</time_elapsed>\n    <downtime>{}</downtime>\n    \
                 <memory_total>{}</memory_total>\n    <memory_processed>{}</memory_processed>\n    \
                 <memory_bps>{}</memory_bps>\n  </statistics>\n",
                s.time_elapsed, s.downtime, s.memory_total, s.memory_processed, s.memory_bps
            ));
        }
        if let Some(nbd) = &self.nbd {
            match nbd.port {
                Some(port) => xml.push_str(&format!("  <nbd port='{port}'>\n")),
                None => xml.push_str("  <nbd>\n"),
            }
            for disk in &nbd.disks {
                xml.push_str(&format!(
                    "    <disk target='{}' capacity='{}'/>\n",
                    escape(&disk.target).replace('\'', "&apos;"),
                    disk.capacity
                ));
            }
            xml.push_str("  </nbd>\n");
        }
        xml.push_str("</qemu-migration>\n");
        // libvirt sends the cookie NUL-terminated.
        let mut bytes = xml.into_bytes();
        bytes.push(0);
        bytes
    }

    /// Reads a cookie; an empty one is `None` (libvirt accepts a phase without cookie).
    pub fn parse(bytes: &[u8], domain: ErrorDomain) -> Result<Option<Self>> {
        let bytes = bytes.strip_suffix(&[0]).unwrap_or(bytes);
        if bytes.is_empty() {
            return Ok(None);
        }
        let bad = |what: &str| Error::internal(domain, format!("invalid migration cookie: {what}"));
        let text = std::str::from_utf8(bytes).map_err(|_| bad("not UTF-8"))?;
        let root = crate::xml::parse(text, &COOKIE_CAPS).map_err(|e| bad(&e.to_string()))?;
        if root.name != "qemu-migration" {
            return Err(bad("unexpected root element"));
        }
        let uuid_of = |name: &str| -> Result<Uuid> {
            root.child_text(name)
                .and_then(|t| Uuid::parse_str(t.trim()).ok())
                .ok_or_else(|| bad(&format!("missing {name}")))
        };
        let number = |node: &crate::xml::Node, name: &str| -> u64 {
            node.child_text(name)
                .and_then(|t| t.trim().parse().ok())
                .unwrap_or(0)
        };
        let statistics = root.child("statistics").map(|s| Statistics {
            time_elapsed: number(s, "time_elapsed"),
            downtime: number(s, "downtime"),
            memory_total: number(s, "memory_total"),
            memory_processed: number(s, "memory_processed"),
            memory_bps: number(s, "memory_bps"),
        });
        let nbd = match root.child("nbd") {
            Some(node) => Some(Nbd {
                port: match node.attr("port") {
                    Some(port) => Some(port.trim().parse().map_err(|_| bad("invalid nbd port"))?),
                    None => None,
                },
                disks: node
                    .children_named("disk")
                    .map(|d| {
                        Ok(NbdDisk {
                            target: d
                                .attr("target")
                                .ok_or_else(|| bad("nbd disk without target"))?
                                .to_string(),
                            capacity: d
                                .attr("capacity")
                                .and_then(|c| c.trim().parse().ok())
                                .unwrap_or(0),
                        })
                    })
                    .collect::<Result<_>>()?,
            }),
            None => None,
        };
        Ok(Some(Cookie {
            name: root.child_text("name").unwrap_or_default().to_string(),
            uuid: uuid_of("uuid")?,
            hostname: root.child_text("hostname").unwrap_or_default().to_string(),
            hostuuid: uuid_of("hostuuid")?,
            statistics,
            nbd,
        }))
    }
}

/// What a cookie may hold (a libvirtd's carries a few KiB of XML; its cap is 4 MiB).
const COOKIE_CAPS: crate::xml::Caps = crate::xml::Caps {
    input_bytes: 4 << 20,
    depth: 16,
    elements: 10_000,
    attributes: 32,
    attribute_bytes: 64 * 1024,
    element_text_bytes: 1 << 20,
    text_bytes: 4 << 20,
    normalize_line_ends: true,
};

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Opens a connection to a destination for a peer-to-peer migration. The daemon installs one (it owns the URI
/// registry, which sits above the drivers); without it peer-to-peer migration is not supported.
#[async_trait::async_trait]
pub trait PeerOpener: Send + Sync {
    async fn open(&self, uri: &str) -> Result<Connection>;
}

static PEER_OPENER: OnceLock<Arc<dyn PeerOpener>> = OnceLock::new();

/// Installs the process's peer opener (the first call wins; a daemon has one registry).
pub fn set_peer_opener(opener: Arc<dyn PeerOpener>) {
    let _ = PEER_OPENER.set(opener);
}

/// The local half of a migration a source driver runs peer to peer: its own Begin, Perform and Confirm.
#[async_trait::async_trait]
pub trait SourceSide: Send + Sync {
    async fn begin(
        &self,
        dom: &DomainRef,
        params: &Params,
        flags: u32,
    ) -> Result<(Vec<u8>, String)>;
    async fn perform(
        &self,
        dom: &DomainRef,
        params: &Params,
        cookie: &[u8],
        flags: u32,
    ) -> Result<Vec<u8>>;
    async fn confirm(
        &self,
        dom: &DomainRef,
        params: &Params,
        cookie: &[u8],
        flags: u32,
        cancelled: bool,
    ) -> Result<()>;
    /// Perform of a tunnelled migration: the guest's migration data goes down `stream` (the destination's
    /// PrepareTunnel opened it) instead of a connection of its own.
    async fn perform_tunnel(
        &self,
        _dom: &DomainRef,
        _params: &Params,
        _cookie: &[u8],
        _flags: u32,
        _stream: super::Stream,
    ) -> Result<Vec<u8>> {
        Err(Error::with_detail(
            ErrorCode::ARGUMENT_UNSUPPORTED,
            ErrorDomain::NONE,
            "tunnelled migration is not supported",
        ))
    }
    /// Stops a Perform in progress (the destination went away); Perform then fails.
    async fn cancel(&self, dom: &DomainRef);
}

/// How often a peer-to-peer source checks that its destination is still there.
const PEER_CHECK: std::time::Duration = std::time::Duration::from_millis(200);

/// The peer-to-peer sequence (libvirt's `qemuMigrationSrcPerformPeer2Peer3`): the source opens `dconnuri` and
/// drives the destination's Prepare and Finish itself. A destination that fails or dies leaves the guest on the
/// source, and the error is the first one met.
pub async fn run_peer2peer(
    source: &dyn SourceSide,
    dom: &DomainRef,
    dconnuri: &str,
    params: Params,
    flags: u32,
    domain: ErrorDomain,
) -> Result<()> {
    let opener = PEER_OPENER.get().ok_or_else(|| {
        Error::with_detail(
            ErrorCode::OPERATION_UNSUPPORTED,
            domain,
            "peer-to-peer migration needs the daemon's connection registry",
        )
    })?;
    let dconn = opener.open(dconnuri).await.map_err(|err| {
        Error::with_detail(
            ErrorCode::OPERATION_FAILED,
            domain,
            format!(
                "Failed to connect to remote libvirt URI {dconnuri}: {}",
                err.message
            ),
        )
    })?;
    let result = peer2peer_with(source, &dconn, dom, params, flags, domain).await;
    let _ = dconn.close().await;
    result
}

async fn peer2peer_with(
    source: &dyn SourceSide,
    dconn: &Connection,
    dom: &DomainRef,
    mut params: Params,
    flags: u32,
    domain: ErrorDomain,
) -> Result<()> {
    if !dconn
        .supports_feature(feature::MIGRATION_PARAMS)
        .await
        .unwrap_or(false)
    {
        return Err(Error::with_detail(
            ErrorCode::OPERATION_FAILED,
            domain,
            "Destination libvirt does not support peer-to-peer migration protocol",
        ));
    }
    if flags & flags::OFFLINE != 0
        && !dconn
            .supports_feature(feature::MIGRATION_OFFLINE)
            .await
            .unwrap_or(false)
    {
        return Err(Error::with_detail(
            ErrorCode::ARGUMENT_UNSUPPORTED,
            domain,
            "offline migration is not supported by the destination host",
        ));
    }
    let (cookie, xml) = source.begin(dom, &params, flags).await?;
    params.replace_string(param::DEST_XML, &xml);
    let dest_flags = flags & !(flags::ABORT_ON_ERROR | flags::AUTO_CONVERGE | flags::PEER2PEER);
    let (cookie, tunnel) = if flags & flags::TUNNELLED != 0 {
        // libvirt's qemuMigrationSrcPerformPeer2Peer3: the data goes down a stream of the connection itself.
        let (cookie, stream) = dconn
            .domain_migrate_prepare_tunnel3_params(params.0.clone(), cookie, dest_flags)
            .await?;
        (cookie, Some(stream))
    } else {
        let (cookie, uri_out) = dconn
            .domain_migrate_prepare3_params(params.0.clone(), cookie, dest_flags)
            .await?;
        if let Some(uri) = uri_out {
            params.replace_string(param::URI, &uri);
        }
        (cookie, None)
    };
    if params.string(param::DEST_NAME).is_none() {
        params.replace_string(param::DEST_NAME, &dom.name);
    }
    let (cancelled, perform_error, cookie) = if flags & flags::OFFLINE != 0 {
        (false, None, Vec::new())
    } else {
        let perform = async {
            match tunnel {
                Some(stream) => {
                    source
                        .perform_tunnel(dom, &params, &cookie, flags, stream)
                        .await
                }
                None => source.perform(dom, &params, &cookie, flags).await,
            }
        };
        match perform_watched(source, dconn, dom, perform, domain).await {
            Ok(cookie) => (false, None, cookie),
            Err(err) => (true, Some(err), Vec::new()),
        }
    };
    let finished = dconn
        .domain_migrate_finish3_params(params.0.clone(), cookie, dest_flags, cancelled)
        .await;
    let (cancelled, cookie, finish_error) = match finished {
        Ok((_, cookie)) if !cancelled => (false, cookie, None),
        Ok((_, cookie)) => (true, cookie, None),
        Err(err) => (true, Vec::new(), Some(err)),
    };
    let confirmed = if perform_error.is_some() {
        // A Perform that failed has already left the guest running on the source.
        Ok(())
    } else {
        source
            .confirm(dom, &params, &cookie, flags, cancelled)
            .await
    };
    match (perform_error, finish_error) {
        (Some(err), _) | (None, Some(err)) => Err(err),
        (None, None) => confirmed,
    }
}

/// Perform, cancelled when the connection to the destination dies meanwhile (libvirt's "Lost connection to
/// destination host"): the guest then stays on the source.
async fn perform_watched(
    source: &dyn SourceSide,
    dconn: &Connection,
    dom: &DomainRef,
    perform: impl std::future::Future<Output = Result<Vec<u8>>>,
    domain: ErrorDomain,
) -> Result<Vec<u8>> {
    tokio::pin!(perform);
    loop {
        tokio::select! {
            result = &mut perform => return result,
            () = tokio::time::sleep(PEER_CHECK) => {
                if !dconn.is_alive().await.unwrap_or(false) {
                    source.cancel(dom).await;
                    let _ = perform.await;
                    return Err(Error::with_detail(
                        ErrorCode::OPERATION_FAILED,
                        domain,
                        "Lost connection to destination host",
                    ));
                }
            }
        }
    }
}

/// The host UUID cookies carry (the daemon's, kept in its state dir).
fn process_host_uuid() -> Uuid {
    super::host_uuid::host_uuid()
}

/// Offline migration (`--offline --persistent`) for a driver that keeps only definitions (the test driver): the
/// persistent definition moves through its own API calls, nothing runs.
pub struct Offline<'a> {
    pub driver: &'a dyn super::HypervisorDriver,
    pub domain: ErrorDomain,
}

/// `VIR_DOMAIN_XML_SECURE | VIR_DOMAIN_XML_INACTIVE`.
const XML_SECURE_INACTIVE: u32 = 1 | 2;
const OFFLINE_PARAMS: &[(&str, Kind)] = &[
    (param::URI, Kind::String),
    (param::DEST_NAME, Kind::String),
    (param::DEST_XML, Kind::String),
    (param::PERSIST_XML, Kind::String),
    (param::BANDWIDTH, Kind::ULLong),
];
const OFFLINE_FLAGS: u32 = flags::OFFLINE
    | flags::PERSIST_DEST
    | flags::UNDEFINE_SOURCE
    | flags::PEER2PEER
    | flags::LIVE
    | flags::PAUSED
    | flags::CHANGE_PROTECTION
    | flags::UNSAFE;

impl Offline<'_> {
    fn check(&self, params: &[TypedParam], given: u32) -> Result<Params> {
        if given & !OFFLINE_FLAGS != 0 {
            return Err(Error::invalid_arg(
                self.domain,
                format!(
                    "unsupported flags (0x{:x}) in migration",
                    given & !OFFLINE_FLAGS
                ),
            ));
        }
        if given & flags::OFFLINE == 0 {
            return Err(Error::with_detail(
                ErrorCode::ARGUMENT_UNSUPPORTED,
                self.domain,
                "this driver migrates domains offline only",
            ));
        }
        if given & flags::PERSIST_DEST == 0 {
            return Err(Error::operation_invalid(
                self.domain,
                "offline migration must be specified with the persistent flag set",
            ));
        }
        let params = Params(params.to_vec());
        params.validate(OFFLINE_PARAMS, self.domain)?;
        Ok(params)
    }

    async fn cookie(&self, name: &str, uuid: Uuid) -> Result<Vec<u8>> {
        Ok(Cookie {
            name: name.to_string(),
            uuid,
            hostname: self.driver.get_hostname().await?,
            hostuuid: process_host_uuid(),
            statistics: None,
            nbd: None,
        }
        .to_bytes())
    }

    pub async fn begin(
        &self,
        dom: &DomainRef,
        params: Vec<TypedParam>,
        given: u32,
    ) -> Result<(Vec<u8>, String)> {
        let params = self.check(&params, given)?;
        self.begin_checked(dom, &params).await
    }

    async fn begin_checked(&self, dom: &DomainRef, params: &Params) -> Result<(Vec<u8>, String)> {
        if !self.driver.domain_is_persistent(dom).await? {
            return Err(Error::operation_invalid(
                self.domain,
                "cannot migrate a transient domain offline",
            ));
        }
        let xml = match params.string(param::DEST_XML) {
            Some(xml) => xml.to_string(),
            None => {
                self.driver
                    .domain_get_xml_desc(dom, XML_SECURE_INACTIVE)
                    .await?
            }
        };
        Ok((self.cookie(&dom.name, dom.uuid).await?, xml))
    }

    pub async fn prepare(
        &self,
        params: Vec<TypedParam>,
        cookie_in: Vec<u8>,
        given: u32,
    ) -> Result<(Vec<u8>, Option<String>)> {
        let params = self.check(&params, given)?;
        if let Some(cookie) = Cookie::parse(&cookie_in, self.domain)? {
            if cookie.hostuuid == process_host_uuid() {
                return Err(Error::internal(
                    self.domain,
                    format!(
                        "Attempt to migrate guest to the same host {}",
                        cookie.hostuuid
                    ),
                ));
            }
        }
        let xml = params
            .string(param::DEST_XML)
            .ok_or_else(|| Error::internal(self.domain, "no domain XML passed"))?;
        let def = crate::model::DomainDef::from_xml(xml, false)?;
        let hostname = self.driver.get_hostname().await?;
        Ok((
            self.cookie(&def.name, def.uuid).await?,
            Some(format!("tcp:{hostname}")),
        ))
    }

    pub async fn finish(
        &self,
        params: Vec<TypedParam>,
        given: u32,
        cancelled: bool,
    ) -> Result<(DomainRef, Vec<u8>)> {
        let params = self.check(&params, given)?;
        let name = params
            .string(param::DEST_NAME)
            .ok_or_else(|| Error::invalid_arg(self.domain, "missing destination name"))?;
        if cancelled {
            return Err(Error::with_detail(
                ErrorCode::OPERATION_FAILED,
                self.domain,
                format!("migration of domain {name} was cancelled"),
            ));
        }
        let xml = params
            .string(param::PERSIST_XML)
            .or_else(|| params.string(param::DEST_XML))
            .ok_or_else(|| Error::internal(self.domain, "no domain XML passed"))?;
        let mut def = crate::model::DomainDef::from_xml(xml, false)?;
        def.name = name.to_string();
        let xml = def.to_xml(&crate::model::DomainXmlOptions {
            id: None,
            secure: true,
        });
        let handle = self.driver.domain_define_xml(&xml, 0).await?;
        let cookie = self.cookie(&handle.name, handle.uuid).await?;
        Ok((handle, cookie))
    }

    pub async fn confirm(
        &self,
        dom: &DomainRef,
        params: Vec<TypedParam>,
        given: u32,
        cancelled: bool,
    ) -> Result<()> {
        self.check(&params, given)?;
        self.confirm_checked(dom, given, cancelled).await
    }

    async fn confirm_checked(&self, dom: &DomainRef, given: u32, cancelled: bool) -> Result<()> {
        if !cancelled && given & flags::UNDEFINE_SOURCE != 0 {
            self.driver.domain_undefine(dom, 0).await?;
        }
        Ok(())
    }

    /// Perform: only peer to peer (an offline migration the client drives has no Perform).
    pub async fn perform(
        &self,
        dom: &DomainRef,
        dconnuri: Option<String>,
        params: Vec<TypedParam>,
        given: u32,
    ) -> Result<Vec<u8>> {
        let params = self.check(&params, given)?;
        let uri = match dconnuri {
            Some(uri) if given & flags::PEER2PEER != 0 => uri,
            _ => {
                return Err(Error::operation_invalid(
                    self.domain,
                    "an offline migration has no perform phase",
                ))
            }
        };
        run_peer2peer(self, dom, &uri, params, given, self.domain).await?;
        Ok(Vec::new())
    }
}

#[async_trait::async_trait]
impl SourceSide for Offline<'_> {
    async fn begin(
        &self,
        dom: &DomainRef,
        params: &Params,
        _flags: u32,
    ) -> Result<(Vec<u8>, String)> {
        self.begin_checked(dom, params).await
    }
    async fn perform(
        &self,
        _dom: &DomainRef,
        _params: &Params,
        _cookie: &[u8],
        _flags: u32,
    ) -> Result<Vec<u8>> {
        Ok(Vec::new())
    }
    async fn confirm(
        &self,
        dom: &DomainRef,
        _params: &Params,
        _cookie: &[u8],
        given: u32,
        cancelled: bool,
    ) -> Result<()> {
        self.confirm_checked(dom, given, cancelled).await
    }
    async fn cancel(&self, _dom: &DomainRef) {}
}
