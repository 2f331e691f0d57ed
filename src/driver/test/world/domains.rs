//! Domains of the test world: lookups, reads, and every lifecycle transition with libvirt's refusals.

use super::*;
use crate::driver::DomainSummary;
use std::collections::HashMap;
use std::sync::Arc;

/// The domains, hashed by UUID, with an index by name kept beside them that also holds what listings filter on:
/// lookups by name and listings in name order (what `virConnectListAllDomains` returns) cost no scan, no sort and
/// no visit to the domain objects, even with 10 000 domains. Objects are only ever replaced whole (`insert`), so
/// the index cannot go stale.
#[derive(Default)]
pub(in crate::driver::test) struct DomainTable {
    by_uuid: HashMap<Uuid, DomainObj>,
    by_name: BTreeMap<String, Listed>,
}

/// A domain's current definition, shared with readers, and the version it was replaced at.
pub(in crate::driver::test) struct Shared {
    pub(in crate::driver::test) def: Arc<DomainDef>,
    pub(in crate::driver::test) version: u64,
}

impl DomainObj {
    /// The domain's summary: its shared definition and version, not a copy.
    pub(in crate::driver::test) fn summary(&self, shared: &Shared) -> DomainSummary {
        DomainSummary {
            dom: self.handle(),
            state: self.state,
            reason: self.reason,
            def: Arc::clone(&shared.def),
            version: Some(shared.version),
            autostart: Some(self.autostart),
        }
    }
}

/// Versions are taken from one counter for the whole process, so that no two domain objects ever carry the same
/// one (not even across a reloaded world): an answer computed at a version can only be reused for that object.
fn next_version() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// A domain as listings and summaries see it.
struct Listed {
    uuid: Uuid,
    id: i32,
    state: DomainState,
    persistent: bool,
    autostart: bool,
    /// What summaries hand out, made once per replacement rather than per read; kept here, in name order, so
    /// that summaries judged on their definitions pass over the others without looking anything up.
    shared: Shared,
}

impl DomainTable {
    pub(in crate::driver::test) fn insert(&mut self, uuid: Uuid, obj: DomainObj) {
        let name = obj.name().to_string();
        let listed = Listed {
            uuid,
            id: obj.id,
            state: obj.state,
            persistent: obj.is_persistent(),
            autostart: obj.autostart,
            shared: Shared {
                def: Arc::new(obj.def().clone()),
                version: next_version(),
            },
        };
        if let Some(old) = self.by_uuid.insert(uuid, obj) {
            if old.name() != name {
                self.by_name.remove(old.name());
            }
        }
        self.by_name.insert(name, listed);
    }

    pub(in crate::driver::test) fn remove(&mut self, uuid: &Uuid) -> Option<DomainObj> {
        let old = self.by_uuid.remove(uuid)?;
        if self.by_name.get(old.name()).map(|l| &l.uuid) == Some(uuid) {
            self.by_name.remove(old.name());
        }
        Some(old)
    }

    pub(in crate::driver::test) fn get(&self, uuid: &Uuid) -> Option<&DomainObj> {
        self.by_uuid.get(uuid)
    }

    pub(in crate::driver::test) fn contains_key(&self, uuid: &Uuid) -> bool {
        self.by_uuid.contains_key(uuid)
    }

    pub(in crate::driver::test) fn uuid_of(&self, name: &str) -> Option<&Uuid> {
        self.by_name.get(name).map(|l| &l.uuid)
    }

    /// The version of the domain named `name`, replaced whole at every change (see [`Shared`]).
    pub(in crate::driver::test) fn version_of(&self, name: &str) -> Option<u64> {
        self.by_name.get(name).map(|l| l.shared.version)
    }

    pub(in crate::driver::test) fn len(&self) -> usize {
        self.by_uuid.len()
    }

    /// Every domain, in name order (so whatever walks them, e.g. autostart, does so deterministically).
    pub(in crate::driver::test) fn values(&self) -> impl Iterator<Item = &DomainObj> {
        self.by_name
            .values()
            .filter_map(|l| self.by_uuid.get(&l.uuid))
    }

    /// Every domain whose shared definition and version `keep` takes, with them, in name order.
    pub(in crate::driver::test) fn with_shared(
        &self,
        keep: impl Fn(&Shared) -> bool,
    ) -> impl Iterator<Item = (&DomainObj, &Shared)> {
        self.by_name
            .values()
            .filter(move |l| keep(&l.shared))
            .filter_map(|l| Some((self.by_uuid.get(&l.uuid)?, &l.shared)))
    }

    /// The shared definition and version of the domain `obj`.
    fn shared_of(&self, obj: &DomainObj) -> Option<&Shared> {
        self.by_name
            .get(obj.name())
            .filter(|l| l.uuid == obj.uuid())
            .map(|l| &l.shared)
    }
}

/// Which definitions a modification touches (`virDomainModificationImpact`).
#[derive(Clone, Copy)]
pub(super) struct Impact {
    pub(super) live: bool,
    pub(super) config: bool,
}

impl World {
    pub(super) fn domain(&self, dom: &DomainRef) -> Result<&DomainObj> {
        self.domains.get(&dom.uuid).ok_or_else(|| {
            Error::with_detail(
                ErrorCode::NO_DOMAIN,
                ErrorDomain::TEST,
                format!("no domain with matching uuid '{}' ({})", dom.uuid, dom.name),
            )
        })
    }

    pub(in crate::driver::test) fn lookup_domain_by_name(&self, name: &str) -> Result<DomainRef> {
        self.domains
            .uuid_of(name)
            .and_then(|uuid| self.domains.get(uuid))
            .map(DomainObj::handle)
            .ok_or_else(no_domain)
    }

    /// A domain with its shared definition and version (see [`DomainTable::with_shared`]).
    pub(in crate::driver::test) fn domain_shared(
        &self,
        dom: &DomainRef,
    ) -> Result<(&DomainObj, &Shared)> {
        let obj = self.domains.get(&dom.uuid).ok_or_else(no_domain)?;
        let shared = self.domains.shared_of(obj).ok_or_else(no_domain)?;
        Ok((obj, shared))
    }

    pub(in crate::driver::test) fn lookup_domain_by_uuid(&self, uuid: &Uuid) -> Result<DomainRef> {
        self.domains
            .get(uuid)
            .map(DomainObj::handle)
            .ok_or_else(no_domain)
    }

    pub(in crate::driver::test) fn lookup_domain_by_id(&self, id: i32) -> Result<DomainRef> {
        self.domains
            .values()
            .find(|d| d.is_active() && d.id == id)
            .map(DomainObj::handle)
            .ok_or_else(no_domain)
    }

    pub(in crate::driver::test) fn list_domains(&self, list_flags: u32) -> Result<Vec<DomainRef>> {
        check_flags(list_flags, (1 << 16) - 1, "virConnectListAllDomains")?;
        let active = wanted(
            list_flags,
            flags::LIST_DOMAINS_ACTIVE,
            flags::LIST_DOMAINS_INACTIVE,
        );
        let persistent = wanted(
            list_flags,
            flags::LIST_DOMAINS_PERSISTENT,
            flags::LIST_DOMAINS_TRANSIENT,
        );
        let autostart = wanted(
            list_flags,
            flags::LIST_DOMAINS_AUTOSTART,
            flags::LIST_DOMAINS_NO_AUTOSTART,
        );
        // No domain of the test driver has a managed save image or a checkpoint; snapshots it keeps.
        let managed_save = wanted(
            list_flags,
            flags::LIST_DOMAINS_MANAGEDSAVE,
            flags::LIST_DOMAINS_NO_MANAGEDSAVE,
        );
        let snapshot = wanted(
            list_flags,
            flags::LIST_DOMAINS_HAS_SNAPSHOT,
            flags::LIST_DOMAINS_NO_SNAPSHOT,
        );
        let checkpoint = wanted(
            list_flags,
            flags::LIST_DOMAINS_HAS_CHECKPOINT,
            flags::LIST_DOMAINS_NO_CHECKPOINT,
        );
        let state_bits = flags::LIST_DOMAINS_RUNNING
            | flags::LIST_DOMAINS_PAUSED
            | flags::LIST_DOMAINS_SHUTOFF
            | flags::LIST_DOMAINS_OTHER;
        let found = self
            .domains
            .by_name
            .iter()
            .filter(|(_, d)| {
                let state_ok = list_flags & state_bits == 0
                    || match d.state {
                        DomainState::Running => list_flags & flags::LIST_DOMAINS_RUNNING != 0,
                        DomainState::Paused => list_flags & flags::LIST_DOMAINS_PAUSED != 0,
                        DomainState::Shutoff => list_flags & flags::LIST_DOMAINS_SHUTOFF != 0,
                        _ => list_flags & flags::LIST_DOMAINS_OTHER != 0,
                    };
                state_ok
                    && passes(active, d.state.is_active())
                    && passes(persistent, d.persistent)
                    && passes(autostart, d.autostart)
                    && passes(managed_save, false)
                    && snapshot.is_none_or(|want| {
                        let has = self
                            .domains
                            .get(&d.uuid)
                            .is_some_and(|obj| !obj.snapshots.list.is_empty());
                        want == has
                    })
                    && passes(checkpoint, false)
            })
            .map(|(name, d)| DomainRef {
                name: name.clone(),
                uuid: d.uuid,
                id: d.id,
            })
            .collect();
        Ok(found)
    }

    // ---------------------------------------------------------------- domains: reads

    pub(in crate::driver::test) fn domain_info(&self, dom: &DomainRef) -> Result<DomainInfo> {
        let obj = self.domain(dom)?;
        let def = obj.def();
        Ok(DomainInfo {
            state: obj.state,
            max_mem_kib: def.memory_kib,
            memory_kib: def.current_memory_kib,
            nr_virt_cpu: def.current_vcpus,
            cpu_time_ns: obj.cpu_time_at(now_ms()),
        })
    }

    pub(in crate::driver::test) fn domain_state(
        &self,
        dom: &DomainRef,
        state_flags: u32,
    ) -> Result<(DomainState, i32)> {
        check_flags(state_flags, 0, "virDomainGetState")?;
        let obj = self.domain(dom)?;
        Ok((obj.state, obj.reason))
    }

    pub(in crate::driver::test) fn domain_xml(
        &self,
        dom: &DomainRef,
        xml_flags: u32,
    ) -> Result<String> {
        check_flags(
            xml_flags,
            flags::XML_SECURE | flags::XML_INACTIVE | flags::XML_UPDATE_CPU | flags::XML_MIGRATABLE,
            "virDomainGetXMLDesc",
        )?;
        let obj = self.domain(dom)?;
        let secure = xml_flags & flags::XML_SECURE != 0;
        let (def, id) = match (&obj.persistent_def, &obj.live_def) {
            (Some(persistent), _) if xml_flags & flags::XML_INACTIVE != 0 => (persistent, None),
            (_, Some(live)) if xml_flags & flags::XML_INACTIVE != 0 => (live, None),
            (_, Some(live)) => (live, Some(obj.id)),
            _ => (obj.def(), None),
        };
        Ok(def.to_xml(&DomainXmlOptions { id, secure }))
    }

    pub(in crate::driver::test) fn domain_autostart(&self, dom: &DomainRef) -> Result<bool> {
        Ok(self.domain(dom)?.autostart)
    }

    pub(in crate::driver::test) fn domain_is_active(&self, dom: &DomainRef) -> Result<bool> {
        Ok(self.domain(dom)?.is_active())
    }

    pub(in crate::driver::test) fn domain_is_persistent(&self, dom: &DomainRef) -> Result<bool> {
        Ok(self.domain(dom)?.is_persistent())
    }

    pub(in crate::driver::test) fn domain_is_updated(&self, dom: &DomainRef) -> Result<bool> {
        let obj = self.domain(dom)?;
        Ok(match (&obj.live_def, &obj.persistent_def) {
            (Some(live), Some(persistent)) => live != persistent,
            _ => false,
        })
    }

    pub(in crate::driver::test) fn domain_max_memory(&self, dom: &DomainRef) -> Result<u64> {
        Ok(self.domain(dom)?.def().memory_kib)
    }

    /// Checks that a domain exists (for calls whose answer does not depend on it).
    pub(in crate::driver::test) fn domain_exists(&self, dom: &DomainRef) -> Result<()> {
        self.domain(dom).map(|_| ())
    }

    pub(in crate::driver::test) fn domain_vcpus(
        &self,
        dom: &DomainRef,
        vcpu_flags: u32,
    ) -> Result<u32> {
        check_flags(
            vcpu_flags,
            flags::AFFECT_LIVE | flags::AFFECT_CONFIG | flags::VCPU_MAXIMUM,
            "testDomainGetVcpusFlags",
        )?;
        let obj = self.domain(dom)?;
        let impact = impact(obj, vcpu_flags, true)?;
        let def = if impact.live {
            obj.live_def.as_ref()
        } else {
            obj.persistent_def.as_ref()
        };
        let def = def.unwrap_or_else(|| obj.def());
        Ok(if vcpu_flags & flags::VCPU_MAXIMUM != 0 {
            def.vcpus
        } else {
            def.current_vcpus
        })
    }

    // ---------------------------------------------------------------- domains: changes

    /// Refuses a definition whose name or UUID belongs to another domain; returns the UUID's domain, if any.
    pub(super) fn domain_clash(&self, def: &DomainDef) -> Result<Option<&DomainObj>> {
        if let Some(existing) = self.domains.get(&def.uuid) {
            if existing.name() != def.name {
                return Err(op_failed(
                    ErrorDomain::DOMAIN,
                    format!(
                        "domain '{}' is already defined with uuid {}",
                        existing.name(),
                        def.uuid
                    ),
                ));
            }
            return Ok(Some(existing));
        }
        if let Some(existing) = self
            .domains
            .uuid_of(&def.name)
            .and_then(|uuid| self.domains.get(uuid))
        {
            return Err(op_failed(
                ErrorDomain::DOMAIN,
                format!(
                    "domain '{}' already exists with uuid {}",
                    def.name,
                    existing.uuid()
                ),
            ));
        }
        Ok(None)
    }

    pub(in crate::driver::test) fn define_domain(
        &mut self,
        store: &dyn Persist,
        def: DomainDef,
    ) -> Result<DomainRef> {
        validate_name("domain", &def.name)?;
        let (changed, detail) = match self.domain_clash(&def)? {
            Some(existing) => {
                let mut changed = existing.clone();
                let detail = if changed.is_persistent() {
                    event::DEFINED_UPDATED
                } else {
                    event::DEFINED_ADDED
                };
                changed.persistent_def = Some(def);
                (changed, detail)
            }
            None => (DomainObj::defined(def), event::DEFINED_ADDED),
        };
        store.save_domain(&changed)?;
        let handle = changed.handle();
        self.domains.insert(changed.uuid(), changed);
        self.emit(handle.clone(), event::DEFINED, detail);
        Ok(handle)
    }

    /// Gives `obj` the next id and marks it running (or paused); the id counter is saved first so an id is
    /// never handed out twice, even across a crash.
    pub(super) fn begin_run(
        &mut self,
        store: &dyn Persist,
        obj: &mut DomainObj,
        paused: bool,
    ) -> Result<()> {
        let id = self.next_domain_id;
        let next = id
            .checked_add(1)
            .ok_or_else(|| Error::internal(ErrorDomain::TEST, "domain ids are exhausted"))?;
        store.save_meta(next)?;
        self.next_domain_id = next;
        obj.id = id;
        obj.cpu_time_ns = 0;
        if paused {
            obj.state = DomainState::Paused;
            obj.reason = reason::PAUSED_USER;
            obj.running_since_ms = None;
        } else {
            obj.state = DomainState::Running;
            obj.reason = reason::RUNNING_BOOTED;
            obj.running_since_ms = Some(now_ms());
        }
        Ok(())
    }

    fn emit_started(&self, handle: &DomainRef, paused: bool) {
        self.emit(handle.clone(), event::STARTED, event::STARTED_BOOTED);
        if paused {
            self.emit(handle.clone(), event::SUSPENDED, event::SUSPENDED_PAUSED);
        }
    }

    pub(in crate::driver::test) fn create_domain(
        &mut self,
        store: &dyn Persist,
        dom: &DomainRef,
        start_flags: u32,
    ) -> Result<DomainRef> {
        check_flags(
            start_flags,
            flags::START_PAUSED
                | flags::START_BYPASS_CACHE
                | flags::START_FORCE_BOOT
                | flags::START_VALIDATE,
            "virDomainCreateWithFlags",
        )?;
        let mut changed = self.domain(dom)?.clone();
        if changed.is_active() {
            return Err(test_state_error(format!(
                "Domain '{}' is already running",
                changed.name()
            )));
        }
        changed.live_def = changed.persistent_def.clone();
        // libvirt's test driver drops a managed save image at start and boots afresh.
        changed.managed_save = false;
        let paused = start_flags & flags::START_PAUSED != 0;
        self.begin_run(store, &mut changed, paused)?;
        store.save_domain(&changed)?;
        let handle = changed.handle();
        self.domains.insert(changed.uuid(), changed);
        self.emit_started(&handle, paused);
        Ok(handle)
    }

    pub(in crate::driver::test) fn create_domain_xml(
        &mut self,
        store: &dyn Persist,
        def: DomainDef,
        start_flags: u32,
    ) -> Result<DomainRef> {
        check_flags(
            start_flags,
            flags::START_PAUSED
                | flags::START_BYPASS_CACHE
                | flags::START_FORCE_BOOT
                | flags::START_VALIDATE,
            "virDomainCreateXML",
        )?;
        validate_name("domain", &def.name)?;
        let mut changed = match self.domain_clash(&def)? {
            Some(existing) if existing.is_active() => {
                return Err(Error::operation_invalid(
                    ErrorDomain::DOMAIN,
                    format!("domain '{}' is already active", def.name),
                ));
            }
            Some(existing) => {
                let mut changed = existing.clone();
                changed.live_def = Some(def);
                changed
            }
            None => DomainObj {
                persistent_def: None,
                live_def: Some(def),
                ..DomainObj::defined(DomainDef::default())
            },
        };
        let paused = start_flags & flags::START_PAUSED != 0;
        self.begin_run(store, &mut changed, paused)?;
        store.save_domain(&changed)?;
        let handle = changed.handle();
        self.domains.insert(changed.uuid(), changed);
        self.emit_started(&handle, paused);
        Ok(handle)
    }

    /// Saves a domain that stopped, or forgets it when it was transient.
    /// (`uuid` is passed in: a stopped transient domain has no definition left to name it.)
    pub(super) fn commit_stopped(
        &mut self,
        store: &dyn Persist,
        uuid: Uuid,
        stopped: DomainObj,
    ) -> Result<()> {
        if stopped.is_persistent() {
            store.save_domain(&stopped)?;
            self.domains.insert(uuid, stopped);
        } else {
            store.remove_domain(&uuid)?;
            self.domains.remove(&uuid);
        }
        Ok(())
    }

    pub(in crate::driver::test) fn destroy_domain(
        &mut self,
        store: &dyn Persist,
        dom: &DomainRef,
        destroy_flags: u32,
    ) -> Result<()> {
        // VIR_DOMAIN_DESTROY_GRACEFUL (1) and _REMOVE_LOGS (2) mean nothing for a simulated guest.
        check_flags(destroy_flags, 0b11, "virDomainDestroyFlags")?;
        let mut changed = self.domain(dom)?.clone();
        if !changed.is_active() {
            return Err(not_running());
        }
        let handle = changed.handle();
        changed.stop(reason::SHUTOFF_DESTROYED);
        self.commit_stopped(store, handle.uuid, changed)?;
        self.emit(handle, event::STOPPED, event::STOPPED_DESTROYED);
        Ok(())
    }

    pub(in crate::driver::test) fn shutdown_domain(
        &mut self,
        store: &dyn Persist,
        dom: &DomainRef,
        shutdown_flags: u32,
    ) -> Result<()> {
        // libvirt 9.0's test driver takes no shutdown mode (its reboot takes any).
        check_flags(shutdown_flags, 0, "testDomainShutdownFlags")?;
        let mut changed = self.domain(dom)?.clone();
        if !changed.is_active() {
            return Err(test_state_error(format!(
                "domain '{}' not running",
                changed.name()
            )));
        }
        let handle = changed.handle();
        changed.stop(reason::SHUTOFF_SHUTDOWN);
        self.commit_stopped(store, handle.uuid, changed)?;
        // libvirt's test driver reports only the stop (no SHUTDOWN/FINISHED before it).
        self.emit(handle, event::STOPPED, event::STOPPED_SHUTDOWN);
        Ok(())
    }

    pub(in crate::driver::test) fn reboot_domain(
        &mut self,
        store: &dyn Persist,
        dom: &DomainRef,
        reboot_flags: u32,
    ) -> Result<()> {
        check_flags(reboot_flags, 0b1_1111, "virDomainReboot")?;
        let mut changed = self.domain(dom)?.clone();
        if !changed.is_active() {
            return Err(not_running());
        }
        let handle = changed.handle();
        if changed.def().on_reboot.as_deref() == Some("destroy") {
            changed.stop(reason::SHUTOFF_SHUTDOWN);
            self.commit_stopped(store, handle.uuid, changed)?;
            self.emit(handle, event::STOPPED, event::STOPPED_SHUTDOWN);
            return Ok(());
        }
        let was_paused = changed.state == DomainState::Paused;
        changed.settle_cpu_time();
        changed.state = DomainState::Running;
        changed.reason = reason::RUNNING_BOOTED;
        changed.running_since_ms = Some(now_ms());
        store.save_domain(&changed)?;
        self.domains.insert(changed.uuid(), changed);
        if was_paused {
            self.emit(handle, event::RESUMED, event::RESUMED_UNPAUSED);
        }
        Ok(())
    }

    pub(in crate::driver::test) fn suspend_domain(
        &mut self,
        store: &dyn Persist,
        dom: &DomainRef,
    ) -> Result<()> {
        let mut changed = self.domain(dom)?.clone();
        // libvirt's test driver refuses both cases with one message.
        if changed.state != DomainState::Running {
            return Err(test_state_error(format!(
                "domain '{}' not running",
                changed.name()
            )));
        }
        changed.settle_cpu_time();
        changed.state = DomainState::Paused;
        changed.reason = reason::PAUSED_USER;
        store.save_domain(&changed)?;
        let handle = changed.handle();
        self.domains.insert(changed.uuid(), changed);
        self.emit(handle, event::SUSPENDED, event::SUSPENDED_PAUSED);
        Ok(())
    }

    pub(in crate::driver::test) fn resume_domain(
        &mut self,
        store: &dyn Persist,
        dom: &DomainRef,
    ) -> Result<()> {
        let mut changed = self.domain(dom)?.clone();
        if changed.state != DomainState::Paused {
            return Err(test_state_error(format!(
                "domain '{}' not paused",
                changed.name()
            )));
        }
        changed.state = DomainState::Running;
        changed.reason = reason::RUNNING_UNPAUSED;
        changed.running_since_ms = Some(now_ms());
        store.save_domain(&changed)?;
        let handle = changed.handle();
        self.domains.insert(changed.uuid(), changed);
        self.emit(handle, event::RESUMED, event::RESUMED_UNPAUSED);
        Ok(())
    }

    pub(in crate::driver::test) fn undefine_domain(
        &mut self,
        store: &dyn Persist,
        dom: &DomainRef,
        undefine_flags: u32,
    ) -> Result<()> {
        // Nothing here has managed save images, snapshots, checkpoints or NVRAM: those flags are no-ops.
        check_flags(undefine_flags, 0b1_1111, "virDomainUndefineFlags")?;
        let mut changed = self.domain(dom)?.clone();
        Self::check_undefine_managed_save(&changed, undefine_flags)?;
        Self::check_undefine_snapshots(&changed, undefine_flags)?;
        // Undefining a running transient domain is accepted (libvirt's test driver does): it stays transient.
        let handle = changed.handle();
        if changed.is_active() {
            // A running domain lives on as a transient one until it stops.
            changed.persistent_def = None;
            changed.autostart = false;
            store.save_domain(&changed)?;
            self.domains.insert(changed.uuid(), changed);
        } else {
            store.remove_domain(&changed.uuid())?;
            self.domains.remove(&changed.uuid());
        }
        self.emit(handle, event::UNDEFINED, event::UNDEFINED_REMOVED);
        Ok(())
    }

    pub(in crate::driver::test) fn set_domain_autostart(
        &mut self,
        store: &dyn Persist,
        dom: &DomainRef,
        autostart: bool,
    ) -> Result<()> {
        let obj = self.domain(dom)?;
        if !obj.is_persistent() {
            return Err(op_invalid("cannot set autostart for transient domain"));
        }
        if obj.autostart == autostart {
            return Ok(());
        }
        let mut changed = obj.clone();
        changed.autostart = autostart;
        store.save_domain(&changed)?;
        self.domains.insert(changed.uuid(), changed);
        Ok(())
    }

    pub(in crate::driver::test) fn set_domain_memory(
        &mut self,
        store: &dyn Persist,
        dom: &DomainRef,
        kib: u64,
        mem_flags: u32,
    ) -> Result<()> {
        check_flags(
            mem_flags,
            flags::AFFECT_LIVE | flags::AFFECT_CONFIG | flags::MEM_MAXIMUM,
            "virDomainSetMemoryFlags",
        )?;
        let mut changed = self.domain(dom)?.clone();
        let impact = impact(&changed, mem_flags, false)?;
        if mem_flags & flags::MEM_MAXIMUM != 0 {
            if impact.live {
                return Err(op_invalid(
                    "cannot resize the maximum memory on an active domain",
                ));
            }
            if kib == 0 {
                return Err(Error::invalid_arg(
                    ErrorDomain::TEST,
                    "maximum memory must be greater than zero",
                ));
            }
            if let Some(def) = changed.persistent_def.as_mut() {
                def.memory_kib = kib;
                def.current_memory_kib = def.current_memory_kib.min(kib);
            }
        } else {
            let targets = [
                (impact.live, changed.live_def.as_mut()),
                (impact.config, changed.persistent_def.as_mut()),
            ];
            for (chosen, def) in targets {
                if let (true, Some(def)) = (chosen, def) {
                    if kib > def.memory_kib {
                        return Err(Error::invalid_arg(
                            ErrorDomain::TEST,
                            "cannot set memory higher than max memory",
                        ));
                    }
                    def.current_memory_kib = kib;
                }
            }
        }
        store.save_domain(&changed)?;
        self.domains.insert(changed.uuid(), changed);
        Ok(())
    }

    pub(in crate::driver::test) fn set_domain_vcpus(
        &mut self,
        store: &dyn Persist,
        dom: &DomainRef,
        count: u32,
        vcpu_flags: u32,
    ) -> Result<()> {
        check_flags(
            vcpu_flags,
            flags::AFFECT_LIVE | flags::AFFECT_CONFIG | flags::VCPU_MAXIMUM,
            "testDomainSetVcpusFlags",
        )?;
        let mut changed = self.domain(dom)?.clone();
        if count == 0 {
            return Err(Error::new(
                ErrorCode::INVALID_ARG,
                ErrorDomain::DOMAIN,
                "nvcpus in virDomainSetVcpusFlags must not be zero",
            ));
        }
        let maximum = vcpu_flags & flags::VCPU_MAXIMUM != 0;
        // libvirt's API entry point requires the config flag with the maximum flag.
        if maximum && vcpu_flags & flags::AFFECT_CONFIG == 0 {
            return Err(Error::new(
                ErrorCode::INVALID_ARG,
                ErrorDomain::DOMAIN,
                "Flag 'VIR_DOMAIN_AFFECT_CONFIG' is required by flag 'VIR_DOMAIN_VCPU_MAXIMUM'",
            ));
        }
        let impact = impact(&changed, vcpu_flags, false)?;
        let targets = [
            (impact.live, changed.live_def.as_mut()),
            (impact.config, changed.persistent_def.as_mut()),
        ];
        for (chosen, def) in targets {
            if let (true, Some(def)) = (chosen, def) {
                if maximum {
                    def.vcpus = count;
                    def.current_vcpus = def.current_vcpus.min(count);
                } else if count > def.vcpus {
                    return Err(Error::invalid_arg(
                        ErrorDomain::TEST,
                        format!(
                            "requested cpu amount exceeds maximum ({count} > {})",
                            def.vcpus
                        ),
                    ));
                } else {
                    def.current_vcpus = count;
                }
            }
        }
        store.save_domain(&changed)?;
        self.domains.insert(changed.uuid(), changed);
        Ok(())
    }

    /// Starts every autostart domain that is shut off; a failure is logged and the others still start.
    pub(in crate::driver::test) fn autostart_all(&mut self, store: &dyn Persist) {
        let due: Vec<DomainRef> = self
            .domains
            .values()
            .filter(|d| d.autostart && !d.is_active() && d.is_persistent())
            .map(DomainObj::handle)
            .collect();
        for dom in due {
            if let Err(err) = self.create_domain(store, &dom, 0) {
                tracing::warn!(domain = %dom.name, "autostart failed: {err}");
            }
        }
        let nets: Vec<NetworkRef> = self
            .networks
            .values()
            .filter(|n| n.autostart && !n.active)
            .map(NetworkObj::handle)
            .collect();
        for net in nets {
            if let Err(err) = self.start_network(store, &net) {
                tracing::warn!(network = %net.name, "autostart failed: {err}");
            }
        }
        let pools: Vec<PoolRef> = self
            .pools
            .values()
            .filter(|p| p.autostart && !p.active)
            .map(PoolObj::handle)
            .collect();
        for pool in pools {
            if let Err(err) = self.start_pool(store, &pool, 0) {
                tracing::warn!(pool = %pool.name, "autostart failed: {err}");
            }
        }
    }

    /// `virDomainReset` and `virDomainInjectNMI`: a running domain takes either at once. The test world runs no
    /// guest code, so neither changes what it reports (libvirt's test driver resets the same way).
    pub(in crate::driver::test) fn poke_running(
        &self,
        dom: &DomainRef,
        given: u32,
        api: &str,
    ) -> Result<()> {
        check_flags(given, 0, api)?;
        if !self.domain(dom)?.is_active() {
            return Err(not_running());
        }
        Ok(())
    }
}

/// Resolves `AFFECT_CURRENT` / `AFFECT_LIVE` / `AFFECT_CONFIG` against the domain's state, refusing what cannot
/// apply. `exactly_one` is for reads, which answer about one definition.
pub(super) fn impact(obj: &DomainObj, impact_flags: u32, exactly_one: bool) -> Result<Impact> {
    let mut live = impact_flags & flags::AFFECT_LIVE != 0;
    let mut config = impact_flags & flags::AFFECT_CONFIG != 0;
    if exactly_one && live && config {
        return Err(Error::new(
            ErrorCode::INVALID_ARG,
            ErrorDomain::DOMAIN,
            "Flags 'VIR_DOMAIN_AFFECT_LIVE' and 'VIR_DOMAIN_AFFECT_CONFIG' are mutually exclusive",
        ));
    }
    if !live && !config {
        if obj.is_active() {
            live = true;
        } else {
            config = true;
        }
    }
    if live && !obj.is_active() {
        return Err(not_running());
    }
    if config && !obj.is_persistent() {
        return Err(Error::operation_invalid(
            ErrorDomain::DOMAIN,
            "transient domains do not have any persistent config",
        ));
    }
    Ok(Impact { live, config })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(name: &str, uuid: &str) -> DomainObj {
        let xml = format!(
            "<domain type='test'><name>{name}</name><uuid>{uuid}</uuid><memory>8192</memory>\
             <os><type>hvm</type></os></domain>"
        );
        DomainObj::defined(DomainDef::from_xml(&xml, false).expect("definition"))
    }

    #[test]
    fn the_name_index_follows_inserts_replacements_and_removals() {
        let a = Uuid::parse_str("00000000-0000-4000-8000-00000000000a").unwrap();
        let b = Uuid::parse_str("00000000-0000-4000-8000-00000000000b").unwrap();
        let mut table = DomainTable::default();
        table.insert(b, obj("alpha", &b.to_string()));
        table.insert(a, obj("zulu", &a.to_string()));
        let names: Vec<&str> = table.values().map(DomainObj::name).collect();
        assert_eq!(names, ["alpha", "zulu"], "name order, not UUID order");
        assert_eq!(table.uuid_of("zulu"), Some(&a));

        // A replacement keeps one entry; one under another name moves the index entry.
        let mut running = obj("zulu", &a.to_string());
        running.id = 7;
        running.state = DomainState::Running;
        table.insert(a, running);
        assert_eq!(table.len(), 2);
        assert_eq!(table.by_name.len(), 2);
        assert_eq!(table.by_name["zulu"].id, 7);
        table.insert(a, obj("yankee", &a.to_string()));
        assert_eq!(table.uuid_of("zulu"), None);
        assert_eq!(table.uuid_of("yankee"), Some(&a));

        assert!(table.remove(&b).is_some());
        assert!(table.remove(&b).is_none());
        assert_eq!(table.uuid_of("alpha"), None);
        assert_eq!(table.values().count(), 1);
    }
}
