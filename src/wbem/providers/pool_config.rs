//! Resource pool configuration as libvirt-CIM models it: `KVM_ResourcePoolConfigurationService` ("RPCS") with
//! CreateChildResourcePool (a storage pool from a disk pool RASD, a virtual network from a network pool RASD),
//! DeleteResourcePool, CreateResourceInPool / DeleteResourceInPool (storage volumes) and
//! RefreshResourcesInPool; `KVM_ResourcePoolConfigurationCapabilities` ("RPCC"); and the three pool-side RASD
//! classes (`KVM_DiskPoolResourceAllocationSettingData`, `KVM_NetPoolResourceAllocationSettingData`,
//! `KVM_StorageVolumeResourceAllocationSettingData`) whose templates the pools' allocation capabilities offer.
//! Everything goes through the driver API, so it works over any URI; what a driver cannot do (a pool type it
//! lacks) answers with the driver's own error.

use std::sync::Arc;

use async_trait::async_trait;

use super::capabilities::TemplateRole;
use super::jobs::start_job;
use super::pools::{host_name, HostPools, PoolId, PoolKind, HOST_CLASS, NAMESPACE};
use super::rasd_parse::{number, text};
use super::vsms::{array_param, decode_all, invalid, items, ok, param};
use super::{
    check_service_target, not_found, put, singleton_host, unknown_method, Provider, ProviderCtx,
};
use crate::cim::{CimStatus, CimType, Instance, ObjectPath, Value};
use crate::driver::{Connection, PoolRef};
use crate::error::ErrorCode;
use crate::model::PoolDef;
use crate::wbem::cimxml::MethodReturn;
use crate::wbem::error::OpError;
use crate::wbem::jobs::{Cleanup, JobSpec, JobTable};

pub const RPCS_CLASS: &str = "KVM_ResourcePoolConfigurationService";
pub const RPCS_NAME: &str = "RPCS";
pub const RPCC_CLASS: &str = "KVM_ResourcePoolConfigurationCapabilities";
pub const RPCC_ID: &str = "RPCC";
pub const DISK_POOL_RASD: &str = "KVM_DiskPoolResourceAllocationSettingData";
pub const NET_POOL_RASD: &str = "KVM_NetPoolResourceAllocationSettingData";
pub const VOLUME_RASD: &str = "KVM_StorageVolumeResourceAllocationSettingData";

/// CIM ResourceType of a storage volume (libvirt-CIM's vendor value "image").
const RESOURCE_TYPE_IMAGE: u16 = 32768;
/// RPCC.SynchronousMethodsSupported: CreateChildResourcePool (3) and DeleteResourcePool (4), as libvirt-CIM.
const RPCS_SYNCHRONOUS_METHODS: [u32; 2] = [3, 4];
const VOLUME_TEMPLATE_PREFIX: &str = "New Storage Volume ";
/// A volume of this capacity or more is created by a job (CreateResourceInPool answers 4096).
const LARGE_VOLUME_BYTES: u64 = 1 << 30;

/// libvirt-CIM's disk pool Type values and the libvirt pool types they stand for.
const DISK_POOL_TYPES: [(u16, &str); 7] = [
    (1, "dir"),
    (2, "fs"),
    (3, "netfs"),
    (4, "disk"),
    (5, "iscsi"),
    (6, "logical"),
    (7, "scsi"),
];

/// Network pool ForwardMode values: (value, template word, libvirt `<forward mode>`).
const FORWARD_MODES: [(u16, &str, Option<&str>); 3] = [
    (0, "none", None),
    (1, "nat", Some("nat")),
    (2, "routed", Some("route")),
];
/// The forward device libvirt-CIM's network pool templates show (an example value).
const TEMPLATE_FORWARD_DEVICE: &str = "eth0";

/// Volume formats: FormatType value and libvirt's word.
const VOLUME_FORMATS: [(u16, &str); 2] = [(1, "raw"), (2, "qcow2")];

pub fn rpcs_path(host: &str) -> ObjectPath {
    service_path(RPCS_CLASS, RPCS_NAME, host)
}

pub fn rpcc_path() -> ObjectPath {
    ObjectPath::instance(Some(NAMESPACE), RPCC_CLASS, &[("InstanceID", RPCC_ID)])
}

/// The path of a host service (keys as libvirt-CIM's services).
pub fn service_path(class: &'static str, name: &str, host: &str) -> ObjectPath {
    ObjectPath::instance(
        Some(NAMESPACE),
        class,
        &[
            ("CreationClassName", class),
            ("Name", name),
            ("SystemCreationClassName", HOST_CLASS),
            ("SystemName", host),
        ],
    )
}

fn failed(message: impl Into<String>) -> OpError {
    OpError::cim(CimStatus::Failed, message)
}

fn s(v: &str) -> Value {
    Value::String(v.to_owned())
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\'' => out.push_str("&apos;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}

/// A service instance: keys, names and an enabled state (the services are always running).
pub fn service_instance(ctx: &ProviderCtx<'_>, name: &str, host: &str) -> Instance {
    let class = ctx.class;
    let mut inst = ctx.new_instance();
    put(&mut inst, class, "CreationClassName", s(&class.name));
    put(&mut inst, class, "Name", s(name));
    put(&mut inst, class, "SystemCreationClassName", s(HOST_CLASS));
    put(&mut inst, class, "SystemName", s(host));
    put(&mut inst, class, "ElementName", s(name));
    put(&mut inst, class, "EnabledState", Value::Uint16(2));
    put(&mut inst, class, "RequestedState", Value::Uint16(12));
    put(&mut inst, class, "HealthState", Value::Uint16(5));
    put(&mut inst, class, "Started", Value::Boolean(true));
    put(
        &mut inst,
        class,
        "OperationalStatus",
        Value::Array(CimType::Uint16, vec![Value::Uint16(2)]),
    );
    ctx.with_path(inst)
}

// ---- templates ------------------------------------------------------------------------------------------

/// The role of a template InstanceID: "Default", "Minimum/dir", "Default/nat/eth0",
/// "New Storage Volume Maximum/<pool>".
pub fn template_role(id: &str) -> Option<TemplateRole> {
    let id = id.strip_prefix(VOLUME_TEMPLATE_PREFIX).unwrap_or(id);
    TemplateRole::from_instance_id(id.split('/').next().unwrap_or(id))
}

/// The pool-side templates an allocation capabilities offers through SettingsDefineCapabilities: disk pool
/// settings for the primordial disk pool, network pool settings for the primordial network pool, new volume
/// settings for each disk pool.
pub fn pool_templates(pool: &PoolId) -> Vec<ObjectPath> {
    let path = |class: &'static str, id: String| {
        ObjectPath::instance(Some(NAMESPACE), class, &[("InstanceID", &id)])
    };
    let mut out = Vec::new();
    for role in TemplateRole::ALL {
        let r = role.instance_id();
        match (pool.kind, pool.is_primordial()) {
            (PoolKind::Disk, true) => {
                for (_, word) in DISK_POOL_TYPES {
                    out.push(path(DISK_POOL_RASD, format!("{r}/{word}")));
                }
            }
            (PoolKind::Network, true) => {
                for (value, word, _) in FORWARD_MODES {
                    out.push(path(NET_POOL_RASD, format!("{r}/{word}")));
                    // Isolated networks have no forward device.
                    if value != 0 {
                        out.push(path(
                            NET_POOL_RASD,
                            format!("{r}/{word}/{TEMPLATE_FORWARD_DEVICE}"),
                        ));
                    }
                }
            }
            (PoolKind::Disk, false) => out.push(path(
                VOLUME_RASD,
                format!("{VOLUME_TEMPLATE_PREFIX}{r}/{}", pool.name),
            )),
            _ => {}
        }
    }
    out
}

fn disk_pool_template(ctx: &ProviderCtx<'_>, role: TemplateRole, word: &str) -> Option<Instance> {
    let (value, _) = DISK_POOL_TYPES.iter().find(|(_, w)| *w == word)?;
    let class = ctx.class;
    let mut inst = ctx.new_instance();
    put(
        &mut inst,
        class,
        "InstanceID",
        s(&format!("{}/{word}", role.instance_id())),
    );
    put(&mut inst, class, "ResourceType", Value::Uint16(17));
    put(&mut inst, class, "PoolID", s("DiskPool/0"));
    put(&mut inst, class, "Type", Value::Uint16(*value));
    let autostart = match role {
        TemplateRole::Minimum | TemplateRole::Default => 0,
        TemplateRole::Maximum | TemplateRole::Increment => 1,
    };
    put(&mut inst, class, "Autostart", Value::Uint16(autostart));
    let mut path = "/dev/null";
    let strings = |v: &[&str]| Value::Array(CimType::String, v.iter().map(|x| s(x)).collect());
    match word {
        "fs" => put(&mut inst, class, "DevicePaths", strings(&["/dev/sda100"])),
        "disk" => put(
            &mut inst,
            class,
            "DevicePaths",
            strings(&["/dev/VolGroup00/LogVol100"]),
        ),
        "logical" => put(&mut inst, class, "DevicePaths", strings(&[])),
        "netfs" => {
            put(&mut inst, class, "Host", s("host_sys.domain.com"));
            put(&mut inst, class, "SourceDirectory", s("/var/lib/images"));
        }
        "iscsi" => {
            put(&mut inst, class, "Host", s("host_sys.domain.com"));
            put(&mut inst, class, "DevicePaths", strings(&["iscsi-target"]));
        }
        "scsi" => {
            put(&mut inst, class, "AdapterName", s("host0"));
            put(&mut inst, class, "PortName", s("0000111122223333"));
            put(&mut inst, class, "NodeName", s("4444555566667777"));
            path = "/dev/disk/by-id";
        }
        _ => {}
    }
    put(&mut inst, class, "Path", s(path));
    Some(ctx.with_path(inst))
}

fn net_pool_template(ctx: &ProviderCtx<'_>, role: TemplateRole, rest: &str) -> Option<Instance> {
    let (word, device) = match rest.split_once('/') {
        Some((word, device)) => (word, Some(device)),
        None => (rest, None),
    };
    let (value, _, _) = FORWARD_MODES.iter().find(|(_, w, _)| *w == word)?;
    if device.is_some_and(|d| d != TEMPLATE_FORWARD_DEVICE || *value == 0) {
        return None;
    }
    let class = ctx.class;
    let mut inst = ctx.new_instance();
    put(
        &mut inst,
        class,
        "InstanceID",
        s(&format!("{}/{rest}", role.instance_id())),
    );
    put(&mut inst, class, "ResourceType", Value::Uint16(10));
    put(&mut inst, class, "PoolID", s("NetworkPool/0"));
    put(&mut inst, class, "Address", s("192.168.122.1"));
    put(&mut inst, class, "Netmask", s("255.255.255.0"));
    put(&mut inst, class, "IPRangeStart", s("192.168.122.2"));
    put(&mut inst, class, "IPRangeEnd", s("192.168.122.254"));
    put(&mut inst, class, "ForwardMode", Value::Uint16(*value));
    if let Some(device) = device {
        put(&mut inst, class, "ForwardDevice", s(device));
    }
    Some(ctx.with_path(inst))
}

async fn volume_template(
    ctx: &ProviderCtx<'_>,
    role: TemplateRole,
    pool: &str,
) -> Result<Option<Instance>, OpError> {
    let Some(def) = HostPools::read(ctx.driver)
        .await?
        .storage
        .into_iter()
        .find(|p| p.name == pool)
    else {
        return Ok(None);
    };
    let class = ctx.class;
    let mut inst = ctx.new_instance();
    let id = format!("{VOLUME_TEMPLATE_PREFIX}{}/{pool}", role.instance_id());
    put(&mut inst, class, "InstanceID", s(&id));
    put(
        &mut inst,
        class,
        "ResourceType",
        Value::Uint16(RESOURCE_TYPE_IMAGE),
    );
    put(&mut inst, class, "PoolID", s(&format!("DiskPool/{pool}")));
    put(&mut inst, class, "VolumeName", s("tmp.img"));
    if let Some(path) = &def.target_path {
        put(&mut inst, class, "Path", s(path));
    }
    // Sizes in gigabytes: the most a volume can have is what the pool has free.
    let free_gib = u16::try_from(def.available >> 30).unwrap_or(u16::MAX);
    let (capacity, format) = match role {
        TemplateRole::Minimum => (0, 1),
        TemplateRole::Maximum => (free_gib, 2),
        TemplateRole::Increment => (1, 1),
        TemplateRole::Default => (1, 1),
    };
    put(&mut inst, class, "FormatType", Value::Uint16(format));
    put(&mut inst, class, "Capacity", Value::Uint16(capacity));
    put(&mut inst, class, "AllocationQuantity", Value::Uint16(0));
    put(&mut inst, class, "AllocationUnits", s("G"));
    Ok(Some(ctx.with_path(inst)))
}

/// A storage volume as a `KVM_StorageVolumeResourceAllocationSettingData` (InstanceID its path).
async fn volume_instance(ctx: &ProviderCtx<'_>, path: &str) -> Result<Option<Instance>, OpError> {
    let driver = ctx.driver;
    let vol = match driver.vol_lookup_by_path(path).await {
        Ok(vol) => vol,
        Err(e) if e.code == ErrorCode::NO_STORAGE_VOL => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let info = driver.vol_get_info(&vol).await?;
    let xml = driver.vol_get_xml_desc(&vol, 0).await?;
    let format = crate::model::VolumeDef::from_xml(&xml, false)
        .ok()
        .and_then(|d| d.format)
        .and_then(|f| {
            VOLUME_FORMATS
                .iter()
                .find(|(_, w)| *w == f)
                .map(|(v, _)| *v)
        })
        .unwrap_or(0);
    let class = ctx.class;
    let mut inst = ctx.new_instance();
    put(&mut inst, class, "InstanceID", s(path));
    put(
        &mut inst,
        class,
        "ResourceType",
        Value::Uint16(RESOURCE_TYPE_IMAGE),
    );
    put(
        &mut inst,
        class,
        "PoolID",
        s(&format!("DiskPool/{}", vol.pool)),
    );
    put(&mut inst, class, "VolumeName", s(&vol.name));
    put(&mut inst, class, "ElementName", s(&vol.name));
    put(&mut inst, class, "Path", s(path));
    put(&mut inst, class, "Address", s(path));
    put(&mut inst, class, "FormatType", Value::Uint16(format));
    // Whole bytes: the uint16 Capacity of libvirt-CIM's class cannot hold them, VirtualQuantity can.
    put(&mut inst, class, "AllocationUnits", s("Bytes"));
    put(
        &mut inst,
        class,
        "VirtualQuantity",
        Value::Uint64(info.capacity),
    );
    put(
        &mut inst,
        class,
        "Reservation",
        Value::Uint64(info.allocation),
    );
    Ok(Some(ctx.with_path(inst)))
}

/// The three pool-side RASD classes: their templates, and (volume class) the storage volumes themselves.
pub struct PoolSettingProvider {
    class: &'static str,
}

impl PoolSettingProvider {
    pub fn all() -> [PoolSettingProvider; 3] {
        [DISK_POOL_RASD, NET_POOL_RASD, VOLUME_RASD].map(|class| PoolSettingProvider { class })
    }

    async fn get_template(
        &self,
        ctx: &ProviderCtx<'_>,
        id: &str,
    ) -> Result<Option<Instance>, OpError> {
        let Some(role) = template_role(id) else {
            return Ok(None);
        };
        let rest = id
            .strip_prefix(VOLUME_TEMPLATE_PREFIX)
            .unwrap_or(id)
            .split_once('/')
            .map(|(_, rest)| rest);
        let Some(rest) = rest else {
            return Ok(None);
        };
        Ok(match self.class {
            DISK_POOL_RASD => disk_pool_template(ctx, role, rest),
            NET_POOL_RASD => net_pool_template(ctx, role, rest),
            _ if id.starts_with(VOLUME_TEMPLATE_PREFIX) => volume_template(ctx, role, rest).await?,
            _ => None,
        })
    }
}

#[async_trait]
impl Provider for PoolSettingProvider {
    fn class_name(&self) -> &'static str {
        self.class
    }

    /// Nothing, as libvirt-CIM: enumerating CIM_ResourceAllocationSettingData lists the guests' devices only.
    /// Templates are reached through SettingsDefineCapabilities and volumes through CreateResourceInPool,
    /// and both answer GetInstance.
    async fn enumerate_names(&self, _ctx: &ProviderCtx<'_>) -> Result<Vec<ObjectPath>, OpError> {
        Ok(Vec::new())
    }

    async fn get(&self, ctx: &ProviderCtx<'_>, path: &ObjectPath) -> Result<Instance, OpError> {
        let id = path.key_str("InstanceID").ok_or_else(|| not_found(path))?;
        if !path.class_name.eq_ignore_ascii_case(self.class) {
            return Err(not_found(path));
        }
        if let Some(inst) = self.get_template(ctx, id).await? {
            return Ok(inst);
        }
        if self.class == VOLUME_RASD && id.starts_with('/') {
            if let Some(inst) = volume_instance(ctx, id).await? {
                return Ok(inst);
            }
        }
        Err(not_found(path))
    }
}

// ---- the service and its capabilities ---------------------------------------------------------------------

/// `KVM_ResourcePoolConfigurationCapabilities`: the one "RPCC".
pub struct RpccProvider;

#[async_trait]
impl Provider for RpccProvider {
    fn class_name(&self) -> &'static str {
        RPCC_CLASS
    }

    async fn enumerate_names(&self, _ctx: &ProviderCtx<'_>) -> Result<Vec<ObjectPath>, OpError> {
        Ok(vec![rpcc_path()])
    }

    async fn get(&self, ctx: &ProviderCtx<'_>, path: &ObjectPath) -> Result<Instance, OpError> {
        super::lookup::validate_ref(path, &rpcc_path())?;
        let class = ctx.class;
        let mut inst = ctx.new_instance();
        put(&mut inst, class, "InstanceID", s(RPCC_ID));
        put(&mut inst, class, "ElementName", s(RPCC_ID));
        put(
            &mut inst,
            class,
            "SynchronousMethodsSupported",
            Value::Array(
                CimType::Uint32,
                RPCS_SYNCHRONOUS_METHODS
                    .iter()
                    .map(|v| Value::Uint32(*v))
                    .collect(),
            ),
        );
        Ok(ctx.with_path(inst))
    }
}

/// `KVM_ResourcePoolConfigurationService`: the one "RPCS" and its methods.
#[derive(Default)]
pub struct RpcsProvider {
    /// Serializes pool creation, so two calls for one name cannot both pass the existence check.
    changes: tokio::sync::Mutex<()>,
    /// Where large volumes are created.
    jobs: Arc<JobTable>,
}

/// The pool a `Pool` reference parameter names.
fn pool_param(params: &[(String, Value)]) -> Result<PoolId, OpError> {
    match param(params, "Pool") {
        Some(Value::Reference(path)) => {
            PoolId::from_path(path).ok_or_else(|| invalid("Pool has invalid InstanceID"))
        }
        Some(_) => Err(invalid("Pool must be a reference")),
        None => Err(invalid("Missing argument `Pool'")),
    }
}

fn u16_prop(inst: &Instance, name: &str) -> Result<Option<u16>, OpError> {
    number(inst, name)
        .map_err(|e| invalid(e.to_string()))?
        .map(|n| u16::try_from(n).map_err(|_| invalid(format!("{name} is out of range"))))
        .transpose()
}

fn strings(inst: &Instance, name: &str) -> Vec<String> {
    match inst.get(name) {
        Some(Value::Array(_, items)) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .filter(|v| !v.is_empty())
            .collect(),
        Some(Value::String(v)) if !v.is_empty() => vec![v.clone()],
        _ => Vec::new(),
    }
}

/// Storage pool XML from a disk pool RASD (libvirt-CIM's checks: one device path for fs, disk and iscsi, a host
/// and directory for netfs, an adapter for scsi, a target path always).
fn disk_pool_xml(name: &str, rasd: &Instance) -> Result<String, OpError> {
    let settings = |m: &str| failed(format!("Settings Error: {m}"));
    let ty = u16_prop(rasd, "Type")?.ok_or_else(|| settings("Missing `Type' property"))?;
    let (_, word) = DISK_POOL_TYPES
        .iter()
        .find(|(v, _)| *v == ty)
        .ok_or_else(|| settings("Storage pool type not supported"))?;
    let devices = strings(rasd, "DevicePaths");
    let host = text(rasd, "Host");
    let dir = text(rasd, "SourceDirectory");
    let mut source = String::new();
    match *word {
        "fs" | "disk" | "iscsi" if devices.len() != 1 => {
            return Err(settings("Specified pool type only takes one device path"))
        }
        "netfs" if host.is_none() => return Err(settings("Missing `Host' property")),
        "netfs" if dir.is_none() => return Err(settings("Missing `SourceDirectory' property")),
        "iscsi" if host.is_none() => return Err(settings("Missing `Host' property")),
        "scsi" if text(rasd, "AdapterName").is_none() => {
            return Err(settings("Missing `AdapterName' property"))
        }
        _ => {}
    }
    if let Some(host) = &host {
        source.push_str(&format!("<host name='{}'/>", escape(host)));
    }
    if let Some(dir) = &dir {
        source.push_str(&format!("<dir path='{}'/>", escape(dir)));
    }
    for device in &devices {
        source.push_str(&format!("<device path='{}'/>", escape(device)));
    }
    if let Some(adapter) = text(rasd, "AdapterName") {
        let wwn = match (text(rasd, "PortName"), text(rasd, "NodeName")) {
            (Some(p), Some(n)) => format!(
                " type='fc_host' wwpn='{}' wwnn='{}'",
                escape(&p),
                escape(&n)
            ),
            _ => " type='scsi_host'".into(),
        };
        source.push_str(&format!("<adapter name='{}'{wwn}/>", escape(&adapter)));
    }
    let path = text(rasd, "Path").ok_or_else(|| settings("Missing `Path' property"))?;
    Ok(format!(
        "<pool type='{word}'><name>{}</name><source>{source}</source><target><path>{}</path></target></pool>",
        escape(name),
        escape(&path)
    ))
}

/// Network XML from a network pool RASD (libvirt-CIM's defaults: 192.168.122.1/24, NAT).
fn net_pool_xml(name: &str, rasd: &Instance) -> Result<String, OpError> {
    let address = text(rasd, "Address").unwrap_or_else(|| "192.168.122.1".into());
    let netmask = text(rasd, "Netmask").unwrap_or_else(|| "255.255.255.0".into());
    let start = text(rasd, "IPRangeStart").unwrap_or_else(|| "192.168.122.2".into());
    let end = text(rasd, "IPRangeEnd").unwrap_or_else(|| "192.168.122.254".into());
    let mode = match u16_prop(rasd, "ForwardMode")? {
        None => Some("nat"),
        Some(v) => {
            FORWARD_MODES
                .iter()
                .find(|(m, _, _)| *m == v)
                .ok_or_else(|| failed("Settings Error: Network pool forward mode not supported"))?
                .2
        }
    };
    let forward = match (mode, text(rasd, "ForwardDevice")) {
        (Some(mode), Some(dev)) => format!("<forward mode='{mode}' dev='{}'/>", escape(&dev)),
        (Some(mode), None) => format!("<forward mode='{mode}'/>"),
        (None, _) => String::new(),
    };
    Ok(format!(
        "<network><name>{}</name>{forward}<ip address='{}' netmask='{}'><dhcp><range start='{}' end='{}'/></dhcp></ip></network>",
        escape(name),
        escape(&address),
        escape(&netmask),
        escape(&start),
        escape(&end)
    ))
}

/// The kind of pool a pool RASD asks for: by class, else by ResourceType.
fn pool_rasd_kind(rasd: &Instance) -> Option<PoolKind> {
    let is = |c: &str| rasd.class_name.eq_ignore_ascii_case(c);
    if is(DISK_POOL_RASD) {
        return Some(PoolKind::Disk);
    }
    if is(NET_POOL_RASD) {
        return Some(PoolKind::Network);
    }
    match number(rasd, "ResourceType").ok().flatten() {
        Some(17) => Some(PoolKind::Disk),
        Some(10) => Some(PoolKind::Network),
        _ => None,
    }
}

fn volume_rasd_path(volume_path: &str) -> ObjectPath {
    ObjectPath::instance(Some(NAMESPACE), VOLUME_RASD, &[("InstanceID", volume_path)])
}

async fn storage_pool(driver: &Connection, name: &str) -> Result<Option<PoolRef>, OpError> {
    match driver.pool_lookup_by_name(name).await {
        Ok(pool) => Ok(Some(pool)),
        Err(e) if e.code == ErrorCode::NO_STORAGE_POOL => Ok(None),
        Err(e) => Err(e.into()),
    }
}

impl RpcsProvider {
    pub fn new(jobs: &Arc<JobTable>) -> RpcsProvider {
        RpcsProvider {
            changes: tokio::sync::Mutex::default(),
            jobs: Arc::clone(jobs),
        }
    }

    async fn create_child_pool(
        &self,
        driver: &Connection,
        params: &[(String, Value)],
    ) -> Result<MethodReturn, OpError> {
        let name = param(params, "ElementName")
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .ok_or_else(|| invalid("Missing argument `ElementName'"))?
            .to_owned();
        let settings = array_param(params, "Settings")
            .ok_or_else(|| invalid("Missing argument `Settings'"))?;
        if items(&settings).len() > 1 {
            return Err(invalid(
                "Settings Error: only one pool setting may be given",
            ));
        }
        let rasd = decode_all(&settings, "Settings")?
            .into_iter()
            .next()
            .ok_or_else(|| failed("Settings Error: No resources specified"))?;
        let kind = pool_rasd_kind(&rasd)
            .ok_or_else(|| failed("Settings Error: Unknown resource instance type"))?;
        let _guard = self.changes.lock().await;
        let id = PoolId::new(kind, &name);
        match kind {
            PoolKind::Disk => {
                let xml = disk_pool_xml(&name, &rasd)?;
                if storage_pool(driver, &name).await?.is_some() {
                    return Err(failed("Pool with that name already exists"));
                }
                let pool = driver.pool_define_xml(&xml, 0).await?;
                let ty = u16_prop(&rasd, "Type")?.unwrap_or(0);
                // Directory and file system pools get their target directory made; a logical pool's volume
                // group must exist already (building it would write physical volume labels).
                let started = async {
                    if matches!(ty, 1 | 2) {
                        driver.pool_build(&pool, 0).await?;
                    }
                    driver.pool_create(&pool, 0).await
                }
                .await;
                if let Err(e) = started {
                    let _ = driver.pool_undefine(&pool).await;
                    return Err(e.into());
                }
                if u16_prop(&rasd, "Autostart")? == Some(1) {
                    driver.pool_set_autostart(&pool, true).await?;
                }
            }
            PoolKind::Network => {
                let xml = net_pool_xml(&name, &rasd)?;
                match driver.network_lookup_by_name(&name).await {
                    Ok(_) => return Err(failed("Pool with that name already exists")),
                    Err(e) if e.code == ErrorCode::NO_NETWORK => {}
                    Err(e) => return Err(e.into()),
                }
                let net = driver.network_define_xml(&xml, 0).await?;
                if let Err(e) = driver.network_create(&net).await {
                    let _ = driver.network_undefine(&net).await;
                    return Err(e.into());
                }
            }
            _ => return Err(failed("Settings Error: Unknown resource instance type")),
        }
        Ok(ok(vec![(
            "Pool".into(),
            Value::Reference(Arc::new(id.path())),
        )]))
    }

    async fn delete_pool(
        &self,
        driver: &Connection,
        params: &[(String, Value)],
    ) -> Result<MethodReturn, OpError> {
        let pool = pool_param(params)?;
        let missing = || failed("Resource pool instance does not exist");
        if pool.is_primordial() {
            return Err(missing());
        }
        let _guard = self.changes.lock().await;
        match pool.kind {
            PoolKind::Disk => {
                let p = storage_pool(driver, &pool.name)
                    .await?
                    .ok_or_else(missing)?;
                if driver.pool_is_active(&p).await? {
                    driver.pool_destroy(&p).await?;
                }
                if driver.pool_is_persistent(&p).await.unwrap_or(true) {
                    driver.pool_undefine(&p).await?;
                }
            }
            PoolKind::Network => {
                let net = match driver.network_lookup_by_name(&pool.name).await {
                    Ok(net) => net,
                    Err(e) if e.code == ErrorCode::NO_NETWORK => return Err(missing()),
                    Err(e) => return Err(e.into()),
                };
                if driver.network_is_active(&net).await? {
                    driver.network_destroy(&net).await?;
                }
                if driver.network_is_persistent(&net).await.unwrap_or(true) {
                    driver.network_undefine(&net).await?;
                }
            }
            _ => return Err(missing()),
        }
        Ok(ok(Vec::new()))
    }

    async fn create_resource(
        &self,
        driver: &Connection,
        params: &[(String, Value)],
    ) -> Result<MethodReturn, OpError> {
        let settings =
            param(params, "Settings").ok_or_else(|| invalid("Missing argument `Settings'"))?;
        let pool = pool_param(params)?;
        let rasd = decode_all(settings, "Settings")?
            .into_iter()
            .next()
            .ok_or_else(|| invalid("Missing argument `Settings'"))?;
        let attrs = |m: &str| failed(format!("Unable to get attributes for resource: {m}"));
        let volume_class = rasd.class_name.eq_ignore_ascii_case(VOLUME_RASD)
            || u16_prop(&rasd, "ResourceType")? == Some(RESOURCE_TYPE_IMAGE);
        if !volume_class {
            return Err(attrs("This function does not support this resource type"));
        }
        let format = u16_prop(&rasd, "FormatType")?
            .and_then(|f| VOLUME_FORMATS.iter().find(|(v, _)| *v == f))
            .ok_or_else(|| attrs("StorageVolumeRASD FormatType field not valid"))?
            .1;
        let name = text(&rasd, "VolumeName")
            .ok_or_else(|| attrs("StorageVolumeRASD VolumeName field not valid"))?;
        let capacity = number(&rasd, "Capacity")
            .map_err(|e| attrs(&e.to_string()))?
            .ok_or_else(|| attrs("StorageVolumeRASD Capacity field not valid"))?;
        let allocation = number(&rasd, "AllocationQuantity")
            .map_err(|e| attrs(&e.to_string()))?
            .unwrap_or(0);
        let unit = text(&rasd, "AllocationUnits")
            .map(|u| format!(" unit='{}'", escape(&u)))
            .unwrap_or_default();
        if pool.kind != PoolKind::Disk || pool.is_primordial() {
            return Err(failed("Storage volumes can only be created in a disk pool"));
        }
        let p = storage_pool(driver, &pool.name)
            .await?
            .ok_or_else(|| failed("Resource pool instance does not exist"))?;
        // A logical volume has no image format.
        let logical = PoolDef::from_xml(&driver.pool_get_xml_desc(&p, 0).await?, false)
            .is_ok_and(|d| d.pool_type == "logical");
        let target = if logical {
            String::new()
        } else {
            format!("<target><format type='{format}'/></target>")
        };
        let xml = format!(
            "<volume><name>{}</name><allocation{unit}>{allocation}</allocation><capacity{unit}>{capacity}</capacity>{target}</volume>",
            escape(&name)
        );
        let scale =
            text(&rasd, "AllocationUnits").map_or(Some(1), |u| crate::model::unit_bytes(&u));
        let large = scale.is_none_or(|scale| capacity.saturating_mul(scale) >= LARGE_VOLUME_BYTES);
        if !large {
            let vol = driver.vol_create_xml(&p, &xml, 0).await?;
            let _ = driver.pool_refresh(&p, 0).await;
            let path = driver.vol_get_path(&vol).await?;
            return Ok(ok(vec![(
                "Resource".into(),
                Value::Reference(Arc::new(volume_rasd_path(&path))),
            )]));
        }
        // A large volume: the job makes it; terminating the job removes what it made, never a volume that was
        // there before it started.
        let existed = driver.vol_lookup_by_name(&p, &name).await.is_ok();
        let cleanup: Option<Cleanup> = (!existed).then(|| {
            let (driver, p, name) = (driver.clone(), p.clone(), name.clone());
            Box::new(move || {
                Box::pin(async move {
                    if let Ok(vol) = driver.vol_lookup_by_name(&p, &name).await {
                        let _ = driver.vol_delete(&vol, 0).await;
                    }
                    let _ = driver.pool_refresh(&p, 0).await;
                })
                    as std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>
            }) as Cleanup
        });
        let spec = JobSpec {
            name: "CreateResourceInPool".into(),
            description: format!("Create volume {name} in pool {}", pool.name),
            namespace: NAMESPACE.into(),
            affected: vec![pool.path()],
            cleanup,
        };
        let driver = driver.clone();
        Ok(start_job(
            &self.jobs,
            spec,
            Vec::new(),
            move |progress| async move {
                let vol = driver.vol_create_xml(&p, &xml, 0).await?;
                let _ = driver.pool_refresh(&p, 0).await;
                let path = driver.vol_get_path(&vol).await?;
                progress.add_affected(volume_rasd_path(&path));
                Ok(())
            },
        ))
    }

    async fn delete_resource(
        &self,
        driver: &Connection,
        params: &[(String, Value)],
    ) -> Result<MethodReturn, OpError> {
        let resource =
            param(params, "Resource").ok_or_else(|| invalid("Missing argument `Resource'"))?;
        let pool = pool_param(params)?;
        let rasd = decode_all(resource, "Resource")?
            .into_iter()
            .next()
            .ok_or_else(|| invalid("Missing argument `Resource'"))?;
        // libvirt-CIM names the volume by the RASD's Address (a disk RASD's source); a volume RASD by its path.
        let by_path = text(&rasd, "Address")
            .or_else(|| text(&rasd, "Path"))
            .or_else(|| text(&rasd, "InstanceID").filter(|id| id.starts_with('/')));
        let vol = match (by_path, text(&rasd, "VolumeName")) {
            (Some(path), _) => driver.vol_lookup_by_path(&path).await?,
            (None, Some(name)) => {
                let p = storage_pool(driver, &pool.name)
                    .await?
                    .ok_or_else(|| failed("Resource pool instance does not exist"))?;
                driver.vol_lookup_by_name(&p, &name).await?
            }
            (None, None) => return Err(failed("Missing Address in resource RASD")),
        };
        if pool.kind == PoolKind::Disk && !pool.is_primordial() && vol.pool != pool.name {
            return Err(invalid(format!(
                "the resource is not in pool {}",
                pool.instance_id()
            )));
        }
        driver.vol_delete(&vol, 0).await?;
        if let Ok(p) = driver.pool_lookup_by_name(&vol.pool).await {
            let _ = driver.pool_refresh(&p, 0).await;
        }
        Ok(ok(Vec::new()))
    }

    async fn refresh(
        &self,
        driver: &Connection,
        params: &[(String, Value)],
    ) -> Result<MethodReturn, OpError> {
        let pool = pool_param(params)?;
        if pool.kind == PoolKind::Disk && !pool.is_primordial() {
            let p = storage_pool(driver, &pool.name)
                .await?
                .ok_or_else(|| failed("Resource pool instance does not exist"))?;
            driver.pool_refresh(&p, 0).await?;
        }
        Ok(ok(Vec::new()))
    }
}

#[async_trait]
impl Provider for RpcsProvider {
    fn class_name(&self) -> &'static str {
        RPCS_CLASS
    }

    async fn enumerate_names(&self, ctx: &ProviderCtx<'_>) -> Result<Vec<ObjectPath>, OpError> {
        Ok(vec![rpcs_path(&host_name(ctx.driver).await)])
    }

    async fn get(&self, ctx: &ProviderCtx<'_>, path: &ObjectPath) -> Result<Instance, OpError> {
        let host = singleton_host(ctx, path, rpcs_path).await?;
        let mut inst = service_instance(ctx, RPCS_NAME, &host);
        put(
            &mut inst,
            ctx.class,
            "Description",
            s("Service to create and remove storage pools, virtual networks and storage volumes"),
        );
        Ok(inst)
    }

    async fn invoke(
        &self,
        ctx: &ProviderCtx<'_>,
        target: &ObjectPath,
        method: &str,
        params: Vec<(String, Value)>,
    ) -> Result<MethodReturn, OpError> {
        let driver: &Connection = ctx.driver;
        check_service_target(target, &rpcs_path(&host_name(driver).await))?;
        match method.to_ascii_lowercase().as_str() {
            "createchildresourcepool" => self.create_child_pool(driver, &params).await,
            "deleteresourcepool" => self.delete_pool(driver, &params).await,
            "createresourceinpool" => self.create_resource(driver, &params).await,
            "deleteresourceinpool" => self.delete_resource(driver, &params).await,
            "refreshresourcesinpool" => self.refresh(driver, &params).await,
            _ => Err(unknown_method(RPCS_CLASS, method)),
        }
    }
}
