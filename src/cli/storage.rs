//! Storage pool and volume commands.

use super::domain::parse_uuid;
use super::format::{
    field, parse_scaled, pool_state_name, pretty_size, vol_type_name, xml_escape, yes_no,
};
use super::spec::Parsed;
use super::{read_file, CmdResult, Failure, Session};
use crate::driver::{flags, pool_state, PoolRef, VolumeRef};

/// Resolves a pool argument as virsh does: a UUID first, then a name; the driver's message follows.
async fn pool_by(s: &Session, text: &str) -> Result<PoolRef, Failure> {
    if let Some(uuid) = parse_uuid(text) {
        if let Ok(pool) = s.driver.pool_lookup_by_uuid(&uuid).await {
            return Ok(pool);
        }
    }
    s.driver
        .pool_lookup_by_name(text)
        .await
        .map_err(|e| Failure::context(format!("failed to get pool '{text}'"), &e))
}

async fn pool_arg(s: &Session, p: &Parsed) -> Result<PoolRef, Failure> {
    pool_by(s, p.required("pool")).await
}

/// Resolves a volume argument as virsh does: by name inside `--pool` when given, then as a key, then as a path.
async fn vol_arg(s: &Session, p: &Parsed) -> Result<VolumeRef, Failure> {
    let text = p.required("vol");
    let pool = match p.value("pool") {
        Some(pool) => Some(pool_by(s, pool).await?),
        None => None,
    };
    if let Some(pool) = &pool {
        if let Ok(vol) = s.driver.vol_lookup_by_name(pool, text).await {
            return Ok(vol);
        }
    }
    if let Ok(vol) = s.driver.vol_lookup_by_key(text).await {
        return Ok(vol);
    }
    match s.driver.vol_lookup_by_path(text).await {
        Ok(vol) => Ok(vol),
        Err(e) => {
            let context = if pool.is_none() && !text.contains('/') {
                format!("failed to get vol '{text}', specifying --pool might help")
            } else {
                format!("failed to get vol '{text}'")
            };
            Err(Failure::context(context, &e))
        }
    }
}

fn is_running(state: i32) -> bool {
    state == pool_state::RUNNING || state == pool_state::DEGRADED
}

pub(super) async fn pool_list(s: &mut Session, p: &Parsed) -> CmdResult {
    let mut filter = if p.flag("all") {
        flags::LIST_POOLS_ACTIVE | flags::LIST_POOLS_INACTIVE
    } else if p.flag("inactive") {
        flags::LIST_POOLS_INACTIVE
    } else {
        flags::LIST_POOLS_ACTIVE
    };
    for (name, bit) in [
        ("persistent", flags::LIST_POOLS_PERSISTENT),
        ("transient", flags::LIST_POOLS_TRANSIENT),
        ("autostart", flags::LIST_POOLS_AUTOSTART),
        ("no-autostart", flags::LIST_POOLS_NO_AUTOSTART),
    ] {
        if p.flag(name) {
            filter |= bit;
        }
    }
    let mut pools = s
        .driver
        .list_all_storage_pools(filter)
        .await
        .map_err(|e| Failure::context("Failed to list pools", &e))?;
    pools.sort_by_key(|pool| pool.name.to_lowercase());
    if p.flag("name") || p.flag("uuid") {
        for pool in &pools {
            // virsh pads pool names to 20 columns in this mode.
            let text = match (p.flag("uuid"), p.flag("name")) {
                (true, true) => format!("{} {:<20}", pool.uuid, pool.name),
                (true, false) => pool.uuid.to_string(),
                _ => format!("{:<20}", pool.name),
            };
            s.line(text);
        }
        return Ok(());
    }
    let details = p.flag("details");
    let mut rows = Vec::with_capacity(pools.len());
    for pool in &pools {
        let autostart = match s.driver.pool_get_autostart(pool).await {
            Ok(value) => yes_no(value),
            Err(_) => "no autostart",
        };
        let info = s.driver.pool_get_info(pool).await.ok();
        if !details {
            let active = s.driver.pool_is_active(pool).await.unwrap_or(false);
            rows.push(vec![
                pool.name.clone(),
                if active { "active" } else { "inactive" }.to_string(),
                autostart.to_string(),
            ]);
            continue;
        }
        let persistent = s
            .driver
            .pool_is_persistent(pool)
            .await
            .map(yes_no)
            .unwrap_or("unknown");
        let mut row = vec![pool.name.clone()];
        match info {
            Some(info) => {
                row.push(pool_state_name(info.state).to_string());
                row.push(autostart.to_string());
                row.push(persistent.to_string());
                for size in [info.capacity, info.allocation, info.available] {
                    row.push(if is_running(info.state) {
                        pretty_size(size)
                    } else {
                        "-".to_string()
                    });
                }
            }
            None => {
                row.push("unknown".to_string());
                row.push(autostart.to_string());
                row.push(persistent.to_string());
                row.extend(["-".to_string(), "-".to_string(), "-".to_string()]);
            }
        }
        rows.push(row);
    }
    let header: &[&str] = if details {
        &[
            "Name",
            "State",
            "Autostart",
            "Persistent",
            "Capacity",
            "Allocation",
            "Available",
        ]
    } else {
        &["Name", "State", "Autostart"]
    };
    s.table(header, &rows);
    Ok(())
}

pub(super) async fn pool_info(s: &mut Session, p: &Parsed) -> CmdResult {
    let pool = pool_arg(s, p).await?;
    let d = s.driver.clone();
    let mut text = String::new();
    text += &field("Name:", 15, &pool.name);
    text += &field("UUID:", 15, pool.uuid);
    let info = d.pool_get_info(&pool).await.map_err(Failure::from)?;
    text += &field("State:", 15, pool_state_name(info.state));
    let persistent = d
        .pool_is_persistent(&pool)
        .await
        .map(yes_no)
        .unwrap_or("unknown");
    text += &field("Persistent:", 15, persistent);
    let autostart = match d.pool_get_autostart(&pool).await {
        Ok(value) => yes_no(value),
        Err(_) => "no autostart",
    };
    text += &field("Autostart:", 15, autostart);
    if is_running(info.state) {
        for (key, size) in [
            ("Capacity:", info.capacity),
            ("Allocation:", info.allocation),
            ("Available:", info.available),
        ] {
            let value = if p.flag("bytes") {
                size.to_string()
            } else {
                pretty_size(size)
            };
            text += &field(key, 15, value);
        }
    }
    s.print(&text);
    Ok(())
}

pub(super) async fn pool_dumpxml(s: &mut Session, p: &Parsed) -> CmdResult {
    let pool = pool_arg(s, p).await?;
    let bits = if p.flag("inactive") {
        flags::STORAGE_XML_INACTIVE
    } else {
        0
    };
    let xml = s
        .driver
        .pool_get_xml_desc(&pool, bits)
        .await
        .map_err(Failure::from)?;
    s.xml(&xml);
    Ok(())
}

pub(super) async fn pool_define(s: &mut Session, p: &Parsed) -> CmdResult {
    let file = p.required("file");
    let xml = read_file(file)?;
    // virStoragePoolDefineFlags' VALIDATE bit.
    let bits = u32::from(p.flag("validate"));
    let pool = s
        .driver
        .pool_define_xml(&xml, bits)
        .await
        .map_err(|e| Failure::context(format!("Failed to define pool from {file}"), &e))?;
    s.notice(format!("Pool {} defined from {file}", pool.name));
    Ok(())
}

/// `--overwrite` / `--no-overwrite`, which virsh refuses together.
fn overwrite_choice(p: &Parsed) -> Result<(bool, bool), Failure> {
    let (overwrite, no_overwrite) = (p.flag("overwrite"), p.flag("no-overwrite"));
    if overwrite && no_overwrite {
        return Err(Failure::msg(
            "Options --overwrite and --no-overwrite are mutually exclusive",
        ));
    }
    Ok((overwrite, no_overwrite))
}

pub(super) async fn pool_start(s: &mut Session, p: &Parsed) -> CmdResult {
    let (overwrite, no_overwrite) = overwrite_choice(p)?;
    let pool = pool_arg(s, p).await?;
    // virStoragePoolCreateFlags: WITH_BUILD 1, WITH_BUILD_OVERWRITE 2, WITH_BUILD_NO_OVERWRITE 4.
    let mut bits = 0;
    if p.flag("build") {
        bits |= 1;
    }
    if overwrite {
        bits |= 2;
    }
    if no_overwrite {
        bits |= 4;
    }
    s.driver
        .pool_create(&pool, bits)
        .await
        .map_err(|e| Failure::context(format!("Failed to start pool {}", pool.name), &e))?;
    s.notice(format!("Pool {} started", pool.name));
    Ok(())
}

pub(super) async fn pool_build(s: &mut Session, p: &Parsed) -> CmdResult {
    let (overwrite, no_overwrite) = overwrite_choice(p)?;
    let pool = pool_arg(s, p).await?;
    let mut bits = flags::POOL_BUILD_NEW;
    if overwrite {
        bits |= flags::POOL_BUILD_OVERWRITE;
    }
    if no_overwrite {
        bits |= flags::POOL_BUILD_NO_OVERWRITE;
    }
    s.driver
        .pool_build(&pool, bits)
        .await
        .map_err(|e| Failure::context(format!("Failed to build pool {}", pool.name), &e))?;
    s.notice(format!("Pool {} built", pool.name));
    Ok(())
}

pub(super) async fn pool_destroy(s: &mut Session, p: &Parsed) -> CmdResult {
    let pool = pool_arg(s, p).await?;
    s.driver
        .pool_destroy(&pool)
        .await
        .map_err(|e| Failure::context(format!("Failed to destroy pool {}", pool.name), &e))?;
    s.notice(format!("Pool {} destroyed", pool.name));
    Ok(())
}

pub(super) async fn pool_undefine(s: &mut Session, p: &Parsed) -> CmdResult {
    let pool = pool_arg(s, p).await?;
    s.driver
        .pool_undefine(&pool)
        .await
        .map_err(|e| Failure::context(format!("Failed to undefine pool {}", pool.name), &e))?;
    s.notice(format!("Pool {} has been undefined", pool.name));
    Ok(())
}

pub(super) async fn pool_refresh(s: &mut Session, p: &Parsed) -> CmdResult {
    let pool = pool_arg(s, p).await?;
    s.driver
        .pool_refresh(&pool, 0)
        .await
        .map_err(|e| Failure::context(format!("Failed to refresh pool {}", pool.name), &e))?;
    s.notice(format!("Pool {} refreshed", pool.name));
    Ok(())
}

pub(super) async fn pool_autostart(s: &mut Session, p: &Parsed) -> CmdResult {
    let pool = pool_arg(s, p).await?;
    let enable = !p.flag("disable");
    let verb = if enable { "mark" } else { "unmark" };
    s.driver
        .pool_set_autostart(&pool, enable)
        .await
        .map_err(|e| {
            Failure::context(
                format!("failed to {verb} pool {} as autostarted", pool.name),
                &e,
            )
        })?;
    s.notice(format!("Pool {} {verb}ed as autostarted", pool.name));
    Ok(())
}

pub(super) async fn vol_list(s: &mut Session, p: &Parsed) -> CmdResult {
    let pool = pool_arg(s, p).await?;
    let mut vols = s
        .driver
        .pool_list_all_volumes(&pool, 0)
        .await
        .map_err(|e| Failure::context("Failed to list storage volumes", &e))?;
    vols.sort_by_key(|v| v.name.to_lowercase());
    let details = p.flag("details");
    let mut rows = Vec::with_capacity(vols.len());
    for vol in &vols {
        let path = s.driver.vol_get_path(vol).await.unwrap_or_default();
        let mut row = vec![vol.name.clone(), path];
        if details {
            match s.driver.vol_get_info(vol).await {
                Ok(info) => row.extend([
                    vol_type_name(info.kind).to_string(),
                    pretty_size(info.capacity),
                    pretty_size(info.allocation),
                ]),
                Err(_) => row.extend(["unknown".to_string(), "-".to_string(), "-".to_string()]),
            }
        }
        rows.push(row);
    }
    let header: &[&str] = if details {
        &["Name", "Path", "Type", "Capacity", "Allocation"]
    } else {
        &["Name", "Path"]
    };
    s.table(header, &rows);
    Ok(())
}

/// The volume XML `vol-create-as` sends, laid out as virsh builds it.
fn volume_xml(name: &str, capacity: u64, allocation: Option<u64>, format: Option<&str>) -> String {
    let mut xml = format!(
        "<volume>\n  <name>{}</name>\n  <capacity>{capacity}</capacity>\n",
        xml_escape(name)
    );
    if let Some(allocation) = allocation {
        xml.push_str(&format!("  <allocation>{allocation}</allocation>\n"));
    }
    if let Some(format) = format {
        xml.push_str(&format!(
            "  <target>\n    <format type='{}'/>\n  </target>\n",
            xml_escape(format)
        ));
    }
    xml.push_str("</volume>\n");
    xml
}

fn size_arg(text: &str) -> Result<u64, Failure> {
    parse_scaled(text, 1).ok_or_else(|| Failure::msg(format!("Malformed size {text}")))
}

pub(super) async fn vol_create_as(s: &mut Session, p: &Parsed) -> CmdResult {
    let pool = pool_arg(s, p).await?;
    let name = p.required("name");
    let capacity = size_arg(p.required("capacity"))?;
    let allocation = p.value("allocation").map(size_arg).transpose()?;
    let xml = volume_xml(name, capacity, allocation, p.value("format"));
    if p.flag("print-xml") {
        s.print(&xml);
        return Ok(());
    }
    let bits = if p.flag("prealloc-metadata") {
        flags::VOL_CREATE_PREALLOC_METADATA
    } else {
        0
    };
    s.driver
        .vol_create_xml(&pool, &xml, bits)
        .await
        .map_err(|e| Failure::context(format!("Failed to create vol {name}"), &e))?;
    s.notice(format!("Vol {name} created"));
    Ok(())
}

pub(super) async fn vol_delete(s: &mut Session, p: &Parsed) -> CmdResult {
    let vol = vol_arg(s, p).await?;
    // virsh names the volume as it was given (a name, key or path).
    let given = p.required("vol");
    s.driver
        .vol_delete(&vol, 0)
        .await
        .map_err(|e| Failure::context(format!("Failed to delete vol {given}"), &e))?;
    s.notice(format!("Vol {given} deleted"));
    Ok(())
}

pub(super) async fn vol_info(s: &mut Session, p: &Parsed) -> CmdResult {
    let vol = vol_arg(s, p).await?;
    let info = s.driver.vol_get_info(&vol).await.map_err(Failure::from)?;
    let mut text = String::new();
    text += &field("Name:", 15, &vol.name);
    text += &field("Type:", 15, vol_type_name(info.kind));
    for (key, size) in [
        ("Capacity:", info.capacity),
        ("Allocation:", info.allocation),
    ] {
        let value = if p.flag("bytes") {
            format!("{size} bytes")
        } else {
            pretty_size(size)
        };
        text += &field(key, 15, value);
    }
    s.print(&text);
    Ok(())
}

pub(super) async fn vol_path(s: &mut Session, p: &Parsed) -> CmdResult {
    let vol = vol_arg(s, p).await?;
    let path = s.driver.vol_get_path(&vol).await.map_err(Failure::from)?;
    s.line(path);
    Ok(())
}

pub(super) async fn vol_dumpxml(s: &mut Session, p: &Parsed) -> CmdResult {
    let vol = vol_arg(s, p).await?;
    let xml = s
        .driver
        .vol_get_xml_desc(&vol, 0)
        .await
        .map_err(Failure::from)?;
    s.xml(&xml);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volume_xml_matches_virsh_print_xml() {
        assert_eq!(
            volume_xml("v1", 1 << 30, Some(5 << 20), Some("qcow2")),
            "<volume>\n  <name>v1</name>\n  <capacity>1073741824</capacity>\n  <allocation>5242880</allocation>\n  \
             <target>\n    <format type='qcow2'/>\n  </target>\n</volume>\n"
        );
        assert_eq!(
            volume_xml("v1", 1 << 30, None, None),
            "<volume>\n  <name>v1</name>\n  <capacity>1073741824</capacity>\n</volume>\n"
        );
    }
}
