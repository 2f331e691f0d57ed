//! Payloads of the statistics procedures: block and interface counters, block info, bulk domain
//! statistics, host CPU times, guest addresses, file systems, host name and I/O threads, as
//! `remote_protocol.x` lays them out, with its array caps.

use super::connect::CPUMAP_MAX;
use super::domain::DOMAIN_LIST_MAX;
use super::values::{ReplyValue, WrapReply};
use super::xdr::{xdr_struct, Array, Opaque, Reader, Writer, Xdr, XdrError};
use crate::driver::{
    BlockInfo, BlockStats, DomainRef, DomainStatsRecord, FsInfo, GuestInterface, InterfaceStats,
    IothreadInfo, IpAddress, NodeCpuStat, TypedParam,
};
use crate::error::Result;

/// Array caps from the protocol definition.
pub const CONNECT_GET_ALL_DOMAIN_STATS_MAX: u32 = 4096;
pub const DOMAIN_BLOCK_STATS_PARAMETERS_MAX: u32 = 16;
pub const NODE_CPU_STATS_MAX: u32 = 16;
pub const DOMAIN_INTERFACE_MAX: u32 = 2048;
pub const DOMAIN_IP_ADDR_MAX: u32 = 2048;
pub const DOMAIN_FSINFO_MAX: u32 = 256;
pub const DOMAIN_FSINFO_DISKS_MAX: u32 = 256;
pub const IOTHREAD_INFO_MAX: u32 = 16384;
pub const DOMAIN_GET_CPU_STATS_MAX: u32 = 2048;
pub const DOMAIN_GET_CPU_STATS_NCPUS_MAX: u32 = 128;
pub const DOMAIN_JOB_STATS_MAX: u32 = 64;

xdr_struct! { pub struct DomainPathArgs { pub dom: DomainRef, pub path: String } }
xdr_struct! { pub struct DomainPathFlagsArgs { pub dom: DomainRef, pub path: String, pub flags: u32 } }
xdr_struct! {
    pub struct BlockStatsRet { pub rd_req: i64, pub rd_bytes: i64, pub wr_req: i64, pub wr_bytes: i64, pub errs: i64 }
}
xdr_struct! {
    pub struct BlockStatsFlagsArgs { pub dom: DomainRef, pub path: String, pub nparams: i32, pub flags: u32 }
}
xdr_struct! {
    pub struct BlockStatsFlagsRet { pub params: Array<TypedParam, DOMAIN_BLOCK_STATS_PARAMETERS_MAX>, pub nparams: i32 }
}
xdr_struct! {
    pub struct InterfaceStatsRet {
        pub rx_bytes: i64, pub rx_packets: i64, pub rx_errs: i64, pub rx_drop: i64,
        pub tx_bytes: i64, pub tx_packets: i64, pub tx_errs: i64, pub tx_drop: i64,
    }
}
xdr_struct! { pub struct BlockInfoRet { pub allocation: u64, pub capacity: u64, pub physical: u64 } }
xdr_struct! {
    pub struct AllDomainStatsArgs { pub doms: Array<DomainRef, DOMAIN_LIST_MAX>, pub stats: u32, pub flags: u32 }
}
xdr_struct! { pub struct AllDomainStatsRet { pub records: Array<DomainStatsRecord, DOMAIN_LIST_MAX> } }
xdr_struct! { pub struct NodeCpuStatsArgs { pub cpu_num: i32, pub nparams: i32, pub flags: u32 } }
xdr_struct! { pub struct NodeCpuStatsRet { pub params: Array<NodeCpuStat, NODE_CPU_STATS_MAX>, pub nparams: i32 } }
xdr_struct! { pub struct InterfaceAddressesArgs { pub dom: DomainRef, pub source: u32, pub flags: u32 } }
xdr_struct! { pub struct InterfaceAddressesRet { pub ifaces: Array<GuestInterface, DOMAIN_INTERFACE_MAX> } }
xdr_struct! { pub struct FsInfoRet { pub info: Array<FsInfo, DOMAIN_FSINFO_MAX>, pub ret: u32 } }
xdr_struct! {
    pub struct CpuStatsArgs { pub dom: DomainRef, pub nparams: u32, pub start_cpu: i32, pub ncpus: u32, pub flags: u32 }
}
xdr_struct! { pub struct CpuStatsRet { pub params: Array<TypedParam, DOMAIN_GET_CPU_STATS_MAX>, pub nparams: i32 } }
xdr_struct! {
    pub struct JobInfoRet {
        pub kind: i32, pub time_elapsed: u64, pub time_remaining: u64, pub data_total: u64,
        pub data_processed: u64, pub data_remaining: u64, pub mem_total: u64, pub mem_processed: u64,
        pub mem_remaining: u64, pub file_total: u64, pub file_processed: u64, pub file_remaining: u64,
    }
}
xdr_struct! { pub struct JobStatsRet { pub kind: i32, pub params: Array<TypedParam, DOMAIN_JOB_STATS_MAX> } }
xdr_struct! {
    pub struct DomainCapabilitiesArgs {
        pub emulatorbin: Option<String>, pub arch: Option<String>, pub machine: Option<String>,
        pub virttype: Option<String>, pub flags: u32,
    }
}
xdr_struct! { pub struct IothreadInfoRet { pub info: Array<IothreadInfo, IOTHREAD_INFO_MAX>, pub ret: u32 } }

/// `remote_domain_stats_record`: the domain, then its statistics.
impl Xdr for DomainStatsRecord {
    const MIN_SIZE: usize = DomainRef::MIN_SIZE + 4;
    fn encode(&self, w: &mut Writer) {
        self.dom.encode(w);
        w.count(self.params.len());
        for param in &self.params {
            param.encode(w);
        }
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, XdrError> {
        let dom = DomainRef::decode(r)?;
        let params =
            Array::<TypedParam, CONNECT_GET_ALL_DOMAIN_STATS_MAX>::decode(r).map(|a| a.0)?;
        Ok(Self { dom, params })
    }
}

/// `remote_node_get_cpu_stats`: a field name and an unsigned 64-bit value.
impl Xdr for NodeCpuStat {
    const MIN_SIZE: usize = 12;
    fn encode(&self, w: &mut Writer) {
        self.field.encode(w);
        w.u64(self.value);
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, XdrError> {
        Ok(Self {
            field: String::decode(r)?,
            value: r.u64()?,
        })
    }
}

/// `remote_domain_ip_addr`: type, address text, prefix length.
impl Xdr for IpAddress {
    const MIN_SIZE: usize = 12;
    fn encode(&self, w: &mut Writer) {
        w.i32(self.kind);
        self.addr.encode(w);
        w.u32(self.prefix);
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, XdrError> {
        Ok(Self {
            kind: r.i32()?,
            addr: String::decode(r)?,
            prefix: r.u32()?,
        })
    }
}

/// `remote_domain_interface`: name, optional MAC, addresses.
impl Xdr for GuestInterface {
    const MIN_SIZE: usize = 12;
    fn encode(&self, w: &mut Writer) {
        self.name.encode(w);
        self.hwaddr.encode(w);
        w.count(self.addrs.len());
        for addr in &self.addrs {
            addr.encode(w);
        }
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, XdrError> {
        Ok(Self {
            name: String::decode(r)?,
            hwaddr: Option::<String>::decode(r)?,
            addrs: Array::<IpAddress, DOMAIN_IP_ADDR_MAX>::decode(r)?.0,
        })
    }
}

/// `remote_domain_fsinfo`: mount point, device name, type, disk aliases.
impl Xdr for FsInfo {
    const MIN_SIZE: usize = 16;
    fn encode(&self, w: &mut Writer) {
        self.mountpoint.encode(w);
        self.name.encode(w);
        self.fstype.encode(w);
        w.count(self.dev_aliases.len());
        for alias in &self.dev_aliases {
            alias.encode(w);
        }
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, XdrError> {
        Ok(Self {
            mountpoint: String::decode(r)?,
            name: String::decode(r)?,
            fstype: String::decode(r)?,
            dev_aliases: Array::<String, DOMAIN_FSINFO_DISKS_MAX>::decode(r)?.0,
        })
    }
}

/// `remote_domain_iothread_info`: the thread id and its CPU map.
impl Xdr for IothreadInfo {
    const MIN_SIZE: usize = 8;
    fn encode(&self, w: &mut Writer) {
        w.u32(self.iothread_id);
        w.opaque(&self.cpumap);
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, XdrError> {
        Ok(Self {
            iothread_id: r.u32()?,
            cpumap: Opaque::<CPUMAP_MAX>::decode(r)?.0,
        })
    }
}

impl WrapReply<BlockStats> for BlockStatsRet {
    fn wrap(s: BlockStats) -> Self {
        BlockStatsRet {
            rd_req: s.rd_req,
            rd_bytes: s.rd_bytes,
            wr_req: s.wr_req,
            wr_bytes: s.wr_bytes,
            errs: s.errs,
        }
    }
}

impl ReplyValue<BlockStats> for BlockStatsRet {
    fn unwrap(self) -> Result<BlockStats> {
        Ok(BlockStats {
            rd_req: self.rd_req,
            rd_bytes: self.rd_bytes,
            wr_req: self.wr_req,
            wr_bytes: self.wr_bytes,
            errs: self.errs,
        })
    }
}

impl WrapReply<InterfaceStats> for InterfaceStatsRet {
    fn wrap(s: InterfaceStats) -> Self {
        InterfaceStatsRet {
            rx_bytes: s.rx_bytes,
            rx_packets: s.rx_packets,
            rx_errs: s.rx_errs,
            rx_drop: s.rx_drop,
            tx_bytes: s.tx_bytes,
            tx_packets: s.tx_packets,
            tx_errs: s.tx_errs,
            tx_drop: s.tx_drop,
        }
    }
}

impl ReplyValue<InterfaceStats> for InterfaceStatsRet {
    fn unwrap(self) -> Result<InterfaceStats> {
        Ok(InterfaceStats {
            rx_bytes: self.rx_bytes,
            rx_packets: self.rx_packets,
            rx_errs: self.rx_errs,
            rx_drop: self.rx_drop,
            tx_bytes: self.tx_bytes,
            tx_packets: self.tx_packets,
            tx_errs: self.tx_errs,
            tx_drop: self.tx_drop,
        })
    }
}

impl WrapReply<BlockInfo> for BlockInfoRet {
    fn wrap(info: BlockInfo) -> Self {
        BlockInfoRet {
            allocation: info.allocation,
            capacity: info.capacity,
            physical: info.physical,
        }
    }
}

impl ReplyValue<BlockInfo> for BlockInfoRet {
    fn unwrap(self) -> Result<BlockInfo> {
        Ok(BlockInfo {
            capacity: self.capacity,
            allocation: self.allocation,
            physical: self.physical,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::driver::TypedValue;

    fn dom() -> DomainRef {
        DomainRef {
            name: "t".into(),
            uuid: uuid::Uuid::nil(),
            id: 1,
        }
    }

    #[test]
    fn a_stats_record_is_the_domain_then_counted_typed_params() {
        let record = DomainStatsRecord {
            dom: dom(),
            params: vec![TypedParam {
                field: "state.state".into(),
                value: TypedValue::Int(1),
            }],
        };
        let bytes = record.to_bytes();
        let mut want = dom().to_bytes();
        want.extend_from_slice(&[0, 0, 0, 1]);
        want.extend_from_slice(&[0, 0, 0, 11]);
        want.extend_from_slice(b"state.state\0");
        want.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 1]);
        assert_eq!(bytes, want);
        assert_eq!(DomainStatsRecord::from_bytes(&bytes).unwrap(), record);
    }

    #[test]
    fn an_interface_carries_an_optional_mac_and_its_addresses() {
        let iface = GuestInterface {
            name: "n".into(),
            hwaddr: None,
            addrs: vec![IpAddress {
                kind: 0,
                addr: "1.2.3.4".into(),
                prefix: 24,
            }],
        };
        let bytes = iface.to_bytes();
        let mut want = vec![
            0, 0, 0, 1, b'n', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0,
        ];
        want.extend_from_slice(&[0, 0, 0, 7]);
        want.extend_from_slice(b"1.2.3.4\0");
        want.extend_from_slice(&[0, 0, 0, 24]);
        assert_eq!(bytes, want);
        assert_eq!(GuestInterface::from_bytes(&bytes).unwrap(), iface);
    }

    #[test]
    fn caps_from_the_protocol_are_enforced_when_decoding() {
        // A node CPU statistics reply claiming 17 entries (cap 16) is refused before anything is read.
        let mut bytes = vec![0, 0, 0, 17];
        bytes.extend_from_slice(&[0; 64]);
        assert!(NodeCpuStatsRet::from_bytes(&bytes).is_err());
        // So is a stats request naming more domains than REMOTE_DOMAIN_LIST_MAX.
        let mut bytes = (DOMAIN_LIST_MAX + 1).to_be_bytes().to_vec();
        bytes.extend_from_slice(&[0; 8]);
        assert!(AllDomainStatsArgs::from_bytes(&bytes).is_err());
        // And an iothread's CPU map longer than REMOTE_CPUMAP_MAX.
        let mut bytes = vec![0, 0, 0, 1];
        bytes.extend_from_slice(&(CPUMAP_MAX + 1).to_be_bytes());
        bytes.extend_from_slice(&vec![0; CPUMAP_MAX as usize + 4]);
        assert!(IothreadInfo::from_bytes(&bytes).is_err());
    }
}
