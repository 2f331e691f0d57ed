//! Domain metadata of QEMU guests (`virDomainGetMetadata` / `virDomainSetMetadata`): the title, the description
//! and `<metadata>` elements of the live and persistent definitions, with the metadata-change event.

use super::{check_flags, no_domain, QemuDriver};
use crate::driver::{flags, DomainEvent, DomainRef};
use crate::error::{Error, ErrorDomain, Result};
use crate::model::check_metadata_args;

/// Which definitions `AFFECT_*` flags select, refused as libvirt refuses them (`virDomainObjGetDefs`); reads
/// (`exactly_one`) answer about one definition.
fn affected(
    affect: u32,
    running: bool,
    persistent: bool,
    exactly_one: bool,
) -> Result<(bool, bool)> {
    let mut live = affect & flags::AFFECT_LIVE != 0;
    let mut config = affect & flags::AFFECT_CONFIG != 0;
    if exactly_one && live && config {
        return Err(Error::invalid_arg(
            ErrorDomain::DOMAIN,
            "Flags 'VIR_DOMAIN_AFFECT_LIVE' and 'VIR_DOMAIN_AFFECT_CONFIG' are mutually exclusive",
        ));
    }
    if !live && !config {
        live = running;
        config = !running;
    }
    if live && !running {
        return Err(Error::operation_invalid(
            ErrorDomain::DOMAIN,
            "domain is not running",
        ));
    }
    if config && !persistent {
        return Err(Error::operation_invalid(
            ErrorDomain::DOMAIN,
            "transient domains do not have any persistent config",
        ));
    }
    Ok((live, config))
}

impl QemuDriver {
    pub(super) fn get_metadata(
        &self,
        dom: &DomainRef,
        kind: i32,
        uri: Option<&str>,
        meta_flags: u32,
    ) -> Result<String> {
        check_metadata_args(false, kind, None, None, uri)?;
        check_flags(
            meta_flags,
            flags::AFFECT_LIVE | flags::AFFECT_CONFIG,
            "qemuDomainGetMetadata",
        )?;
        let domains = self.shared.domains();
        let obj = domains.get(&dom.uuid).ok_or_else(no_domain)?;
        let (live, _) = affected(
            meta_flags,
            obj.live.is_some(),
            obj.persistent.is_some(),
            true,
        )?;
        let def = if live {
            obj.live.as_ref()
        } else {
            obj.persistent.as_ref()
        };
        def.ok_or_else(no_domain)?.get_metadata(kind, uri)
    }

    pub(super) async fn set_metadata(
        &self,
        dom: &DomainRef,
        kind: i32,
        metadata: Option<&str>,
        key: Option<&str>,
        uri: Option<&str>,
        meta_flags: u32,
    ) -> Result<()> {
        check_metadata_args(true, kind, metadata, key, uri)?;
        check_flags(
            meta_flags,
            flags::AFFECT_LIVE | flags::AFFECT_CONFIG,
            "qemuDomainSetMetadata",
        )?;
        let _guard = self.shared.lifecycle.lock().await;
        let (handle, persistent, running) = self.find(dom)?;
        let (live, config) = affected(meta_flags, running.is_some(), persistent, false)?;
        let change = |def: &mut crate::model::DomainDef| def.set_metadata(kind, metadata, key, uri);
        // Both changes are computed before anything is written, so a refused value changes nothing.
        let (mut live_def, mut config_def) = {
            let domains = self.shared.domains();
            let obj = domains.get(&handle.uuid).ok_or_else(no_domain)?;
            (
                obj.live.clone().filter(|_| live),
                obj.persistent.clone().filter(|_| config),
            )
        };
        if let Some(def) = live_def.as_mut() {
            change(def)?;
        }
        if let Some(def) = config_def.as_mut() {
            change(def)?;
            self.shared.files.save_definition(def)?;
        }
        {
            let mut domains = self.shared.domains();
            let obj = domains.get_mut(&handle.uuid).ok_or_else(no_domain)?;
            if let Some(def) = live_def {
                obj.live = Some(def);
                self.shared.save_status_locked(obj);
            }
            if let Some(def) = config_def {
                obj.persistent = Some(def);
            }
        }
        let nsuri = uri.map(str::to_string);
        // No subscriber is not an error.
        let _ = self
            .shared
            .events
            .send(DomainEvent::metadata_change(handle, kind, nsuri));
        Ok(())
    }
}
