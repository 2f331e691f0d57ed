//! Snapshots of virtual systems (DMTF CIM 2.49's snapshot classes) on the driver's snapshot API:
//! `KVM_VirtualSystemSnapshotService` ("SnapshotService": CreateSnapshot full or disk-only, DestroySnapshot,
//! ApplySnapshot), `KVM_VirtualSystemSnapshotServiceCapabilities` ("SnapshotCapabilities"), each snapshot as a
//! `KVM_SnapshotSettingData` (InstanceID "KVM:<domain>/<snapshot>"), `KVM_SnapshotOfVirtualSystem` (domain ->
//! each snapshot) and `KVM_LastAppliedSnapshot` (the domain's current snapshot -> domain). A driver without
//! snapshots answers its own "not supported", which the methods pass on. CreateSnapshot and ApplySnapshot run
//! as jobs (answer 4096 with a `KVM_ConcreteJob`), as libvirt-CIM made them asynchronous; DestroySnapshot
//! completes before it returns.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use super::jobs::start_job;
use super::paths_of;
use super::pool_config::{service_instance, service_path};
use super::pools::{host_name, NAMESPACE};
use super::vsms::{decode_all, invalid, lookup, ok, param};
use super::{
    assoc_instance, check_service_target, get_from_enumeration, not_found, put, singleton_host,
    unknown_method, Provider, ProviderCtx,
};
use crate::cim::types::DateTime;
use crate::cim::{CimStatus, CimType, Instance, ObjectPath, Value};
use crate::driver::{flags, Connection, DomainRef, SnapshotRef};
use crate::error::ErrorCode;
use crate::model::SnapshotDef;
use crate::wbem::cimxml::MethodReturn;
use crate::wbem::error::OpError;
use crate::wbem::jobs::{JobProgress, JobSpec, JobTable};

pub const VSSS_CLASS: &str = "KVM_VirtualSystemSnapshotService";
pub const VSSS_NAME: &str = "SnapshotService";
pub const VSSSC_CLASS: &str = "KVM_VirtualSystemSnapshotServiceCapabilities";
pub const VSSSC_ID: &str = "SnapshotCapabilities";
pub const SNAPSHOT_CLASS: &str = "KVM_SnapshotSettingData";
pub const SNAPSHOT_OF_CLASS: &str = "KVM_SnapshotOfVirtualSystem";
pub const LAST_APPLIED_CLASS: &str = "KVM_LastAppliedSnapshot";
const CS_CLASS: &str = "KVM_ComputerSystem";

/// SnapshotType values: a full snapshot (memory and disks) and a disk snapshot.
const FULL_SNAPSHOT: u16 = 2;
const DISK_SNAPSHOT: u16 = 3;
/// `VIR_DOMAIN_SNAPSHOT_CREATE_DISK_ONLY`.
const CREATE_DISK_ONLY: u32 = 1 << 4;
/// `VIR_ERR_NO_DOMAIN_SNAPSHOT`.
const NO_DOMAIN_SNAPSHOT: ErrorCode = ErrorCode(72);

pub fn vsss_path(host: &str) -> ObjectPath {
    service_path(VSSS_CLASS, VSSS_NAME, host)
}

pub fn vsssc_path() -> ObjectPath {
    ObjectPath::instance(Some(NAMESPACE), VSSSC_CLASS, &[("InstanceID", VSSSC_ID)])
}

pub fn snapshot_path(domain: &str, snapshot: &str) -> ObjectPath {
    ObjectPath::instance(
        Some(NAMESPACE),
        SNAPSHOT_CLASS,
        &[("InstanceID", &format!("KVM:{domain}/{snapshot}"))],
    )
}

fn guest_path(name: &str) -> ObjectPath {
    ObjectPath::instance(
        Some(NAMESPACE),
        CS_CLASS,
        &[("CreationClassName", CS_CLASS), ("Name", name)],
    )
}

/// (domain, snapshot) of a snapshot InstanceID; domain names never hold '/'.
fn parse_snapshot_id(id: &str) -> Option<(&str, &str)> {
    id.strip_prefix("KVM:")?
        .split_once('/')
        .filter(|(d, s)| !d.is_empty() && !s.is_empty())
}

fn s(v: &str) -> Value {
    Value::String(v.to_owned())
}

/// A CIM timestamp (UTC) from seconds since the epoch.
pub(crate) fn cim_time(secs: i64) -> Option<DateTime> {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let text = format!(
        "{year:04}{month:02}{day:02}{:02}{:02}{:02}.000000+000",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    );
    DateTime::parse(&text).ok()
}

/// The snapshot as a setting-data instance; `current` marks the domain's current snapshot.
fn snapshot_instance(ctx: &ProviderCtx<'_>, domain: &str, def: &SnapshotDef) -> Instance {
    let class = ctx.class;
    let mut inst = ctx.new_instance();
    put(
        &mut inst,
        class,
        "InstanceID",
        s(&format!("KVM:{domain}/{}", def.name)),
    );
    put(&mut inst, class, "ElementName", s(&def.name));
    put(&mut inst, class, "Caption", s("Snapshot"));
    if let Some(description) = &def.description {
        put(&mut inst, class, "Description", s(description));
    }
    put(&mut inst, class, "VirtualSystemIdentifier", s(domain));
    put(&mut inst, class, "VirtualSystemType", s("KVM"));
    if let Some(time) = cim_time(def.creation_time) {
        put(&mut inst, class, "CreationTime", Value::DateTime(time));
    }
    put(&mut inst, class, "SnapshotState", s(&def.state));
    put(
        &mut inst,
        class,
        "DiskOnly",
        Value::Boolean(def.state == "disk-snapshot"),
    );
    if let Some(parent) = &def.parent {
        put(&mut inst, class, "Parent", s(parent));
    }
    ctx.with_path(inst)
}

/// The domains that have snapshots (`VIR_CONNECT_LIST_DOMAINS_HAS_SNAPSHOT`), so that the others cost no call
/// each; every domain when the driver does not know that filter.
async fn domains_with_snapshots(driver: &Connection) -> Result<Vec<DomainRef>, OpError> {
    match driver
        .list_all_domains(flags::LIST_DOMAINS_HAS_SNAPSHOT)
        .await
    {
        Ok(list) => Ok(list),
        Err(e) if e.code == ErrorCode::INVALID_ARG || e.code == ErrorCode::NO_SUPPORT => {
            Ok(driver.list_all_domains(0).await?)
        }
        Err(e) => Err(e.into()),
    }
}

/// A domain's snapshots, or none when the driver has no snapshots at all.
async fn list_snapshots(driver: &Connection, dom: &DomainRef) -> Result<Vec<SnapshotRef>, OpError> {
    match driver.domain_list_all_snapshots(dom, 0).await {
        Ok(list) => Ok(list),
        Err(e) if e.code == ErrorCode::NO_SUPPORT || e.code == ErrorCode::NO_DOMAIN => {
            Ok(Vec::new())
        }
        Err(e) => Err(e.into()),
    }
}

async fn snapshot_def(driver: &Connection, snap: &SnapshotRef) -> Result<SnapshotDef, OpError> {
    let xml = driver.domain_snapshot_get_xml_desc(snap, 0).await?;
    Ok(SnapshotDef::from_xml(&xml, true)?)
}

/// The snapshot a reference parameter names.
async fn snapshot_param(
    driver: &Connection,
    params: &[(String, Value)],
    name: &str,
) -> Result<SnapshotRef, OpError> {
    let path = match param(params, name) {
        Some(Value::Reference(path)) => path,
        Some(_) => return Err(invalid(format!("{name} must be a reference"))),
        None => return Err(invalid(format!("Missing argument `{name}'"))),
    };
    let id = path.key_str("InstanceID").unwrap_or_default();
    let (domain, snapshot) =
        parse_snapshot_id(id).ok_or_else(|| invalid(format!("Invalid InstanceID `{id}'")))?;
    let dom = lookup(driver, domain).await?;
    match driver
        .domain_snapshot_lookup_by_name(&dom, snapshot, 0)
        .await
    {
        Ok(snap) => Ok(snap),
        Err(e) if e.code == NO_DOMAIN_SNAPSHOT => Err(OpError::cim(
            CimStatus::NotFound,
            format!("Referenced snapshot `{snapshot}' of domain `{domain}' does not exist"),
        )),
        Err(e) => Err(e.into()),
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Runs a snapshot operation, reporting the domain's own job (`virDomainGetJobInfo`: a memory snapshot's
/// data processed) as the CIM job's progress while it runs.
async fn with_domain_progress<T>(
    driver: &Connection,
    dom: &DomainRef,
    progress: &JobProgress,
    op: impl std::future::Future<Output = crate::error::Result<T>>,
) -> Result<T, OpError> {
    tokio::pin!(op);
    loop {
        tokio::select! {
            result = &mut op => return Ok(result?),
            () = tokio::time::sleep(Duration::from_millis(250)) => {
                if let Ok(info) = driver.domain_get_job_info(dom).await {
                    if info.kind != 0 && info.data_total > 0 {
                        let done = info.data_processed.min(info.data_total);
                        let percent = u16::try_from(done * 99 / info.data_total).unwrap_or(99);
                        progress.report(percent, None);
                    }
                }
            }
        }
    }
}

/// `KVM_VirtualSystemSnapshotService`.
pub struct SnapshotServiceProvider {
    jobs: Arc<JobTable>,
}

impl SnapshotServiceProvider {
    pub fn new(jobs: &Arc<JobTable>) -> SnapshotServiceProvider {
        SnapshotServiceProvider {
            jobs: Arc::clone(jobs),
        }
    }

    async fn create(
        &self,
        driver: &Connection,
        params: &[(String, Value)],
    ) -> Result<MethodReturn, OpError> {
        let domain = match param(params, "AffectedSystem") {
            Some(Value::Reference(path)) => path
                .key_str("Name")
                .map(str::to_owned)
                .ok_or_else(|| invalid("AffectedSystem has no Name key"))?,
            Some(_) => return Err(invalid("AffectedSystem must be a reference")),
            None => return Err(invalid("Missing argument `AffectedSystem'")),
        };
        // Optional settings: ElementName names the snapshot, Description describes it. Parsed before the
        // type is looked at, as libcmpiutil checks the arguments in their declared order.
        let (mut name, mut description) = (None, None);
        if let Some(settings) = param(params, "SnapshotSettings") {
            if let Some(inst) = decode_all(settings, "SnapshotSettings")?.into_iter().next() {
                name = inst.get_str("ElementName").map(str::to_owned);
                description = inst.get_str("Description").map(str::to_owned);
            }
        }
        let kind = match param(params, "SnapshotType") {
            None => FULL_SNAPSHOT,
            Some(v) => {
                let n = match v {
                    Value::String(t) => t.trim().parse::<i128>().ok(),
                    other => other.as_i128(),
                };
                match n {
                    Some(n) if n == i128::from(FULL_SNAPSHOT) => FULL_SNAPSHOT,
                    Some(n) if n == i128::from(DISK_SNAPSHOT) => DISK_SNAPSHOT,
                    _ => {
                        return Err(OpError::cim(
                            CimStatus::NotSupported,
                            "SnapshotType not supported (2: full, 3: disk)",
                        ))
                    }
                }
            }
        };
        let dom = lookup(driver, &domain).await?;
        // Named here when the caller gave no name, as libvirt names it (the creation time in seconds), so
        // ResultingSnapshot can be answered with the job.
        let name = name.filter(|n| !n.trim().is_empty()).unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs())
                .to_string()
        });
        let mut xml = String::from("<domainsnapshot>");
        xml.push_str(&format!("<name>{}</name>", escape(&name)));
        if let Some(description) = description {
            xml.push_str(&format!(
                "<description>{}</description>",
                escape(&description)
            ));
        }
        xml.push_str("</domainsnapshot>");
        let flags = if kind == DISK_SNAPSHOT {
            CREATE_DISK_ONLY
        } else {
            0
        };
        let spec = JobSpec {
            name: "Snapshot".into(),
            description: format!("Snapshot {name} of {}", dom.name),
            namespace: NAMESPACE.into(),
            affected: vec![guest_path(&dom.name)],
            cleanup: None,
        };
        let out = vec![(
            "ResultingSnapshot".into(),
            Value::Reference(Arc::new(snapshot_path(&dom.name, &name))),
        )];
        let driver = driver.clone();
        Ok(start_job(
            &self.jobs,
            spec,
            out,
            move |progress| async move {
                let create = driver.domain_snapshot_create_xml(&dom, &xml, flags);
                with_domain_progress(&driver, &dom, &progress, create).await?;
                Ok(())
            },
        ))
    }

    async fn destroy(
        &self,
        driver: &Connection,
        params: &[(String, Value)],
    ) -> Result<MethodReturn, OpError> {
        let snap = snapshot_param(driver, params, "AffectedSnapshot").await?;
        driver.domain_snapshot_delete(&snap, 0).await?;
        Ok(ok(Vec::new()))
    }

    async fn apply(
        &self,
        driver: &Connection,
        params: &[(String, Value)],
    ) -> Result<MethodReturn, OpError> {
        let snap = snapshot_param(driver, params, "Snapshot").await?;
        let dom = snap.dom.clone();
        let spec = JobSpec {
            name: "Snapshot".into(),
            description: format!("Apply snapshot {} to {}", snap.name, dom.name),
            namespace: NAMESPACE.into(),
            affected: vec![guest_path(&dom.name), snapshot_path(&dom.name, &snap.name)],
            cleanup: None,
        };
        let driver = driver.clone();
        Ok(start_job(
            &self.jobs,
            spec,
            Vec::new(),
            move |progress| async move {
                let revert = driver.domain_revert_to_snapshot(&snap, 0);
                with_domain_progress(&driver, &dom, &progress, revert).await?;
                Ok(())
            },
        ))
    }
}

#[async_trait]
impl Provider for SnapshotServiceProvider {
    fn class_name(&self) -> &'static str {
        VSSS_CLASS
    }

    async fn enumerate_names(&self, ctx: &ProviderCtx<'_>) -> Result<Vec<ObjectPath>, OpError> {
        Ok(vec![vsss_path(&host_name(ctx.driver).await)])
    }

    async fn get(&self, ctx: &ProviderCtx<'_>, path: &ObjectPath) -> Result<Instance, OpError> {
        let host = singleton_host(ctx, path, vsss_path).await?;
        let mut inst = service_instance(ctx, VSSS_NAME, &host);
        put(
            &mut inst,
            ctx.class,
            "Description",
            s("Service to take, remove and apply snapshots of virtual systems"),
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
        check_service_target(target, &vsss_path(&host_name(driver).await))?;
        match method.to_ascii_lowercase().as_str() {
            "createsnapshot" => self.create(driver, &params).await,
            "destroysnapshot" => self.destroy(driver, &params).await,
            "applysnapshot" => self.apply(driver, &params).await,
            _ => Err(unknown_method(VSSS_CLASS, method)),
        }
    }
}

/// `KVM_VirtualSystemSnapshotServiceCapabilities`.
pub struct SnapshotCapabilitiesProvider;

#[async_trait]
impl Provider for SnapshotCapabilitiesProvider {
    fn class_name(&self) -> &'static str {
        VSSSC_CLASS
    }

    async fn enumerate_names(&self, _ctx: &ProviderCtx<'_>) -> Result<Vec<ObjectPath>, OpError> {
        Ok(vec![vsssc_path()])
    }

    async fn get(&self, ctx: &ProviderCtx<'_>, path: &ObjectPath) -> Result<Instance, OpError> {
        super::lookup::validate_ref(path, &vsssc_path())?;
        let class = ctx.class;
        let mut inst = ctx.new_instance();
        let u16s = |v: &[u16]| {
            Value::Array(
                CimType::Uint16,
                v.iter().map(|x| Value::Uint16(*x)).collect(),
            )
        };
        put(&mut inst, class, "InstanceID", s(VSSSC_ID));
        put(&mut inst, class, "ElementName", s(VSSSC_ID));
        // DestroySnapshot completes before it returns; CreateSnapshot and ApplySnapshot run as jobs.
        put(&mut inst, class, "SynchronousMethodsSupported", u16s(&[3]));
        put(
            &mut inst,
            class,
            "AynchronousMethodsSupported",
            u16s(&[2, 4]),
        );
        put(
            &mut inst,
            class,
            "SnapshotTypesSupported",
            u16s(&[FULL_SNAPSHOT, DISK_SNAPSHOT]),
        );
        Ok(ctx.with_path(inst))
    }
}

/// `KVM_SnapshotSettingData`: every snapshot of every domain.
pub struct SnapshotProvider;

#[async_trait]
impl Provider for SnapshotProvider {
    fn class_name(&self) -> &'static str {
        SNAPSHOT_CLASS
    }

    async fn enumerate_names(&self, ctx: &ProviderCtx<'_>) -> Result<Vec<ObjectPath>, OpError> {
        let driver = ctx.driver;
        let mut out = Vec::new();
        for dom in domains_with_snapshots(driver).await? {
            for snap in list_snapshots(driver, &dom).await? {
                out.push(snapshot_path(&dom.name, &snap.name));
            }
        }
        Ok(out)
    }

    async fn get(&self, ctx: &ProviderCtx<'_>, path: &ObjectPath) -> Result<Instance, OpError> {
        let driver = ctx.driver;
        let (domain, snapshot) = path
            .key_str("InstanceID")
            .and_then(parse_snapshot_id)
            .ok_or_else(|| not_found(path))?;
        if !path.class_name.eq_ignore_ascii_case(SNAPSHOT_CLASS) {
            return Err(not_found(path));
        }
        let dom = match driver.domain_lookup_by_name(domain).await {
            Ok(dom) => dom,
            Err(e) if e.code == ErrorCode::NO_DOMAIN => return Err(not_found(path)),
            Err(e) => return Err(e.into()),
        };
        let snap = match driver
            .domain_snapshot_lookup_by_name(&dom, snapshot, 0)
            .await
        {
            Ok(snap) => snap,
            Err(e) if e.code == NO_DOMAIN_SNAPSHOT || e.code == ErrorCode::NO_SUPPORT => {
                return Err(not_found(path))
            }
            Err(e) => return Err(e.into()),
        };
        let def = snapshot_def(driver, &snap).await?;
        Ok(snapshot_instance(ctx, &dom.name, &def))
    }
}

/// `KVM_SnapshotOfVirtualSystem` (domain -> snapshot) or `KVM_LastAppliedSnapshot` (current snapshot ->
/// domain).
pub struct SnapshotAssocProvider {
    last_applied: bool,
}

impl SnapshotAssocProvider {
    pub fn both() -> [SnapshotAssocProvider; 2] {
        [false, true].map(|last_applied| SnapshotAssocProvider { last_applied })
    }

    /// The instances for the given domains.
    async fn for_domains(
        &self,
        ctx: &ProviderCtx<'_>,
        domains: Vec<DomainRef>,
    ) -> Result<Vec<Instance>, OpError> {
        let driver = ctx.driver;
        let mut out = Vec::new();
        for dom in domains {
            let guest = guest_path(&dom.name);
            if self.last_applied {
                match driver.domain_snapshot_current(&dom, 0).await {
                    Ok(snap) => out.push(assoc_instance(
                        ctx,
                        &[
                            ("Antecedent", snapshot_path(&dom.name, &snap.name)),
                            ("Dependent", guest),
                        ],
                    )),
                    Err(e)
                        if e.code == NO_DOMAIN_SNAPSHOT
                            || e.code == ErrorCode::NO_SUPPORT
                            || e.code == ErrorCode::NO_DOMAIN => {}
                    Err(e) => return Err(e.into()),
                }
            } else {
                for snap in list_snapshots(driver, &dom).await? {
                    out.push(assoc_instance(
                        ctx,
                        &[
                            ("Antecedent", guest.clone()),
                            ("Dependent", snapshot_path(&dom.name, &snap.name)),
                        ],
                    ));
                }
            }
        }
        Ok(out)
    }
}

#[async_trait]
impl Provider for SnapshotAssocProvider {
    fn class_name(&self) -> &'static str {
        if self.last_applied {
            LAST_APPLIED_CLASS
        } else {
            SNAPSHOT_OF_CLASS
        }
    }

    async fn enumerate_names(&self, ctx: &ProviderCtx<'_>) -> Result<Vec<ObjectPath>, OpError> {
        Ok(paths_of(self.enumerate(ctx).await?))
    }

    async fn get(&self, ctx: &ProviderCtx<'_>, path: &ObjectPath) -> Result<Instance, OpError> {
        get_from_enumeration(self.enumerate(ctx).await?, path)
    }

    async fn enumerate(&self, ctx: &ProviderCtx<'_>) -> Result<Vec<Instance>, OpError> {
        let domains = domains_with_snapshots(ctx.driver).await?;
        self.for_domains(ctx, domains).await
    }

    /// A guest or a snapshot: that one domain's instances.
    async fn references_to(
        &self,
        ctx: &ProviderCtx<'_>,
        object: &ObjectPath,
    ) -> Result<Option<Vec<Instance>>, OpError> {
        let is = |c: &str| object.class_name.eq_ignore_ascii_case(c);
        let domain = if is(CS_CLASS) {
            object.key_str("Name")
        } else if is(SNAPSHOT_CLASS) {
            object
                .key_str("InstanceID")
                .and_then(parse_snapshot_id)
                .map(|(d, _)| d)
        } else {
            return Ok(None);
        };
        let Some(domain) = domain else {
            return Ok(Some(Vec::new()));
        };
        let dom = match ctx.driver.domain_lookup_by_name(domain).await {
            Ok(dom) => dom,
            Err(e) if e.code == ErrorCode::NO_DOMAIN => return Ok(Some(Vec::new())),
            Err(e) => return Err(e.into()),
        };
        Ok(Some(self.for_domains(ctx, vec![dom]).await?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_ids_and_times() {
        assert_eq!(parse_snapshot_id("KVM:vm/s1"), Some(("vm", "s1")));
        assert_eq!(parse_snapshot_id("KVM:vm/a/b"), Some(("vm", "a/b")));
        assert_eq!(parse_snapshot_id("KVM:vm"), None);
        assert_eq!(parse_snapshot_id("Xen:vm/s"), None);
        assert_eq!(
            cim_time(0).map(|t| t.as_str().to_owned()).as_deref(),
            Some("19700101000000.000000+000")
        );
        assert_eq!(
            cim_time(1_700_000_000)
                .map(|t| t.as_str().to_owned())
                .as_deref(),
            Some("20231114221320.000000+000")
        );
    }
}
