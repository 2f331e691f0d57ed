//! A domain's resource tunables (`<blkiotune>`, `<memtune>`, `<cputune>`, `<numatune>`): the model, their XML
//! in libvirt's layout, and the CPU/node list syntax ("0-3,^2,5") they use.

use crate::error::{Error, ErrorCode, ErrorDomain, Result};
use crate::model::units::ScaleDefault;
use crate::model::xml::{parse_decimal, Attrs, Ctx, Node, XmlWriter};

/// The highest CPU or node number a list may name (libvirt's `VIR_DOMAIN_CPUMASK_LEN`).
pub const CPUMASK_LEN: u32 = 16384;

/// `VIR_PERF_EVENT_*` names, in libvirt's order.
pub const PERF_EVENTS: [&str; 22] = [
    "cmt",
    "mbmt",
    "mbml",
    "cpu_cycles",
    "instructions",
    "cache_references",
    "cache_misses",
    "branch_instructions",
    "branch_misses",
    "bus_cycles",
    "stalled_cycles_frontend",
    "stalled_cycles_backend",
    "ref_cpu_cycles",
    "cpu_clock",
    "task_clock",
    "page_faults",
    "context_switches",
    "cpu_migrations",
    "page_faults_min",
    "page_faults_maj",
    "alignment_faults",
    "emulation_faults",
];

/// `<numatune><memory mode=...>` names, indexed by `VIR_DOMAIN_NUMATUNE_MEM_*`.
pub const NUMA_MODES: [&str; 4] = ["strict", "preferred", "interleave", "restrictive"];

#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct Tunables {
    /// `<memtune>` limits in KiB; `None` is unlimited.
    pub hard_limit_kib: Option<u64>,
    pub soft_limit_kib: Option<u64>,
    pub swap_hard_limit_kib: Option<u64>,
    /// `<blkiotune><weight>`; 0 is unset.
    pub blkio_weight: u32,
    pub blkio_devices: Vec<BlkioDevice>,
    /// `<numatune><memory>`: the mode (an index into [`NUMA_MODES`]) and the node list.
    pub numa_mode: Option<usize>,
    pub numa_nodeset: Option<Vec<u32>>,
    /// `<numatune><memory placement=...>` ("static" or "auto"), kept as given.
    pub numa_placement: Option<String>,
    /// `<cputune><vcpupin>`: vCPU number and its CPUs, ordered by vCPU.
    pub vcpu_pins: Vec<(u32, Vec<u32>)>,
    /// `<cputune><emulatorpin>`.
    pub emulator_pin: Option<Vec<u32>>,
    /// `<perf><event>`s explicitly set: index into [`PERF_EVENTS`] and enabled, ordered by index.
    pub perf_events: Vec<(usize, bool)>,
}

/// The block I/O throttling fields, in libvirt's order (`VIR_DOMAIN_BLOCK_IOTUNE_*`); `group_name` sits between
/// `size_iops_sec` and the `*_max_length` ones.
pub const IOTUNE_FIELDS: [&str; 19] = [
    "total_bytes_sec",
    "read_bytes_sec",
    "write_bytes_sec",
    "total_iops_sec",
    "read_iops_sec",
    "write_iops_sec",
    "total_bytes_sec_max",
    "read_bytes_sec_max",
    "write_bytes_sec_max",
    "total_iops_sec_max",
    "read_iops_sec_max",
    "write_iops_sec_max",
    "size_iops_sec",
    "total_bytes_sec_max_length",
    "read_bytes_sec_max_length",
    "write_bytes_sec_max_length",
    "total_iops_sec_max_length",
    "read_iops_sec_max_length",
    "write_iops_sec_max_length",
];

/// How many of [`IOTUNE_FIELDS`] come before `group_name`.
pub const IOTUNE_FIELDS_BEFORE_GROUP: usize = 13;

/// A disk's `<iotune>`: values by [`IOTUNE_FIELDS`] index (0 is unset) and the throttle group's name.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct BlockIoTune {
    pub values: [u64; 19],
    pub group_name: Option<String>,
}

impl BlockIoTune {
    /// The value of a field by name (0 for an unknown one).
    pub fn get(&self, field: &str) -> u64 {
        IOTUNE_FIELDS
            .iter()
            .position(|f| *f == field)
            .map(|i| self.values[i])
            .unwrap_or(0)
    }
}

/// Reads a `<disk>`'s `<iotune>`.
pub(crate) fn parse_iotune(cx: &Ctx, disk: &Node) -> Result<BlockIoTune> {
    let mut iotune = BlockIoTune::default();
    if let Some(node) = disk.child("iotune") {
        for (index, field) in IOTUNE_FIELDS.iter().enumerate() {
            if let Some(child) = node.child(field) {
                iotune.values[index] = decimal(cx, child)?;
            }
        }
        iotune.group_name = node.child_text("group_name").map(str::to_string);
    }
    Ok(iotune)
}

/// Writes a `<disk>`'s `<iotune>` when anything is set.
pub(crate) fn format_iotune(w: &mut XmlWriter, iotune: &BlockIoTune) {
    if iotune.values.iter().all(|v| *v == 0) && iotune.group_name.is_none() {
        return;
    }
    w.open("iotune", Attrs::new());
    for (index, field) in IOTUNE_FIELDS.iter().enumerate() {
        if index == IOTUNE_FIELDS_BEFORE_GROUP {
            if let Some(group) = &iotune.group_name {
                w.text("group_name", Attrs::new(), group);
            }
        }
        if iotune.values[index] != 0 {
            w.text(field, Attrs::new(), &iotune.values[index].to_string());
        }
    }
    w.close("iotune");
}

/// One `<blkiotune><device>`; zero values are unset.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct BlkioDevice {
    pub path: String,
    pub weight: u32,
    pub read_iops_sec: u64,
    pub write_iops_sec: u64,
    pub read_bytes_sec: u64,
    pub write_bytes_sec: u64,
}

impl BlkioDevice {
    fn is_empty(&self) -> bool {
        self.weight == 0
            && self.read_iops_sec == 0
            && self.write_iops_sec == 0
            && self.read_bytes_sec == 0
            && self.write_bytes_sec == 0
    }
}

fn bad_list(text: &str) -> Error {
    Error::with_detail(
        ErrorCode::INVALID_ARG,
        ErrorDomain::NONE,
        format!("Failed to parse bitmap '{text}'"),
    )
}

/// Parses a CPU/node list ("0-3,^2,5") into sorted, distinct numbers below [`CPUMASK_LEN`].
pub fn parse_cpu_list(text: &str) -> Result<Vec<u32>> {
    let mut set = std::collections::BTreeSet::new();
    let mut excluded = std::collections::BTreeSet::new();
    for part in text.split(',').map(str::trim) {
        let (negated, part) = match part.strip_prefix('^') {
            Some(rest) => (true, rest),
            None => (false, part),
        };
        let (low, high) = match part.split_once('-') {
            Some((low, high)) => (low.trim(), high.trim()),
            None => (part, part),
        };
        let (Some(low), Some(high)) = (parse_decimal::<u32>(low), parse_decimal::<u32>(high))
        else {
            return Err(bad_list(text));
        };
        if low > high || high >= CPUMASK_LEN || (negated && low != high) {
            return Err(bad_list(text));
        }
        if negated {
            excluded.insert(low);
        } else {
            set.extend(low..=high);
        }
    }
    Ok(set.difference(&excluded).copied().collect())
}

/// Formats sorted numbers as libvirt does: runs as "a-b", joined by commas.
pub fn format_cpu_list(cpus: &[u32]) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < cpus.len() {
        let start = cpus[i];
        let mut end = start;
        while i + 1 < cpus.len() && cpus[i + 1] == end + 1 {
            i += 1;
            end = cpus[i];
        }
        out.push(if start == end {
            start.to_string()
        } else {
            format!("{start}-{end}")
        });
        i += 1;
    }
    out.join(",")
}

/// The CPUs set in a byte map (bit `n % 8` of byte `n / 8` is CPU `n`).
pub fn cpus_of_map(map: &[u8]) -> Vec<u32> {
    let mut cpus = Vec::new();
    for (byte_index, byte) in map.iter().enumerate() {
        for bit in 0..8 {
            if byte & (1 << bit) != 0 {
                if let Ok(cpu) = u32::try_from(byte_index * 8 + bit) {
                    cpus.push(cpu);
                }
            }
        }
    }
    cpus
}

/// A `map_len`-byte map with `cpus` set (those that fit).
pub fn map_of_cpus(cpus: &[u32], map_len: usize) -> Vec<u8> {
    let mut map = vec![0u8; map_len];
    for cpu in cpus {
        let cpu = *cpu as usize;
        if let Some(byte) = map.get_mut(cpu / 8) {
            *byte |= 1 << (cpu % 8);
        }
    }
    map
}

fn decimal<T: std::str::FromStr>(cx: &Ctx, node: &Node) -> Result<T> {
    parse_decimal(node.text.trim()).ok_or_else(|| {
        cx.xml_error(format!(
            "Invalid value '{}' for element or attribute '{}'",
            node.text, node.name
        ))
    })
}

fn cpu_list_attr(cx: &Ctx, node: &Node, attr: &str) -> Result<Option<Vec<u32>>> {
    match node.attr(attr) {
        None => Ok(None),
        Some("") => Ok(Some(Vec::new())),
        Some(text) => parse_cpu_list(text)
            .map(Some)
            .map_err(|_| cx.invalid_attr(&node.name, attr, text)),
    }
}

/// Reads the tunables elements of a `<domain>` root.
pub(crate) fn parse(cx: &Ctx, root: &Node) -> Result<Tunables> {
    let mut tunables = Tunables::default();
    if let Some(memtune) = root.child("memtune") {
        for (name, slot) in [
            ("hard_limit", &mut tunables.hard_limit_kib),
            ("soft_limit", &mut tunables.soft_limit_kib),
            ("swap_hard_limit", &mut tunables.swap_hard_limit_kib),
        ] {
            if let Some(node) = memtune.child(name) {
                *slot = Some(cx.scaled(node, ScaleDefault::KiB)?);
            }
        }
    }
    if let Some(blkiotune) = root.child("blkiotune") {
        if let Some(weight) = blkiotune.child("weight") {
            tunables.blkio_weight = decimal(cx, weight)?;
        }
        for node in blkiotune.children_named("device") {
            let mut device = BlkioDevice {
                path: node.child_text("path").unwrap_or_default().to_string(),
                ..BlkioDevice::default()
            };
            if let Some(n) = node.child("weight") {
                device.weight = decimal(cx, n)?;
            }
            for (name, slot) in [
                ("read_iops_sec", &mut device.read_iops_sec),
                ("write_iops_sec", &mut device.write_iops_sec),
                ("read_bytes_sec", &mut device.read_bytes_sec),
                ("write_bytes_sec", &mut device.write_bytes_sec),
            ] {
                if let Some(n) = node.child(name) {
                    *slot = decimal(cx, n)?;
                }
            }
            if !device.path.is_empty() {
                tunables.blkio_devices.push(device);
            }
        }
    }
    if let Some(cputune) = root.child("cputune") {
        for pin in cputune.children_named("vcpupin") {
            let vcpu = cx
                .u32_attr(pin, "vcpu")?
                .ok_or_else(|| cx.missing_attr("vcpupin", "vcpu"))?;
            let cpus = cpu_list_attr(cx, pin, "cpuset")?
                .ok_or_else(|| cx.missing_attr("vcpupin", "cpuset"))?;
            tunables.vcpu_pins.retain(|(v, _)| *v != vcpu);
            tunables.vcpu_pins.push((vcpu, cpus));
        }
        tunables.vcpu_pins.sort_by_key(|(vcpu, _)| *vcpu);
        if let Some(pin) = cputune.child("emulatorpin") {
            tunables.emulator_pin = cpu_list_attr(cx, pin, "cpuset")?;
        }
    }
    if let Some(perf) = root.child("perf") {
        for event in perf.children_named("event") {
            let name = event
                .attr("name")
                .ok_or_else(|| cx.missing_attr("event", "name"))?;
            let index = PERF_EVENTS
                .iter()
                .position(|known| *known == name)
                .ok_or_else(|| cx.invalid_attr("event", "name", name))?;
            let enabled = cx
                .bool_attr(event, "enabled", ("yes", "no"))?
                .ok_or_else(|| cx.missing_attr("event", "enabled"))?;
            tunables.perf_events.retain(|(i, _)| *i != index);
            tunables.perf_events.push((index, enabled));
        }
        tunables.perf_events.sort_by_key(|(index, _)| *index);
    }
    if let Some(memory) = root.child("numatune").and_then(|n| n.child("memory")) {
        if let Some(mode) = memory.attr("mode") {
            let index = NUMA_MODES
                .iter()
                .position(|m| *m == mode)
                .ok_or_else(|| cx.invalid_attr("memory", "mode", mode))?;
            tunables.numa_mode = Some(index);
        }
        tunables.numa_nodeset = cpu_list_attr(cx, memory, "nodeset")?;
        tunables.numa_placement = cx.enum_attr(memory, "placement", &["static", "auto"])?;
    }
    Ok(tunables)
}

/// `<blkiotune>` and `<memtune>`, which libvirt writes right after `<currentMemory>`.
pub(crate) fn format_memory_side(w: &mut XmlWriter, t: &Tunables) {
    let devices: Vec<&BlkioDevice> = t.blkio_devices.iter().filter(|d| !d.is_empty()).collect();
    if t.blkio_weight != 0 || !devices.is_empty() {
        w.open("blkiotune", Attrs::new());
        if t.blkio_weight != 0 {
            w.text("weight", Attrs::new(), &t.blkio_weight.to_string());
        }
        for device in devices {
            w.open("device", Attrs::new());
            w.text("path", Attrs::new(), &device.path);
            if device.weight != 0 {
                w.text("weight", Attrs::new(), &device.weight.to_string());
            }
            for (name, value) in [
                ("read_iops_sec", device.read_iops_sec),
                ("write_iops_sec", device.write_iops_sec),
                ("read_bytes_sec", device.read_bytes_sec),
                ("write_bytes_sec", device.write_bytes_sec),
            ] {
                if value != 0 {
                    w.text(name, Attrs::new(), &value.to_string());
                }
            }
            w.close("device");
        }
        w.close("blkiotune");
    }
    let limits = [
        ("hard_limit", t.hard_limit_kib),
        ("soft_limit", t.soft_limit_kib),
        ("swap_hard_limit", t.swap_hard_limit_kib),
    ];
    if limits.iter().any(|(_, v)| v.is_some()) {
        w.open("memtune", Attrs::new());
        for (name, value) in limits {
            if let Some(kib) = value {
                w.text(name, Attrs::new().with("unit", "KiB"), &kib.to_string());
            }
        }
        w.close("memtune");
    }
}

/// `<cputune>` and `<numatune>`, which libvirt writes right after `<vcpu>`.
pub(crate) fn format_cpu_side(w: &mut XmlWriter, t: &Tunables) {
    if !t.vcpu_pins.is_empty() || t.emulator_pin.is_some() {
        w.open("cputune", Attrs::new());
        for (vcpu, cpus) in &t.vcpu_pins {
            w.empty(
                "vcpupin",
                Attrs::new()
                    .with("vcpu", vcpu)
                    .with("cpuset", format_cpu_list(cpus)),
            );
        }
        if let Some(cpus) = &t.emulator_pin {
            w.empty(
                "emulatorpin",
                Attrs::new().with("cpuset", format_cpu_list(cpus)),
            );
        }
        w.close("cputune");
    }
    if t.numa_mode.is_some() || t.numa_nodeset.is_some() || t.numa_placement.is_some() {
        let mode = NUMA_MODES[t.numa_mode.unwrap_or(0).min(NUMA_MODES.len() - 1)];
        w.open("numatune", Attrs::new());
        w.empty(
            "memory",
            Attrs::new()
                .with("mode", mode)
                .opt("nodeset", t.numa_nodeset.as_deref().map(format_cpu_list))
                .opt("placement", t.numa_placement.as_deref()),
        );
        w.close("numatune");
    }
}

/// `<perf>`, which libvirt writes after the lifecycle actions.
pub(crate) fn format_perf(w: &mut XmlWriter, t: &Tunables) {
    if t.perf_events.is_empty() {
        return;
    }
    w.open("perf", Attrs::new());
    for (index, enabled) in &t.perf_events {
        let name = PERF_EVENTS.get(*index).copied().unwrap_or("cmt");
        w.empty(
            "event",
            Attrs::new()
                .with("name", name)
                .with("enabled", if *enabled { "yes" } else { "no" }),
        );
    }
    w.close("perf");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tunables_survive_a_round_trip_through_the_domain_xml() {
        let xml = "<domain type='test'><name>t</name><memory>8192</memory>\
            <blkiotune><weight>500</weight><device><path>/dev/sda</path><weight>300</weight>\
            <write_bytes_sec>9</write_bytes_sec></device></blkiotune>\
            <memtune><hard_limit unit='MiB'>2</hard_limit></memtune><vcpu>2</vcpu>\
            <cputune><vcpupin vcpu='1' cpuset='0-2,^1'/><emulatorpin cpuset='3'/></cputune>\
            <numatune><memory mode='interleave' nodeset='0-1'/></numatune>\
            <os><type>hvm</type></os></domain>";
        let def = crate::model::DomainDef::from_xml(xml, true).unwrap();
        let t = &def.tunables;
        assert_eq!(t.hard_limit_kib, Some(2048));
        assert_eq!(t.blkio_devices[0].write_bytes_sec, 9);
        assert_eq!(t.vcpu_pins, [(1, vec![0, 2])]);
        assert_eq!(
            (t.numa_mode, t.numa_nodeset.as_deref()),
            (Some(2), Some(&[0, 1][..]))
        );
        let out = def.to_xml(&crate::model::DomainXmlOptions::default());
        assert!(out.contains("<vcpupin vcpu='1' cpuset='0,2'/>"), "{out}");
        assert!(
            out.contains("<hard_limit unit='KiB'>2048</hard_limit>"),
            "{out}"
        );
        let again = crate::model::DomainDef::from_xml(&out, true).unwrap();
        assert_eq!(again.tunables, def.tunables);
    }

    #[test]
    fn cpu_lists_parse_and_format_like_libvirt() {
        assert_eq!(parse_cpu_list("0-3,^2,5").unwrap(), [0, 1, 3, 5]);
        assert_eq!(format_cpu_list(&[0, 1, 3, 5, 6, 7]), "0-1,3,5-7");
        assert_eq!(format_cpu_list(&[0, 2]), "0,2");
        for bad in ["", "a", "3-1", "1,,2", "16384", "^1-2"] {
            assert!(parse_cpu_list(bad).is_err(), "{bad}");
        }
        assert_eq!(cpus_of_map(&[0b0000_1100, 1]), [2, 3, 8]);
        assert_eq!(map_of_cpus(&[2, 3, 8, 99], 2), [0b0000_1100, 1]);
    }
}
