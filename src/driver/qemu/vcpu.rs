//! The vCPU count of a domain (`virDomainSetVcpusFlags`): the persistent definition, and a running guest's vCPUs
//! plugged and unplugged as libvirt does it: the free slots `query-hotpluggable-cpus` lists are added with
//! `device_add` (ids `vcpu<N>`, N the vCPU's index), and only vCPUs added that way are removed again, with
//! `device_del`, which the guest must accept.

use super::hotplug::Removed;
use super::monitor::command_error;
use super::{check_flags, no_domain, QemuDriver};
use crate::driver::{flags, DomainRef};
use crate::error::{Error, ErrorCode, ErrorDomain, Result};
use serde_json::{Map, Value};

/// One hot-pluggable CPU entity QEMU reports, in vCPU index order once sorted.
#[derive(Clone, Debug, PartialEq)]
struct Slot {
    driver: String,
    props: Map<String, Value>,
    vcpus: u32,
    /// Where the plugged entity lives; `None` for a free slot.
    qom_path: Option<String>,
}

/// The topology ids that order vCPUs, outermost first.
const TOPOLOGY: [&str; 6] = [
    "node-id",
    "socket-id",
    "die-id",
    "cluster-id",
    "core-id",
    "thread-id",
];

/// `query-hotpluggable-cpus` entries sorted into vCPU index order (QEMU lists them the other way round).
fn slots(reply: &Value) -> Vec<Slot> {
    let mut slots: Vec<Slot> = reply
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|entry| {
            Some(Slot {
                driver: entry["type"].as_str()?.to_string(),
                props: entry["props"].as_object()?.clone(),
                vcpus: entry["vcpus-count"]
                    .as_u64()
                    .and_then(|n| u32::try_from(n).ok())
                    .unwrap_or(1),
                qom_path: entry["qom-path"].as_str().map(str::to_string),
            })
        })
        .collect();
    let key = |slot: &Slot| -> Vec<i64> {
        TOPOLOGY
            .iter()
            .map(|id| slot.props.get(*id).and_then(Value::as_i64).unwrap_or(-1))
            .collect()
    };
    slots.sort_by_key(key);
    slots
}

/// The device id of a vCPU entity plugged with one (`/machine/peripheral/vcpu1` → `vcpu1`).
fn hotplugged_id(slot: &Slot) -> Option<&str> {
    slot.qom_path
        .as_deref()?
        .strip_prefix("/machine/peripheral/")
        .filter(|id| !id.contains('/'))
}

/// What to do to go from `current` online vCPUs to `wanted`: the slots to plug (with their index), or the
/// hot-plugged entities to unplug, last first.
#[derive(Debug, PartialEq)]
enum Plan {
    Add(Vec<(usize, Slot)>),
    Remove(Vec<Slot>),
}

fn plan(slots: &[Slot], current: u32, wanted: u32) -> Result<Plan> {
    let granularity = || {
        Error::invalid_arg(
            ErrorDomain::QEMU,
            "target vm vcpu granularity does not allow the desired vcpu count",
        )
    };
    let mut count = current;
    if wanted > current {
        let mut chosen = Vec::new();
        for (index, slot) in slots.iter().enumerate() {
            if count >= wanted {
                break;
            }
            if slot.qom_path.is_none() && count + slot.vcpus <= wanted {
                count += slot.vcpus;
                chosen.push((index, slot.clone()));
            }
        }
        return if count == wanted {
            Ok(Plan::Add(chosen))
        } else {
            Err(granularity())
        };
    }
    let mut chosen = Vec::new();
    for slot in slots.iter().rev() {
        if count <= wanted {
            break;
        }
        if hotplugged_id(slot).is_some() && count - slot.vcpus >= wanted {
            count -= slot.vcpus;
            chosen.push(slot.clone());
        }
    }
    if count == wanted {
        Ok(Plan::Remove(chosen))
    } else {
        Err(granularity())
    }
}

fn invalid(detail: String) -> Error {
    Error::invalid_arg(ErrorDomain::QEMU, detail)
}

impl QemuDriver {
    /// `virDomainSetVcpusFlags` (and `virDomainSetVcpus`, which is its live form).
    pub(super) async fn set_vcpus(
        &self,
        dom: &DomainRef,
        count: u32,
        vcpu_flags: u32,
    ) -> Result<()> {
        check_flags(
            vcpu_flags,
            flags::AFFECT_LIVE
                | flags::AFFECT_CONFIG
                | flags::VCPU_MAXIMUM
                | flags::VCPU_GUEST
                | flags::VCPU_HOTPLUGGABLE,
            "qemuDomainSetVcpusFlags",
        )?;
        // The API entry point's own checks, for callers that skip libvirt's client library.
        let maximum = vcpu_flags & flags::VCPU_MAXIMUM != 0;
        if maximum && vcpu_flags & flags::AFFECT_CONFIG == 0 {
            return Err(Error::new(
                ErrorCode::INVALID_ARG,
                ErrorDomain::DOMAIN,
                "Flag 'VIR_DOMAIN_AFFECT_CONFIG' is required by flag 'VIR_DOMAIN_VCPU_MAXIMUM'",
            ));
        }
        if count == 0 {
            return Err(Error::new(
                ErrorCode::INVALID_ARG,
                ErrorDomain::DOMAIN,
                "nvcpus in virDomainSetVcpusFlags must not be zero",
            ));
        }
        if vcpu_flags & flags::VCPU_GUEST != 0 {
            // Guest vCPU states go through the guest agent.
            self.check_active(dom)?;
            return self.agent_set_online_vcpus(dom, count).await;
        }
        let _guard = self.shared.lifecycle.lock().await;
        let (handle, persistent, running) = self.find(dom)?;
        let mut live = vcpu_flags & flags::AFFECT_LIVE != 0;
        let mut config = vcpu_flags & flags::AFFECT_CONFIG != 0;
        if !live && !config {
            live = running.is_some();
            config = !live;
        }
        if live && running.is_none() {
            return Err(Error::operation_invalid(
                ErrorDomain::QEMU,
                "domain is not running",
            ));
        }
        if config && !persistent {
            return Err(Error::operation_invalid(
                ErrorDomain::QEMU,
                "transient domains do not have any persistent config",
            ));
        }
        if maximum && live {
            return Err(Error::with_detail(
                ErrorCode::CONFIG_UNSUPPORTED,
                ErrorDomain::QEMU,
                "maximum vcpu count of a live domain can't be modified",
            ));
        }
        let (live_def, persistent_def) = {
            let domains = self.domains();
            let obj = domains.get(&handle.uuid).ok_or_else(no_domain)?;
            (obj.live.clone(), obj.persistent.clone())
        };
        if let (true, Some(def)) = (live, &live_def) {
            if count > def.vcpus {
                return Err(invalid(format!(
                    "requested vcpus is greater than max allowable vcpus for the live domain: {count} > {}",
                    def.vcpus
                )));
            }
        }
        if let (true, false, Some(def)) = (config, maximum, &persistent_def) {
            if count > def.vcpus {
                return Err(invalid(format!(
                    "requested vcpus is greater than max allowable vcpus for the persistent domain: {count} > {}",
                    def.vcpus
                )));
            }
        }
        if let (true, Some(def), Some(generation)) = (live, &live_def, running) {
            self.hotplug_vcpus(&handle, generation, def.current_vcpus, count)
                .await?;
        }
        if let (true, Some(mut def)) = (config, persistent_def) {
            if maximum {
                def.vcpus = count;
                def.current_vcpus = def.current_vcpus.min(count);
            } else {
                def.current_vcpus = count;
            }
            self.shared.files.save_definition(&def)?;
            if let Some(obj) = self.domains().get_mut(&handle.uuid) {
                obj.persistent = Some(def);
            }
        }
        Ok(())
    }

    /// Plugs or unplugs vCPU entities of run `generation` until `wanted` are online; the live definition counts
    /// each one QEMU took (or, for removals, released).
    async fn hotplug_vcpus(
        &self,
        handle: &DomainRef,
        generation: u64,
        current: u32,
        wanted: u32,
    ) -> Result<()> {
        if current == wanted {
            return Ok(());
        }
        let qmp = self.monitor(handle)?;
        let reply = qmp
            .execute("query-hotpluggable-cpus", None)
            .await
            .map_err(command_error)?;
        match plan(&slots(&reply), current, wanted)? {
            Plan::Add(chosen) => {
                for (index, slot) in chosen {
                    let mut arguments = slot.props.clone();
                    arguments.insert("driver".into(), Value::String(slot.driver.clone()));
                    arguments.insert("id".into(), Value::String(format!("vcpu{index}")));
                    qmp.execute("device_add", Some(Value::Object(arguments)))
                        .await
                        .map_err(command_error)?;
                    self.shared.edit_live(handle.uuid, generation, |live| {
                        live.current_vcpus = (live.current_vcpus + slot.vcpus).min(live.vcpus);
                    });
                }
            }
            Plan::Remove(chosen) => {
                for slot in chosen {
                    let Some(id) = hotplugged_id(&slot) else {
                        continue;
                    };
                    let removed = self
                        .request_unplug(
                            handle,
                            generation,
                            id.to_string(),
                            Removed::Vcpus(slot.vcpus),
                        )
                        .await?;
                    if !removed {
                        return Err(Error::with_detail(
                            ErrorCode::OPERATION_TIMEOUT,
                            ErrorDomain::QEMU,
                            "vcpu unplug request timed out. Unplug result must be manually inspected in the domain",
                        ));
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// What QEMU 7.2 answers for `-smp 1,maxcpus=3` with vCPU 1 hot-plugged as `vcpu1`.
    fn reply() -> Value {
        json!([
            {"props": {"core-id": 0, "thread-id": 0, "socket-id": 2}, "vcpus-count": 1, "type": "qemu64-x86_64-cpu"},
            {"props": {"core-id": 0, "thread-id": 0, "socket-id": 1}, "vcpus-count": 1,
             "qom-path": "/machine/peripheral/vcpu1", "type": "qemu64-x86_64-cpu"},
            {"props": {"core-id": 0, "thread-id": 0, "socket-id": 0}, "vcpus-count": 1,
             "qom-path": "/machine/unattached/device[0]", "type": "qemu64-x86_64-cpu"}
        ])
    }

    #[test]
    fn slots_sort_into_vcpu_order() {
        let slots = slots(&reply());
        let sockets: Vec<i64> = slots
            .iter()
            .map(|s| s.props["socket-id"].as_i64().unwrap())
            .collect();
        assert_eq!(sockets, [0, 1, 2]);
        assert_eq!(hotplugged_id(&slots[1]), Some("vcpu1"));
        assert_eq!(hotplugged_id(&slots[0]), None);
    }

    #[test]
    fn plans_add_free_slots_and_remove_only_hotplugged_vcpus() {
        let slots = slots(&reply());
        let Plan::Add(added) = plan(&slots, 2, 3).unwrap() else {
            panic!("adds");
        };
        assert_eq!(added.iter().map(|(i, _)| *i).collect::<Vec<_>>(), [2]);
        let Plan::Remove(removed) = plan(&slots, 2, 1).unwrap() else {
            panic!("removes");
        };
        assert_eq!(removed.len(), 1);
        assert_eq!(hotplugged_id(&removed[0]), Some("vcpu1"));
        // vCPU 0 came with the machine: it cannot go.
        let only_boot = [slots[0].clone(), slots[2].clone()];
        let err = plan(&only_boot, 1, 0).unwrap_err();
        assert_eq!(err.code, ErrorCode::INVALID_ARG);
        assert!(plan(&slots, 2, 4).is_err());
    }
}
