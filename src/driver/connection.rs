//! A connection as front ends hold it: one hypervisor driver plus the host-wide object drivers, and everything
//! derived from the one driver API list ([`super::api`]): the per-object traits, the connection's forwarding
//! methods, the access table, and the forwarding wrapper that read-only and reconnecting connections use.

use std::future::Future;
use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::broadcast;
use uuid::Uuid;

use super::api::driver_api;
use super::stream::Stream;
use super::types::*;
use super::{DomainSummary, KeepDomain};
use crate::error::{Error, ErrorCode, ErrorDomain, Result};

/// What a read-only connection may do with a method or procedure.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Access {
    /// Reads state: allowed read-only (unless a guard says otherwise for some arguments).
    Read,
    /// Changes state, or reads what libvirt keeps from read-only clients: refused read-only with code 29.
    Write,
}

macro_rules! access_class {
    (read) => {
        Access::Read
    };
    (write) => {
        Access::Write
    };
}

/// The read-only rule of one method, evaluated with the method's arguments in scope.
macro_rules! read_only_rule {
    ($access:ident, $api:expr, $guard:block) => {
        $guard?
    };
    (read, $api:expr) => {};
    (write, $api:expr) => {
        return Err(Error::read_only($api))
    };
}

/// Builds, from the driver API list: the traits, the access table, the [`Connection`] forwarders and the
/// [`Forwarding`] wrapper's implementations.
macro_rules! declare_drivers {
    ($(
        $(#[$tmeta:meta])*
        trait $trait:ident ($field:ident) {
            $(
                $(#[$meta:meta])*
                fn $name:ident(&self $(, $arg:ident : $ty:ty)* $(,)?) -> Result<$ret:ty>
                    => $remote:ident $(($proc:ident))?, $access:ident, $api:expr
                    $(, guard $guard:block)? $(, default $default:block)?;
            )*
        }
    )*) => {
        $(
            $(#[$tmeta])*
            ///
            /// Every method defaults to libvirt's "not supported" (code 3) naming the API, so a driver grows one
            /// method at a time and stock clients fall back as they do against libvirtd.
            #[async_trait]
            pub trait $trait: Send + Sync {
                $(
                    $(#[$meta])*
                    #[allow(unused_variables, unreachable_code)]
                    async fn $name(&self $(, $arg: $ty)*) -> Result<$ret> {
                        $(return $default;)?
                        Err(Error::no_support($api))
                    }
                )*
            }

            #[async_trait]
            impl<F: Forward> $trait for Forwarding<F> {
                $(
                    #[allow(unused_variables, unreachable_code)]
                    async fn $name(&self $(, $arg: $ty)*) -> Result<$ret> {
                        if self.0.read_only() {
                            read_only_rule!($access, $api $(, $guard)?);
                        }
                        self.0.target().await?.0.$field.$name($($arg),*).await
                    }
                )*
            }

            impl $trait for NoDriver {}

            impl Connection {
                $(
                    $(#[$meta])*
                    pub async fn $name(&self $(, $arg: $ty)*) -> Result<$ret> {
                        self.0.$field.$name($($arg),*).await
                    }
                )*
            }
        )*

        /// Each driver method's access class, by method name: the one read-only policy, which the RPC gate and
        /// the read-only wrapper both read (methods no procedure calls have one too, unread).
        #[allow(non_upper_case_globals, dead_code)]
        pub mod access {
            use super::Access;
            $($(pub const $name: Access = access_class!($access);)*)*
        }

        /// The driver parts of one connection (a part whose trait has no methods yet is never read).
        #[allow(dead_code)]
        struct Parts {
            $($field: Arc<dyn $trait>,)*
            home_runtime: Option<tokio::runtime::Handle>,
            generation: Option<Arc<dyn Generation>>,
            in_memory: bool,
            read_only: bool,
        }

        /// Builds a [`Connection`]: parts not given answer "not supported".
        pub struct ConnectionBuilder {
            $($field: Arc<dyn $trait>,)*
            home_runtime: Option<tokio::runtime::Handle>,
            generation: Option<Arc<dyn Generation>>,
            in_memory: bool,
        }

        impl ConnectionBuilder {
            $(
                pub fn $field(mut self, driver: Arc<dyn $trait>) -> Self {
                    self.$field = driver;
                    self
                }
            )*
            fn empty() -> Self {
                Self {
                    $($field: Arc::new(NoDriver),)*
                    home_runtime: None,
                    generation: None,
                    in_memory: false,
                }
            }
            pub fn build(self) -> Connection {
                Connection(Arc::new(Parts {
                    $($field: self.$field,)*
                    home_runtime: self.home_runtime,
                    generation: self.generation,
                    in_memory: self.in_memory,
                    read_only: false,
                }))
            }
        }

        impl Connection {
            /// The same drivers seen read-only: every change refused with code 29, as libvirt's public API
            /// refuses them on a read-only connection.
            pub fn read_only(&self) -> Connection {
                if self.0.read_only {
                    return self.clone();
                }
                let guarded = || Arc::new(Forwarding(ReadOnlyTarget(self.clone())));
                Connection(Arc::new(Parts {
                    $($field: guarded(),)*
                    home_runtime: self.0.home_runtime.clone(),
                    generation: self.0.generation.clone(),
                    in_memory: self.0.in_memory,
                    read_only: true,
                }))
            }

            /// A connection whose every call goes through `forward` (for connections that are reopened).
            pub fn forwarding<F: Forward>(forward: F) -> Connection {
                let forward = Arc::new(Forwarding(forward));
                Connection(Arc::new(Parts {
                    $($field: forward.clone(),)*
                    home_runtime: None,
                    generation: None,
                    in_memory: false,
                    read_only: false,
                }))
            }
        }
    };
}

driver_api!(declare_drivers);

/// A number that changes whenever anything a driver reports may have changed, so a front end may reuse an answer
/// computed at the same number.
pub trait Generation: Send + Sync {
    fn generation(&self) -> u64;

    /// A number that changes whenever the host's networks, pools or volumes may have changed (whatever a
    /// domain's view of the host depends on besides the domain itself); by default the generation.
    fn host_generation(&self) -> u64 {
        self.generation()
    }

    /// The version of the domain named `name` (see [`DomainSummary::version`]); `None` when there is no such
    /// domain or the driver gives no versions.
    fn domain_version(&self, _name: &str) -> Option<u64> {
        None
    }
}

/// One connection: a hypervisor driver and the host's object drivers. Cheap to clone (one shared allocation);
/// every driver method is also a method of the connection, which calls the driver that owns it.
#[derive(Clone)]
pub struct Connection(Arc<Parts>);

impl Connection {
    /// A connection whose hypervisor is `hypervisor` and whose other parts answer "not supported" until set.
    pub fn builder() -> ConnectionBuilder {
        ConnectionBuilder::empty()
    }

    /// Whether this connection refuses changes.
    pub fn is_read_only(&self) -> bool {
        self.0.read_only
    }

    /// The runtime the drivers' background work lives on (monitor connections, child processes), if any: a
    /// front end serving on another thread runs the calls there, so nothing a driver keeps is tied to a thread
    /// that may end first. `None`: callable from any runtime.
    pub fn home_runtime(&self) -> Option<tokio::runtime::Handle> {
        self.0.home_runtime.clone()
    }

    /// A number that changes whenever anything this connection reports may have changed; `None` means the
    /// drivers cannot promise that, and nothing may be reused.
    pub fn generation(&self) -> Option<u64> {
        self.0.generation.as_ref().map(|g| g.generation())
    }

    /// Whether the hypervisor driver holds its domains' definitions in memory, so that
    /// [`HypervisorDriver::domain_summaries`] costs no round trip per domain (else a front end that needs only the
    /// definitions does better to ask for them itself).
    pub fn definitions_in_memory(&self) -> bool {
        self.0.in_memory
    }

    /// [`Generation::host_generation`]; `None` as for [`Connection::generation`].
    pub fn host_generation(&self) -> Option<u64> {
        self.0.generation.as_ref().map(|g| g.host_generation())
    }

    /// [`Generation::domain_version`].
    pub fn domain_version(&self, name: &str) -> Option<u64> {
        self.0.generation.as_ref()?.domain_version(name)
    }
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("read_only", &self.0.read_only)
            .finish_non_exhaustive()
    }
}

impl ConnectionBuilder {
    pub fn home_runtime(mut self, handle: Option<tokio::runtime::Handle>) -> Self {
        self.home_runtime = handle;
        self
    }
    pub fn generation(mut self, generation: Arc<dyn Generation>) -> Self {
        self.generation = Some(generation);
        self
    }
    /// See [`Connection::definitions_in_memory`].
    pub fn definitions_in_memory(mut self) -> Self {
        self.in_memory = true;
        self
    }
}

/// The parts of a connection a driver does not provide: every method answers "not supported".
pub struct NoDriver;

/// Where a [`Forwarding`] connection sends each call, and whether it applies the read-only rules first.
pub trait Forward: Send + Sync + 'static {
    fn read_only(&self) -> bool;
    fn target(&self) -> impl Future<Output = Result<Connection>> + Send;
}

/// Implements every driver trait by checking the read-only rules (when asked) and calling the target's driver.
pub struct Forwarding<F>(F);

/// The read-only view of a connection.
struct ReadOnlyTarget(Connection);

impl Forward for ReadOnlyTarget {
    fn read_only(&self) -> bool {
        true
    }
    async fn target(&self) -> Result<Connection> {
        Ok(self.0.clone())
    }
}

// ---- what the read-only guards and defaults of the API list call ----

fn refuse(api: &str) -> Result<()> {
    Err(Error::read_only(api))
}

/// The API name libvirt reports: the plain call when no flags are given, the `...Flags` variant otherwise.
fn api(flags: u32, plain: &'static str, with_flags: &'static str) -> &'static str {
    if flags == 0 {
        plain
    } else {
        with_flags
    }
}

/// Secure details (passwords) and migratable XML are not for read-only clients.
fn secure_xml(flags: u32) -> Result<()> {
    if flags & (super::flags::XML_SECURE | super::flags::XML_MIGRATABLE) != 0 {
        return Err(Error::with_detail(
            ErrorCode::OPERATION_DENIED,
            ErrorDomain::DOMAIN,
            "virDomainGetXMLDesc with secure flag",
        ));
    }
    Ok(())
}

/// The libvirt API that reads (`set` false) or changes one tunables family.
fn tunable_api(kind: TunableKind, set: bool) -> &'static str {
    match (kind, set) {
        (TunableKind::Memory, false) => "virDomainGetMemoryParameters",
        (TunableKind::Blkio, false) => "virDomainGetBlkioParameters",
        (TunableKind::Numa, false) => "virDomainGetNumaParameters",
        (TunableKind::Scheduler, false) => "virDomainGetSchedulerParametersFlags",
        (TunableKind::Perf, false) => "virDomainGetPerfEvents",
        (TunableKind::Memory, true) => "virDomainSetMemoryParameters",
        (TunableKind::Blkio, true) => "virDomainSetBlkioParameters",
        (TunableKind::Numa, true) => "virDomainSetNumaParameters",
        (TunableKind::Scheduler, true) => "virDomainSetSchedulerParametersFlags",
        (TunableKind::Perf, true) => "virDomainSetPerfEvents",
    }
}

/// Every domain with its state and definition, asked per domain (the default of
/// [`HypervisorDriver::domain_summaries`]). A domain that vanishes meanwhile is left out, as is one `keep` refuses.
pub async fn summaries_by_calls<D: HypervisorDriver + ?Sized>(
    driver: &D,
    keep: &KeepDomain,
) -> Result<Vec<DomainSummary>> {
    let mut out = Vec::new();
    for dom in driver.list_all_domains(0).await? {
        match summary_of_ref(driver, dom).await {
            Err(e) if e.code == ErrorCode::NO_DOMAIN => continue,
            Ok(summary) if !keep(&summary.def) => continue,
            other => out.push(other?),
        }
    }
    Ok(out)
}

/// One domain's summary, asked of the driver call by call (the remote driver's [`HypervisorDriver::domain_summary`]).
pub async fn summary_by_calls<D: HypervisorDriver + ?Sized>(
    driver: &D,
    name: &str,
) -> Result<DomainSummary> {
    let dom = driver.domain_lookup_by_name(name).await?;
    summary_of_ref(driver, dom).await
}

/// A domain's state and its XML parsed, asked of the driver.
async fn summary_of_ref<D: HypervisorDriver + ?Sized>(
    driver: &D,
    dom: DomainRef,
) -> Result<DomainSummary> {
    let (state, reason) = driver.domain_get_state(&dom, 0).await?;
    let xml = driver.domain_get_xml_desc(&dom, 0).await?;
    let def = crate::model::DomainDef::from_xml(&xml, false)?;
    Ok(DomainSummary {
        dom,
        state,
        reason,
        def: std::sync::Arc::new(def),
        version: None,
        autostart: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::driver::flags;

    /// A driver that answers every query and would accept every change.
    struct Open;

    #[async_trait]
    impl HypervisorDriver for Open {
        async fn domain_lookup_by_name(&self, name: &str) -> Result<DomainRef> {
            Ok(DomainRef {
                name: name.to_string(),
                uuid: Uuid::nil(),
                id: 1,
            })
        }
        async fn domain_suspend(&self, _dom: &DomainRef) -> Result<()> {
            Ok(())
        }
        async fn domain_define_xml(&self, _xml: &str, _flags: u32) -> Result<DomainRef> {
            self.domain_lookup_by_name("x").await
        }
        async fn domain_get_xml_desc(&self, _dom: &DomainRef, _flags: u32) -> Result<String> {
            Ok("<domain/>".to_string())
        }
    }

    #[async_trait]
    impl StorageDriver for Open {
        async fn pool_destroy(&self, _pool: &PoolRef) -> Result<()> {
            Ok(())
        }
    }

    fn open() -> Connection {
        let open = Arc::new(Open);
        Connection::builder()
            .hypervisor(open.clone())
            .storage(open)
            .build()
            .read_only()
    }

    #[tokio::test]
    async fn reads_pass_and_changes_are_refused() {
        let ro = open();
        let dom = ro
            .domain_lookup_by_name("test")
            .await
            .expect("lookup passes");
        assert_eq!(dom.name, "test");
        assert_eq!(
            ro.domain_get_xml_desc(&dom, flags::XML_INACTIVE)
                .await
                .expect("xml"),
            "<domain/>"
        );

        let err = ro.domain_suspend(&dom).await.expect_err("refused");
        assert_eq!(err.code, ErrorCode::OPERATION_DENIED);
        assert_eq!(
            err.message,
            "operation forbidden: read only access prevents virDomainSuspend"
        );
        let err = ro
            .domain_define_xml("<domain/>", 0)
            .await
            .expect_err("refused");
        assert_eq!(
            err.message,
            "operation forbidden: read only access prevents virDomainDefineXML"
        );
        let pool = PoolRef {
            name: "p".to_string(),
            uuid: Uuid::nil(),
        };
        let err = ro.pool_destroy(&pool).await.expect_err("refused");
        assert_eq!(
            err.message,
            "operation forbidden: read only access prevents virStoragePoolDestroy"
        );
    }

    #[tokio::test]
    async fn secure_xml_is_refused() {
        let ro = open();
        let dom = ro
            .domain_lookup_by_name("test")
            .await
            .expect("lookup passes");
        let err = ro
            .domain_get_xml_desc(&dom, flags::XML_SECURE)
            .await
            .expect_err("refused");
        assert_eq!(err.code, ErrorCode::OPERATION_DENIED);
        assert_eq!(
            err.message,
            "operation forbidden: virDomainGetXMLDesc with secure flag"
        );
    }
}

#[cfg(test)]
mod forwarding_tests {
    use super::*;

    /// A target that counts the calls that reach it.
    struct Counting(Connection, std::sync::atomic::AtomicUsize);

    impl Forward for Arc<Counting> {
        fn read_only(&self) -> bool {
            false
        }
        async fn target(&self) -> Result<Connection> {
            self.1.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok(self.0.clone())
        }
    }

    #[tokio::test]
    async fn every_part_forwards_and_missing_parts_say_not_supported() {
        let counting = Arc::new(Counting(
            Connection::builder().build(),
            std::sync::atomic::AtomicUsize::new(0),
        ));
        let conn = Connection::forwarding(counting.clone());
        let err = conn
            .list_all_networks(0)
            .await
            .expect_err("no network driver");
        assert_eq!(err.code, ErrorCode::NO_SUPPORT);
        assert!(
            err.message.ends_with("virConnectListAllNetworks"),
            "{}",
            err.message
        );
        let err = conn
            .vol_lookup_by_key("k")
            .await
            .expect_err("no storage driver");
        assert!(
            err.message.ends_with("virStorageVolLookupByKey"),
            "{}",
            err.message
        );
        let dom = DomainRef {
            name: "d".into(),
            uuid: Uuid::nil(),
            id: 1,
        };
        let err = conn.domain_reset(&dom, 0).await.expect_err("no hypervisor");
        assert!(err.message.ends_with("virDomainReset"), "{}", err.message);
        assert_eq!(counting.1.load(std::sync::atomic::Ordering::SeqCst), 3);
        assert_eq!(access::domain_reset, Access::Write);
        assert_eq!(access::domain_get_xml_desc, Access::Read);
    }
}
