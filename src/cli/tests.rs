//! The CLI against a small in-memory driver: argument resolution, output layout and error lines, without disk.

use super::{run_command, spec, Outcome};
use crate::driver::{
    pool_state, Connection, DomainInfo, DomainRef, DomainState, HypervisorDriver, NetworkDriver,
    NetworkRef, PoolInfo, PoolRef, StorageDriver,
};
use crate::error::{Error, ErrorCode, ErrorDomain, Result};
use async_trait::async_trait;
use std::sync::{Arc, Mutex};
use uuid::Uuid;

const TEST_UUID: &str = "6695eb01-f6a4-8304-79aa-97f2502e193f";

/// libvirt's default test world in miniature: one running domain, one network, one pool.
struct Fake {
    state: Mutex<DomainState>,
}

impl Fake {
    fn dom(&self) -> DomainRef {
        DomainRef {
            name: "test".to_string(),
            uuid: Uuid::parse_str(TEST_UUID).unwrap_or_default(),
            id: 1,
        }
    }

    fn current(&self) -> DomainState {
        self.state
            .lock()
            .map(|s| *s)
            .unwrap_or(DomainState::NoState)
    }
}

fn no_domain() -> Error {
    Error::with_detail(ErrorCode::NO_DOMAIN, ErrorDomain::TEST, "")
}

#[async_trait]
impl HypervisorDriver for Fake {
    async fn list_all_domains(&self, _flags: u32) -> Result<Vec<DomainRef>> {
        Ok(vec![self.dom()])
    }
    async fn domain_lookup_by_name(&self, name: &str) -> Result<DomainRef> {
        if name == "test" {
            Ok(self.dom())
        } else {
            Err(no_domain())
        }
    }
    async fn domain_lookup_by_uuid(&self, uuid: &Uuid) -> Result<DomainRef> {
        if *uuid == self.dom().uuid {
            Ok(self.dom())
        } else {
            Err(no_domain())
        }
    }
    async fn domain_lookup_by_id(&self, id: i32) -> Result<DomainRef> {
        if id == 1 {
            Ok(self.dom())
        } else {
            Err(no_domain())
        }
    }
    async fn domain_get_state(&self, _dom: &DomainRef, _flags: u32) -> Result<(DomainState, i32)> {
        let state = self.current();
        Ok((state, i32::from(state == DomainState::Paused)))
    }
    async fn domain_get_info(&self, _dom: &DomainRef) -> Result<DomainInfo> {
        Ok(DomainInfo {
            state: self.current(),
            max_mem_kib: 8_388_608,
            memory_kib: 2_097_152,
            nr_virt_cpu: 2,
            cpu_time_ns: 0,
        })
    }
    async fn domain_get_os_type(&self, _dom: &DomainRef) -> Result<String> {
        Ok("linux".to_string())
    }
    async fn domain_is_persistent(&self, _dom: &DomainRef) -> Result<bool> {
        Ok(true)
    }
    async fn domain_get_autostart(&self, _dom: &DomainRef) -> Result<bool> {
        Ok(false)
    }
    async fn domain_has_managed_save_image(&self, _dom: &DomainRef, _flags: u32) -> Result<bool> {
        Ok(false)
    }
    async fn node_get_security_model(&self) -> Result<(String, String)> {
        Ok(("testSecurity".to_string(), String::new()))
    }
    async fn domain_get_security_label(&self, _dom: &DomainRef) -> Result<(String, bool)> {
        Ok(("libvirt-test".to_string(), true))
    }
    async fn domain_suspend(&self, dom: &DomainRef) -> Result<()> {
        let mut state = self
            .state
            .lock()
            .map_err(|_| Error::internal(ErrorDomain::TEST, "poisoned"))?;
        if *state != DomainState::Running {
            return Err(Error::internal(
                ErrorDomain::TEST,
                format!("domain '{}' not running", dom.name),
            ));
        }
        *state = DomainState::Paused;
        Ok(())
    }
}

#[async_trait]
impl NetworkDriver for Fake {
    async fn network_lookup_by_name(&self, name: &str) -> Result<NetworkRef> {
        Err(Error::with_detail(
            ErrorCode::NO_NETWORK,
            ErrorDomain::NETWORK,
            format!("no network with matching name '{name}'"),
        ))
    }
}

#[async_trait]
impl StorageDriver for Fake {
    async fn list_all_storage_pools(&self, _flags: u32) -> Result<Vec<PoolRef>> {
        Ok(vec![PoolRef {
            name: "default-pool".to_string(),
            uuid: Uuid::nil(),
        }])
    }
    async fn pool_get_info(&self, _pool: &PoolRef) -> Result<PoolInfo> {
        Ok(PoolInfo {
            state: pool_state::RUNNING,
            capacity: 100 << 30,
            allocation: 0,
            available: 100 << 30,
        })
    }
    async fn pool_get_autostart(&self, _pool: &PoolRef) -> Result<bool> {
        Ok(false)
    }
    async fn pool_is_persistent(&self, _pool: &PoolRef) -> Result<bool> {
        Ok(true)
    }
}

fn fake() -> Connection {
    let fake = Arc::new(Fake {
        state: Mutex::new(DomainState::Running),
    });
    Connection::builder()
        .hypervisor(fake.clone())
        .network(fake.clone())
        .storage(fake)
        .build()
}

async fn run_on(driver: &Connection, words: &[&str]) -> Outcome {
    let (name, rest) = words.split_first().expect("a command");
    let command = spec::find(name).expect("known command");
    let args: Vec<String> = rest.iter().map(|w| w.to_string()).collect();
    let parsed = spec::parse(command, &args).expect("parses");
    run_command(
        driver.clone(),
        "test:///default".to_string(),
        &parsed,
        false,
    )
    .await
}

#[tokio::test]
async fn list_is_virshs_table() {
    let out = run_on(&fake(), &["list", "--all"]).await;
    assert_eq!(out.code, 0);
    assert_eq!(
        out.stdout,
        " Id   Name   State\n----------------------\n 1    test   running\n"
    );
}

#[tokio::test]
async fn domain_arguments_resolve_by_id_uuid_and_name() {
    let driver = fake();
    for arg in ["1", TEST_UUID, "test"] {
        let out = run_on(&driver, &["domname", arg]).await;
        if arg == "test" {
            // domname takes only ids and UUIDs.
            assert_eq!(out.stderr, "error: failed to get domain 'test'\n");
        } else {
            assert_eq!(out.stdout, "test\n", "{arg}");
        }
        let out = run_on(&driver, &["domstate", arg]).await;
        assert_eq!(out.stdout, "running\n");
    }
}

#[tokio::test]
async fn dominfo_aligns_its_keys() {
    let out = run_on(&fake(), &["dominfo", "test"]).await;
    let expected = "Id:             1\nName:           test\nUUID:           6695eb01-f6a4-8304-79aa-97f2502e193f\n\
                    OS Type:        linux\nState:          running\nCPU(s):         2\n\
                    Max memory:     8388608 KiB\nUsed memory:    2097152 KiB\nPersistent:     yes\n\
                    Autostart:      disable\nManaged save:   no\nSecurity model: testSecurity\nSecurity DOI:   \n\
                    Security label: libvirt-test (enforcing)\n";
    assert_eq!(out.stdout, expected);
}

#[tokio::test]
async fn failures_print_virsh_error_lines() {
    let driver = fake();
    let out = run_on(&driver, &["suspend", "nosuch"]).await;
    assert_eq!(
        (out.code, out.stderr.as_str()),
        (1, "error: failed to get domain 'nosuch'\n")
    );
    let out = run_on(&driver, &["suspend", "test"]).await;
    assert_eq!(out.stdout, "Domain 'test' suspended\n");
    let out = run_on(&driver, &["suspend", "test"]).await;
    assert_eq!(
        out.stderr,
        "error: Failed to suspend domain 'test'\nerror: internal error: domain 'test' not running\n"
    );
    let out = run_on(&driver, &["domstate", "test", "--reason"]).await;
    assert_eq!(out.stdout, "paused (user)\n");
    let out = run_on(&driver, &["net-info", "nosuch"]).await;
    assert_eq!(
        out.stderr,
        "error: failed to get network 'nosuch'\nerror: Network not found: no network with matching name 'nosuch'\n"
    );
    let out = run_on(&driver, &["resume", "test"]).await;
    assert_eq!(
        out.stderr,
        "error: Failed to resume domain 'test'\n\
         error: this function is not supported by the connection driver: virDomainResume\n"
    );
}

#[tokio::test]
async fn read_only_connections_refuse_changes() {
    let driver = fake().read_only();
    let out = run_on(&driver, &["suspend", "test"]).await;
    assert_eq!(
        out.stderr,
        "error: Failed to suspend domain 'test'\n\
         error: operation forbidden: read only access prevents virDomainSuspend\n"
    );
    let out = run_on(&driver, &["dumpxml", "test", "--security-info"]).await;
    assert_eq!(
        out.stderr,
        "error: operation forbidden: virDomainGetXMLDesc with secure flag\n"
    );
    let out = run_on(&driver, &["list"]).await;
    assert_eq!(out.code, 0);
}

#[tokio::test]
async fn pool_details_use_pretty_sizes() {
    let out = run_on(&fake(), &["pool-list", "--details"]).await;
    assert_eq!(
        out.stdout,
        " Name           State     Autostart   Persistent   Capacity     Allocation   Available\n\
         -----------------------------------------------------------------------------------------\n \
         default-pool   running   no          yes          100.00 GiB   0.00 B       100.00 GiB\n"
    );
}
