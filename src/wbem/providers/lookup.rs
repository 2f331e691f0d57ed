//! GetInstance failures with libvirt-CIM's codes and descriptions, which consoles built for it show or match:
//! a missing key is CIM_ERR_FAILED ("Missing InstanceID", "No DeviceID specified"), a key naming nothing is
//! CIM_ERR_NOT_FOUND "No such instance (...)", a missing domain adds the driver's message after a colon (its
//! `virt_set_status`), and an object found by its main key whose other keys differ names the first differing key
//! (libcmpiutil's `cu_validate_ref`).

use crate::cim::{CimStatus, ObjectPath, Value};
use crate::driver::Connection;
use crate::wbem::error::OpError;

/// CIM_ERR_NOT_FOUND "No such instance (what)".
pub fn no_such(what: &str) -> OpError {
    OpError::cim(CimStatus::NotFound, format!("No such instance ({what})"))
}

/// CIM_ERR_FAILED with libvirt-CIM's description of a missing key.
pub fn missing_key(description: &str) -> OpError {
    OpError::cim(CimStatus::Failed, description)
}

/// CIM_ERR_NOT_FOUND "No such instance (what): <the driver's message>" for a domain that does not exist; the
/// message comes from looking the domain up again.
pub async fn no_such_domain(driver: &Connection, domain: &str, what: &str) -> OpError {
    let message = match driver.domain_lookup_by_name(domain).await {
        Err(err) => err.message,
        Ok(_) => "(none)".to_owned(),
    };
    OpError::cim(
        CimStatus::NotFound,
        format!("No such instance ({what}): {message}"),
    )
}

/// libcmpiutil's `cu_validate_ref`: `Ok` when `asked` names the object at `found` (same class, every key of
/// `found` equal in `asked`; keys `asked` adds are ignored), else NOT_FOUND naming the first key that differs
/// ("CreationClassName" for another class).
pub fn validate_ref(asked: &ObjectPath, found: &ObjectPath) -> Result<(), OpError> {
    if !asked.class_name.eq_ignore_ascii_case(&found.class_name) {
        return Err(no_such("CreationClassName"));
    }
    for (name, value) in &found.keys {
        let one = |v: &Value| ObjectPath {
            host: None,
            namespace: None,
            class_name: found.class_name.clone(),
            keys: vec![(name.clone(), v.clone())],
        };
        let same = asked
            .key(name)
            .is_some_and(|theirs| one(theirs).same_object(&one(value)));
        if !same {
            return Err(no_such(name));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validate_ref_names_the_first_differing_key() {
        let found = ObjectPath::instance(
            Some("root/virt"),
            "KVM_LogicalDisk",
            &[
                ("SystemCreationClassName", "KVM_ComputerSystem"),
                ("SystemName", "g"),
                ("CreationClassName", "KVM_LogicalDisk"),
                ("DeviceID", "g/vda"),
            ],
        );
        assert!(validate_ref(&found, &found).is_ok());
        let mut asked = found.clone();
        asked.keys[1].1 = Value::String("other".into());
        let err = validate_ref(&asked, &found).expect_err("differs");
        assert_eq!(err.status(), CimStatus::NotFound);
        assert_eq!(err.to_string(), "No such instance (SystemName)");
        let extra = found
            .clone()
            .with_key("Extra", Value::String("ignored".into()));
        assert!(validate_ref(&extra, &found).is_ok());
        let other = ObjectPath::instance(None, "KVM_Memory", &[("DeviceID", "g/mem")]);
        assert_eq!(
            validate_ref(&other, &found).expect_err("class").to_string(),
            "No such instance (CreationClassName)"
        );
    }
}
