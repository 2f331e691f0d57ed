//! Renaming a domain of the test world (`virDomainRename`) with libvirt's rules: only an inactive, persistent
//! domain, never onto its own or another domain's name.

use super::*;

/// `VIR_DOMAIN_EVENT_UNDEFINED_RENAMED` and `VIR_DOMAIN_EVENT_DEFINED_RENAMED`.
const UNDEFINED_RENAMED: i32 = 1;
const DEFINED_RENAMED: i32 = 2;

impl World {
    pub(in crate::driver::test) fn rename_domain(
        &mut self,
        store: &dyn Persist,
        dom: &DomainRef,
        new_name: &str,
        rename_flags: u32,
    ) -> Result<DomainRef> {
        check_flags(rename_flags, 0, "virDomainRename")?;
        let obj = self.domain(dom)?;
        if obj.is_active() {
            return Err(op_invalid("cannot rename active domain"));
        }
        if !obj.is_persistent() {
            return Err(op_invalid("cannot rename a transient domain"));
        }
        if obj.name() == new_name {
            return Err(op_invalid("Can't rename domain to itself"));
        }
        if self.domains.uuid_of(new_name).is_some() {
            return Err(op_invalid(format!(
                "domain with name '{new_name}' already exists"
            )));
        }
        if new_name.contains('/') {
            return Err(Error::xml(format!("name {new_name} cannot contain '/'")));
        }
        let old_handle = obj.handle();
        let mut changed = obj.clone();
        if let Some(def) = changed.persistent_def.as_mut() {
            def.name = new_name.to_string();
        }
        store.save_domain(&changed)?;
        let new_handle = changed.handle();
        self.domains.insert(changed.uuid(), changed);
        self.emit(old_handle, event::UNDEFINED, UNDEFINED_RENAMED);
        self.emit(new_handle.clone(), event::DEFINED, DEFINED_RENAMED);
        Ok(new_handle)
    }
}
