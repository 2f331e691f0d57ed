//! `KVM_VirtualSystemManagementService`: the host's one management service (keys per REPORT §1.2) and its
//! methods DefineSystem, DestroySystem, AddResourceSettings, ModifyResourceSettings, RemoveResourceSettings and
//! ModifySystemSettings (REPORT §1.5). Every method reads the domain's persistent definition from the driver,
//! changes it with `rasd_parse` and writes it back with `domain_define_xml` (or undefines), so what CIM changes
//! is what virsh sees. On a running domain, disks and NICs are also attached, updated or detached live and
//! memory and vCPU changes applied live; other devices change in the configuration (next boot).

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use async_trait::async_trait;

use super::computer_system::{computer_system_path, host_name, HOST_CLASS};
use super::guest::{domain_of_vssd_id, rasd_path, split_fq_devid, ResourceKind};
use super::rasd_parse::{
    apply_rasd, apply_vssd, decode_embedded, device_xml, remove_device, resource_kind, Change,
    RasdError,
};
use super::{check_service_target, put, singleton_host, unknown_method, Provider, ProviderCtx};
use crate::cim::{builtin_repository, CimStatus, CimType, Instance, ObjectPath, Repository, Value};
use crate::driver::{flags, Connection, DomainRef};
use crate::error::ErrorCode;
use crate::model::{DomainDef, DomainXmlOptions, OsDef};
use crate::wbem::cimxml::MethodReturn;
use crate::wbem::error::OpError;

pub const VSMS_CLASS: &str = "KVM_VirtualSystemManagementService";
pub const VSMS_NAME: &str = "Management Service";
const NAMESPACE: &str = "root/virt";
/// The revision clients such as cimtest compare numerically to enable feature checks (≥ 1312: all).
pub const VSMS_REVISION: &str = "1312";
/// Memory and vCPUs of a domain defined without a memory or processor setting.
const DEFAULT_MEMORY_KIB: u64 = 512 * 1024;
const DEFAULT_VCPUS: u32 = 1;

/// The path of the one VSMS instance on host `host`.
pub fn vsms_path(host: &str) -> ObjectPath {
    ObjectPath::instance(
        Some(NAMESPACE),
        VSMS_CLASS,
        &[
            ("CreationClassName", VSMS_CLASS),
            ("Name", VSMS_NAME),
            ("SystemCreationClassName", HOST_CLASS),
            ("SystemName", host),
        ],
    )
}

#[derive(Default)]
pub struct VsmsProvider {
    /// Serializes the read-change-write cycles of the methods, so two calls cannot lose each other's change.
    changes: tokio::sync::Mutex<()>,
}

pub(super) fn schema() -> Result<&'static Repository, OpError> {
    // The classes MOF-text embedded instances are typed by: the built-in MOF the server itself serves.
    static SCHEMA: OnceLock<Option<Repository>> = OnceLock::new();
    SCHEMA
        .get_or_init(|| builtin_repository().ok())
        .as_ref()
        .ok_or_else(|| OpError::cim(CimStatus::Failed, "the built-in schema does not compile"))
}

pub(super) fn invalid(message: impl Into<String>) -> OpError {
    OpError::cim(CimStatus::InvalidParameter, message)
}

pub(super) fn rasd_error(context: &str, err: RasdError) -> OpError {
    let status = match &err {
        RasdError::Decode(_) | RasdError::Invalid(_) => CimStatus::InvalidParameter,
        RasdError::NoDevice(_) => CimStatus::NotFound,
        RasdError::Unsupported { .. } => CimStatus::NotSupported,
    };
    OpError::cim(status, format!("{context}: {err}"))
}

/// libvirt-CIM's words for a missing domain: the name, then the driver's own message.
fn domain_not_found(name: &str, driver_message: &str) -> OpError {
    OpError::cim(
        CimStatus::NotFound,
        format!("Referenced domain `{name}' does not exist: {driver_message}"),
    )
}

/// A parameter's value, NULL counted as absent.
pub(super) fn param<'a>(params: &'a [(String, Value)], name: &str) -> Option<&'a Value> {
    params
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
        .filter(|v| !v.is_null())
}

/// An array parameter, its items gathered from every occurrence (wbemcli sends one PARAMVALUE per item when
/// the parameter is repeated on its command line); NULL or absent: None.
pub(super) fn array_param(params: &[(String, Value)], name: &str) -> Option<Value> {
    let mut all = Vec::new();
    let mut found = false;
    for (_, value) in params
        .iter()
        .filter(|(n, v)| n.eq_ignore_ascii_case(name) && !v.is_null())
    {
        found = true;
        match value {
            Value::Array(_, items) => all.extend(items.iter().cloned()),
            other => all.push(other.clone()),
        }
    }
    let ty = all
        .iter()
        .find_map(Value::cim_type)
        .unwrap_or(CimType::String);
    found.then_some(Value::Array(ty, all))
}

/// The items of an array parameter (a scalar counts as one item).
pub(super) fn items(value: &Value) -> Vec<&Value> {
    match value {
        Value::Array(_, items) => items.iter().filter(|v| !v.is_null()).collect(),
        other => vec![other],
    }
}

pub(super) fn ok(out_params: Vec<(String, Value)>) -> MethodReturn {
    MethodReturn {
        value: Value::Uint32(0),
        out_params,
    }
}

pub(super) fn refs(paths: Vec<ObjectPath>) -> Value {
    Value::Array(
        CimType::Reference(None),
        paths
            .into_iter()
            .map(|p| Value::Reference(Arc::new(p)))
            .collect(),
    )
}

pub(super) async fn lookup(driver: &Connection, name: &str) -> Result<DomainRef, OpError> {
    match driver.domain_lookup_by_name(name).await {
        Ok(dom) => Ok(dom),
        Err(e) if e.code == ErrorCode::NO_DOMAIN => Err(domain_not_found(name, &e.message)),
        Err(e) => Err(e.into()),
    }
}

/// The definition the domain boots from next (its persistent one), secrets included so a redefine keeps them.
async fn persistent_def(driver: &Connection, dom: &DomainRef) -> Result<DomainDef, OpError> {
    let xml = driver
        .domain_get_xml_desc(dom, flags::XML_INACTIVE | flags::XML_SECURE)
        .await?;
    Ok(DomainDef::from_xml(&xml, false)?)
}

async fn define(driver: &Connection, def: &DomainDef) -> Result<DomainRef, OpError> {
    let xml = def.to_xml(&DomainXmlOptions {
        id: None,
        secure: true,
    });
    Ok(driver.domain_define_xml(&xml, 0).await?)
}

/// The `<domain type>` new domains get: the driver's own kind (test, or kvm/qemu by what the host offers).
async fn new_domain_type(driver: &Connection) -> String {
    match driver.get_type().await.map(|t| t.to_ascii_lowercase()) {
        Ok(t) if t == "qemu" => match driver.get_capabilities().await {
            Ok(caps) if caps.contains("type='kvm'") || caps.contains("type=\"kvm\"") => {
                "kvm".into()
            }
            _ => "qemu".into(),
        },
        Ok(t) if !t.is_empty() => t,
        _ => "test".into(),
    }
}

/// Decodes the embedded instances of an array parameter.
pub(super) fn decode_all(value: &Value, what: &str) -> Result<Vec<Instance>, OpError> {
    let ns = schema()?
        .namespace(NAMESPACE)
        .map_err(|e| OpError::cim(CimStatus::Failed, e.to_string()))?;
    items(value)
        .into_iter()
        .map(|v| {
            decode_embedded(v, ns).map_err(|e| match e {
                // libcmpiutil's std_invokemethod answers this before any provider sees the call.
                RasdError::Decode(why) => {
                    tracing::debug!(parameter = what, %why, "embedded instance not parsed");
                    OpError::cim(CimStatus::Failed, "Unable to parse embedded object")
                }
                other => rasd_error(&format!("{what} Error"), other),
            })
        })
        .collect()
}

/// Applies live memory / vCPU changes of a running domain before its configuration is rewritten, so a change
/// the running domain refuses leaves nothing half done.
async fn apply_live(
    driver: &Connection,
    dom: &DomainRef,
    kind: ResourceKind,
    def: &DomainDef,
) -> Result<(), OpError> {
    if !driver.domain_is_active(dom).await? {
        return Ok(());
    }
    match kind {
        ResourceKind::Memory => {
            driver
                .domain_set_memory(dom, def.current_memory_kib, flags::AFFECT_LIVE)
                .await?;
        }
        ResourceKind::Processor => {
            driver
                .domain_set_vcpus(dom, def.current_vcpus, flags::AFFECT_LIVE)
                .await?;
        }
        _ => {}
    }
    Ok(())
}

/// What a running domain does with a disk or NIC change at once: attach, update or detach it live.
#[derive(Clone, Copy)]
enum LiveDevice {
    Attach,
    Update,
    Detach,
}

/// Applies a disk or NIC change to a running domain (`device_xml` of the definition that has the device), so a
/// guest sees it now and not only at its next start. A driver without device hotplug at all (libvirt's test
/// driver) answers "not supported": the change then goes to the configuration only, as before; any other
/// refusal fails the call before the configuration is written.
async fn apply_device_live(
    driver: &Connection,
    dom: &DomainRef,
    action: LiveDevice,
    xml: Option<(ResourceKind, String)>,
) -> Result<(), OpError> {
    let Some((_, xml)) = xml else {
        return Ok(());
    };
    if !driver.domain_is_active(dom).await? {
        return Ok(());
    }
    let result = match action {
        LiveDevice::Attach => {
            driver
                .domain_attach_device(dom, &xml, flags::AFFECT_LIVE)
                .await
        }
        LiveDevice::Update => {
            driver
                .domain_update_device(dom, &xml, flags::AFFECT_LIVE)
                .await
        }
        LiveDevice::Detach => {
            driver
                .domain_detach_device(dom, &xml, flags::AFFECT_LIVE)
                .await
        }
    };
    match result {
        Err(e) if e.code == ErrorCode::NO_SUPPORT => Ok(()),
        other => Ok(other?),
    }
}

/// The VSSD's AutoStart (libvirt-CIM's uint16, 0 = off, anything else = on; a boolean from untyped clients too).
fn autostart_of(vssd: &Instance) -> Result<Option<bool>, OpError> {
    match vssd.get("AutoStart") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Boolean(b)) => Ok(Some(*b)),
        Some(Value::String(text)) => match text.trim().to_ascii_lowercase().as_str() {
            "true" => Ok(Some(true)),
            "false" => Ok(Some(false)),
            other => other
                .parse::<u16>()
                .map(|n| Some(n != 0))
                .map_err(|_| invalid(format!("Invalid AutoStart `{text}'"))),
        },
        Some(other) => other
            .as_i128()
            .map(|n| Some(n != 0))
            .ok_or_else(|| invalid("Invalid AutoStart")),
    }
}

/// libvirt-CIM's `set_autostart`: a refusal is CIM_ERR_FAILED "Failed to set autostart".
async fn set_autostart(driver: &Connection, dom: &DomainRef, on: bool) -> Result<(), OpError> {
    driver.domain_set_autostart(dom, on).await.map_err(|e| {
        OpError::cim(
            CimStatus::Failed,
            format!("Failed to set autostart: {}", e.message),
        )
    })
}

impl VsmsProvider {
    async fn instance(&self, ctx: &ProviderCtx<'_>) -> Instance {
        let driver = &ctx.driver;
        let host = host_name(driver).await;
        let class = ctx.class;
        let mut inst = ctx.new_instance();
        let s = |v: &str| Value::String(v.to_owned());
        put(&mut inst, class, "CreationClassName", s(VSMS_CLASS));
        put(&mut inst, class, "Name", s(VSMS_NAME));
        put(&mut inst, class, "SystemCreationClassName", s(HOST_CLASS));
        put(&mut inst, class, "SystemName", s(&host));
        put(&mut inst, class, "ElementName", s(VSMS_NAME));
        let hypervisor = driver.get_type().await.unwrap_or_default();
        let caption = match driver.get_version().await {
            Ok(v) => format!(
                "{hypervisor} {}.{}.{}",
                v / 1_000_000,
                (v / 1000) % 1000,
                v % 1000
            ),
            Err(_) => hypervisor,
        };
        put(&mut inst, class, "Caption", s(caption.trim()));
        put(
            &mut inst,
            class,
            "Description",
            s("Service to define, change and remove virtual systems"),
        );
        put(&mut inst, class, "Changeset", s(env!("CARGO_PKG_VERSION")));
        put(&mut inst, class, "Revision", s(VSMS_REVISION));
        put(&mut inst, class, "Release", s(env!("CARGO_PKG_VERSION")));
        if let Ok(v) = driver.get_lib_version().await {
            let text = format!("{}.{}.{}", v / 1_000_000, (v / 1000) % 1000, v % 1000);
            put(&mut inst, class, "LibvirtVersion", s(&text));
        }
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

    async fn define_system(
        &self,
        driver: &Connection,
        params: &[(String, Value)],
    ) -> Result<MethodReturn, OpError> {
        let system = param(params, "SystemSettings")
            .ok_or_else(|| invalid("Missing argument `SystemSettings'"))?;
        let resources = array_param(params, "ResourceSettings")
            .ok_or_else(|| invalid("Missing argument `ResourceSettings'"))?;
        let vssd = decode_all(system, "SystemSettings")?
            .into_iter()
            .next()
            .ok_or_else(|| invalid("Missing argument `SystemSettings'"))?;
        let rasds = decode_all(&resources, "ResourceSettings")?;
        // A reference configuration (another domain's VSSD) is the starting point; anything else, such as
        // cimtest's blank string, is ignored as libvirt-CIM does.
        let mut def = match param(params, "ReferenceConfiguration") {
            Some(Value::Reference(path)) => {
                let id = path.key_str("InstanceID").unwrap_or_default();
                let name = domain_of_vssd_id(id)
                    .ok_or_else(|| invalid("Invalid `InstanceID' from ReferenceConfiguration"))?;
                let reference = lookup(driver, name).await?;
                let mut def = persistent_def(driver, &reference).await?;
                // The copy gets its own identity: new UUID, new MACs.
                for iface in &mut def.devices.interfaces {
                    iface.mac = crate::model::generate_mac();
                }
                def
            }
            _ => DomainDef {
                domain_type: new_domain_type(driver).await,
                memory_kib: DEFAULT_MEMORY_KIB,
                current_memory_kib: DEFAULT_MEMORY_KIB,
                vcpus: DEFAULT_VCPUS,
                current_vcpus: DEFAULT_VCPUS,
                os: OsDef {
                    os_type: "hvm".into(),
                    ..OsDef::default()
                },
                ..DomainDef::default()
            },
        };
        def.uuid = uuid::Uuid::new_v4();
        apply_vssd(&mut def, &vssd, true).map_err(|e| rasd_error("SystemSettings Error", e))?;
        for rasd in &rasds {
            apply_rasd(&mut def, rasd, Change::Add)
                .map_err(|e| rasd_error("ResourceSettings Error", e))?;
        }
        let _guard = self.changes.lock().await;
        if let Ok(existing) = driver.domain_lookup_by_uuid(&def.uuid).await {
            return Err(OpError::cim(
                CimStatus::Failed,
                format!(
                    "Guest '{}' is already defined with UUID {}",
                    existing.name, def.uuid
                ),
            ));
        }
        if let Ok(existing) = driver.domain_lookup_by_name(&def.name).await {
            return Err(OpError::cim(
                CimStatus::Failed,
                format!(
                    "Guest '{}' is already defined with UUID {}",
                    existing.name, existing.uuid
                ),
            ));
        }
        let dom = define(driver, &def).await?;
        // libvirt-CIM sets the flag after every DefineSystem, off when the VSSD has none.
        set_autostart(driver, &dom, autostart_of(&vssd)?.unwrap_or(false)).await?;
        Ok(ok(vec![(
            "ResultingSystem".into(),
            Value::Reference(Arc::new(computer_system_path(&dom.name))),
        )]))
    }

    async fn destroy_system(
        &self,
        driver: &Connection,
        params: &[(String, Value)],
    ) -> Result<MethodReturn, OpError> {
        let name = match param(params, "AffectedSystem") {
            Some(Value::Reference(path)) => path
                .key_str("Name")
                .map(str::to_owned)
                // libvirt-CIM: NOT_FOUND when the reference names no domain.
                .ok_or_else(|| {
                    OpError::cim(CimStatus::NotFound, "Unable to retrieve domain name")
                })?,
            Some(_) => return Err(invalid("AffectedSystem must be a reference")),
            None => return Err(invalid("Missing argument `AffectedSystem'")),
        };
        let _guard = self.changes.lock().await;
        let dom = lookup(driver, &name).await?;
        if driver.domain_is_active(&dom).await? {
            driver.domain_destroy(&dom, 0).await?;
        }
        // A transient domain is gone once destroyed.
        match driver.domain_lookup_by_uuid(&dom.uuid).await {
            Ok(dom) => driver.domain_undefine(&dom, 0).await?,
            Err(e) if e.code == ErrorCode::NO_DOMAIN => {}
            Err(e) => return Err(e.into()),
        }
        Ok(ok(Vec::new()))
    }

    async fn add_resource_settings(
        &self,
        driver: &Connection,
        params: &[(String, Value)],
    ) -> Result<MethodReturn, OpError> {
        let name = match param(params, "AffectedConfiguration") {
            Some(Value::Reference(path)) => path
                .key_str("InstanceID")
                .and_then(domain_of_vssd_id)
                .map(str::to_owned)
                .ok_or_else(|| invalid("AffectedConfiguration has invalid InstanceID"))?,
            Some(_) => return Err(invalid("AffectedConfiguration must be a reference")),
            None => return Err(invalid("Missing AffectedConfiguration parameter")),
        };
        let resources = array_param(params, "ResourceSettings")
            .ok_or_else(|| invalid("Missing ResourceSettings"))?;
        let rasds = decode_all(&resources, "ResourceSettings")?;
        let _guard = self.changes.lock().await;
        let dom = lookup(driver, &name).await?;
        let mut def = persistent_def(driver, &dom).await?;
        let mut resulting = Vec::new();
        for rasd in &rasds {
            let kind = resource_kind(rasd).map_err(|e| rasd_error("Add resource failed", e))?;
            let device = apply_rasd(&mut def, rasd, Change::Add)
                .map_err(|e| rasd_error("Add resource failed", e))?;
            apply_live(driver, &dom, kind, &def).await?;
            apply_device_live(driver, &dom, LiveDevice::Attach, device_xml(&def, &device)).await?;
            resulting.push(rasd_path(kind, &def.name, &device));
        }
        define(driver, &def).await?;
        Ok(ok(vec![(
            "ResultingResourceSettings".into(),
            refs(resulting),
        )]))
    }

    async fn modify_resource_settings(
        &self,
        driver: &Connection,
        params: &[(String, Value)],
    ) -> Result<MethodReturn, OpError> {
        let resources = array_param(params, "ResourceSettings")
            .ok_or_else(|| invalid("Missing ResourceSettings"))?;
        let rasds = decode_all(&resources, "ResourceSettings")?;
        // Each setting names its domain in its InstanceID; settings of one domain make one redefine.
        let mut by_domain: BTreeMap<String, Vec<&Instance>> = BTreeMap::new();
        for rasd in &rasds {
            let id = rasd
                .get_str("InstanceID")
                .ok_or_else(|| invalid("Missing InstanceID in RASD"))?;
            let (domain, _) =
                split_fq_devid(id).ok_or_else(|| invalid(format!("Invalid InstanceID `{id}'")))?;
            by_domain.entry(domain.to_owned()).or_default().push(rasd);
        }
        let _guard = self.changes.lock().await;
        let mut resulting = Vec::new();
        for (name, rasds) in by_domain {
            let dom = lookup(driver, &name).await?;
            let mut def = persistent_def(driver, &dom).await?;
            for rasd in rasds {
                let kind =
                    resource_kind(rasd).map_err(|e| rasd_error("Modify resource failed", e))?;
                let device = apply_rasd(&mut def, rasd, Change::Modify)
                    .map_err(|e| rasd_error("Modify resource failed", e))?;
                apply_live(driver, &dom, kind, &def).await?;
                let xml = device_xml(&def, &device);
                apply_device_live(driver, &dom, LiveDevice::Update, xml).await?;
                resulting.push(rasd_path(kind, &def.name, &device));
            }
            define(driver, &def).await?;
        }
        Ok(ok(vec![(
            "ResultingResourceSettings".into(),
            refs(resulting),
        )]))
    }

    async fn remove_resource_settings(
        &self,
        driver: &Connection,
        params: &[(String, Value)],
    ) -> Result<MethodReturn, OpError> {
        let resources = array_param(params, "ResourceSettings")
            .ok_or_else(|| invalid("Missing ResourceSettings"))?;
        let mut by_domain: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for item in items(&resources) {
            let Value::Reference(path) = item else {
                return Err(invalid("ResourceSettings must be references to RASDs"));
            };
            let id = path
                .key_str("InstanceID")
                .ok_or_else(|| invalid("Missing or incomplete InstanceID"))?;
            let (domain, device) =
                split_fq_devid(id).ok_or_else(|| invalid(format!("Invalid InstanceID `{id}'")))?;
            by_domain
                .entry(domain.to_owned())
                .or_default()
                .push(device.to_owned());
        }
        let _guard = self.changes.lock().await;
        for (name, devices) in by_domain {
            let dom = lookup(driver, &name).await?;
            let mut def = persistent_def(driver, &dom).await?;
            for device in devices {
                let xml = device_xml(&def, &device);
                apply_device_live(driver, &dom, LiveDevice::Detach, xml).await?;
                remove_device(&mut def, &device)
                    .map_err(|e| rasd_error("Remove resource failed", e))?;
            }
            define(driver, &def).await?;
        }
        Ok(ok(Vec::new()))
    }

    async fn modify_system_settings(
        &self,
        driver: &Connection,
        params: &[(String, Value)],
    ) -> Result<MethodReturn, OpError> {
        let system =
            param(params, "SystemSettings").ok_or_else(|| invalid("Missing SystemSettings"))?;
        let vssd = decode_all(system, "SystemSettings")?
            .into_iter()
            .next()
            .ok_or_else(|| invalid("Missing SystemSettings"))?;
        let name = vssd
            .get_str("VirtualSystemIdentifier")
            .map(str::to_owned)
            .or_else(|| {
                vssd.get_str("InstanceID")
                    .and_then(domain_of_vssd_id)
                    .map(str::to_owned)
            })
            .ok_or_else(|| invalid("Missing VirtualSystemIdentifier"))?;
        let _guard = self.changes.lock().await;
        let dom = lookup(driver, &name).await?;
        let mut def = persistent_def(driver, &dom).await?;
        apply_vssd(&mut def, &vssd, false).map_err(|e| {
            let status = if matches!(e, RasdError::Invalid(ref m) if m.contains("UUID")) {
                CimStatus::Failed
            } else {
                CimStatus::InvalidParameter
            };
            OpError::cim(status, e.to_string())
        })?;
        let autostart = autostart_of(&vssd)?;
        define(driver, &def).await?;
        // Without AutoStart the domain keeps its flag, as libvirt-CIM's ModifySystemSettings does.
        if let Some(autostart) = autostart {
            set_autostart(driver, &dom, autostart).await?;
        }
        Ok(ok(Vec::new()))
    }
}

#[async_trait]
impl Provider for VsmsProvider {
    fn class_name(&self) -> &'static str {
        VSMS_CLASS
    }

    async fn enumerate_names(&self, ctx: &ProviderCtx<'_>) -> Result<Vec<ObjectPath>, OpError> {
        Ok(vec![vsms_path(&host_name(ctx.driver).await)])
    }

    async fn get(&self, ctx: &ProviderCtx<'_>, path: &ObjectPath) -> Result<Instance, OpError> {
        singleton_host(ctx, path, vsms_path).await?;
        Ok(self.instance(ctx).await)
    }

    async fn invoke(
        &self,
        ctx: &ProviderCtx<'_>,
        target: &ObjectPath,
        method: &str,
        params: Vec<(String, Value)>,
    ) -> Result<MethodReturn, OpError> {
        let driver: &Connection = ctx.driver;
        let driver = &driver;
        check_service_target(target, &vsms_path(&host_name(driver).await))?;
        match method.to_ascii_lowercase().as_str() {
            "definesystem" => self.define_system(driver, &params).await,
            "destroysystem" => self.destroy_system(driver, &params).await,
            "addresourcesettings" => self.add_resource_settings(driver, &params).await,
            "modifyresourcesettings" => self.modify_resource_settings(driver, &params).await,
            "removeresourcesettings" => self.remove_resource_settings(driver, &params).await,
            "modifysystemsettings" => self.modify_system_settings(driver, &params).await,
            _ => Err(unknown_method(VSMS_CLASS, method)),
        }
    }
}
