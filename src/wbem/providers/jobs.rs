//! The jobs of the job table as CIM: `KVM_ConcreteJob` (InstanceID a UUID as libvirt-CIM's jobs; state,
//! progress, error, removal policy; RequestStateChange Terminate/Kill, GetError and GetErrors with an embedded
//! `CIM_Error`; ModifyInstance of DeleteOnCompletion/TimeBeforeRemoval; DeleteInstance of a finished job) and
//! `KVM_AffectedJobElement` (each job -> the elements it works on). Also [`start_job`], which methods use to
//! answer 4096 with a job reference.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;

use super::{
    assoc_instance, get_from_enumeration, not_found, paths_of, put, unknown_method, Provider,
    ProviderCtx,
};
use crate::cim::types::{DateTime, DateTimeKind};
use crate::cim::{CimType, Instance, ObjectPath, Value};
use crate::wbem::cimxml::MethodReturn;
use crate::wbem::error::OpError;
use crate::wbem::jobs::{JobProgress, JobRecord, JobSpec, JobTable};

pub const JOB_CLASS: &str = "KVM_ConcreteJob";
pub const AFFECTED_CLASS: &str = "KVM_AffectedJobElement";
const ERROR_CLASS: &str = "CIM_Error";
/// CIM_Error.ErrorSourceFormat "CIMObjectPath".
const SOURCE_IS_PATH: u16 = 2;
/// CIM_Error.ErrorType "Software Error".
const SOFTWARE_ERROR: u16 = 4;
/// CIM_Error.PerceivedSeverity "Major".
const SEVERITY_MAJOR: u16 = 5;
/// A method's "Method Parameters Checked - Job Started".
pub const JOB_STARTED: u32 = 4096;

/// The CIM class of a job of the table.
pub fn job_class(job: &JobRecord) -> &'static str {
    job.class.unwrap_or(JOB_CLASS)
}

/// The path of a job of the table, in its own class.
pub fn record_path(job: &JobRecord) -> ObjectPath {
    ObjectPath::instance_named(
        Some(&job.namespace),
        job_class(job),
        &[("InstanceID", &job.id)],
    )
}

/// Starts `work` as a job in `table` and answers 4096 with `Job` (its reference) and `out_params`.
pub fn start_job<F, Fut>(
    table: &Arc<JobTable>,
    spec: JobSpec,
    out_params: Vec<(String, Value)>,
    work: F,
) -> MethodReturn
where
    F: FnOnce(JobProgress) -> Fut,
    Fut: Future<Output = Result<(), OpError>> + Send + 'static,
{
    start_job_as(table, None, spec, out_params, work)
}

/// [`start_job`] for a job of its own class (`None`: `KVM_ConcreteJob`).
pub fn start_job_as<F, Fut>(
    table: &Arc<JobTable>,
    class: Option<&'static str>,
    spec: JobSpec,
    out_params: Vec<(String, Value)>,
    work: F,
) -> MethodReturn
where
    F: FnOnce(JobProgress) -> Fut,
    Fut: Future<Output = Result<(), OpError>> + Send + 'static,
{
    let namespace = spec.namespace.clone();
    let id = table.start_as(class, spec, work);
    let mut out = out_params;
    out.push((
        "Job".into(),
        Value::Reference(Arc::new(ObjectPath::instance_named(
            Some(&namespace),
            class.unwrap_or(JOB_CLASS),
            &[("InstanceID", &id)],
        ))),
    ));
    MethodReturn {
        value: Value::Uint32(JOB_STARTED),
        out_params: out,
    }
}

fn s(v: &str) -> Value {
    Value::String(v.to_owned())
}

fn timestamp(at: SystemTime) -> Option<Value> {
    let d = at.duration_since(UNIX_EPOCH).ok()?;
    let secs = d.as_secs();
    let days = i64::try_from(secs / 86_400).ok()?;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let text = format!(
        "{year:04}{month:02}{day:02}{:02}{:02}{:02}.{:06}+000",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60,
        d.subsec_micros()
    );
    DateTime::parse(&text).ok().map(Value::DateTime)
}

fn interval(d: Duration) -> Value {
    Value::DateTime(DateTime::interval_from_micros(
        u64::try_from(d.as_micros()).unwrap_or(u64::MAX),
    ))
}

/// The length of a CIM interval (unset fields count as zero).
fn interval_duration(value: &Value) -> Result<Duration, OpError> {
    let bad = || {
        OpError::cim(
            crate::cim::CimStatus::InvalidParameter,
            "TimeBeforeRemoval must be an interval",
        )
    };
    let dt = match value {
        Value::DateTime(dt) => dt.clone(),
        Value::String(text) => DateTime::parse(text).map_err(|_| bad())?,
        _ => return Err(bad()),
    };
    match dt.kind() {
        DateTimeKind::Interval {
            days,
            hours,
            minutes,
            seconds,
            microseconds,
        } => {
            let n = |v: Option<u32>| u64::from(v.unwrap_or(0));
            let secs = n(days) * 86_400 + n(hours) * 3600 + n(minutes) * 60 + n(seconds);
            Ok(Duration::from_secs(secs) + Duration::from_micros(n(microseconds)))
        }
        DateTimeKind::Timestamp { .. } => Err(bad()),
    }
}

fn job_instance(ctx: &ProviderCtx<'_>, job: &JobRecord) -> Instance {
    job_instance_of(ctx.class, &ctx.namespace, job)
}

/// A job as an instance of `class` (its own class, resolved) in `namespace`: what providers serve and job
/// indications embed.
pub fn job_instance_of(class: &crate::cim::Class, namespace: &str, job: &JobRecord) -> Instance {
    let mut inst = class.new_instance();
    put(&mut inst, class, "InstanceID", s(&job.id));
    put(&mut inst, class, "Name", s(&job.name));
    put(&mut inst, class, "ElementName", s(&job.name));
    put(&mut inst, class, "Caption", s("Job"));
    put(&mut inst, class, "Description", s(&job.description));
    put(&mut inst, class, "JobState", Value::Uint16(job.state));
    put(&mut inst, class, "JobStatus", s(&job.status));
    put(
        &mut inst,
        class,
        "PercentComplete",
        Value::Uint16(job.percent),
    );
    put(
        &mut inst,
        class,
        "DeleteOnCompletion",
        Value::Boolean(job.delete_on_completion),
    );
    put(
        &mut inst,
        class,
        "TimeBeforeRemoval",
        interval(job.time_before_removal),
    );
    for (name, at) in [
        ("TimeSubmitted", Some(job.submitted)),
        ("StartTime", job.started),
        ("TimeOfLastStateChange", Some(job.state_changed)),
    ] {
        if let Some(v) = at.and_then(timestamp) {
            put(&mut inst, class, name, v);
        }
    }
    if let Some(start) = job.started {
        let end = job.finished.unwrap_or_else(SystemTime::now);
        put(
            &mut inst,
            class,
            "ElapsedTime",
            interval(end.duration_since(start).unwrap_or_default()),
        );
    }
    if let Some(err) = &job.error {
        put(&mut inst, class, "ErrorCode", Value::Uint16(err.code));
        put(&mut inst, class, "ErrorDescription", s(&err.description));
    }
    inst.path = Some(inst.path_from_keys(class, Some(namespace.into())));
    inst
}

/// The job's error as an embedded `CIM_Error`, or none when it has not failed.
fn error_instance(job: &JobRecord) -> Option<Instance> {
    let err = job.error.as_ref()?;
    let mut inst = Instance::new(ERROR_CLASS);
    inst.set("ErrorType", Value::Uint16(SOFTWARE_ERROR));
    inst.set("OwningEntity", s("virtcim"));
    inst.set("MessageID", s(&format!("VIRTCIM{:04}", err.code)));
    inst.set("Message", s(&err.description));
    inst.set("PerceivedSeverity", Value::Uint16(SEVERITY_MAJOR));
    inst.set("ProbableCause", Value::Uint16(0));
    let source = record_path(job);
    inst.set("ErrorSource", s(&source.to_string()));
    inst.set("ErrorSourceFormat", Value::Uint16(SOURCE_IS_PATH));
    inst.set("CIMStatusCode", Value::Uint32(err.cim_status.code()));
    inst.set("CIMStatusCodeDescription", s(err.cim_status.name()));
    Some(inst)
}

/// `KVM_ConcreteJob` (or, with `class`, another job class such as `KVM_MigrationJob`): the jobs of the table
/// that are of this class.
pub struct JobProvider {
    pub table: Arc<JobTable>,
    pub class: &'static str,
}

impl JobProvider {
    pub fn new(table: &Arc<JobTable>, class: &'static str) -> JobProvider {
        JobProvider {
            table: Arc::clone(table),
            class,
        }
    }

    fn record(&self, path: &ObjectPath) -> Result<JobRecord, OpError> {
        path.class_name
            .eq_ignore_ascii_case(self.class)
            .then(|| path.key_str("InstanceID"))
            .flatten()
            .and_then(|id| self.table.get(id))
            .filter(|job| job_class(job) == self.class)
            .ok_or_else(|| not_found(path))
    }

    fn list(&self) -> Vec<JobRecord> {
        self.table
            .list()
            .into_iter()
            .filter(|job| job_class(job) == self.class)
            .collect()
    }
}

#[async_trait]
impl Provider for JobProvider {
    fn class_name(&self) -> &'static str {
        self.class
    }

    /// Jobs move by themselves (state, percent, elapsed time, expiry), so nothing is reused while any job is
    /// held; with none held there is nothing to move, and a new job only comes from a CIM write, which
    /// invalidates every answer reused before it.
    fn answers_are_reusable(&self) -> bool {
        self.table.is_empty()
    }

    async fn enumerate_names(&self, ctx: &ProviderCtx<'_>) -> Result<Vec<ObjectPath>, OpError> {
        Ok(self
            .list()
            .into_iter()
            .map(|j| {
                ObjectPath::instance_named(
                    Some(&ctx.namespace),
                    self.class,
                    &[("InstanceID", &j.id)],
                )
            })
            .collect())
    }

    async fn get(&self, ctx: &ProviderCtx<'_>, path: &ObjectPath) -> Result<Instance, OpError> {
        Ok(job_instance(ctx, &self.record(path)?))
    }

    async fn enumerate(&self, ctx: &ProviderCtx<'_>) -> Result<Vec<Instance>, OpError> {
        Ok(self.list().iter().map(|j| job_instance(ctx, j)).collect())
    }

    async fn invoke(
        &self,
        _ctx: &ProviderCtx<'_>,
        target: &ObjectPath,
        method: &str,
        params: Vec<(String, Value)>,
    ) -> Result<MethodReturn, OpError> {
        let job = self.record(target)?;
        let ret = |value: u32, out_params| MethodReturn {
            value: Value::Uint32(value),
            out_params,
        };
        match method.to_ascii_lowercase().as_str() {
            "requeststatechange" => {
                let param = |name: &str| {
                    params
                        .iter()
                        .find(|(n, _)| n.eq_ignore_ascii_case(name))
                        .map(|(_, v)| v)
                        .filter(|v| !matches!(v, Value::Null))
                };
                // "Use of Timeout Parameter Not Supported".
                if param("TimeoutPeriod").is_some() {
                    return Ok(ret(4098, Vec::new()));
                }
                let Some(requested) = param("RequestedState")
                    .and_then(Value::as_i128)
                    .and_then(|n| u16::try_from(n).ok())
                else {
                    return Ok(ret(5, Vec::new()));
                };
                let answer = self.table.request_state(&job.id, requested).await?;
                Ok(ret(answer as u32, Vec::new()))
            }
            "geterror" => {
                let error =
                    error_instance(&job).map_or(Value::Null, |i| Value::Instance(Box::new(i)));
                Ok(ret(0, vec![("Error".into(), error)]))
            }
            "geterrors" => {
                let errors = error_instance(&job)
                    .map(|i| Value::Instance(Box::new(i)))
                    .into_iter()
                    .collect();
                Ok(ret(
                    0,
                    vec![(
                        "Errors".into(),
                        Value::Array(CimType::EmbeddedInstance(None), errors),
                    )],
                ))
            }
            _ => Err(unknown_method(self.class, method)),
        }
    }

    async fn modify(
        &self,
        _ctx: &ProviderCtx<'_>,
        inst: Instance,
        property_list: Option<Vec<String>>,
    ) -> Result<(), OpError> {
        let path = inst.path.clone().ok_or_else(|| {
            OpError::cim(
                crate::cim::CimStatus::InvalidParameter,
                "the instance has no path",
            )
        })?;
        let job = self.record(&path)?;
        let wanted = |name: &str| {
            property_list
                .as_ref()
                .is_none_or(|l| l.iter().any(|p| p.eq_ignore_ascii_case(name)))
        };
        let present = |name: &str| inst.get(name).filter(|v| !matches!(v, Value::Null));
        let delete = if wanted("DeleteOnCompletion") {
            present("DeleteOnCompletion").and_then(Value::as_bool)
        } else {
            None
        };
        let removal = match present("TimeBeforeRemoval").filter(|_| wanted("TimeBeforeRemoval")) {
            Some(v) => Some(interval_duration(v)?),
            None => None,
        };
        self.table.set_removal(&job.id, delete, removal)
    }

    async fn delete(&self, _ctx: &ProviderCtx<'_>, path: &ObjectPath) -> Result<(), OpError> {
        let job = self.record(path)?;
        self.table.delete(&job.id)
    }
}

/// `KVM_AffectedJobElement`: each job and each element it works on.
pub struct AffectedJobElementProvider {
    pub table: Arc<JobTable>,
}

#[async_trait]
impl Provider for AffectedJobElementProvider {
    fn class_name(&self) -> &'static str {
        AFFECTED_CLASS
    }

    /// As for the jobs themselves: reusable only while no job is held.
    fn answers_are_reusable(&self) -> bool {
        self.table.is_empty()
    }

    async fn enumerate_names(&self, ctx: &ProviderCtx<'_>) -> Result<Vec<ObjectPath>, OpError> {
        Ok(paths_of(self.enumerate(ctx).await?))
    }

    async fn get(&self, ctx: &ProviderCtx<'_>, path: &ObjectPath) -> Result<Instance, OpError> {
        get_from_enumeration(self.enumerate(ctx).await?, path)
    }

    async fn enumerate(&self, ctx: &ProviderCtx<'_>) -> Result<Vec<Instance>, OpError> {
        let mut out = Vec::new();
        for job in self.table.list() {
            let mut job_ref = record_path(&job);
            job_ref.namespace = Some(ctx.namespace.clone());
            for element in &job.affected {
                let mut inst = assoc_instance(
                    ctx,
                    &[
                        ("AffectedElement", element.clone()),
                        ("AffectingElement", job_ref.clone()),
                    ],
                );
                // "Other": the job changes the element (creates, reverts or fills it).
                put(
                    &mut inst,
                    ctx.class,
                    "ElementEffects",
                    Value::Array(CimType::Uint16, vec![Value::Uint16(1)]),
                );
                put(
                    &mut inst,
                    ctx.class,
                    "OtherElementEffectsDescriptions",
                    Value::Array(CimType::String, vec![s(&job.name)]),
                );
                out.push(inst);
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_and_timestamps() {
        let v = interval(Duration::from_secs(300));
        assert_eq!(
            interval_duration(&v).unwrap(),
            Duration::from_secs(300),
            "{v:?}"
        );
        assert_eq!(
            interval_duration(&s("00000001000002.000005:000")).unwrap(),
            Duration::from_secs(86_402) + Duration::from_micros(5)
        );
        assert!(interval_duration(&s("20231114221320.000000+000")).is_err());
        let Some(Value::DateTime(t)) = timestamp(UNIX_EPOCH + Duration::from_secs(1_700_000_000))
        else {
            panic!("no timestamp");
        };
        assert_eq!(t.as_str(), "20231114221320.000000+000");
    }
}
