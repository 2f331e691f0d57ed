//! Graphics consoles (VNC, SPICE): their command-line options, the passwords QEMU gets through QMP
//! `set_password`/`expire_password` once it runs (never on its command line, never in a log), the port and listen
//! address a running guest shows (what `virsh domdisplay`/`vncdisplay` read), and live password changes
//! (`update-device` of a `<graphics>`, libvirt's `qemuDomainChangeGraphics`).

use super::*;
use crate::model::GraphicsDef;
use crate::xml::Node;

/// The first display TCP port (VNC display :0), where autoport starts looking, as libvirt's `remote_display_port_min`.
pub const DISPLAY_BASE_PORT: u16 = 5900;
/// What a running guest listens on when its definition names no address (libvirt's `vnc_listen`/`spice_listen`).
const DEFAULT_LISTEN: &str = "127.0.0.1";

fn unsupported(detail: impl AsRef<str>) -> Error {
    Error::with_detail(ErrorCode::CONFIG_UNSUPPORTED, ErrorDomain::QEMU, detail)
}

/// libvirt's parser takes an absent port, `port='-1'` or `autoport='yes'` to mean "pick a free port".
pub(super) fn autoport(g: &GraphicsDef) -> bool {
    g.autoport == Some(true) || g.port.is_none_or(|port| port == -1)
}

/// Whether starting `def` needs a free display port picked.
pub(super) fn needs_port(def: &DomainDef) -> bool {
    def.devices
        .graphics
        .iter()
        .any(|g| autoport(g) || g.port.unwrap_or(0) <= 0)
}

fn is_loopback(listen: &str) -> bool {
    listen == "localhost"
        || listen
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// `passwdValidTo` (`YYYY-MM-DDTHH:MM:SS`, UTC) as seconds since the epoch, what `expire_password` takes.
pub(super) fn valid_to_epoch(text: &str) -> Option<i64> {
    let (date, time) = text.split_once('T')?;
    let num = |s: &str| -> Option<i64> {
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    let mut d = date.splitn(3, '-');
    let (y, m, day) = (num(d.next()?)?, num(d.next()?)?, num(d.next()?)?);
    let mut t = time.splitn(3, ':');
    let (hh, mm, ss) = (num(t.next()?)?, num(t.next()?)?, num(t.next()?)?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&day) || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + hh * 3600 + mm * 60 + ss)
}

/// The `expire_password` time of a definition: its validity end, else never.
fn expiry(g: &GraphicsDef) -> Result<String> {
    match g.extra.attr("passwdValidTo") {
        None => Ok("never".into()),
        Some(text) => valid_to_epoch(text).map(|t| t.to_string()).ok_or_else(|| {
            Error::with_detail(
                ErrorCode::INVALID_ARG,
                ErrorDomain::DOMAIN,
                format!("cannot parse password validity time '{text}', expect YYYY-MM-DDTHH:MM:SS"),
            )
        }),
    }
}

/// The port a graphics device listens on: its own, or the one picked for autoport.
fn port_of(g: &GraphicsDef, picked: Option<u16>) -> Result<u16> {
    match g.port {
        Some(port) if port > 0 && !autoport(g) => u16::try_from(port)
            .map_err(|_| unsupported(format!("graphics port {port} is out of range"))),
        _ => picked
            .ok_or_else(|| Error::internal(ErrorDomain::QEMU, "no free display port was found")),
    }
}

/// The command-line options of the graphics devices (`-vnc`, `-spice`, or `-display none`); passwords are only
/// switched on here, their values go through QMP after start. Returns whether a display exists.
pub(super) fn args(
    def: &DomainDef,
    picked: Option<u16>,
    spice: bool,
    argv: &mut Vec<String>,
) -> Result<bool> {
    let mut seen = Vec::new();
    let auto = def
        .devices
        .graphics
        .iter()
        .filter(|g| autoport(g) || g.port.unwrap_or(0) <= 0)
        .count();
    if auto > 1 {
        // One free port is picked per start.
        return Err(unsupported(
            "only one graphics device may use autoport; give the others a port",
        ));
    }
    for g in &def.devices.graphics {
        if seen.contains(&g.graphics_type.as_str()) {
            return Err(unsupported(format!(
                "only 1 graphics device of type '{}' is supported",
                g.graphics_type
            )));
        }
        seen.push(g.graphics_type.as_str());
        let listen = g.listen.as_deref().unwrap_or(DEFAULT_LISTEN);
        if !is_loopback(listen) {
            return Err(unsupported(format!(
                "{} listen address '{listen}' is not a loopback address; this driver serves displays on \
                 loopback only (use an ssh tunnel)",
                g.graphics_type.to_uppercase()
            )));
        }
        expiry(g)?;
        let port = port_of(g, picked)?;
        let host = if listen.contains(':') {
            format!("[{listen}]")
        } else {
            listen.to_string()
        };
        match g.graphics_type.as_str() {
            "vnc" => {
                let display = port.checked_sub(DISPLAY_BASE_PORT).ok_or_else(|| {
                    unsupported(format!("VNC port {port} is below {DISPLAY_BASE_PORT}"))
                })?;
                let password = if g.passwd.is_some() {
                    ",password=on"
                } else {
                    ""
                };
                argv.extend(["-vnc".into(), format!("{host}:{display}{password}")]);
            }
            "spice" => {
                if !spice {
                    return Err(unsupported(
                        "spice graphics are not supported with this QEMU",
                    ));
                }
                // Without a password anyone may connect (libvirt's disable-ticketing); with one, QEMU refuses
                // every client until `set_password` has run.
                let ticketing = if g.passwd.is_some() {
                    ""
                } else {
                    ",disable-ticketing=on"
                };
                argv.extend([
                    "-spice".into(),
                    format!(
                        "port={port},addr={}{ticketing},seamless-migration=on",
                        listen.trim_start_matches('[').trim_end_matches(']')
                    ),
                ]);
            }
            other => {
                return Err(unsupported(format!(
                    "graphics type '{other}' is not supported"
                )))
            }
        }
    }
    if def.devices.graphics.is_empty() {
        argv.extend(["-display".into(), "none".into()]);
    }
    Ok(!def.devices.graphics.is_empty())
}

/// What a running guest's definition shows: the port autoport picked and the address it listens on, as an
/// attribute and as a `<listen type='address'>` child (libvirt's live XML, read by `virsh domdisplay`).
pub(super) fn fill_live(def: &mut DomainDef, picked: Option<u16>) {
    for g in &mut def.devices.graphics {
        if autoport(g) || g.port.unwrap_or(0) <= 0 {
            if let Some(port) = picked {
                g.port = Some(i32::from(port));
                g.autoport = Some(true);
            }
        }
        let listen = g
            .listen
            .get_or_insert_with(|| DEFAULT_LISTEN.into())
            .clone();
        let children = &mut g.extra.children;
        match children.iter_mut().find(|c| c.name == "listen") {
            Some(node) if node.attr("type").is_none_or(|t| t == "address") => {
                if node.attr("address").is_none() {
                    node.attrs.retain(|(k, _)| k != "type");
                    node.attrs.insert(0, ("type".into(), "address".into()));
                    node.attrs.push(("address".into(), listen));
                }
            }
            Some(_) => {}
            None => children.push(Node {
                name: "listen".into(),
                attrs: vec![
                    ("type".into(), "address".into()),
                    ("address".into(), listen),
                ],
                ..Node::default()
            }),
        }
    }
}

/// Sets one display's password (an absent one is empty: nobody can log in until one is set, as libvirt does
/// for a VNC server started with passwords on) and its expiry.
async fn set_password(qmp: &QmpClient, g: &GraphicsDef) -> Result<()> {
    let mut args = json!({
        "protocol": g.graphics_type,
        "password": g.passwd.as_deref().unwrap_or_default(),
    });
    if let Some(connected) = g.extra.attr("connected") {
        args["connected"] = json!(connected);
    }
    qmp.execute("set_password", Some(args))
        .await
        .map_err(qmp_error)?;
    let time = expiry(g)?;
    qmp.execute(
        "expire_password",
        Some(json!({ "protocol": g.graphics_type, "time": time })),
    )
    .await
    .map_err(qmp_error)?;
    Ok(())
}

/// Gives a QEMU that just started the passwords of its displays (`qemuProcessInitPasswords`).
pub(super) async fn init_passwords(qmp: &QmpClient, def: &DomainDef) -> Result<()> {
    for g in def.devices.graphics.iter().filter(|g| g.passwd.is_some()) {
        set_password(qmp, g).await?;
    }
    Ok(())
}

/// Refuses the changes QEMU cannot make to a running display, with libvirt's errors.
fn check_live_change(old: &GraphicsDef, new: &GraphicsDef) -> Result<()> {
    let kind = &new.graphics_type;
    let refuse = |what: &str| {
        Err(Error::with_detail(
            ErrorCode::OPERATION_UNSUPPORTED,
            ErrorDomain::QEMU,
            format!("cannot change {what} settings on {kind} graphics"),
        ))
    };
    if autoport(old) != autoport(new) || (!autoport(new) && old.port != new.port) {
        return refuse("port");
    }
    if new.listen.is_some() && old.listen != new.listen {
        return refuse("listen address");
    }
    if old.extra.attr("keymap") != new.extra.attr("keymap") {
        return refuse("keymap");
    }
    Ok(())
}

/// The password-related attributes copied from an updated definition.
fn take_auth(into: &mut GraphicsDef, from: &GraphicsDef) {
    into.passwd.clone_from(&from.passwd);
    for key in ["passwdValidTo", "connected"] {
        into.extra.attrs.retain(|(k, _)| k != key);
        if let Some(value) = from.extra.attr(key) {
            into.extra.attrs.push((key.into(), value.into()));
        }
    }
}

impl QemuDriver {
    /// `virDomainUpdateDeviceFlags` with a `<graphics>`: a running display gets its new password (and expiry)
    /// through `set_password`; with the config flag the persistent definition keeps it too.
    pub(super) async fn update_graphics(
        &self,
        dom: &DomainRef,
        new: GraphicsDef,
        update_flags: u32,
    ) -> Result<()> {
        check_flags(
            update_flags,
            flags::AFFECT_LIVE | flags::AFFECT_CONFIG | 1 << 2,
            "virDomainUpdateDeviceFlags",
        )?;
        expiry(&new)?;
        let _guard = self.shared.lifecycle.lock().await;
        let (handle, persistent, running) = self.find(dom)?;
        let mut live = update_flags & flags::AFFECT_LIVE != 0;
        let mut config = update_flags & flags::AFFECT_CONFIG != 0;
        if !live && !config {
            live = running.is_some();
            config = !live;
        }
        if live && running.is_none() {
            return Err(Error::operation_invalid(
                ErrorDomain::QEMU,
                "domain is not running",
            ));
        }
        if config && !persistent {
            return Err(Error::operation_invalid(
                ErrorDomain::QEMU,
                "transient domains do not have any persistent config",
            ));
        }
        let missing = || {
            Error::with_detail(
                ErrorCode::DEVICE_MISSING,
                ErrorDomain::QEMU,
                format!(
                    "cannot find existing graphics type '{}' device to modify",
                    new.graphics_type
                ),
            )
        };
        let find = |def: &DomainDef| {
            def.devices
                .graphics
                .iter()
                .position(|g| g.graphics_type == new.graphics_type)
        };
        let config_def = if config {
            let mut def = self
                .domains()
                .get(&handle.uuid)
                .and_then(|o| o.persistent.clone())
                .ok_or_else(no_domain)?;
            let at = find(&def).ok_or_else(missing)?;
            take_auth(&mut def.devices.graphics[at], &new);
            Some(def)
        } else {
            None
        };
        if let (true, Some(generation)) = (live, running) {
            let old = {
                let domains = self.domains();
                let obj = domains.get(&handle.uuid).ok_or_else(no_domain)?;
                obj.live
                    .as_ref()
                    .and_then(|d| find(d).map(|at| d.devices.graphics[at].clone()))
                    .ok_or_else(missing)?
            };
            // Taken after the domain table is released: the monitor lookup locks it too.
            let qmp = self.monitor(&handle)?;
            check_live_change(&old, &new)?;
            let mut changed = old.clone();
            take_auth(&mut changed, &new);
            set_password(&qmp, &changed).await?;
            let mut domains = self.domains();
            if let Some(obj) = domains
                .get_mut(&handle.uuid)
                .filter(|o| o.run.as_ref().map(|r| r.generation) == Some(generation))
            {
                if let Some(at) = obj.live.as_ref().and_then(find) {
                    if let Some(live) = obj.live.as_mut() {
                        live.devices.graphics[at] = changed;
                    }
                }
                self.shared.save_status_locked(obj);
            }
        }
        if let Some(def) = config_def {
            self.shared.files.save_definition(&def)?;
            if let Some(obj) = self.domains().get_mut(&handle.uuid) {
                obj.persistent = Some(def);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validity_times_become_epoch_seconds() {
        assert_eq!(valid_to_epoch("1970-01-01T00:00:00"), Some(0));
        assert_eq!(valid_to_epoch("2010-04-09T15:51:00"), Some(1_270_828_260));
        assert_eq!(valid_to_epoch("2000-02-29T12:00:00"), Some(951_825_600));
        assert_eq!(valid_to_epoch("2010-13-09T15:51:00"), None);
        assert_eq!(valid_to_epoch("yesterday"), None);
    }

    #[test]
    fn loopback_listen_addresses() {
        assert!(is_loopback("127.0.0.1"));
        assert!(is_loopback("::1"));
        assert!(is_loopback("localhost"));
        assert!(!is_loopback("0.0.0.0"));
        assert!(!is_loopback("10.0.0.1"));
    }

    fn vnc(extra: &str) -> DomainDef {
        DomainDef::from_xml(
            &format!(
                "<domain type='qemu'><name>g</name><memory>1024</memory><os><type>hvm</type></os>\
                 <devices><graphics type='vnc' {extra}/></devices></domain>"
            ),
            true,
        )
        .unwrap()
    }

    #[test]
    fn passwords_never_reach_the_command_line() {
        let mut argv = Vec::new();
        args(&vnc("passwd='s3cret!'"), Some(5902), false, &mut argv).unwrap();
        assert_eq!(argv, ["-vnc", "127.0.0.1:2,password=on"]);
        let mut argv = Vec::new();
        let def = DomainDef::from_xml(
            "<domain type='qemu'><name>g</name><memory>1024</memory><os><type>hvm</type></os>\
             <devices><graphics type='spice' autoport='yes' passwd='p'/></devices></domain>",
            true,
        )
        .unwrap();
        args(&def, Some(5903), true, &mut argv).unwrap();
        assert_eq!(
            argv,
            ["-spice", "port=5903,addr=127.0.0.1,seamless-migration=on"]
        );
        assert!(!argv.concat().contains("p'"));
        let err = args(&def, Some(5903), false, &mut Vec::new()).unwrap_err();
        assert_eq!(err.code, ErrorCode::CONFIG_UNSUPPORTED);
    }

    #[test]
    fn live_definitions_show_port_and_listen() {
        let mut def = vnc("");
        fill_live(&mut def, Some(5901));
        let xml = def.to_xml(&DomainXmlOptions::default());
        assert!(
            xml.contains(
                "<graphics type='vnc' port='5901' autoport='yes' listen='127.0.0.1'>\n      \
                 <listen type='address' address='127.0.0.1'/>"
            ),
            "{xml}"
        );
    }

    #[test]
    fn port_and_listen_cannot_change_live() {
        let mut old = vnc("passwd='a'").devices.graphics.remove(0);
        fill_live(
            &mut DomainDef {
                devices: crate::model::Devices {
                    graphics: vec![old.clone()],
                    ..Default::default()
                },
                ..Default::default()
            },
            Some(5900),
        );
        old.autoport = Some(true);
        let new = vnc("autoport='yes' passwd='b'").devices.graphics.remove(0);
        check_live_change(&old, &new).unwrap();
        let fixed = vnc("port='5999' autoport='no'").devices.graphics.remove(0);
        let err = check_live_change(&old, &fixed).unwrap_err();
        assert_eq!(err.code, ErrorCode::OPERATION_UNSUPPORTED);
        assert!(err
            .message
            .contains("cannot change port settings on vnc graphics"));
    }
}
