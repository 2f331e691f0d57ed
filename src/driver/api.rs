//! The driver API, declared once: every method of every per-object driver trait, with its access class, the
//! libvirt API it answers for, and how the remote driver carries it.
//!
//! libvirt cuts a connection into a hypervisor driver plus host-wide object drivers (network, storage,
//! interface, node device, secret, nwfilter) and generates its plumbing from one annotated protocol file. Here
//! [`driver_api!`] holds the one list, and each layer that needs the methods passes it a macro of its own:
//! `driver` builds the traits, the [`Connection`](super::Connection) forwarders, the read-only and forwarding
//! wrappers and the access table from it; `remote` builds the RPC client methods. Adding a method is one entry
//! here plus its logic in the drivers that have it.
//!
//! An entry reads
//! `fn name(&self, args) -> Result<T> => REMOTE, ACCESS, API [, guard { .. }] [, default { .. }];` where
//! - REMOTE is `auto(Procedure)` (the remote driver sends that procedure, arguments in declaration order) or
//!   `hand` (the remote driver has a hand-written body, because the wire and the API differ);
//! - ACCESS is `read` or `write`: what a read-only connection may do (libvirt's `virCheckReadOnlyGoto`);
//! - API is the libvirt function named by "not supported" and read-only refusals;
//! - `guard` replaces the read-only rule with a check of the arguments (a secure flag, a flag-dependent name);
//! - `default { .. }` replaces the "not supported" default body.
//!
//! Names inside entries resolve where the list is expanded, so every expansion site imports the driver types.

/// Calls `$callback! { .. }` with the whole driver API.
macro_rules! driver_api {
    ($callback:ident) => {
        $callback! {
    /// The hypervisor: the connection itself, the host (node), domains, their snapshots, tunables and statistics.
    trait HypervisorDriver (hypervisor) {
        /// The driver's type name as `virConnectGetType` reports it ("TEST", "QEMU").
        fn get_type(&self) -> Result<String>
            => auto(ConnectGetType), read, "virConnectGetType";
        /// Hypervisor version, major × 1 000 000 + minor × 1 000 + micro.
        fn get_version(&self) -> Result<u64>
            => auto(ConnectGetVersion), read, "virConnectGetVersion";
        /// Library version in the same encoding; the libvirt API level this crate speaks.
        fn get_lib_version(&self) -> Result<u64>
            => auto(ConnectGetLibVersion), read, "virConnectGetLibVersion";
        fn get_hostname(&self) -> Result<String>
            => auto(ConnectGetHostname), read, "virConnectGetHostname";
        /// The canonical URI of this connection (`test:///default`).
        fn get_uri(&self) -> Result<String>
            => hand, read, "virConnectGetURI";
        fn node_get_info(&self) -> Result<NodeInfo>
            => auto(NodeGetInfo), read, "virNodeGetInfo";
        fn get_capabilities(&self) -> Result<String>
            => auto(ConnectGetCapabilities), read, "virConnectGetCapabilities";
        /// The host's present and online CPUs (`virNodeGetCPUMap`).
        fn node_get_cpu_map(&self, flags: u32) -> Result<NodeCpuMap>
            => hand, read, "virNodeGetCPUMap";
        /// Free memory of the whole host, in bytes (`virNodeGetFreeMemory`).
        fn node_get_free_memory(&self) -> Result<u64>
            => auto(NodeGetFreeMemory), read, "virNodeGetFreeMemory";
        /// Free memory in bytes of up to `max_cells` NUMA cells starting at `start_cell`.
        fn node_get_cells_free_memory(&self, start_cell: i32, max_cells: i32) -> Result<Vec<u64>>
            => hand, read, "virNodeGetCellsFreeMemory";
        /// The most vCPUs one guest of hypervisor type `kind` (or the driver's default type) may have.
        fn get_max_vcpus(&self, kind: Option<&str>) -> Result<i32>
            => hand, read, "virConnectGetMaxVcpus";
        /// The security driver's (model, doi); an empty model means there is none.
        fn node_get_security_model(&self) -> Result<(String, String)>
            => auto(NodeGetSecurityModel), read, "virNodeGetSecurityModel";
        /// Whether the connection is encrypted (`virConnectIsEncrypted`).
        fn is_encrypted(&self) -> Result<bool>
            => hand, read, "virConnectIsEncrypted", default { Ok(false) };
        /// Whether the connection is secure against eavesdropping (`virConnectIsSecure`).
        fn is_secure(&self) -> Result<bool>
            => auto(ConnectIsSecure), read, "virConnectIsSecure", default { Ok(true) };
        /// Whether the connection is still usable (`virConnectIsAlive`).
        fn is_alive(&self) -> Result<bool>
            => hand, read, "virConnectIsAlive", default { Ok(true) };
        /// Ends this connection. Shared drivers treat this as a no-op; the remote driver closes its transport.
        fn close(&self) -> Result<()>
            => hand, read, "virConnectClose", default { Ok(()) };
        /// `virConnectListAllDomains` with [`flags`]`::LIST_DOMAINS_*` filters, in a stable order.
        fn list_all_domains(&self, flags: u32) -> Result<Vec<DomainRef>>
            => hand, read, "virConnectListAllDomains";
        fn domain_lookup_by_name(&self, name: &str) -> Result<DomainRef>
            => auto(DomainLookupByName), read, "virDomainLookupByName";
        fn domain_lookup_by_uuid(&self, uuid: &Uuid) -> Result<DomainRef>
            => auto(DomainLookupByUuid), read, "virDomainLookupByUUID";
        fn domain_lookup_by_id(&self, id: i32) -> Result<DomainRef>
            => auto(DomainLookupById), read, "virDomainLookupByID";
        /// Defines (or redefines) a persistent domain; `flags` may hold `DEFINE_VALIDATE`.
        fn domain_define_xml(&self, xml: &str, flags: u32) -> Result<DomainRef>
            => hand, write, "virDomainDefineXMLFlags", guard { refuse(api(flags, "virDomainDefineXML", "virDomainDefineXMLFlags")) };
        fn domain_undefine(&self, dom: &DomainRef, flags: u32) -> Result<()>
            => hand, write, "virDomainUndefineFlags";
        /// Starts a defined domain (`virDomainCreateWithFlags`); returns the handle with its new id.
        fn domain_create(&self, dom: &DomainRef, flags: u32) -> Result<DomainRef>
            => hand, write, "virDomainCreateWithFlags", guard { refuse(api(flags, "virDomainCreate", "virDomainCreateWithFlags")) };
        /// Creates and starts a transient domain (`virDomainCreateXML`).
        fn domain_create_xml(&self, xml: &str, flags: u32) -> Result<DomainRef>
            => hand, write, "virDomainCreateXML";
        fn domain_destroy(&self, dom: &DomainRef, flags: u32) -> Result<()>
            => hand, write, "virDomainDestroyFlags", guard { refuse(api(flags, "virDomainDestroy", "virDomainDestroyFlags")) };
        fn domain_shutdown(&self, dom: &DomainRef, flags: u32) -> Result<()>
            => hand, write, "virDomainShutdownFlags", guard { refuse(api(flags, "virDomainShutdown", "virDomainShutdownFlags")) };
        fn domain_reboot(&self, dom: &DomainRef, flags: u32) -> Result<()>
            => auto(DomainReboot), write, "virDomainReboot";
        fn domain_suspend(&self, dom: &DomainRef) -> Result<()>
            => auto(DomainSuspend), write, "virDomainSuspend";
        fn domain_resume(&self, dom: &DomainRef) -> Result<()>
            => auto(DomainResume), write, "virDomainResume";
        /// Sends a non-maskable interrupt to a running guest (`virDomainInjectNMI`).
        fn domain_inject_nmi(&self, dom: &DomainRef, flags: u32) -> Result<()>
            => auto(DomainInjectNmi), write, "virDomainInjectNMI";
        /// Resets a running guest at once, as a reset button does, without a shutdown (`virDomainReset`).
        fn domain_reset(&self, dom: &DomainRef, flags: u32) -> Result<()>
            => auto(DomainReset), write, "virDomainReset";
        fn domain_get_info(&self, dom: &DomainRef) -> Result<DomainInfo>
            => auto(DomainGetInfo), read, "virDomainGetInfo";
        /// (state, reason) where the reason is numbered per state (see [`reason`]).
        fn domain_get_state(&self, dom: &DomainRef, flags: u32) -> Result<(DomainState, i32)>
            => auto(DomainGetState), read, "virDomainGetState";
        /// The domain's XML; `flags` may hold `XML_SECURE`, `XML_INACTIVE`.
        fn domain_get_xml_desc(&self, dom: &DomainRef, flags: u32) -> Result<String>
            => auto(DomainGetXmlDesc), read, "virDomainGetXMLDesc", guard { secure_xml(flags) };
        fn domain_get_os_type(&self, dom: &DomainRef) -> Result<String>
            => auto(DomainGetOsType), read, "virDomainGetOSType";
        fn domain_get_autostart(&self, dom: &DomainRef) -> Result<bool>
            => auto(DomainGetAutostart), read, "virDomainGetAutostart";
        fn domain_set_autostart(&self, dom: &DomainRef, autostart: bool) -> Result<()>
            => auto(DomainSetAutostart), write, "virDomainSetAutostart";
        fn domain_is_active(&self, dom: &DomainRef) -> Result<bool>
            => auto(DomainIsActive), read, "virDomainIsActive";
        fn domain_is_persistent(&self, dom: &DomainRef) -> Result<bool>
            => auto(DomainIsPersistent), read, "virDomainIsPersistent";
        /// Whether the running domain's config differs from its persistent definition.
        fn domain_is_updated(&self, dom: &DomainRef) -> Result<bool>
            => auto(DomainIsUpdated), read, "virDomainIsUpdated";
        fn domain_has_managed_save_image(&self, dom: &DomainRef, flags: u32) -> Result<bool>
            => auto(DomainHasManagedSaveImage), read, "virDomainHasManagedSaveImage";
        /// (label, enforcing) of a domain's security label.
        fn domain_get_security_label(&self, dom: &DomainRef) -> Result<(String, bool)>
            => auto(DomainGetSecurityLabel), read, "virDomainGetSecurityLabel";
        /// Sets current memory (KiB), or the maximum with `MEM_MAXIMUM`; `AFFECT_LIVE` / `AFFECT_CONFIG` choose
        /// which definition changes.
        fn domain_set_memory(&self, dom: &DomainRef, kib: u64, flags: u32) -> Result<()>
            => auto(DomainSetMemoryFlags), write, "virDomainSetMemoryFlags", guard { refuse(if flags == crate::driver::flags::MEM_MAXIMUM { "virDomainSetMaxMemory" } else { "virDomainSetMemoryFlags" }) };
        fn domain_get_max_memory(&self, dom: &DomainRef) -> Result<u64>
            => auto(DomainGetMaxMemory), read, "virDomainGetMaxMemory";
        /// Sets the vCPU count, or the maximum with `VCPU_MAXIMUM`.
        fn domain_set_vcpus(&self, dom: &DomainRef, count: u32, flags: u32) -> Result<()>
            => auto(DomainSetVcpusFlags), write, "virDomainSetVcpusFlags", guard { refuse(api(flags, "virDomainSetVcpus", "virDomainSetVcpusFlags")) };
        fn domain_get_vcpus(&self, dom: &DomainRef, flags: u32) -> Result<u32>
            => auto(DomainGetVcpusFlags), read, "virDomainGetVcpusFlags";
        /// The most vCPUs the running domain may be given (`virDomainGetMaxVcpus`).
        fn domain_get_max_vcpus(&self, dom: &DomainRef) -> Result<i32>
            => auto(DomainGetMaxVcpus), read, "virDomainGetMaxVcpus";
        /// Up to `max_info` vCPUs of a running domain, with each one's affinity as `map_len` bytes of host-CPU
        /// bitmap (bit n = host CPU n), concatenated in vCPU order.
        fn domain_get_vcpu_info(&self, dom: &DomainRef, max_info: u32, map_len: u32) -> Result<(Vec<VcpuInfo>, Vec<u8>)>
            => hand, read, "virDomainGetVcpus";
        /// The affinity of up to `max_maps` vCPUs of the live or persistent definition (`flags`), as `map_len`
        /// bytes of host-CPU bitmap each; also the number of maps filled.
        fn domain_get_vcpu_pin_info(&self, dom: &DomainRef, max_maps: u32, map_len: u32, flags: u32) -> Result<(u32, Vec<u8>)>
            => hand, read, "virDomainGetVcpuPinInfo";
        /// The domain's scheduler name and how many parameters it has (`virDomainGetSchedulerType`).
        fn domain_get_scheduler_type(&self, dom: &DomainRef) -> Result<(String, i32)>
            => auto(DomainGetSchedulerType), read, "virDomainGetSchedulerType";
        /// The scheduler's parameters of the live or persistent definition (`flags`: `AFFECT_*`).
        fn domain_get_scheduler_parameters(&self, dom: &DomainRef, flags: u32) -> Result<Vec<TypedParam>>
            => hand, read, "virDomainGetSchedulerParametersFlags";
        /// Every parameter of one tunables family for the live or persistent definition (`flags`: `AFFECT_*`,
        /// `TYPED_PARAM_STRING_OKAY`); the RPC layer trims the list to the `nparams` the caller has room for.
        /// `nparams` 0 asks only how many there are: then the answer's length counts, not its values.
        fn domain_get_tunables(&self, dom: &DomainRef, kind: TunableKind, nparams: u32, flags: u32) -> Result<Vec<TypedParam>>
            => hand, read, tunable_api(kind, false);
        /// Changes some parameters of one tunables family (`flags`: `AFFECT_*`).
        fn domain_set_tunables(&self, dom: &DomainRef, kind: TunableKind, params: Vec<TypedParam>, flags: u32) -> Result<()>
            => hand, write, tunable_api(kind, true), guard { refuse(tunable_api(kind, true)) };
        /// Pins vCPU `vcpu` to the CPUs set in `cpumap` (`virDomainPinVcpuFlags`).
        fn domain_pin_vcpu(&self, dom: &DomainRef, vcpu: u32, cpumap: Vec<u8>, flags: u32) -> Result<()>
            => hand, write, "virDomainPinVcpuFlags";
        /// The emulator threads' CPU map, `map_len` bytes (`virDomainGetEmulatorPinInfo`).
        fn domain_get_emulator_pin_info(&self, dom: &DomainRef, map_len: u32, flags: u32) -> Result<Vec<u8>>
            => hand, read, "virDomainGetEmulatorPinInfo";
        /// Pins the emulator threads to the CPUs set in `cpumap` (`virDomainPinEmulator`).
        fn domain_pin_emulator(&self, dom: &DomainRef, cpumap: Vec<u8>, flags: u32) -> Result<()>
            => hand, write, "virDomainPinEmulator";
        /// A disk's block I/O throttling (`virDomainGetBlockIoTune`); `nparams` as for `domain_get_tunables`.
        fn domain_get_block_io_tune(&self, dom: &DomainRef, disk: Option<String>, nparams: u32, flags: u32) -> Result<Vec<TypedParam>>
            => hand, read, "virDomainGetBlockIoTune";
        /// Changes a disk's block I/O throttling (`virDomainSetBlockIoTune`).
        fn domain_set_block_io_tune(&self, dom: &DomainRef, disk: String, params: Vec<TypedParam>, flags: u32) -> Result<()>
            => hand, write, "virDomainSetBlockIoTune";
        /// The guest's clock: seconds since the epoch and nanoseconds (`virDomainGetTime`).
        fn domain_get_time(&self, dom: &DomainRef, flags: u32) -> Result<(i64, u32)>
            => auto(DomainGetTime), write, "virDomainGetTime";
        /// Sets the guest's clock (`flags`: `TIME_SYNC`) (`virDomainSetTime`).
        fn domain_set_time(&self, dom: &DomainRef, seconds: i64, nseconds: u32, flags: u32) -> Result<()>
            => auto(DomainSetTime), write, "virDomainSetTime";
        /// Asks the guest, through its agent, to suspend to `target` (`VIR_NODE_SUSPEND_TARGET_*`) for `duration`
        /// seconds (0: until woken) (`virDomainPMSuspendForDuration`).
        fn domain_pm_suspend_for_duration(&self, dom: &DomainRef, target: u32, duration: u64, flags: u32) -> Result<()>
            => auto(DomainPmSuspendForDuration), write, "virDomainPMSuspendForDuration";
        /// Wakes a guest from a suspended power state (`virDomainPMWakeup`).
        fn domain_pm_wakeup(&self, dom: &DomainRef, flags: u32) -> Result<()>
            => auto(DomainPmWakeup), write, "virDomainPMWakeup";
        /// Runs `cmd` on a running guest's monitor, QMP JSON or (`flags` `MONITOR_COMMAND_HMP`) a human monitor
        /// line, and answers QEMU's reply as text; the domain is tainted (`virDomainQemuMonitorCommand`, carried
        /// by the QEMU program).
        fn domain_qemu_monitor_command(&self, dom: &DomainRef, cmd: &str, flags: u32) -> Result<String>
            => hand, write, "virDomainQemuMonitorCommand";
        /// Sends `cmd` to the guest agent and answers its reply (`virDomainQemuAgentCommand`, QEMU program).
        fn domain_qemu_agent_command(&self, dom: &DomainRef, cmd: &str, timeout: i32, flags: u32) -> Result<Option<String>>
            => hand, write, "virDomainQemuAgentCommand";
        /// Takes a snapshot described by `xml` (or redefines one: `flags` REDEFINE). (`virDomainSnapshotCreateXML`)
        fn domain_snapshot_create_xml(&self, dom: &DomainRef, xml: &str, flags: u32) -> Result<SnapshotRef>
            => hand, write, "virDomainSnapshotCreateXML";
        /// The snapshot's XML. (`virDomainSnapshotGetXMLDesc`)
        fn domain_snapshot_get_xml_desc(&self, snap: &SnapshotRef, flags: u32) -> Result<String>
            => auto(DomainSnapshotGetXmlDesc), read, "virDomainSnapshotGetXMLDesc";
        /// The domain's snapshots passing the `VIR_DOMAIN_SNAPSHOT_LIST_*` filters (ROOTS: roots only). (`virDomainListAllSnapshots`)
        fn domain_list_all_snapshots(&self, dom: &DomainRef, flags: u32) -> Result<Vec<SnapshotRef>>
            => hand, read, "virDomainListAllSnapshots";
        /// A snapshot's children (all descendants with DESCENDANTS) passing the filters. (`virDomainSnapshotListAllChildren`)
        fn domain_snapshot_list_all_children(&self, snap: &SnapshotRef, flags: u32) -> Result<Vec<SnapshotRef>>
            => hand, read, "virDomainSnapshotListAllChildren";
        /// A snapshot by name. (`virDomainSnapshotLookupByName`)
        fn domain_snapshot_lookup_by_name(&self, dom: &DomainRef, name: &str, flags: u32) -> Result<SnapshotRef>
            => hand, read, "virDomainSnapshotLookupByName";
        /// Whether the domain has a current snapshot. (`virDomainHasCurrentSnapshot`)
        fn domain_has_current_snapshot(&self, dom: &DomainRef, flags: u32) -> Result<bool>
            => auto(DomainHasCurrentSnapshot), read, "virDomainHasCurrentSnapshot";
        /// The domain's current snapshot. (`virDomainSnapshotCurrent`)
        fn domain_snapshot_current(&self, dom: &DomainRef, flags: u32) -> Result<SnapshotRef>
            => hand, read, "virDomainSnapshotCurrent";
        /// A snapshot's parent. (`virDomainSnapshotGetParent`)
        fn domain_snapshot_get_parent(&self, snap: &SnapshotRef, flags: u32) -> Result<SnapshotRef>
            => hand, read, "virDomainSnapshotGetParent";
        /// Whether this is its domain's current snapshot. (`virDomainSnapshotIsCurrent`)
        fn domain_snapshot_is_current(&self, snap: &SnapshotRef, flags: u32) -> Result<bool>
            => auto(DomainSnapshotIsCurrent), read, "virDomainSnapshotIsCurrent";
        /// Whether the snapshot has libvirt metadata. (`virDomainSnapshotHasMetadata`)
        fn domain_snapshot_has_metadata(&self, snap: &SnapshotRef, flags: u32) -> Result<bool>
            => auto(DomainSnapshotHasMetadata), read, "virDomainSnapshotHasMetadata";
        /// Brings the domain back to the snapshot's definition and state. (`virDomainRevertToSnapshot`)
        fn domain_revert_to_snapshot(&self, snap: &SnapshotRef, flags: u32) -> Result<()>
            => auto(DomainRevertToSnapshot), write, "virDomainRevertToSnapshot";
        /// Deletes a snapshot (and its children with `flags` CHILDREN / CHILDREN_ONLY). (`virDomainSnapshotDelete`)
        fn domain_snapshot_delete(&self, snap: &SnapshotRef, flags: u32) -> Result<()>
            => auto(DomainSnapshotDelete), write, "virDomainSnapshotDelete";
        /// Saves a running domain's state into a managed image and stops it (`virDomainManagedSave`).
        fn domain_managed_save(&self, dom: &DomainRef, flags: u32) -> Result<()>
            => auto(DomainManagedSave), write, "virDomainManagedSave";
        /// Drops a domain's managed save image (`virDomainManagedSaveRemove`).
        fn domain_managed_save_remove(&self, dom: &DomainRef, flags: u32) -> Result<()>
            => auto(DomainManagedSaveRemove), write, "virDomainManagedSaveRemove";
        /// The definition kept in a domain's managed save image (`virDomainManagedSaveGetXMLDesc`).
        fn domain_managed_save_get_xml_desc(&self, dom: &DomainRef, flags: u32) -> Result<String>
            => auto(DomainManagedSaveGetXmlDesc), read, "virDomainManagedSaveGetXMLDesc", guard { secure_xml(flags) };
        /// Replaces the definition kept in a domain's managed save image (`virDomainManagedSaveDefineXML`).
        fn domain_managed_save_define_xml(&self, dom: &DomainRef, dxml: Option<&str>, flags: u32) -> Result<()>
            => auto(DomainManagedSaveDefineXml), write, "virDomainManagedSaveDefineXML";
        /// Saves a running domain's memory and state into the file `to` and stops it; `dxml` replaces the
        /// definition kept with it (`virDomainSaveFlags`).
        fn domain_save(&self, dom: &DomainRef, to: &str, dxml: Option<&str>, flags: u32) -> Result<()>
            => auto(DomainSaveFlags), write, api(flags, "virDomainSave", "virDomainSaveFlags"), guard { refuse(api(flags, "virDomainSave", "virDomainSaveFlags")) };
        /// Starts the domain saved in the file `from` where it left off (`virDomainRestoreFlags`).
        fn domain_restore(&self, from: &str, dxml: Option<&str>, flags: u32) -> Result<()>
            => auto(DomainRestoreFlags), write, api(flags, "virDomainRestore", "virDomainRestoreFlags"), guard { refuse(api(flags, "virDomainRestore", "virDomainRestoreFlags")) };
        /// The definition kept in a save image file (`virDomainSaveImageGetXMLDesc`).
        fn domain_save_image_get_xml_desc(&self, file: &str, flags: u32) -> Result<String>
            => auto(DomainSaveImageGetXmlDesc), read, "virDomainSaveImageGetXMLDesc", guard { secure_xml(flags) };
        /// Replaces the definition kept in a save image file (`virDomainSaveImageDefineXML`).
        fn domain_save_image_define_xml(&self, file: &str, dxml: &str, flags: u32) -> Result<()>
            => auto(DomainSaveImageDefineXml), write, "virDomainSaveImageDefineXML";
        /// Renames an inactive persistent domain (`virDomainRename`).
        fn domain_rename(&self, dom: &DomainRef, new_name: &str, flags: u32) -> Result<()>
            => hand, write, "virDomainRename";
        /// Up to `max_stats` balloon/memory statistics of a running domain (`virDomainMemoryStats`).
        fn domain_memory_stats(&self, dom: &DomainRef, max_stats: u32, flags: u32) -> Result<Vec<MemoryStat>>
            => hand, read, "virDomainMemoryStats";
        /// Statistics records of `doms` (every domain when empty) for the `stats` groups (`VIR_DOMAIN_STATS_*`,
        /// 0 = all the driver knows); `flags` filter the domains and tighten the groups
        /// (`virConnectGetAllDomainStats`, `virDomainListGetStats`).
        fn connect_get_all_domain_stats(&self, doms: &[DomainRef], stats: u32, flags: u32) -> Result<Vec<DomainStatsRecord>>
            => hand, read, "virConnectGetAllDomainStats";
        /// I/O counters of the disk named by target (`vda`) or source path (`virDomainBlockStats`).
        fn domain_block_stats(&self, dom: &DomainRef, disk: &str) -> Result<BlockStats>
            => auto(DomainBlockStats), read, "virDomainBlockStats";
        /// The disk's I/O counters as typed parameters (`virDomainBlockStatsFlags`).
        fn domain_block_stats_flags(&self, dom: &DomainRef, disk: &str, flags: u32) -> Result<Vec<TypedParam>>
            => hand, read, "virDomainBlockStatsFlags";
        /// Traffic counters of the guest NIC named by host device or MAC (`virDomainInterfaceStats`).
        fn domain_interface_stats(&self, dom: &DomainRef, device: &str) -> Result<InterfaceStats>
            => auto(DomainInterfaceStats), read, "virDomainInterfaceStats";
        /// Sizes of the disk named by target or source path (`virDomainGetBlockInfo`).
        fn domain_get_block_info(&self, dom: &DomainRef, disk: &str, flags: u32) -> Result<BlockInfo>
            => auto(DomainGetBlockInfo), read, "virDomainGetBlockInfo";
        /// Cumulative CPU times of the host, of all CPUs (`cpu_num` −1) or one (`virNodeGetCPUStats`).
        fn node_get_cpu_stats(&self, cpu_num: i32, flags: u32) -> Result<Vec<NodeCpuStat>>
            => hand, read, "virNodeGetCPUStats";
        /// The guest's interfaces and their addresses, from the `source` asked for (`virDomainInterfaceAddresses`).
        fn domain_interface_addresses(&self, dom: &DomainRef, source: u32, flags: u32) -> Result<Vec<GuestInterface>>
            => hand, read, "virDomainInterfaceAddresses";
        /// The guest's mounted file systems (`virDomainGetFSInfo`).
        fn domain_get_fsinfo(&self, dom: &DomainRef, flags: u32) -> Result<Vec<FsInfo>>
            => hand, read, "virDomainGetFSInfo";
        /// The guest's host name (`virDomainGetHostname`).
        fn domain_get_hostname(&self, dom: &DomainRef, flags: u32) -> Result<String>
            => hand, read, "virDomainGetHostname";
        /// The domain's I/O threads (`virDomainGetIOThreadInfo`; `flags`: `AFFECT_*`).
        fn domain_get_iothread_info(&self, dom: &DomainRef, flags: u32) -> Result<Vec<IothreadInfo>>
            => hand, read, "virDomainGetIOThreadInfo";
        /// Every domain with its state and current definition, in [`HypervisorDriver::list_all_domains`] order (for
        /// front ends that enumerate all domains, such as WBEM). The remote driver asks per domain and parses each
        /// XML ([`summaries_by_calls`]); a driver holding its definitions in memory answers at once. A domain that
        /// vanishes meanwhile is left out, and so is one whose definition `keep` refuses: a front end that wants
        /// only the domains with some device says so, and a driver holding its definitions in memory passes over
        /// the others without copying anything.
        fn domain_summaries(&self, keep: &KeepDomain) -> Result<Vec<DomainSummary>>
            => hand, read, "virConnectListAllDomains";
        /// One domain, named `name`, as [`HypervisorDriver::domain_summaries`] gives it (for front ends that read one
        /// domain's definition): a driver holding its definitions in memory answers at once, the remote driver
        /// asks per call ([`summary_by_calls`]). No such domain: libvirt's "domain not found".
        fn domain_summary(&self, name: &str) -> Result<DomainSummary>
            => hand, read, "virDomainLookupByName";
        /// Lifecycle events of every domain of this connection, from now on.
        fn domain_event_subscribe(&self) -> Result<broadcast::Receiver<DomainEvent>>
            => hand, read, "virConnectDomainEventRegisterAny";
        /// The host's SMBIOS description as XML (`virConnectGetSysinfo`).
        fn get_sysinfo(&self, flags: u32) -> Result<String>
            => hand, read, "virConnectGetSysinfo";
        /// The CPU model names the host knows for an architecture (`virConnectGetCPUModelNames`).
        fn get_cpu_model_names(&self, arch: &str, flags: u32) -> Result<Vec<String>>
            => hand, read, "virConnectGetCPUModelNames";
        /// The description, title or (`kind` ELEMENT) the `<metadata>` element of namespace `uri`, of the live or
        /// persistent definition (`flags`: `AFFECT_*`) (`virDomainGetMetadata`).
        fn domain_get_metadata(&self, dom: &DomainRef, kind: i32, uri: Option<&str>, flags: u32) -> Result<String>
            => auto(DomainGetMetadata), read, "virDomainGetMetadata";
        /// Sets or (`metadata` absent) clears the description, title or the `<metadata>` element of namespace `uri`
        /// under prefix `key`; emits a metadata-change event (`virDomainSetMetadata`).
        fn domain_set_metadata(&self, dom: &DomainRef, kind: i32, metadata: Option<&str>, key: Option<&str>, uri: Option<&str>, flags: u32) -> Result<()>
            => auto(DomainSetMetadata), write, "virDomainSetMetadata";
        /// CPU times of a running domain as `virDomainGetCPUStats` answers them on the wire: `start_cpu` −1 asks
        /// for the totals (`ncpus` 1), otherwise per host CPU from `start_cpu`; `nparams` 0 asks how many
        /// parameters there are (`ncpus` 0 also: how many host CPUs). Returns the parameters, `nparams` at most
        /// per CPU concatenated, and the count the call answers.
        fn domain_get_cpu_stats(&self, dom: &DomainRef, nparams: u32, start_cpu: i32, ncpus: u32, flags: u32) -> Result<(Vec<TypedParam>, i32)>
            => hand, read, "virDomainGetCPUStats";
        /// The domain's current background job (`virDomainGetJobInfo`); `kind` 0 when there is none.
        fn domain_get_job_info(&self, dom: &DomainRef) -> Result<JobInfo>
            => hand, read, "virDomainGetJobInfo";
        /// The current (or with `flags` COMPLETED the last finished) job's type and statistics
        /// (`virDomainGetJobStats`).
        fn domain_get_job_stats(&self, dom: &DomainRef, flags: u32) -> Result<(i32, Vec<TypedParam>)>
            => hand, read, "virDomainGetJobStats";
        /// What the hypervisor offers guests of one emulator, architecture, machine and virtualization type
        /// (`virConnectGetDomainCapabilities`), as XML.
        fn get_domain_capabilities(&self, emulator: Option<String>, arch: Option<String>, machine: Option<String>, virt_type: Option<String>, flags: u32) -> Result<String>
            => hand, read, "virConnectGetDomainCapabilities";
        /// Adds the device `xml` describes to the live and/or persistent definition (`flags`: `AFFECT_*`)
        /// (`virDomainAttachDeviceFlags`).
        fn domain_attach_device(&self, dom: &DomainRef, xml: &str, flags: u32) -> Result<()>
            => auto(DomainAttachDeviceFlags), write, "virDomainAttachDeviceFlags";
        /// Removes the device `xml` names (`virDomainDetachDeviceFlags`).
        fn domain_detach_device(&self, dom: &DomainRef, xml: &str, flags: u32) -> Result<()>
            => auto(DomainDetachDeviceFlags), write, "virDomainDetachDeviceFlags";
        /// Changes a device in place, such as a CD-ROM's medium (`virDomainUpdateDeviceFlags`).
        fn domain_update_device(&self, dom: &DomainRef, xml: &str, flags: u32) -> Result<()>
            => auto(DomainUpdateDeviceFlags), write, "virDomainUpdateDeviceFlags";
        /// Removes the device with this alias (`virDomainDetachDeviceAlias`).
        fn domain_detach_device_alias(&self, dom: &DomainRef, alias: &str, flags: u32) -> Result<()>
            => auto(DomainDetachDeviceAlias), write, "virDomainDetachDeviceAlias";
        /// Presses and releases `keycodes` of `codeset` (`VIR_KEYCODE_SET_*`) for `holdtime` ms (`virDomainSendKey`).
        fn domain_send_key(&self, dom: &DomainRef, codeset: u32, holdtime: u32, keycodes: Vec<u32>, flags: u32) -> Result<()>
            => auto(DomainSendKey), write, "virDomainSendKey";
        /// A picture of the guest's screen `screen` as a stream, with its MIME type (`virDomainScreenshot`).
        fn domain_screenshot(&self, dom: &DomainRef, screen: u32, flags: u32) -> Result<(String, Stream)>
            => hand, write, "virDomainScreenshot";
        /// The guest's console (or the character device `dev_name`) as a two-way stream (`virDomainOpenConsole`;
        /// `flags`: `CONSOLE_FORCE` takes it over from another client, `CONSOLE_SAFE`).
        fn domain_open_console(&self, dom: &DomainRef, dev_name: Option<&str>, flags: u32) -> Result<Stream>
            => hand, write, "virDomainOpenConsole";
        /// Sets how often (seconds; 0 stops it) the balloon collects the guest's memory statistics, in the live or
        /// persistent definition (`flags`: `AFFECT_*`) (`virDomainSetMemoryStatsPeriod`).
        fn domain_set_memory_stats_period(&self, dom: &DomainRef, period: i32, flags: u32) -> Result<()>
            => auto(DomainSetMemoryStatsPeriod), write, "virDomainSetMemoryStatsPeriod";
        /// The state of the hypervisor's control of a running domain (`virDomainGetControlInfo`).
        fn domain_get_control_info(&self, dom: &DomainRef, flags: u32) -> Result<ControlInfo>
            => auto(DomainGetControlInfo), read, "virDomainGetControlInfo";
        /// Deprecation and tainting messages about the domain (`flags`: `VIR_DOMAIN_MESSAGE_*`)
        /// (`virDomainGetMessages`).
        fn domain_get_messages(&self, dom: &DomainRef, flags: u32) -> Result<Vec<String>>
            => auto(DomainGetMessages), read, "virDomainGetMessages";
        /// The disks in error: at most `max_errors` of them, and their count (every disk's when `max_errors` is 0)
        /// (`virDomainGetDiskErrors`).
        fn domain_get_disk_errors(&self, dom: &DomainRef, max_errors: u32, flags: u32) -> Result<(Vec<DiskError>, i32)>
            => auto(DomainGetDiskErrors), read, "virDomainGetDiskErrors";
        /// Freezes the guest's file systems (those mounted at `mountpoints`, or all); answers how many froze
        /// (`virDomainFSFreeze`).
        fn domain_fs_freeze(&self, dom: &DomainRef, mountpoints: Vec<String>, flags: u32) -> Result<i32>
            => auto(DomainFsfreeze), write, "virDomainFSFreeze";
        /// Thaws frozen guest file systems; answers how many thawed (`virDomainFSThaw`).
        fn domain_fs_thaw(&self, dom: &DomainRef, mountpoints: Vec<String>, flags: u32) -> Result<i32>
            => auto(DomainFsthaw), write, "virDomainFSThaw";
        /// Discards unused blocks of the guest's file systems (`virDomainFSTrim`).
        fn domain_fs_trim(&self, dom: &DomainRef, mount_point: Option<&str>, minimum: u64, flags: u32) -> Result<()>
            => auto(DomainFstrim), write, "virDomainFSTrim";
        /// Sets a guest user's password through the agent (`virDomainSetUserPassword`).
        fn domain_set_user_password(&self, dom: &DomainRef, user: Option<&str>, password: Option<&str>, flags: u32) -> Result<()>
            => auto(DomainSetUserPassword), write, "virDomainSetUserPassword";
        /// Sends signal `signum` (`VIR_DOMAIN_PROCESS_SIGNAL_*`) to a guest process (`virDomainSendProcessSignal`).
        fn domain_send_process_signal(&self, dom: &DomainRef, pid: i64, signum: u32, flags: u32) -> Result<()>
            => auto(DomainSendProcessSignal), write, "virDomainSendProcessSignal";
        /// Sets what happens on a guest's poweroff, reboot or crash (`kind`: `VIR_DOMAIN_LIFECYCLE_*`, `action`:
        /// `VIR_DOMAIN_LIFECYCLE_ACTION_*`) (`virDomainSetLifecycleAction`).
        fn domain_set_lifecycle_action(&self, dom: &DomainRef, kind: u32, action: u32, flags: u32) -> Result<()>
            => auto(DomainSetLifecycleAction), write, "virDomainSetLifecycleAction";
        /// The launch security (SEV) parameters of a domain (`virDomainGetLaunchSecurityInfo`).
        fn domain_get_launch_security_info(&self, dom: &DomainRef, flags: u32) -> Result<Vec<TypedParam>>
            => auto(DomainGetLaunchSecurityInfo), read, "virDomainGetLaunchSecurityInfo";
        /// Dumps a running domain's memory to the file `to` in `format` (`VIR_DOMAIN_CORE_DUMP_FORMAT_*`)
        /// (`virDomainCoreDumpWithFormat`).
        fn domain_core_dump(&self, dom: &DomainRef, to: &str, format: u32, flags: u32) -> Result<()>
            => auto(DomainCoreDumpWithFormat), write, "virDomainCoreDumpWithFormat";
        /// Free pages of each size in `pages` (KiB) on `cell_count` NUMA cells from `start_cell`, cell by cell
        /// (`virNodeGetFreePages`).
        fn node_get_free_pages(&self, pages: Vec<u32>, start_cell: i32, cell_count: u32, flags: u32) -> Result<Vec<u64>>
            => auto(NodeGetFreePages), read, "virNodeGetFreePages";
        /// Whether the driver has the `VIR_DRV_FEATURE_*` `feature` (the migration protocols it speaks); the RPC
        /// server answers the connection's own features itself.
        fn supports_feature(&self, feature: i32) -> Result<bool>
            => hand, read, "virConnectSupportsFeature", default { Ok(false) };
        /// Migration, on the source: checks the domain may go, answers the cookie for Prepare and the definition
        /// the destination starts (`virDomainMigrateBegin3Params`).
        fn domain_migrate_begin3_params(&self, dom: &DomainRef, params: Vec<TypedParam>, flags: u32) -> Result<(Vec<u8>, String)>
            => hand, write, "virDomainMigrateBegin3Params";
        /// Migration, on the destination: readies the incoming domain; answers the cookie for Perform and the
        /// migration URI the source is to use (`virDomainMigratePrepare3Params`).
        fn domain_migrate_prepare3_params(&self, params: Vec<TypedParam>, cookie_in: Vec<u8>, flags: u32) -> Result<(Vec<u8>, Option<String>)>
            => hand, write, "virDomainMigratePrepare3Params";
        /// Migration, on the source: sends the guest (or, with `dconnuri` and PEER2PEER, runs the whole
        /// migration against that destination) (`virDomainMigratePerform3Params`).
        fn domain_migrate_perform3_params(&self, dom: &DomainRef, dconnuri: Option<String>, params: Vec<TypedParam>, cookie_in: Vec<u8>, flags: u32) -> Result<Vec<u8>>
            => hand, write, "virDomainMigratePerform3Params";
        /// Migration, on the destination: runs the guest that came in, or (`cancelled`) drops it
        /// (`virDomainMigrateFinish3Params`).
        fn domain_migrate_finish3_params(&self, params: Vec<TypedParam>, cookie_in: Vec<u8>, flags: u32, cancelled: bool) -> Result<(DomainRef, Vec<u8>)>
            => hand, write, "virDomainMigrateFinish3Params";
        /// Migration, on the source: ends the guest that left, or (`cancelled`) resumes it
        /// (`virDomainMigrateConfirm3Params`).
        fn domain_migrate_confirm3_params(&self, dom: &DomainRef, params: Vec<TypedParam>, cookie_in: Vec<u8>, flags: u32, cancelled: bool) -> Result<()>
            => hand, write, "virDomainMigrateConfirm3Params";
        /// Tunnelled migration, on the destination: readies the incoming domain and answers the cookie and a stream
        /// that carries the guest's migration data from the source (`virDomainMigratePrepareTunnel3Params`).
        fn domain_migrate_prepare_tunnel3_params(&self, params: Vec<TypedParam>, cookie_in: Vec<u8>, flags: u32) -> Result<(Vec<u8>, Stream)>
            => hand, write, "virDomainMigratePrepareTunnel3Params";
        /// Aborts the domain's current background job, such as an outgoing migration (`virDomainAbortJob`).
        fn domain_abort_job(&self, dom: &DomainRef) -> Result<()>
            => auto(DomainAbortJob), write, "virDomainAbortJob";
        /// The most a migration of this domain may use, in MiB/s (`virDomainMigrateSetMaxSpeed`).
        fn domain_migrate_set_max_speed(&self, dom: &DomainRef, bandwidth: u64, flags: u32) -> Result<()>
            => auto(DomainMigrateSetMaxSpeed), write, "virDomainMigrateSetMaxSpeed";
        fn domain_migrate_get_max_speed(&self, dom: &DomainRef, flags: u32) -> Result<u64>
            => auto(DomainMigrateGetMaxSpeed), read, "virDomainMigrateGetMaxSpeed";
        /// The longest pause a live migration of this domain may cause, in ms (`virDomainMigrateSetMaxDowntime`).
        fn domain_migrate_set_max_downtime(&self, dom: &DomainRef, downtime: u64, flags: u32) -> Result<()>
            => auto(DomainMigrateSetMaxDowntime), write, "virDomainMigrateSetMaxDowntime";
        fn domain_migrate_get_max_downtime(&self, dom: &DomainRef, flags: u32) -> Result<u64>
            => auto(DomainMigrateGetMaxDowntime), read, "virDomainMigrateGetMaxDowntime";
        /// What the guest agent tells of the guest as typed parameters: users, OS, time zone, host name, file
        /// systems, disks, interfaces (`types`: `VIR_DOMAIN_GUEST_INFO_*`, 0 for all) (`virDomainGetGuestInfo`).
        fn domain_get_guest_info(&self, dom: &DomainRef, types: u32, flags: u32) -> Result<Vec<TypedParam>>
            => auto(DomainGetGuestInfo), write, "virDomainGetGuestInfo";
        /// How long agent calls wait for the guest (`VIR_DOMAIN_AGENT_RESPONSE_TIMEOUT_*` or seconds); 0 on
        /// success (`virDomainAgentSetResponseTimeout`).
        fn domain_agent_set_response_timeout(&self, dom: &DomainRef, timeout: i32, flags: u32) -> Result<i32>
            => auto(DomainAgentSetResponseTimeout), write, "virDomainAgentSetResponseTimeout";
        /// The guest's vCPUs as its agent sees them: the `vcpus`, `online` and `offlinable` CPU lists
        /// (`virDomainGetGuestVcpus`).
        fn domain_get_guest_vcpus(&self, dom: &DomainRef, flags: u32) -> Result<Vec<TypedParam>>
            => auto(DomainGetGuestVcpus), write, "virDomainGetGuestVcpus";
        /// Takes the guest's vCPUs in `cpumap` (a CPU list such as "1-3,^2") online (`state` 1) or offline (0)
        /// through its agent (`virDomainSetGuestVcpus`).
        fn domain_set_guest_vcpus(&self, dom: &DomainRef, cpumap: &str, state: i32, flags: u32) -> Result<()>
            => auto(DomainSetGuestVcpus), write, "virDomainSetGuestVcpus";
    }
    /// Virtual networks.
    trait NetworkDriver (network) {
        fn list_all_networks(&self, flags: u32) -> Result<Vec<NetworkRef>>
            => hand, read, "virConnectListAllNetworks";
        fn network_lookup_by_name(&self, name: &str) -> Result<NetworkRef>
            => auto(NetworkLookupByName), read, "virNetworkLookupByName";
        fn network_lookup_by_uuid(&self, uuid: &Uuid) -> Result<NetworkRef>
            => auto(NetworkLookupByUuid), read, "virNetworkLookupByUUID";
        fn network_define_xml(&self, xml: &str, flags: u32) -> Result<NetworkRef>
            => hand, write, "virNetworkDefineXML", guard { refuse(api(flags, "virNetworkDefineXML", "virNetworkDefineXMLFlags")) };
        fn network_create_xml(&self, xml: &str, flags: u32) -> Result<NetworkRef>
            => hand, write, "virNetworkCreateXML", guard { refuse(api(flags, "virNetworkCreateXML", "virNetworkCreateXMLFlags")) };
        fn network_create(&self, net: &NetworkRef) -> Result<()>
            => auto(NetworkCreate), write, "virNetworkCreate";
        fn network_destroy(&self, net: &NetworkRef) -> Result<()>
            => auto(NetworkDestroy), write, "virNetworkDestroy";
        fn network_undefine(&self, net: &NetworkRef) -> Result<()>
            => auto(NetworkUndefine), write, "virNetworkUndefine";
        fn network_get_xml_desc(&self, net: &NetworkRef, flags: u32) -> Result<String>
            => hand, read, "virNetworkGetXMLDesc";
        fn network_get_bridge_name(&self, net: &NetworkRef) -> Result<String>
            => auto(NetworkGetBridgeName), read, "virNetworkGetBridgeName";
        fn network_get_autostart(&self, net: &NetworkRef) -> Result<bool>
            => auto(NetworkGetAutostart), read, "virNetworkGetAutostart";
        fn network_set_autostart(&self, net: &NetworkRef, autostart: bool) -> Result<()>
            => hand, write, "virNetworkSetAutostart";
        fn network_is_active(&self, net: &NetworkRef) -> Result<bool>
            => auto(NetworkIsActive), read, "virNetworkIsActive";
        fn network_is_persistent(&self, net: &NetworkRef) -> Result<bool>
            => auto(NetworkIsPersistent), read, "virNetworkIsPersistent";
        /// The DHCP leases a running network handed out, only those of `mac` when given (`virNetworkGetDHCPLeases`).
        fn network_get_dhcp_leases(&self, net: &NetworkRef, mac: Option<&str>, flags: u32) -> Result<Vec<NetworkDhcpLease>>
            => hand, read, "virNetworkGetDHCPLeases";
        /// Changes one section of the live and/or persistent definition (`virNetworkUpdate`; see
        /// [`network_update`] for the command, section and flag values).
        fn network_update(&self, net: &NetworkRef, command: u32, section: u32, parent_index: i32, xml: &str, flags: u32) -> Result<()>
            => auto(NetworkUpdate), write, "virNetworkUpdate";
        /// Lifecycle events of every network of this connection, from now on.
        fn network_event_subscribe(&self) -> Result<broadcast::Receiver<NetworkEvent>>
            => hand, read, "virConnectNetworkEventRegisterAny";
    }
    /// Storage pools and their volumes.
    trait StorageDriver (storage) {
        fn list_all_storage_pools(&self, flags: u32) -> Result<Vec<PoolRef>>
            => hand, read, "virConnectListAllStoragePools";
        fn pool_lookup_by_name(&self, name: &str) -> Result<PoolRef>
            => auto(StoragePoolLookupByName), read, "virStoragePoolLookupByName";
        fn pool_lookup_by_uuid(&self, uuid: &Uuid) -> Result<PoolRef>
            => auto(StoragePoolLookupByUuid), read, "virStoragePoolLookupByUUID";
        fn pool_lookup_by_volume(&self, vol: &VolumeRef) -> Result<PoolRef>
            => auto(StoragePoolLookupByVolume), read, "virStoragePoolLookupByVolume";
        fn pool_define_xml(&self, xml: &str, flags: u32) -> Result<PoolRef>
            => hand, write, "virStoragePoolDefineXML";
        fn pool_create_xml(&self, xml: &str, flags: u32) -> Result<PoolRef>
            => hand, write, "virStoragePoolCreateXML";
        fn pool_build(&self, pool: &PoolRef, flags: u32) -> Result<()>
            => auto(StoragePoolBuild), write, "virStoragePoolBuild";
        /// Starts a defined pool (`virStoragePoolCreate`).
        fn pool_create(&self, pool: &PoolRef, flags: u32) -> Result<()>
            => auto(StoragePoolCreate), write, "virStoragePoolCreate";
        fn pool_destroy(&self, pool: &PoolRef) -> Result<()>
            => auto(StoragePoolDestroy), write, "virStoragePoolDestroy";
        fn pool_undefine(&self, pool: &PoolRef) -> Result<()>
            => auto(StoragePoolUndefine), write, "virStoragePoolUndefine";
        /// Removes what `pool_build` made (the directory, the volume group); the pool stays defined.
        fn pool_delete(&self, pool: &PoolRef, flags: u32) -> Result<()>
            => auto(StoragePoolDelete), write, "virStoragePoolDelete";
        fn pool_lookup_by_target_path(&self, path: &str) -> Result<PoolRef>
            => auto(StoragePoolLookupByTargetPath), read, "virStoragePoolLookupByTargetPath";
        fn pool_refresh(&self, pool: &PoolRef, flags: u32) -> Result<()>
            => auto(StoragePoolRefresh), write, "virStoragePoolRefresh";
        fn pool_get_info(&self, pool: &PoolRef) -> Result<PoolInfo>
            => auto(StoragePoolGetInfo), read, "virStoragePoolGetInfo";
        fn pool_get_xml_desc(&self, pool: &PoolRef, flags: u32) -> Result<String>
            => auto(StoragePoolGetXmlDesc), read, "virStoragePoolGetXMLDesc";
        fn pool_get_autostart(&self, pool: &PoolRef) -> Result<bool>
            => auto(StoragePoolGetAutostart), read, "virStoragePoolGetAutostart";
        fn pool_set_autostart(&self, pool: &PoolRef, autostart: bool) -> Result<()>
            => auto(StoragePoolSetAutostart), write, "virStoragePoolSetAutostart";
        fn pool_is_active(&self, pool: &PoolRef) -> Result<bool>
            => auto(StoragePoolIsActive), read, "virStoragePoolIsActive";
        fn pool_is_persistent(&self, pool: &PoolRef) -> Result<bool>
            => auto(StoragePoolIsPersistent), read, "virStoragePoolIsPersistent";
        fn pool_list_all_volumes(&self, pool: &PoolRef, flags: u32) -> Result<Vec<VolumeRef>>
            => hand, read, "virStoragePoolListAllVolumes";
        fn vol_lookup_by_name(&self, pool: &PoolRef, name: &str) -> Result<VolumeRef>
            => hand, read, "virStorageVolLookupByName";
        fn vol_lookup_by_key(&self, key: &str) -> Result<VolumeRef>
            => auto(StorageVolLookupByKey), read, "virStorageVolLookupByKey";
        fn vol_lookup_by_path(&self, path: &str) -> Result<VolumeRef>
            => auto(StorageVolLookupByPath), read, "virStorageVolLookupByPath";
        fn vol_create_xml(&self, pool: &PoolRef, xml: &str, flags: u32) -> Result<VolumeRef>
            => hand, write, "virStorageVolCreateXML";
        fn vol_delete(&self, vol: &VolumeRef, flags: u32) -> Result<()>
            => hand, write, "virStorageVolDelete";
        fn vol_resize(&self, vol: &VolumeRef, capacity: u64, flags: u32) -> Result<()>
            => hand, write, "virStorageVolResize";
        fn vol_get_info(&self, vol: &VolumeRef) -> Result<VolumeInfo>
            => auto(StorageVolGetInfo), read, "virStorageVolGetInfo";
        fn vol_get_path(&self, vol: &VolumeRef) -> Result<String>
            => auto(StorageVolGetPath), read, "virStorageVolGetPath";
        fn vol_get_xml_desc(&self, vol: &VolumeRef, flags: u32) -> Result<String>
            => hand, read, "virStorageVolGetXMLDesc";
        /// Creates a volume in `pool` as a copy of `source` (`virStorageVolCreateXMLFrom`).
        fn vol_create_xml_from(&self, pool: &PoolRef, xml: &str, source: &VolumeRef, flags: u32) -> Result<VolumeRef>
            => auto(StorageVolCreateXmlFrom), write, "virStorageVolCreateXMLFrom";
        fn vol_wipe(&self, vol: &VolumeRef, flags: u32) -> Result<()>
            => auto(StorageVolWipe), write, "virStorageVolWipe";
        /// Wipes with one of `virStorageVolWipeAlgorithm`.
        fn vol_wipe_pattern(&self, vol: &VolumeRef, algorithm: u32, flags: u32) -> Result<()>
            => auto(StorageVolWipePattern), write, "virStorageVolWipePattern";
        fn vol_get_info_flags(&self, vol: &VolumeRef, flags: u32) -> Result<VolumeInfo>
            => auto(StorageVolGetInfoFlags), read, "virStorageVolGetInfoFlags";
        /// Lifecycle and refresh events of every pool of this connection, from now on.
        fn storage_pool_event_subscribe(&self) -> Result<broadcast::Receiver<PoolEvent>>
            => hand, read, "virConnectStoragePoolEventRegisterAny";
        /// Writes the stream's bytes into the volume from `offset`, at most `length` (0: no limit); `flags` may
        /// hold `VOL_UPLOAD_SPARSE_STREAM` (holes travel as holes) (`virStorageVolUpload`).
        fn vol_upload(&self, vol: &VolumeRef, offset: u64, length: u64, flags: u32) -> Result<Stream>
            => hand, write, "virStorageVolUpload";
        /// Streams the volume's bytes from `offset`, `length` of them (0: to the end); `flags` may hold
        /// `VOL_DOWNLOAD_SPARSE_STREAM` (`virStorageVolDownload`).
        fn vol_download(&self, vol: &VolumeRef, offset: u64, length: u64, flags: u32) -> Result<Stream>
            => hand, write, "virStorageVolDownload";
    }
    /// Host network interfaces (netcf-style definitions and transactions).
    trait InterfaceDriver (interface) {
        /// `virConnectListAllInterfaces` with [`flags`]`::LIST_INTERFACES_*` filters, in a stable order.
        fn list_all_interfaces(&self, flags: u32) -> Result<Vec<InterfaceRef>>
            => hand, read, "virConnectListAllInterfaces";
        fn interface_lookup_by_name(&self, name: &str) -> Result<InterfaceRef>
            => hand, read, "virInterfaceLookupByName";
        fn interface_lookup_by_mac_string(&self, mac: &str) -> Result<InterfaceRef>
            => hand, read, "virInterfaceLookupByMACString";
        fn interface_get_xml_desc(&self, iface: &InterfaceRef, flags: u32) -> Result<String>
            => hand, read, "virInterfaceGetXMLDesc";
        /// Defines (or redefines) a host interface; `flags` may hold `INTERFACE_DEFINE_VALIDATE`.
        fn interface_define_xml(&self, xml: &str, flags: u32) -> Result<InterfaceRef>
            => hand, write, "virInterfaceDefineXML";
        fn interface_undefine(&self, iface: &InterfaceRef) -> Result<()>
            => hand, write, "virInterfaceUndefine";
        /// Brings a defined interface up (`virInterfaceCreate`).
        fn interface_create(&self, iface: &InterfaceRef, flags: u32) -> Result<()>
            => hand, write, "virInterfaceCreate";
        fn interface_destroy(&self, iface: &InterfaceRef, flags: u32) -> Result<()>
            => hand, write, "virInterfaceDestroy";
        fn interface_is_active(&self, iface: &InterfaceRef) -> Result<bool>
            => hand, read, "virInterfaceIsActive";
        /// Snapshots the host's interface configuration so that a later rollback restores it.
        fn interface_change_begin(&self, flags: u32) -> Result<()>
            => auto(InterfaceChangeBegin), write, "virInterfaceChangeBegin";
        fn interface_change_commit(&self, flags: u32) -> Result<()>
            => auto(InterfaceChangeCommit), write, "virInterfaceChangeCommit";
        fn interface_change_rollback(&self, flags: u32) -> Result<()>
            => auto(InterfaceChangeRollback), write, "virInterfaceChangeRollback";
    }
    /// The host's devices (PCI, USB, net, storage, ...).
    trait NodeDeviceDriver (node_device) {
        /// The names of the host's devices, filtered by `LIST_NODE_DEVICES_CAP_*` (`virConnectListAllNodeDevices`).
        fn list_all_node_devices(&self, flags: u32) -> Result<Vec<String>>
            => hand, read, "virConnectListAllNodeDevices";
        /// How many devices have capability `cap` (every device when `None`) (`virNodeNumOfDevices`).
        fn node_num_of_devices(&self, cap: Option<&str>, flags: u32) -> Result<i32>
            => auto(NodeNumOfDevices), read, "virNodeNumOfDevices";
        /// The names of the devices with capability `cap` (every device when `None`), all of them: the RPC layer
        /// keeps the first `maxnames` (`virNodeListDevices`).
        fn node_list_devices(&self, cap: Option<&str>, flags: u32) -> Result<Vec<String>>
            => hand, read, "virNodeListDevices";
        /// The device's name as the driver spells it (`virNodeDeviceLookupByName`).
        fn node_device_lookup_by_name(&self, name: &str) -> Result<String>
            => auto(NodeDeviceLookupByName), read, "virNodeDeviceLookupByName";
        /// The SCSI host whose FC port has these names (`virNodeDeviceLookupSCSIHostByWWN`).
        fn node_device_lookup_scsi_host_by_wwn(&self, wwnn: &str, wwpn: &str, flags: u32) -> Result<String>
            => auto(NodeDeviceLookupScsiHostByWwn), read, "virNodeDeviceLookupSCSIHostByWWN";
        fn node_device_get_xml_desc(&self, name: &str, flags: u32) -> Result<String>
            => auto(NodeDeviceGetXmlDesc), read, "virNodeDeviceGetXMLDesc";
        /// The parent's name; `None` for the root (`computer`) (`virNodeDeviceGetParent`).
        fn node_device_get_parent(&self, name: &str) -> Result<Option<String>>
            => auto(NodeDeviceGetParent), read, "virNodeDeviceGetParent";
        fn node_device_num_of_caps(&self, name: &str) -> Result<i32>
            => auto(NodeDeviceNumOfCaps), read, "virNodeDeviceNumOfCaps";
        /// The device's capability names, all of them: the RPC layer keeps the first `maxnames`
        /// (`virNodeDeviceListCaps`).
        fn node_device_list_caps(&self, name: &str) -> Result<Vec<String>>
            => hand, read, "virNodeDeviceListCaps";
        fn node_device_is_active(&self, name: &str) -> Result<bool>
            => auto(NodeDeviceIsActive), read, "virNodeDeviceIsActive";
        fn node_device_is_persistent(&self, name: &str) -> Result<bool>
            => auto(NodeDeviceIsPersistent), read, "virNodeDeviceIsPersistent";
        fn node_device_get_autostart(&self, name: &str) -> Result<bool>
            => auto(NodeDeviceGetAutostart), read, "virNodeDeviceGetAutostart";
    }
    /// Secrets (passphrases and keys that disks and other objects refer to).
    trait SecretDriver (secret) {
        /// `virConnectListAllSecrets` with [`object_flags`]`::LIST_SECRETS_*` filters, in a stable order.
        fn list_all_secrets(&self, flags: u32) -> Result<Vec<SecretRef>>
            => hand, read, "virConnectListAllSecrets";
        fn secret_lookup_by_uuid(&self, uuid: &Uuid) -> Result<SecretRef>
            => auto(SecretLookupByUuid), read, "virSecretLookupByUUID";
        /// The secret for a usage (`VIR_SECRET_USAGE_TYPE_*`) and its id (`virSecretLookupByUsage`).
        fn secret_lookup_by_usage(&self, usage_type: i32, usage_id: &str) -> Result<SecretRef>
            => auto(SecretLookupByUsage), read, "virSecretLookupByUsage";
        /// Defines (or redefines) a secret, ephemeral or persistent.
        fn secret_define_xml(&self, xml: &str, flags: u32) -> Result<SecretRef>
            => auto(SecretDefineXml), write, "virSecretDefineXML";
        fn secret_get_xml_desc(&self, secret: &SecretRef, flags: u32) -> Result<String>
            => auto(SecretGetXmlDesc), read, "virSecretGetXMLDesc";
        fn secret_set_value(&self, secret: &SecretRef, value: &[u8], flags: u32) -> Result<()>
            => hand, write, "virSecretSetValue";
        /// The secret's value: refused for private secrets and, as libvirt does, on read-only connections.
        fn secret_get_value(&self, secret: &SecretRef, flags: u32) -> Result<Vec<u8>>
            => hand, write, "virSecretGetValue";
        fn secret_undefine(&self, secret: &SecretRef) -> Result<()>
            => auto(SecretUndefine), write, "virSecretUndefine";
        /// Lifecycle and value-changed events of every secret, from now on.
        fn secret_event_subscribe(&self) -> Result<broadcast::Receiver<SecretEvent>>
            => hand, read, "virConnectSecretEventRegisterAny";
    }
    /// Network filters (nwfilter) and their bindings to guest interfaces.
    trait NwFilterDriver (nwfilter) {
        /// `virConnectListAllNWFilters` (no filter flags exist), in a stable order.
        fn list_all_nwfilters(&self, flags: u32) -> Result<Vec<NwFilterRef>>
            => hand, read, "virConnectListAllNWFilters";
        fn nwfilter_lookup_by_name(&self, name: &str) -> Result<NwFilterRef>
            => auto(NwfilterLookupByName), read, "virNWFilterLookupByName";
        fn nwfilter_lookup_by_uuid(&self, uuid: &Uuid) -> Result<NwFilterRef>
            => auto(NwfilterLookupByUuid), read, "virNWFilterLookupByUUID";
        /// Defines (or redefines) a filter; `flags` may hold `NWFILTER_DEFINE_VALIDATE`.
        fn nwfilter_define_xml(&self, xml: &str, flags: u32) -> Result<NwFilterRef>
            => hand, write, "virNWFilterDefineXMLFlags", guard { refuse(api(flags, "virNWFilterDefineXML", "virNWFilterDefineXMLFlags")) };
        fn nwfilter_undefine(&self, filter: &NwFilterRef) -> Result<()>
            => auto(NwfilterUndefine), write, "virNWFilterUndefine";
        fn nwfilter_get_xml_desc(&self, filter: &NwFilterRef, flags: u32) -> Result<String>
            => auto(NwfilterGetXmlDesc), read, "virNWFilterGetXMLDesc";
        /// Every binding of a filter to a host port, in a stable order (`virConnectListAllNWFilterBindings`).
        fn list_all_nwfilter_bindings(&self, flags: u32) -> Result<Vec<NwFilterBindingRef>>
            => hand, read, "virConnectListAllNWFilterBindings";
        fn nwfilter_binding_lookup_by_port_dev(&self, portdev: &str) -> Result<NwFilterBindingRef>
            => auto(NwfilterBindingLookupByPortDev), read, "virNWFilterBindingLookupByPortDev";
        /// Binds a filter to a host port and enforces it (`virNWFilterBindingCreateXML`).
        fn nwfilter_binding_create_xml(&self, xml: &str, flags: u32) -> Result<NwFilterBindingRef>
            => auto(NwfilterBindingCreateXml), write, "virNWFilterBindingCreateXML";
        /// Removes a binding and its rules from the host (`virNWFilterBindingDelete`).
        fn nwfilter_binding_delete(&self, binding: &NwFilterBindingRef) -> Result<()>
            => auto(NwfilterBindingDelete), write, "virNWFilterBindingDelete";
        fn nwfilter_binding_get_xml_desc(&self, binding: &NwFilterBindingRef, flags: u32) -> Result<String>
            => auto(NwfilterBindingGetXmlDesc), read, "virNWFilterBindingGetXMLDesc";
    }
        }
    };
}
pub(crate) use driver_api;
