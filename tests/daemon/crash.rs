//! `kill -9` at random moments while the test driver defines and undefines: after every kill the state dir must
//! load cleanly and hold every acknowledged change.
//!
//! The test re-runs its own binary as the child (`crash_child`, selected by an environment variable). The child
//! prints an intent line before each call (`d NAME` define, `a NAME` autostart, `u NAME` undefine) and an
//! acknowledgement after it returns (`D`, `A`, `U`); the parent kills it after a random delay and checks the
//! directory against what was acknowledged.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use virtcim::{prelude::*, TestDriver};

const CHILD_DIR_ENV: &str = "VIRTCIM_CRASH_CHILD_DIR";
const CHILD_ROUND_ENV: &str = "VIRTCIM_CRASH_CHILD_ROUND";
const ROUNDS: usize = 200;

fn domain_xml(name: &str) -> String {
    format!(
        "<domain type='test'><name>{name}</name><uuid>{}</uuid><memory unit='KiB'>65536</memory>\
         <vcpu>1</vcpu><os><type>hvm</type></os></domain>",
        uuid::Uuid::new_v4()
    )
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// The child: defines and undefines until killed. Does nothing in a normal test run.
#[test]
fn crash_child() {
    let Some(dir) = std::env::var_os(CHILD_DIR_ENV) else {
        return;
    };
    let round = std::env::var(CHILD_ROUND_ENV).unwrap_or_default();
    runtime().block_on(async move {
        let driver = TestDriver::open(Path::new(&dir)).await.expect("child open");
        let mut out = std::io::stdout();
        let mut say = |line: String| {
            // A line reaches the pipe whole before the next call starts.
            out.write_all(line.as_bytes()).expect("stdout");
            out.flush().expect("stdout");
        };
        // libtest has just written "test crash::crash_child ... " without a newline: end that line first.
        say("\nREADY\n".to_string());
        let mut defined = Vec::new();
        for i in 0.. {
            let name = format!("r{round}-{i}");
            say(format!("d {name}\n"));
            let dom = driver
                .domain_define_xml(&domain_xml(&name), 0)
                .await
                .expect("define");
            say(format!("D {name}\n"));
            if i % 2 == 0 {
                say(format!("a {name}\n"));
                driver
                    .domain_set_autostart(&dom, true)
                    .await
                    .expect("autostart");
                say(format!("A {name}\n"));
            }
            defined.push(dom);
            if defined.len() > 2 {
                let old = defined.remove(0);
                say(format!("u {}\n", old.name));
                driver.domain_undefine(&old, 0).await.expect("undefine");
                say(format!("U {}\n", old.name));
            }
        }
    });
}

/// What the parent may expect of one domain after a kill: whether it exists, and its autostart flag.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Expect {
    Present {
        autostart: Option<bool>,
    },
    Absent,
    /// A call on it was in flight: it may or may not have happened.
    Either,
}

fn expectations(output: &str) -> BTreeMap<String, Expect> {
    let mut expect = BTreeMap::new();
    let complete = match output.rfind('\n') {
        Some(end) => &output[..end],
        None => "",
    };
    for line in complete.lines() {
        let Some((tag, name)) = line.split_once(' ') else {
            continue;
        };
        let value = match tag {
            "d" | "u" => Expect::Either,
            "D" => Expect::Present {
                autostart: Some(false),
            },
            "a" => Expect::Present { autostart: None },
            "A" => Expect::Present {
                autostart: Some(true),
            },
            "U" => Expect::Absent,
            _ => continue,
        };
        expect.insert(name.to_string(), value);
    }
    // A last line cut short by the kill is ignored: the complete line before it already says whether a call
    // may be in flight.
    expect
}

/// Reads the child's output up to its READY line (nothing the child acknowledges comes before it).
fn wait_for_ready(pipe: &mut std::process::ChildStdout) {
    let mut seen = Vec::new();
    let mut byte = [0u8; 1];
    while !seen.ends_with(b"READY\n") {
        match pipe.read(&mut byte) {
            Ok(1) => seen.push(byte[0]),
            _ => panic!(
                "child ended before it was ready: {}",
                String::from_utf8_lossy(&seen)
            ),
        }
    }
}

#[test]
fn sigkill_at_random_moments_loses_no_acknowledged_change() {
    if std::env::var_os(CHILD_DIR_ENV).is_some() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let rt = runtime();
    let started = Instant::now();
    let mut acknowledged = 0usize;
    for round in 0..ROUNDS {
        let mut child = Command::new(&exe)
            .args(["--nocapture", "--test-threads=1", "--exact"])
            .arg(crate::support::test_path(module_path!(), "crash_child"))
            .env(CHILD_DIR_ENV, dir.path())
            .env(CHILD_ROUND_ENV, round.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut pipe = child.stdout.take().unwrap();
        // One round in ten is killed while it may still be opening the dir; the others once it is defining.
        if round % 10 != 0 {
            wait_for_ready(&mut pipe);
        }
        let reader = std::thread::spawn(move || {
            let mut rest = Vec::new();
            let _ = pipe.read_to_end(&mut rest);
            rest
        });
        std::thread::sleep(Duration::from_micros(rand::random_range(0..25_000)));
        child.kill().unwrap();
        child.wait().unwrap();
        let stdout = String::from_utf8_lossy(&reader.join().unwrap()).into_owned();
        let expect = expectations(&stdout);
        acknowledged += stdout.lines().filter(|l| l.starts_with("D ")).count();

        rt.block_on(async {
            let driver = TestDriver::open(dir.path()).await.expect("reopen after kill");
            assert!(
                driver.load_warnings().is_empty(),
                "round {round}: unreadable files after kill: {:?}",
                driver.load_warnings()
            );
            for (name, want) in &expect {
                let found = driver.domain_lookup_by_name(name).await;
                match (want, found) {
                    (Expect::Present { autostart }, Ok(dom)) => {
                        let flag = driver.domain_get_autostart(&dom).await.unwrap();
                        if let Some(want_flag) = autostart {
                            assert_eq!(flag, *want_flag, "round {round}: acknowledged autostart of {name} lost");
                        }
                    }
                    (Expect::Present { .. }, Err(_)) => panic!("round {round}: acknowledged define of {name} lost"),
                    (Expect::Absent, Ok(_)) => panic!("round {round}: acknowledged undefine of {name} lost"),
                    _ => {}
                }
            }
            let doms = driver.list_all_domains(0).await.unwrap();
            for dom in &doms {
                assert!(
                    dom.name == "test" || expect.contains_key(&dom.name),
                    "round {round}: {} exists but was never defined in this round; child said {stdout:?}",
                    dom.name
                );
            }
            let files = std::fs::read_dir(dir.path().join("domains")).unwrap().count();
            assert_eq!(files, doms.len(), "round {round}: stray files after cleanup");
            // Start the next round from a small world (autostart may have started some at reopen).
            for dom in doms.iter().filter(|d| d.name != "test") {
                if driver.domain_is_active(dom).await.unwrap() {
                    driver.domain_destroy(dom, 0).await.unwrap();
                }
                if let Ok(dom) = driver.domain_lookup_by_uuid(&dom.uuid).await {
                    driver.domain_undefine(&dom, 0).await.unwrap();
                }
            }
        });
    }
    let elapsed = started.elapsed();
    eprintln!("{ROUNDS} kills, {acknowledged} acknowledged defines checked, {elapsed:?}");
    assert!(
        acknowledged > 0,
        "the child never got to acknowledge anything"
    );
}
