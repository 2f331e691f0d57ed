//! Decoders never panic: deterministic mutations (byte flips, truncations, splices) of real CIM-XML requests
//! and of our MOF go through the CIM-XML parser and the MOF compiler, which must return Ok or Err.

use std::collections::HashMap;
use std::path::Path;

use crate::cim::mof::{compile_files as compile_mof_files, parse_instance_mof, MofCompiler};
use crate::cim::Repository;
use crate::wbem::cimxml::{parse_request, Limits};

/// xorshift64*: a fixed-seed generator so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % (n.max(1) as u64)).unwrap_or(0)
    }
}

const INTERESTING: &[&[u8]] = &[
    b"<",
    b">",
    b"&",
    b"&#0;",
    b"&#xD800;",
    b"\"",
    b"'",
    b"/",
    b"=",
    b"<!DOCTYPE x>",
    b"]]>",
    b"\xff",
    b"\0",
    b"\\",
    b"{",
    b"}",
    b";",
    b"[",
    b"0x",
    b"-",
    b"instance of ",
    b"\"\\x",
    b"/*",
];

fn mutate(rng: &mut Rng, input: &[u8]) -> Vec<u8> {
    let mut out = input.to_vec();
    for _ in 0..=rng.below(4) {
        let at = rng.below(out.len() + 1);
        match rng.below(5) {
            0 if !out.is_empty() => {
                let i = at.min(out.len() - 1);
                out[i] ^= 1 << rng.below(8);
            }
            1 => out.truncate(at),
            2 => {
                let piece = INTERESTING[rng.below(INTERESTING.len())];
                out.splice(at..at, piece.iter().copied());
            }
            3 if !out.is_empty() => {
                let from = rng.below(out.len());
                let len = rng.below(64).min(out.len() - from);
                let chunk: Vec<u8> = out[from..from + len].to_vec();
                out.splice(at..at, chunk);
            }
            _ => {
                let end = (at + rng.below(16)).min(out.len());
                out.drain(at..end);
            }
        }
    }
    out
}

#[test]
fn cimxml_parser_never_panics() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/cim");
    let mut rng = Rng(0x5eed_cafe_f00d_0001);
    let limits = Limits::default();
    let mut accepted = 0;
    for entry in std::fs::read_dir(&dir).expect("data dir") {
        let path = entry.expect("entry").path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned();
        if !name.starts_with("req_") {
            continue;
        }
        let input = std::fs::read(&path).expect("read");
        assert!(
            parse_request(&input, &limits).is_ok(),
            "{name} must parse unmutated"
        );
        for _ in 0..2000 {
            let mutated = mutate(&mut rng, &input);
            if parse_request(&mutated, &limits).is_ok() {
                accepted += 1;
            }
        }
    }
    // Some mutations (inside text) stay valid; most do not. Either way nothing panicked.
    assert!(accepted > 0);
}

#[test]
fn mof_compiler_never_panics() {
    let mof_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("mof");
    let read = |rel: &str| std::fs::read_to_string(mof_dir.join(rel)).expect("read mof");
    let qualifiers = read("qualifiers.mof");
    let samples = [
        read("cim/CIM_EnabledLogicalElement.mof"),
        read("cim/CIM_ConcreteJob.mof"),
        read("cim/CIM_System.mof"),
    ];
    let mut rng = Rng(0x5eed_cafe_f00d_0002);
    for sample in &samples {
        for _ in 0..500 {
            let mutated =
                String::from_utf8_lossy(&mutate(&mut rng, sample.as_bytes())).into_owned();
            let mut files = HashMap::new();
            files.insert("q.mof".to_owned(), qualifiers.clone());
            files.insert(
                "all.mof".to_owned(),
                "#pragma include (\"q.mof\")\n#pragma include (\"x.mof\")\n".to_owned(),
            );
            // Superclasses the samples need, so mutations reach deep into class resolution.
            files.insert(
                "x.mof".to_owned(),
                format!(
                    "{}\n{}\n{}\n{}\n{}\n",
                    read("cim/CIM_ManagedElement.mof"),
                    read("cim/CIM_ManagedSystemElement.mof"),
                    read("cim/CIM_LogicalElement.mof"),
                    read("cim/CIM_Job.mof"),
                    mutated
                ),
            );
            let mut repo = Repository::new();
            let _ = compile_mof_files(&mut repo, "root/test", "all.mof", &files);
        }
    }
    // Embedded-instance MOF text from clients.
    let mut repo = Repository::new();
    let loader =
        |name: &str| std::fs::read_to_string(mof_dir.join(name)).map_err(|e| e.to_string());
    MofCompiler::new(&mut repo, "root/virt", loader)
        .compile_file("root_virt.mof")
        .expect("our mof");
    let ns = repo.namespace("root/virt").expect("ns");
    let seed = "instance of KVM_ComputerSystem { Name = \"vm\"; EnabledState = 2; OperationalStatus = {2, 3}; Caption = \"a\" \"b\"; };";
    for _ in 0..3000 {
        let mutated = String::from_utf8_lossy(&mutate(&mut rng, seed.as_bytes())).into_owned();
        let _ = parse_instance_mof(ns, &mutated);
    }
}
