//! Saving a test-world domain to a file and restoring it (`virDomainSave`, `virDomainRestore` and the save-image
//! XML calls), as libvirt's test driver does: the file holds a magic string, the XML's length and the XML, so
//! images written by either driver restore in the other.

use super::*;
use std::io::{Read, Write};
use std::path::Path;

/// The image's magic string, with its terminating NUL (libvirt writes `sizeof` the C string).
const MAGIC: &[u8; 15] = b"TestGuestMagic\0";
/// The longest XML libvirt's test driver reads back from an image.
const MAX_XML: usize = 8192;
/// `VIR_DOMAIN_SAVE_IMAGE_XML_SECURE`.
const IMAGE_XML_SECURE: u32 = 1;
/// `VIR_DOMAIN_SAVE_RUNNING | VIR_DOMAIN_SAVE_PAUSED`.
const SAVE_RUNNING_PAUSED: u32 = 0b110;

fn xml_modification_unsupported() -> Error {
    Error::with_detail(
        ErrorCode::ARGUMENT_UNSUPPORTED,
        ErrorDomain::TEST,
        "xml modification unsupported",
    )
}

fn system_error(message: String, err: &std::io::Error) -> Error {
    Error::with_detail(
        ErrorCode::SYSTEM_ERROR,
        ErrorDomain::TEST,
        format!("{message}: {}", crate::error::io_error_text(err)),
    )
}

/// Writes `xml` as an image at `path` (created 0600, truncated); a failed write removes the file.
fn write_image(name: &str, path: &str, xml: &str) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let len = i32::try_from(xml.len())
        .map_err(|_| Error::internal(ErrorDomain::TEST, "domain XML too large for a save image"))?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| {
            system_error(
                format!("saving domain '{name}' to '{path}': open failed"),
                &e,
            )
        })?;
    let written = file
        .write_all(MAGIC)
        .and_then(|()| file.write_all(&len.to_ne_bytes()))
        .and_then(|()| file.write_all(xml.as_bytes()))
        .and_then(|()| file.sync_all());
    if let Err(err) = written {
        drop(file);
        let _ = std::fs::remove_file(path);
        return Err(system_error(
            format!("saving domain '{name}' to '{path}': write failed"),
            &err,
        ));
    }
    Ok(())
}

/// Reads the definition an image at `path` holds, with libvirt's test driver's checks and messages.
fn read_image(path: &str) -> Result<DomainDef> {
    let mut file = std::fs::File::open(Path::new(path))
        .map_err(|e| system_error(format!("cannot read domain image '{path}'"), &e))?;
    let mut magic = [0u8; 15];
    file.read_exact(&mut magic)
        .map_err(|e| system_error(format!("incomplete save header in '{path}'"), &e))?;
    if &magic != MAGIC {
        return Err(Error::internal(
            ErrorDomain::TEST,
            "mismatched header magic",
        ));
    }
    let mut len = [0u8; 4];
    file.read_exact(&mut len)
        .map_err(|e| system_error(format!("failed to read metadata length in '{path}'"), &e))?;
    let len = i32::from_ne_bytes(len);
    let len = usize::try_from(len)
        .ok()
        .filter(|len| (1..=MAX_XML).contains(len))
        .ok_or_else(|| Error::internal(ErrorDomain::TEST, "length of metadata out of range"))?;
    let mut xml = vec![0u8; len];
    file.read_exact(&mut xml)
        .map_err(|e| system_error(format!("incomplete metadata in '{path}'"), &e))?;
    // libvirt reads the XML as a C string: it ends at the first NUL.
    let end = xml.iter().position(|b| *b == 0).unwrap_or(xml.len());
    let xml = String::from_utf8_lossy(&xml[..end]);
    DomainDef::from_xml(&xml, false)
}

fn image_xml(def: &DomainDef) -> String {
    def.to_xml(&DomainXmlOptions {
        id: None,
        secure: true,
    })
}

impl World {
    pub(in crate::driver::test) fn save_domain_image(
        &mut self,
        store: &dyn Persist,
        dom: &DomainRef,
        path: &str,
        dxml: Option<&str>,
        save_flags: u32,
    ) -> Result<()> {
        check_flags(save_flags, 0, "testDomainSaveFlags")?;
        if dxml.is_some() {
            return Err(xml_modification_unsupported());
        }
        let obj = self.domain(dom)?;
        if !obj.is_active() {
            return Err(not_running());
        }
        write_image(obj.name(), path, &image_xml(obj.def()))?;
        let mut changed = obj.clone();
        let handle = changed.handle();
        changed.stop(reason::SHUTOFF_SAVED);
        if let Err(err) = self.commit_stopped(store, handle.uuid, changed) {
            let _ = std::fs::remove_file(path);
            return Err(err);
        }
        self.emit(handle, event::STOPPED, event::STOPPED_SAVED);
        Ok(())
    }

    pub(in crate::driver::test) fn restore_domain_image(
        &mut self,
        store: &dyn Persist,
        path: &str,
        dxml: Option<&str>,
        restore_flags: u32,
    ) -> Result<DomainRef> {
        check_flags(restore_flags, 0, "testDomainRestoreFlags")?;
        if dxml.is_some() {
            return Err(xml_modification_unsupported());
        }
        let def = read_image(path)?;
        validate_name("domain", &def.name)?;
        let mut changed = match self.domain_clash(&def)? {
            Some(existing) if existing.is_active() => {
                return Err(Error::operation_invalid(
                    ErrorDomain::DOMAIN,
                    format!("domain '{}' is already active", def.name),
                ));
            }
            Some(existing) => {
                let mut changed = existing.clone();
                changed.live_def = Some(def);
                changed
            }
            None => DomainObj {
                persistent_def: None,
                live_def: Some(def),
                ..DomainObj::defined(DomainDef::default())
            },
        };
        self.begin_run(store, &mut changed, false)?;
        changed.reason = reason::RUNNING_RESTORED;
        store.save_domain(&changed)?;
        let handle = changed.handle();
        self.domains.insert(changed.uuid(), changed);
        self.emit(handle.clone(), event::STARTED, event::STARTED_RESTORED);
        Ok(handle)
    }
}

/// `virDomainSaveImageGetXMLDesc`: the definition an image holds (always formatted secure, as libvirt's test
/// driver does).
pub(in crate::driver::test) fn save_image_xml(path: &str, xml_flags: u32) -> Result<String> {
    check_flags(xml_flags, IMAGE_XML_SECURE, "testDomainSaveImageGetXMLDesc")?;
    Ok(image_xml(&read_image(path)?))
}

/// `virDomainSaveImageDefineXML`: replaces the definition an image holds.
pub(in crate::driver::test) fn save_image_define(
    path: &str,
    dxml: &str,
    define_flags: u32,
) -> Result<()> {
    check_flags(
        define_flags,
        SAVE_RUNNING_PAUSED,
        "testDomainSaveImageDefineXML",
    )?;
    read_image(path)?;
    let def = DomainDef::from_xml(dxml, false)?;
    write_image(&def.name, path, &image_xml(&def))
}
