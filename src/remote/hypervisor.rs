//! The remote driver's hand-written methods for the hypervisor: connection facts, the node, domains, their tunables, statistics, snapshots and events: the calls whose wire form differs from the
//! driver API (plain procedures when no flags are given, fallbacks to old-style calls, conversions and caps).

use super::calls::imp;
use super::*;
use crate::driver::*;
use crate::rpc::qemu::{qemu_procs, QemuAgentCommandArgs, QemuMonitorCommandArgs};
use tokio::sync::broadcast;

impl imp::hypervisor::Hand for RemoteDriver {
    // ---- migration (bodies in migration.rs) ----
    async fn supports_feature(&self, feature: i32) -> Result<bool> {
        self.remote_supports_feature(feature).await
    }
    async fn domain_migrate_begin3_params(
        &self,
        dom: &DomainRef,
        params: Vec<TypedParam>,
        flags: u32,
    ) -> Result<(Vec<u8>, String)> {
        self.remote_migrate_begin3(dom, params, flags).await
    }
    async fn domain_migrate_prepare3_params(
        &self,
        params: Vec<TypedParam>,
        cookie_in: Vec<u8>,
        flags: u32,
    ) -> Result<(Vec<u8>, Option<String>)> {
        self.remote_migrate_prepare3(params, cookie_in, flags).await
    }
    async fn domain_migrate_prepare_tunnel3_params(
        &self,
        params: Vec<TypedParam>,
        cookie_in: Vec<u8>,
        flags: u32,
    ) -> Result<(Vec<u8>, Stream)> {
        self.remote_migrate_prepare_tunnel3(params, cookie_in, flags)
            .await
    }
    async fn domain_migrate_perform3_params(
        &self,
        dom: &DomainRef,
        dconnuri: Option<String>,
        params: Vec<TypedParam>,
        cookie_in: Vec<u8>,
        flags: u32,
    ) -> Result<Vec<u8>> {
        self.remote_migrate_perform3(dom, dconnuri, params, cookie_in, flags)
            .await
    }
    async fn domain_migrate_finish3_params(
        &self,
        params: Vec<TypedParam>,
        cookie_in: Vec<u8>,
        flags: u32,
        cancelled: bool,
    ) -> Result<(DomainRef, Vec<u8>)> {
        self.remote_migrate_finish3(params, cookie_in, flags, cancelled)
            .await
    }
    async fn domain_migrate_confirm3_params(
        &self,
        dom: &DomainRef,
        params: Vec<TypedParam>,
        cookie_in: Vec<u8>,
        flags: u32,
        cancelled: bool,
    ) -> Result<()> {
        self.remote_migrate_confirm3(dom, params, cookie_in, flags, cancelled)
            .await
    }
    // ---- the QEMU program ----
    async fn domain_qemu_monitor_command(
        &self,
        dom: &DomainRef,
        cmd: &str,
        flags: u32,
    ) -> Result<String> {
        let args = QemuMonitorCommandArgs {
            dom: dom.clone(),
            cmd: cmd.to_string(),
            flags,
        };
        let ret = self
            .client
            .call_qemu(qemu_procs::DomainMonitorCommand, &args)
            .await?;
        Ok(ret.result)
    }
    async fn domain_qemu_agent_command(
        &self,
        dom: &DomainRef,
        cmd: &str,
        timeout: i32,
        flags: u32,
    ) -> Result<Option<String>> {
        let args = QemuAgentCommandArgs {
            dom: dom.clone(),
            cmd: cmd.to_string(),
            timeout,
            flags,
        };
        let ret = self
            .client
            .call_qemu(qemu_procs::DomainAgentCommand, &args)
            .await?;
        Ok(ret.result)
    }
    // ---- streams ----
    async fn domain_screenshot(
        &self,
        dom: &DomainRef,
        screen: u32,
        flags: u32,
    ) -> Result<(String, Stream)> {
        let args = ScreenshotArgs {
            dom: dom.clone(),
            screen,
            flags,
        };
        let (ret, stream) = self
            .call_opening_stream(P::DomainScreenshot, args, false)
            .await?;
        Ok((ret.mime.unwrap_or_default(), stream))
    }
    async fn domain_open_console(
        &self,
        dom: &DomainRef,
        dev_name: Option<&str>,
        flags: u32,
    ) -> Result<Stream> {
        let args = OpenConsoleArgs {
            dom: dom.clone(),
            dev_name: dev_name.map(str::to_string),
            flags,
        };
        Ok(self
            .call_opening_stream(P::DomainOpenConsole, args, false)
            .await?
            .1)
    }
    async fn domain_summaries(&self, keep: &KeepDomain) -> Result<Vec<DomainSummary>> {
        summaries_by_calls(self, keep).await
    }
    async fn domain_summary(&self, name: &str) -> Result<DomainSummary> {
        summary_by_calls(self, name).await
    }
    // ---- connection and node ----
    async fn node_get_cpu_map(&self, flags: u32) -> Result<NodeCpuMap> {
        let args = CpuMapArgs {
            need_map: 1,
            need_online: 1,
            flags,
        };
        let ret: CpuMapRet = self.call(P::NodeGetCpuMap, args).await?;
        Ok(NodeCpuMap {
            cpus: to_u32("cpu count", ret.ret)?,
            map: ret.cpumap.0,
            online: ret.online,
        })
    }
    async fn node_get_cells_free_memory(
        &self,
        start_cell: i32,
        max_cells: i32,
    ) -> Result<Vec<u64>> {
        let args = CellsFreeMemoryArgs {
            start_cell,
            max_cells,
        };
        let ret: CellsFreeMemoryRet = self.call(P::NodeGetCellsFreeMemory, args).await?;
        Ok(ret.cells.0)
    }
    async fn get_max_vcpus(&self, kind: Option<&str>) -> Result<i32> {
        let args = MaxVcpusArgs {
            kind: kind.map(str::to_owned),
        };
        Ok(self.call(P::ConnectGetMaxVcpus, args).await?.value)
    }
    async fn get_uri(&self) -> Result<String> {
        Ok(self.uri.clone())
    }
    async fn is_encrypted(&self) -> Result<bool> {
        // Of the transports this client speaks, only TLS encrypts (ssh counts as secure, not encrypted, in libvirt).
        Ok(self.encrypted)
    }
    async fn is_alive(&self) -> Result<bool> {
        Ok(self.client.is_alive())
    }
    async fn close(&self) -> Result<()> {
        self.client.close().await
    }
    // ---- domains ----
    async fn list_all_domains(&self, flags: u32) -> Result<Vec<DomainRef>> {
        let args = ListAllArgs {
            need_results: 1,
            flags,
        };
        match self.call(P::ConnectListAllDomains, args).await {
            Ok(ret) => Ok(ret.domains.0),
            Err(err) if is_no_support(&err) => {
                match Self::old_style_scope(
                    flags,
                    flags::LIST_DOMAINS_ACTIVE,
                    flags::LIST_DOMAINS_INACTIVE,
                ) {
                    Some((active, inactive)) => self.list_domains_old_style(active, inactive).await,
                    None => Err(err),
                }
            }
            Err(err) => Err(err),
        }
    }
    async fn domain_define_xml(&self, xml: &str, flags: u32) -> Result<DomainRef> {
        let ret: DomainRet = if flags == 0 {
            self.call(P::DomainDefineXml, text(xml)).await?
        } else {
            let args = StringFlagsArgs {
                value: xml.to_string(),
                flags,
            };
            self.call(P::DomainDefineXmlFlags, args).await?
        };
        Ok(ret.dom)
    }
    async fn domain_undefine(&self, dom: &DomainRef, flags: u32) -> Result<()> {
        match self
            .call(P::DomainUndefineFlags, dom_flags(dom, flags))
            .await
        {
            Err(err) if is_no_support(&err) && flags == 0 => {
                self.call(P::DomainUndefine, dom_args(dom)).await
            }
            other => other,
        }
    }
    async fn domain_create(&self, dom: &DomainRef, flags: u32) -> Result<DomainRef> {
        if flags != 0 {
            let ret: DomainRet = self
                .call(P::DomainCreateWithFlags, dom_flags(dom, flags))
                .await?;
            return Ok(ret.dom);
        }
        self.call(P::DomainCreate, dom_args(dom)).await?;
        // DOMAIN_CREATE returns nothing; like libvirt, look the domain up again to learn its new id.
        self.domain_lookup_by_uuid(&dom.uuid).await
    }
    async fn domain_create_xml(&self, xml: &str, flags: u32) -> Result<DomainRef> {
        let args = StringFlagsArgs {
            value: xml.to_string(),
            flags,
        };
        Ok(self.call(P::DomainCreateXml, args).await?.dom)
    }
    async fn domain_destroy(&self, dom: &DomainRef, flags: u32) -> Result<()> {
        if flags == 0 {
            self.call(P::DomainDestroy, dom_args(dom)).await
        } else {
            self.call(P::DomainDestroyFlags, dom_flags(dom, flags))
                .await
        }
    }
    async fn domain_shutdown(&self, dom: &DomainRef, flags: u32) -> Result<()> {
        if flags == 0 {
            self.call(P::DomainShutdown, dom_args(dom)).await
        } else {
            self.call(P::DomainShutdownFlags, dom_flags(dom, flags))
                .await
        }
    }
    async fn domain_get_vcpu_info(
        &self,
        dom: &DomainRef,
        max_info: u32,
        map_len: u32,
    ) -> Result<(Vec<VcpuInfo>, Vec<u8>)> {
        let args = DomainGetVcpusArgs {
            dom: dom.clone(),
            max_info: i32::try_from(max_info).unwrap_or(i32::MAX),
            map_len: i32::try_from(map_len).unwrap_or(i32::MAX),
        };
        let ret: DomainGetVcpusRet = self.call(P::DomainGetVcpus, args).await?;
        Ok((ret.info.0, ret.cpumaps.0))
    }
    async fn domain_get_vcpu_pin_info(
        &self,
        dom: &DomainRef,
        max_maps: u32,
        map_len: u32,
        flags: u32,
    ) -> Result<(u32, Vec<u8>)> {
        let args = VcpuPinInfoArgs {
            dom: dom.clone(),
            max_maps: i32::try_from(max_maps).unwrap_or(i32::MAX),
            map_len: i32::try_from(map_len).unwrap_or(i32::MAX),
            flags,
        };
        let ret: VcpuPinInfoRet = self.call(P::DomainGetVcpuPinInfo, args).await?;
        Ok((to_u32("vcpu count", ret.num)?, ret.cpumaps.0))
    }
    async fn domain_get_scheduler_parameters(
        &self,
        dom: &DomainRef,
        flags: u32,
    ) -> Result<Vec<TypedParam>> {
        let args = SchedulerParamsFlagsArgs {
            dom: dom.clone(),
            nparams: SCHEDULER_PARAMETERS_MAX as i32,
            flags,
        };
        let ret: SchedulerParamsRet = self
            .call(P::DomainGetSchedulerParametersFlags, args)
            .await?;
        Ok(ret.params.0)
    }
    async fn domain_get_tunables(
        &self,
        dom: &DomainRef,
        kind: TunableKind,
        nparams: u32,
        flags: u32,
    ) -> Result<Vec<TypedParam>> {
        use crate::rpc::proto::{TunablesGetArgs, TunablesGetRet, TUNABLE_PARAMETERS_MAX};
        // This client decodes string-typed parameters, so it asks for them as libvirt's client library does; a
        // count query (`nparams` 0) goes out as one, as the server answers those without reading the domain.
        let args = || TunablesGetArgs {
            dom: dom.clone(),
            nparams: if nparams == 0 {
                0
            } else {
                TUNABLE_PARAMETERS_MAX as i32
            },
            flags: flags | crate::driver::flags::TYPED_PARAM_STRING_OKAY,
        };
        let ret: TunablesGetRet = match kind {
            TunableKind::Memory => self.call(P::DomainGetMemoryParameters, args()).await?,
            TunableKind::Blkio => self.call(P::DomainGetBlkioParameters, args()).await?,
            TunableKind::Numa => self.call(P::DomainGetNumaParameters, args()).await?,
            TunableKind::Scheduler => {
                return HypervisorDriver::domain_get_scheduler_parameters(self, dom, flags).await
            }
            TunableKind::Perf => {
                let args = DomainFlagsArgs {
                    dom: dom.clone(),
                    flags,
                };
                return Ok(self.call(P::DomainGetPerfEvents, args).await?.params.0);
            }
        };
        if nparams == 0 {
            return counted(ret.nparams, TUNABLE_PARAMETERS_MAX);
        }
        Ok(ret.params.0)
    }
    async fn domain_set_tunables(
        &self,
        dom: &DomainRef,
        kind: TunableKind,
        params: Vec<TypedParam>,
        flags: u32,
    ) -> Result<()> {
        use crate::rpc::proto::TunablesSetArgs;
        let args = TunablesSetArgs {
            dom: dom.clone(),
            params: crate::rpc::xdr::Array(params),
            flags,
        };
        match kind {
            TunableKind::Memory => self.call(P::DomainSetMemoryParameters, args).await,
            TunableKind::Blkio => self.call(P::DomainSetBlkioParameters, args).await,
            TunableKind::Numa => self.call(P::DomainSetNumaParameters, args).await,
            TunableKind::Scheduler => self.call(P::DomainSetSchedulerParametersFlags, args).await,
            TunableKind::Perf => {
                let args = crate::rpc::proto::PerfEventsSetArgs {
                    dom: args.dom,
                    params: crate::rpc::xdr::Array(args.params.0),
                    flags,
                };
                self.call(P::DomainSetPerfEvents, args).await
            }
        }
    }
    async fn domain_pin_vcpu(
        &self,
        dom: &DomainRef,
        vcpu: u32,
        cpumap: Vec<u8>,
        flags: u32,
    ) -> Result<()> {
        let args = crate::rpc::proto::PinVcpuFlagsArgs {
            dom: dom.clone(),
            vcpu,
            cpumap: crate::rpc::xdr::Opaque(cpumap),
            flags,
        };
        self.call(P::DomainPinVcpuFlags, args).await
    }
    async fn domain_get_emulator_pin_info(
        &self,
        dom: &DomainRef,
        map_len: u32,
        flags: u32,
    ) -> Result<Vec<u8>> {
        use crate::rpc::proto::{EmulatorPinInfoArgs, EmulatorPinInfoRet};
        let args = EmulatorPinInfoArgs {
            dom: dom.clone(),
            map_len: i32::try_from(map_len).unwrap_or(i32::MAX),
            flags,
        };
        let ret: EmulatorPinInfoRet = self.call(P::DomainGetEmulatorPinInfo, args).await?;
        Ok(ret.cpumaps.0)
    }
    async fn domain_pin_emulator(
        &self,
        dom: &DomainRef,
        cpumap: Vec<u8>,
        flags: u32,
    ) -> Result<()> {
        let args = crate::rpc::proto::PinEmulatorArgs {
            dom: dom.clone(),
            cpumap: crate::rpc::xdr::Opaque(cpumap),
            flags,
        };
        self.call(P::DomainPinEmulator, args).await
    }
    async fn domain_get_block_io_tune(
        &self,
        dom: &DomainRef,
        disk: Option<String>,
        nparams: u32,
        flags: u32,
    ) -> Result<Vec<TypedParam>> {
        use crate::rpc::proto::{
            BlockIoTuneGetArgs, BlockIoTuneGetRet, BLOCK_IO_TUNE_PARAMETERS_MAX,
        };
        let args = BlockIoTuneGetArgs {
            dom: dom.clone(),
            disk,
            nparams: if nparams == 0 {
                0
            } else {
                BLOCK_IO_TUNE_PARAMETERS_MAX as i32
            },
            flags: flags | super::flags::TYPED_PARAM_STRING_OKAY,
        };
        let ret: BlockIoTuneGetRet = self.call(P::DomainGetBlockIoTune, args).await?;
        if nparams == 0 {
            return counted(ret.nparams, BLOCK_IO_TUNE_PARAMETERS_MAX);
        }
        Ok(ret.params.0)
    }
    async fn domain_set_block_io_tune(
        &self,
        dom: &DomainRef,
        disk: String,
        params: Vec<TypedParam>,
        flags: u32,
    ) -> Result<()> {
        let args = crate::rpc::proto::BlockIoTuneSetArgs {
            dom: dom.clone(),
            disk,
            params: crate::rpc::xdr::Array(params),
            flags,
        };
        self.call(P::DomainSetBlockIoTune, args).await
    }
    // ---- domain snapshots ----
    async fn domain_snapshot_create_xml(
        &self,
        dom: &DomainRef,
        xml: &str,
        flags: u32,
    ) -> Result<SnapshotRef> {
        let args = SnapshotCreateXmlArgs {
            dom: dom.clone(),
            xml_desc: xml.to_string(),
            flags,
        };
        let ret: SnapshotRet = self.call(P::DomainSnapshotCreateXml, args).await?;
        Ok(ret.snap)
    }
    async fn domain_list_all_snapshots(
        &self,
        dom: &DomainRef,
        flags: u32,
    ) -> Result<Vec<SnapshotRef>> {
        let args = ListAllSnapshotsArgs {
            dom: dom.clone(),
            need_results: 1,
            flags,
        };
        let ret: ListAllSnapshotsRet = self.call(P::DomainListAllSnapshots, args).await?;
        Ok(ret.snapshots.0)
    }
    async fn domain_snapshot_list_all_children(
        &self,
        snap: &SnapshotRef,
        flags: u32,
    ) -> Result<Vec<SnapshotRef>> {
        let args = SnapshotListAllChildrenArgs {
            snap: snap.clone(),
            need_results: 1,
            flags,
        };
        let ret: ListAllSnapshotsRet = self.call(P::DomainSnapshotListAllChildren, args).await?;
        Ok(ret.snapshots.0)
    }
    async fn domain_snapshot_lookup_by_name(
        &self,
        dom: &DomainRef,
        name: &str,
        flags: u32,
    ) -> Result<SnapshotRef> {
        let args = SnapshotLookupByNameArgs {
            dom: dom.clone(),
            name: name.to_string(),
            flags,
        };
        let ret: SnapshotRet = self.call(P::DomainSnapshotLookupByName, args).await?;
        Ok(ret.snap)
    }
    async fn domain_snapshot_current(&self, dom: &DomainRef, flags: u32) -> Result<SnapshotRef> {
        let ret: SnapshotRet = self
            .call(P::DomainSnapshotCurrent, dom_flags(dom, flags))
            .await?;
        Ok(ret.snap)
    }
    async fn domain_snapshot_get_parent(
        &self,
        snap: &SnapshotRef,
        flags: u32,
    ) -> Result<SnapshotRef> {
        let ret: SnapshotRet = self
            .call(P::DomainSnapshotGetParent, snap_flags(snap, flags))
            .await?;
        Ok(ret.snap)
    }
    async fn domain_rename(&self, dom: &DomainRef, new_name: &str, flags: u32) -> Result<()> {
        let args = DomainRenameArgs {
            dom: dom.clone(),
            new_name: Some(new_name.to_string()),
            flags,
        };
        let _: IntRet = self.call(P::DomainRename, args).await?;
        Ok(())
    }
    async fn domain_memory_stats(
        &self,
        dom: &DomainRef,
        max_stats: u32,
        flags: u32,
    ) -> Result<Vec<MemoryStat>> {
        let args = DomainMemoryStatsArgs {
            dom: dom.clone(),
            max_stats,
            flags,
        };
        let ret: DomainMemoryStatsRet = self.call(P::DomainMemoryStats, args).await?;
        Ok(ret.stats.0)
    }
    // ---- statistics ----
    async fn connect_get_all_domain_stats(
        &self,
        doms: &[DomainRef],
        stats: u32,
        flags: u32,
    ) -> Result<Vec<DomainStatsRecord>> {
        let args = AllDomainStatsArgs {
            doms: Array(doms.to_vec()),
            stats,
            flags,
        };
        let ret: AllDomainStatsRet = self.call(P::ConnectGetAllDomainStats, args).await?;
        Ok(ret.records.0)
    }
    async fn domain_block_stats_flags(
        &self,
        dom: &DomainRef,
        disk: &str,
        flags: u32,
    ) -> Result<Vec<TypedParam>> {
        let args = BlockStatsFlagsArgs {
            dom: dom.clone(),
            path: disk.to_owned(),
            nparams: DOMAIN_BLOCK_STATS_PARAMETERS_MAX as i32,
            flags,
        };
        let ret: BlockStatsFlagsRet = self.call(P::DomainBlockStatsFlags, args).await?;
        Ok(ret.params.0)
    }
    async fn domain_get_cpu_stats(
        &self,
        dom: &DomainRef,
        nparams: u32,
        start_cpu: i32,
        ncpus: u32,
        flags: u32,
    ) -> Result<(Vec<TypedParam>, i32)> {
        let args = CpuStatsArgs {
            dom: dom.clone(),
            nparams,
            start_cpu,
            ncpus,
            flags,
        };
        let ret: CpuStatsRet = self.call(P::DomainGetCpuStats, args).await?;
        Ok((ret.params.0, ret.nparams))
    }
    async fn domain_get_job_info(&self, dom: &DomainRef) -> Result<JobInfo> {
        let ret: JobInfoRet = self.call(P::DomainGetJobInfo, dom_args(dom)).await?;
        Ok(JobInfo {
            kind: ret.kind,
            time_elapsed: ret.time_elapsed,
            time_remaining: ret.time_remaining,
            data_total: ret.data_total,
            data_processed: ret.data_processed,
            data_remaining: ret.data_remaining,
            mem_total: ret.mem_total,
            mem_processed: ret.mem_processed,
            mem_remaining: ret.mem_remaining,
            file_total: ret.file_total,
            file_processed: ret.file_processed,
            file_remaining: ret.file_remaining,
        })
    }
    async fn domain_get_job_stats(
        &self,
        dom: &DomainRef,
        flags: u32,
    ) -> Result<(i32, Vec<TypedParam>)> {
        let args = DomainFlagsArgs {
            dom: dom.clone(),
            flags,
        };
        let ret: JobStatsRet = self.call(P::DomainGetJobStats, args).await?;
        Ok((ret.kind, ret.params.0))
    }
    async fn get_domain_capabilities(
        &self,
        emulator: Option<String>,
        arch: Option<String>,
        machine: Option<String>,
        virt_type: Option<String>,
        flags: u32,
    ) -> Result<String> {
        let args = DomainCapabilitiesArgs {
            emulatorbin: emulator,
            arch,
            machine,
            virttype: virt_type,
            flags,
        };
        let ret: StringRet = self.call(P::ConnectGetDomainCapabilities, args).await?;
        Ok(ret.value)
    }
    async fn node_get_cpu_stats(&self, cpu_num: i32, flags: u32) -> Result<Vec<NodeCpuStat>> {
        let args = NodeCpuStatsArgs {
            cpu_num,
            nparams: NODE_CPU_STATS_MAX as i32,
            flags,
        };
        let ret: NodeCpuStatsRet = self.call(P::NodeGetCpuStats, args).await?;
        Ok(ret.params.0)
    }
    async fn domain_interface_addresses(
        &self,
        dom: &DomainRef,
        source: u32,
        flags: u32,
    ) -> Result<Vec<GuestInterface>> {
        let args = InterfaceAddressesArgs {
            dom: dom.clone(),
            source,
            flags,
        };
        let ret: InterfaceAddressesRet = self.call(P::DomainInterfaceAddresses, args).await?;
        Ok(ret.ifaces.0)
    }
    async fn domain_get_fsinfo(&self, dom: &DomainRef, flags: u32) -> Result<Vec<FsInfo>> {
        let args = DomainFlagsArgs {
            dom: dom.clone(),
            flags,
        };
        let ret: FsInfoRet = self.call(P::DomainGetFsinfo, args).await?;
        Ok(ret.info.0)
    }
    async fn domain_get_hostname(&self, dom: &DomainRef, flags: u32) -> Result<String> {
        let args = DomainFlagsArgs {
            dom: dom.clone(),
            flags,
        };
        let ret: StringRet = self.call(P::DomainGetHostname, args).await?;
        Ok(ret.value)
    }
    async fn domain_get_iothread_info(
        &self,
        dom: &DomainRef,
        flags: u32,
    ) -> Result<Vec<IothreadInfo>> {
        let args = DomainFlagsArgs {
            dom: dom.clone(),
            flags,
        };
        let ret: IothreadInfoRet = self.call(P::DomainGetIothreadInfo, args).await?;
        Ok(ret.info.0)
    }
    async fn domain_event_subscribe(&self) -> Result<broadcast::Receiver<DomainEvent>> {
        let mut slot = self.events.lock().await;
        if let Some(sender) = slot.as_ref() {
            return Ok(sender.subscribe());
        }
        // Listen before registering, so no event sent right after the registration is missed.
        let messages = self.client.subscribe();
        let callbacks = if self.event_callbacks {
            let mut ids = EventCallbacks::default();
            for (event_id, slot) in [
                (EVENT_ID_LIFECYCLE, &mut ids.lifecycle),
                (EVENT_ID_DEVICE_REMOVED, &mut ids.device_removed),
                (EVENT_ID_AGENT_LIFECYCLE, &mut ids.agent),
                (EVENT_ID_METADATA_CHANGE, &mut ids.metadata),
            ] {
                let args = CallbackRegisterArgs {
                    event_id,
                    dom: None,
                };
                match self
                    .call(P::ConnectDomainEventCallbackRegisterAny, args)
                    .await
                {
                    Ok(ret) => *slot = Some(ret.value),
                    // Lifecycle events are what subscribers rely on; a server without the others still serves.
                    Err(err) if event_id != EVENT_ID_LIFECYCLE => {
                        tracing::debug!(event_id, %err, "server refused a domain event family");
                    }
                    Err(err) => return Err(err),
                }
            }
            Some(ids)
        } else {
            self.call(
                P::ConnectDomainEventRegisterAny,
                IntArgs {
                    value: EVENT_ID_LIFECYCLE,
                },
            )
            .await?;
            None
        };
        let (sender, receiver) = broadcast::channel(EVENT_QUEUE);
        tokio::spawn(forward_events(messages, sender.clone(), callbacks));
        *slot = Some(sender);
        Ok(receiver)
    }
    // ---- host interfaces, sysinfo, CPU models ----
    async fn get_sysinfo(&self, flags: u32) -> Result<String> {
        let ret: StringRet = self.call(P::ConnectGetSysinfo, FlagsArgs { flags }).await?;
        Ok(ret.value)
    }
    async fn get_cpu_model_names(&self, arch: &str, flags: u32) -> Result<Vec<String>> {
        let args = CpuModelNamesArgs {
            arch: arch.to_string(),
            need_results: 1,
            flags,
        };
        let ret: CpuModelNamesRet = self.call(P::ConnectGetCpuModelNames, args).await?;
        Ok(ret.models.0)
    }
}

/// The answer to a count query (`nparams` 0): the wire carries only the count, and the driver API's contract for
/// count queries is that the list's length counts, not its values, so the entries are blank. A count above the
/// protocol's cap for the list is the server's error, refused before anything is allocated.
fn counted(count: i32, cap: u32) -> Result<Vec<TypedParam>> {
    let len = u32::try_from(count)
        .ok()
        .filter(|n| *n <= cap)
        .ok_or_else(|| crate::rpc::values::bad_reply("parameter count", i64::from(count)))?;
    let blank = TypedParam {
        field: String::new(),
        value: TypedValue::Int(0),
    };
    Ok(vec![blank; len as usize])
}
