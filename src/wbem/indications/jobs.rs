//! The indications of CIM jobs, heard through [`JobTable::subscribe`]: a migration job (`KVM_MigrationJob`)
//! raises libvirt-CIM's `KVM_ComputerSystemMigrationJob{Created,Modified,Deleted}Indication`; any other job
//! (`KVM_ConcreteJob`) raises DSP1054's plain `CIM_InstCreation`, `CIM_InstModification` and `CIM_InstDeletion`.
//! Either way SourceInstance is the job as GetInstance serves it (PreviousInstance too for a modification: a
//! state change or a move of PercentComplete), so a console subscribing to `CIM_InstModification` in root/virt
//! follows every job, migrations included (their classes derive from the CIM_Inst* ones).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tracing::debug;

use super::hub::{now_datetime, Hub};
use crate::cim::{CimType, Instance, Repository, Value};
use crate::wbem::jobs::{JobEvent, JobRecord, JobTable};
use crate::wbem::providers::jobs::{job_class, job_instance_of};
use crate::wbem::providers::migration::JOB_CLASS as MIGRATION_JOB_CLASS;

const MIGRATION_PREFIX: &str = "KVM_ComputerSystemMigrationJob";

/// The indication class a job change raises.
fn indication_class(job: &JobRecord, event: &JobEvent) -> String {
    let migration = job_class(job) == MIGRATION_JOB_CLASS;
    let (theirs, ours) = match event {
        JobEvent::Created => ("CreatedIndication", "CIM_InstCreation"),
        JobEvent::StateChanged { .. } | JobEvent::Progress => {
            ("ModifiedIndication", "CIM_InstModification")
        }
        JobEvent::Removed => ("DeletedIndication", "CIM_InstDeletion"),
    };
    if migration {
        format!("{MIGRATION_PREFIX}{theirs}")
    } else {
        ours.to_owned()
    }
}

/// Raises job indications through `hub` from now on.
pub fn watch(hub: Arc<Hub>, jobs: &JobTable, repo: Arc<Repository>) {
    // The last instance raised per job: the PreviousInstance of its next modification.
    let last: Mutex<HashMap<String, Instance>> = Mutex::new(HashMap::new());
    jobs.subscribe(Arc::new(move |job: &JobRecord, event: &JobEvent| {
        if !hub.is_watched() {
            // Nobody listens: nothing is built, and nothing kept for later modifications.
            last.lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&job.id);
            return;
        }
        let Ok(ns) = repo.namespace(&job.namespace) else {
            return;
        };
        let Some(job_cls) = ns.class(job_class(job)) else {
            return;
        };
        let now = job_instance_of(job_cls, &job.namespace, job);
        let previous = {
            let mut last = last.lock().unwrap_or_else(|e| e.into_inner());
            if *event == JobEvent::Removed {
                last.remove(&job.id);
                None
            } else {
                last.insert(job.id.clone(), now.clone())
            }
        };
        let class_name = indication_class(job, event);
        let Some(class) = ns.class(&class_name) else {
            return;
        };
        let mut ind = class.new_instance();
        let s = |v: &str| Value::String(v.to_owned());
        ind.set("IndicationIdentifier", s(&hub.next_identifier()));
        ind.set("IndicationTime", now_datetime());
        ind.set("SourceInstanceHost", s(hub.host()));
        if let Some(mut path) = now.path.clone() {
            path.host = Some(hub.host().into());
            ind.set("SourceInstanceModelPath", s(&path.to_string()));
        }
        let plain = |inst: &Instance| {
            let mut copy = inst.clone();
            copy.path = None;
            Value::Instance(Box::new(copy))
        };
        if matches!(event, JobEvent::StateChanged { .. } | JobEvent::Progress) {
            if let Some(previous) = &previous {
                let changed: Vec<Value> = now
                    .properties()
                    .filter(|p| previous.get(&p.name) != Some(&p.value))
                    .map(|p| s(&p.name))
                    .collect();
                ind.set("PreviousInstance", plain(previous));
                ind.set(
                    "ChangedPropertyNames",
                    Value::Array(CimType::String, changed),
                );
            }
        }
        ind.set("SourceInstance", plain(&now));
        debug!(class = %class_name, job = %job.id, "job indication raised");
        hub.raise(&job.namespace, ind);
    }));
}
