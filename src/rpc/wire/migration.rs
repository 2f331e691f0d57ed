//! Payloads of the migration procedures (version 3 with typed parameters, the migration job's speed and downtime,
//! aborting a job), mirroring libvirt's `remote_protocol.x`.

use super::xdr::{xdr_struct, Array, Opaque};
use crate::driver::{DomainRef, TypedParam};

/// `REMOTE_DOMAIN_MIGRATE_PARAM_LIST_MAX`.
pub const DOMAIN_MIGRATE_PARAM_LIST_MAX: u32 = 64;
/// `REMOTE_MIGRATE_COOKIE_MAX`.
pub const MIGRATE_COOKIE_MAX: u32 = 4_194_304;

xdr_struct! {
    pub struct MigrateBegin3ParamsArgs { pub dom: DomainRef, pub params: Array<TypedParam, DOMAIN_MIGRATE_PARAM_LIST_MAX>, pub flags: u32 }
}
xdr_struct! {
    pub struct MigrateBegin3ParamsRet { pub cookie_out: Opaque<MIGRATE_COOKIE_MAX>, pub xml: String }
}
xdr_struct! {
    /// `remote_domain_migrate_prepare3_params_args`.
    pub struct MigratePrepare3ParamsArgs { pub params: Array<TypedParam, DOMAIN_MIGRATE_PARAM_LIST_MAX>, pub cookie_in: Opaque<MIGRATE_COOKIE_MAX>, pub flags: u32 }
}
xdr_struct! {
    /// `remote_domain_migrate_prepare_tunnel3_params_args`: the call opens a stream (the migration data).
    pub struct MigratePrepareTunnel3ParamsArgs { pub params: Array<TypedParam, DOMAIN_MIGRATE_PARAM_LIST_MAX>, pub cookie_in: Opaque<MIGRATE_COOKIE_MAX>, pub flags: u32 }
}
xdr_struct! {
    pub struct MigratePrepare3ParamsRet { pub cookie_out: Opaque<MIGRATE_COOKIE_MAX>, pub uri_out: Option<String> }
}
xdr_struct! {
    pub struct MigratePerform3ParamsArgs {
        pub dom: DomainRef,
        pub dconnuri: Option<String>,
        pub params: Array<TypedParam, DOMAIN_MIGRATE_PARAM_LIST_MAX>,
        pub cookie_in: Opaque<MIGRATE_COOKIE_MAX>,
        pub flags: u32,
    }
}
xdr_struct! {
    /// `remote_domain_migrate_perform3_params_ret`.
    pub struct MigrateCookieRet { pub cookie_out: Opaque<MIGRATE_COOKIE_MAX> }
}
xdr_struct! {
    pub struct MigrateFinish3ParamsArgs {
        pub params: Array<TypedParam, DOMAIN_MIGRATE_PARAM_LIST_MAX>,
        pub cookie_in: Opaque<MIGRATE_COOKIE_MAX>,
        pub flags: u32,
        pub cancelled: i32,
    }
}
xdr_struct! {
    pub struct MigrateFinish3ParamsRet { pub dom: DomainRef, pub cookie_out: Opaque<MIGRATE_COOKIE_MAX> }
}
xdr_struct! {
    pub struct MigrateConfirm3ParamsArgs {
        pub dom: DomainRef,
        pub params: Array<TypedParam, DOMAIN_MIGRATE_PARAM_LIST_MAX>,
        pub cookie_in: Opaque<MIGRATE_COOKIE_MAX>,
        pub flags: u32,
        pub cancelled: i32,
    }
}
#[cfg(test)]
mod tests {
    use super::*;
    use crate::driver::TypedValue;
    use crate::rpc::xdr::Xdr;

    #[test]
    fn finish_args_round_trip_and_caps_hold() {
        let args = MigrateFinish3ParamsArgs {
            params: Array(vec![TypedParam {
                field: "destination_name".into(),
                value: TypedValue::String("g".into()),
            }]),
            cookie_in: Opaque(b"<qemu-migration/>\0".to_vec()),
            flags: 1,
            cancelled: 0,
        };
        assert_eq!(
            MigrateFinish3ParamsArgs::from_bytes(&args.to_bytes()),
            Ok(args)
        );
        // 65 parameters are one above libvirt's cap.
        let mut bytes = 65u32.to_be_bytes().to_vec();
        bytes.extend([0u8; 16]);
        assert!(MigrateFinish3ParamsArgs::from_bytes(&bytes).is_err());
    }
}
