//! The memory balloon's statistics period (`<memballoon><stats period='N'/>`), read and changed in place on
//! the balloon element the domain model keeps whole.

use super::DomainDef;
use crate::xml::Node;

impl DomainDef {
    /// The balloon device, unless the domain has none or (`model='none'`) a disabled one.
    fn balloon_mut(&mut self) -> Option<&mut Node> {
        self.devices
            .others
            .iter_mut()
            .find(|n| n.name == "memballoon")
            .filter(|n| n.attr("model") != Some("none"))
    }

    /// Whether the domain has a working balloon device (libvirt's `virDomainDefHasMemballoon`).
    pub fn has_memballoon(&self) -> bool {
        self.devices
            .others
            .iter()
            .any(|n| n.name == "memballoon" && n.attr("model") != Some("none"))
    }

    /// The balloon's statistics period in seconds; 0 when it collects none.
    pub fn memballoon_period(&self) -> i32 {
        self.devices
            .others
            .iter()
            .find(|n| n.name == "memballoon")
            .and_then(|n| n.child("stats"))
            .and_then(|s| s.attr("period"))
            .and_then(|p| p.parse().ok())
            .unwrap_or(0)
    }

    /// Sets the balloon's statistics period (0 drops `<stats>`, as libvirt writes no period then); `false` when
    /// there is no working balloon to set it on.
    pub fn set_memballoon_period(&mut self, period: i32) -> bool {
        let Some(balloon) = self.balloon_mut() else {
            return false;
        };
        balloon.children.retain(|c| c.name != "stats");
        if period != 0 {
            // libvirt writes <stats> before the device's <alias> and <address>.
            balloon.children.insert(
                0,
                Node {
                    name: "stats".into(),
                    attrs: vec![("period".into(), period.to_string())],
                    ..Node::default()
                },
            );
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::DomainXmlOptions;

    fn def(devices: &str) -> DomainDef {
        let xml = format!(
            "<domain type='test'><name>b</name><memory>1024</memory><os><type>hvm</type></os>\
             <devices>{devices}</devices></domain>"
        );
        DomainDef::from_xml(&xml, false).unwrap()
    }

    #[test]
    fn the_period_goes_first_in_the_balloon_and_zero_removes_it() {
        let mut d = def(
            "<memballoon model='virtio'><address type='pci' domain='0x0000' bus='0x00' \
                         slot='0x02' function='0x0'/></memballoon>",
        );
        assert_eq!(d.memballoon_period(), 0);
        assert!(d.set_memballoon_period(5));
        assert_eq!(d.memballoon_period(), 5);
        let xml = d.to_xml(&DomainXmlOptions::default());
        assert!(
            xml.contains("<memballoon model='virtio'>\n      <stats period='5'/>\n      <address"),
            "{xml}"
        );
        assert!(d.set_memballoon_period(0));
        assert!(!d.to_xml(&DomainXmlOptions::default()).contains("stats"));
    }

    #[test]
    fn no_balloon_or_a_disabled_one_takes_no_period() {
        assert!(!def("").set_memballoon_period(5));
        let mut none = def("<memballoon model='none'/>");
        assert!(!none.has_memballoon());
        assert!(!none.set_memballoon_period(5));
    }
}
