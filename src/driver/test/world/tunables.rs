//! The test world's resource tunables: memory, blkio, NUMA and scheduler parameters, vCPU and emulator pinning,
//! read and changed with the rules and wording of libvirt's test driver. Values live in each definition's
//! `tunables`, so they persist and show in the domain XML.

use super::*;
use crate::driver::{TunableKind, TypedParam, TypedValue};
use crate::model::tunables::{
    cpus_of_map, format_cpu_list, map_of_cpus, parse_cpu_list, BlkioDevice, BlockIoTune, Tunables,
    IOTUNE_FIELDS, IOTUNE_FIELDS_BEFORE_GROUP, NUMA_MODES, PERF_EVENTS,
};

/// The highest throttle libvirt's test driver accepts.
const BLOCK_IOTUNE_MAX: u64 = 1_000_000_000_000_000;

/// The clock every guest of libvirt's test driver starts with (seconds since the epoch).
pub(super) const GUEST_CLOCK_SECONDS: i64 = 627_319_920;

/// `VIR_DOMAIN_MEMORY_PARAM_UNLIMITED`: what an unset memory limit reads as.
pub(in crate::driver::test) const MEMORY_UNLIMITED: u64 = 9_007_199_254_740_991;

/// The scheduler weight libvirt's test driver reports (and ignores changes to).
const SCHEDULER_WEIGHT_FIELD: &str = "weight";
/// The scheduler weight libvirt's test driver reports for every domain.
const SCHEDULER_WEIGHT: u32 = 50;

/// The blkio per-device parameters, in the order libvirt reports them.
const BLKIO_DEVICE_FIELDS: [&str; 5] = [
    "device_weight",
    "device_read_iops_sec",
    "device_write_iops_sec",
    "device_read_bytes_sec",
    "device_write_bytes_sec",
];

/// `VIR_TYPED_PARAM_*` names, as libvirt's messages spell them.
fn type_name(value: &TypedValue) -> &'static str {
    match value {
        TypedValue::Int(_) => "int",
        TypedValue::UInt(_) => "uint",
        TypedValue::LLong(_) => "llong",
        TypedValue::ULLong(_) => "ullong",
        TypedValue::Double(_) => "double",
        TypedValue::Boolean(_) => "boolean",
        TypedValue::String(_) => "string",
    }
}

/// libvirt's `virTypedParamsValidate`: every field known, of its type, given once.
fn validate(params: &[TypedParam], allowed: &[(&str, &str)]) -> Result<()> {
    for (index, param) in params.iter().enumerate() {
        let Some((_, wanted)) = allowed.iter().find(|(name, _)| *name == param.field) else {
            return Err(Error::with_detail(
                ErrorCode::ARGUMENT_UNSUPPORTED,
                ErrorDomain::NONE,
                format!("parameter '{}' not supported", param.field),
            ));
        };
        let actual = type_name(&param.value);
        if actual != *wanted {
            return Err(Error::invalid_arg(
                ErrorDomain::NONE,
                format!(
                    "invalid type '{actual}' for parameter '{}', expected '{wanted}'",
                    param.field
                ),
            ));
        }
        if params[..index].iter().any(|p| p.field == param.field) {
            return Err(Error::invalid_arg(
                ErrorDomain::NONE,
                format!("parameter '{}' occurs multiple times", param.field),
            ));
        }
    }
    Ok(())
}

fn limit_param(field: &str, kib: Option<u64>) -> TypedParam {
    TypedParam {
        field: field.into(),
        value: TypedValue::ULLong(kib.unwrap_or(MEMORY_UNLIMITED)),
    }
}

fn string_param(field: &str, value: String) -> TypedParam {
    TypedParam {
        field: field.into(),
        value: TypedValue::String(value),
    }
}

/// One blkio device field by its index in [`BLKIO_DEVICE_FIELDS`].
fn device_value(device: &BlkioDevice, index: usize) -> u64 {
    match index {
        0 => u64::from(device.weight),
        1 => device.read_iops_sec,
        2 => device.write_iops_sec,
        3 => device.read_bytes_sec,
        _ => device.write_bytes_sec,
    }
}

fn set_device_value(device: &mut BlkioDevice, index: usize, value: u64) {
    match index {
        0 => device.weight = u32::try_from(value).unwrap_or(u32::MAX),
        1 => device.read_iops_sec = value,
        2 => device.write_iops_sec = value,
        3 => device.read_bytes_sec = value,
        _ => device.write_bytes_sec = value,
    }
}

/// Parses "path,value,path,value" and merges it into `devices` the way libvirt does: a known path gets the
/// field replaced, a new path is appended unless its value is zero.
fn merge_blkio_devices(
    devices: &mut Vec<BlkioDevice>,
    field_index: usize,
    text: &str,
) -> Result<()> {
    let field = BLKIO_DEVICE_FIELDS[field_index];
    if text.is_empty() {
        return Ok(());
    }
    let parts: Vec<&str> = text.split(',').collect();
    if !parts.len().is_multiple_of(2) {
        return Err(Error::invalid_arg(
            ErrorDomain::NONE,
            format!("unable to parse blkio device '{field}' '{text}'"),
        ));
    }
    let mut parsed = Vec::new();
    for pair in parts.chunks(2) {
        let (path, value) = (pair[0], pair[1]);
        // The weight and IOPS fields are unsigned ints, the byte rates unsigned long longs.
        let digits = !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit());
        let number = if !digits {
            None
        } else if field_index <= 2 {
            value.parse::<u32>().ok().map(u64::from)
        } else {
            value.parse::<u64>().ok()
        };
        let Some(number) = number else {
            return Err(Error::invalid_arg(
                ErrorDomain::NONE,
                format!("invalid value '{value}' for parameter '{field}' of device '{path}'"),
            ));
        };
        parsed.push((path.to_string(), number));
    }
    for (path, number) in parsed {
        match devices.iter_mut().find(|d| d.path == path) {
            Some(device) => set_device_value(device, field_index, number),
            None if number != 0 => {
                let mut device = BlkioDevice {
                    path,
                    ..BlkioDevice::default()
                };
                set_device_value(&mut device, field_index, number);
                devices.push(device);
            }
            None => {}
        }
    }
    Ok(())
}

/// libvirt's `virCheckFlags` in the test driver: an invalid-argument error whose message has no prefix.
fn check_flags(flags: u32, allowed: u32, function: &str) -> Result<()> {
    let unknown = flags & !allowed;
    if unknown != 0 {
        return Err(Error::new(
            ErrorCode::INVALID_ARG,
            ErrorDomain::TEST,
            format!("unsupported flags (0x{unknown:x}) in function {function}"),
        ));
    }
    Ok(())
}

/// The host CPUs as a byte map: all of them.
fn all_host_cpus(host_cpus: u32) -> Vec<u32> {
    (0..host_cpus).collect()
}

impl World {
    /// The one definition a read or change with `impact_flags` addresses.
    fn one_def(obj: &DomainObj, impact_flags: u32) -> Result<&DomainDef> {
        let impact = domains::impact(obj, impact_flags, true)?;
        let def = if impact.live {
            obj.live_def.as_ref()
        } else {
            obj.persistent_def.as_ref()
        };
        Ok(def.unwrap_or_else(|| obj.def()))
    }

    /// Applies `change` to the one definition `impact_flags` addresses, then saves the domain.
    fn change_one_def(
        &mut self,
        store: &dyn Persist,
        dom: &DomainRef,
        impact_flags: u32,
        change: impl FnOnce(&mut Tunables, bool) -> Result<()>,
    ) -> Result<()> {
        let mut changed = self.domain(dom)?.clone();
        let impact = domains::impact(&changed, impact_flags, true)?;
        let def = if impact.live {
            changed.live_def.as_mut()
        } else {
            changed.persistent_def.as_mut()
        };
        let Some(def) = def else {
            return Err(no_domain());
        };
        change(&mut def.tunables, impact.live)?;
        store.save_domain(&changed)?;
        self.domains.insert(changed.uuid(), changed);
        Ok(())
    }

    /// `virDomainGet{Memory,Blkio,Numa}Parameters`: every parameter of the family.
    pub(in crate::driver::test) fn domain_tunables(
        &self,
        dom: &DomainRef,
        kind: TunableKind,
        nparams: u32,
        get_flags: u32,
    ) -> Result<Vec<TypedParam>> {
        let api = match kind {
            TunableKind::Memory => "testDomainGetMemoryParameters",
            TunableKind::Blkio => "testDomainGetBlkioParameters",
            TunableKind::Numa => "testDomainGetNumaParameters",
            TunableKind::Scheduler => "testDomainGetSchedulerParametersFlags",
            TunableKind::Perf => "testDomainGetPerfEvents",
        };
        // libvirt's test driver takes no flag at all for scheduler parameters, not even STRING_OKAY.
        let allowed = if kind == TunableKind::Scheduler {
            0
        } else {
            flags::AFFECT_LIVE | flags::AFFECT_CONFIG | flags::TYPED_PARAM_STRING_OKAY
        };
        check_flags(get_flags, allowed, api)?;
        // Like libvirt's test driver, a count query looks at no domain: the defaults have the same length.
        let defaults = Tunables::default();
        let obj = match nparams {
            0 if kind != TunableKind::Scheduler => None,
            _ => Some(self.domain(dom)?),
        };
        if kind == TunableKind::Scheduler {
            return Ok(vec![TypedParam {
                field: SCHEDULER_WEIGHT_FIELD.into(),
                value: TypedValue::UInt(SCHEDULER_WEIGHT),
            }]);
        }
        let t = match obj {
            Some(obj) => &Self::one_def(obj, get_flags)?.tunables,
            None => &defaults,
        };
        Ok(match kind {
            TunableKind::Memory => vec![
                limit_param("hard_limit", t.hard_limit_kib),
                limit_param("soft_limit", t.soft_limit_kib),
                limit_param("swap_hard_limit", t.swap_hard_limit_kib),
            ],
            TunableKind::Blkio => {
                let mut params = vec![TypedParam {
                    field: "weight".into(),
                    value: TypedValue::UInt(t.blkio_weight),
                }];
                for (index, field) in BLKIO_DEVICE_FIELDS.iter().enumerate() {
                    let listed: Vec<String> = t
                        .blkio_devices
                        .iter()
                        .filter(|d| device_value(d, index) != 0)
                        .map(|d| format!("{},{}", d.path, device_value(d, index)))
                        .collect();
                    params.push(string_param(field, listed.join(",")));
                }
                params
            }
            TunableKind::Perf => PERF_EVENTS
                .iter()
                .enumerate()
                .map(|(index, name)| TypedParam {
                    field: (*name).into(),
                    value: TypedValue::Boolean(t.perf_events.contains(&(index, true))),
                })
                .collect(),
            TunableKind::Numa | TunableKind::Scheduler => vec![
                TypedParam {
                    field: "numa_mode".into(),
                    value: TypedValue::Int(
                        i32::try_from(t.numa_mode.unwrap_or(0)).unwrap_or_default(),
                    ),
                },
                string_param(
                    "numa_nodeset",
                    t.numa_nodeset
                        .as_deref()
                        .map(format_cpu_list)
                        .unwrap_or_default(),
                ),
            ],
        })
    }

    /// `virDomainSet{Memory,Blkio,Numa,Scheduler}Parameters`.
    pub(in crate::driver::test) fn set_domain_tunables(
        &mut self,
        store: &dyn Persist,
        dom: &DomainRef,
        kind: TunableKind,
        params: &[TypedParam],
        set_flags: u32,
    ) -> Result<()> {
        let affect = flags::AFFECT_LIVE | flags::AFFECT_CONFIG;
        match kind {
            TunableKind::Memory => {
                check_flags(set_flags, affect, "testDomainSetMemoryParameters")?;
                validate(
                    params,
                    &[
                        ("hard_limit", "ullong"),
                        ("soft_limit", "ullong"),
                        ("swap_hard_limit", "ullong"),
                    ],
                )?;
                let find = |name: &str| {
                    params
                        .iter()
                        .find_map(|p| match (&p.value, p.field == name) {
                            (TypedValue::ULLong(v), true) => Some(*v),
                            _ => None,
                        })
                };
                let (hard, soft, swap) = (
                    find("hard_limit"),
                    find("soft_limit"),
                    find("swap_hard_limit"),
                );
                // libvirt compares against the domain's current definition, whichever one is changed.
                let current = &self.domain(dom)?.def().tunables;
                if hard.is_some() || swap.is_some() {
                    let hard_now =
                        hard.unwrap_or(current.hard_limit_kib.unwrap_or(MEMORY_UNLIMITED));
                    let swap_now =
                        swap.unwrap_or(current.swap_hard_limit_kib.unwrap_or(MEMORY_UNLIMITED));
                    if hard_now > swap_now {
                        return Err(Error::invalid_arg(
                            ErrorDomain::TEST,
                            "memory hard_limit tunable value must be lower than or equal to swap_hard_limit",
                        ));
                    }
                }
                let as_limit = |kib: u64| (kib < MEMORY_UNLIMITED).then_some(kib);
                self.change_one_def(store, dom, set_flags, |t, _| {
                    if let Some(kib) = soft {
                        t.soft_limit_kib = as_limit(kib);
                    }
                    if let Some(kib) = hard {
                        t.hard_limit_kib = as_limit(kib);
                    }
                    if let Some(kib) = swap {
                        t.swap_hard_limit_kib = as_limit(kib);
                    }
                    Ok(())
                })
            }
            TunableKind::Blkio => {
                check_flags(set_flags, affect, "testDomainSetBlkioParameters")?;
                let mut allowed = vec![("weight", "uint")];
                allowed.extend(BLKIO_DEVICE_FIELDS.iter().map(|f| (*f, "string")));
                validate(params, &allowed)?;
                self.change_one_def(store, dom, set_flags, |t, _| {
                    for param in params {
                        match &param.value {
                            TypedValue::UInt(weight) => t.blkio_weight = *weight,
                            TypedValue::String(text) => {
                                let index = BLKIO_DEVICE_FIELDS
                                    .iter()
                                    .position(|f| *f == param.field)
                                    .unwrap_or_default();
                                merge_blkio_devices(&mut t.blkio_devices, index, text)?;
                            }
                            _ => {}
                        }
                    }
                    Ok(())
                })
            }
            TunableKind::Numa => {
                check_flags(set_flags, affect, "testDomainSetNumaParameters")?;
                validate(params, &[("numa_mode", "int"), ("numa_nodeset", "string")])?;
                let mut mode = None;
                let mut nodeset = None;
                for param in params {
                    match &param.value {
                        TypedValue::Int(value) => {
                            let index = usize::try_from(*value)
                                .ok()
                                .filter(|i| *i < NUMA_MODES.len())
                                .ok_or_else(|| {
                                    Error::invalid_arg(
                                        ErrorDomain::TEST,
                                        format!("unsupported numatune mode: '{value}'"),
                                    )
                                })?;
                            mode = Some(index);
                        }
                        TypedValue::String(text) => {
                            let nodes = parse_cpu_list(text)?;
                            if nodes.is_empty() {
                                return Err(op_invalid(format!(
                                    "Invalid nodeset of 'numatune': {text}"
                                )));
                            }
                            nodeset = Some(nodes);
                        }
                        _ => {}
                    }
                }
                self.change_one_def(store, dom, set_flags, |t, live| {
                    let existing = t.numa_mode.or(t.numa_nodeset.as_ref().map(|_| 0));
                    if let (true, Some(wanted), Some(now)) = (live, mode, existing) {
                        if wanted != now {
                            return Err(op_invalid(
                                "can't change numatune mode for running domain",
                            ));
                        }
                    }
                    let nodeset = nodeset.or_else(|| t.numa_nodeset.clone());
                    if nodeset.is_none() {
                        return Err(Error::with_detail(
                            ErrorCode::CONFIG_UNSUPPORTED,
                            ErrorDomain::DOMAIN,
                            "nodeset for NUMA memory tuning must be set if 'placement' is 'static'",
                        ));
                    }
                    t.numa_mode = Some(mode.or(t.numa_mode).unwrap_or(0));
                    t.numa_nodeset = nodeset;
                    Ok(())
                })
            }
            TunableKind::Perf => {
                check_flags(set_flags, affect, "testDomainSetPerfEvents")?;
                let allowed: Vec<(&str, &str)> =
                    PERF_EVENTS.iter().map(|name| (*name, "boolean")).collect();
                validate(params, &allowed)?;
                self.change_one_def(store, dom, set_flags, |t, _| {
                    for param in params {
                        let index = PERF_EVENTS.iter().position(|name| *name == param.field);
                        if let (Some(index), TypedValue::Boolean(enabled)) = (index, &param.value) {
                            t.perf_events.retain(|(i, _)| *i != index);
                            t.perf_events.push((index, *enabled));
                        }
                    }
                    t.perf_events.sort_by_key(|(index, _)| *index);
                    Ok(())
                })
            }
            TunableKind::Scheduler => {
                // libvirt's test driver checks the weight and keeps nothing: its weight is always 50.
                check_flags(set_flags, 0, "testDomainSetSchedulerParametersFlags")?;
                validate(params, &[(SCHEDULER_WEIGHT_FIELD, "uint")])?;
                self.domain(dom).map(|_| ())
            }
        }
    }

    /// `virDomainGetBlockIoTune`: the 20 throttling parameters of a disk (by target or source).
    pub(in crate::driver::test) fn domain_block_io_tune(
        &self,
        dom: &DomainRef,
        disk: Option<&str>,
        nparams: u32,
        get_flags: u32,
    ) -> Result<Vec<TypedParam>> {
        check_flags(
            get_flags,
            flags::AFFECT_LIVE | flags::AFFECT_CONFIG | flags::TYPED_PARAM_STRING_OKAY,
            "testDomainGetBlockIoTune",
        )?;
        let iotune = if nparams == 0 {
            BlockIoTune::default()
        } else {
            let def = Self::one_def(self.domain(dom)?, get_flags)?;
            let path = disk.unwrap_or("(null)");
            let found = def
                .devices
                .disks
                .iter()
                .find(|d| d.target_dev == path || d.source.as_deref() == Some(path));
            let Some(found) = found else {
                return Err(Error::invalid_arg(
                    ErrorDomain::TEST,
                    format!("disk '{path}' was not found in the domain config"),
                ));
            };
            found.iotune.clone()
        };
        let mut params = Vec::with_capacity(20);
        for (index, field) in IOTUNE_FIELDS.iter().enumerate() {
            if index == IOTUNE_FIELDS_BEFORE_GROUP {
                params.push(string_param(
                    "group_name",
                    iotune.group_name.clone().unwrap_or_default(),
                ));
            }
            params.push(TypedParam {
                field: (*field).into(),
                value: TypedValue::ULLong(iotune.values[index]),
            });
        }
        Ok(params)
    }

    /// `virDomainSetBlockIoTune`, with libvirt's test driver's checks.
    pub(in crate::driver::test) fn set_domain_block_io_tune(
        &mut self,
        store: &dyn Persist,
        dom: &DomainRef,
        disk: &str,
        params: &[TypedParam],
        set_flags: u32,
    ) -> Result<()> {
        check_flags(
            set_flags,
            flags::AFFECT_LIVE | flags::AFFECT_CONFIG,
            "testDomainSetBlockIoTune",
        )?;
        let mut allowed: Vec<(&str, &str)> = IOTUNE_FIELDS.iter().map(|f| (*f, "ullong")).collect();
        allowed.push(("group_name", "string"));
        validate(params, &allowed)?;
        let mut changed = self.domain(dom)?.clone();
        let impact = domains::impact(&changed, set_flags, true)?;
        let def = if impact.live {
            changed.live_def.as_mut()
        } else {
            changed.persistent_def.as_mut()
        };
        let target = def.and_then(|def| {
            def.devices
                .disks
                .iter_mut()
                .find(|d| d.target_dev == disk || d.source.as_deref() == Some(disk))
        });
        let Some(target) = target else {
            return Err(Error::invalid_arg(
                ErrorDomain::TEST,
                format!("missing persistent configuration for disk '{disk}'"),
            ));
        };
        let mut info = target.iotune.clone();
        for param in params {
            match &param.value {
                TypedValue::ULLong(value) => {
                    if *value > BLOCK_IOTUNE_MAX {
                        return Err(Error::with_detail(
                            ErrorCode::ARGUMENT_UNSUPPORTED,
                            ErrorDomain::TEST,
                            format!(
                                "block I/O throttle limit value must be no more than {BLOCK_IOTUNE_MAX}"
                            ),
                        ));
                    }
                    if let Some(index) = IOTUNE_FIELDS.iter().position(|f| *f == param.field) {
                        info.values[index] = *value;
                    }
                }
                TypedValue::String(group) => info.group_name = Some(group.clone()),
                _ => {}
            }
        }
        let v = |name: &str| info.get(name);
        for kind in ["bytes_sec", "iops_sec", "bytes_sec_max", "iops_sec_max"] {
            let total = v(&format!("total_{kind}"));
            if total != 0 && (v(&format!("read_{kind}")) != 0 || v(&format!("write_{kind}")) != 0) {
                return Err(Error::invalid_arg(
                    ErrorDomain::TEST,
                    format!("total and read/write of {kind} cannot be set at the same time"),
                ));
            }
        }
        for field in IOTUNE_FIELDS.iter().take(6) {
            let max = format!("{field}_max");
            if v(field) > v(&max) {
                return Err(Error::invalid_arg(
                    ErrorDomain::TEST,
                    format!("{field} cannot be set higher than {max} "),
                ));
            }
        }
        target.iotune = info;
        store.save_domain(&changed)?;
        self.domains.insert(changed.uuid(), changed);
        Ok(())
    }

    /// `virDomainGetTime`: the guest clock of a running (not paused) domain.
    pub(in crate::driver::test) fn domain_time(
        &self,
        dom: &DomainRef,
        time_flags: u32,
    ) -> Result<(i64, u32)> {
        check_flags(time_flags, 0, "testDomainGetTime")?;
        let obj = self.domain(dom)?;
        if obj.state != DomainState::Running {
            return Err(op_invalid("domain is not running"));
        }
        let uuid = obj.uuid();
        Ok(self
            .guest_times
            .get(&uuid)
            .copied()
            .unwrap_or((GUEST_CLOCK_SECONDS, 0)))
    }

    /// `virDomainSetTime`: kept in memory only, as libvirt's test driver keeps it.
    pub(in crate::driver::test) fn set_domain_time(
        &mut self,
        dom: &DomainRef,
        seconds: i64,
        nseconds: u32,
        time_flags: u32,
    ) -> Result<()> {
        check_flags(time_flags, flags::TIME_SYNC, "testDomainSetTime")?;
        let obj = self.domain(dom)?;
        if !obj.is_active() {
            return Err(not_running());
        }
        let uuid = obj.uuid();
        self.guest_times.insert(uuid, (seconds, nseconds));
        Ok(())
    }

    /// `virDomainPinVcpuFlags`: the live definition of a running domain only, no flags.
    pub(in crate::driver::test) fn pin_domain_vcpu(
        &mut self,
        store: &dyn Persist,
        dom: &DomainRef,
        vcpu: u32,
        cpumap: &[u8],
        pin_flags: u32,
    ) -> Result<()> {
        check_flags(pin_flags, 0, "testDomainPinVcpuFlags")?;
        let mut changed = self.domain(dom)?.clone();
        if !changed.is_active() {
            return Err(op_invalid("cannot pin vcpus on an inactive domain"));
        }
        let Some(def) = changed.live_def.as_mut() else {
            return Err(op_invalid("cannot pin vcpus on an inactive domain"));
        };
        if vcpu >= def.current_vcpus {
            return Err(Error::invalid_arg(
                ErrorDomain::TEST,
                format!("requested vcpu '{vcpu}' is not present in the domain"),
            ));
        }
        let pins = &mut def.tunables.vcpu_pins;
        pins.retain(|(v, _)| *v != vcpu);
        pins.push((vcpu, cpus_of_map(cpumap)));
        pins.sort_by_key(|(v, _)| *v);
        store.save_domain(&changed)?;
        self.domains.insert(changed.uuid(), changed);
        Ok(())
    }

    /// `virDomainGetEmulatorPinInfo`: the pinned CPUs, or every host CPU.
    pub(in crate::driver::test) fn domain_emulator_pin_info(
        &self,
        dom: &DomainRef,
        map_len: u32,
        info_flags: u32,
        host_cpus: u32,
    ) -> Result<Vec<u8>> {
        check_flags(
            info_flags,
            flags::AFFECT_LIVE | flags::AFFECT_CONFIG,
            "testDomainGetEmulatorPinInfo",
        )?;
        let def = Self::one_def(self.domain(dom)?, info_flags)?;
        let cpus = def
            .tunables
            .emulator_pin
            .clone()
            .unwrap_or_else(|| all_host_cpus(host_cpus));
        Ok(map_of_cpus(&cpus, map_len as usize))
    }

    /// `virDomainPinEmulator`.
    pub(in crate::driver::test) fn pin_domain_emulator(
        &mut self,
        store: &dyn Persist,
        dom: &DomainRef,
        cpumap: &[u8],
        pin_flags: u32,
    ) -> Result<()> {
        check_flags(
            pin_flags,
            flags::AFFECT_LIVE | flags::AFFECT_CONFIG,
            "testDomainPinEmulator",
        )?;
        let cpus = cpus_of_map(cpumap);
        self.change_one_def(store, dom, pin_flags, |t, _| {
            if cpus.is_empty() {
                return Err(Error::invalid_arg(
                    ErrorDomain::TEST,
                    "Empty cpu list for pinning",
                ));
            }
            t.emulator_pin = Some(cpus);
            Ok(())
        })
    }
}

/// The CPUs vCPU `vcpu` of `def` may run on: its pin, or every host CPU.
pub(super) fn vcpu_cpus(def: &DomainDef, vcpu: u32, host_cpus: u32) -> Vec<u32> {
    def.tunables
        .vcpu_pins
        .iter()
        .find(|(v, _)| *v == vcpu)
        .map(|(_, cpus)| cpus.clone())
        .unwrap_or_else(|| all_host_cpus(host_cpus))
}

/// [`vcpu_cpus`] as a `map_len`-byte map.
pub(super) fn vcpu_map(def: &DomainDef, vcpu: u32, host_cpus: u32, map_len: u32) -> Vec<u8> {
    map_of_cpus(&vcpu_cpus(def, vcpu, host_cpus), map_len as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blkio_device_strings_merge_like_libvirt() {
        let mut devices = Vec::new();
        merge_blkio_devices(&mut devices, 0, "/dev/sda,300,/dev/sdb,200").unwrap();
        merge_blkio_devices(&mut devices, 1, "/dev/sda,10,/dev/sdc,0").unwrap();
        merge_blkio_devices(&mut devices, 0, "/dev/sda,0").unwrap();
        assert_eq!(devices.len(), 2);
        assert_eq!((devices[0].weight, devices[0].read_iops_sec), (0, 10));
        assert_eq!(devices[1].weight, 200);
        let err = merge_blkio_devices(&mut devices, 0, "/dev/sda").unwrap_err();
        assert_eq!(
            err.message,
            "invalid argument: unable to parse blkio device 'device_weight' '/dev/sda'"
        );
        let err = merge_blkio_devices(&mut devices, 0, "/dev/sda,abc").unwrap_err();
        assert!(
            err.message.contains("invalid value 'abc'"),
            "{}",
            err.message
        );
    }

    #[test]
    fn typed_params_are_validated_by_name_type_and_count() {
        let p = |field: &str, value| TypedParam {
            field: field.into(),
            value,
        };
        let allowed = [("weight", "uint")];
        assert!(validate(&[p("weight", TypedValue::UInt(1))], &allowed).is_ok());
        let err = validate(&[p("foo", TypedValue::UInt(1))], &allowed).unwrap_err();
        assert_eq!(err.code, ErrorCode::ARGUMENT_UNSUPPORTED);
        let err = validate(&[p("weight", TypedValue::Int(1))], &allowed).unwrap_err();
        assert!(err.message.contains("expected 'uint'"), "{}", err.message);
        let twice = [
            p("weight", TypedValue::UInt(1)),
            p("weight", TypedValue::UInt(2)),
        ];
        assert!(validate(&twice, &allowed).is_err());
    }
}
