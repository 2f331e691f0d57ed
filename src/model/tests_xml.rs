//! Golden-file, schema and robustness tests for the definition XML (domain, network, pool, volume).
//!
//! `tests/data/xml/KIND-CASE.in.xml` is parsed (without validation) and formatted; the result must equal
//! `KIND-CASE.out.xml` (set `UPDATE_GOLDEN=1` to rewrite them after an intended change). Every formatted document and
//! every golden output is checked with `xmllint --relaxng schemas/*.rng`; our `validate` flag and the schema must
//! agree on every input. `tests/data/xml/errors/cases.txt` lists refused documents and the libvirt code expected.
//! Whether libvirt itself reads what we write is a peer test (`tests/rpc/virsh_xml.rs`).

use super::units::{parse_scaled, unit_bytes, ScaleDefault};
use super::{
    generate_mac, parse_mac, validate_name, DomainDef, DomainXmlOptions, NetworkDef, PoolDef,
    VolumeDef,
};
use crate::error::{Error, ErrorCode};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/xml")
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Domain,
    Network,
    Pool,
    Volume,
}

const KINDS: [Kind; 4] = [Kind::Domain, Kind::Network, Kind::Pool, Kind::Volume];

impl Kind {
    fn of_file(name: &str) -> Kind {
        let prefix = name.split('-').next().unwrap_or_default();
        match prefix {
            "domain" => Kind::Domain,
            "network" => Kind::Network,
            "pool" => Kind::Pool,
            "volume" => Kind::Volume,
            _ => {
                panic!("golden file {name} does not start with domain-, network-, pool- or volume-")
            }
        }
    }

    fn schema(self) -> PathBuf {
        let file = match self {
            // libvirt's own schema: the model keeps what it does not interpret, so its output is libvirt's vocabulary.
            Kind::Domain => "libvirt/domain.rng",
            Kind::Network => "libvirt/network.rng",
            Kind::Pool => "storagepool.rng",
            Kind::Volume => "storagevol.rng",
        };
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("schemas")
            .join(file)
    }

    fn parse(self, xml: &str, validate: bool) -> Result<Def, Error> {
        Ok(match self {
            Kind::Domain => Def::Domain(Box::new(DomainDef::from_xml(xml, validate)?)),
            Kind::Network => Def::Network(Box::new(NetworkDef::from_xml(xml, validate)?)),
            Kind::Pool => Def::Pool(PoolDef::from_xml(xml, validate)?),
            Kind::Volume => Def::Volume(VolumeDef::from_xml(xml, validate)?),
        })
    }
}

#[derive(Debug, PartialEq)]
enum Def {
    Domain(Box<DomainDef>),
    Network(Box<NetworkDef>),
    Pool(PoolDef),
    Volume(VolumeDef),
}

impl Def {
    fn to_xml(&self) -> String {
        match self {
            // Secure, so that the output carries everything the definition holds (graphics passwords).
            Def::Domain(def) => def.to_xml(&DomainXmlOptions {
                id: None,
                secure: true,
            }),
            Def::Network(def) => def.to_xml(),
            Def::Pool(def) => def.to_xml(),
            Def::Volume(def) => def.to_xml(),
        }
    }
}

/// Runs `xmllint --noout --relaxng SCHEMA -` on `xml`; Err carries xmllint's complaint.
fn xmllint(schema: &Path, xml: &str) -> Result<(), String> {
    let mut child = match Command::new("xmllint")
        .arg("--noout")
        .arg("--relaxng")
        .arg(schema)
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(err) => panic!(
            "cannot run xmllint ({err}): the schema checks need it; install the Debian package libxml2-utils \
             (apt-get install -y libxml2-utils)"
        ),
    };
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(xml.as_bytes())
        .expect("write to xmllint");
    let output = child.wait_with_output().expect("wait for xmllint");
    if output.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}

fn golden_inputs() -> Vec<(String, String)> {
    let mut files: Vec<(String, String)> = std::fs::read_dir(data_dir())
        .expect("tests/data/xml exists")
        .filter_map(|entry| {
            let name = entry.ok()?.file_name().into_string().ok()?;
            name.ends_with(".in.xml").then_some(name)
        })
        .map(|name| {
            let text = std::fs::read_to_string(data_dir().join(&name)).expect("read golden input");
            (name, text)
        })
        .collect();
    files.sort();
    assert!(files.len() >= 10, "golden inputs missing");
    files
}

#[test]
fn golden_files_format_round_trip_and_validate() {
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    for (name, input) in golden_inputs() {
        let kind = Kind::of_file(&name);
        let def = kind
            .parse(&input, false)
            .unwrap_or_else(|err| panic!("{name}: {err}"));
        let out = def.to_xml();

        let expected_path = data_dir().join(name.replace(".in.xml", ".out.xml"));
        if update {
            std::fs::write(&expected_path, &out).expect("write golden output");
        }
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_else(|_| {
            panic!(
                "{} is missing: run with UPDATE_GOLDEN=1 and review it",
                expected_path.display()
            )
        });
        assert_eq!(
            out, expected,
            "{name}: formatted output differs from the golden file"
        );

        // Our output is valid under our schema and our own strict parser, and reads back to the same definition.
        xmllint(&kind.schema(), &expected)
            .unwrap_or_else(|err| panic!("{name}: golden output fails schema: {err}"));
        let again = kind
            .parse(&out, true)
            .unwrap_or_else(|err| panic!("{name}: our output fails validate: {err}"));
        assert_eq!(again, def, "{name}: round trip changed the definition");
        assert_eq!(again.to_xml(), out, "{name}: formatting is not stable");

        // The validate flag and the schema agree on the input.
        let ours = kind
            .parse(&input, true)
            .map(|_| ())
            .map_err(|err| err.message);
        let schema = xmllint(&kind.schema(), &input);
        // Domain validation checks the names libvirt's schema allows, not every value pattern: it never refuses
        // what the schema accepts, but may accept a value the schema's pattern would not.
        if kind == Kind::Domain {
            assert!(
                schema.is_err() || ours.is_ok(),
                "{name}: validate flag says {ours:?}, schema says {schema:?}"
            );
        } else {
            assert_eq!(
                ours.is_ok(),
                schema.is_ok(),
                "{name}: validate flag says {ours:?}, schema says {schema:?}"
            );
        }
    }
}

#[test]
fn libvirt_test_driver_output_is_reproduced_byte_for_byte() {
    // network-default and pool-default are virsh net-dumpxml / pool-dumpxml output of libvirt's test driver.
    for name in ["network-default.in.xml", "pool-default.in.xml"] {
        let input = std::fs::read_to_string(data_dir().join(name)).expect("read");
        let def = Kind::of_file(name).parse(&input, true).expect("parses");
        assert_eq!(def.to_xml(), input, "{name}");
    }
    // The domain dump's <address> and <memballoon> are kept though not interpreted, in libvirt's layout.
    let input =
        std::fs::read_to_string(data_dir().join("domain-libvirt-test.in.xml")).expect("read");
    let def = DomainDef::from_xml(&input, false).expect("parses");
    let out = def.to_xml(&DomainXmlOptions {
        id: Some(1),
        secure: false,
    });
    assert_eq!(out, input);
}

#[test]
fn live_and_secure_domain_output_is_schema_valid() {
    let input = std::fs::read_to_string(data_dir().join("domain-full.in.xml")).expect("read");
    let def = DomainDef::from_xml(&input, true).expect("parses");
    let secure = def.to_xml(&DomainXmlOptions {
        id: Some(42),
        secure: true,
    });
    assert!(secure.starts_with("<domain type='test' id='42'>\n"));
    assert!(secure.contains("passwd='s3cr&apos;t'"));
    assert!(!def.to_xml(&DomainXmlOptions::default()).contains("passwd"));
    xmllint(&Kind::Domain.schema(), &secure).expect("schema");
    assert_eq!(DomainDef::from_xml(&secure, true).expect("reparse"), def);
}

#[test]
fn error_cases_get_libvirts_codes() {
    let dir = data_dir().join("errors");
    let manifest = std::fs::read_to_string(dir.join("cases.txt")).expect("errors/cases.txt");
    let mut count = 0;
    for line in manifest
        .lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
    {
        let fields: Vec<&str> = line.splitn(4, " | ").collect();
        let [file, mode, code, text] = fields[..] else {
            panic!("bad manifest line: {line}");
        };
        let xml =
            std::fs::read_to_string(dir.join(file)).unwrap_or_else(|_| panic!("missing {file}"));
        let kind = Kind::of_file(file);
        let validate = match mode {
            "lax" => false,
            "validate" => true,
            _ => panic!("mode must be lax or validate: {line}"),
        };
        let code: i32 = code.parse().expect("numeric code");
        let err = kind.parse(&xml, validate).expect_err(file);
        assert_eq!(err.code, ErrorCode(code), "{file}: {}", err.message);
        assert!(
            err.message.contains(text),
            "{file}: {:?} lacks {text:?}",
            err.message
        );
        if code == ErrorCode::XML_INVALID_SCHEMA.0 {
            assert!(
                kind.parse(&xml, false).is_ok(),
                "{file}: lax parsing should drop the unknown content"
            );
            assert!(
                xmllint(&kind.schema(), &xml).is_err(),
                "{file}: the schema should refuse it too"
            );
        }
        if code == ErrorCode::XML_ERROR.0 || code == ErrorCode::XML_INVALID_SCHEMA.0 {
            assert!(err.message.starts_with("XML "), "{file}: {}", err.message);
        }
        count += 1;
    }
    assert!(count >= 20, "only {count} error cases");
}

#[test]
fn name_rules() {
    for good in ["a", "vm-1_x.y", "with space", "café", &"n".repeat(255)] {
        assert!(validate_name("domain", good).is_ok(), "{good}");
    }
    for bad in [
        "",
        ".hidden",
        "..",
        "a/b",
        "/",
        "a\nb",
        "a\rb",
        "a\0b",
        &"n".repeat(256),
    ] {
        let err = validate_name("network", bad).expect_err(bad);
        assert_eq!(err.code, ErrorCode::XML_ERROR, "{bad:?}");
        assert!(err.message.contains("network name"), "{}", err.message);
    }
    // Every parser applies them.
    let cases = [
        (Kind::Domain, "<domain type='test'><name>.x</name><memory>1</memory><os><type>hvm</type></os></domain>"),
        (Kind::Network, "<network><name>a/b</name></network>"),
        (Kind::Pool, "<pool type='dir'><name>.x</name><target><path>/p</path></target></pool>"),
        (Kind::Volume, "<volume><name>../x</name><capacity>1</capacity></volume>"),
    ];
    for (kind, xml) in cases {
        assert_eq!(
            kind.parse(xml, false).expect_err(xml).code,
            ErrorCode::XML_ERROR,
            "{xml}"
        );
    }
    let long = format!("<network><name>{}</name></network>", "x".repeat(256));
    assert!(NetworkDef::from_xml(&long, false).is_err());
}

#[test]
fn units() {
    assert_eq!(unit_bytes("KB"), Some(1000));
    assert_eq!(unit_bytes("KiB"), Some(1024));
    assert_eq!(unit_bytes("k"), Some(1024));
    assert_eq!(unit_bytes("bytes"), Some(1));
    assert_eq!(unit_bytes("TB"), Some(1_000_000_000_000));
    assert_eq!(unit_bytes("T"), Some(1 << 40));
    assert_eq!(
        parse_scaled("3", Some("MiB"), ScaleDefault::KiB).unwrap(),
        3072
    );
    assert_eq!(parse_scaled("3", None, ScaleDefault::KiB).unwrap(), 3);
    assert_eq!(parse_scaled("3", None, ScaleDefault::Bytes).unwrap(), 3);
    assert_eq!(
        parse_scaled("1", Some("GB"), ScaleDefault::Bytes).unwrap(),
        1_000_000_000
    );
    assert_eq!(parse_scaled("1", Some("b"), ScaleDefault::KiB).unwrap(), 1);
    assert_eq!(
        parse_scaled("20", Some("EiB"), ScaleDefault::Bytes)
            .unwrap_err()
            .code,
        ErrorCode::OVERFLOW
    );
}

#[test]
fn generated_identifiers() {
    let xml = "<domain type='test'><name>g</name><memory>1</memory><os><type>hvm</type></os>\
               <devices><interface type='user'/><interface type='user'/></devices></domain>";
    let def = DomainDef::from_xml(xml, true).expect("parses");
    assert_eq!(def.uuid.get_version_num(), 4);
    for iface in &def.devices.interfaces {
        let octets = parse_mac(&iface.mac).expect("valid MAC");
        assert_eq!(&octets[..3], &[0x52, 0x54, 0x00]);
    }
    assert_ne!(generate_mac(), generate_mac());
    let out = def.to_xml(&DomainXmlOptions::default());
    xmllint(&Kind::Domain.schema(), &out).expect("schema");
    assert_eq!(DomainDef::from_xml(&out, true).expect("reparse"), def);
}

/// A small deterministic generator (xorshift), so failures reproduce without a fuzzing crate.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % u64::try_from(n.max(1)).expect("fits")).expect("fits")
    }
}

const SPICE: &[&str] = &[
    "<",
    ">",
    "&",
    "'",
    "\"",
    "/",
    "=",
    " ",
    "\n",
    "\0",
    "é",
    "&amp;",
    "&#0;",
    "&#x10FFFF;",
    "&bogus;",
    "<!--",
    "-->",
    "<![CDATA[",
    "]]>",
    "<!DOCTYPE x>",
    "<?pi?>",
    "<x>",
    "</x>",
    "<x/>",
    "-1",
    "99999999999999999999",
    "unit='EiB'",
    "0",
    ":",
    "\u{1}",
    "\u{FFFE}",
];

fn mutate(rng: &mut Rng, text: &str) -> String {
    let boundaries: Vec<usize> = text
        .char_indices()
        .map(|(i, _)| i)
        .chain(std::iter::once(text.len()))
        .collect();
    let pick = |rng: &mut Rng| boundaries[rng.below(boundaries.len())];
    let (mut a, mut b) = (pick(rng), pick(rng));
    if a > b {
        std::mem::swap(&mut a, &mut b);
    }
    match rng.below(4) {
        0 => format!("{}{}", &text[..a], &text[b..]),
        1 => format!(
            "{}{}{}",
            &text[..a],
            SPICE[rng.below(SPICE.len())],
            &text[a..]
        ),
        2 => format!(
            "{}{}{}",
            &text[..a],
            SPICE[rng.below(SPICE.len())],
            &text[b..]
        ),
        _ => format!("{}{}{}", &text[..b], &text[a..b], &text[b..]),
    }
}

/// What the mutation test keeps to check with xmllint afterwards (a sample: xmllint is a process per document).
#[derive(Default)]
struct Samples {
    /// Our formatted output of accepted mutants: must be schema-valid.
    outputs: Vec<(Kind, String)>,
    /// Mutants our validate flag accepted: the schema must accept them too.
    valid_inputs: Vec<(Kind, String)>,
    /// Mutants our validate flag refused as schema-invalid (code 92): the schema must refuse them too.
    invalid_inputs: Vec<(Kind, String, String)>,
    candidates: [usize; 3],
}

/// How many documents of each kind each list keeps, and how often a candidate is taken (1 in SAMPLE_EVERY).
const SAMPLE: usize = 20;
const SAMPLE_EVERY: usize = 3;

impl Samples {
    fn wants<T>(
        list: &[T],
        kind_of: impl Fn(&T) -> Kind,
        kind: Kind,
        candidates: &mut usize,
    ) -> bool {
        *candidates += 1;
        (*candidates).is_multiple_of(SAMPLE_EVERY)
            && list.iter().filter(|item| kind_of(item) == kind).count() < SAMPLE
    }
}

/// Whatever a parser accepts, it must format as something it accepts again, unchanged.
fn check_mutant(kind: Kind, xml: &str, samples: &mut Samples) {
    for validate in [false, true] {
        match kind.parse(xml, validate) {
            Ok(def) => {
                let out = def.to_xml();
                let again = kind.parse(&out, true).unwrap_or_else(|err| {
                    panic!("accepted {xml:?} but refused our output {out:?}: {err}")
                });
                assert_eq!(again, def, "round trip of mutant {xml:?}");
                let fresh = !samples.outputs.iter().any(|(_, seen)| *seen == out);
                if fresh
                    && Samples::wants(
                        &samples.outputs,
                        |item| item.0,
                        kind,
                        &mut samples.candidates[0],
                    )
                {
                    samples.outputs.push((kind, out));
                }
                if validate
                    && Samples::wants(
                        &samples.valid_inputs,
                        |item| item.0,
                        kind,
                        &mut samples.candidates[1],
                    )
                {
                    samples.valid_inputs.push((kind, xml.to_string()));
                }
            }
            Err(err) if validate && err.code == ErrorCode::XML_INVALID_SCHEMA => {
                if Samples::wants(
                    &samples.invalid_inputs,
                    |item| item.0,
                    kind,
                    &mut samples.candidates[2],
                ) {
                    samples
                        .invalid_inputs
                        .push((kind, xml.to_string(), err.message));
                }
            }
            Err(_) => {}
        }
    }
}

#[test]
fn truncated_and_mutated_documents_never_panic() {
    // MODEL_XML_SEED=<n> explores other mutations; the default keeps runs reproducible.
    let seed = std::env::var("MODEL_XML_SEED")
        .ok()
        .and_then(|seed| seed.parse::<u64>().ok())
        .filter(|seed| *seed != 0)
        .unwrap_or(0x9E37_79B9_7F4A_7C15);
    let mut rng = Rng(seed);
    let mut samples = Samples::default();
    for (name, input) in golden_inputs() {
        let own = Kind::of_file(&name);
        for (end, _) in input.char_indices() {
            check_mutant(own, &input[..end], &mut samples);
        }
        for kind in KINDS {
            check_mutant(kind, &input, &mut samples);
        }
        for _ in 0..600 {
            let mut mutant = mutate(&mut rng, &input);
            if rng.below(3) == 0 {
                mutant = mutate(&mut rng, &mutant);
            }
            check_mutant(own, &mutant, &mut samples);
        }
    }
    // What the mutants made us write is valid under the schemas, and the schemas agree with our validate flag.
    for kind in KINDS {
        let counts = (
            samples.outputs.iter().filter(|item| item.0 == kind).count(),
            samples
                .valid_inputs
                .iter()
                .filter(|item| item.0 == kind)
                .count(),
            samples
                .invalid_inputs
                .iter()
                .filter(|item| item.0 == kind)
                .count(),
        );
        assert!(
            counts.0 >= 5 && counts.1 >= 5 && counts.2 >= 5,
            "too few {kind:?} samples: {counts:?}"
        );
    }
    // Networks are checked against libvirt's own schema, whose value patterns (device names, DNS names) a
    // mutated value breaks though the model keeps it: their outputs and accepted inputs are checked by the golden
    // files instead.
    for (kind, out) in samples.outputs.iter().filter(|(k, _)| *k != Kind::Network) {
        xmllint(&kind.schema(), out).unwrap_or_else(|err| panic!("{out}\n{err}"));
    }
    // Domain validation checks names, not libvirt's value patterns (a padded <uuid>): skipped for domains.
    for (kind, xml) in samples
        .valid_inputs
        .iter()
        .filter(|(kind, _)| *kind != Kind::Domain && *kind != Kind::Network)
    {
        xmllint(&kind.schema(), xml)
            .unwrap_or_else(|err| panic!("validate accepted, schema refused:\n{xml}\n{err}"));
    }
    for (kind, xml, ours) in &samples.invalid_inputs {
        assert!(
            xmllint(&kind.schema(), xml).is_err(),
            "validate refused ({ours}), schema accepted:\n{xml}"
        );
    }
}

/// A definition naming what libvirt's domain schema names (metadata, genid, memoryBacking, sysinfo, loader,
/// nvram, hyperv, cpu model and topology, clock timers, pm, hostdev, redirdev, filesystem, channel, tpm, sound,
/// watchdog, rng, panic, seclabel, keywrap, launchSecurity ...): every element and attribute comes back, the output
/// is valid under libvirt's schema, and what the model cannot keep is refused with libvirt's error.
#[test]
fn every_element_of_the_schema_tour_comes_back() {
    let input =
        std::fs::read_to_string(data_dir().join("domain-schema-tour.in.xml")).expect("read");
    xmllint(&Kind::Domain.schema(), &input).expect("the tour is valid libvirt XML");
    let def = DomainDef::from_xml(&input, true).expect("parses with validation");
    let out = def.to_xml(&DomainXmlOptions::default());
    xmllint(&Kind::Domain.schema(), &out).unwrap_or_else(|err| panic!("{out}\n{err}"));
    // Every element and attribute of the input is in the output, attribute values included.
    fn walk(node: &crate::xml::Node, seen: &mut Vec<String>) {
        seen.push(format!("<{}", node.name));
        for (key, value) in &node.attrs {
            seen.push(format!(" {key}="));
            seen.push(super::xml::escape_attr(value));
        }
        let text = node.text.trim();
        if node.children.is_empty() && !text.is_empty() {
            seen.push(super::xml::escape_text(text));
        }
        for child in &node.children {
            walk(child, seen);
        }
    }
    let tree = crate::xml::parse(
        &input,
        &crate::xml::Caps {
            input_bytes: 1 << 20,
            depth: 64,
            elements: 10_000,
            attributes: 64,
            attribute_bytes: 1 << 16,
            element_text_bytes: 1 << 16,
            text_bytes: 1 << 20,
            normalize_line_ends: true,
        },
    )
    .expect("tree");
    let mut seen = Vec::new();
    walk(&tree, &mut seen);
    // The interpreted parts are written in libvirt's normal form (KiB units).
    let normalised = ["<memory unit='KiB'>1048576</memory>"];
    for piece in &seen {
        assert!(
            out.contains(piece.as_str()),
            "{piece} is missing from the output:\n{out}"
        );
    }
    assert!(out.contains(normalised[0]));
    assert_eq!(DomainDef::from_xml(&out, true).expect("reparse"), def);

    // What the model rewrites from its own fields cannot keep what it does not interpret: refused, never dropped.
    let refused = [
        (
            "<cputune>",
            "<cputune><shares>2048</shares>",
            "<shares> in <cputune>",
        ),
        (
            "<memtune>",
            "<memtune><min_guarantee unit='KiB'>1</min_guarantee>",
            "<min_guarantee> in <memtune>",
        ),
        (
            "<numatune>",
            "<numatune><memnode cellid='0' mode='strict' nodeset='0'/>",
            "<memnode> in <numatune>",
        ),
        (
            "<total_bytes_sec>",
            "<total_bytes_sec_max_length>5</total_bytes_sec_max_length><total_bytes_sec>",
            "",
        ),
        (
            "</devices>",
            "</devices><qemu:commandline xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'/>",
            "namespaced element <qemu:commandline> is not supported",
        ),
    ];
    for (anchor, replacement, text) in refused {
        let xml = input.replacen(anchor, replacement, 1);
        match DomainDef::from_xml(&xml, false) {
            Err(err) => {
                assert_eq!(err.code, ErrorCode::CONFIG_UNSUPPORTED, "{}", err.message);
                assert!(err.message.contains(text), "{}", err.message);
            }
            // The iotune maximum lengths are interpreted: kept, not refused.
            Ok(def) => {
                assert!(text.is_empty(), "{replacement} was accepted");
                assert!(def
                    .to_xml(&DomainXmlOptions::default())
                    .contains("<total_bytes_sec_max_length>5</total_bytes_sec_max_length>"));
            }
        }
    }
}

/// The name table the domain parser keeps and refuses by is what schemas/gen_domain_names.py makes of libvirt's
/// schema files in schemas/libvirt (skipped where python3 is missing).
#[test]
fn domain_schema_table_is_generated_from_libvirts_schema() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let Ok(output) = Command::new("python3")
        .arg(root.join("schemas/gen_domain_names.py"))
        .arg(root.join("schemas/libvirt/domain.rng"))
        .output()
    else {
        eprintln!("python3 not installed, skipping");
        return;
    };
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let committed = std::fs::read_to_string(root.join("src/model/domain_schema.rs")).unwrap();
    assert!(
        String::from_utf8_lossy(&output.stdout) == committed,
        "src/model/domain_schema.rs is stale: regenerate it (schemas/README)"
    );
}
