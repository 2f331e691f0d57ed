//! The remote driver's hand-written methods for network filters: listings with `need_results`, and the define
//! call sent as the plain procedure when no flags are given (as libvirt's client does, so older servers answer).

use super::calls::imp;
use super::*;
use crate::driver::*;

impl imp::nwfilter::Hand for RemoteDriver {
    async fn list_all_nwfilters(&self, flags: u32) -> Result<Vec<NwFilterRef>> {
        let args = ListAllArgs {
            need_results: 1,
            flags,
        };
        let ret: ListAllNwFiltersRet = self.call(P::ConnectListAllNwfilters, args).await?;
        Ok(ret.filters.0)
    }
    async fn nwfilter_define_xml(&self, xml: &str, flags: u32) -> Result<NwFilterRef> {
        let ret: NwFilterRet = if flags == 0 {
            self.call(P::NwfilterDefineXml, text(xml)).await?
        } else {
            let args = StringFlagsArgs {
                value: xml.to_string(),
                flags,
            };
            self.call(P::NwfilterDefineXmlFlags, args).await?
        };
        Ok(ret.nwfilter)
    }
    async fn list_all_nwfilter_bindings(&self, flags: u32) -> Result<Vec<NwFilterBindingRef>> {
        let args = ListAllArgs {
            need_results: 1,
            flags,
        };
        let ret: ListAllNwFilterBindingsRet =
            self.call(P::ConnectListAllNwfilterBindings, args).await?;
        Ok(ret.bindings.0)
    }
}
