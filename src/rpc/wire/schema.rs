//! Renders `schemas/remote.x`, the REMOTE program in the XDR language, from the one declaration of each procedure.
//!
//! The source is `remote_procedure_table!` (procedure, argument and reply types, how the server answers) and the
//! field lists `xdr_struct!` records; the handles and unions with hand-written codecs are written out here once.
//! Each procedure gets libvirt's struct names (`remote_<wire name>_args`, `_ret`, `_msg` for events) even where
//! several procedures share one Rust struct, so the file lays every message out as libvirt's `remote_protocol.x`
//! does and rpcgen accepts it. The test below keeps the checked-in file equal to the rendering: the schema is an
//! output of the code and cannot fall behind it. Pure: text in, text out; only the tests touch files.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use super::procedures::Procedure;
use super::proto::*;
use super::xdr::{Declared, StructDecl, STRING_MAX};
use crate::driver::Access;

/// How the server answers a procedure, as its declaration says.
#[derive(Clone, Copy, Debug)]
enum Answer {
    /// `call`: the dispatch arm is generated and calls this driver method.
    Generated(&'static str, Access),
    /// `hand`: a hand-written arm calls this driver method.
    Hand(&'static str, Access),
    /// `conn read`: the connection itself answers (open, close, authentication, events, features).
    Connection,
    /// `unsupported read`: decoded, answered "not supported". No declaration uses it today; the table form
    /// stays for procedures decoded before any driver has them.
    #[allow(dead_code)]
    Unsupported,
    /// `event`: a message the server sends.
    Event,
}

/// One procedure as declared.
struct Declaration {
    procedure: Procedure,
    args: Option<StructDecl>,
    ret: Option<StructDecl>,
    answer: Answer,
}

macro_rules! answer_of {
    (call || $method:ident()) => {
        Answer::Generated(stringify!($method), crate::driver::access::$method)
    };
    (call |$($field:ident),*| $method:ident($($arg:expr),*)) => {
        Answer::Generated(stringify!($method), crate::driver::access::$method)
    };
    (hand $method:ident) => {
        Answer::Hand(stringify!($method), crate::driver::access::$method)
    };
    (conn read) => {
        Answer::Connection
    };
    (unsupported read) => {
        Answer::Unsupported
    };
    (event) => {
        Answer::Event
    };
}

macro_rules! schema_table {
    ($($variant:ident : $args:ty => $ret:ty [$($spec:tt)*];)*) => {
        /// Every implemented procedure, in declaration order.
        const DECLARATIONS: &[Declaration] = &[$(
            Declaration {
                procedure: Procedure::$variant,
                args: <$args as Declared>::DECL,
                ret: <$ret as Declared>::DECL,
                answer: answer_of!($($spec)*),
            },
        )*];
    };
}

super::proto::remote_procedure_table!(schema_table);

/// A cap whose XDR name depends on the procedure: `*` becomes the first of these words in the wire name.
/// libvirt has one constant per tunables family where our declaration shares one.
const CAP_FAMILIES: &[&str] = &["SCHEDULER", "BLKIO", "MEMORY", "NUMA"];

/// Array caps: the Rust constant a declaration names, the XDR constant libvirt calls it, and its value (read from
/// the Rust constant, so the schema states the bound the decoder enforces).
const CAPS: &[(&str, &str, u32)] = &[
    ("STRING_MAX", "REMOTE_STRING_MAX", STRING_MAX),
    ("DOMAIN_LIST_MAX", "REMOTE_DOMAIN_LIST_MAX", DOMAIN_LIST_MAX),
    (
        "DOMAIN_SEND_KEY_MAX",
        "REMOTE_DOMAIN_SEND_KEY_MAX",
        DOMAIN_SEND_KEY_MAX,
    ),
    ("CPUMAP_MAX", "REMOTE_CPUMAP_MAX", CPUMAP_MAX),
    ("VCPUINFO_MAX", "REMOTE_VCPUINFO_MAX", VCPUINFO_MAX),
    ("CPUMAPS_MAX", "REMOTE_CPUMAPS_MAX", CPUMAPS_MAX),
    (
        "DOMAIN_GET_CPU_STATS_MAX",
        "REMOTE_DOMAIN_GET_CPU_STATS_MAX",
        DOMAIN_GET_CPU_STATS_MAX,
    ),
    (
        "DOMAIN_JOB_STATS_MAX",
        "REMOTE_DOMAIN_JOB_STATS_MAX",
        DOMAIN_JOB_STATS_MAX,
    ),
    (
        "IOTHREAD_INFO_MAX",
        "REMOTE_IOTHREAD_INFO_MAX",
        IOTHREAD_INFO_MAX,
    ),
    (
        "NETWORK_LIST_MAX",
        "REMOTE_NETWORK_LIST_MAX",
        NETWORK_LIST_MAX,
    ),
    (
        "NETWORK_DHCP_LEASES_MAX",
        "REMOTE_NETWORK_DHCP_LEASES_MAX",
        NETWORK_DHCP_LEASES_MAX,
    ),
    (
        "INTERFACE_LIST_MAX",
        "REMOTE_INTERFACE_LIST_MAX",
        INTERFACE_LIST_MAX,
    ),
    (
        "STORAGE_POOL_LIST_MAX",
        "REMOTE_STORAGE_POOL_LIST_MAX",
        STORAGE_POOL_LIST_MAX,
    ),
    (
        "STORAGE_VOL_LIST_MAX",
        "REMOTE_STORAGE_VOL_LIST_MAX",
        STORAGE_VOL_LIST_MAX,
    ),
    (
        "NODE_DEVICE_LIST_MAX",
        "REMOTE_NODE_DEVICE_LIST_MAX",
        NODE_DEVICE_LIST_MAX,
    ),
    ("SECRET_LIST_MAX", "REMOTE_SECRET_LIST_MAX", SECRET_LIST_MAX),
    (
        "SECRET_VALUE_MAX",
        "REMOTE_SECRET_VALUE_MAX",
        SECRET_VALUE_MAX,
    ),
    (
        "NWFILTER_LIST_MAX",
        "REMOTE_NWFILTER_LIST_MAX",
        NWFILTER_LIST_MAX,
    ),
    (
        "NWFILTER_BINDING_LIST_MAX",
        "REMOTE_NWFILTER_BINDING_LIST_MAX",
        NWFILTER_BINDING_LIST_MAX,
    ),
    (
        "NODE_DEVICE_CAPS_LIST_MAX",
        "REMOTE_NODE_DEVICE_CAPS_LIST_MAX",
        NODE_DEVICE_CAPS_LIST_MAX,
    ),
    (
        "SCHEDULER_PARAMETERS_MAX",
        "REMOTE_DOMAIN_SCHEDULER_PARAMETERS_MAX",
        SCHEDULER_PARAMETERS_MAX,
    ),
    (
        "TUNABLE_PARAMETERS_MAX",
        "REMOTE_DOMAIN_*_PARAMETERS_MAX",
        TUNABLE_PARAMETERS_MAX,
    ),
    (
        "BLOCK_IO_TUNE_PARAMETERS_MAX",
        "REMOTE_DOMAIN_BLOCK_IO_TUNE_PARAMETERS_MAX",
        BLOCK_IO_TUNE_PARAMETERS_MAX,
    ),
    (
        "PERF_EVENTS_MAX",
        "REMOTE_DOMAIN_PERF_EVENTS_MAX",
        PERF_EVENTS_MAX,
    ),
    (
        "NODE_CPU_STATS_MAX",
        "REMOTE_NODE_CPU_STATS_MAX",
        NODE_CPU_STATS_MAX,
    ),
    (
        "DOMAIN_BLOCK_STATS_PARAMETERS_MAX",
        "REMOTE_DOMAIN_BLOCK_STATS_PARAMETERS_MAX",
        DOMAIN_BLOCK_STATS_PARAMETERS_MAX,
    ),
    ("NODE_MAX_CELLS", "REMOTE_NODE_MAX_CELLS", NODE_MAX_CELLS),
    (
        "AUTH_SASL_DATA_MAX",
        "REMOTE_AUTH_SASL_DATA_MAX",
        AUTH_SASL_DATA_MAX,
    ),
    (
        "AUTH_TYPE_LIST_MAX",
        "REMOTE_AUTH_TYPE_LIST_MAX",
        AUTH_TYPE_LIST_MAX,
    ),
    (
        "DOMAIN_MEMORY_STATS_MAX",
        "REMOTE_DOMAIN_MEMORY_STATS_MAX",
        DOMAIN_MEMORY_STATS_MAX,
    ),
    (
        "DOMAIN_SNAPSHOT_LIST_MAX",
        "REMOTE_DOMAIN_SNAPSHOT_LIST_MAX",
        DOMAIN_SNAPSHOT_LIST_MAX,
    ),
    (
        "SECURITY_MODEL_MAX",
        "REMOTE_SECURITY_MODEL_MAX",
        SECURITY_MODEL_MAX,
    ),
    (
        "SECURITY_LABEL_MAX",
        "REMOTE_SECURITY_LABEL_MAX",
        SECURITY_LABEL_MAX,
    ),
    (
        "SECURITY_DOI_MAX",
        "REMOTE_SECURITY_DOI_MAX",
        SECURITY_DOI_MAX,
    ),
    (
        "CPU_MODELS_MAX",
        "REMOTE_CONNECT_CPU_MODELS_MAX",
        CPU_MODELS_MAX,
    ),
    (
        "CONNECT_GET_ALL_DOMAIN_STATS_MAX",
        "REMOTE_CONNECT_GET_ALL_DOMAIN_STATS_MAX",
        CONNECT_GET_ALL_DOMAIN_STATS_MAX,
    ),
    (
        "DOMAIN_FSINFO_MAX",
        "REMOTE_DOMAIN_FSINFO_MAX",
        DOMAIN_FSINFO_MAX,
    ),
    (
        "DOMAIN_FSINFO_DISKS_MAX",
        "REMOTE_DOMAIN_FSINFO_DISKS_MAX",
        DOMAIN_FSINFO_DISKS_MAX,
    ),
    (
        "DOMAIN_INTERFACE_MAX",
        "REMOTE_DOMAIN_INTERFACE_MAX",
        DOMAIN_INTERFACE_MAX,
    ),
    (
        "DOMAIN_IP_ADDR_MAX",
        "REMOTE_DOMAIN_IP_ADDR_MAX",
        DOMAIN_IP_ADDR_MAX,
    ),
    (
        "DOMAIN_MESSAGES_MAX",
        "REMOTE_DOMAIN_MESSAGES_MAX",
        DOMAIN_MESSAGES_MAX,
    ),
    (
        "DOMAIN_DISK_ERRORS_MAX",
        "REMOTE_DOMAIN_DISK_ERRORS_MAX",
        DOMAIN_DISK_ERRORS_MAX,
    ),
    (
        "DOMAIN_FSFREEZE_MOUNTPOINTS_MAX",
        "REMOTE_DOMAIN_FSFREEZE_MOUNTPOINTS_MAX",
        DOMAIN_FSFREEZE_MOUNTPOINTS_MAX,
    ),
    (
        "DOMAIN_LAUNCH_SECURITY_INFO_PARAMS_MAX",
        "REMOTE_DOMAIN_LAUNCH_SECURITY_INFO_PARAMS_MAX",
        DOMAIN_LAUNCH_SECURITY_INFO_PARAMS_MAX,
    ),
    (
        "DOMAIN_GUEST_INFO_PARAMS_MAX",
        "REMOTE_DOMAIN_GUEST_INFO_PARAMS_MAX",
        DOMAIN_GUEST_INFO_PARAMS_MAX,
    ),
    (
        "DOMAIN_GUEST_VCPU_PARAMS_MAX",
        "REMOTE_DOMAIN_GUEST_VCPU_PARAMS_MAX",
        DOMAIN_GUEST_VCPU_PARAMS_MAX,
    ),
    (
        "DOMAIN_MIGRATE_PARAM_LIST_MAX",
        "REMOTE_DOMAIN_MIGRATE_PARAM_LIST_MAX",
        DOMAIN_MIGRATE_PARAM_LIST_MAX,
    ),
    (
        "MIGRATE_COOKIE_MAX",
        "REMOTE_MIGRATE_COOKIE_MAX",
        MIGRATE_COOKIE_MAX,
    ),
];

/// Type aliases declarations use, spelled out (a test checks each against the real alias).
const ALIASES: &[(&str, &str)] = &[("TunableParams", "Array<TypedParam,TUNABLE_PARAMETERS_MAX>")];

/// Rust value types and their XDR type names.
const SCALARS: &[(&str, &str)] = &[
    ("i32", "int"),
    ("u32", "unsigned int"),
    ("i64", "hyper"),
    ("u64", "unsigned hyper"),
    ("String", "remote_nonnull_string"),
    ("uuid::Uuid", "remote_uuid"),
    ("Uuid", "remote_uuid"),
    ("DomainRef", "remote_nonnull_domain"),
    ("NetworkRef", "remote_nonnull_network"),
    ("PoolRef", "remote_nonnull_storage_pool"),
    ("VolumeRef", "remote_nonnull_storage_vol"),
    ("InterfaceRef", "remote_nonnull_interface"),
    ("SnapshotRef", "remote_nonnull_domain_snapshot"),
    ("SecretRef", "remote_nonnull_secret"),
    ("NwFilterRef", "remote_nonnull_nwfilter"),
    ("NwFilterBindingRef", "remote_nonnull_nwfilter_binding"),
    ("TypedParam", "remote_typed_param"),
    ("VcpuInfo", "remote_vcpu_info"),
    ("MemoryStat", "remote_domain_memory_stat"),
    ("DomainStatsRecord", "remote_domain_stats_record"),
    ("NodeCpuStat", "remote_node_get_cpu_stats"),
    ("GuestInterface", "remote_domain_interface"),
    ("IpAddress", "remote_domain_ip_addr"),
    ("FsInfo", "remote_domain_fsinfo"),
    ("IothreadInfo", "remote_domain_iothread_info"),
    ("DomainDiskErrorWire", "remote_domain_disk_error"),
    ("NetworkDhcpLeaseWire", "remote_network_dhcp_lease"),
];

/// `Option<T>` of these Rust types and libvirt's typedef for the nullable form.
const OPTIONALS: &[(&str, &str)] = &[
    ("String", "remote_string"),
    ("DomainRef", "remote_domain"),
    ("NetworkRef", "remote_network"),
    ("PoolRef", "remote_storage_pool"),
    ("VolumeRef", "remote_storage_vol"),
    ("SecretRef", "remote_secret"),
];

/// The types whose codecs are written by hand (handles, the typed-parameter union, records), as libvirt's
/// `remote_protocol.x` defines them; the codecs sit beside the types in `proto*.rs`.
const SHARED_TYPES: &str = "\
typedef string remote_nonnull_string<REMOTE_STRING_MAX>;
typedef remote_nonnull_string *remote_string;
typedef opaque remote_uuid[VIR_UUID_BUFLEN];

struct remote_nonnull_domain { /* DomainRef; id is -1 when inactive */
    remote_nonnull_string name;
    remote_uuid uuid;
    int id;
};

struct remote_nonnull_network { /* NetworkRef */
    remote_nonnull_string name;
    remote_uuid uuid;
};

struct remote_nonnull_interface { /* InterfaceRef */
    remote_nonnull_string name;
    remote_nonnull_string mac;
};

struct remote_nonnull_secret { /* SecretRef */
    remote_uuid uuid;
    int usageType;
    remote_nonnull_string usageID;
};

struct remote_nonnull_nwfilter { /* NwFilterRef */
    remote_nonnull_string name;
    remote_uuid uuid;
};

struct remote_nonnull_nwfilter_binding { /* NwFilterBindingRef */
    remote_nonnull_string portdev;
    remote_nonnull_string filtername;
};

struct remote_nonnull_storage_pool { /* PoolRef */
    remote_nonnull_string name;
    remote_uuid uuid;
};

struct remote_nonnull_storage_vol { /* VolumeRef */
    remote_nonnull_string pool;
    remote_nonnull_string name;
    remote_nonnull_string key;
};

struct remote_nonnull_domain_snapshot { /* SnapshotRef */
    remote_nonnull_string name;
    remote_nonnull_domain dom;
};

typedef remote_nonnull_domain *remote_domain;
typedef remote_nonnull_network *remote_network;
typedef remote_nonnull_storage_pool *remote_storage_pool;
typedef remote_nonnull_storage_vol *remote_storage_vol;
typedef remote_nonnull_secret *remote_secret;

enum remote_auth_type { /* proto::auth_type */
    REMOTE_AUTH_NONE = 0,
    REMOTE_AUTH_SASL = 1,
    REMOTE_AUTH_POLKIT = 2
};

struct remote_vcpu_info { /* VcpuInfo */
    unsigned int number;
    int state;
    unsigned hyper cpu_time;
    int cpu;
};

/* TypedParam: any other discriminant is refused. */
union remote_typed_param_value switch (int type) {
case VIR_TYPED_PARAM_INT:
    int i;
case VIR_TYPED_PARAM_UINT:
    unsigned int ui;
case VIR_TYPED_PARAM_LLONG:
    hyper l;
case VIR_TYPED_PARAM_ULLONG:
    unsigned hyper ul;
case VIR_TYPED_PARAM_DOUBLE:
    double d;
case VIR_TYPED_PARAM_BOOLEAN:
    int b;
case VIR_TYPED_PARAM_STRING:
    remote_nonnull_string s;
};

struct remote_typed_param {
    remote_nonnull_string field;
    remote_typed_param_value value;
};

struct remote_node_get_cpu_stats { /* NodeCpuStat */
    remote_nonnull_string field;
    unsigned hyper value;
};

struct remote_domain_memory_stat { /* MemoryStat */
    int tag;
    unsigned hyper val;
};

struct remote_domain_stats_record { /* DomainStatsRecord */
    remote_nonnull_domain dom;
    remote_typed_param params<REMOTE_CONNECT_GET_ALL_DOMAIN_STATS_MAX>;
};

struct remote_domain_ip_addr { /* IpAddress */
    int type;
    remote_nonnull_string addr;
    unsigned int prefix;
};

struct remote_domain_interface { /* GuestInterface */
    remote_nonnull_string name;
    remote_string hwaddr;
    remote_domain_ip_addr addrs<REMOTE_DOMAIN_IP_ADDR_MAX>;
};

struct remote_domain_fsinfo { /* FsInfo */
    remote_nonnull_string mountpoint;
    remote_nonnull_string name;
    remote_nonnull_string fstype;
    remote_nonnull_string dev_aliases<REMOTE_DOMAIN_FSINFO_DISKS_MAX>;
};

struct remote_domain_iothread_info { /* IothreadInfo */
    unsigned int iothread_id;
    opaque cpumap<REMOTE_CPUMAP_MAX>;
};

struct remote_domain_disk_error { /* DomainDiskErrorWire */
    remote_nonnull_string disk;
    int error;
};

struct remote_network_dhcp_lease { /* NetworkDhcpLeaseWire */
    remote_nonnull_string iface;
    hyper expirytime;
    int type;
    remote_string mac;
    remote_string iaid;
    remote_nonnull_string ipaddr;
    unsigned int prefix;
    remote_string hostname;
    remote_string clientid;
};
";

/// What the renderer refuses: a declaration it cannot express in XDR.
#[derive(Debug, PartialEq, Eq)]
pub struct SchemaError(String);

impl std::fmt::Display for SchemaError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn error<T>(message: impl Into<String>) -> Result<T, SchemaError> {
    Err(SchemaError(message.into()))
}

/// The context a field type is rendered in: which procedure (for per-family caps) and which struct names the
/// payload structs got (for a payload nested in another, like an event inside its callback form).
struct Context<'a> {
    wire_name: &'a str,
    payload_names: &'a BTreeMap<&'static str, String>,
}

/// `T<inner>` → `inner`.
fn generic<'t>(ty: &'t str, outer: &str) -> Option<&'t str> {
    ty.strip_prefix(outer)?.strip_prefix('<')?.strip_suffix('>')
}

fn lookup(table: &[(&str, &'static str)], key: &str) -> Option<&'static str> {
    table
        .iter()
        .find(|(rust, _)| *rust == key)
        .map(|(_, xdr)| *xdr)
}

/// The XDR constant for a cap a Rust type names (or the number itself when it is a literal).
fn cap(name: &str, cx: &Context<'_>) -> Result<String, SchemaError> {
    if name.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(name.to_owned());
    }
    let Some(&(_, xdr, _)) = CAPS.iter().find(|(rust, _, _)| *rust == name) else {
        return error(format!(
            "no XDR constant for the cap `{name}`: add it to CAPS in src/rpc/schema.rs"
        ));
    };
    match xdr.split_once('*') {
        None => Ok(xdr.to_owned()),
        Some((head, tail)) => {
            let words: Vec<&str> = cx.wire_name.split('_').collect();
            match CAP_FAMILIES.iter().find(|family| words.contains(family)) {
                Some(family) => Ok(format!("{head}{family}{tail}")),
                None => error(format!(
                    "`{name}` is used by {}, which names none of the families {CAP_FAMILIES:?}",
                    cx.wire_name
                )),
            }
        }
    }
}

/// The XDR type name of a non-array Rust type.
fn named(ty: &str, cx: &Context<'_>) -> Option<String> {
    if let Some(inner) = generic(ty, "Option") {
        return lookup(OPTIONALS, inner).map(str::to_owned);
    }
    lookup(SCALARS, ty)
        .map(str::to_owned)
        .or_else(|| cx.payload_names.get(ty).cloned())
}

/// One field as an XDR declaration (`remote_nonnull_domain dom`, `int ids<REMOTE_DOMAIN_LIST_MAX>`).
fn field(name: &str, rust_ty: &str, cx: &Context<'_>) -> Result<String, SchemaError> {
    let compact: String = rust_ty.split_whitespace().collect();
    let ty = lookup(ALIASES, &compact).unwrap_or(&compact);
    let unmapped = || {
        error(format!(
            "no XDR mapping for the Rust type `{rust_ty}` of field `{name}`: add it to src/rpc/schema.rs"
        ))
    };
    if let Some(inner) = generic(ty, "Array") {
        let Some((elem, max)) = inner.rsplit_once(',') else {
            return unmapped();
        };
        let Some(elem) = named(elem, cx) else {
            return unmapped();
        };
        return Ok(format!("{elem} {name}<{}>", cap(max, cx)?));
    }
    if let Some(max) = generic(ty, "Opaque") {
        return Ok(format!("opaque {name}<{}>", cap(max, cx)?));
    }
    if let Some(max) = generic(ty, "CharArray") {
        return Ok(format!("char {name}<{}>", cap(max, cx)?));
    }
    if let Some(len) = generic(ty, "FixedChars") {
        return Ok(format!("char {name}[{}]", cap(len, cx)?));
    }
    match named(ty, cx) {
        Some(xdr) => Ok(format!("{xdr} {name}")),
        None => unmapped(),
    }
}

fn render_struct(
    out: &mut String,
    xdr_name: &str,
    decl: &StructDecl,
    cx: &Context<'_>,
) -> Result<(), SchemaError> {
    if decl.fields.is_empty() {
        return error(format!(
            "{} has no fields; XDR has no empty struct, declare it as ()",
            decl.name
        ));
    }
    let _ = writeln!(out, "struct {xdr_name} {{ /* {} */", decl.name);
    for f in decl.fields {
        let line = field(f.name, f.ty, cx)
            .map_err(|e| SchemaError(format!("{}.{}: {e}", decl.name, f.name)))?;
        let _ = writeln!(out, "    {line};");
    }
    out.push_str("};\n\n");
    Ok(())
}

/// The constants block: program identity, then every cap once with its value.
fn render_constants(out: &mut String) -> Result<(), SchemaError> {
    out.push_str("const REMOTE_PROGRAM = 0x20008086;\nconst REMOTE_PROTOCOL_VERSION = 1;\n\n");
    let mut seen: BTreeMap<String, u32> = BTreeMap::new();
    for &(rust, xdr, value) in CAPS {
        let names: Vec<String> = match xdr.split_once('*') {
            None => vec![xdr.to_owned()],
            Some((head, tail)) => CAP_FAMILIES
                .iter()
                .map(|family| format!("{head}{family}{tail}"))
                .collect(),
        };
        for name in names {
            match seen.get(&name) {
                Some(&before) if before != value => {
                    return error(format!(
                        "{name} is {before} by one Rust constant and {value} by `{rust}`"
                    ))
                }
                Some(_) => {}
                None => {
                    let _ = writeln!(out, "const {name} = {value};");
                    seen.insert(name, value);
                }
            }
        }
    }
    out.push_str("\nconst VIR_UUID_BUFLEN = 16;\n");
    for (i, name) in [
        "INT", "UINT", "LLONG", "ULLONG", "DOUBLE", "BOOLEAN", "STRING",
    ]
    .iter()
    .enumerate()
    {
        let _ = writeln!(out, "const VIR_TYPED_PARAM_{name} = {};", i + 1);
    }
    out.push('\n');
    Ok(())
}

/// The annotation above a procedure's enum entry.
fn annotation(answer: Answer) -> String {
    let readonly = |access| match access {
        Access::Read => "allow",
        Access::Write => "deny",
    };
    match answer {
        Answer::Generated(method, access) => format!(
            "@generate: server  @driver: {method}  @readonly: {}",
            readonly(access)
        ),
        Answer::Hand(method, access) => format!(
            "@generate: none  @driver: {method}  @readonly: {}",
            readonly(access)
        ),
        Answer::Connection => "@generate: none  @scope: connection  @readonly: allow".into(),
        Answer::Unsupported => "@generate: none  @unsupported: yes  @readonly: allow".into(),
        Answer::Event => "@generate: none  @message: event".into(),
    }
}

const HEADER: &str = "\
/* schemas/remote.x: virtcim's REMOTE program (0x20008086, version 1) in the XDR language.
 *
 * GENERATED from the declaration in src/rpc/proto.rs (remote_procedure_table! and the xdr_struct! payloads)
 * by src/rpc/schema.rs; do not edit. A unit test fails when this file and the declaration differ; regenerate
 * with:   VIRTCIM_REGENERATE_SCHEMA=1 cargo test --lib schema
 *
 * Every procedure virtcim decodes is here, laid out as libvirt's src/remote/remote_protocol.x lays it out:
 * one remote_<name>_args / _ret (_msg for events) per procedure under libvirt's names, with virtcim's field
 * names; the comment after each struct's brace names the Rust type it comes from. Procedure numbers and names
 * for all 443 procedures: schemas/remote_procedures.txt; the framing: schemas/virnet.x.
 *
 * Wire notes: \"char x<N>\" is an array of 4-byte ints, one per byte (not opaque); \"char x[32]\" is 32 ints;
 * fields libvirt declares unsigned char / unsigned short / char take 4 bytes and are written here as int or
 * unsigned int.
 *
 * The annotation above each procedure carries its declaration:
 *   @generate: server     the dispatch arm is generated: @driver is called with the argument fields in order
 *   @generate: none       answered by hand-written code: @driver's arm in src/rpc/dispatch.rs, or the
 *                         connection itself (@scope: connection), or \"not supported\" (@unsupported: yes);
 *                         @message: event marks a message the server sends
 *   @readonly: allow|deny whether a read-only connection may call it (the driver method's access class)
 */

";

/// The whole of `schemas/remote.x`.
fn render() -> Result<String, SchemaError> {
    let mut decls: Vec<&Declaration> = DECLARATIONS.iter().collect();
    decls.sort_by_key(|d| d.procedure.number());

    // A payload struct nested in another takes the name of the first procedure it serves.
    let mut payload_names: BTreeMap<&'static str, String> = BTreeMap::new();
    let mut wire_names = BTreeSet::new();
    for d in &decls {
        let Some(wire) = d.procedure.name() else {
            return error(format!("{:?} has no wire name", d.procedure));
        };
        if !wire_names.insert(wire) {
            return error(format!("{wire} is declared twice"));
        }
        let lower = wire.to_ascii_lowercase();
        let (args_suffix, ret_suffix) = match d.answer {
            Answer::Event => ("msg", "ret"),
            _ => ("args", "ret"),
        };
        for (decl, suffix) in [(d.args, args_suffix), (d.ret, ret_suffix)] {
            if let Some(decl) = decl {
                payload_names
                    .entry(decl.name)
                    .or_insert_with(|| format!("remote_{lower}_{suffix}"));
            }
        }
    }

    let mut out = String::from(HEADER);
    render_constants(&mut out)?;
    out.push_str(SHARED_TYPES);
    out.push('\n');
    let none = BTreeMap::new();
    let cx = Context {
        wire_name: "",
        payload_names: &none,
    };
    match RemoteError::DECL {
        Some(decl) => render_struct(&mut out, "remote_error", &decl, &cx)?,
        None => return error("RemoteError has no recorded declaration"),
    }

    out.push_str("/*----- Calls. -----*/\n\n");
    for d in &decls {
        let wire = d.procedure.name().unwrap_or_default();
        let lower = wire.to_ascii_lowercase();
        let cx = Context {
            wire_name: wire,
            payload_names: &payload_names,
        };
        let args_suffix = if matches!(d.answer, Answer::Event) {
            "msg"
        } else {
            "args"
        };
        if let Some(args) = &d.args {
            render_struct(
                &mut out,
                &format!("remote_{lower}_{args_suffix}"),
                args,
                &cx,
            )?;
        }
        if let Some(ret) = &d.ret {
            render_struct(&mut out, &format!("remote_{lower}_ret"), ret, &cx)?;
        }
    }

    out.push_str("/*----- Procedures. -----*/\n\nenum remote_procedure {\n");
    for (i, d) in decls.iter().enumerate() {
        let wire = d.procedure.name().unwrap_or_default();
        let comma = if i + 1 < decls.len() { "," } else { "" };
        let _ = write!(
            out,
            "    /** {} */\n    REMOTE_PROC_{wire} = {}{comma}\n",
            annotation(d.answer),
            d.procedure.number()
        );
    }
    out.push_str("};\n");
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::driver::TypedParam;
    use crate::rpc::xdr::{Array, FieldDecl};
    use std::path::PathBuf;
    use std::process::Command;

    const REGENERATE: &str = "VIRTCIM_REGENERATE_SCHEMA";

    fn checked_in_path() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("schemas/remote.x")
    }

    fn rendered() -> String {
        render().unwrap_or_else(|e| panic!("schemas/remote.x cannot be rendered: {e}"))
    }

    #[test]
    fn schema_remote_x_is_the_rendered_declaration() {
        let rendered = rendered();
        let path = checked_in_path();
        if std::env::var_os(REGENERATE).is_some() {
            std::fs::write(&path, &rendered).expect("write schemas/remote.x");
            return;
        }
        let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
        if checked_in == rendered {
            return;
        }
        let (line, ours, theirs) = checked_in
            .lines()
            .map(Some)
            .chain(std::iter::repeat(None))
            .zip(rendered.lines().map(Some).chain(std::iter::repeat(None)))
            .enumerate()
            .find(|(_, (a, b))| a != b)
            .map(|(i, (a, b))| {
                (
                    i + 1,
                    a.unwrap_or("<end of file>"),
                    b.unwrap_or("<end of file>"),
                )
            })
            .unwrap_or((0, "", ""));
        panic!(
            "schemas/remote.x differs from the declaration in src/rpc/proto.rs, first at line {line}:\n  \
             checked in: {ours}\n  rendered:   {theirs}\n\
             The file is generated; regenerate it with\n  {REGENERATE}=1 cargo test --lib schema\n\
             and commit the result (git diff schemas/remote.x shows what changed)."
        );
    }

    #[test]
    fn schema_covers_every_implemented_procedure_once() {
        let text = rendered();
        for number in 1..=Procedure::COUNT {
            let proc_ = Procedure::from_number(number);
            let entry = format!(
                "REMOTE_PROC_{} = {number}",
                proc_.name().unwrap_or_default()
            );
            assert_eq!(
                text.matches(&format!("{entry},")).count()
                    + text.matches(&format!("{entry}\n")).count(),
                usize::from(has_codec(proc_)),
                "{entry}"
            );
        }
        // One declaration per procedure with a codec; the count itself is pinned once, in proto.rs's test.
        let implemented = (1..=Procedure::COUNT)
            .filter(|&number| has_codec(Procedure::from_number(number)))
            .count();
        assert_eq!(DECLARATIONS.len(), implemented);
    }

    #[test]
    fn schema_refuses_unmapped_types_and_caps() {
        let names = BTreeMap::new();
        let cx = Context {
            wire_name: "DOMAIN_GET_INFO",
            payload_names: &names,
        };
        for ty in [
            "HashMap<u8, u8>",
            "bool",
            "Option<u32>",
            "Array<f64, DOMAIN_LIST_MAX>",
        ] {
            assert!(field("x", ty, &cx).is_err(), "{ty}");
        }
        assert!(field("x", "Array<String, NO_SUCH_MAX>", &cx).is_err());
        // A shared tunables cap needs a procedure naming its family.
        assert!(field("params", "TunableParams", &cx).is_err());
        let cx = Context {
            wire_name: "DOMAIN_GET_NUMA_PARAMETERS",
            ..cx
        };
        assert_eq!(
            field("params", "TunableParams", &cx).as_deref(),
            Ok("remote_typed_param params<REMOTE_DOMAIN_NUMA_PARAMETERS_MAX>")
        );
        let bad = StructDecl {
            name: "Bad",
            fields: &[FieldDecl {
                name: "x",
                ty: "std::time::Duration",
            }],
        };
        let err = render_struct(&mut String::new(), "remote_bad_args", &bad, &cx).unwrap_err();
        assert!(err.0.contains("Bad.x"), "{err}");
    }

    #[test]
    fn schema_maps_each_kind_of_field() {
        let names = BTreeMap::new();
        let cx = Context {
            wire_name: "X",
            payload_names: &names,
        };
        let cases = [
            ("i32", "int v"),
            ("u32", "unsigned int v"),
            ("i64", "hyper v"),
            ("u64", "unsigned hyper v"),
            ("String", "remote_nonnull_string v"),
            ("Option<String>", "remote_string v"),
            ("uuid::Uuid", "remote_uuid v"),
            ("Option<DomainRef>", "remote_domain v"),
            (
                "Array<DomainRef, DOMAIN_LIST_MAX>",
                "remote_nonnull_domain v<REMOTE_DOMAIN_LIST_MAX>",
            ),
            ("Opaque<CPUMAP_MAX>", "opaque v<REMOTE_CPUMAP_MAX>"),
            (
                "CharArray<SECURITY_MODEL_MAX>",
                "char v<REMOTE_SECURITY_MODEL_MAX>",
            ),
            ("FixedChars<32>", "char v[32]"),
            (
                "CharArray<CPU_MODELS_MAX>",
                "char v<REMOTE_CONNECT_CPU_MODELS_MAX>",
            ),
        ];
        for (ty, want) in cases {
            assert_eq!(field("v", ty, &cx).as_deref(), Ok(want), "{ty}");
        }
    }

    #[test]
    fn schema_aliases_are_what_they_say() {
        // Compiles only while the alias is the type ALIASES spells out.
        let same: fn(TunableParams) -> Array<TypedParam, TUNABLE_PARAMETERS_MAX> = |x| x;
        let _ = same;
        assert_eq!(
            lookup(ALIASES, "TunableParams"),
            Some("Array<TypedParam,TUNABLE_PARAMETERS_MAX>")
        );
    }

    #[test]
    fn schema_constants_are_each_used() {
        let text = rendered();
        for line in text.lines() {
            if let Some(name) = line
                .strip_prefix("const ")
                .and_then(|rest| rest.split_whitespace().next())
                .filter(|name| !["REMOTE_PROGRAM", "REMOTE_PROTOCOL_VERSION"].contains(name))
            {
                assert!(text.matches(name).count() > 1, "{name} is never used");
            }
        }
    }

    /// rpcgen (Debian: rpcsvc-proto) must accept the file, and the C it emits must compile against the
    /// TI-RPC headers (libtirpc-dev), which proves every type is defined before use. Skipped without rpcgen.
    #[test]
    fn schema_rpcgen_accepts_remote_x() {
        if Command::new("rpcgen").arg("--version").output().is_err() {
            eprintln!("rpcgen not installed; skipping (Debian package rpcsvc-proto)");
            return;
        }
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("remote.x"), rendered()).expect("write remote.x");
        for (flag, out) in [("-h", "remote.h"), ("-c", "remote_xdr.c")] {
            let run = Command::new("rpcgen")
                .args([flag, "-o", out, "remote.x"])
                .current_dir(dir.path())
                .output()
                .expect("run rpcgen");
            assert!(
                run.status.success() && run.stderr.is_empty(),
                "rpcgen {flag} refused remote.x: {}",
                String::from_utf8_lossy(&run.stderr)
            );
        }
        if !std::path::Path::new("/usr/include/tirpc/rpc/rpc.h").exists() {
            eprintln!("TI-RPC headers not installed; not compiling rpcgen's output (libtirpc-dev)");
            return;
        }
        let cc = Command::new("cc")
            .args([
                "-fsyntax-only",
                "-Wall",
                "-I/usr/include/tirpc",
                "remote_xdr.c",
            ])
            .current_dir(dir.path())
            .output()
            .expect("run cc");
        assert!(
            cc.status.success(),
            "rpcgen's C for remote.x does not compile: {}",
            String::from_utf8_lossy(&cc.stderr)
        );
    }
}
