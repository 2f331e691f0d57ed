//! Domain snapshots of the test world: one tree per domain, kept in the domain's own record (so they are written
//! atomically with it and vanish with it), with the rules, errors and lifecycle events of libvirt's test driver.

use super::*;
use crate::driver::SnapshotRef;
use crate::model::SnapshotDef;

/// `virDomainSnapshotCreateFlags`.
mod create {
    pub const REDEFINE: u32 = 1 << 0;
    pub const CURRENT: u32 = 1 << 1;
    pub const HALT: u32 = 1 << 3;
    pub const QUIESCE: u32 = 1 << 6;
    pub const ATOMIC: u32 = 1 << 7;
    pub const LIVE: u32 = 1 << 8;
    pub const VALIDATE: u32 = 1 << 9;
}

/// `virDomainSnapshotListFlags`.
mod list {
    /// ROOTS without a starting snapshot, DESCENDANTS with one (the same bit).
    pub const ROOTS_OR_DESCENDANTS: u32 = 1 << 0;
    pub const METADATA: u32 = 1 << 1;
    pub const LEAVES: u32 = 1 << 2;
    pub const NO_LEAVES: u32 = 1 << 3;
    pub const NO_METADATA: u32 = 1 << 4;
    pub const INACTIVE: u32 = 1 << 5;
    pub const ACTIVE: u32 = 1 << 6;
    pub const DISK_ONLY: u32 = 1 << 7;
    pub const INTERNAL: u32 = 1 << 8;
    pub const EXTERNAL: u32 = 1 << 9;
    pub const ALL: u32 = (1 << 11) - 1;
}

/// `virDomainSnapshotRevertFlags`.
mod revert {
    pub const RUNNING: u32 = 1 << 0;
    pub const PAUSED: u32 = 1 << 1;
    pub const FORCE: u32 = 1 << 2;
}

/// `virDomainSnapshotDeleteFlags` the test driver takes (METADATA_ONLY, 1 << 1, it refuses).
mod delete {
    pub const CHILDREN: u32 = 1 << 0;
    pub const CHILDREN_ONLY: u32 = 1 << 2;
}

/// `VIR_DOMAIN_SNAPSHOT_XML_SECURE`.
const XML_SECURE: u32 = 1;
/// `VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA`.
const UNDEFINE_SNAPSHOTS_METADATA: u32 = 1 << 1;

/// libvirt's error codes for snapshots (`VIR_ERR_NO_DOMAIN_SNAPSHOT`, `VIR_ERR_SNAPSHOT_REVERT_RISKY`).
const NO_DOMAIN_SNAPSHOT: ErrorCode = ErrorCode(72);
const SNAPSHOT_REVERT_RISKY: ErrorCode = ErrorCode(77);

/// Reasons and event details of snapshot transitions (`virDomain*Reason`, `virDomainEvent*DetailType`).
const RUNNING_FROM_SNAPSHOT: i32 = 4;
const PAUSED_FROM_SNAPSHOT: i32 = 7;
const SHUTOFF_FROM_SNAPSHOT: i32 = 7;
const STARTED_FROM_SNAPSHOT: i32 = 3;
const SUSPENDED_FROM_SNAPSHOT: i32 = 5;
const STOPPED_FROM_SNAPSHOT: i32 = 6;

/// One domain's snapshots, in creation order (parents before children), and which one is current.
#[derive(Clone, Debug, Default)]
pub(in crate::driver::test) struct Snapshots {
    pub(in crate::driver::test) list: Vec<SnapshotDef>,
    pub(in crate::driver::test) current: Option<String>,
}

impl Snapshots {
    fn get(&self, name: &str) -> Option<&SnapshotDef> {
        self.list.iter().find(|s| s.name == name)
    }

    fn children_of<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a SnapshotDef> + 'a {
        self.list
            .iter()
            .filter(move |s| s.parent.as_deref() == Some(name))
    }

    /// Every descendant of `name` (every snapshot for `None`) in libvirt's topological order: depth first,
    /// each parent before its children, the newest child first.
    fn descendants_of(&self, name: Option<&str>) -> Vec<String> {
        let mut found: Vec<String> = Vec::new();
        let mut stack: Vec<&SnapshotDef> = self
            .list
            .iter()
            .filter(|s| s.parent.as_deref() == name)
            .collect();
        // The stack pops last first: pushing in creation order visits the newest first.
        while let Some(next) = stack.pop() {
            if found.contains(&next.name) {
                continue;
            }
            found.push(next.name.clone());
            stack.extend(self.children_of(&next.name));
        }
        found
    }

    /// The snapshots named, in the order given.
    fn pick<'a>(&'a self, names: &[String]) -> Vec<&'a SnapshotDef> {
        names.iter().filter_map(|n| self.get(n)).collect()
    }
}

/// libvirt's flag check, worded as its test driver words it (no "invalid argument" prefix).
pub(super) fn snapshot_flags(flags: u32, allowed: u32, api: &str) -> Result<()> {
    let unknown = flags & !allowed;
    if unknown != 0 {
        return Err(Error::new(
            ErrorCode::INVALID_ARG,
            ErrorDomain::TEST,
            format!("unsupported flags (0x{unknown:x}) in function {api}"),
        ));
    }
    Ok(())
}

fn no_snapshot(name: &str) -> Error {
    Error::with_detail(
        NO_DOMAIN_SNAPSHOT,
        ErrorDomain::TEST,
        format!("no domain snapshot with matching name '{name}'"),
    )
    .with_prefix("Domain snapshot not found")
}

/// Errors with codes `ErrorCode::prefix` does not know get their libvirt prefix here.
trait Prefixed {
    fn with_prefix(self, prefix: &str) -> Error;
}

impl Prefixed for Error {
    fn with_prefix(self, prefix: &str) -> Error {
        Error::new(
            self.code,
            self.domain,
            format!("{prefix}: {}", self.message),
        )
    }
}

fn revert_risky(detail: String) -> Error {
    Error::new(
        SNAPSHOT_REVERT_RISKY,
        ErrorDomain::TEST,
        format!("revert requires force: {detail}"),
    )
}

/// The snapshot state word libvirt records for a domain state.
fn state_word(state: DomainState) -> &'static str {
    match state {
        DomainState::NoState => "nostate",
        DomainState::Running => "running",
        DomainState::Blocked => "blocked",
        DomainState::Paused => "paused",
        DomainState::Shutdown => "shutdown",
        DomainState::Shutoff => "shutoff",
        DomainState::Crashed => "crashed",
        DomainState::PmSuspended => "pmsuspended",
    }
}

fn is_live_state(word: &str) -> bool {
    matches!(word, "running" | "paused")
}

fn is_external(snap: &SnapshotDef) -> bool {
    snap.memory == "external" || snap.disks.iter().any(|(_, kind)| kind == "external")
}

/// Whether a snapshot passes the `VIR_DOMAIN_SNAPSHOT_LIST_*` filters (each pair: neither or both = no filter).
fn passes_filters(snaps: &Snapshots, snap: &SnapshotDef, flags: u32) -> bool {
    let leaf = snaps.children_of(&snap.name).next().is_none();
    let state_filter = flags & (list::INACTIVE | list::ACTIVE | list::DISK_ONLY);
    let state_ok = state_filter == 0
        || (flags & list::INACTIVE != 0 && snap.state == "shutoff")
        || (flags & list::DISK_ONLY != 0 && snap.state == "disk-snapshot")
        || (flags & list::ACTIVE != 0
            && !matches!(snap.state.as_str(), "shutoff" | "disk-snapshot"));
    passes(wanted(flags, list::LEAVES, list::NO_LEAVES), leaf)
        // Every snapshot here has metadata.
        && passes(wanted(flags, list::METADATA, list::NO_METADATA), true)
        && passes(wanted(flags, list::EXTERNAL, list::INTERNAL), is_external(snap))
        && state_ok
}

impl World {
    fn snapshot_handle(dom: &DomainObj, name: &str) -> SnapshotRef {
        SnapshotRef {
            name: name.to_string(),
            dom: dom.handle(),
        }
    }

    fn snapshot<'a>(&'a self, snap: &SnapshotRef) -> Result<(&'a DomainObj, &'a SnapshotDef)> {
        let obj = self.domain(&snap.dom)?;
        let def = obj
            .snapshots
            .get(&snap.name)
            .ok_or_else(|| no_snapshot(&snap.name))?;
        Ok((obj, def))
    }

    /// Refuses to undefine an inactive domain that still has snapshots, unless their metadata may go with it.
    pub(super) fn check_undefine_snapshots(obj: &DomainObj, undefine_flags: u32) -> Result<()> {
        let count = obj.snapshots.list.len();
        if count > 0 && !obj.is_active() && undefine_flags & UNDEFINE_SNAPSHOTS_METADATA == 0 {
            return Err(op_invalid(format!(
                "cannot delete inactive domain with {count} snapshots"
            )));
        }
        Ok(())
    }

    pub(in crate::driver::test) fn snapshot_create(
        &mut self,
        store: &dyn Persist,
        dom: &DomainRef,
        xml: &str,
        create_flags: u32,
    ) -> Result<SnapshotRef> {
        snapshot_flags(
            create_flags,
            create::REDEFINE
                | create::CURRENT
                | create::HALT
                | create::QUIESCE
                | create::ATOMIC
                | create::LIVE
                | create::VALIDATE,
            "testDomainSnapshotCreateXML",
        )?;
        let redefine = create_flags & create::REDEFINE != 0;
        let mut changed = self.domain(dom)?.clone();
        if !changed.is_persistent() && create_flags & create::HALT != 0 {
            return Err(op_invalid("cannot halt after transient domain snapshot"));
        }
        let mut def = SnapshotDef::from_xml(xml, redefine)?;
        let now = i64::try_from(now_ms() / 1000).unwrap_or(i64::MAX);
        let domain = changed.def().clone();
        let domain_state = changed.state;
        let snaps = &mut changed.snapshots;
        if redefine {
            if def.name.is_empty() {
                return Err(Error::xml("a redefined snapshot must have a name"));
            }
            if let Some(parent) = &def.parent {
                if snaps.get(parent).is_none() {
                    return Err(Error::invalid_arg(
                        ErrorDomain::DOMAIN,
                        format!("parent {parent} for moment {} not found", def.name),
                    ));
                }
            }
            match snaps.list.iter_mut().find(|s| s.name == def.name) {
                Some(existing) => *existing = def.clone(),
                None => snaps.list.push(def.clone()),
            }
            if create_flags & create::CURRENT != 0 {
                snaps.current = Some(def.name.clone());
            }
        } else {
            if def.name.is_empty() {
                def.name = now.to_string();
            }
            if snaps.get(&def.name).is_some() {
                return Err(op_failed(
                    ErrorDomain::DOMAIN,
                    format!("domain moment {} already exists", def.name),
                ));
            }
            def.creation_time = now;
            def.state = state_word(domain_state).to_string();
            if def.memory != "external" {
                def.memory = if def.state == "shutoff" {
                    "no"
                } else {
                    "internal"
                }
                .into();
            }
            let location = if def.memory == "external" {
                "external"
            } else {
                "internal"
            };
            let mut disks = Vec::new();
            for disk in &domain.devices.disks {
                let asked = def
                    .disks
                    .iter()
                    .find(|(name, _)| *name == disk.target_dev)
                    .map(|(_, kind)| kind.clone());
                let default = if disk.device == "disk" {
                    location
                } else {
                    "no"
                };
                disks.push((
                    disk.target_dev.clone(),
                    asked.unwrap_or_else(|| default.into()),
                ));
            }
            if let Some((name, _)) = def
                .disks
                .iter()
                .find(|(name, _)| !domain.devices.disks.iter().any(|d| d.target_dev == *name))
            {
                return Err(Error::invalid_arg(
                    ErrorDomain::DOMAIN,
                    format!("no disk named '{name}'"),
                ));
            }
            def.disks = disks;
            def.domain = Some(domain);
            def.parent = snaps.current.clone();
            snaps.current = Some(def.name.clone());
            snaps.list.push(def.clone());
        }
        let halt = !redefine && create_flags & create::HALT != 0 && changed.is_active();
        if halt {
            changed.stop(SHUTOFF_FROM_SNAPSHOT);
        }
        store.save_domain(&changed)?;
        let handle = Self::snapshot_handle(&changed, &def.name);
        self.domains.insert(changed.uuid(), changed);
        if halt {
            self.emit(handle.dom.clone(), event::STOPPED, STOPPED_FROM_SNAPSHOT);
        }
        Ok(handle)
    }

    pub(in crate::driver::test) fn snapshot_xml(
        &self,
        snap: &SnapshotRef,
        xml_flags: u32,
    ) -> Result<String> {
        snapshot_flags(xml_flags, XML_SECURE, "testDomainSnapshotGetXMLDesc")?;
        let (_, def) = self.snapshot(snap)?;
        Ok(def.to_xml(xml_flags & XML_SECURE != 0))
    }

    /// Snapshots of `dom` (roots only with ROOTS), or the children of `from` (all descendants with DESCENDANTS).
    pub(in crate::driver::test) fn snapshot_list(
        &self,
        dom: &DomainRef,
        from: Option<&str>,
        list_flags: u32,
    ) -> Result<Vec<SnapshotRef>> {
        let api = if from.is_some() {
            "testDomainSnapshotListAllChildren"
        } else {
            "testDomainListAllSnapshots"
        };
        snapshot_flags(list_flags, list::ALL, api)?;
        let obj = self.domain(dom)?;
        let snaps = &obj.snapshots;
        let deep = list_flags & list::ROOTS_OR_DESCENDANTS != 0;
        if let Some(name) = from {
            snaps.get(name).ok_or_else(|| no_snapshot(name))?;
        }
        // Listings are in topological order (TOPOLOGICAL asks for no more than that); direct children and
        // roots newest first, as libvirt keeps them.
        let chosen: Vec<&SnapshotDef> = if from.is_some() != deep {
            let mut direct: Vec<&SnapshotDef> = snaps
                .list
                .iter()
                .filter(|s| s.parent.as_deref() == from)
                .collect();
            direct.reverse();
            direct
        } else {
            snaps.pick(&snaps.descendants_of(from))
        };
        Ok(chosen
            .into_iter()
            .filter(|s| passes_filters(snaps, s, list_flags))
            .map(|s| Self::snapshot_handle(obj, &s.name))
            .collect())
    }

    pub(in crate::driver::test) fn snapshot_lookup(
        &self,
        dom: &DomainRef,
        name: &str,
        lookup_flags: u32,
    ) -> Result<SnapshotRef> {
        snapshot_flags(lookup_flags, 0, "testDomainSnapshotLookupByName")?;
        let obj = self.domain(dom)?;
        obj.snapshots.get(name).ok_or_else(|| no_snapshot(name))?;
        Ok(Self::snapshot_handle(obj, name))
    }

    /// The current snapshot, if any.
    pub(in crate::driver::test) fn snapshot_current(
        &self,
        dom: &DomainRef,
        current_flags: u32,
        api: &str,
    ) -> Result<Option<SnapshotRef>> {
        snapshot_flags(current_flags, 0, api)?;
        let obj = self.domain(dom)?;
        Ok(obj
            .snapshots
            .current
            .as_deref()
            .map(|name| Self::snapshot_handle(obj, name)))
    }

    pub(in crate::driver::test) fn snapshot_parent(
        &self,
        snap: &SnapshotRef,
        parent_flags: u32,
    ) -> Result<SnapshotRef> {
        snapshot_flags(parent_flags, 0, "testDomainSnapshotGetParent")?;
        let (obj, def) = self.snapshot(snap)?;
        match &def.parent {
            Some(parent) => Ok(Self::snapshot_handle(obj, parent)),
            None => Err(Error::with_detail(
                NO_DOMAIN_SNAPSHOT,
                ErrorDomain::TEST,
                format!("snapshot '{}' does not have a parent", def.name),
            )
            .with_prefix("Domain snapshot not found")),
        }
    }

    pub(in crate::driver::test) fn snapshot_is_current(
        &self,
        snap: &SnapshotRef,
        current_flags: u32,
    ) -> Result<bool> {
        snapshot_flags(current_flags, 0, "testDomainSnapshotIsCurrent")?;
        let (obj, def) = self.snapshot(snap)?;
        Ok(obj.snapshots.current.as_deref() == Some(def.name.as_str()))
    }

    pub(in crate::driver::test) fn snapshot_has_metadata(
        &self,
        snap: &SnapshotRef,
        metadata_flags: u32,
    ) -> Result<bool> {
        snapshot_flags(metadata_flags, 0, "testDomainSnapshotHasMetadata")?;
        self.snapshot(snap)?;
        Ok(true)
    }

    pub(in crate::driver::test) fn snapshot_delete(
        &mut self,
        store: &dyn Persist,
        snap: &SnapshotRef,
        delete_flags: u32,
    ) -> Result<()> {
        snapshot_flags(
            delete_flags,
            delete::CHILDREN | delete::CHILDREN_ONLY,
            "testDomainSnapshotDelete",
        )?;
        let (obj, def) = self.snapshot(snap)?;
        let mut changed = obj.clone();
        let name = def.name.clone();
        let parent = def.parent.clone();
        let snaps = &mut changed.snapshots;
        if delete_flags & (delete::CHILDREN | delete::CHILDREN_ONLY) != 0 {
            let doomed = snaps.descendants_of(Some(&name));
            if snaps.current.as_ref().is_some_and(|c| doomed.contains(c)) {
                snaps.current = Some(name.clone());
            }
            snaps.list.retain(|s| !doomed.contains(&s.name));
        } else {
            for child in snaps.list.iter_mut() {
                if child.parent.as_deref() == Some(name.as_str()) {
                    child.parent = parent.clone();
                }
            }
        }
        if delete_flags & delete::CHILDREN_ONLY == 0 {
            if snaps.current.as_deref() == Some(name.as_str()) {
                snaps.current = parent;
            }
            snaps.list.retain(|s| s.name != name);
        }
        store.save_domain(&changed)?;
        self.domains.insert(changed.uuid(), changed);
        Ok(())
    }

    /// Brings the domain to the snapshot's definition and state, with the events libvirt's test driver sends:
    /// an active domain is always stopped and started again (its definitions never pass the ABI check there).
    pub(in crate::driver::test) fn snapshot_revert(
        &mut self,
        store: &dyn Persist,
        snap: &SnapshotRef,
        revert_flags: u32,
    ) -> Result<()> {
        snapshot_flags(
            revert_flags,
            revert::RUNNING | revert::PAUSED | revert::FORCE,
            "testDomainRevertToSnapshot",
        )?;
        let (obj, def) = self.snapshot(snap)?;
        let wants_run = revert_flags & (revert::RUNNING | revert::PAUSED) != 0;
        if !obj.is_persistent() && !is_live_state(&def.state) && !wants_run {
            return Err(op_invalid(
                "transient domain needs to request run or pause to revert to inactive snapshot",
            ));
        }
        let Some(config) = def.domain.clone() else {
            return Err(revert_risky(format!(
                "snapshot '{}' lacks domain '{}' rollback info",
                def.name,
                obj.name()
            )));
        };
        let mut changed = obj.clone();
        let snap_state = def.state.clone();
        let name = def.name.clone();
        let handle = changed.handle();
        let mut events = Vec::new();
        if changed.is_active() {
            changed.stop(SHUTOFF_FROM_SNAPSHOT);
            events.push((event::STOPPED, STOPPED_FROM_SNAPSHOT));
        }
        if changed.is_persistent() {
            changed.persistent_def = Some(config.clone());
        }
        if is_live_state(&snap_state) {
            changed.live_def = Some(config);
            self.begin_run(store, &mut changed, false)?;
            changed.reason = RUNNING_FROM_SNAPSHOT;
            events.push((event::STARTED, STARTED_FROM_SNAPSHOT));
            let pause = revert_flags & revert::RUNNING == 0
                && (snap_state == "paused" || revert_flags & revert::PAUSED != 0);
            if pause {
                changed.settle_cpu_time();
                changed.state = DomainState::Paused;
                changed.reason = PAUSED_FROM_SNAPSHOT;
                events.push((event::SUSPENDED, SUSPENDED_FROM_SNAPSHOT));
            }
        } else if wants_run {
            // libvirt's test driver announces the start it was asked for but leaves the domain shut off.
            events.push((event::STARTED, STARTED_FROM_SNAPSHOT));
            if revert_flags & revert::PAUSED != 0 {
                events.push((event::SUSPENDED, SUSPENDED_FROM_SNAPSHOT));
            }
        }
        changed.snapshots.current = Some(name);
        let uuid = handle.uuid;
        let handle = if changed.is_active() {
            changed.handle()
        } else {
            handle
        };
        if changed.live_def.is_none() && !changed.is_persistent() {
            // A transient domain that ends up stopped is gone, snapshots and all.
            store.remove_domain(&uuid)?;
            self.domains.remove(&uuid);
        } else {
            store.save_domain(&changed)?;
            self.domains.insert(uuid, changed);
        }
        for (kind, detail) in events {
            self.emit(handle.clone(), kind, detail);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(name: &str, parent: Option<&str>, state: &str) -> SnapshotDef {
        SnapshotDef {
            name: name.into(),
            parent: parent.map(str::to_string),
            state: state.into(),
            ..Default::default()
        }
    }

    #[test]
    fn descendants_and_filters_follow_the_tree() {
        let snaps = Snapshots {
            list: vec![
                snap("a", None, "running"),
                snap("b", Some("a"), "shutoff"),
                snap("c", Some("b"), "running"),
                snap("d", None, "paused"),
            ],
            current: Some("c".into()),
        };
        assert_eq!(snaps.descendants_of(Some("a")), vec!["b", "c"]);
        assert_eq!(snaps.descendants_of(None), vec!["d", "a", "b", "c"]);
        let leaves: Vec<_> = snaps
            .list
            .iter()
            .filter(|s| passes_filters(&snaps, s, list::LEAVES))
            .map(|s| s.name.as_str())
            .collect();
        assert_eq!(leaves, vec!["c", "d"]);
        let inactive: Vec<_> = snaps
            .list
            .iter()
            .filter(|s| passes_filters(&snaps, s, list::INACTIVE))
            .map(|s| s.name.as_str())
            .collect();
        assert_eq!(inactive, vec!["b"]);
        assert!(!passes_filters(&snaps, &snaps.list[0], list::NO_METADATA));
        assert!(!passes_filters(&snaps, &snaps.list[0], list::EXTERNAL));
        assert!(passes_filters(
            &snaps,
            &snaps.list[0],
            list::INTERNAL | list::EXTERNAL
        ));
    }
}
