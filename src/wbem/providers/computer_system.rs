//! The system classes: `KVM_ComputerSystem` (one per domain, state mapping and RequestStateChange as
//! libvirt-CIM), `KVM_HostSystem` (the host) and `KVM_HostedDependency` (host -> each domain).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use super::{
    owned_assoc_instance, put, summaries_in_memory, summary_pieces, HeldPieces, Pieces, Provider,
    ProviderCtx,
};
use crate::cim::{CimStatus, CimType, Instance, ObjectPath, Value};
use crate::driver::{every_domain, flags, Connection, DomainRef, DomainState};
use crate::error::ErrorCode;
use crate::model::DomainDef;
use crate::wbem::cimxml::MethodReturn;
use crate::wbem::error::OpError;

pub const CS_CLASS: &str = "KVM_ComputerSystem";
pub const HOST_CLASS: &str = "KVM_HostSystem";
pub const HOSTED_DEPENDENCY_CLASS: &str = "KVM_HostedDependency";
const NAMESPACE: &str = "root/virt";

/// The status properties for a libvirt state (REPORT §1.6): EnabledState, HealthState, OperationalStatus,
/// OperatingStatus.
pub fn state_properties(state: DomainState) -> (u16, u16, u16, u16) {
    match state {
        DomainState::NoState => (0, 0, 15, 5),
        DomainState::Running => (2, 5, 2, 32768),
        DomainState::Blocked => (2, 5, 2, 7),
        DomainState::Paused => (9, 5, 2, 7),
        DomainState::Shutdown => (4, 0, 15, 5),
        DomainState::Shutoff => (3, 0, 15, 5),
        DomainState::Crashed => (3, 20, 6, 6),
        // Suspended to memory: enabled but offline, as libvirt-CIM reports a saved domain.
        DomainState::PmSuspended => (6, 0, 15, 5),
    }
}

/// `KVM_ComputerSystem`: keys CreationClassName = "KVM_ComputerSystem", Name = the domain name.
#[derive(Default)]
pub struct ComputerSystemProvider {
    /// Last RequestedState per domain UUID (libvirt-CIM keeps it in its infostore; 0 = never requested).
    requested: Mutex<HashMap<uuid::Uuid, u16>>,
}

pub fn computer_system_path(name: &str) -> ObjectPath {
    ObjectPath::instance(
        Some(NAMESPACE),
        CS_CLASS,
        &[("CreationClassName", CS_CLASS), ("Name", name)],
    )
}

/// The host's name as KVM_HostSystem uses it ("unknown" when the driver has none).
pub async fn host_name(driver: &Connection) -> String {
    match driver.get_hostname().await {
        Ok(name) if !name.is_empty() => name,
        _ => "unknown".into(),
    }
}

/// The path of the one KVM_HostSystem.
pub fn host_path(name: &str) -> ObjectPath {
    ObjectPath::instance(
        Some(NAMESPACE),
        HOST_CLASS,
        &[("CreationClassName", HOST_CLASS), ("Name", name)],
    )
}

/// The domain a KVM_ComputerSystem path names, or NOT_FOUND.
async fn lookup_domain(driver: &Connection, path: &ObjectPath) -> Result<DomainRef, OpError> {
    // libvirt-CIM's answers: FAILED without a name, NOT_FOUND naming the domain and the driver's message; then
    // its `cu_validate_ref`: every key of the instance must be in the path with the instance's value (NOT_FOUND
    // naming the first that is not), while keys the class does not have are ignored.
    let name = path
        .key_str("Name")
        .ok_or_else(|| OpError::cim(CimStatus::Failed, "No domain name specified"))?;
    let dom = match driver.domain_lookup_by_name(name).await {
        Ok(dom) => dom,
        Err(err) if err.code == ErrorCode::NO_DOMAIN => {
            return Err(OpError::cim(
                CimStatus::NotFound,
                format!("Referenced domain `{name}' does not exist: {}", err.message),
            ))
        }
        Err(err) => return Err(err.into()),
    };
    let ccn_ok = path
        .key_str("CreationClassName")
        .is_some_and(|c| c.eq_ignore_ascii_case(CS_CLASS));
    if !ccn_ok {
        return Err(OpError::cim(
            CimStatus::NotFound,
            "No such instance (CreationClassName)",
        ));
    }
    Ok(dom)
}

/// The current definition of one domain, or `None` when it cannot be read (the caption then says no console).
async fn current_def(driver: &Connection, dom: &DomainRef) -> Option<DomainDef> {
    let xml = driver.domain_get_xml_desc(dom, 0).await.ok()?;
    DomainDef::from_xml(&xml, false).ok()
}

/// libvirt-CIM's caption: "Virtual System (Console on vnc://host:port)" or "Virtual System (No console)".
fn console_caption(def: Option<&DomainDef>) -> String {
    let console = def.and_then(|def| {
        def.devices.graphics.iter().find_map(|g| {
            let port = g.port.filter(|p| *p > 0)?;
            let host = g.listen.as_deref().unwrap_or("127.0.0.1");
            Some(format!("{}://{host}:{port}", g.graphics_type))
        })
    });
    match console {
        Some(url) => format!("Virtual System (Console on {url})"),
        None => "Virtual System (No console)".into(),
    }
}

impl ComputerSystemProvider {
    fn instance(
        &self,
        ctx: &ProviderCtx<'_>,
        dom: &DomainRef,
        state: DomainState,
        def: Option<&DomainDef>,
    ) -> Instance {
        let (enabled, health, operational, operating) = state_properties(state);
        let requested = self
            .requested
            .lock()
            .map(|m| m.get(&dom.uuid).copied().unwrap_or(0))
            .unwrap_or(0);
        let class = ctx.class;
        let uuid = dom.uuid.to_string();
        let mut inst = ctx.new_instance();
        let s = |v: &str| Value::String(v.to_owned());
        put(&mut inst, class, "CreationClassName", s(CS_CLASS));
        put(&mut inst, class, "Name", s(&dom.name));
        put(&mut inst, class, "UUID", s(&uuid));
        put(&mut inst, class, "ElementName", s(&dom.name));
        put(&mut inst, class, "Caption", s(&console_caption(def)));
        put(&mut inst, class, "Description", s("Virtual System"));
        put(&mut inst, class, "EnabledState", Value::Uint16(enabled));
        put(&mut inst, class, "RequestedState", Value::Uint16(requested));
        put(&mut inst, class, "HealthState", Value::Uint16(health));
        put(
            &mut inst,
            class,
            "OperationalStatus",
            Value::Array(CimType::Uint16, vec![Value::Uint16(operational)]),
        );
        put(
            &mut inst,
            class,
            "OperatingStatus",
            Value::Uint16(operating),
        );
        let strings = |items: &[&str]| {
            Value::Array(
                CimType::String,
                items.iter().map(|i| Value::String((*i).into())).collect(),
            )
        };
        put(
            &mut inst,
            class,
            "OtherIdentifyingInfo",
            strings(&["Virtual System", "KVM Virtual System", &uuid]),
        );
        put(
            &mut inst,
            class,
            "IdentifyingDescriptions",
            strings(&["Type", "Model", "UUID"]),
        );
        ctx.with_path(inst)
    }

    /// RequestStateChange as libvirt-CIM's `__state_change` does it: 2 starts a shut-off or resumes a paused
    /// domain, 3 destroys and 4 shuts down a running one, 9 pauses a running one, 10 reboots and 11 resets
    /// (destroy, then start its inactive definition again, defining it first when it was transient) a running or
    /// paused one. A wrong state is CIM_ERR_FAILED with libvirt-CIM's texts, a driver refusal CIM_ERR_FAILED
    /// "<what failed>: <libvirt's message>", other states CIM_ERR_NOT_SUPPORTED "State not supported". The
    /// requested value is remembered as RequestedState whether or not the change succeeded, as libvirt-CIM's
    /// infostore does.
    async fn request_state_change(
        &self,
        driver: &Connection,
        dom: &DomainRef,
        requested: u16,
    ) -> Result<(), OpError> {
        let (state, _) = driver
            .domain_get_state(dom, 0)
            .await
            .map_err(|e| driver_failed("Unable to get current state", &e))?;
        let result = change_state(driver, dom, state, requested).await;
        if let Ok(mut map) = self.requested.lock() {
            map.insert(dom.uuid, requested);
        }
        result
    }
}

/// libvirt-CIM's `virt_set_status`: CIM_ERR_FAILED, its own words, then the driver's message.
fn driver_failed(what: &str, err: &crate::error::Error) -> OpError {
    OpError::cim(CimStatus::Failed, format!("{what}: {}", err.message))
}

async fn change_state(
    driver: &Connection,
    dom: &DomainRef,
    state: DomainState,
    requested: u16,
) -> Result<(), OpError> {
    let running = matches!(state, DomainState::Running | DomainState::Blocked);
    let live = running || state == DomainState::Paused;
    let failed = |text: &str| Err(OpError::cim(CimStatus::Failed, text.to_owned()));
    let or_fail = |what: &'static str| move |e: crate::error::Error| driver_failed(what, &e);
    match requested {
        2 => match state {
            DomainState::Paused => driver
                .domain_resume(dom)
                .await
                .map_err(or_fail("Unable to unpause domain")),
            DomainState::Shutoff => driver
                .domain_create(dom, 0)
                .await
                .map(drop)
                .map_err(or_fail("Unable to start domain")),
            _ => failed("Invalid state transition"),
        },
        3 if running => driver
            .domain_destroy(dom, 0)
            .await
            .map_err(or_fail("Unable to disable domain")),
        4 if running => driver
            .domain_shutdown(dom, 0)
            .await
            .map_err(or_fail("Unable to shutdown domain")),
        3 | 4 => failed("Invalid state transition"),
        9 if running => driver
            .domain_suspend(dom)
            .await
            .map_err(or_fail("Unable to pause domain")),
        10 if live => driver
            .domain_reboot(dom, 0)
            .await
            .map_err(or_fail("Unable to reboot domain")),
        11 if live => reset(driver, dom).await,
        9..=11 => failed("Domain not running"),
        _ => Err(OpError::cim(CimStatus::NotSupported, "State not supported")),
    }
}

/// libvirt-CIM's `domain_reset`: the inactive definition is read, the domain destroyed, defined again from that
/// definition if destroying removed it (a transient domain), and started.
async fn reset(driver: &Connection, dom: &DomainRef) -> Result<(), OpError> {
    let xml = driver
        .domain_get_xml_desc(dom, flags::XML_INACTIVE | flags::XML_SECURE)
        .await
        .map_err(|e| driver_failed("Unable to get domain definition", &e))?;
    driver
        .domain_destroy(dom, 0)
        .await
        .map_err(|e| driver_failed("Unable to destroy domain", &e))?;
    let dom = match driver.domain_lookup_by_name(&dom.name).await {
        Ok(dom) => dom,
        Err(_) => driver
            .domain_define_xml(&xml, 0)
            .await
            .map_err(|e| driver_failed("Unable to define domain", &e))?,
    };
    driver
        .domain_create(&dom, 0)
        .await
        .map(drop)
        .map_err(|e| driver_failed("Failed to start domain", &e))
}

#[async_trait]
impl Provider for ComputerSystemProvider {
    fn class_name(&self) -> &'static str {
        CS_CLASS
    }

    async fn enumerate_names(&self, ctx: &ProviderCtx<'_>) -> Result<Vec<ObjectPath>, OpError> {
        let domains = ctx.driver.list_all_domains(0).await?;
        Ok(domains
            .iter()
            .map(|d| computer_system_path(&d.name))
            .collect())
    }

    async fn get(&self, ctx: &ProviderCtx<'_>, path: &ObjectPath) -> Result<Instance, OpError> {
        let dom = lookup_domain(ctx.driver, path).await?;
        // The state and definition as a driver holding them in memory has them, else asked and parsed.
        let held = summaries_in_memory(ctx.driver, Some(&dom.name), &every_domain).await?;
        if let Some(summary) = held.and_then(|mut one| one.pop()) {
            let def = Some(summary.def.as_ref());
            return Ok(self.instance(ctx, &summary.dom, summary.state, def));
        }
        let (state, _reason) = ctx.driver.domain_get_state(&dom, 0).await?;
        let def = current_def(ctx.driver, &dom).await;
        Ok(self.instance(ctx, &dom, state, def.as_ref()))
    }

    async fn enumerate(&self, ctx: &ProviderCtx<'_>) -> Result<Vec<Instance>, OpError> {
        // One driver call for all domains: no per-domain state lookup or XML round trip.
        let summaries = ctx.driver.domain_summaries(&every_domain).await?;
        Ok(summaries
            .iter()
            .map(|s| self.instance(ctx, &s.dom, s.state, Some(&s.def)))
            .collect())
    }

    fn splits_per_guest(&self) -> bool {
        true
    }

    /// The RequestedState kept here changes only through CIM methods, which the caller's reuse accounts for.
    async fn enumerate_pieces<'a>(
        &'a self,
        ctx: &'a ProviderCtx<'a>,
        have: &dyn HeldPieces,
    ) -> Result<Option<Pieces<'a>>, OpError> {
        summary_pieces(ctx, have, |s| {
            vec![self.instance(ctx, &s.dom, s.state, Some(&s.def))]
        })
        .await
    }

    async fn invoke(
        &self,
        ctx: &ProviderCtx<'_>,
        target: &ObjectPath,
        method: &str,
        params: Vec<(String, Value)>,
    ) -> Result<MethodReturn, OpError> {
        if !method.eq_ignore_ascii_case("RequestStateChange") {
            return Err(OpError::cim(
                CimStatus::MethodNotAvailable,
                format!("method {method} is not available on {CS_CLASS}"),
            ));
        }
        if target.is_class_path() {
            return Err(OpError::cim(
                CimStatus::InvalidParameter,
                "RequestStateChange needs an instance path",
            ));
        }
        // libcmpiutil checks a required argument is there before libvirt-CIM reads it as a uint16.
        let requested = params
            .iter()
            .find(|(n, v)| n.eq_ignore_ascii_case("RequestedState") && !v.is_null())
            .ok_or_else(|| {
                OpError::cim(
                    CimStatus::InvalidParameter,
                    "Missing argument `RequestedState'",
                )
            })?;
        let requested = Some(&requested.1)
            .and_then(Value::as_i128)
            .and_then(|n| u16::try_from(n).ok())
            .ok_or_else(|| OpError::cim(CimStatus::InvalidParameter, "Invalid RequestedState"))?;
        // libvirt-CIM reads the name alone (no other key is checked) and answers a missing domain as a bad
        // parameter.
        let name = target
            .key_str("Name")
            .ok_or_else(|| OpError::cim(CimStatus::Failed, "Name key not specified"))?;
        let dom = match ctx.driver.domain_lookup_by_name(name).await {
            Ok(dom) => dom,
            Err(err) if err.code == ErrorCode::NO_DOMAIN => {
                return Err(OpError::cim(
                    CimStatus::InvalidParameter,
                    format!("Unable to get instance for guest '{name}'"),
                ))
            }
            Err(err) => return Err(err.into()),
        };
        self.request_state_change(ctx.driver, &dom, requested)
            .await?;
        Ok(MethodReturn {
            value: Value::Uint32(0),
            out_params: Vec::new(),
        })
    }
}

/// `KVM_HostSystem`: the one host, Name = the driver's host name.
pub struct HostSystemProvider;

#[async_trait]
impl Provider for HostSystemProvider {
    fn class_name(&self) -> &'static str {
        HOST_CLASS
    }

    async fn enumerate_names(&self, ctx: &ProviderCtx<'_>) -> Result<Vec<ObjectPath>, OpError> {
        Ok(vec![host_path(&host_name(ctx.driver).await)])
    }

    async fn get(&self, ctx: &ProviderCtx<'_>, path: &ObjectPath) -> Result<Instance, OpError> {
        let name = host_name(ctx.driver).await;
        // libvirt-CIM's cu_validate_ref: NOT_FOUND naming the first key that differs.
        super::lookup::validate_ref(path, &host_path(&name))?;
        let mut inst = ctx.new_instance();
        put(
            &mut inst,
            ctx.class,
            "CreationClassName",
            Value::String(HOST_CLASS.into()),
        );
        put(&mut inst, ctx.class, "Name", Value::String(name.clone()));
        put(&mut inst, ctx.class, "ElementName", Value::String(name));
        Ok(ctx.with_path(inst))
    }
}

/// `KVM_HostedDependency`: Antecedent = the host, Dependent = each domain's KVM_ComputerSystem.
pub struct HostedDependencyProvider;

/// The KVM_HostedDependency path of a guest on the host `host` names (one path shared by every guest's).
fn hosted_dependency_path(host: &Arc<ObjectPath>, domain: &str) -> ObjectPath {
    ObjectPath::instance(Some(NAMESPACE), HOSTED_DEPENDENCY_CLASS, &[])
        .with_key("Antecedent", Value::Reference(Arc::clone(host)))
        .with_key(
            "Dependent",
            Value::Reference(Arc::new(computer_system_path(domain))),
        )
}

/// The KVM_HostedDependency instance of a guest (see [`hosted_dependency_path`]).
fn hosted_dependency(ctx: &ProviderCtx<'_>, host: &Arc<ObjectPath>, domain: &str) -> Instance {
    owned_assoc_instance(
        ctx,
        [
            ("Antecedent", Arc::clone(host)),
            ("Dependent", Arc::new(computer_system_path(domain))),
        ],
    )
}

#[async_trait]
impl Provider for HostedDependencyProvider {
    fn class_name(&self) -> &'static str {
        HOSTED_DEPENDENCY_CLASS
    }

    async fn enumerate_names(&self, ctx: &ProviderCtx<'_>) -> Result<Vec<ObjectPath>, OpError> {
        let host = Arc::new(host_path(&host_name(ctx.driver).await));
        let domains = ctx.driver.list_all_domains(0).await?;
        Ok(domains
            .iter()
            .map(|d| hosted_dependency_path(&host, &d.name))
            .collect())
    }

    fn splits_per_guest(&self) -> bool {
        true
    }

    /// The host's name is the driver's, fixed for a driver that gives versions (the test driver's).
    async fn enumerate_pieces<'a>(
        &'a self,
        ctx: &'a ProviderCtx<'a>,
        have: &dyn HeldPieces,
    ) -> Result<Option<Pieces<'a>>, OpError> {
        let host = Arc::new(host_path(&host_name(ctx.driver).await));
        summary_pieces(ctx, have, move |s| {
            vec![hosted_dependency(ctx, &host, &s.dom.name)]
        })
        .await
    }

    async fn get(&self, ctx: &ProviderCtx<'_>, path: &ObjectPath) -> Result<Instance, OpError> {
        let not_found = || OpError::cim(CimStatus::NotFound, format!("no instance {path}"));
        let dependent = match path.key("Dependent") {
            Some(Value::Reference(p)) => p.as_ref().clone(),
            _ => return Err(not_found()),
        };
        let dom = lookup_domain(ctx.driver, &dependent)
            .await
            .map_err(|_| not_found())?;
        let host = Arc::new(host_path(&host_name(ctx.driver).await));
        let inst = hosted_dependency(ctx, &host, &dom.name);
        if !inst.path.as_ref().is_some_and(|p| p.same_object(path)) {
            return Err(not_found());
        }
        Ok(inst)
    }

    async fn enumerate(&self, ctx: &ProviderCtx<'_>) -> Result<Vec<Instance>, OpError> {
        let host = Arc::new(host_path(&host_name(ctx.driver).await));
        let domains = ctx.driver.list_all_domains(0).await?;
        Ok(domains
            .iter()
            .map(|d| hosted_dependency(ctx, &host, &d.name))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_table_matches_libvirt_cim() {
        assert_eq!(state_properties(DomainState::Running), (2, 5, 2, 32768));
        assert_eq!(state_properties(DomainState::Paused), (9, 5, 2, 7));
        assert_eq!(state_properties(DomainState::Shutoff), (3, 0, 15, 5));
        assert_eq!(state_properties(DomainState::Crashed), (3, 20, 6, 6));
        assert_eq!(state_properties(DomainState::Shutdown), (4, 0, 15, 5));
        assert_eq!(state_properties(DomainState::NoState), (0, 0, 15, 5));
    }
}
