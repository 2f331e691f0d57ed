//! Stable-Rust fuzzing: every target replays its past crashes and its golden-file seeds, then a bounded number of
//! deterministic mutations of them (bit flips, interesting bytes and tokens, cuts, duplications, splices, XDR length
//! and count tweaks), so `cargo test` exercises the decoders without nightly or cargo-fuzz.
//!
//! `VIRTCIM_FUZZ_INPUTS` sets the mutations per target (default [`DEFAULT_INPUTS`]) and `VIRTCIM_FUZZ_SEED` the
//! PRNG seed, for longer runs by hand; `VIRTCIM_FUZZ_EXPORT=DIR` also writes each target's seeds to `DIR/<target>/`
//! as a starting corpus for cargo-fuzz. A failing input is written to a temporary file whose path the failure names;
//! it belongs under `tests/data/fuzz/<target>/`, which is replayed first on every run.

use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::TARGETS;

/// Mutated inputs per target in a default run: enough to reach past the golden paths, small enough that all
/// targets together stay well under half a minute in a debug build on two cores.
const DEFAULT_INPUTS: usize = 6_000;

/// At most this many mutations are stacked on one input.
const MAX_STACK: usize = 4;

/// Tokens that matter to the text decoders (XML, MOF, TOML, URIs, JSON), spliced in whole.
const TOKENS: &[&str] = &[
    "<",
    ">",
    "</",
    "/>",
    "<?xml version=\"1.0\"?>",
    "<!DOCTYPE x [<!ENTITY e \"e\">]>",
    "<![CDATA[",
    "]]>",
    "<!--",
    "-->",
    "&amp;",
    "&lt;",
    "&#0;",
    "&#x10FFFF;",
    "&#xD800;",
    "&#1114112;",
    "&e;",
    "=\"",
    "\"",
    "'",
    "\\",
    "\\u0000",
    "\n",
    "\r\n",
    "\t",
    " ",
    "\u{0}",
    "\u{1}",
    "\u{7f}",
    "\u{a0}",
    "é",
    "\u{2028}",
    "\u{10ffff}",
    "\u{fffd}",
    "0",
    "-1",
    "-0",
    "1e999",
    "0x",
    "4294967295",
    "4294967296",
    "18446744073709551615",
    "18446744073709551616",
    "-9223372036854775809",
    "KiB",
    "TiB",
    "EiB",
    "yes",
    "no",
    "on",
    "true",
    "false",
    "null",
    "{",
    "}",
    "[",
    "]",
    "[[",
    "]]",
    "(",
    ")",
    ";",
    ",",
    ":",
    "=",
    "#",
    "#pragma include(\"x\")",
    "#pragma namespace(\"root/x\")",
    "class ",
    "instance of ",
    "qualifier ",
    "ref",
    "Key",
    "Association",
    "REF",
    "string",
    "uint64",
    "sint8",
    "datetime",
    "'''",
    "\"\"\"",
    "%",
    "%00",
    "%zz",
    "%2F",
    "?",
    "&",
    "+",
    "@",
    "[::1]",
    ":0",
    ":65536",
    "//",
    "/../",
    "test+tcp://",
    "qemu:///system",
    "remote+ssh://",
    "?socket=",
    "?name=",
    "?no_verify=1",
    "{\"QMP\":",
    "{\"return\":",
    "{\"event\":",
    "{\"error\":",
    "\"id\":",
];

/// 32-bit values that XDR lengths, counts and discriminants should be tried with.
const WORDS: &[u32] = &[
    0,
    1,
    2,
    3,
    4,
    0x7f,
    0xff,
    0x100,
    0xffff,
    0x1_0000,
    0x10_0000,
    0x200_0000,
    0x200_0004,
    0x7fff_ffff,
    0x8000_0000,
    0xffff_fffe,
    0xffff_ffff,
    // The RPC programs: the remote one, the QEMU one, and keepalive's, whose messages take another path.
    0x2000_8086,
    0x2000_8087,
    0x6b65_6570,
];

/// SplitMix64: tiny, seedable and good enough to pick mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number below `n` (`n` > 0).
    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % n as u64).expect("below n")
    }

    fn byte(&mut self) -> u8 {
        self.next().to_le_bytes()[0]
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// A seed: plain bytes, or an RPC stream kept as its frames so a mutation can change a frame's body and still
/// fix its length word (else nearly every mutation dies in the framing layer).
#[derive(Clone)]
enum Seed {
    Bytes(Vec<u8>),
    Frames { prefix: u8, frames: Vec<Vec<u8>> },
}

impl Seed {
    fn to_bytes(&self) -> Vec<u8> {
        match self {
            Seed::Bytes(bytes) => bytes.clone(),
            Seed::Frames { prefix, frames } => {
                let mut out = vec![*prefix];
                for frame in frames {
                    out.extend_from_slice(frame);
                }
                out
            }
        }
    }
}

/// One mutation of `data` in place; `other` is a second seed for splices.
fn mutate_bytes(rng: &mut Rng, data: &mut Vec<u8>, other: &[u8]) {
    let len = data.len();
    match rng.below(11) {
        0 if len > 0 => {
            let at = rng.below(len);
            data[at] ^= 1 << rng.below(8);
        }
        1 if len > 0 => {
            let at = rng.below(len);
            data[at] = *rng.pick(&[
                0, 1, 0x7f, 0x80, 0xff, b'<', b'>', b'"', b'&', b'\n', b'\\', b'{', b'%',
            ]);
        }
        2 if len > 0 => {
            let at = rng.below(len);
            let n = 1 + rng.below((len - at).min(64));
            data.drain(at..at + n);
        }
        3 if len > 0 => {
            let at = rng.below(len);
            let n = 1 + rng.below((len - at).min(256));
            let copy = data[at..at + n].to_vec();
            let to = rng.below(len + 1);
            data.splice(to..to, copy);
        }
        4 => {
            let to = rng.below(len + 1);
            let token = rng.pick(TOKENS).as_bytes();
            data.splice(to..to, token.iter().copied());
        }
        5 => {
            let to = rng.below(len + 1);
            let n = 1 + rng.below(8);
            let random: Vec<u8> = (0..n).map(|_| rng.byte()).collect();
            data.splice(to..to, random);
        }
        6 if len > 0 => data.truncate(rng.below(len)),
        7 if !other.is_empty() => {
            let keep = rng.below(len + 1);
            let from = rng.below(other.len());
            data.truncate(keep);
            data.extend_from_slice(&other[from..]);
        }
        8 if len >= 4 => {
            // XDR words are aligned to 4 from the frame start.
            let at = rng.below(len / 4) * 4;
            let old = u32::from_be_bytes(data[at..at + 4].try_into().expect("4 bytes"));
            let new = match rng.below(3) {
                0 => *rng.pick(WORDS),
                1 => old.wrapping_add(1 + u32::from(rng.byte() % 8)),
                _ => old.wrapping_sub(1 + u32::from(rng.byte() % 8)),
            };
            data[at..at + 4].copy_from_slice(&new.to_be_bytes());
        }
        9 if len > 0 && !other.is_empty() => {
            let at = rng.below(len);
            let from = rng.below(other.len());
            let n = 1 + rng.below((other.len() - from).min(len - at).min(64));
            data[at..at + n].copy_from_slice(&other[from..from + n]);
        }
        _ => {
            // A run of one byte: long names, deep nesting when the byte is '<' or '['.
            let to = rng.below(len + 1);
            let byte = if len > 0 {
                data[rng.below(len)]
            } else {
                rng.byte()
            };
            let n = 1 + rng.below(300);
            data.splice(to..to, std::iter::repeat_n(byte, n));
        }
    }
}

/// A mutated input from `seed`; `other` is a second seed's bytes for splices.
fn mutate(rng: &mut Rng, seed: &Seed, other: &[u8]) -> Vec<u8> {
    let stack = 1 + rng.below(MAX_STACK);
    match seed {
        Seed::Bytes(bytes) => {
            let mut data = bytes.clone();
            for _ in 0..stack {
                mutate_bytes(rng, &mut data, other);
            }
            data
        }
        Seed::Frames { prefix, frames } => {
            let mut prefix = *prefix;
            let mut frames = frames.clone();
            for _ in 0..stack {
                match rng.below(10) {
                    0 => prefix = rng.byte(),
                    1 if frames.len() > 1 => {
                        frames.remove(rng.below(frames.len()));
                    }
                    2 if !frames.is_empty() => {
                        let copy = frames[rng.below(frames.len())].clone();
                        frames.insert(rng.below(frames.len() + 1), copy);
                    }
                    3 if !frames.is_empty() => {
                        // Only the length word: too short, too long, over the caps.
                        let frame = rng.below(frames.len());
                        mutate_bytes(rng, &mut frames[frame], &[]);
                    }
                    _ if !frames.is_empty() => {
                        // The body, after the length word, which is then made true again.
                        let index = rng.below(frames.len());
                        let frame = &mut frames[index];
                        let mut body = frame.split_off(4.min(frame.len()));
                        mutate_bytes(rng, &mut body, other);
                        let len = u32::try_from(body.len() + 4).unwrap_or(u32::MAX);
                        *frame = len.to_be_bytes().to_vec();
                        frame.extend_from_slice(&body);
                    }
                    _ => {}
                }
            }
            let mut data = Seed::Frames { prefix, frames }.to_bytes();
            if rng.chance(10) {
                mutate_bytes(rng, &mut data, other);
            }
            data
        }
    }
}

fn repo_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// The files directly in `dir` (relative to the crate) whose names end in one of `suffixes`, sorted.
fn files(dir: &str, suffixes: &[&str]) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(repo_path(dir)) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.is_file())
        .filter(|path| {
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            suffixes.is_empty() || suffixes.iter().any(|suffix| name.ends_with(suffix))
        })
        .collect();
    out.sort();
    out
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
}

fn hex(text: &str) -> Vec<u8> {
    (0..text.len() / 2)
        .map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16).expect("hex in an RPC trace"))
        .collect()
}

/// The frames of every recorded RPC conversation, per (file, connection, direction), in order.
fn rpc_streams() -> Vec<(bool, Vec<Vec<u8>>)> {
    let mut streams: BTreeMap<(PathBuf, u64, String), Vec<Vec<u8>>> = BTreeMap::new();
    for path in files("tests/data/rpc", &[".jsonl"]) {
        let text = String::from_utf8(read(&path)).expect("UTF-8 trace");
        for line in text.lines().filter(|line| !line.trim().is_empty()) {
            let record: serde_json::Value = serde_json::from_str(line).expect("JSON trace line");
            let (Some(frame), Some(dir)) = (record["hex"].as_str(), record["dir"].as_str()) else {
                continue;
            };
            let conn = record["c"].as_u64().unwrap_or(0);
            streams
                .entry((path.clone(), conn, dir.to_string()))
                .or_default()
                .push(hex(frame));
        }
    }
    streams
        .into_iter()
        .map(|((_, _, dir), frames)| (dir == "C>S", frames))
        .collect()
}

fn text_seeds(dirs: &[&str], suffixes: &[&str]) -> Vec<Seed> {
    dirs.iter()
        .flat_map(|dir| files(dir, suffixes))
        .map(|path| Seed::Bytes(read(&path)))
        .collect()
}

/// The golden-file seeds of a target.
fn golden_seeds(target: &str) -> Vec<Seed> {
    match target {
        "rpc_frame" => rpc_streams()
            .into_iter()
            .flat_map(|(_, frames)| {
                // Whole frames at once, and chunks that cut through the header and the length word.
                let single = frames.iter().map(|f| Seed::Frames {
                    prefix: 255,
                    frames: vec![f.clone()],
                });
                [
                    Seed::Frames {
                        prefix: 0,
                        frames: frames.clone(),
                    },
                    Seed::Frames {
                        prefix: 7,
                        frames: frames.clone(),
                    },
                ]
                .into_iter()
                .chain(single.collect::<Vec<_>>())
            })
            .collect(),
        "rpc_dispatch" => rpc_streams()
            .into_iter()
            .filter(|(client, _)| *client)
            .flat_map(|(_, frames)| {
                [
                    Seed::Frames {
                        prefix: 0,
                        frames: frames.clone(),
                    },
                    Seed::Frames { prefix: 1, frames },
                ]
            })
            .collect(),
        "cimxml_request" => text_seeds(&["tests/data/cim"], &[".xml"]),
        "mof" => text_seeds(&["mof", "mof/cim", "mof/kvm"], &[".mof"]),
        "model_xml" => text_seeds(
            &[
                "tests/data/xml",
                "tests/data/xml/errors",
                "tests/data/interface",
                "tests/data/qemu",
                "tests/data/testdrv",
                "tests/data/cli",
            ],
            &[".xml"],
        ),
        "uri" => files("tests/data/uri", &[".tsv"])
            .iter()
            .flat_map(|path| {
                let text = String::from_utf8(read(path)).expect("UTF-8 table");
                text.lines()
                    .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
                    .flat_map(|line| {
                        line.split('\t')
                            .take(2)
                            .map(|cell| Seed::Bytes(cell.as_bytes().to_vec()))
                    })
                    .collect::<Vec<_>>()
            })
            .collect(),
        "config" => text_seeds(&["tests/data/config", "conf"], &[".conf"]),
        // No golden QMP files exist: the seeds are the session kept with this target's regressions.
        "qmp_message" => Vec::new(),
        other => panic!("no seeds declared for fuzz target {other}"),
    }
}

/// Past failures (and extra seeds) of a target, replayed verbatim before anything else.
fn regressions(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    files(&format!("tests/data/fuzz/{target}"), &[])
        .into_iter()
        .map(|path| {
            let bytes = read(&path);
            (path, bytes)
        })
        .collect()
}

fn fnv(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Runs one input; a panic is turned into a failure naming a file that holds the input.
fn run_one(target: &str, entry: fn(&[u8]), data: &[u8], origin: &str) {
    if catch_unwind(AssertUnwindSafe(|| entry(data))).is_ok() {
        return;
    }
    let dir = std::env::temp_dir().join("virtcim-fuzz").join(target);
    let path = dir.join(format!("crash-{:016x}", fnv(data)));
    let saved = std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&path, data));
    let shown = if data.len() <= 512 {
        format!("{:?}", String::from_utf8_lossy(data))
    } else {
        String::new()
    };
    panic!(
        "fuzz target {target} panicked on {origin} ({} bytes) {shown}; input saved to {} ({saved:?}): \
         copy it under tests/data/fuzz/{target}/ once fixed",
        data.len(),
        path.display(),
    );
}

fn env_number(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(text) => text
            .parse()
            .unwrap_or_else(|_| panic!("{name}={text:?} is not a number")),
        Err(_) => default,
    }
}

fn fuzz(target: &str) {
    let entry = TARGETS
        .iter()
        .find(|(name, _)| *name == target)
        .map(|(_, entry)| *entry)
        .expect("a declared target");
    let started = Instant::now();
    let regressions = regressions(target);
    for (path, data) in &regressions {
        run_one(target, entry, data, &path.display().to_string());
    }
    let mut seeds = golden_seeds(target);
    seeds.extend(regressions.into_iter().map(|(_, data)| Seed::Bytes(data)));
    assert!(!seeds.is_empty(), "fuzz target {target} has no seeds");
    let seed_bytes: Vec<Vec<u8>> = seeds.iter().map(Seed::to_bytes).collect();
    if let Some(dir) = std::env::var_os("VIRTCIM_FUZZ_EXPORT") {
        // A starting corpus for cargo-fuzz, in each target's input format.
        let dir = PathBuf::from(dir).join(target);
        std::fs::create_dir_all(&dir).expect("the export directory");
        for data in &seed_bytes {
            std::fs::write(dir.join(format!("seed-{:016x}", fnv(data))), data)
                .expect("an exported seed");
        }
    }
    for (index, data) in seed_bytes.iter().enumerate() {
        run_one(target, entry, data, &format!("golden seed {index}"));
    }
    let inputs = env_number("VIRTCIM_FUZZ_INPUTS", DEFAULT_INPUTS as u64);
    let base = env_number("VIRTCIM_FUZZ_SEED", 0x5eed) ^ fnv(target.as_bytes());
    let mut rng = Rng(base);
    for round in 0..inputs {
        let seed = rng.pick(&seeds).clone();
        let other = rng.pick(&seed_bytes).clone();
        let data = mutate(&mut rng, &seed, &other);
        run_one(
            target,
            entry,
            &data,
            &format!("mutation {round} (VIRTCIM_FUZZ_SEED base {base:#x})"),
        );
    }
    eprintln!(
        "fuzz {target}: {} seeds and {inputs} mutations in {:.1?}",
        seeds.len(),
        started.elapsed()
    );
}

/// One test per target, and the list of them for the completeness check.
macro_rules! fuzz_tests {
    ($($name:ident),* $(,)?) => {
        const TESTED: &[&str] = &[$(stringify!($name)),*];
        $(
            #[test]
            fn $name() {
                fuzz(stringify!($name))
            }
        )*
    };
}

fuzz_tests!(
    rpc_frame,
    rpc_dispatch,
    cimxml_request,
    mof,
    qmp_message,
    model_xml,
    uri,
    config,
);

/// Every target in [`TARGETS`] has a test here and a cargo-fuzz binary in `fuzz/`.
#[test]
fn every_target_is_fuzzed() {
    let manifest = std::fs::read_to_string(repo_path("fuzz/Cargo.toml")).expect("fuzz/Cargo.toml");
    for (name, _) in TARGETS {
        assert!(TESTED.contains(name), "no test for fuzz target {name}");
        assert!(
            manifest.contains(&format!("name = \"{name}\"")),
            "no cargo-fuzz binary for {name}"
        );
        assert!(
            repo_path(&format!("fuzz/fuzz_targets/{name}.rs")).is_file(),
            "no fuzz/fuzz_targets/{name}.rs"
        );
    }
    assert_eq!(
        TESTED.len(),
        TARGETS.len(),
        "a test for a target that does not exist"
    );
}
