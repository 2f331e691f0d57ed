//! Domain metadata of the test world (`virDomainGetMetadata` / `virDomainSetMetadata`): title, description and
//! `<metadata>` elements of the live and persistent definitions, with the metadata-change event.

use super::domains::impact;
use super::{check_flags, Persist, World};
use crate::driver::{flags, DomainEvent, DomainRef};
use crate::error::Result;
use crate::model::check_metadata_args;

impl World {
    pub(in crate::driver::test) fn domain_metadata(
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
            "testDomainGetMetadata",
        )?;
        let obj = self.domain(dom)?;
        let chosen = impact(obj, meta_flags, true)?;
        let def = if chosen.live {
            obj.live_def.as_ref()
        } else {
            obj.persistent_def.as_ref()
        };
        def.unwrap_or(obj.def()).get_metadata(kind, uri)
    }

    #[allow(clippy::too_many_arguments)]
    pub(in crate::driver::test) fn set_domain_metadata(
        &mut self,
        store: &dyn Persist,
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
            "testDomainSetMetadata",
        )?;
        let mut changed = self.domain(dom)?.clone();
        let chosen = impact(&changed, meta_flags, false)?;
        let targets = [
            (chosen.live, changed.live_def.as_mut()),
            (chosen.config, changed.persistent_def.as_mut()),
        ];
        for (wanted, def) in targets {
            if let (true, Some(def)) = (wanted, def) {
                def.set_metadata(kind, metadata, key, uri)?;
            }
        }
        store.save_domain(&changed)?;
        let handle = changed.handle();
        self.domains.insert(changed.uuid(), changed);
        // No subscriber is not an error.
        let _ = self.events.send(DomainEvent::metadata_change(
            handle,
            kind,
            uri.map(str::to_string),
        ));
        Ok(())
    }
}
