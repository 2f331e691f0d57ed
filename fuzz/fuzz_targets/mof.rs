//! Fuzz target: arbitrary text through the MOF compiler on top of our own schema; nothing may panic, and
//! `#pragma include` of anything fails cleanly.
#![no_main]

use libfuzzer_sys::fuzz_target;
use virtcim::{builtin_repository, MofCompiler};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(mut repo) = builtin_repository() else {
        return;
    };
    let mut compiler = MofCompiler::new(&mut repo, "root/virt", |name: &str| {
        Err(format!("no include in fuzzing: {name}"))
    });
    let _ = compiler.compile_str("fuzz.mof", text);
});
