//! The CIM operations (DSP0200): intrinsic operations on the class repository and the providers, extrinsic
//! methods, WQL queries, pull enumerations with expiring contexts, and [`cim_error`], the one map from an
//! operation error to a CIM status.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::mpsc;

use crate::cim::{
    namespace_eq, CimStatus, Class, Instance, ObjectPath, PathError, RepoError, Repository, Value,
    ValueError,
};
use crate::driver::Driver;
use crate::error::{Error as DriverError, ErrorCode};
use crate::wbem::cimxml::{
    write_imethod_response, write_method_response, Call, CimError, IReturn, MethodReturn,
    ParamValue, PullItems, PullResult, Request, WriteOptions,
};
use crate::wbem::providers::{all_providers, Provider, ProviderCtx};
use crate::wbem::query::{self, QueryError};

/// Why an operation failed. [`cim_error`] turns it into the status the client sees.
#[derive(Debug, thiserror::Error)]
pub enum OpError {
    #[error("{message}")]
    Cim { status: CimStatus, message: String },
    #[error(transparent)]
    Driver(#[from] DriverError),
    #[error(transparent)]
    Repo(#[from] RepoError),
    #[error("invalid parameter value: {0}")]
    Value(#[from] ValueError),
    #[error(transparent)]
    Query(#[from] QueryError),
    #[error(transparent)]
    Path(#[from] PathError),
}

impl OpError {
    pub fn cim(status: CimStatus, message: impl Into<String>) -> OpError {
        OpError::Cim {
            status,
            message: message.into(),
        }
    }

    pub fn status(&self) -> CimStatus {
        cim_error(self).status
    }
}

/// The one map from an operation error to the CIM error the client gets.
pub fn cim_error(err: &OpError) -> CimError {
    let status = match err {
        OpError::Cim { status, .. } => *status,
        OpError::Driver(e) => match e.code {
            ErrorCode::NO_DOMAIN
            | ErrorCode::NO_NETWORK
            | ErrorCode::NO_STORAGE_POOL
            | ErrorCode::NO_STORAGE_VOL => CimStatus::NotFound,
            ErrorCode::NO_SUPPORT
            | ErrorCode::OPERATION_UNSUPPORTED
            | ErrorCode::ARGUMENT_UNSUPPORTED
            | ErrorCode::CONFIG_UNSUPPORTED => CimStatus::NotSupported,
            ErrorCode::INVALID_ARG
            | ErrorCode::XML_ERROR
            | ErrorCode::XML_DETAIL
            | ErrorCode::XML_INVALID_SCHEMA
            | ErrorCode::INVALID_MAC => CimStatus::InvalidParameter,
            ErrorCode::DOM_EXIST | ErrorCode::NETWORK_EXIST | ErrorCode::STORAGE_VOL_EXIST => {
                CimStatus::AlreadyExists
            }
            ErrorCode::ACCESS_DENIED | ErrorCode::OPERATION_DENIED | ErrorCode::AUTH_FAILED => {
                CimStatus::AccessDenied
            }
            _ => CimStatus::Failed,
        },
        OpError::Repo(e) => e.status(),
        OpError::Value(_) | OpError::Path(_) => CimStatus::InvalidParameter,
        OpError::Query(_) => CimStatus::InvalidQuery,
    };
    let message = match err {
        OpError::Driver(e) => e.message.clone(),
        other => other.to_string(),
    };
    CimError::new(status, message)
}

/// A response body: whole, or a channel of chunks for large results (sent with chunked encoding).
pub enum Reply {
    Whole(String),
    Chunks(mpsc::Receiver<Bytes>),
}

/// Results with more items than this are streamed in chunks of [`STREAM_CHUNK`] items.
const STREAM_THRESHOLD: usize = 256;
const STREAM_CHUNK: usize = 64;
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
}

struct PullContext {
    queue: PullQueue,
    timeout: Duration,
    expires: Instant,
}

/// The operations service: repository, driver, providers and open pull enumerations.
pub struct Operations {
    repo: Arc<Repository>,
    driver: Arc<dyn Driver>,
    providers: Vec<Arc<dyn Provider>>,
    host: String,
    pulls: Mutex<HashMap<String, PullContext>>,
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
    pub fn new(repo: Arc<Repository>, driver: Arc<dyn Driver>, host: &str) -> Operations {
        Operations {
            repo,
            driver,
            providers: all_providers(),
            host: host.to_owned(),
            pulls: Mutex::new(HashMap::new()),
        }
    }

    /// Carries out one decoded request and writes its response.
    pub async fn handle(&self, req: &Request) -> Reply {
        match &req.call {
            Call::Intrinsic {
                name, namespace, ..
            } => {
                let opts = write_options(&req.call);
                let result = self
                    .intrinsic(name, namespace, &req.call)
                    .await
                    .map_err(|e| cim_error(&e));
                match result {
                    Ok(ret) if item_count(&ret) > STREAM_THRESHOLD => {
                        stream_large(&req.message_id, name, ret, opts)
                    }
                    result => {
                        Reply::Whole(write_imethod_response(&req.message_id, name, &result, opts))
                    }
                }
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
                Reply::Whole(write_method_response(&req.message_id, name, &result))
            }
        }
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

    /// Providers whose class is `class` or a subclass of it.
    fn providers_under(
        &self,
        namespace: &str,
        class: &str,
    ) -> Result<Vec<ProviderWithClass>, OpError> {
        let ns = self.repo.namespace(namespace)?;
        Ok(self
            .providers
            .iter()
            .filter(|p| namespace_eq(p.namespace(), namespace))
            .filter(|p| ns.is_subclass_of(p.class_name(), class))
            .filter_map(|p| {
                ns.class(p.class_name())
                    .map(|c| (Arc::clone(p), Arc::clone(c)))
            })
            .collect())
    }

    fn ctx<'a>(&'a self, class: &'a Class, namespace: &'a str) -> ProviderCtx<'a> {
        ProviderCtx {
            driver: &self.driver,
            class,
            namespace,
        }
    }

    /// Instances of `class` and its subclasses (providers and static MOF instances).
    async fn instances_of(&self, namespace: &str, class: &str) -> Result<Vec<Instance>, OpError> {
        self.class(namespace, class)?;
        let mut out = Vec::new();
        for (provider, pclass) in self.providers_under(namespace, class)? {
            out.extend(provider.enumerate(&self.ctx(&pclass, namespace)).await?);
        }
        let ns = self.repo.namespace(namespace)?;
        for inst in ns.instances() {
            if ns.is_subclass_of(&inst.class_name, class) {
                let mut inst = inst.clone();
                if inst.path.is_none() {
                    if let Some(c) = ns.class(&inst.class_name) {
                        inst.path = Some(inst.path_from_keys(c, Some(namespace)));
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
        for (provider, pclass) in self.providers_under(namespace, class)? {
            out.extend(
                provider
                    .enumerate_names(&self.ctx(&pclass, namespace))
                    .await?,
            );
        }
        let ns = self.repo.namespace(namespace)?;
        for inst in ns.instances() {
            if ns.is_subclass_of(&inst.class_name, class) {
                if let Some(c) = ns.class(&inst.class_name) {
                    out.push(
                        inst.path
                            .clone()
                            .unwrap_or_else(|| inst.path_from_keys(c, Some(namespace))),
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
        for inst in ns.instances() {
            if let Some(c) = ns.class(&inst.class_name) {
                let ipath = inst
                    .path
                    .clone()
                    .unwrap_or_else(|| inst.path_from_keys(c, Some(ns_name)));
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
            p.namespace = Some(namespace.to_owned());
        }
        p
    }

    async fn intrinsic(
        &self,
        name: &str,
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
        match name {
            "GetClass" => {
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
            "EnumerateClasses" | "EnumerateClassNames" => {
                let ns = self.repo.namespace(namespace)?;
                let parent = call.class_name_param("ClassName").map(str::to_owned);
                if let Some(parent) = &parent {
                    self.class(namespace, parent)?;
                }
                let names = ns.subclass_names(parent.as_deref(), flag("DeepInheritance", false)?);
                if name == "EnumerateClassNames" {
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
            "EnumerateInstances" => {
                let class_name = class_param("ClassName")?;
                let requested = self.class(namespace, &class_name)?;
                let deep = flag("DeepInheritance", true)?;
                let mut items = self.instances_of(namespace, &class_name).await?;
                for inst in &mut items {
                    if !deep {
                        inst.properties
                            .retain(|p| requested.property(&p.name).is_some());
                    }
                    if let Some(list) = &property_list {
                        inst.filter_properties(list);
                    }
                    if let Some(p) = &mut inst.path {
                        p.host = None;
                        p.namespace = None;
                    }
                }
                Ok(IReturn::NamedInstances(items))
            }
            "EnumerateInstanceNames" => {
                let class_name = class_param("ClassName")?;
                let names = self.names_of(namespace, &class_name).await?;
                Ok(IReturn::InstanceNames(
                    names.iter().map(ObjectPath::local).collect(),
                ))
            }
            "GetInstance" => {
                let path = instance_param("InstanceName")?;
                let mut inst = self.get_instance(namespace, &path).await?;
                if let Some(list) = &property_list {
                    inst.filter_properties(list);
                }
                Ok(IReturn::Instance(inst))
            }
            "GetProperty" => {
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
            "Associators" | "AssociatorNames" | "References" | "ReferenceNames" => {
                let kind = match name {
                    "Associators" => Assoc::Associators,
                    "AssociatorNames" => Assoc::AssociatorNames,
                    "References" => Assoc::References,
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
            "ExecQuery" => {
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
            "OpenEnumerateInstances"
            | "OpenEnumerateInstancePaths"
            | "OpenAssociatorInstances"
            | "OpenAssociatorInstancePaths"
            | "OpenReferenceInstances"
            | "OpenReferenceInstancePaths" => {
                self.open_enumeration(name, namespace, call, &property_list)
                    .await
            }
            "PullInstancesWithPath" | "PullInstancePaths" | "PullInstances" => {
                let context = call.string_param("EnumerationContext")?.unwrap_or_default();
                let max = pull_max(call)?.ok_or_else(|| {
                    OpError::cim(CimStatus::InvalidParameter, "MaxObjectCount is required")
                })?;
                let want_paths = name == "PullInstancePaths";
                Ok(IReturn::Pull(self.pull(&context, max, want_paths)?))
            }
            "CloseEnumeration" => {
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
            "CreateInstance" => {
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
            "ModifyInstance" => {
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
            "DeleteInstance" => {
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
    /// Returns result paths and (for the instance forms) the instances.
    async fn associations(
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
        let mut instances = Vec::new();
        for provider in self
            .providers
            .iter()
            .filter(|p| namespace_eq(p.namespace(), &ns_name))
        {
            let Some(aclass) = ns.class(provider.class_name()) else {
                continue;
            };
            if !aclass.is_association() {
                continue;
            }
            let assoc_filter = match kind {
                Assoc::References | Assoc::ReferenceNames => &f.result_class,
                _ => &f.assoc_class,
            };
            if let Some(ac) = assoc_filter {
                if !ns.is_subclass_of(&aclass.name, ac) {
                    continue;
                }
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
                            if !paths.iter().any(|q| q.same_object(&full)) {
                                paths.push(full);
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
                            if !paths.iter().any(|q| q.same_object(&full)) {
                                paths.push(full);
                            }
                        }
                    }
                }
            }
        }
        if matches!(kind, Assoc::Associators) {
            for p in &paths {
                match self.get_instance(&ns_name, p).await {
                    Ok(mut inst) => {
                        inst.path = Some(p.clone());
                        instances.push(inst);
                    }
                    Err(e) if e.status() == CimStatus::NotFound => {}
                    Err(e) => return Err(e),
                }
            }
        } else {
            for inst in &mut instances {
                inst.path = inst.path.as_ref().map(|p| self.full_path(p, &ns_name));
            }
        }
        Ok((paths, instances))
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
        name: &str,
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
        let has_filter = matches!(call.param("FilterQuery"), Some(p) if *p != ParamValue::Null)
            || matches!(call.param("FilterQueryLanguage"), Some(p) if *p != ParamValue::Null);
        if has_filter {
            return Err(OpError::cim(
                CimStatus::FilteredEnumerationNotSupported,
                "filtered pull enumerations are not supported",
            ));
        }
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
        let paths_only = name.ends_with("Paths");
        let queue = if name.starts_with("OpenEnumerate") {
            let class_name = call
                .class_name_param("ClassName")
                .map(str::to_owned)
                .ok_or_else(|| {
                    OpError::cim(CimStatus::InvalidParameter, "ClassName is required")
                })?;
            if paths_only {
                let names = self.names_of(namespace, &class_name).await?;
                PullQueue::Paths(names.iter().map(|p| self.full_path(p, namespace)).collect())
            } else {
                let deep = call.bool_param("DeepInheritance")?.unwrap_or(true);
                let requested = self.class(namespace, &class_name)?;
                let mut items = self.instances_of(namespace, &class_name).await?;
                for inst in &mut items {
                    if !deep {
                        inst.properties
                            .retain(|p| requested.property(&p.name).is_some());
                    }
                    inst.path = inst.path.as_ref().map(|p| self.full_path(p, namespace));
                }
                PullQueue::Instances(shape_all(items, property_list).into())
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
            let kind = match (name.starts_with("OpenAssociator"), paths_only) {
                (true, true) => Assoc::AssociatorNames,
                (true, false) => Assoc::Associators,
                (false, true) => Assoc::ReferenceNames,
                (false, false) => Assoc::References,
            };
            let (paths, instances) = self
                .associations(kind, namespace, &object, &filters)
                .await?;
            if paths_only {
                PullQueue::Paths(paths.into())
            } else {
                PullQueue::Instances(shape_all(instances, property_list).into())
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
        Ok(IReturn::Pull(self.pull(&id, max, paths_only)?))
    }

    /// Takes up to `max` items from an open enumeration; closes it at the end.
    fn pull(&self, id: &str, max: u32, want_paths: bool) -> Result<PullResult, OpError> {
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
            match (&mut ctx.queue, want_paths) {
                (PullQueue::Paths(q), true) => {
                    let n = take.min(q.len());
                    (PullItems::Paths(q.drain(..n).collect()), q.len())
                }
                (PullQueue::Instances(q), false) => {
                    let n = take.min(q.len());
                    (PullItems::Instances(q.drain(..n).collect()), q.len())
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
                value.to_value(&param.ty)?
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

fn write_options(call: &Call) -> WriteOptions {
    let default_qualifiers = matches!(call.name(), "GetClass" | "EnumerateClasses");
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

fn item_count(ret: &IReturn) -> usize {
    match ret {
        IReturn::NamedInstances(v) | IReturn::ObjectsWithPath(v) => v.len(),
        IReturn::InstanceNames(v) | IReturn::ObjectPaths(v) => v.len(),
        _ => 0,
    }
}

/// Splits a list result into pieces of `STREAM_CHUNK` items, moving (not copying) them.
fn into_pieces(ret: IReturn) -> Vec<IReturn> {
    fn split<T>(items: Vec<T>, wrap: fn(Vec<T>) -> IReturn) -> Vec<IReturn> {
        let mut pieces = Vec::new();
        let mut items = items.into_iter().peekable();
        while items.peek().is_some() {
            pieces.push(wrap(items.by_ref().take(STREAM_CHUNK).collect()));
        }
        pieces
    }
    match ret {
        IReturn::NamedInstances(v) => split(v, IReturn::NamedInstances),
        IReturn::ObjectsWithPath(v) => split(v, IReturn::ObjectsWithPath),
        IReturn::InstanceNames(v) => split(v, IReturn::InstanceNames),
        IReturn::ObjectPaths(v) => split(v, IReturn::ObjectPaths),
        other => vec![other],
    }
}

/// A long result written in pieces by a task (bounded channel: a client that does not read holds the writer).
/// Each piece is written as a whole response, then cut at IRETURNVALUE: the first keeps the head, the last the
/// tail.
fn stream_large(message_id: &str, method: &str, ret: IReturn, opts: WriteOptions) -> Reply {
    let pieces = into_pieces(ret);
    let (tx, rx) = mpsc::channel::<Bytes>(4);
    let message_id = message_id.to_owned();
    let method = method.to_owned();
    tokio::spawn(async move {
        let count = pieces.len();
        for (i, piece) in pieces.into_iter().enumerate() {
            let text = write_imethod_response(&message_id, &method, &Ok(piece), opts);
            let open = "<IRETURNVALUE>";
            let close = "</IRETURNVALUE>";
            let (Some(a), Some(b)) = (text.find(open), text.rfind(close)) else {
                return;
            };
            let from = if i == 0 { 0 } else { a + open.len() };
            let to = if i + 1 == count { text.len() } else { b };
            if tx
                .send(Bytes::from(text[from..to].to_owned()))
                .await
                .is_err()
            {
                return;
            }
        }
    });
    Reply::Chunks(rx)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorDomain;

    #[test]
    fn error_to_status_table() {
        let d = |code: ErrorCode| OpError::Driver(DriverError::new(code, ErrorDomain(0), "x"));
        let cases: Vec<(OpError, u32)> = vec![
            (OpError::cim(CimStatus::NotFound, "x"), 6),
            (d(ErrorCode::NO_DOMAIN), 6),
            (d(ErrorCode::NO_SUPPORT), 7),
            (d(ErrorCode::OPERATION_UNSUPPORTED), 7),
            (d(ErrorCode::INVALID_ARG), 4),
            (d(ErrorCode::XML_ERROR), 4),
            (d(ErrorCode::DOM_EXIST), 11),
            (d(ErrorCode::ACCESS_DENIED), 2),
            (d(ErrorCode::OPERATION_INVALID), 1),
            (d(ErrorCode::INTERNAL_ERROR), 1),
            (OpError::Repo(RepoError::InvalidNamespace("x".into())), 3),
            (OpError::Repo(RepoError::ClassNotFound("x".into())), 6),
            (
                OpError::Value(ValueError::Invalid {
                    ty: "uint16",
                    text: "x".into(),
                }),
                4,
            ),
            (OpError::Query(QueryError("x".into())), 15),
            (OpError::cim(CimStatus::InvalidEnumerationContext, "x"), 21),
        ];
        for (err, code) in cases {
            assert_eq!(cim_error(&err).status.code(), code, "{err:?}");
        }
        let e = cim_error(&d(ErrorCode::NO_DOMAIN));
        assert_eq!(e.description, "x");
    }
}
