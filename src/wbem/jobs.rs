//! CIM jobs: the table of the operations that methods started and answered 4096 ("job started") for. Each job
//! runs as a task of its own; its record (state, progress, error, removal policy) is what `KVM_ConcreteJob`
//! shows. Observers registered with [`JobTable::subscribe`] hear every change (the hook job indications use).
//! Finished jobs with DeleteOnCompletion go away TimeBeforeRemoval after they finish.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, SystemTime};

use crate::cim::{CimStatus, ObjectPath};
use crate::wbem::error::{cim_error, OpError};

/// JobState values (CIM_ConcreteJob).
pub mod state {
    pub const RUNNING: u16 = 4;
    pub const COMPLETED: u16 = 7;
    pub const TERMINATED: u16 = 8;
    pub const KILLED: u16 = 9;
    pub const EXCEPTION: u16 = 10;
}

/// RequestStateChange's RequestedState values this table acts on.
pub const REQUEST_TERMINATE: u16 = 4;
pub const REQUEST_KILL: u16 = 5;

/// DMTF's default TimeBeforeRemoval: five minutes.
pub const DEFAULT_TIME_BEFORE_REMOVAL: Duration = Duration::from_secs(300);

/// Why a job failed: the code and text of ErrorCode/ErrorDescription, and the CIM status GetError reports.
#[derive(Clone, Debug, PartialEq)]
pub struct JobError {
    /// The libvirt error code when the driver failed, else the CIM status code.
    pub code: u16,
    pub description: String,
    pub cim_status: CimStatus,
}

impl JobError {
    pub fn from_op(err: &OpError) -> JobError {
        let cim = cim_error(err);
        let code = match err {
            OpError::Driver(e) => u16::try_from(e.code.0).unwrap_or(u16::MAX),
            _ => u16::try_from(cim.status.code()).unwrap_or(u16::MAX),
        };
        JobError {
            code,
            description: err.to_string(),
            cim_status: cim.status,
        }
    }
}

/// One job as the table holds it at a moment.
#[derive(Clone, Debug)]
pub struct JobRecord {
    /// InstanceID: a UUID, as libvirt-CIM names its jobs.
    pub id: String,
    /// The job's CIM class when it is not the table's usual one (a migration's `KVM_MigrationJob`).
    pub class: Option<&'static str>,
    /// Name: what kind of operation ("Snapshot", "CreateResourceInPool").
    pub name: String,
    /// Description: the operation and its object.
    pub description: String,
    /// The namespace the job lives in.
    pub namespace: String,
    pub state: u16,
    /// JobStatus: free-form progress text.
    pub status: String,
    pub percent: u16,
    pub submitted: SystemTime,
    pub started: Option<SystemTime>,
    pub state_changed: SystemTime,
    pub finished: Option<SystemTime>,
    pub delete_on_completion: bool,
    pub time_before_removal: Duration,
    pub error: Option<JobError>,
    /// The elements the job works on (CIM_AffectedJobElement).
    pub affected: Vec<ObjectPath>,
    /// Whether RequestStateChange may terminate or kill it.
    pub cancellable: bool,
}

impl JobRecord {
    pub fn is_finished(&self) -> bool {
        self.finished.is_some()
    }

    /// Whether a finished job has outlived its TimeBeforeRemoval (only jobs with DeleteOnCompletion expire).
    fn expired(&self, now: SystemTime) -> bool {
        match self.finished {
            Some(at) if self.delete_on_completion => now
                .duration_since(at)
                .is_ok_and(|age| age >= self.time_before_removal),
            _ => false,
        }
    }
}

/// A change observers hear about.
#[derive(Clone, Debug, PartialEq)]
pub enum JobEvent {
    Created,
    /// JobState moved from `previous` to the record's state.
    StateChanged {
        previous: u16,
    },
    /// PercentComplete moved.
    Progress,
    /// The job left the table (expired or deleted).
    Removed,
}

/// A function told of every job change, after the table was updated (called outside the table's lock).
pub type JobObserver = Arc<dyn Fn(&JobRecord, &JobEvent) + Send + Sync>;

/// What runs after a job is terminated or killed, to undo what it had done so far.
pub type Cleanup = Box<dyn FnOnce() -> Pin<Box<dyn Future<Output = ()> + Send>> + Send>;

/// What a method tells the table about the job it starts.
pub struct JobSpec {
    pub name: String,
    pub description: String,
    pub namespace: String,
    pub affected: Vec<ObjectPath>,
    /// Present when the operation can be cancelled: aborting its task, then this, leaves nothing behind.
    pub cleanup: Option<Cleanup>,
}

/// The handle a running job reports progress through.
#[derive(Clone)]
pub struct JobProgress {
    table: Weak<JobTable>,
    id: String,
}

impl JobProgress {
    /// Sets PercentComplete (0..=100) and, when given, JobStatus.
    pub fn report(&self, percent: u16, status: Option<&str>) {
        if let Some(table) = self.table.upgrade() {
            table.update(&self.id, |rec| {
                if rec.finished.is_some() {
                    return None;
                }
                let moved = rec.percent != percent.min(100);
                rec.percent = percent.min(100);
                if let Some(status) = status {
                    rec.status = status.to_owned();
                }
                moved.then_some(JobEvent::Progress)
            });
        }
    }
    /// Adds an element the job works on (one it made, say), to the job's AffectedJobElement.
    pub fn add_affected(&self, element: ObjectPath) {
        if let Some(table) = self.table.upgrade() {
            table.update(&self.id, |rec| {
                rec.affected.push(element);
                None
            });
        }
    }
}

struct Entry {
    record: JobRecord,
    task: Option<tokio::task::AbortHandle>,
    cleanup: Option<Cleanup>,
}

/// What RequestStateChange answers (CIM_ConcreteJob.RequestStateChange return values).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StateChange {
    Done = 0,
    NotSupported = 1,
    InvalidParameter = 5,
    InvalidTransition = 4097,
}

/// The jobs of one WBEM server.
#[derive(Default)]
pub struct JobTable {
    jobs: Mutex<BTreeMap<String, Entry>>,
    observers: Mutex<Vec<JobObserver>>,
}

impl JobTable {
    pub fn new() -> Arc<JobTable> {
        Arc::new(JobTable::default())
    }

    /// Registers an observer of every later job change (job indications hook in here).
    pub fn subscribe(&self, observer: JobObserver) {
        self.lock_observers().push(observer);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Entry>> {
        self.jobs.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn lock_observers(&self) -> std::sync::MutexGuard<'_, Vec<JobObserver>> {
        self.observers.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn notify(&self, events: Vec<(JobRecord, JobEvent)>) {
        if events.is_empty() {
            return;
        }
        let observers = self.lock_observers().clone();
        for (record, event) in &events {
            for observer in &observers {
                observer(record, event);
            }
        }
    }

    /// Changes one job's record; `change` returns the event to announce, if any.
    fn update(&self, id: &str, change: impl FnOnce(&mut JobRecord) -> Option<JobEvent>) {
        let event = {
            let mut jobs = self.lock();
            let Some(entry) = jobs.get_mut(id) else {
                return;
            };
            change(&mut entry.record).map(|ev| (entry.record.clone(), ev))
        };
        self.notify(event.into_iter().collect());
    }

    /// Starts `work` as a job and returns its InstanceID. The job is Running from the start; it ends
    /// Completed when `work` succeeds and Exception, with its error, when it fails.
    pub fn start<F, Fut>(self: &Arc<Self>, spec: JobSpec, work: F) -> String
    where
        F: FnOnce(JobProgress) -> Fut,
        Fut: Future<Output = Result<(), OpError>> + Send + 'static,
    {
        self.start_as(None, spec, work)
    }

    /// [`JobTable::start`] for a job of its own CIM class (`None`: the usual one).
    pub fn start_as<F, Fut>(
        self: &Arc<Self>,
        class: Option<&'static str>,
        spec: JobSpec,
        work: F,
    ) -> String
    where
        F: FnOnce(JobProgress) -> Fut,
        Fut: Future<Output = Result<(), OpError>> + Send + 'static,
    {
        let id = uuid::Uuid::new_v4().to_string();
        let now = SystemTime::now();
        let record = JobRecord {
            id: id.clone(),
            class,
            name: spec.name,
            description: spec.description,
            namespace: spec.namespace,
            state: state::RUNNING,
            status: "Running".into(),
            percent: 0,
            submitted: now,
            started: Some(now),
            state_changed: now,
            finished: None,
            delete_on_completion: true,
            time_before_removal: DEFAULT_TIME_BEFORE_REMOVAL,
            error: None,
            affected: spec.affected,
            cancellable: spec.cleanup.is_some(),
        };
        let progress = JobProgress {
            table: Arc::downgrade(self),
            id: id.clone(),
        };
        let fut = work(progress);
        let table = Arc::downgrade(self);
        let job_id = id.clone();
        // The entry goes in before the task can finish, so its end always finds it.
        let mut jobs = self.lock();
        let task = tokio::spawn(async move {
            let result = fut.await;
            if let Some(table) = table.upgrade() {
                table.finish(&job_id, result);
            }
        });
        jobs.insert(
            id.clone(),
            Entry {
                record: record.clone(),
                task: Some(task.abort_handle()),
                cleanup: spec.cleanup,
            },
        );
        drop(jobs);
        self.notify(vec![(record, JobEvent::Created)]);
        id
    }

    fn finish(&self, id: &str, result: Result<(), OpError>) {
        self.update(id, |rec| {
            if rec.finished.is_some() {
                return None;
            }
            let previous = rec.state;
            let now = SystemTime::now();
            match result {
                Ok(()) => {
                    rec.state = state::COMPLETED;
                    rec.status = "Completed".into();
                    rec.percent = 100;
                }
                Err(err) => {
                    rec.state = state::EXCEPTION;
                    rec.status = "Failed".into();
                    rec.error = Some(JobError::from_op(&err));
                }
            }
            rec.finished = Some(now);
            rec.state_changed = now;
            Some(JobEvent::StateChanged { previous })
        });
        if let Some(entry) = self.lock().get_mut(id) {
            entry.task = None;
            entry.cleanup = None;
        }
    }

    /// Drops the finished jobs whose time is up.
    fn expire(&self) {
        let now = SystemTime::now();
        let removed: Vec<JobRecord> = {
            let mut jobs = self.lock();
            let gone: Vec<String> = jobs
                .values()
                .filter(|e| e.record.expired(now))
                .map(|e| e.record.id.clone())
                .collect();
            gone.iter()
                .filter_map(|id| jobs.remove(id).map(|e| e.record))
                .collect()
        };
        self.notify(
            removed
                .into_iter()
                .map(|r| (r, JobEvent::Removed))
                .collect(),
        );
    }

    /// Every job still in the table.
    pub fn list(&self) -> Vec<JobRecord> {
        self.expire();
        self.lock().values().map(|e| e.record.clone()).collect()
    }

    /// Whether the table holds no job at all (expired ones not yet dropped count as held).
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    pub fn get(&self, id: &str) -> Option<JobRecord> {
        self.expire();
        self.lock().get(id).map(|e| e.record.clone())
    }

    /// Changes DeleteOnCompletion and TimeBeforeRemoval (the job's writable properties).
    pub fn set_removal(
        &self,
        id: &str,
        delete_on_completion: Option<bool>,
        time_before_removal: Option<Duration>,
    ) -> Result<(), OpError> {
        let mut jobs = self.lock();
        let entry = jobs.get_mut(id).ok_or_else(|| no_job(id))?;
        if let Some(v) = delete_on_completion {
            entry.record.delete_on_completion = v;
        }
        if let Some(v) = time_before_removal {
            entry.record.time_before_removal = v;
        }
        Ok(())
    }

    /// RequestStateChange: Terminate (4) and Kill (5) end a running job that can be cancelled; its cleanup
    /// runs before the job leaves the running state (Terminate) or after (Kill, which does not wait).
    pub async fn request_state(&self, id: &str, requested: u16) -> Result<StateChange, OpError> {
        let (task, cleanup, record) = {
            let mut jobs = self.lock();
            let entry = jobs.get_mut(id).ok_or_else(|| no_job(id))?;
            match requested {
                REQUEST_TERMINATE | REQUEST_KILL => {}
                // Start, Suspend and Service have no meaning for these jobs.
                2 | 3 | 6 => return Ok(StateChange::NotSupported),
                _ => return Ok(StateChange::InvalidParameter),
            }
            if entry.record.is_finished() {
                return Ok(StateChange::InvalidTransition);
            }
            if !entry.record.cancellable {
                return Ok(StateChange::NotSupported);
            }
            let task = entry.task.take();
            let cleanup = entry.cleanup.take();
            // Marked finished under the lock, so the task's own end (if it races) changes nothing.
            let now = SystemTime::now();
            let previous = entry.record.state;
            entry.record.state = if requested == REQUEST_KILL {
                state::KILLED
            } else {
                state::TERMINATED
            };
            entry.record.status = if requested == REQUEST_KILL {
                "Killed".into()
            } else {
                "Terminated".into()
            };
            entry.record.finished = Some(now);
            entry.record.state_changed = now;
            (task, cleanup, (entry.record.clone(), previous))
        };
        if let Some(task) = task {
            task.abort();
        }
        if let Some(cleanup) = cleanup {
            let undo = cleanup();
            if requested == REQUEST_KILL {
                tokio::spawn(undo);
            } else {
                undo.await;
            }
        }
        let (record, previous) = record;
        self.notify(vec![(record, JobEvent::StateChanged { previous })]);
        Ok(StateChange::Done)
    }

    /// DeleteInstance: removes a finished job; a running one cannot be deleted.
    pub fn delete(&self, id: &str) -> Result<(), OpError> {
        let removed = {
            let mut jobs = self.lock();
            let entry = jobs.get(id).ok_or_else(|| no_job(id))?;
            if !entry.record.is_finished() {
                return Err(OpError::cim(
                    CimStatus::Failed,
                    format!("job {id} is still running"),
                ));
            }
            jobs.remove(id).map(|e| e.record)
        };
        self.notify(
            removed
                .into_iter()
                .map(|r| (r, JobEvent::Removed))
                .collect(),
        );
        Ok(())
    }
}

fn no_job(id: &str) -> OpError {
    OpError::cim(CimStatus::NotFound, format!("no job {id}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{Error, ErrorCode, ErrorDomain};

    fn spec(cleanup: Option<Cleanup>) -> JobSpec {
        JobSpec {
            name: "Test".into(),
            description: "a test job".into(),
            namespace: "root/virt".into(),
            affected: Vec::new(),
            cleanup,
        }
    }

    async fn wait_finished(table: &JobTable, id: &str) -> JobRecord {
        for _ in 0..500 {
            if let Some(rec) = table.get(id).filter(JobRecord::is_finished) {
                return rec;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("job {id} did not finish");
    }

    #[tokio::test]
    async fn jobs_complete_fail_and_report_progress() {
        let table = JobTable::new();
        let events = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&events);
        table.subscribe(Arc::new(move |rec: &JobRecord, ev: &JobEvent| {
            seen.lock()
                .unwrap()
                .push((rec.state, rec.percent, ev.clone()));
        }));
        let ok = table.start(spec(None), |p| async move {
            p.report(50, Some("half"));
            Ok(())
        });
        let rec = wait_finished(&table, &ok).await;
        assert_eq!((rec.state, rec.percent), (state::COMPLETED, 100));
        assert!(rec.error.is_none());
        let bad = table.start(spec(None), |_| async move {
            Err(OpError::from(Error::new(
                ErrorCode::NO_DOMAIN,
                ErrorDomain::QEMU,
                "Domain not found",
            )))
        });
        let rec = wait_finished(&table, &bad).await;
        assert_eq!(rec.state, state::EXCEPTION);
        let err = rec.error.expect("error");
        assert_eq!(err.code, 42);
        assert_eq!(err.cim_status, CimStatus::NotFound);
        let events = events.lock().unwrap().clone();
        assert!(events.contains(&(state::RUNNING, 0, JobEvent::Created)));
        assert!(events.contains(&(state::RUNNING, 50, JobEvent::Progress)));
        assert!(events.contains(&(
            state::COMPLETED,
            100,
            JobEvent::StateChanged {
                previous: state::RUNNING
            }
        )));
        // A finished job does not change state again; a running uncancellable one cannot be terminated.
        assert_eq!(
            table.request_state(&ok, REQUEST_TERMINATE).await.unwrap(),
            StateChange::InvalidTransition
        );
        let slow = table.start(spec(None), |_| std::future::pending());
        assert_eq!(
            table.request_state(&slow, REQUEST_KILL).await.unwrap(),
            StateChange::NotSupported
        );
        assert!(table.delete(&slow).is_err());
        assert_eq!(
            table.request_state(&slow, 3).await.unwrap(),
            StateChange::NotSupported
        );
        assert_eq!(
            table.request_state(&slow, 77).await.unwrap(),
            StateChange::InvalidParameter
        );
    }

    #[tokio::test]
    async fn cancel_runs_cleanup_and_expiry_removes() {
        let table = JobTable::new();
        let cleaned = Arc::new(Mutex::new(false));
        let flag = Arc::clone(&cleaned);
        let cleanup: Cleanup = Box::new(move || {
            Box::pin(async move {
                *flag.lock().unwrap() = true;
            })
        });
        let id = table.start(spec(Some(cleanup)), |_| std::future::pending());
        assert_eq!(
            table.request_state(&id, REQUEST_TERMINATE).await.unwrap(),
            StateChange::Done
        );
        assert!(*cleaned.lock().unwrap());
        let rec = table.get(&id).expect("still listed");
        assert_eq!(rec.state, state::TERMINATED);
        table
            .set_removal(&id, None, Some(Duration::from_millis(0)))
            .unwrap();
        assert!(table.get(&id).is_none());
        // Without DeleteOnCompletion a finished job stays until deleted.
        let kept = table.start(spec(None), |_| async { Ok(()) });
        table
            .set_removal(&kept, Some(false), Some(Duration::ZERO))
            .unwrap();
        wait_finished(&table, &kept).await;
        assert!(table.get(&kept).is_some());
        table.delete(&kept).unwrap();
        assert!(table.get(&kept).is_none());
    }
}
