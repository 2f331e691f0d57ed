//! Managed save of the test world's domains (`virDomainManagedSave` and friends), as libvirt's test driver has
//! it: the domain stops with reason "saved" and a flag remembers the image; the next start boots afresh.

use super::*;

/// `virDomainSaveRestoreFlags` the test driver takes for a managed save: BYPASS_CACHE, RUNNING, PAUSED.
const MANAGED_SAVE_FLAGS: u32 = 0b111;
/// `VIR_DOMAIN_UNDEFINE_MANAGED_SAVE`.
const UNDEFINE_MANAGED_SAVE: u32 = 1;
/// `VIR_DOMAIN_EVENT_STOPPED_SAVED`.
const STOPPED_SAVED: i32 = 4;

impl World {
    pub(in crate::driver::test) fn managed_save(
        &mut self,
        store: &dyn Persist,
        dom: &DomainRef,
        save_flags: u32,
    ) -> Result<()> {
        snapshots::snapshot_flags(save_flags, MANAGED_SAVE_FLAGS, "testDomainManagedSave")?;
        let obj = self.domain(dom)?;
        if !obj.is_active() {
            return Err(not_running());
        }
        if !obj.is_persistent() {
            return Err(op_invalid("cannot do managed save for transient domain"));
        }
        let handle = obj.handle();
        let mut changed = obj.clone();
        changed.stop(reason::SHUTOFF_SAVED);
        changed.managed_save = true;
        store.save_domain(&changed)?;
        self.domains.insert(changed.uuid(), changed);
        self.emit(handle, event::STOPPED, STOPPED_SAVED);
        Ok(())
    }

    pub(in crate::driver::test) fn managed_save_remove(
        &mut self,
        store: &dyn Persist,
        dom: &DomainRef,
        remove_flags: u32,
    ) -> Result<()> {
        snapshots::snapshot_flags(remove_flags, 0, "testDomainManagedSaveRemove")?;
        let obj = self.domain(dom)?;
        if !obj.managed_save {
            return Ok(());
        }
        let mut changed = obj.clone();
        changed.managed_save = false;
        store.save_domain(&changed)?;
        self.domains.insert(changed.uuid(), changed);
        Ok(())
    }

    pub(in crate::driver::test) fn has_managed_save(
        &self,
        dom: &DomainRef,
        has_flags: u32,
    ) -> Result<bool> {
        snapshots::snapshot_flags(has_flags, 0, "testDomainHasManagedSaveImage")?;
        Ok(self.domain(dom)?.managed_save)
    }

    /// Refuses to undefine a domain with a managed save image unless the image may go too.
    pub(super) fn check_undefine_managed_save(obj: &DomainObj, undefine_flags: u32) -> Result<()> {
        if obj.managed_save && undefine_flags & UNDEFINE_MANAGED_SAVE == 0 {
            return Err(op_invalid(
                "Refusing to undefine while domain managed save image exists",
            ));
        }
        Ok(())
    }
}
