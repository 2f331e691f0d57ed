//! Copying a guest's non-shared disks during a live migration (`--copy-storage-all`, `--copy-storage-inc`), the
//! way libvirt's qemu driver does it over NBD.
//!
//! The destination creates the images it lacks (size and format from the source's cookie), starts its incoming
//! QEMU, and exports each disk writable from QEMU's NBD server (`nbd-server-start`, `block-export-add`); its
//! cookie answers the port. The source mirrors each disk into its export (`blockdev-add` of an NBD client node,
//! `blockdev-mirror`), waits until every mirror is ready, migrates the memory with `pause-before-switchover`,
//! and at the switch-over (guest paused, nothing more written) cancels the mirrors, which leaves each target a
//! consistent copy, then lets QEMU finish. Anything that fails cancels the mirrors and leaves the source as it was.

use super::qmp::QmpClient;
use super::qmp_error;
use crate::driver::migration::{Nbd, NbdDisk};
use crate::error::{Error, ErrorCode, ErrorDomain, Result};
use crate::model::{DiskDef, DomainDef};
use serde_json::json;
use std::path::PathBuf;
use std::time::Duration;

/// Between two `query-block-jobs` polls.
const POLL: Duration = Duration::from_millis(100);

fn failed(detail: impl AsRef<str>) -> Error {
    Error::with_detail(ErrorCode::OPERATION_FAILED, ErrorDomain::QEMU, detail)
}

/// The disks a storage migration copies (libvirt's `qemuMigrationAnyCopyDisk`): those named in
/// `migrate_disks`, or else every disk with a medium that is neither read-only nor shareable.
pub(super) fn disks_to_copy<'a>(def: &'a DomainDef, wanted: &[&str]) -> Result<Vec<&'a DiskDef>> {
    for target in wanted {
        if !def.devices.disks.iter().any(|d| d.target_dev == *target) {
            return Err(Error::invalid_arg(
                ErrorDomain::QEMU,
                format!("disk target {target} not found"),
            ));
        }
    }
    Ok(def
        .devices
        .disks
        .iter()
        .filter(|d| {
            if !wanted.is_empty() {
                return wanted.contains(&d.target_dev.as_str());
            }
            d.source.is_some() && !d.readonly && !d.shareable && d.device != "cdrom"
        })
        .collect())
}

/// The name a disk is exported under (libvirt's `drive-<alias>`; ours is keyed by target, known to both ends).
fn export_name(target: &str) -> String {
    format!("drive-{target}")
}

/// The node names of the running guest's disks, by target (`query-block`).
async fn nodes(qmp: &QmpClient, def: &DomainDef) -> Result<Vec<(String, String, u64)>> {
    let answer = qmp.execute("query-block", None).await.map_err(qmp_error)?;
    Ok(answer
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|entry| {
            let target = super::stats::entry_target(def, entry)?;
            let inserted = entry.get("inserted")?;
            let node = inserted.get("node-name")?.as_str()?.to_string();
            let size = inserted["image"]["virtual-size"].as_u64().unwrap_or(0);
            Some((target, node, size))
        })
        .collect())
}

async fn node_of(qmp: &QmpClient, def: &DomainDef, target: &str) -> Result<(String, u64)> {
    nodes(qmp, def)
        .await?
        .into_iter()
        .find(|(t, _, _)| t == target)
        .map(|(_, node, size)| (node, size))
        .ok_or_else(|| failed(format!("disk '{target}' has no block node to copy")))
}

/// What the source's Begin cookie says: the disks it will copy and their virtual sizes.
pub(super) async fn describe(qmp: &QmpClient, def: &DomainDef, wanted: &[&str]) -> Result<Nbd> {
    let mut disks = Vec::new();
    for disk in disks_to_copy(def, wanted)? {
        let (_, capacity) = node_of(qmp, def, &disk.target_dev).await?;
        disks.push(NbdDisk {
            target: disk.target_dev.clone(),
            capacity,
        });
    }
    Ok(Nbd { port: None, disks })
}

/// Destination, before its QEMU starts: creates each image to be copied that does not exist yet, as big as the
/// source's and in the definition's format. Answers what it created, to be removed if the migration fails.
pub(super) async fn precreate(def: &DomainDef, nbd: &Nbd) -> Result<Vec<PathBuf>> {
    let mut created = Vec::new();
    for wanted in &nbd.disks {
        let Some(disk) = def
            .devices
            .disks
            .iter()
            .find(|d| d.target_dev == wanted.target)
        else {
            remove_created(&created);
            return Err(Error::invalid_arg(
                ErrorDomain::QEMU,
                format!("unable to find disk by target: {}", wanted.target),
            ));
        };
        let Some(path) = disk.source.as_deref().map(PathBuf::from) else {
            continue;
        };
        if path.exists() || !matches!(disk.disk_type.as_str(), "file" | "") {
            continue;
        }
        let format = disk.driver_type.as_deref().unwrap_or("raw");
        let output = tokio::process::Command::new("qemu-img")
            .arg("create")
            .args(["-q", "-f", format])
            .arg(&path)
            .arg(wanted.capacity.to_string())
            .stdin(std::process::Stdio::null())
            .output()
            .await;
        match output {
            Ok(out) if out.status.success() => created.push(path),
            Ok(out) => {
                remove_created(&created);
                return Err(failed(format!(
                    "cannot create storage '{}': {}",
                    path.display(),
                    String::from_utf8_lossy(&out.stderr).trim()
                )));
            }
            Err(err) => {
                remove_created(&created);
                return Err(failed(format!("cannot run qemu-img: {err}")));
            }
        }
    }
    Ok(created)
}

/// Removes images a failed incoming migration created.
pub(super) fn remove_created(paths: &[PathBuf]) {
    for path in paths {
        if let Err(err) = std::fs::remove_file(path) {
            tracing::warn!(path = %path.display(), "cannot remove a precreated image: {err}");
        }
    }
}

/// Destination, once its incoming QEMU runs: the NBD server on `listen:port`, each disk exported writable.
pub(super) async fn start_server(
    qmp: &QmpClient,
    def: &DomainDef,
    nbd: &Nbd,
    (listen, port): (&str, u16),
) -> Result<()> {
    qmp.execute(
        "nbd-server-start",
        Some(json!({
            "addr": { "type": "inet", "data": { "host": listen, "port": port.to_string() } }
        })),
    )
    .await
    .map_err(qmp_error)?;
    for disk in &nbd.disks {
        let (node, _) = node_of(qmp, def, &disk.target).await?;
        qmp.execute(
            "block-export-add",
            Some(json!({
                "type": "nbd",
                "id": format!("libvirt-nbd-{node}"),
                "node-name": node,
                "name": export_name(&disk.target),
                "writable": true,
            })),
        )
        .await
        .map_err(qmp_error)?;
    }
    Ok(())
}

/// Destination, at Finish: the copies are in, the server goes.
pub(super) async fn stop_server(qmp: &QmpClient) {
    if let Err(err) = qmp.execute("nbd-server-stop", None).await {
        tracing::warn!("cannot stop the NBD server: {err}");
    }
}

/// One disk being mirrored to the destination.
#[derive(Clone, Debug)]
pub(super) struct Mirror {
    pub job: String,
    pub target_node: String,
}

/// Source: starts mirroring each disk of `nbd` into the destination's export on `host:port`; `incremental`
/// copies only the top image (`--copy-storage-inc`). `speed` is in bytes/s (0: unlimited).
pub(super) async fn start_mirrors(
    qmp: &QmpClient,
    def: &DomainDef,
    nbd: &Nbd,
    (host, port): (&str, u16),
    incremental: bool,
    speed: u64,
) -> Result<Vec<Mirror>> {
    let mut mirrors = Vec::new();
    for disk in &nbd.disks {
        let started = start_mirror(qmp, def, &disk.target, (host, port), incremental, speed).await;
        match started {
            Ok(mirror) => mirrors.push(mirror),
            Err(err) => {
                cancel_mirrors(qmp, &mirrors, true).await;
                return Err(err);
            }
        }
    }
    Ok(mirrors)
}

async fn start_mirror(
    qmp: &QmpClient,
    def: &DomainDef,
    target: &str,
    (host, port): (&str, u16),
    incremental: bool,
    speed: u64,
) -> Result<Mirror> {
    let (node, _) = node_of(qmp, def, target).await?;
    let target_node = format!("migration-{target}-storage");
    qmp.execute(
        "blockdev-add",
        Some(json!({
            "driver": "nbd",
            "node-name": target_node,
            "server": { "type": "inet", "host": host, "port": port.to_string() },
            "export": export_name(target),
        })),
    )
    .await
    .map_err(qmp_error)?;
    let job = format!("drive-{target}");
    let mut args = json!({
        "job-id": job,
        "device": node,
        "target": target_node,
        "sync": if incremental { "top" } else { "full" },
    });
    if speed > 0 {
        args["speed"] = json!(speed);
    }
    if let Err(err) = qmp.execute("blockdev-mirror", Some(args)).await {
        let _ = qmp
            .execute("blockdev-del", Some(json!({ "node-name": target_node })))
            .await;
        return Err(qmp_error(err));
    }
    Ok(Mirror { job, target_node })
}

/// Where the mirrors stand: all ready, and bytes (total, copied) over all of them.
pub(super) struct Progress {
    pub ready: bool,
    pub total: u64,
    pub processed: u64,
}

/// Polls the mirrors once; a mirror that is gone before being cancelled failed (its error is QEMU's).
pub(super) async fn progress(qmp: &QmpClient, mirrors: &[Mirror]) -> Result<Progress> {
    let jobs = qmp
        .execute("query-block-jobs", None)
        .await
        .map_err(qmp_error)?;
    let mut p = Progress {
        ready: true,
        total: 0,
        processed: 0,
    };
    for mirror in mirrors {
        let Some(job) = jobs
            .as_array()
            .into_iter()
            .flatten()
            .find(|j| j["device"].as_str() == Some(&mirror.job))
        else {
            return Err(failed(format!(
                "migration of disk {} failed",
                mirror.job.trim_start_matches("drive-")
            )));
        };
        if let Some(error) = job["error"].as_str() {
            return Err(failed(format!(
                "migration of disk {} failed: {error}",
                mirror.job.trim_start_matches("drive-")
            )));
        }
        p.ready &= job["ready"].as_bool().unwrap_or(false);
        p.total += job["len"].as_u64().unwrap_or(0);
        p.processed += job["offset"].as_u64().unwrap_or(0);
    }
    Ok(p)
}

/// Ends the mirrors and removes their NBD client nodes. Cancelling a ready mirror (`force` false) waits until its
/// target has every byte written so far: at the switch-over that is the guest's last state. `force` drops it at
/// once (a failed or aborted migration).
pub(super) async fn cancel_mirrors(qmp: &QmpClient, mirrors: &[Mirror], force: bool) -> bool {
    let mut clean = true;
    for mirror in mirrors {
        if let Err(err) = qmp
            .execute(
                "block-job-cancel",
                Some(json!({ "device": mirror.job, "force": force })),
            )
            .await
        {
            tracing::debug!(job = %mirror.job, "block-job-cancel: {err}");
        }
    }
    // The jobs end asynchronously; the nodes can go once they have.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let jobs = qmp.execute("query-block-jobs", None).await;
        let running = match &jobs {
            Ok(list) => mirrors.iter().any(|m| {
                list.as_array()
                    .into_iter()
                    .flatten()
                    .any(|j| j["device"].as_str() == Some(&m.job))
            }),
            Err(_) => false,
        };
        if !running {
            break;
        }
        if std::time::Instant::now() > deadline {
            clean = false;
            break;
        }
        tokio::time::sleep(POLL).await;
    }
    for mirror in mirrors {
        if let Err(err) = qmp
            .execute(
                "blockdev-del",
                Some(json!({ "node-name": mirror.target_node })),
            )
            .await
        {
            tracing::debug!(node = %mirror.target_node, "blockdev-del: {err}");
        }
    }
    clean
}

/// Sets or clears the switch-over pause a storage migration needs (QEMU keeps capabilities between migrations).
pub(super) async fn pause_before_switchover(qmp: &QmpClient, on: bool) -> Result<()> {
    qmp.execute(
        "migrate-set-capabilities",
        Some(json!({ "capabilities": [{ "capability": "pause-before-switchover", "state": on }] })),
    )
    .await
    .map_err(qmp_error)?;
    Ok(())
}

/// Lets a migration paused before switch-over finish.
pub(super) async fn continue_switchover(qmp: &QmpClient) -> Result<()> {
    qmp.execute(
        "migrate-continue",
        Some(json!({ "state": "pre-switchover" })),
    )
    .await
    .map_err(qmp_error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copied_disks_are_the_writable_ones_or_those_named() {
        let def = DomainDef::from_xml(
            "<domain type='qemu'><name>d</name><memory>65536</memory><os><type>hvm</type></os><devices>\
             <disk type='file' device='disk'><source file='/a'/><target dev='vda' bus='virtio'/></disk>\
             <disk type='file' device='disk'><source file='/b'/><target dev='vdb' bus='virtio'/><readonly/></disk>\
             <disk type='file' device='cdrom'><target dev='hdc' bus='ide'/></disk>\
             </devices></domain>",
            false,
        )
        .unwrap();
        let all: Vec<_> = disks_to_copy(&def, &[])
            .unwrap()
            .iter()
            .map(|d| d.target_dev.clone())
            .collect();
        assert_eq!(all, ["vda"]);
        assert_eq!(disks_to_copy(&def, &["vdb"]).unwrap().len(), 1);
        assert!(disks_to_copy(&def, &["vdz"]).is_err());
    }

    #[test]
    fn cookies_carry_the_nbd_disks() {
        use crate::driver::migration::Cookie;
        let cookie = Cookie {
            name: "g".into(),
            nbd: Some(Nbd {
                port: Some(49153),
                disks: vec![NbdDisk {
                    target: "vda".into(),
                    capacity: 1 << 30,
                }],
            }),
            ..Cookie::default()
        };
        let back = Cookie::parse(&cookie.to_bytes(), ErrorDomain::QEMU).unwrap();
        assert_eq!(back, Some(cookie));
    }
}
