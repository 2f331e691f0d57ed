//! The memory balloon's statistics period (`dommemstat --period`, `<memballoon><stats period='N'/>`): QEMU's
//! `guest-stats-polling-interval` of the balloon device, set at start and changed live, and kept in the
//! definitions as libvirt's qemu driver keeps it.

use super::*;

/// QOM path of the balloon device (its id is `balloon0`, see command.rs).
const BALLOON_PATH: &str = "/machine/peripheral/balloon0";

/// Asks QEMU to poll the guest's balloon statistics every `period` seconds (0 stops it).
pub(super) async fn set_polling(qmp: &QmpClient, period: i32) -> Result<()> {
    qmp.execute(
        "qom-set",
        Some(json!({
            "path": BALLOON_PATH,
            "property": "guest-stats-polling-interval",
            "value": period,
        })),
    )
    .await
    .map(|_| ())
    .map_err(|_| {
        Error::operation_invalid(
            ErrorDomain::QEMU,
            "unable to set balloon driver collection period",
        )
    })
}

/// At start: the period a definition asks for, when it asks for one.
pub(super) async fn init_polling(qmp: &QmpClient, def: &DomainDef) -> Result<()> {
    let period = def.memballoon_period();
    if period > 0 && def.has_memballoon() {
        set_polling(qmp, period).await?;
    }
    Ok(())
}

impl QemuDriver {
    /// `virDomainSetMemoryStatsPeriod`, as libvirt's qemu driver: live through the monitor, then the saved
    /// definition, each refused when that definition has no balloon.
    pub(super) async fn set_memory_stats_period(
        &self,
        dom: &DomainRef,
        period: i32,
        period_flags: u32,
    ) -> Result<()> {
        check_flags(
            period_flags,
            flags::AFFECT_LIVE | flags::AFFECT_CONFIG,
            "virDomainSetMemoryStatsPeriod",
        )?;
        if period < 0 {
            return Err(Error::invalid_arg(
                ErrorDomain::QEMU,
                "invalid negative value for stats period",
            ));
        }
        let _guard = self.shared.lifecycle.lock().await;
        let impact = self.change_impact(dom, period_flags)?;
        if let Some(generation) = impact.live {
            if !self.live_def(&impact.handle)?.has_memballoon() {
                return Err(Error::operation_invalid(
                    ErrorDomain::QEMU,
                    "Active domain has no memory balloon device",
                ));
            }
            set_polling(&*self.monitor(dom)?, period).await?;
            self.shared
                .edit_live(impact.handle.uuid, generation, |live| {
                    live.set_memballoon_period(period);
                });
        }
        if impact.config {
            let mut def = self.persistent_def(&impact.handle)?;
            if !def.set_memballoon_period(period) {
                return Err(Error::operation_invalid(
                    ErrorDomain::QEMU,
                    "Inactive domain has no memory balloon device",
                ));
            }
            self.shared.files.save_definition(&def)?;
            if let Some(obj) = self.domains().get_mut(&impact.handle.uuid) {
                obj.persistent = Some(def);
            }
        }
        Ok(())
    }
}
