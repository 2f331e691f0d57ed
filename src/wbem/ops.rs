//! The CIM operations (DSP0200): intrinsic operations on the class repository and the providers, extrinsic
//! methods, WQL queries, pull enumerations with expiring contexts, and the reuse of read answers. Failures are
//! [`OpError`]s, mapped to a CIM status by [`cim_error`] in [`crate::wbem::error`].

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::mpsc;
use tracing::{debug, Instrument as _};

use crate::cim::{namespace_eq, CimStatus, Class, Instance, Name, ObjectPath, Repository, Value};
use crate::driver::Connection;
use crate::wbem::cimxml::{
    message_id_span, write_envelope_open, write_imethod_element, write_imethod_list_open,
    write_ireturn_items, write_method_response, Call, CimError, IReturn, IntrinsicOp, MethodReturn,
    ParamValue, PullItems, PullResult, Request, WriteOptions, ENVELOPE_CLOSE, IMETHOD_LIST_CLOSE,
};
use crate::wbem::error::{cim_error, OpError};
use crate::wbem::jobs::JobTable;
use crate::wbem::pieces::{Lookup, PieceStore};
use crate::wbem::providers::guest::with_guest_memo;
use crate::wbem::providers::guest_assoc;
use crate::wbem::providers::{all_providers, HeldPieces, HoldsNothing, Provider, ProviderCtx};
use crate::wbem::query;

/// What the client of a request may do (its user's flag in the credential store).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    Full,
    /// Read operations only: every other call answers CIM_ERR_ACCESS_DENIED and changes nothing.
    ReadOnly,
}

/// A response body: whole, in parts known in advance (a reused answer; sent with Content-Length), or a channel
/// of chunks for large results (sent with chunked encoding).
pub enum Reply {
    Whole(String),
    Parts(Vec<Bytes>),
    Chunks(mpsc::Receiver<Bytes>),
}

impl Reply {
    /// The whole body (for tests and tools; a streamed body is drained).
    pub async fn into_bytes(self) -> Vec<u8> {
        match self {
            Reply::Whole(text) => text.into_bytes(),
            Reply::Parts(parts) => parts.concat(),
            Reply::Chunks(mut rx) => {
                let mut out = Vec::new();
                while let Some(chunk) = rx.recv().await {
                    out.extend_from_slice(&chunk);
                }
                out
            }
        }
    }
}

/// List results with more items than this are streamed, in chunks of about [`STREAM_CHUNK_BYTES`].
const STREAM_THRESHOLD: usize = 256;
const STREAM_CHUNK_BYTES: usize = 256 * 1024;
/// Answers up to this size are sent as one part ([`enveloped`]).
const JOIN_BELOW: usize = 64 * 1024;
/// Items written between two looks at the chunk size.
const ITEMS_PER_STEP: usize = 16;
/// The response cache: most entries and most bytes held (a full cache drops its stale entries, then all), and
/// the largest answer kept. An answer is shared by every request that reuses it (no copy per request), so the
/// bytes held are the answers' own size once; the largest answer is sized for 10 000 guests (every
/// per-guest class stays below 128 MB there; `KVM_ComputerSystem` is 30 MB).
const CACHE_MAX_ENTRIES: usize = 256;
const CACHE_MAX_BYTES: usize = 256 << 20;
const CACHE_MAX_ANSWER: usize = 128 << 20;
/// Requests remembered by their bytes ([`RawRequest`]), and the longest body remembered.
const RAW_MAX_ENTRIES: usize = 1024;
const RAW_MAX_BODY: usize = 16 * 1024;
/// Associators resolving at least this many result paths of one class enumerate it once (see
/// [`Operations::resolve_paths`]).
const RESOLVE_BATCH: usize = 16;
/// Pull contexts: default and largest OperationTimeout (seconds), most open at once, largest chunk.
const PULL_DEFAULT_TIMEOUT: u32 = 60;
const PULL_MAX_TIMEOUT: u32 = 3600;
const PULL_MAX_CONTEXTS: usize = 1024;
const PULL_MAX_OBJECTS: u32 = 100_000;

/// A provider and the resolved class it serves.
type ProviderWithClass = (Arc<dyn Provider>, Arc<Class>);

enum PullQueue {
    Instances(VecDeque<Instance>),
    Paths(VecDeque<ObjectPath>),
    /// OpenQueryInstances: instances without paths.
    Plain(VecDeque<Instance>),
}

/// What a pull operation asks for; it must match what the enumeration was opened for.
#[derive(Clone, Copy)]
enum PullKind {
    /// PullInstancesWithPath.
    WithPath,
    /// PullInstancePaths.
    Paths,
    /// PullInstances (after OpenQueryInstances).
    Plain,
}

struct PullContext {
    queue: PullQueue,
    timeout: Duration,
    expires: Instant,
}

/// The operations service: repository, driver, providers, open pull enumerations and reusable answers.
pub struct Operations {
    repo: Arc<Repository>,
    driver: Connection,
    providers: Vec<Arc<dyn Provider>>,
    host: Name,
    pulls: Mutex<HashMap<String, PullContext>>,
    cache: Option<Arc<ResponseCache>>,
    /// [`Operations::providers_under`]'s answers, by (namespace, class), lowercase.
    under: Mutex<HashMap<(String, String), ProvidersWithClasses>>,
    /// The jobs methods started (answered 4096 for).
    jobs: Arc<JobTable>,
}

/// Providers with their classes, shared between lookups.
type ProvidersWithClasses = Arc<[ProviderWithClass]>;

/// When an answer was computed: the driver's generation and the count of CIM writes, both read before.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Stamp {
    /// The driver's generation ([`Scope::Driver`]) or its host generation ([`Scope::Guest`]).
    driver: u64,
    /// The guest's version ([`Scope::Guest`]).
    guest: Option<u64>,
    writes: u64,
}

/// What an answer's validity follows: everything the driver reports, or (an association answer that stays
/// within one guest's model) that guest alone and the host, so that another guest's change leaves it valid.
#[derive(Clone, Debug)]
enum Scope {
    Driver,
    Guest(String),
}

struct CachedReply {
    stamp: Stamp,
    /// The `IMETHODRESPONSE` element (everything but the envelope, which carries the message ID).
    parts: Vec<Bytes>,
    size: usize,
}

/// Answers of read operations, reused while nothing changed: keyed on the whole request (namespace, operation,
/// every parameter including flags and PropertyList) and valid only at the stamp they were computed at.
#[derive(Default)]
struct ResponseCache {
    /// Whole answers are reused (else only the guests' pieces of enumerations).
    whole: bool,
    /// What was written for each guest's instances in enumerations, reused while the guest is unchanged.
    pieces: PieceStore,
    /// Bumped after every CIM write (InvokeMethod, Create/Modify/DeleteInstance): providers keep state too.
    writes: AtomicU64,
    /// Answers served from the cache (for tests and tuning).
    hits: AtomicU64,
    /// Guests' pieces of enumerations reused (for tests and tuning).
    piece_hits: AtomicU64,
    entries: Mutex<(HashMap<String, CachedReply>, usize)>,
    /// Requests seen before, by their bytes without the message ID: which answer each asks for.
    raw: Mutex<HashMap<Vec<u8>, Arc<RawEntry>>>,
}

/// What a request remembered by its bytes asks for: the key of its answer, the providers that answer may come
/// from (each asked again whether it allows reuse), and what its span names.
struct RawEntry {
    key: String,
    providers: ProvidersWithClasses,
    scope: Scope,
    operation: String,
    namespace: String,
    class: String,
}

/// A request as its bytes came (the body with the message ID's value cut out, and the CIM headers the body
/// must agree with), for answering a request that differs from an earlier one only in its message ID without
/// decoding it again.
pub struct RawRequest {
    key: Vec<u8>,
    message_id: String,
}

impl RawRequest {
    /// `None` when the body is long or its message ID is not found plainly ([`message_id_span`]).
    pub fn new(body: &[u8], cim_method: &str, cim_object: &str) -> Option<RawRequest> {
        if body.len() > RAW_MAX_BODY {
            return None;
        }
        let span = message_id_span(body)?;
        let message_id = std::str::from_utf8(&body[span.clone()]).ok()?.to_owned();
        let mut key = Vec::with_capacity(body.len() + cim_method.len() + cim_object.len() + 2);
        for part in [cim_method.as_bytes(), b"\0", cim_object.as_bytes(), b"\0"] {
            key.extend_from_slice(part);
        }
        key.extend_from_slice(&body[..span.start]);
        key.extend_from_slice(&body[span.end..]);
        Some(RawRequest { key, message_id })
    }
}

impl ResponseCache {
    fn get(&self, key: &str, stamp: Stamp) -> Option<Vec<Bytes>> {
        let entries = self.entries.lock().ok()?;
        let parts = entries
            .0
            .get(key)
            .filter(|e| e.stamp == stamp)
            .map(|e| e.parts.clone())?;
        self.hits.fetch_add(1, Ordering::Relaxed);
        Some(parts)
    }

    fn put(&self, key: String, stamp: Stamp, parts: Vec<Bytes>) {
        let size: usize = parts.iter().map(Bytes::len).sum::<usize>() + key.len();
        if size > CACHE_MAX_ANSWER {
            return;
        }
        let Ok(mut guard) = self.entries.lock() else {
            return;
        };
        let (entries, bytes) = &mut *guard;
        if let Some(old) = entries.remove(&key) {
            *bytes -= old.size;
        }
        if entries.len() >= CACHE_MAX_ENTRIES || *bytes + size > CACHE_MAX_BYTES {
            // Stale answers first; when that is not enough, start over.
            entries.retain(|_, e| e.stamp == stamp);
            *bytes = entries.values().map(|e| e.size).sum();
            if entries.len() >= CACHE_MAX_ENTRIES || *bytes + size > CACHE_MAX_BYTES {
                entries.clear();
                *bytes = 0;
            }
        }
        *bytes += size;
        entries.insert(key, CachedReply { stamp, parts, size });
    }

    fn invalidate(&self) {
        self.writes.fetch_add(1, Ordering::AcqRel);
    }

    /// Whether answers of this scope are reused: every answer with [`Reuse::All`]; with [`Reuse::Pieces`] only
    /// those that follow one guest (what was written for that guest, as its pieces of enumerations are).
    fn reuses(&self, scope: &Scope) -> bool {
        self.whole || matches!(scope, Scope::Guest(_))
    }
}

/// Where a computed answer goes besides the client.
struct CacheSlot {
    cache: Arc<ResponseCache>,
    key: String,
    stamp: Stamp,
}

/// What the server reuses of earlier answers, only ever while the driver's [`Driver::generation`] (whole
/// answers) or a guest's version (that guest's share of an enumeration) and the count of CIM writes stay the
/// same.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Reuse {
    /// Nothing: every answer is computed whole.
    Off,
    /// Only what was written for unchanged guests: their pieces of enumerations, and association answers
    /// that stay within one guest's model.
    Pieces,
    /// Whole answers too.
    All,
}

#[derive(Clone, Copy)]
enum Assoc {
    Associators,
    AssociatorNames,
    References,
    ReferenceNames,
}

impl Operations {
    /// `host` is what the server puts in the HOST element of full paths.
    pub fn new(repo: Arc<Repository>, driver: Connection, host: &str) -> Operations {
        let jobs = JobTable::new();
        Operations {
            repo,
            driver,
            providers: all_providers(&jobs),
            jobs,
            host: host.into(),
            pulls: Mutex::new(HashMap::new()),
            under: Mutex::new(HashMap::new()),
            cache: Some(Arc::new(ResponseCache {
                whole: true,
                ..ResponseCache::default()
            })),
        }
    }

    /// The job table: [`JobTable::subscribe`] hears every job's creation, progress, state change and removal
    /// (the hook for job indications).
    pub fn jobs(&self) -> &Arc<JobTable> {
        &self.jobs
    }

    /// Turns reuse of answers off (or back on); it is on by default and only ever applies to drivers that
    /// report a [`Driver::generation`]. For measuring the uncached path.
    pub fn set_response_cache(&mut self, on: bool) {
        self.set_reuse(if on { Reuse::All } else { Reuse::Off });
    }

    /// What may be reused ([`Reuse::All`] by default). For measuring each path.
    pub fn set_reuse(&mut self, reuse: Reuse) {
        self.cache = (reuse != Reuse::Off).then(|| {
            Arc::new(ResponseCache {
                whole: reuse == Reuse::All,
                ..ResponseCache::default()
            })
        });
    }

    /// Adds providers besides the built-in ones (the indication subscriptions, which share state with the
    /// server's event source).
    pub fn add_providers(&mut self, extra: impl IntoIterator<Item = Arc<dyn Provider>>) {
        self.providers.extend(extra);
        if let Ok(under) = self.under.get_mut() {
            under.clear();
        }
    }

    /// One instance by path, as GetInstance serves it (for the indication source).
    pub async fn instance_at(
        &self,
        namespace: &str,
        path: &ObjectPath,
    ) -> Result<Instance, OpError> {
        self.get_instance(namespace, path).await
    }

    /// The (namespace, class) of every provider, in registration order.
    pub fn provided_classes(&self) -> Vec<(&'static str, &'static str)> {
        self.providers
            .iter()
            .map(|p| (p.namespace(), p.class_name()))
            .collect()
    }

    /// How many guests' pieces of enumerations were reused so far.
    pub fn pieces_reused(&self) -> u64 {
        self.cache
            .as_ref()
            .map_or(0, |c| c.piece_hits.load(Ordering::Relaxed))
    }

    /// How many answers were reused so far.
    pub fn cache_hits(&self) -> u64 {
        self.cache
            .as_ref()
            .map_or(0, |c| c.hits.load(Ordering::Relaxed))
    }

    /// Carries out one decoded request and writes its response, in a `wbem_request` span (operation, namespace,
    /// class, message ID) that ends with one debug event carrying the CIM status and the time taken, so that
    /// `RUST_LOG=virtcim=debug` tells what happened to each request, provider logs included.
    pub async fn handle(&self, req: &Request) -> Reply {
        self.handle_as(req, Access::Full).await
    }

    /// [`Operations::handle`] for a client with the given access.
    pub async fn handle_as(&self, req: &Request, access: Access) -> Reply {
        let (namespace, class) = request_target(&req.call);
        let span = tracing::debug_span!(
            "wbem_request",
            operation = req.call.name(),
            namespace,
            class,
            message_id = req.message_id.as_str(),
            status = tracing::field::Empty,
            duration_us = tracing::field::Empty,
        );
        let started = Instant::now();
        let (reply, outcome) = if access == Access::ReadOnly && !req.call.reads_only() {
            let _entered = span.enter();
            denied(req)
        } else {
            self.dispatch(req).instrument(span.clone()).await
        };
        let duration_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        span.record("duration_us", duration_us);
        let _entered = span.enter();
        match outcome {
            Ok(()) => {
                span.record("status", "OK");
                debug!("WBEM request done");
            }
            Err(err) => {
                span.record("status", err.status.name());
                debug!(error = %err.description, "WBEM request failed");
            }
        }
        reply
    }

    /// The operation itself: its reply, and whether it succeeded (for the request's span).
    async fn dispatch(&self, req: &Request) -> (Reply, Result<(), CimError>) {
        match &req.call {
            Call::Intrinsic {
                name: op,
                namespace,
                ..
            } => {
                let opts = write_options(&req.call);
                let slot = self.cache_slot(op, namespace, &req.call);
                if let Some(slot) = &slot {
                    if let Some(parts) = slot.cache.get(&slot.key, slot.stamp) {
                        return (enveloped(&req.message_id, parts), Ok(()));
                    }
                }
                if *op == IntrinsicOp::EnumerateInstances {
                    // An error is left to the general path, which reports it as it always does.
                    if let Some(Ok(element)) =
                        self.enumerate_by_pieces(namespace, &req.call, opts).await
                    {
                        if let Some(slot) = slot {
                            slot.cache.put(slot.key, slot.stamp, element.clone());
                        }
                        return (enveloped(&req.message_id, element), Ok(()));
                    }
                }
                let result = self
                    .intrinsic(op, namespace, &req.call)
                    .await
                    .map_err(|e| cim_error(&e));
                if matches!(
                    op,
                    IntrinsicOp::CreateInstance
                        | IntrinsicOp::ModifyInstance
                        | IntrinsicOp::DeleteInstance
                ) {
                    self.invalidate_cache();
                }
                let outcome = result.as_ref().map(|_| ()).map_err(Clone::clone);
                let reply = match result {
                    Ok(ret) if ret.list_len() > STREAM_THRESHOLD => {
                        stream_large(&req.message_id, op.as_str(), ret, opts, slot)
                    }
                    result => {
                        let mut element = String::with_capacity(1024);
                        write_imethod_element(&mut element, op.as_str(), &result, opts);
                        let element = Bytes::from(element);
                        if let (Some(slot), Ok(_)) = (slot, &result) {
                            slot.cache.put(slot.key, slot.stamp, vec![element.clone()]);
                        }
                        enveloped(&req.message_id, vec![element])
                    }
                };
                (reply, outcome)
            }
            Call::Extrinsic {
                name,
                target,
                params,
            } => {
                let result = self
                    .extrinsic(name, target, params)
                    .await
                    .map_err(|e| cim_error(&e));
                // After the method, so that no answer computed before its effects is reused after.
                self.invalidate_cache();
                let outcome = result.as_ref().map(|_| ()).map_err(Clone::clone);
                let reply = Reply::Whole(write_method_response(&req.message_id, name, &result));
                (reply, outcome)
            }
        }
    }

    fn invalidate_cache(&self) {
        if let Some(cache) = &self.cache {
            cache.invalidate();
        }
    }

    /// The answer to a request remembered by its bytes ([`Operations::remember_raw`]), when it may be reused
    /// now: as [`Operations::handle`] would answer it, with the request's own message ID, and without decoding
    /// the request again.
    pub fn reuse_raw(&self, raw: &RawRequest) -> Option<Reply> {
        let cache = self.cache.as_ref()?;
        let entry = cache.raw.lock().ok()?.get(&raw.key).cloned()?;
        if !cache.reuses(&entry.scope) {
            return None;
        }
        if !entry
            .providers
            .iter()
            .all(|(p, _)| p.answers_are_reusable())
        {
            return None;
        }
        let parts = cache.get(&entry.key, self.stamp(cache, &entry.scope)?)?;
        let span = tracing::debug_span!(
            "wbem_request",
            operation = entry.operation.as_str(),
            namespace = entry.namespace.as_str(),
            class = entry.class.as_str(),
            message_id = raw.message_id.as_str(),
            status = "OK",
        );
        span.in_scope(|| debug!("WBEM request answered with a reused answer"));
        Some(enveloped(&raw.message_id, parts))
    }

    /// Remembers which answer a request decoded as `req` asks for, by its bytes, so that the same request
    /// with another message ID is answered by [`Operations::reuse_raw`]. Only requests whose answers may be
    /// reused are remembered.
    pub fn remember_raw(&self, raw: RawRequest, req: &Request) {
        let Some(cache) = self.cache.as_ref() else {
            return;
        };
        let Call::Intrinsic {
            name: op,
            namespace,
            ..
        } = &req.call
        else {
            return;
        };
        if req.message_id != raw.message_id
            || cache.raw.lock().is_ok_and(|m| m.contains_key(&raw.key))
        {
            return;
        }
        let Some((namespace, class)) = reuse_target(op, namespace, &req.call) else {
            return;
        };
        let Some((providers, scope)) = self
            .reuse_plan(op, namespace, class, &req.call)
            .filter(|(_, scope)| cache.reuses(scope))
        else {
            return;
        };
        let entry = Arc::new(RawEntry {
            key: answer_key(&req.call),
            providers,
            scope,
            operation: op.as_str().to_owned(),
            namespace: namespace.to_owned(),
            class: class.to_owned(),
        });
        if let Ok(mut map) = cache.raw.lock() {
            if map.len() >= RAW_MAX_ENTRIES {
                map.clear();
            }
            map.insert(raw.key, entry);
        }
    }

    /// Where the answer to this call may be reused from and stored: only read operations on classes whose
    /// providers are known to be covered, and only when the driver reports a generation.
    fn cache_slot(&self, op: &IntrinsicOp, namespace: &str, call: &Call) -> Option<CacheSlot> {
        let cache = self.cache.as_ref()?;
        let (namespace, class) = reuse_target(op, namespace, call)?;
        let (providers, scope) = self.reuse_plan(op, namespace, class, call)?;
        if !cache.reuses(&scope) || !providers.iter().all(|(p, _)| p.answers_are_reusable()) {
            return None;
        }
        // Read the stamp before computing: an answer computed across a change is stored under the old stamp,
        // which no later request matches.
        let stamp = self.stamp(cache, &scope)?;
        Some(CacheSlot {
            cache: Arc::clone(cache),
            key: answer_key(call),
            stamp,
        })
    }

    /// The providers an answer may come from (each must allow reuse when it is stored or reused) and what its
    /// validity follows. An association answer follows one guest when it is asked of one of that guest's
    /// objects through associations that link only objects of one guest's model (AssocClass or, for
    /// References, ResultClass names them): it then holds that guest's objects alone, whose providers split per
    /// guest, so it depends on that guest, the host and the CIM writes.
    fn reuse_plan(
        &self,
        op: &IntrinsicOp,
        namespace: &str,
        class: &str,
        call: &Call,
    ) -> Option<(ProvidersWithClasses, Scope)> {
        if class.is_empty() {
            let through = match op {
                IntrinsicOp::Associators | IntrinsicOp::AssociatorNames => {
                    call.class_name_param("AssocClass")
                }
                _ => call.class_name_param("ResultClass"),
            };
            let object = match call.param("ObjectName") {
                Some(ParamValue::InstanceName(p) | ParamValue::Reference(p)) => Some(p),
                _ => None,
            };
            if let (Some(through), Some(object)) = (through, object) {
                let links = self.providers_under(namespace, through).ok()?;
                let own = self.providers_under(namespace, &object.class_name).ok()?;
                let domain = guest_assoc::domain_of_object(object);
                if let (false, false, Some(domain)) = (links.is_empty(), own.is_empty(), domain) {
                    if own.iter().all(|(p, _)| p.splits_per_guest())
                        && links.iter().all(|(p, _)| p.links_within_guest())
                    {
                        let providers = links.iter().chain(own.iter()).cloned().collect();
                        return Some((providers, Scope::Guest(domain.to_owned())));
                    }
                }
            }
        }
        // Associations: any provider of the namespace may contribute (`class` is empty).
        Some((self.providers_under(namespace, class).ok()?, Scope::Driver))
    }

    /// The stamp an answer computed now is valid at (`None`: the driver cannot tell, nothing is reused).
    fn stamp(&self, cache: &ResponseCache, scope: &Scope) -> Option<Stamp> {
        let writes = cache.writes.load(Ordering::Acquire);
        Some(match scope {
            Scope::Driver => Stamp {
                driver: self.driver.generation()?,
                guest: None,
                writes,
            },
            Scope::Guest(name) => Stamp {
                driver: self.driver.host_generation()?,
                guest: Some(self.driver.domain_version(name)?),
                writes,
            },
        })
    }

    fn class(&self, namespace: &str, name: &str) -> Result<Arc<Class>, OpError> {
        let ns = self.repo.namespace(namespace)?;
        ns.class(name).cloned().ok_or_else(|| {
            OpError::cim(
                CimStatus::InvalidClass,
                format!("class {name} does not exist in {namespace}"),
            )
        })
    }

    fn provider_for(&self, namespace: &str, class: &str) -> Option<&Arc<dyn Provider>> {
        self.providers.iter().find(|p| {
            p.class_name().eq_ignore_ascii_case(class) && namespace_eq(p.namespace(), namespace)
        })
    }

    /// Providers whose class is `class` or a subclass of it (every provider of the namespace for `class` empty),
    /// with their classes. Worked out once per class: the providers and the schema are fixed, and walking every
    /// provider's superclasses on every request cost more than answering a small class.
    fn providers_under(
        &self,
        namespace: &str,
        class: &str,
    ) -> Result<ProvidersWithClasses, OpError> {
        let key = (namespace.to_ascii_lowercase(), class.to_ascii_lowercase());
        if let Some(found) = self.under.lock().ok().and_then(|u| u.get(&key).cloned()) {
            return Ok(found);
        }
        let ns = self.repo.namespace(namespace)?;
        let found: ProvidersWithClasses = self
            .providers
            .iter()
            .filter(|p| namespace_eq(p.namespace(), namespace))
            .filter(|p| class.is_empty() || ns.is_subclass_of(p.class_name(), class))
            .filter_map(|p| {
                ns.class(p.class_name())
                    .map(|c| (Arc::clone(p), Arc::clone(c)))
            })
            .collect();
        // Kept only for classes that exist: names a client makes up must not grow the table.
        let exists = class.is_empty() || ns.class(class).is_some();
        if let (true, Ok(mut under)) = (exists, self.under.lock()) {
            under.insert(key, Arc::clone(&found));
        }
        Ok(found)
    }

    fn ctx<'a>(&'a self, class: &'a Class, namespace: &str) -> ProviderCtx<'a> {
        ProviderCtx {
            driver: &self.driver,
            class,
            namespace: namespace.into(),
        }
    }

    /// Instances of `class` and its subclasses (providers and static MOF instances).
    async fn instances_of(&self, namespace: &str, class: &str) -> Result<Vec<Instance>, OpError> {
        self.class(namespace, class)?;
        let mut out = Vec::new();
        for (provider, pclass) in self.providers_under(namespace, class)?.iter() {
            out.extend(provider.enumerate(&self.ctx(pclass, namespace)).await?);
        }
        out.extend(self.static_instances_of(namespace, class)?);
        Ok(out)
    }

    /// EnumerateInstances written per guest where providers split their instances so ([`Provider::enumerate_pieces`]):
    /// each guest's instances are made, written and dropped before the next guest's. With answer reuse on, what
    /// was written for a guest unchanged since (and no CIM write since) is reused, the rest is computed and
    /// kept. The bytes are those of the general path. `None` where no provider splits.
    async fn enumerate_by_pieces(
        &self,
        namespace: &str,
        call: &Call,
        opts: WriteOptions,
    ) -> Option<Result<Vec<Bytes>, OpError>> {
        self.driver.generation()?;
        // Only where some provider splits: a large answer computed whole is better streamed as it is written.
        let class = call.class_name_param("ClassName")?;
        let providers = self.providers_under(namespace, class).ok()?;
        if !providers.iter().any(|(p, _)| p.splits_per_guest()) {
            return None;
        }
        let target = (namespace, class);
        Some(
            self.enumerate_pieces_in(self.cache.as_deref(), target, providers, call, opts)
                .await,
        )
    }

    /// [`Operations::enumerate_by_pieces`] for `class_name` in `namespace`, whose providers are `providers`.
    async fn enumerate_pieces_in(
        &self,
        cache: Option<&ResponseCache>,
        (namespace, class_name): (&str, &str),
        providers: ProvidersWithClasses,
        call: &Call,
        opts: WriteOptions,
    ) -> Result<Vec<Bytes>, OpError> {
        let requested = self.class(namespace, class_name)?;
        let deep = call.bool_param("DeepInheritance")?.unwrap_or(true);
        let property_list = call.property_list()?;
        let write_shaped = |out: &mut Chunks, mut items: Vec<Instance>| {
            for inst in &mut items {
                shape_named(inst, &requested, deep, property_list.as_deref());
            }
            let ret = IReturn::NamedInstances(items);
            write_ireturn_items(&mut out.buf, &ret, 0..ret.list_len(), opts);
        };
        // Read before computing: pieces written across a CIM write are kept under the old count.
        let writes = cache.map(|c| c.writes.load(Ordering::Acquire));
        let variant = format!("{call:?}");
        let mut out = Chunks::new();
        write_imethod_list_open(&mut out.buf, IntrinsicOp::EnumerateInstances.as_str());
        for (provider, pclass) in providers.iter() {
            let ctx = self.ctx(pclass, namespace);
            let lookup = cache
                .zip(writes)
                .map(|(c, writes)| Lookup::new(&c.pieces, &variant, writes, provider.class_name()));
            let have: &dyn HeldPieces = match &lookup {
                Some(lookup) => lookup,
                None => &HoldsNothing,
            };
            let Some(pieces) = provider.enumerate_pieces(&ctx, have).await? else {
                write_shaped(&mut out, provider.enumerate(&ctx).await?);
                out.cut_when_full();
                continue;
            };
            let mut fresh = Vec::new();
            for piece in pieces {
                match piece.instances {
                    Some(items) => {
                        let start = out.buf.len();
                        write_shaped(&mut out, items);
                        if lookup.is_some() {
                            let written = Bytes::copy_from_slice(&out.buf.as_bytes()[start..]);
                            fresh.push((piece.key, written));
                        }
                        out.cut_when_full();
                    }
                    None => {
                        let held = lookup.as_ref().and_then(|l| l.take(&piece.key.uuid));
                        let held = held.ok_or_else(|| {
                            OpError::cim(CimStatus::Failed, "a reused piece went missing")
                        })?;
                        if let Some(cache) = cache {
                            cache.piece_hits.fetch_add(1, Ordering::Relaxed);
                        }
                        out.push(held);
                    }
                }
            }
            if let (Some(cache), Some(writes)) = (cache, writes) {
                cache
                    .pieces
                    .put(&variant, writes, provider.class_name(), fresh);
            }
        }
        write_shaped(&mut out, self.static_instances_of(namespace, class_name)?);
        out.buf.push_str(IMETHOD_LIST_CLOSE);
        Ok(coalesce(out.finish()))
    }

    /// The instances of `class` and its subclasses the namespace's MOF declares.
    fn static_instances_of(&self, namespace: &str, class: &str) -> Result<Vec<Instance>, OpError> {
        let mut out = Vec::new();
        let ns = self.repo.namespace(namespace)?;
        let ns_name = Name::from(namespace);
        for inst in ns.instances() {
            if ns.is_subclass_of(&inst.class_name, class) {
                let mut inst = inst.clone();
                if inst.path.is_none() {
                    if let Some(c) = ns.class(&inst.class_name) {
                        inst.path = Some(inst.path_from_keys(c, Some(ns_name.clone())));
                    }
                }
                out.push(inst);
            }
        }
        Ok(out)
    }

    async fn names_of(&self, namespace: &str, class: &str) -> Result<Vec<ObjectPath>, OpError> {
        self.class(namespace, class)?;
        let mut out = Vec::new();
        for (provider, pclass) in self.providers_under(namespace, class)?.iter() {
            out.extend(
                provider
                    .enumerate_names(&self.ctx(pclass, namespace))
                    .await?,
            );
        }
        let ns = self.repo.namespace(namespace)?;
        let ns_name = Name::from(namespace);
        for inst in ns.instances() {
            if ns.is_subclass_of(&inst.class_name, class) {
                if let Some(c) = ns.class(&inst.class_name) {
                    out.push(
                        inst.path
                            .clone()
                            .unwrap_or_else(|| inst.path_from_keys(c, Some(ns_name.clone()))),
                    );
                }
            }
        }
        Ok(out)
    }

    async fn get_instance(&self, namespace: &str, path: &ObjectPath) -> Result<Instance, OpError> {
        let ns_name = path.namespace.as_deref().unwrap_or(namespace);
        let class = self.class(ns_name, &path.class_name)?;
        if let Some(provider) = self.provider_for(ns_name, &class.name) {
            return provider.get(&self.ctx(&class, ns_name), path).await;
        }
        let ns = self.repo.namespace(ns_name)?;
        let shared_ns = Name::from(ns_name);
        for inst in ns.instances() {
            if let Some(c) = ns.class(&inst.class_name) {
                let ipath = inst
                    .path
                    .clone()
                    .unwrap_or_else(|| inst.path_from_keys(c, Some(shared_ns.clone())));
                if ipath.same_object(path) {
                    let mut inst = inst.clone();
                    inst.path = Some(ipath);
                    return Ok(inst);
                }
            }
        }
        Err(OpError::cim(
            CimStatus::NotFound,
            format!("no instance {path}"),
        ))
    }

    fn full_path(&self, path: &ObjectPath, namespace: &str) -> ObjectPath {
        let mut p = path.clone();
        p.host = Some(self.host.clone());
        if p.namespace.is_none() {
            p.namespace = Some(namespace.into());
        }
        p
    }

    async fn intrinsic(
        &self,
        op: &IntrinsicOp,
        namespace: &str,
        call: &Call,
    ) -> Result<IReturn, OpError> {
        self.repo.namespace(namespace)?;
        let flag = |n: &str, default: bool| -> Result<bool, OpError> {
            Ok(call.bool_param(n)?.unwrap_or(default))
        };
        let class_param = |n: &str| -> Result<String, OpError> {
            call.class_name_param(n).map(str::to_owned).ok_or_else(|| {
                OpError::cim(CimStatus::InvalidParameter, format!("{n} is required"))
            })
        };
        let instance_param = |n: &str| -> Result<ObjectPath, OpError> {
            match call.param(n) {
                Some(ParamValue::InstanceName(p) | ParamValue::Reference(p)) => Ok(p.clone()),
                _ => Err(OpError::cim(
                    CimStatus::InvalidParameter,
                    format!("{n} (an instance name) is required"),
                )),
            }
        };
        let property_list = call.property_list()?;
        match op {
            IntrinsicOp::GetClass => {
                let class_name = class_param("ClassName")?;
                let ns = self.repo.namespace(namespace)?;
                let class = ns.class(&class_name).ok_or_else(|| {
                    OpError::cim(
                        CimStatus::NotFound,
                        format!("class {class_name} does not exist"),
                    )
                })?;
                let mut class = if flag("LocalOnly", true)? {
                    class.local_only()
                } else {
                    class.as_ref().clone()
                };
                if let Some(list) = &property_list {
                    class
                        .properties
                        .retain(|p| list.iter().any(|n| n.eq_ignore_ascii_case(&p.name)));
                }
                Ok(IReturn::Class(class))
            }
            IntrinsicOp::EnumerateClasses | IntrinsicOp::EnumerateClassNames => {
                let ns = self.repo.namespace(namespace)?;
                let parent = call.class_name_param("ClassName").map(str::to_owned);
                if let Some(parent) = &parent {
                    self.class(namespace, parent)?;
                }
                let names = ns.subclass_names(parent.as_deref(), flag("DeepInheritance", false)?);
                if *op == IntrinsicOp::EnumerateClassNames {
                    return Ok(IReturn::ClassNames(names));
                }
                let local_only = flag("LocalOnly", true)?;
                Ok(IReturn::Classes(
                    names
                        .iter()
                        .filter_map(|n| ns.class(n))
                        .map(|c| {
                            if local_only {
                                c.local_only()
                            } else {
                                c.as_ref().clone()
                            }
                        })
                        .collect(),
                ))
            }
            IntrinsicOp::EnumerateInstances => {
                let class_name = class_param("ClassName")?;
                let requested = self.class(namespace, &class_name)?;
                let deep = flag("DeepInheritance", true)?;
                let mut items = self.instances_of(namespace, &class_name).await?;
                for inst in &mut items {
                    shape_named(inst, &requested, deep, property_list.as_deref());
                }
                Ok(IReturn::NamedInstances(items))
            }
            IntrinsicOp::EnumerateInstanceNames => {
                let class_name = class_param("ClassName")?;
                let mut names = self.names_of(namespace, &class_name).await?;
                for p in &mut names {
                    p.host = None;
                    p.namespace = None;
                }
                Ok(IReturn::InstanceNames(names))
            }
            IntrinsicOp::GetInstance => {
                let path = instance_param("InstanceName")?;
                let mut inst = self.get_instance(namespace, &path).await?;
                if let Some(list) = &property_list {
                    inst.filter_properties(list);
                }
                Ok(IReturn::Instance(inst))
            }
            IntrinsicOp::GetProperty => {
                let path = instance_param("InstanceName")?;
                let prop = call.string_param("PropertyName")?.ok_or_else(|| {
                    OpError::cim(CimStatus::InvalidParameter, "PropertyName is required")
                })?;
                let inst = self.get_instance(namespace, &path).await?;
                let value = inst.get(&prop).cloned().ok_or_else(|| {
                    OpError::cim(
                        CimStatus::NoSuchProperty,
                        format!("no property {prop} in {}", inst.class_name),
                    )
                })?;
                Ok(IReturn::Value(value))
            }
            IntrinsicOp::Associators
            | IntrinsicOp::AssociatorNames
            | IntrinsicOp::References
            | IntrinsicOp::ReferenceNames => {
                let kind = match op {
                    IntrinsicOp::Associators => Assoc::Associators,
                    IntrinsicOp::AssociatorNames => Assoc::AssociatorNames,
                    IntrinsicOp::References => Assoc::References,
                    _ => Assoc::ReferenceNames,
                };
                let object = match call.param("ObjectName") {
                    Some(ParamValue::InstanceName(p) | ParamValue::Reference(p)) => p.clone(),
                    Some(ParamValue::ClassName(c)) => ObjectPath::class(None, c),
                    _ => {
                        return Err(OpError::cim(
                            CimStatus::InvalidParameter,
                            "ObjectName is required",
                        ))
                    }
                };
                if object.is_class_path() {
                    return self.class_associations(kind, namespace, &object, call);
                }
                let filters = AssocFilters::from_call(call)?;
                let (paths, instances) = self
                    .associations(kind, namespace, &object, &filters)
                    .await?;
                Ok(match kind {
                    Assoc::AssociatorNames | Assoc::ReferenceNames => IReturn::ObjectPaths(paths),
                    Assoc::Associators | Assoc::References => {
                        IReturn::ObjectsWithPath(shape_all(instances, &property_list))
                    }
                })
            }
            IntrinsicOp::ExecQuery => {
                let language = call.string_param("QueryLanguage")?.unwrap_or_default();
                if !language.eq_ignore_ascii_case("WQL") {
                    return Err(OpError::cim(
                        CimStatus::QueryLanguageNotSupported,
                        format!("query language {language:?} is not supported (WQL is)"),
                    ));
                }
                let text = call.string_param("Query")?.unwrap_or_default();
                let q = query::parse(&text)?;
                let mut items = Vec::new();
                for mut inst in self.instances_of(namespace, &q.class_name).await? {
                    if q.matches(&inst) {
                        if let Some(props) = &q.properties {
                            inst.filter_properties(props);
                        }
                        inst.path = inst.path.map(|p| self.full_path(&p, namespace));
                        items.push(inst);
                    }
                }
                Ok(IReturn::ObjectsWithPath(items))
            }
            IntrinsicOp::OpenEnumerateInstances
            | IntrinsicOp::OpenEnumerateInstancePaths
            | IntrinsicOp::OpenAssociatorInstances
            | IntrinsicOp::OpenAssociatorInstancePaths
            | IntrinsicOp::OpenReferenceInstances
            | IntrinsicOp::OpenReferenceInstancePaths
            | IntrinsicOp::OpenQueryInstances => {
                self.open_enumeration(op, namespace, call, &property_list)
                    .await
            }
            IntrinsicOp::PullInstancesWithPath
            | IntrinsicOp::PullInstancePaths
            | IntrinsicOp::PullInstances => {
                let context = call.string_param("EnumerationContext")?.unwrap_or_default();
                let max = pull_max(call)?.ok_or_else(|| {
                    OpError::cim(CimStatus::InvalidParameter, "MaxObjectCount is required")
                })?;
                let want = match op {
                    IntrinsicOp::PullInstancePaths => PullKind::Paths,
                    IntrinsicOp::PullInstancesWithPath => PullKind::WithPath,
                    _ => PullKind::Plain,
                };
                Ok(IReturn::Pull(self.pull(&context, max, want)?))
            }
            IntrinsicOp::CloseEnumeration => {
                let context = call.string_param("EnumerationContext")?.unwrap_or_default();
                let removed = self
                    .pulls
                    .lock()
                    .map_err(|_| OpError::cim(CimStatus::Failed, "pull table unavailable"))?
                    .remove(&context);
                match removed {
                    Some(_) => Ok(IReturn::Nothing),
                    None => Err(OpError::cim(
                        CimStatus::InvalidEnumerationContext,
                        "no such enumeration context",
                    )),
                }
            }
            IntrinsicOp::CreateInstance => {
                let inst = match call.param("NewInstance") {
                    Some(ParamValue::Instance(i)) => i.clone(),
                    _ => {
                        return Err(OpError::cim(
                            CimStatus::InvalidParameter,
                            "NewInstance is required",
                        ))
                    }
                };
                let class = self.class(namespace, &inst.class_name)?;
                let provider = self.provider_or_not_supported(namespace, &class.name)?;
                let path = provider.create(&self.ctx(&class, namespace), inst).await?;
                Ok(IReturn::InstanceNames(vec![path.local()]))
            }
            IntrinsicOp::ModifyInstance => {
                let inst = match call.param("ModifiedInstance") {
                    Some(ParamValue::Instance(i)) if i.path.is_some() => i.clone(),
                    _ => {
                        return Err(OpError::cim(
                            CimStatus::InvalidParameter,
                            "ModifiedInstance (a named instance) is required",
                        ))
                    }
                };
                let class = self.class(namespace, &inst.class_name)?;
                let provider = self.provider_or_not_supported(namespace, &class.name)?;
                provider
                    .modify(&self.ctx(&class, namespace), inst, property_list)
                    .await?;
                Ok(IReturn::Nothing)
            }
            IntrinsicOp::DeleteInstance => {
                let path = instance_param("InstanceName")?;
                let class = self.class(namespace, &path.class_name)?;
                let provider = self.provider_or_not_supported(namespace, &class.name)?;
                provider.delete(&self.ctx(&class, namespace), &path).await?;
                Ok(IReturn::Nothing)
            }
            other => Err(OpError::cim(
                CimStatus::NotSupported,
                format!("operation {other} is not supported"),
            )),
        }
    }

    fn provider_or_not_supported(
        &self,
        namespace: &str,
        class: &str,
    ) -> Result<&Arc<dyn Provider>, OpError> {
        self.provider_for(namespace, class).ok_or_else(|| {
            OpError::cim(
                CimStatus::NotSupported,
                format!("instances of {class} cannot be changed"),
            )
        })
    }

    /// Associators/References on an instance: association instances whose references name `object`.
    /// Returns result paths (for the name forms and References; Associators moves them into its instances)
    /// and (for the instance forms) the instances.
    /// Associators, AssociatorNames, References or ReferenceNames of one object, each guest it touches
    /// loaded once ([`with_guest_memo`]).
    async fn associations(
        &self,
        kind: Assoc,
        namespace: &str,
        object: &ObjectPath,
        f: &AssocFilters,
    ) -> Result<(Vec<ObjectPath>, Vec<Instance>), OpError> {
        with_guest_memo(self.associations_of(kind, namespace, object, f)).await
    }

    async fn associations_of(
        &self,
        kind: Assoc,
        namespace: &str,
        object: &ObjectPath,
        f: &AssocFilters,
    ) -> Result<(Vec<ObjectPath>, Vec<Instance>), OpError> {
        let ns_name = object.namespace.clone().unwrap_or_else(|| namespace.into());
        let ns = self.repo.namespace(&ns_name)?;
        let mut target = object.clone();
        target.namespace = Some(ns_name.clone());
        // The object must exist (CIM_ERR_NOT_FOUND otherwise, as DSP0200 asks).
        self.get_instance(&ns_name, &target).await?;
        let mut paths: Vec<ObjectPath> = Vec::new();
        let mut seen = PathSet::default();
        let mut instances = Vec::new();
        let assoc_filter = match kind {
            Assoc::References | Assoc::ReferenceNames => &f.result_class,
            _ => &f.assoc_class,
        };
        let through = self.providers_under(&ns_name, assoc_filter.as_deref().unwrap_or(""))?;
        for (provider, aclass) in through.iter() {
            if !aclass.is_association() {
                continue;
            }
            let refs: Vec<String> = aclass.references().map(|r| r.name.clone()).collect();
            let actx = self.ctx(aclass, &ns_name);
            let candidates = match provider.references_to(&actx, &target).await? {
                Some(found) => found,
                None => provider.enumerate(&actx).await?,
            };
            for assoc in candidates {
                let Some(role) = refs.iter().find(|r| {
                    f.role.as_ref().is_none_or(|want| want.eq_ignore_ascii_case(r))
                        && matches!(assoc.get(r), Some(Value::Reference(p)) if p.same_object(&target))
                }) else {
                    continue;
                };
                match kind {
                    Assoc::References | Assoc::ReferenceNames => {
                        if let Some(p) = &assoc.path {
                            let full = self.full_path(p, &ns_name);
                            if seen.insert(&mut paths, full) {
                                instances.push(assoc.clone());
                            }
                        }
                    }
                    Assoc::Associators | Assoc::AssociatorNames => {
                        for other in refs.iter().filter(|r| *r != role) {
                            if f.result_role
                                .as_ref()
                                .is_some_and(|want| !want.eq_ignore_ascii_case(other))
                            {
                                continue;
                            }
                            let Some(Value::Reference(p)) = assoc.get(other) else {
                                continue;
                            };
                            if let Some(rc) = &f.result_class {
                                if !ns.is_subclass_of(&p.class_name, rc) {
                                    continue;
                                }
                            }
                            let full = self.full_path(p, &ns_name);
                            seen.insert(&mut paths, full);
                        }
                    }
                }
            }
        }
        if matches!(kind, Assoc::Associators) {
            let resolved = self.resolve_paths(&ns_name, &paths).await?;
            for (p, inst) in std::mem::take(&mut paths).into_iter().zip(resolved) {
                if let Some(mut inst) = inst {
                    inst.path = Some(p);
                    instances.push(inst);
                }
            }
        } else {
            for inst in &mut instances {
                inst.path = inst.path.as_ref().map(|p| self.full_path(p, &ns_name));
            }
        }
        Ok((paths, instances))
    }

    /// The instance each path names (`None` for one that does not exist). Many paths of one class (the guests
    /// of a host, say) are looked up in one enumeration of that class's provider instead of one `get` each,
    /// which would load the same driver state once per path; a path the enumeration does not hold is still
    /// asked for by itself.
    async fn resolve_paths(
        &self,
        namespace: &str,
        paths: &[ObjectPath],
    ) -> Result<Vec<Option<Instance>>, OpError> {
        // Grouped by the namespace each path names (the association's own by default) and class.
        let mut by_class: HashMap<(String, String), Vec<usize>> = HashMap::new();
        for (i, p) in paths.iter().enumerate() {
            let ns = p.namespace.as_deref().unwrap_or(namespace);
            by_class
                .entry((
                    ns.trim_matches('/').to_ascii_lowercase(),
                    p.class_name.to_ascii_lowercase(),
                ))
                .or_default()
                .push(i);
        }
        let mut out: Vec<Option<Instance>> = vec![None; paths.len()];
        let mut single = Vec::new();
        for indices in by_class.into_values() {
            let first = &paths[indices[0]];
            let ns = first.namespace.as_deref().unwrap_or(namespace);
            let class_name = &first.class_name;
            let provider = self.provider_for(ns, class_name);
            let class = self.class(ns, class_name).ok();
            let (Some(provider), Some(class), true) =
                (provider, class, indices.len() >= RESOLVE_BATCH)
            else {
                single.extend(indices);
                continue;
            };
            let mut listed: Vec<Option<Instance>> = provider
                .enumerate(&self.ctx(&class, ns))
                .await?
                .into_iter()
                .filter(|inst| inst.path.is_some())
                .map(Some)
                .collect();
            let names = |listed: &[Option<Instance>], k: usize, path: &ObjectPath| {
                listed[k]
                    .as_ref()
                    .and_then(|inst| inst.path.as_ref())
                    .is_some_and(|p| p.same_object(path))
            };
            // The paths mostly come in the enumeration's order (an association names a provider's objects as it
            // lists them): each is looked for first just after the previous one found, and only a path found
            // elsewhere has every listed instance put in buckets.
            let mut next = 0;
            let mut buckets: Option<HashMap<u64, Vec<usize>, Buckets>> = None;
            for i in indices {
                let path = &paths[i];
                let at = if next < listed.len() && names(&listed, next, path) {
                    Some(next)
                } else {
                    let buckets = buckets.get_or_insert_with(|| {
                        let mut map: HashMap<u64, Vec<usize>, Buckets> = HashMap::default();
                        for (k, inst) in listed.iter().enumerate() {
                            if let Some(p) = inst.as_ref().and_then(|inst| inst.path.as_ref()) {
                                map.entry(path_bucket(p)).or_default().push(k);
                            }
                        }
                        map
                    });
                    buckets.get(&path_bucket(path)).and_then(|candidates| {
                        candidates
                            .iter()
                            .copied()
                            .find(|&k| names(&listed, k, path))
                    })
                };
                // Taken, not copied: the paths are distinct, so no other path names the same instance.
                match at.and_then(|k| {
                    next = k + 1;
                    listed[k].take()
                }) {
                    Some(inst) => out[i] = Some(inst),
                    None => single.push(i),
                }
            }
        }
        single.sort_unstable();
        for i in single {
            match self.get_instance(namespace, &paths[i]).await {
                Ok(inst) => out[i] = Some(inst),
                Err(e) if e.status() == CimStatus::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// Associators/References on a class: the schema's association classes and the classes they link.
    fn class_associations(
        &self,
        kind: Assoc,
        namespace: &str,
        object: &ObjectPath,
        call: &Call,
    ) -> Result<IReturn, OpError> {
        let f = AssocFilters::from_call(call)?;
        let ns = self.repo.namespace(namespace)?;
        let class = self.class(namespace, &object.class_name)?;
        let mut result: Vec<Arc<Class>> = Vec::new();
        for assoc in ns.associations_for(&class.name) {
            let refs: Vec<_> = assoc.references().collect();
            let Some(role) = refs.iter().find(|r| {
                f.role
                    .as_ref()
                    .is_none_or(|w| w.eq_ignore_ascii_case(&r.name))
                    && r.reference_class().is_none_or(|t| {
                        ns.is_subclass_of(&class.name, t) || ns.is_subclass_of(t, &class.name)
                    })
            }) else {
                continue;
            };
            match kind {
                Assoc::References | Assoc::ReferenceNames => {
                    if f.result_class
                        .as_ref()
                        .is_none_or(|rc| ns.is_subclass_of(&assoc.name, rc))
                        && !result.iter().any(|c| c.name == assoc.name)
                    {
                        result.push(Arc::clone(&assoc));
                    }
                }
                Assoc::Associators | Assoc::AssociatorNames => {
                    if f.assoc_class
                        .as_ref()
                        .is_some_and(|ac| !ns.is_subclass_of(&assoc.name, ac))
                    {
                        continue;
                    }
                    for other in refs.iter().filter(|r| r.name != role.name) {
                        if f.result_role
                            .as_ref()
                            .is_some_and(|w| !w.eq_ignore_ascii_case(&other.name))
                        {
                            continue;
                        }
                        let Some(target) = other.reference_class().and_then(|t| ns.class(t)) else {
                            continue;
                        };
                        if f.result_class
                            .as_ref()
                            .is_some_and(|rc| !ns.is_subclass_of(&target.name, rc))
                        {
                            continue;
                        }
                        if !result.iter().any(|c| c.name == target.name) {
                            result.push(Arc::clone(target));
                        }
                    }
                }
            }
        }
        let paths = result
            .iter()
            .map(|c| self.full_path(&ObjectPath::class(Some(namespace), &c.name), namespace));
        Ok(match kind {
            Assoc::AssociatorNames | Assoc::ReferenceNames => IReturn::ObjectPaths(paths.collect()),
            _ => IReturn::ClassesWithPath(
                paths
                    .zip(result.iter())
                    .map(|(p, c)| (p, c.as_ref().clone()))
                    .collect(),
            ),
        })
    }

    async fn open_enumeration(
        &self,
        op: &IntrinsicOp,
        namespace: &str,
        call: &Call,
        property_list: &Option<Vec<String>>,
    ) -> Result<IReturn, OpError> {
        if call.bool_param("ContinueOnError")?.unwrap_or(false) {
            return Err(OpError::cim(
                CimStatus::ContinuationOnErrorNotSupported,
                "ContinueOnError is not supported",
            ));
        }
        let query = *op == IntrinsicOp::OpenQueryInstances;
        let filter = if query { None } else { pull_filter(call)? };
        let timeout = match call.param("OperationTimeout") {
            None | Some(ParamValue::Null) => PULL_DEFAULT_TIMEOUT,
            Some(p) => {
                let v = p.to_value(&crate::cim::TypeSpec::scalar(crate::cim::CimType::Uint32))?;
                match v.as_i128().and_then(|n| u32::try_from(n).ok()) {
                    Some(0) => PULL_DEFAULT_TIMEOUT,
                    Some(n) if n <= PULL_MAX_TIMEOUT => n,
                    _ => {
                        return Err(OpError::cim(
                            CimStatus::InvalidOperationTimeout,
                            format!("OperationTimeout may be at most {PULL_MAX_TIMEOUT} seconds"),
                        ))
                    }
                }
            }
        };
        let max = pull_max(call)?.unwrap_or(0);
        let paths_only = matches!(
            op,
            IntrinsicOp::OpenEnumerateInstancePaths
                | IntrinsicOp::OpenAssociatorInstancePaths
                | IntrinsicOp::OpenReferenceInstancePaths
        );
        let mut result_class = None;
        let queue = if query {
            let (items, class) = self.query_instances(namespace, call).await?;
            result_class = class;
            PullQueue::Plain(items.into())
        } else if matches!(
            op,
            IntrinsicOp::OpenEnumerateInstances | IntrinsicOp::OpenEnumerateInstancePaths
        ) {
            let class_name = call
                .class_name_param("ClassName")
                .map(str::to_owned)
                .ok_or_else(|| {
                    OpError::cim(CimStatus::InvalidParameter, "ClassName is required")
                })?;
            if paths_only && filter.is_none() {
                let names = self.names_of(namespace, &class_name).await?;
                PullQueue::Paths(names.iter().map(|p| self.full_path(p, namespace)).collect())
            } else {
                let deep = call.bool_param("DeepInheritance")?.unwrap_or(true);
                let requested = self.class(namespace, &class_name)?;
                let mut items = self.instances_of(namespace, &class_name).await?;
                for inst in &mut items {
                    if !deep {
                        inst.retain_properties(|p| requested.property(&p.name).is_some());
                    }
                    inst.path = inst.path.as_ref().map(|p| self.full_path(p, namespace));
                }
                if let Some(f) = &filter {
                    items.retain(|i| f.matches(i));
                }
                if paths_only {
                    PullQueue::Paths(items.into_iter().filter_map(|i| i.path).collect())
                } else {
                    PullQueue::Instances(shape_all(items, property_list).into())
                }
            }
        } else {
            let object = match call.param("InstanceName") {
                Some(ParamValue::InstanceName(p) | ParamValue::Reference(p)) => p.clone(),
                _ => {
                    return Err(OpError::cim(
                        CimStatus::InvalidParameter,
                        "InstanceName is required",
                    ))
                }
            };
            let filters = AssocFilters::from_call(call)?;
            // A filter needs the instances even when only their paths are asked for.
            let want_instances = !paths_only || filter.is_some();
            let associators = matches!(
                op,
                IntrinsicOp::OpenAssociatorInstances | IntrinsicOp::OpenAssociatorInstancePaths
            );
            let kind = match (associators, want_instances) {
                (true, false) => Assoc::AssociatorNames,
                (true, true) => Assoc::Associators,
                (false, false) => Assoc::ReferenceNames,
                (false, true) => Assoc::References,
            };
            let (paths, mut instances) = self
                .associations(kind, namespace, &object, &filters)
                .await?;
            if let Some(f) = &filter {
                instances.retain(|i| f.matches(i));
            }
            match (paths_only, want_instances) {
                (true, false) => PullQueue::Paths(paths.into()),
                (true, true) => {
                    PullQueue::Paths(instances.into_iter().filter_map(|i| i.path).collect())
                }
                _ => PullQueue::Instances(shape_all(instances, property_list).into()),
            }
        };
        let context = PullContext {
            queue,
            timeout: Duration::from_secs(u64::from(timeout)),
            expires: Instant::now() + Duration::from_secs(u64::from(timeout)),
        };
        let id = format!("{:032x}", rand::random::<u128>());
        {
            let mut table = self
                .pulls
                .lock()
                .map_err(|_| OpError::cim(CimStatus::Failed, "pull table unavailable"))?;
            let now = Instant::now();
            table.retain(|_, c| c.expires > now);
            if table.len() >= PULL_MAX_CONTEXTS {
                return Err(OpError::cim(
                    CimStatus::ServerLimitsExceeded,
                    "too many open enumerations",
                ));
            }
            table.insert(id.clone(), context);
        }
        let kind = match (query, paths_only) {
            (true, _) => PullKind::Plain,
            (false, true) => PullKind::Paths,
            (false, false) => PullKind::WithPath,
        };
        let mut first = self.pull(&id, max, kind)?;
        if let PullItems::Plain {
            result_class: slot, ..
        } = &mut first.items
        {
            *slot = result_class;
        }
        Ok(IReturn::Pull(first))
    }

    /// OpenQueryInstances: the WQL query's instances (without paths) and, when ReturnQueryResultClass asks,
    /// the class describing them (the FROM class with the selected properties).
    async fn query_instances(
        &self,
        namespace: &str,
        call: &Call,
    ) -> Result<(Vec<Instance>, Option<Class>), OpError> {
        let language = call
            .string_param("FilterQueryLanguage")?
            .unwrap_or_default();
        if !language.eq_ignore_ascii_case("WQL") {
            return Err(OpError::cim(
                CimStatus::QueryLanguageNotSupported,
                format!("query language {language:?} is not supported (WQL is)"),
            ));
        }
        let text = call.string_param("FilterQuery")?.unwrap_or_default();
        let q = query::parse(&text)?;
        let mut items = self.instances_of(namespace, &q.class_name).await?;
        items.retain(|i| q.matches(i));
        for inst in &mut items {
            if let Some(props) = &q.properties {
                inst.filter_properties(props);
            }
            inst.path = None;
        }
        let class = if call.bool_param("ReturnQueryResultClass")?.unwrap_or(false) {
            let mut class = self.class(namespace, &q.class_name)?.as_ref().clone();
            if let Some(props) = &q.properties {
                class
                    .properties
                    .retain(|p| props.iter().any(|n| n.eq_ignore_ascii_case(&p.name)));
            }
            class.methods.clear();
            Some(class)
        } else {
            None
        };
        Ok((items, class))
    }

    /// Takes up to `max` items from an open enumeration; closes it at the end.
    fn pull(&self, id: &str, max: u32, want: PullKind) -> Result<PullResult, OpError> {
        let mut table = self
            .pulls
            .lock()
            .map_err(|_| OpError::cim(CimStatus::Failed, "pull table unavailable"))?;
        let now = Instant::now();
        table.retain(|_, c| c.expires > now);
        let invalid = || {
            OpError::cim(
                CimStatus::InvalidEnumerationContext,
                "no such enumeration context (closed, finished or expired)",
            )
        };
        let ctx = table.get_mut(id).ok_or_else(invalid)?;
        let take = usize::try_from(max).unwrap_or(usize::MAX);
        let (items, left) =
            match (&mut ctx.queue, want) {
                (PullQueue::Paths(q), PullKind::Paths) => {
                    let n = take.min(q.len());
                    (PullItems::Paths(q.drain(..n).collect()), q.len())
                }
                (PullQueue::Instances(q), PullKind::WithPath) => {
                    let n = take.min(q.len());
                    (PullItems::Instances(q.drain(..n).collect()), q.len())
                }
                (PullQueue::Plain(q), PullKind::Plain) => {
                    let n = take.min(q.len());
                    let instances = q.drain(..n).collect();
                    (
                        PullItems::Plain {
                            instances,
                            result_class: None,
                        },
                        q.len(),
                    )
                }
                _ => return Err(OpError::cim(
                    CimStatus::InvalidParameter,
                    "the pull operation does not match the open enumeration (paths vs instances)",
                )),
            };
        ctx.expires = now + ctx.timeout;
        let end = left == 0;
        if end {
            table.remove(id);
        }
        Ok(PullResult {
            items,
            enumeration_context: if end { String::new() } else { id.to_owned() },
            end_of_sequence: end,
        })
    }

    async fn extrinsic(
        &self,
        method: &str,
        target: &ObjectPath,
        params: &[(String, ParamValue)],
    ) -> Result<MethodReturn, OpError> {
        let namespace = target
            .namespace
            .clone()
            .unwrap_or_else(|| "root/virt".into());
        let class = self.class(&namespace, &target.class_name)?;
        let decl = class.method(method).ok_or_else(|| {
            OpError::cim(
                CimStatus::MethodNotFound,
                format!("class {} has no method {method}", class.name),
            )
        })?;
        let mut typed = Vec::new();
        for (name, value) in params {
            let param = decl.parameter(name).ok_or_else(|| {
                OpError::cim(
                    CimStatus::InvalidParameter,
                    format!("method {method} has no parameter {name}"),
                )
            })?;
            // A blank string where a reference is declared means "no reference" (cimtest sends
            // ReferenceConfiguration=' ' to DefineSystem; libvirt-CIM ignores it).
            let blank_for_ref = matches!(param.ty.ty, crate::cim::CimType::Reference(_))
                && matches!(value, ParamValue::Text(t) | ParamValue::Typed(Value::String(t)) if t.trim().is_empty());
            let value = if blank_for_ref {
                Value::Null
            } else {
                // A value sent with a type that does not fit the declared one is CIM_ERR_TYPE_MISMATCH, as
                // libcmpiutil's argument check answers for libvirt-CIM; untyped text that does not parse is a
                // bad parameter.
                value.to_value(&param.ty).map_err(|err| match value {
                    ParamValue::Typed(_) => OpError::cim(
                        CimStatus::TypeMismatch,
                        format!("parameter {}: {err}", param.name),
                    ),
                    _ => err.into(),
                })?
            };
            typed.push((param.name.clone(), value));
        }
        let provider = self.provider_for(&namespace, &class.name).ok_or_else(|| {
            OpError::cim(
                CimStatus::NotSupported,
                format!("no provider for {}", class.name),
            )
        })?;
        provider
            .invoke(&self.ctx(&class, &namespace), target, &decl.name, typed)
            .await
    }
}

struct AssocFilters {
    assoc_class: Option<String>,
    result_class: Option<String>,
    role: Option<String>,
    result_role: Option<String>,
}

impl AssocFilters {
    fn from_call(call: &Call) -> Result<AssocFilters, OpError> {
        Ok(AssocFilters {
            assoc_class: call.class_name_param("AssocClass").map(str::to_owned),
            result_class: call.class_name_param("ResultClass").map(str::to_owned),
            role: call.string_param("Role")?.filter(|s| !s.is_empty()),
            result_role: call.string_param("ResultRole")?.filter(|s| !s.is_empty()),
        })
    }
}

/// The FilterQuery of an Open... operation: only `DMTF:FQL` (the WQL condition grammar) is understood, as
/// pywbem's own mock server does; a query without a language is an invalid parameter.
/// The answer to a call a read-only user may not make.
fn denied(req: &Request) -> (Reply, Result<(), CimError>) {
    let err = CimError::new(
        CimStatus::AccessDenied,
        format!(
            "{} is not allowed: the user has read-only access",
            req.call.name()
        ),
    );
    let text = match &req.call {
        Call::Intrinsic { name, .. } => {
            let mut out = String::with_capacity(512);
            write_envelope_open(&mut out, &req.message_id);
            write_imethod_element(
                &mut out,
                name.as_str(),
                &Err(err.clone()),
                WriteOptions::default(),
            );
            out.push_str(ENVELOPE_CLOSE);
            out
        }
        Call::Extrinsic { name, .. } => {
            write_method_response(&req.message_id, name, &Err(err.clone()))
        }
    };
    (Reply::Whole(text), Err(err))
}

fn pull_filter(call: &Call) -> Result<Option<query::Cond>, OpError> {
    let language = call
        .string_param("FilterQueryLanguage")?
        .filter(|s| !s.is_empty());
    let text = call.string_param("FilterQuery")?.filter(|s| !s.is_empty());
    match (language, text) {
        (None, None) => Ok(None),
        (None, Some(_)) => Err(OpError::cim(
            CimStatus::InvalidParameter,
            "FilterQuery needs FilterQueryLanguage",
        )),
        (Some(lang), _) if !lang.eq_ignore_ascii_case("DMTF:FQL") => Err(OpError::cim(
            CimStatus::QueryLanguageNotSupported,
            format!("filter query language {lang:?} is not supported (DMTF:FQL is)"),
        )),
        (Some(_), None) => Err(OpError::cim(
            CimStatus::InvalidParameter,
            "FilterQueryLanguage given without a FilterQuery",
        )),
        (Some(_), Some(text)) => Ok(Some(query::parse_filter(&text)?)),
    }
}

fn pull_max(call: &Call) -> Result<Option<u32>, OpError> {
    match call.param("MaxObjectCount") {
        None | Some(ParamValue::Null) => Ok(None),
        Some(p) => {
            let v = p.to_value(&crate::cim::TypeSpec::scalar(crate::cim::CimType::Uint32))?;
            let n = v
                .as_i128()
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| OpError::cim(CimStatus::InvalidParameter, "bad MaxObjectCount"))?;
            Ok(Some(n.min(PULL_MAX_OBJECTS)))
        }
    }
}

fn shape_all(mut items: Vec<Instance>, property_list: &Option<Vec<String>>) -> Vec<Instance> {
    if let Some(list) = property_list {
        items.iter_mut().for_each(|i| i.filter_properties(list));
    }
    items
}

/// The namespace and class a request is about, for its span: the class a ClassName, InstanceName, ObjectName,
/// NewInstance or ModifiedInstance parameter names, or an extrinsic method's target.
fn request_target(call: &Call) -> (&str, Option<&str>) {
    match call {
        Call::Intrinsic { namespace, .. } => {
            let class = call
                .class_name_param("ClassName")
                .or_else(|| {
                    ["InstanceName", "ObjectName"].iter().find_map(|name| {
                        match call.param(name)? {
                            ParamValue::ClassName(c) => Some(c.as_str()),
                            ParamValue::InstanceName(p) | ParamValue::Reference(p) => {
                                Some(p.class_name.as_str())
                            }
                            _ => None,
                        }
                    })
                })
                .or_else(|| {
                    ["NewInstance", "ModifiedInstance"].iter().find_map(|name| {
                        match call.param(name)? {
                            ParamValue::Instance(i) => Some(i.class_name.as_str()),
                            _ => None,
                        }
                    })
                });
            (namespace, class)
        }
        Call::Extrinsic { target, .. } => (
            target.namespace.as_deref().unwrap_or_default(),
            Some(target.class_name.as_str()),
        ),
    }
}

fn write_options(call: &Call) -> WriteOptions {
    let default_qualifiers = matches!(
        call,
        Call::Intrinsic {
            name: IntrinsicOp::GetClass | IntrinsicOp::EnumerateClasses,
            ..
        }
    );
    WriteOptions {
        include_qualifiers: call
            .bool_param("IncludeQualifiers")
            .ok()
            .flatten()
            .unwrap_or(default_qualifiers),
        include_class_origin: call
            .bool_param("IncludeClassOrigin")
            .ok()
            .flatten()
            .unwrap_or(false),
    }
}

/// Distinct paths (by `same_object`), each new one compared only with those of its [`path_bucket`] instead of
/// with every path kept (an associator answer may hold thousands).
#[derive(Default)]
struct PathSet {
    buckets: HashMap<u64, Vec<usize>, Buckets>,
}

impl PathSet {
    /// Appends `path` to `paths` unless the same object is there already; whether it was appended.
    fn insert(&mut self, paths: &mut Vec<ObjectPath>, path: ObjectPath) -> bool {
        let bucket = self.buckets.entry(path_bucket(&path)).or_default();
        if bucket.iter().any(|&i| paths[i].same_object(&path)) {
            return false;
        }
        bucket.push(paths.len());
        paths.push(path);
        true
    }
}

/// A coarse key for matching paths: paths that name the same object share it (class and key names compared
/// without case, string key values as they are; other values left out and compared by `same_object`, and so
/// are strings with `=`, which may be a reference key's string form: `same_object` equals those to the
/// reference). A number, made without allocating (thousands of paths are matched per associator answer); keys
/// in any order give the same one (hashed in the order of their folded names and texts, in one pass), and the
/// hash is keyed per process, so no client can choose colliding paths.
fn path_bucket(p: &ObjectPath) -> u64 {
    use std::hash::{BuildHasher, Hash, Hasher};
    static SEED: std::sync::OnceLock<std::hash::RandomState> = std::sync::OnceLock::new();
    let seed = SEED.get_or_init(std::hash::RandomState::new);
    fn text(value: &Value) -> &str {
        match value {
            Value::String(s) if !s.contains('=') => s.as_str(),
            _ => "",
        }
    }
    fn folded(name: &str) -> impl Iterator<Item = u8> + '_ {
        name.bytes().map(|b| b.to_ascii_lowercase())
    }
    let keys = &p.keys;
    let mut hasher = seed.build_hasher();
    Folded(&p.class_name).hash(&mut hasher);
    let mut order = [0usize; 8];
    let Some(order) = order.get_mut(..keys.len()) else {
        // More keys than any class of the model has: each hashed alone, summed.
        let mut bucket = hasher.finish();
        for (name, value) in keys {
            bucket = bucket.wrapping_add(seed.hash_one((Folded(name), text(value))));
        }
        return bucket;
    };
    for (i, at) in order.iter_mut().enumerate() {
        *at = i;
    }
    order.sort_unstable_by(|&a, &b| {
        let ((name_a, value_a), (name_b, value_b)) = (&keys[a], &keys[b]);
        folded(name_a)
            .cmp(folded(name_b))
            .then_with(|| text(value_a).cmp(text(value_b)))
    });
    for &at in order.iter() {
        let (name, value) = &keys[at];
        (Folded(name), text(value)).hash(&mut hasher);
    }
    hasher.finish()
}

/// Tables keyed by [`path_bucket`] (already a keyed hash).
type Buckets = crate::wbem::cimxml::WordHash;

/// A name hashed as its ASCII lower case.
struct Folded<'a>(&'a str);

impl std::hash::Hash for Folded<'_> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        let mut buf = [0u8; 32];
        for chunk in self.0.as_bytes().chunks(buf.len()) {
            let lower = &mut buf[..chunk.len()];
            lower.copy_from_slice(chunk);
            lower.make_ascii_lowercase();
            state.write(lower);
        }
        // The end, as `str` marks it: ("ab", "c") and ("a", "bc") differ.
        state.write_u8(0xff);
    }
}

/// The key an answer is kept under: the whole call (namespace, operation, every parameter).
fn answer_key(call: &Call) -> String {
    format!("{call:?}")
}

/// Whether the answer to a call may ever be reused, and if so the (namespace, class) whose providers it may
/// come from (class empty: any provider of the namespace).
fn reuse_target<'c>(
    op: &IntrinsicOp,
    namespace: &'c str,
    call: &'c Call,
) -> Option<(&'c str, &'c str)> {
    // Pull operations keep server state: their answers are never reused.
    match op {
        IntrinsicOp::EnumerateInstances
        | IntrinsicOp::EnumerateInstanceNames
        | IntrinsicOp::GetInstance => match (call.param("ClassName"), call.param("InstanceName")) {
            (Some(ParamValue::ClassName(c)), _) => Some((namespace, c.as_str())),
            (_, Some(ParamValue::InstanceName(p) | ParamValue::Reference(p))) => Some((
                p.namespace.as_deref().unwrap_or(namespace),
                p.class_name.as_str(),
            )),
            _ => None,
        },
        // An association answer may come from any provider of the object's namespace (the associations, the
        // object's own class, the classes at the other end): every one of them must be covered.
        IntrinsicOp::Associators
        | IntrinsicOp::AssociatorNames
        | IntrinsicOp::References
        | IntrinsicOp::ReferenceNames => match call.param("ObjectName") {
            Some(ParamValue::InstanceName(p) | ParamValue::Reference(p)) => {
                Some((p.namespace.as_deref().unwrap_or(namespace), ""))
            }
            Some(ParamValue::ClassName(_)) => Some((namespace, "")),
            _ => None,
        },
        _ => None,
    }
}

/// A response from its envelope head (with the message ID), the operation's element parts, and the close. A
/// small answer goes out as one part: copied once, it costs less than the HTTP writer's handling of several.
fn enveloped(message_id: &str, element: Vec<Bytes>) -> Reply {
    let mut head = String::with_capacity(160);
    write_envelope_open(&mut head, message_id);
    let size: usize = element.iter().map(Bytes::len).sum();
    if size <= JOIN_BELOW {
        let mut whole = Vec::with_capacity(head.len() + size + ENVELOPE_CLOSE.len());
        whole.extend_from_slice(head.as_bytes());
        for part in &element {
            whole.extend_from_slice(part);
        }
        whole.extend_from_slice(ENVELOPE_CLOSE.as_bytes());
        return Reply::Parts(vec![Bytes::from(whole)]);
    }
    let mut parts = Vec::with_capacity(element.len() + 2);
    parts.push(Bytes::from(head));
    parts.extend(element);
    parts.push(Bytes::from_static(ENVELOPE_CLOSE.as_bytes()));
    Reply::Parts(parts)
}

/// EnumerateInstances' shaping of one instance: only the requested class's properties unless DeepInheritance,
/// only those of the PropertyList, and a path without host and namespace (`VALUE.NAMEDINSTANCE`).
fn shape_named(
    inst: &mut Instance,
    requested: &Class,
    deep: bool,
    property_list: Option<&[String]>,
) {
    if !deep {
        inst.retain_properties(|p| requested.property(&p.name).is_some());
    }
    if let Some(list) = property_list {
        inst.filter_properties(list);
    }
    if let Some(p) = &mut inst.path {
        p.host = None;
        p.namespace = None;
    }
}

/// An answer written in chunks of about [`STREAM_CHUNK_BYTES`]: text is written at the end of the current
/// chunk, which is cut off when full; parts written before (reused pieces) are placed between chunks.
struct Chunks {
    buf: String,
    parts: Vec<Bytes>,
}

impl Chunks {
    const CAPACITY: usize = STREAM_CHUNK_BYTES + STREAM_CHUNK_BYTES / 4;

    fn new() -> Chunks {
        Chunks {
            buf: String::with_capacity(1024),
            parts: Vec::new(),
        }
    }

    /// Ends the current chunk when it is full; the next starts with room for a whole chunk.
    fn cut_when_full(&mut self) {
        if self.buf.len() >= STREAM_CHUNK_BYTES {
            let full = std::mem::replace(&mut self.buf, String::with_capacity(Self::CAPACITY));
            self.parts.push(Bytes::from(full));
        }
    }

    /// Places a part written before after what was written so far.
    fn push(&mut self, part: Bytes) {
        if !self.buf.is_empty() {
            let capacity = Self::CAPACITY.min(self.buf.capacity());
            let written = std::mem::replace(&mut self.buf, String::with_capacity(capacity));
            self.parts.push(Bytes::from(written));
        }
        self.parts.push(part);
    }

    fn finish(mut self) -> Vec<Bytes> {
        self.parts.push(Bytes::from(self.buf));
        self.parts
    }
}

/// Runs of small parts joined into chunks of about [`STREAM_CHUNK_BYTES`] (one guest's piece is a few KB: sent
/// one by one, they would cost a system call per handful), large parts passed on as they are. An answer too
/// large to be kept whole is joined again for every request: there parts of a few KB already go out many per
/// system call (the HTTP writer gathers up to 16), so only the smallest are joined.
fn coalesce(parts: Vec<Bytes>) -> Vec<Bytes> {
    let total: usize = parts.iter().map(Bytes::len).sum();
    let large = if total > CACHE_MAX_ANSWER {
        STREAM_CHUNK_BYTES / 64
    } else {
        STREAM_CHUNK_BYTES / 4
    };
    let mut out = Vec::new();
    let mut run: Vec<u8> = Vec::new();
    for part in parts {
        if part.len() >= large {
            if !run.is_empty() {
                out.push(Bytes::from(std::mem::take(&mut run)));
            }
            out.push(part);
            continue;
        }
        if run.is_empty() {
            run.reserve(STREAM_CHUNK_BYTES);
        }
        run.extend_from_slice(&part);
        if run.len() >= STREAM_CHUNK_BYTES {
            out.push(Bytes::from(std::mem::take(&mut run)));
        }
    }
    if !run.is_empty() {
        out.push(Bytes::from(run));
    }
    out
}

/// A long list result written by a task into chunks of about [`STREAM_CHUNK_BYTES`] (a bounded channel: a
/// client that does not read holds the writer), each chunk also kept for the cache when the answer may be
/// reused.
fn stream_large(
    message_id: &str,
    method: &str,
    ret: IReturn,
    opts: WriteOptions,
    slot: Option<CacheSlot>,
) -> Reply {
    let (tx, rx) = mpsc::channel::<Bytes>(4);
    let chunk_capacity = STREAM_CHUNK_BYTES + STREAM_CHUNK_BYTES / 4;
    // The envelope head rides in the first chunk and the close in the last (fewer frames); the cache keeps
    // only the element, as zero-copy slices of the same chunks.
    let mut buf = String::with_capacity(chunk_capacity);
    write_envelope_open(&mut buf, message_id);
    let head_len = buf.len();
    write_imethod_list_open(&mut buf, method);
    tokio::spawn(async move {
        let mut kept = Vec::new();
        let mut skip = head_len;
        let total = ret.list_len();
        let mut at = 0;
        while at < total {
            let to = (at + ITEMS_PER_STEP).min(total);
            write_ireturn_items(&mut buf, &ret, at..to, opts);
            at = to;
            if buf.len() >= STREAM_CHUNK_BYTES && at < total {
                let chunk = Bytes::from(std::mem::replace(
                    &mut buf,
                    String::with_capacity(chunk_capacity),
                ));
                if slot.is_some() {
                    kept.push(chunk.slice(skip..));
                }
                skip = 0;
                if tx.send(chunk).await.is_err() {
                    return;
                }
            }
        }
        buf.push_str(IMETHOD_LIST_CLOSE);
        let element_end = buf.len();
        buf.push_str(ENVELOPE_CLOSE);
        let last = Bytes::from(buf);
        if let Some(slot) = slot {
            kept.push(last.slice(skip..element_end));
            slot.cache.put(slot.key, slot.stamp, kept);
        }
        let _ = tx.send(last).await;
    });
    Reply::Chunks(rx)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;
    use crate::driver::test::TestDriver;
    use crate::wbem::cimxml::{parse_request, write_instance, Limits};

    #[test]
    fn paths_of_one_object_share_a_bucket_whatever_the_case_and_key_order() {
        let path = |text: &str| ObjectPath::parse(text).unwrap();
        let a = path(r#"KVM_ComputerSystem.CreationClassName="KVM_ComputerSystem",Name="demo""#);
        let b = path(r#"kvm_computersystem.name="demo",CREATIONCLASSNAME="KVM_ComputerSystem""#);
        assert_eq!(path_bucket(&a), path_bucket(&b));
        // Another value, or the same text moved across the name/value boundary, is another bucket.
        let other =
            path(r#"KVM_ComputerSystem.CreationClassName="KVM_ComputerSystem",Name="demo2""#);
        assert_ne!(path_bucket(&a), path_bucket(&other));
        assert_ne!(
            path_bucket(&path(r#"X.ab="c""#)),
            path_bucket(&path(r#"X.a="bc""#))
        );
        let mut paths = Vec::new();
        let mut set = PathSet::default();
        assert!(set.insert(&mut paths, a));
        assert!(!set.insert(&mut paths, b), "the same object once");
        assert!(set.insert(&mut paths, other));
        assert_eq!(paths.len(), 2);
    }

    /// Log lines written by the formatter, kept for the test to read.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if let Ok(mut out) = self.0.lock() {
                out.extend_from_slice(buf);
            }
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn request(op: &str, params: &str) -> Request {
        let xml = format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\" ?><CIM CIMVERSION=\"2.0\" DTDVERSION=\"2.0\">\
             <MESSAGE ID=\"42\" PROTOCOLVERSION=\"1.0\"><SIMPLEREQ><IMETHODCALL NAME=\"{op}\">\
             <LOCALNAMESPACEPATH><NAMESPACE NAME=\"root\"/><NAMESPACE NAME=\"virt\"/></LOCALNAMESPACEPATH>\
             {params}</IMETHODCALL></SIMPLEREQ></MESSAGE></CIM>"
        );
        parse_request(xml.as_bytes(), &Limits::default()).expect("request")
    }

    /// An enumeration written guest by guest ([`Operations::enumerate_by_pieces`]) has the bytes of the same
    /// enumeration computed whole and then written, for every class split per guest, with and without flags
    /// and a property list.
    #[tokio::test]
    async fn enumerations_written_per_guest_equal_those_computed_whole() {
        let dir = tempfile::tempdir().expect("temp dir");
        let driver = TestDriver::open(&dir.path().join("test"))
            .await
            .expect("test driver")
            .connection();
        for n in 1..4 {
            let xml = format!(
                "<domain type='test'><name>vm{n}</name><uuid>00000000-0000-4000-8000-{n:012}</uuid>\
                 <memory unit='KiB'>1048576</memory><vcpu>2</vcpu><os><type>hvm</type></os><devices>\
                 <disk type='file' device='disk'><source file='/var/lib/libvirt/images/vm{n}.qcow2'/>\
                 <target dev='vda' bus='virtio'/></disk><interface type='network'>\
                 <mac address='52:54:00:00:00:{n:02x}'/><source network='default'/></interface>\
                 <graphics type='vnc' port='-1' autoport='yes'/><console type='pty'/>\
                 <input type='tablet' bus='usb'/><controller type='usb' index='0'/></devices></domain>"
            );
            driver.domain_define_xml(&xml, 0).await.expect("define");
        }
        let repo = Arc::new(crate::cim::builtin_repository().expect("repository"));
        let mut ops = Operations::new(repo, driver, "localhost");
        ops.set_reuse(Reuse::Off);
        let variants = [
            "",
            "<IPARAMVALUE NAME=\"DeepInheritance\"><VALUE>FALSE</VALUE></IPARAMVALUE>",
            "<IPARAMVALUE NAME=\"PropertyList\"><VALUE.ARRAY><VALUE>InstanceID</VALUE>\
             <VALUE>DeviceID</VALUE></VALUE.ARRAY></IPARAMVALUE>\
             <IPARAMVALUE NAME=\"IncludeQualifiers\"><VALUE>TRUE</VALUE></IPARAMVALUE>",
        ];
        let classes = ops
            .provided_classes()
            .into_iter()
            .filter(|(ns, _)| *ns == "root/virt");
        let mut split = 0;
        for class in classes.map(|(_, c)| c).chain(["CIM_ManagedElement"]) {
            for variant in variants {
                let param = format!(
                    "<IPARAMVALUE NAME=\"ClassName\"><CLASSNAME NAME=\"{class}\"/></IPARAMVALUE>{variant}"
                );
                let req = request("EnumerateInstances", &param);
                let opts = write_options(&req.call);
                let Some(by_guest) = ops.enumerate_by_pieces("root/virt", &req.call, opts).await
                else {
                    continue;
                };
                split += 1;
                let by_guest: Vec<u8> = by_guest.expect("per guest").concat();
                let op = IntrinsicOp::EnumerateInstances;
                let whole = ops.intrinsic(&op, "root/virt", &req.call).await;
                let mut written = String::new();
                write_imethod_element(
                    &mut written,
                    op.as_str(),
                    &whole.map_err(|e| cim_error(&e)),
                    opts,
                );
                assert_eq!(
                    String::from_utf8(by_guest).expect("UTF-8"),
                    written,
                    "{class} {variant}"
                );
            }
        }
        assert!(
            split > 30,
            "most of the model's classes are split per guest ({split})"
        );
    }

    /// Paths resolved together, in the enumeration's order, reversed, or mixed with one that names nothing,
    /// give each the instance GetInstance gives.
    #[tokio::test]
    async fn paths_resolved_in_any_order_give_the_instances_get_gives() {
        let dir = tempfile::tempdir().expect("temp dir");
        let driver = TestDriver::open(&dir.path().join("test"))
            .await
            .expect("test driver")
            .connection();
        for n in 0..RESOLVE_BATCH + 4 {
            let xml = format!(
                "<domain type='test'><name>vm{n:02}</name><memory unit='KiB'>1048576</memory>\
                 <vcpu>1</vcpu><os><type>hvm</type></os></domain>"
            );
            driver.domain_define_xml(&xml, 0).await.expect("define");
        }
        let repo = Arc::new(crate::cim::builtin_repository().expect("repository"));
        let ops = Operations::new(repo, driver, "localhost");
        let listed = ops
            .names_of("root/virt", "KVM_ComputerSystem")
            .await
            .expect("names");
        assert!(listed.len() > RESOLVE_BATCH);
        let mut reversed = listed.clone();
        reversed.reverse();
        let mut mixed = listed.clone();
        mixed.swap(2, 9);
        let mut missing = listed[0].clone();
        missing
            .keys
            .retain(|(name, _)| !name.eq_ignore_ascii_case("Name"));
        missing = missing.with_key("Name", Value::String("nobody".into()));
        mixed.insert(5, missing);
        for paths in [listed, reversed, mixed] {
            let resolved = ops
                .resolve_paths("root/virt", &paths)
                .await
                .expect("resolve");
            assert_eq!(resolved.len(), paths.len());
            for (path, inst) in paths.iter().zip(resolved) {
                let got = ops.get_instance("root/virt", path).await.ok();
                let text = |i: &Option<Instance>| {
                    i.as_ref().map(|i| {
                        let mut out = String::new();
                        write_instance(&mut out, i, WriteOptions::default());
                        out
                    })
                };
                assert_eq!(text(&inst), text(&got), "{path}");
            }
        }
    }

    #[tokio::test]
    async fn each_request_gets_a_span_with_operation_namespace_class_and_status() {
        let dir = tempfile::tempdir().expect("temp dir");
        let driver = TestDriver::open(&dir.path().join("test"))
            .await
            .expect("test driver")
            .connection();
        let repo = Arc::new(crate::cim::builtin_repository().expect("repository"));
        let ops = Operations::new(repo, driver, "localhost");
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);

        let class = "<IPARAMVALUE NAME=\"ClassName\"><CLASSNAME NAME=\"KVM_ComputerSystem\"/></IPARAMVALUE>";
        ops.handle(&request("EnumerateInstanceNames", class)).await;
        let missing =
            "<IPARAMVALUE NAME=\"ClassName\"><CLASSNAME NAME=\"KVM_Nothing\"/></IPARAMVALUE>";
        ops.handle(&request("EnumerateInstances", missing)).await;
        ops.handle(&request("EnumerateEverything", "")).await;

        let text = String::from_utf8(captured.0.lock().expect("log").clone()).expect("UTF-8");
        let lines: Vec<&str> = text
            .lines()
            .filter(|l| l.contains("WBEM request"))
            .collect();
        assert_eq!(lines.len(), 3, "{text}");
        for (line, operation, class, status) in [
            (
                lines[0],
                "EnumerateInstanceNames",
                Some("KVM_ComputerSystem"),
                "\"OK\"",
            ),
            (
                lines[1],
                "EnumerateInstances",
                Some("KVM_Nothing"),
                "\"CIM_ERR_INVALID_CLASS\"",
            ),
            (
                lines[2],
                "EnumerateEverything",
                None,
                "\"CIM_ERR_NOT_SUPPORTED\"",
            ),
        ] {
            assert!(line.contains("wbem_request{"), "{line}");
            assert!(
                line.contains(&format!("operation=\"{operation}\"")),
                "{line}"
            );
            assert!(line.contains("namespace=\"root/virt\""), "{line}");
            assert!(line.contains("message_id=\"42\""), "{line}");
            if let Some(class) = class {
                assert!(line.contains(&format!("class=\"{class}\"")), "{line}");
            }
            assert!(line.contains(&format!("status={status}")), "{line}");
            assert!(line.contains("duration_us="), "{line}");
        }
        assert!(lines[2].contains("operation EnumerateEverything is not supported"));
    }

    /// A read-only client: every operation that is not a read, and every method, answers CIM_ERR_ACCESS_DENIED
    /// without reaching a provider; reads are served.
    #[tokio::test]
    async fn read_only_access_denies_every_write() {
        let dir = tempfile::tempdir().expect("temp dir");
        let driver = TestDriver::open(&dir.path().join("test"))
            .await
            .expect("test driver")
            .connection();
        let repo = Arc::new(crate::cim::builtin_repository().expect("repository"));
        let ops = Operations::new(repo, driver, "localhost");
        let cs = "<INSTANCENAME CLASSNAME=\"KVM_ComputerSystem\"><KEYBINDING NAME=\"CreationClassName\">\
                  <KEYVALUE>KVM_ComputerSystem</KEYVALUE></KEYBINDING><KEYBINDING NAME=\"Name\"><KEYVALUE>test\
                  </KEYVALUE></KEYBINDING></INSTANCENAME>";
        let params = |op: &IntrinsicOp| -> String {
            match op {
                IntrinsicOp::SetProperty => format!(
                    "<IPARAMVALUE NAME=\"InstanceName\">{cs}</IPARAMVALUE><IPARAMVALUE NAME=\"PropertyName\">\
                     <VALUE>Caption</VALUE></IPARAMVALUE><IPARAMVALUE NAME=\"NewValue\"><VALUE>x</VALUE>\
                     </IPARAMVALUE>"
                ),
                IntrinsicOp::DeleteInstance | IntrinsicOp::GetInstance => {
                    format!("<IPARAMVALUE NAME=\"InstanceName\">{cs}</IPARAMVALUE>")
                }
                IntrinsicOp::CreateInstance => "<IPARAMVALUE NAME=\"NewInstance\"><INSTANCE \
                     CLASSNAME=\"KVM_ComputerSystem\"/></IPARAMVALUE>"
                    .into(),
                IntrinsicOp::ModifyInstance => format!(
                    "<IPARAMVALUE NAME=\"ModifiedInstance\"><VALUE.NAMEDINSTANCE>{cs}<INSTANCE \
                     CLASSNAME=\"KVM_ComputerSystem\"/></VALUE.NAMEDINSTANCE></IPARAMVALUE>"
                ),
                _ => "<IPARAMVALUE NAME=\"ClassName\"><CLASSNAME NAME=\"KVM_ComputerSystem\"/></IPARAMVALUE>"
                    .into(),
            }
        };
        let mut denied = Vec::new();
        for op in IntrinsicOp::ALL {
            let xml = format!(
                "<?xml version=\"1.0\"?><CIM CIMVERSION=\"2.0\" DTDVERSION=\"2.0\"><MESSAGE ID=\"7\" \
                 PROTOCOLVERSION=\"1.0\"><SIMPLEREQ><IMETHODCALL NAME=\"{op}\"><LOCALNAMESPACEPATH>\
                 <NAMESPACE NAME=\"root\"/><NAMESPACE NAME=\"virt\"/></LOCALNAMESPACEPATH>{}</IMETHODCALL>\
                 </SIMPLEREQ></MESSAGE></CIM>",
                params(op)
            );
            let Ok(req) = parse_request(xml.as_bytes(), &Limits::default()) else {
                assert!(op.reads_only(), "{op}: the test's request does not parse");
                continue;
            };
            let body = ops
                .handle_as(&req, Access::ReadOnly)
                .await
                .into_bytes()
                .await;
            let body = String::from_utf8(body).expect("UTF-8");
            let is_denied = body.contains("CODE=\"2\"");
            assert_eq!(is_denied, !op.reads_only(), "{op}: {body}");
            if is_denied {
                assert!(body.contains("read-only access"), "{body}");
                denied.push(op.as_str().to_owned());
            }
        }
        for op in [
            "SetProperty",
            "CreateInstance",
            "ModifyInstance",
            "DeleteInstance",
        ] {
            assert!(denied.iter().any(|d| d == op), "{op} not tried: {denied:?}");
        }
        // The guest was not touched, and a method is denied too.
        let method = format!(
            "<?xml version=\"1.0\"?><CIM CIMVERSION=\"2.0\" DTDVERSION=\"2.0\"><MESSAGE ID=\"8\" \
             PROTOCOLVERSION=\"1.0\"><SIMPLEREQ><METHODCALL NAME=\"RequestStateChange\"><LOCALINSTANCEPATH>\
             <LOCALNAMESPACEPATH><NAMESPACE NAME=\"root\"/><NAMESPACE NAME=\"virt\"/></LOCALNAMESPACEPATH>\
             {cs}</LOCALINSTANCEPATH><PARAMVALUE NAME=\"RequestedState\" PARAMTYPE=\"uint16\"><VALUE>3</VALUE>\
             </PARAMVALUE></METHODCALL></SIMPLEREQ></MESSAGE></CIM>"
        );
        let req = parse_request(method.as_bytes(), &Limits::default()).expect("method");
        let body = ops
            .handle_as(&req, Access::ReadOnly)
            .await
            .into_bytes()
            .await;
        let body = String::from_utf8(body).expect("UTF-8");
        assert!(
            body.contains("<METHODRESPONSE NAME=\"RequestStateChange\"><ERROR CODE=\"2\""),
            "{body}"
        );
        let body = ops.handle_as(&req, Access::Full).await.into_bytes().await;
        let body = String::from_utf8(body).expect("UTF-8");
        assert!(body.contains("<RETURNVALUE"), "{body}");
    }
}
