//! Host interfaces from `/sys/class/net` as libvirt's udev backend reads them: which links are listed, whether
//! each is active, and its description (type from the kernel's DEVTYPE with libvirt's fallbacks, MTU, link state
//! and speed, MAC, bridge ports, bond slaves and monitor, VLAN tag and parent). The root is a parameter so tests
//! run over a tree they build.

use std::path::{Path, PathBuf};

use crate::driver::nodedev::link_info;
use crate::driver::InterfaceRef;
use crate::model::{BondMonitor, HostInterfaceDef, HostInterfaceKind, BOND_MODES};

/// Where the interfaces are read from.
#[derive(Clone, Debug)]
pub struct IfaceRoots {
    /// The sysfs mount (`/sys`).
    pub sys: PathBuf,
}

fn read_attr(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    Some(text.trim_end_matches('\n').to_string())
}

fn read_int(path: &Path) -> Option<i32> {
    read_attr(path)?.trim().parse().ok()
}

/// The number after the space in sysfs's "name N" values (`bonding/mode`, `bonding/arp_validate`).
fn second_number(path: &Path) -> Option<usize> {
    read_attr(path)?.split_once(' ')?.1.trim().parse().ok()
}

impl IfaceRoots {
    pub fn host() -> Self {
        Self {
            sys: PathBuf::from("/sys"),
        }
    }

    fn dir(&self, name: &str) -> Option<PathBuf> {
        // A name is one path component; anything else names no interface.
        if name.is_empty() || name.contains('/') || name == "." || name == ".." {
            return None;
        }
        let dir = self.sys.join("class/net").join(name);
        dir.exists().then_some(dir)
    }

    fn mac(dir: &Path) -> String {
        read_attr(&dir.join("address")).unwrap_or_default()
    }

    fn active(dir: &Path) -> bool {
        read_attr(&dir.join("operstate")).as_deref() == Some("up")
    }

    /// Every listed link with whether it is active, by name: bridge ports and taps are left out, as libvirt
    /// leaves them out.
    pub fn list(&self) -> Vec<(InterfaceRef, bool)> {
        let Ok(entries) = std::fs::read_dir(self.sys.join("class/net")) else {
            return Vec::new();
        };
        let mut out: Vec<(InterfaceRef, bool)> = entries
            .flatten()
            .filter_map(|entry| {
                let name = entry.file_name().to_string_lossy().into_owned();
                let dir = entry.path();
                if dir.join("brport/state").exists() || dir.join("tun_flags").exists() {
                    return None;
                }
                let iface = InterfaceRef {
                    name,
                    mac: Self::mac(&dir),
                };
                Some((iface, Self::active(&dir)))
            })
            .collect();
        out.sort_by(|a, b| a.0.name.cmp(&b.0.name));
        out
    }

    /// The handle of any link of that name (a bridge port too, as libvirt finds it by name).
    pub fn handle(&self, name: &str) -> Option<InterfaceRef> {
        let dir = self.dir(name)?;
        Some(InterfaceRef {
            name: name.to_string(),
            mac: Self::mac(&dir),
        })
    }

    pub fn is_active(&self, name: &str) -> Option<bool> {
        self.dir(name).map(|dir| Self::active(&dir))
    }

    /// The link's description as libvirt's `udevGetIfaceDef` builds it.
    pub fn definition(&self, name: &str) -> Option<HostInterfaceDef> {
        self.definition_at(name, 0)
    }

    fn definition_at(&self, name: &str, depth: usize) -> Option<HostInterfaceDef> {
        let dir = self.dir(name)?;
        let mut def = HostInterfaceDef::ethernet(name);
        def.mac = Some(Self::mac(&dir));
        def.mtu = read_attr(&dir.join("mtu")).and_then(|m| m.trim().parse().ok());
        let (state, speed) = link_info(&dir);
        def.link_state = state;
        def.link_speed = speed;
        let devtype = read_attr(&dir.join("uevent")).and_then(|text| {
            text.lines()
                .find_map(|l| l.strip_prefix("DEVTYPE=").map(str::to_string))
        });
        let kind = match devtype.as_deref() {
            Some("vlan") => "vlan",
            Some("bridge") => "bridge",
            Some("bond") => "bond",
            _ if dir.join("bonding/mode").exists() => "bond",
            _ if name.contains('.') => "vlan",
            _ => "ethernet",
        };
        // Members of members cannot nest further (a bridge holds no bridge); the cap keeps a loop finite.
        let member = |member: &str| {
            if depth > 2 {
                None
            } else {
                self.definition_at(member, depth + 1)
            }
        };
        def.kind = match kind {
            "bridge" => {
                let stp = match read_int(&dir.join("bridge/stp_state")) {
                    Some(0) => Some(false),
                    Some(1) => Some(true),
                    _ => None,
                };
                let mut ports: Vec<String> = std::fs::read_dir(dir.join("brif"))
                    .map(|entries| {
                        entries
                            .flatten()
                            .map(|e| e.file_name().to_string_lossy().into_owned())
                            .collect()
                    })
                    .unwrap_or_default();
                ports.sort();
                // Guests' taps (vnetN) are not the host's configuration.
                ports.retain(|p| {
                    !(p.len() >= 5 && p.starts_with("vnet") && p.as_bytes()[4].is_ascii_digit())
                });
                HostInterfaceKind::Bridge {
                    stp,
                    delay: read_attr(&dir.join("bridge/forward_delay")),
                    members: ports.iter().filter_map(|p| member(p)).collect(),
                }
            }
            "bond" => {
                let mode = second_number(&dir.join("bonding/mode"))
                    .and_then(|m| BOND_MODES.get(m))
                    .map(|m| m.to_string());
                let int = |file: &str| read_int(&dir.join("bonding").join(file)).unwrap_or(0);
                let monitor = if int("arp_interval") > 0 {
                    let validate = match second_number(&dir.join("bonding/arp_validate")) {
                        Some(1) => Some("active".to_string()),
                        Some(2) => Some("backup".to_string()),
                        Some(3) => Some("all".to_string()),
                        _ => None,
                    };
                    Some(BondMonitor::Arp {
                        interval: int("arp_interval"),
                        target: read_attr(&dir.join("bonding/arp_ip_target")).unwrap_or_default(),
                        validate,
                    })
                } else if int("miimon") > 0 {
                    let carrier = if int("use_carrier") == 0 {
                        "ioctl"
                    } else {
                        "netif"
                    };
                    Some(BondMonitor::Mii {
                        freq: int("miimon"),
                        downdelay: int("downdelay"),
                        updelay: int("updelay"),
                        carrier: Some(carrier.to_string()),
                    })
                } else {
                    None
                };
                let mut slaves: Vec<String> = std::fs::read_dir(&dir)
                    .map(|entries| {
                        entries
                            .flatten()
                            .filter_map(|e| {
                                let n = e.file_name().to_string_lossy().into_owned();
                                n.strip_prefix("slave_").map(str::to_string)
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                slaves.sort();
                HostInterfaceKind::Bond {
                    mode,
                    monitor,
                    members: slaves.iter().filter_map(|s| member(s)).collect(),
                }
            }
            "vlan" => match name.rsplit_once('.') {
                Some((device, tag)) => HostInterfaceKind::Vlan {
                    tag: tag.to_string(),
                    device: device.to_string(),
                },
                None => return None,
            },
            _ => HostInterfaceKind::Ethernet,
        };
        Some(def)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(sys: &Path, name: &str, files: &[(&str, &str)]) -> PathBuf {
        let dir = sys.join("class/net").join(name);
        for (file, text) in files {
            let at = dir.join(file);
            std::fs::create_dir_all(at.parent().expect("parent")).expect("dir");
            std::fs::write(at, text).expect("file");
        }
        dir
    }

    fn tree() -> (tempfile::TempDir, IfaceRoots) {
        let tmp = tempfile::tempdir().expect("temp dir");
        let sys = tmp.path().to_path_buf();
        link(
            &sys,
            "eth0",
            &[
                ("address", "52:54:00:12:34:56\n"),
                ("mtu", "1400\n"),
                ("operstate", "up\n"),
                ("speed", "-1\n"),
                ("uevent", "INTERFACE=eth0\nIFINDEX=2\n"),
            ],
        );
        link(
            &sys,
            "lo",
            &[
                ("address", "00:00:00:00:00:00\n"),
                ("mtu", "65536\n"),
                ("operstate", "unknown\n"),
            ],
        );
        let br = link(
            &sys,
            "br0",
            &[
                ("address", "b6:f0:ad:e5:ba:6c\n"),
                ("mtu", "1500\n"),
                ("operstate", "up\n"),
                ("uevent", "DEVTYPE=bridge\nINTERFACE=br0\n"),
                ("bridge/forward_delay", "1500\n"),
                ("bridge/stp_state", "0\n"),
                ("brif/veth0/state", "3\n"),
                ("brif/vnet0/state", "3\n"),
            ],
        );
        assert!(br.exists());
        link(
            &sys,
            "veth0",
            &[
                ("address", "aa:aa:aa:aa:aa:01\n"),
                ("mtu", "1500\n"),
                ("operstate", "up\n"),
                ("speed", "10000\n"),
                ("brport/state", "3\n"),
            ],
        );
        link(
            &sys,
            "vnet0",
            &[
                ("address", "fe:54:00:00:00:01\n"),
                ("operstate", "up\n"),
                ("tun_flags", "0x1002\n"),
                ("brport/state", "3\n"),
            ],
        );
        link(
            &sys,
            "eth0.10",
            &[
                ("address", "52:54:00:12:34:56\n"),
                ("mtu", "1400\n"),
                ("operstate", "down\n"),
                ("uevent", "DEVTYPE=vlan\n"),
            ],
        );
        (tmp, IfaceRoots { sys })
    }

    #[test]
    fn listing_leaves_out_bridge_ports_and_taps() {
        let (_tmp, roots) = tree();
        let listed: Vec<(String, bool)> = roots
            .list()
            .into_iter()
            .map(|(i, active)| (i.name, active))
            .collect();
        assert_eq!(
            listed,
            [
                ("br0".to_string(), true),
                ("eth0".to_string(), true),
                ("eth0.10".to_string(), false),
                ("lo".to_string(), false),
            ]
        );
        assert_eq!(
            roots.handle("veth0").expect("port").mac,
            "aa:aa:aa:aa:aa:01"
        );
        assert!(roots.handle("nope").is_none());
        assert!(roots.handle("../net").is_none());
        assert_eq!(roots.is_active("lo"), Some(false));
    }

    #[test]
    fn descriptions_format_as_libvirts_udev_backend() {
        let (_tmp, roots) = tree();
        assert_eq!(
            roots.definition("eth0").expect("eth0").to_xml(),
            "<interface type='ethernet' name='eth0'>\n  <mtu size='1400'/>\n  \
             <link speed='4294967295' state='up'/>\n  <mac address='52:54:00:12:34:56'/>\n</interface>\n"
        );
        assert_eq!(
            roots.definition("br0").expect("br0").to_xml(),
            "<interface type='bridge' name='br0'>\n  <mtu size='1500'/>\n  <bridge stp='off' delay='1500'>\n    \
             <interface type='ethernet' name='veth0'>\n      <link speed='10000' state='up'/>\n      \
             <mac address='aa:aa:aa:aa:aa:01'/>\n    </interface>\n  </bridge>\n</interface>\n"
        );
        let vlan = roots.definition("eth0.10").expect("vlan").to_xml();
        assert!(
            vlan.starts_with("<interface type='vlan' name='eth0.10'>\n"),
            "{vlan}"
        );
        assert!(
            vlan.contains("<vlan tag='10'>\n    <interface name='eth0'/>\n  </vlan>"),
            "{vlan}"
        );
        assert_eq!(
            roots.definition("lo").expect("lo").to_xml(),
            "<interface type='ethernet' name='lo'>\n  <mtu size='65536'/>\n  <link state='unknown'/>\n  \
             <mac address='00:00:00:00:00:00'/>\n</interface>\n"
        );
    }
}
