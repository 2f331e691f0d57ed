//! The command table (names, options, help) and virsh's rules for turning argv into a parsed command.

use std::collections::HashMap;

/// How an option takes its value.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    /// A flag: `--name`, no value.
    Bool,
    /// A required value that may also be given positionally (`[--domain] <string>`).
    Data,
    /// An optional string value; positional arguments fill it after the required ones (as virsh does).
    Str,
    /// A required number that may be given positionally (`[--size] <number>`).
    Number,
}

/// One option of a command.
#[derive(Clone, Copy, Debug)]
pub struct Opt {
    pub name: &'static str,
    pub kind: Kind,
    pub help: &'static str,
}

/// One command: its name, help group, one-line summary and options in virsh's order.
#[derive(Clone, Copy, Debug)]
pub struct Command {
    pub name: &'static str,
    pub group: Group,
    pub summary: &'static str,
    pub opts: &'static [Opt],
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Group {
    Domain,
    Host,
    Network,
    Pool,
    Volume,
    Shell,
}

impl Group {
    pub const ALL: [Group; 6] = [
        Group::Domain,
        Group::Host,
        Group::Network,
        Group::Pool,
        Group::Volume,
        Group::Shell,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Group::Domain => "Domain Management (help keyword 'domain')",
            Group::Host => "Host and Hypervisor (help keyword 'host')",
            Group::Network => "Networking (help keyword 'network')",
            Group::Pool => "Storage Pool (help keyword 'pool')",
            Group::Volume => "Storage Volume (help keyword 'volume')",
            Group::Shell => "Virsh itself (help keyword 'virsh')",
        }
    }
}

const fn flag(name: &'static str, help: &'static str) -> Opt {
    Opt {
        name,
        kind: Kind::Bool,
        help,
    }
}
const fn data(name: &'static str, help: &'static str) -> Opt {
    Opt {
        name,
        kind: Kind::Data,
        help,
    }
}
const fn string(name: &'static str, help: &'static str) -> Opt {
    Opt {
        name,
        kind: Kind::Str,
        help,
    }
}
const fn number(name: &'static str, help: &'static str) -> Opt {
    Opt {
        name,
        kind: Kind::Number,
        help,
    }
}

const DOMAIN: Opt = data("domain", "domain name, id or uuid");
const NETWORK: Opt = data("network", "network name or uuid");
const POOL: Opt = data("pool", "pool name or uuid");
const VOL: Opt = data("vol", "vol name, key or path");
const VOL_POOL: Opt = string("pool", "pool name or uuid");
const FILE_DOMAIN: Opt = data("file", "file containing an XML domain description");
const VALIDATE: Opt = flag("validate", "validate the XML against the schema");
const AFFECT: [Opt; 3] = [
    flag("config", "affect next boot"),
    flag("live", "affect running domain"),
    flag("current", "affect current domain"),
];
const SHUTDOWN_MODE: Opt = string("mode", "shutdown mode: acpi|agent|initctl|signal|paravirt");

/// Every command the CLI knows, in help order within each group.
pub const COMMANDS: &[Command] = &[
    // ---- domains ----
    Command {
        name: "autostart",
        group: Group::Domain,
        summary: "autostart a domain",
        opts: &[DOMAIN, flag("disable", "disable autostarting")],
    },
    Command {
        name: "create",
        group: Group::Domain,
        summary: "create a domain from an XML file",
        opts: &[
            FILE_DOMAIN,
            flag("paused", "leave the guest paused after creation"),
            flag(
                "autodestroy",
                "automatically destroy the guest when the client disconnects",
            ),
            VALIDATE,
        ],
    },
    Command {
        name: "define",
        group: Group::Domain,
        summary: "define (but don't start) a domain from an XML file",
        opts: &[FILE_DOMAIN, VALIDATE],
    },
    Command {
        name: "destroy",
        group: Group::Domain,
        summary: "destroy (stop) a domain",
        opts: &[DOMAIN, flag("graceful", "terminate gracefully")],
    },
    Command {
        name: "dumpxml",
        group: Group::Domain,
        summary: "domain information in XML",
        opts: &[
            DOMAIN,
            flag("inactive", "show inactive defined XML"),
            flag("security-info", "include security sensitive information in XML dump"),
            flag("update-cpu", "update guest CPU according to host CPU"),
            flag("migratable", "provide XML suitable for migrations"),
        ],
    },
    Command {
        name: "reboot",
        group: Group::Domain,
        summary: "reboot a domain",
        opts: &[DOMAIN, SHUTDOWN_MODE],
    },
    Command {
        name: "resume",
        group: Group::Domain,
        summary: "resume a domain",
        opts: &[DOMAIN],
    },
    Command {
        name: "setmaxmem",
        group: Group::Domain,
        summary: "change maximum memory limit",
        opts: &[
            DOMAIN,
            number("size", "new maximum memory size, as scaled integer (default KiB)"),
            AFFECT[0],
            AFFECT[1],
            AFFECT[2],
        ],
    },
    Command {
        name: "setmem",
        group: Group::Domain,
        summary: "change memory allocation",
        opts: &[
            DOMAIN,
            number("size", "new memory size, as scaled integer (default KiB)"),
            AFFECT[0],
            AFFECT[1],
            AFFECT[2],
        ],
    },
    Command {
        name: "setvcpus",
        group: Group::Domain,
        summary: "change number of virtual CPUs",
        opts: &[
            DOMAIN,
            number("count", "number of virtual CPUs"),
            flag("maximum", "set maximum limit on next boot"),
            AFFECT[0],
            AFFECT[1],
            AFFECT[2],
        ],
    },
    Command {
        name: "shutdown",
        group: Group::Domain,
        summary: "gracefully shutdown a domain",
        opts: &[DOMAIN, SHUTDOWN_MODE],
    },
    Command {
        name: "start",
        group: Group::Domain,
        summary: "start a (previously defined) inactive domain",
        opts: &[
            data("domain", "name of the inactive domain"),
            flag("paused", "leave the guest paused after creation"),
            flag(
                "autodestroy",
                "automatically destroy the guest when the client disconnects",
            ),
            flag("bypass-cache", "avoid file system cache when loading"),
            flag("force-boot", "force fresh boot by discarding any managed save"),
        ],
    },
    Command {
        name: "suspend",
        group: Group::Domain,
        summary: "suspend a domain",
        opts: &[DOMAIN],
    },
    Command {
        name: "undefine",
        group: Group::Domain,
        summary: "undefine a domain",
        opts: &[
            DOMAIN,
            flag("managed-save", "remove domain managed state file"),
            flag("snapshots-metadata", "remove all domain snapshot metadata"),
            flag("nvram", "remove nvram file"),
            flag("keep-nvram", "keep nvram file"),
        ],
    },
    Command {
        name: "domid",
        group: Group::Domain,
        summary: "convert a domain name or UUID to domain id",
        opts: &[data("domain", "domain name or uuid")],
    },
    Command {
        name: "dominfo",
        group: Group::Domain,
        summary: "domain information",
        opts: &[DOMAIN],
    },
    Command {
        name: "domname",
        group: Group::Domain,
        summary: "convert a domain id or UUID to domain name",
        opts: &[data("domain", "domain id or uuid")],
    },
    Command {
        name: "domstate",
        group: Group::Domain,
        summary: "domain state",
        opts: &[DOMAIN, flag("reason", "also print reason for the state")],
    },
    Command {
        name: "domuuid",
        group: Group::Domain,
        summary: "convert a domain name or id to domain UUID",
        opts: &[data("domain", "domain id or name")],
    },
    Command {
        name: "list",
        group: Group::Domain,
        summary: "list domains",
        opts: &[
            flag("inactive", "list inactive domains"),
            flag("all", "list inactive & active domains"),
            flag("transient", "list transient domains"),
            flag("persistent", "list persistent domains"),
            flag("state-running", "list domains in running state"),
            flag("state-paused", "list domains in paused state"),
            flag("state-shutoff", "list domains in shutoff state"),
            flag("state-other", "list domains in other states"),
            flag("autostart", "list domains with autostart enabled"),
            flag("no-autostart", "list domains with autostart disabled"),
            flag("uuid", "list uuid's only"),
            flag("name", "list domain names only"),
            flag("id", "list domain IDs only"),
            flag("table", "list table (default)"),
        ],
    },
    // ---- host ----
    Command {
        name: "capabilities",
        group: Group::Host,
        summary: "capabilities",
        opts: &[],
    },
    Command {
        name: "hostname",
        group: Group::Host,
        summary: "print the hypervisor hostname",
        opts: &[],
    },
    Command {
        name: "nodeinfo",
        group: Group::Host,
        summary: "node information",
        opts: &[],
    },
    Command {
        name: "uri",
        group: Group::Host,
        summary: "print the hypervisor canonical URI",
        opts: &[],
    },
    Command {
        name: "version",
        group: Group::Host,
        summary: "show version",
        opts: &[flag("daemon", "report daemon version too")],
    },
    // ---- networks ----
    Command {
        name: "net-autostart",
        group: Group::Network,
        summary: "autostart a network",
        opts: &[NETWORK, flag("disable", "disable autostarting")],
    },
    Command {
        name: "net-define",
        group: Group::Network,
        summary: "define an inactive persistent virtual network or modify an existing persistent one from an XML file",
        opts: &[data("file", "file containing an XML network description"), VALIDATE],
    },
    Command {
        name: "net-destroy",
        group: Group::Network,
        summary: "destroy (stop) a network",
        opts: &[NETWORK],
    },
    Command {
        name: "net-dumpxml",
        group: Group::Network,
        summary: "network information in XML",
        opts: &[NETWORK, flag("inactive", "show inactive defined XML")],
    },
    Command {
        name: "net-info",
        group: Group::Network,
        summary: "network information",
        opts: &[NETWORK],
    },
    Command {
        name: "net-list",
        group: Group::Network,
        summary: "list networks",
        opts: &[
            flag("inactive", "list inactive networks"),
            flag("all", "list inactive & active networks"),
            flag("persistent", "list persistent networks"),
            flag("transient", "list transient networks"),
            flag("autostart", "list networks with autostart enabled"),
            flag("no-autostart", "list networks with autostart disabled"),
            flag("uuid", "list uuid's only"),
            flag("name", "list network names only"),
            flag("table", "list table (default)"),
        ],
    },
    Command {
        name: "net-start",
        group: Group::Network,
        summary: "start a (previously defined) inactive network",
        opts: &[NETWORK],
    },
    Command {
        name: "net-undefine",
        group: Group::Network,
        summary: "undefine a persistent network",
        opts: &[NETWORK],
    },
    // ---- storage pools ----
    Command {
        name: "pool-autostart",
        group: Group::Pool,
        summary: "autostart a pool",
        opts: &[POOL, flag("disable", "disable autostarting")],
    },
    Command {
        name: "pool-build",
        group: Group::Pool,
        summary: "build a pool",
        opts: &[
            POOL,
            flag("no-overwrite", "do not overwrite any existing data"),
            flag("overwrite", "overwrite any existing data"),
        ],
    },
    Command {
        name: "pool-define",
        group: Group::Pool,
        summary: "define an inactive persistent storage pool or modify an existing persistent one from an XML file",
        opts: &[data("file", "file containing an XML pool description"), VALIDATE],
    },
    Command {
        name: "pool-destroy",
        group: Group::Pool,
        summary: "destroy (stop) a pool",
        opts: &[POOL],
    },
    Command {
        name: "pool-dumpxml",
        group: Group::Pool,
        summary: "pool information in XML",
        opts: &[POOL, flag("inactive", "show inactive defined XML")],
    },
    Command {
        name: "pool-info",
        group: Group::Pool,
        summary: "storage pool information",
        opts: &[POOL, flag("bytes", "Return pool info in bytes")],
    },
    Command {
        name: "pool-list",
        group: Group::Pool,
        summary: "list pools",
        opts: &[
            flag("inactive", "list inactive pools"),
            flag("all", "list inactive & active pools"),
            flag("transient", "list transient pools"),
            flag("persistent", "list persistent pools"),
            flag("autostart", "list pools with autostart enabled"),
            flag("no-autostart", "list pools with autostart disabled"),
            flag("details", "display extended details for pools"),
            flag("uuid", "list UUID of active pools only"),
            flag("name", "list name of active pools only"),
        ],
    },
    Command {
        name: "pool-refresh",
        group: Group::Pool,
        summary: "refresh a pool",
        opts: &[POOL],
    },
    Command {
        name: "pool-start",
        group: Group::Pool,
        summary: "start a (previously defined) inactive pool",
        opts: &[
            POOL,
            flag("build", "build the pool as normal"),
            flag("no-overwrite", "do not overwrite any existing data"),
            flag("overwrite", "overwrite any existing data"),
        ],
    },
    Command {
        name: "pool-undefine",
        group: Group::Pool,
        summary: "undefine an inactive pool",
        opts: &[POOL],
    },
    // ---- storage volumes ----
    Command {
        name: "vol-create-as",
        group: Group::Volume,
        summary: "create a volume from a set of args",
        opts: &[
            data("pool", "pool name"),
            data("name", "name of the volume"),
            data("capacity", "size of the vol, as scaled integer (default bytes)"),
            string("allocation", "initial allocation size, as scaled integer (default bytes)"),
            string("format", "file format type raw,bochs,qcow,qcow2,qed,vmdk"),
            flag(
                "prealloc-metadata",
                "preallocate metadata (for qcow2 instead of full allocation)",
            ),
            flag("print-xml", "print XML document, but don't define/create"),
        ],
    },
    Command {
        name: "vol-delete",
        group: Group::Volume,
        summary: "delete a vol",
        opts: &[VOL, VOL_POOL],
    },
    Command {
        name: "vol-dumpxml",
        group: Group::Volume,
        summary: "vol information in XML",
        opts: &[VOL, VOL_POOL],
    },
    Command {
        name: "vol-info",
        group: Group::Volume,
        summary: "storage vol information",
        opts: &[
            VOL,
            VOL_POOL,
            flag("bytes", "sizes are represented in bytes rather than pretty units"),
        ],
    },
    Command {
        name: "vol-list",
        group: Group::Volume,
        summary: "list vols",
        opts: &[POOL, flag("details", "display extended details for volumes")],
    },
    Command {
        name: "vol-path",
        group: Group::Volume,
        summary: "returns the volume path for a given volume name or key",
        opts: &[data("vol", "volume name or key"), VOL_POOL],
    },
    // ---- the shell itself ----
    Command {
        name: "help",
        group: Group::Shell,
        summary: "print help",
        opts: &[string(
            "command",
            "Prints global help, command specific help, or help for a group of related commands",
        )],
    },
];

/// Finds a command by name.
pub fn find(name: &str) -> Option<&'static Command> {
    COMMANDS.iter().find(|c| c.name == name)
}

/// A command line parsed against its [`Command`]: which flags were given and the values of the others.
#[derive(Debug)]
pub struct Parsed {
    pub command: &'static Command,
    values: HashMap<&'static str, String>,
    flags: Vec<&'static str>,
    /// `--help` was among the options: print the command's help instead of running it.
    pub help: bool,
}

impl Parsed {
    pub fn flag(&self, name: &str) -> bool {
        self.flags.contains(&name)
    }

    pub fn value(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// A value the parser has already proved present (a `Data` or `Number` option).
    pub fn required(&self, name: &str) -> &str {
        self.value(name).unwrap_or_default()
    }
}

fn kind_word(kind: Kind) -> &'static str {
    match kind {
        Kind::Number => "number",
        _ => "string",
    }
}

/// Parses the arguments that follow a command name, as virsh does: `--opt value`, `--opt=value`, flags, and bare
/// words that fill the command's value options in order. Errors are virsh's messages, without the `error: `.
pub fn parse(command: &'static Command, args: &[String]) -> Result<Parsed, String> {
    let mut values: HashMap<&'static str, String> = HashMap::new();
    let mut flags: Vec<&'static str> = Vec::new();
    let mut help = false;
    let mut only_data = false;
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        if !only_data && arg == "--" {
            only_data = true;
            continue;
        }
        if !only_data && arg.len() > 2 && arg.starts_with("--") {
            let body = &arg[2..];
            let (name, inline) = match body.split_once('=') {
                Some((name, value)) => (name, Some(value.to_string())),
                None => (body, None),
            };
            if name == "help" {
                help = true;
                continue;
            }
            let Some(opt) = command.opts.iter().find(|o| o.name == name) else {
                return Err(format!(
                    "command '{}' doesn't support option --{name}",
                    command.name
                ));
            };
            if flags.contains(&opt.name) || values.contains_key(opt.name) {
                return Err(format!("option --{} already seen", opt.name));
            }
            if opt.kind == Kind::Bool {
                if inline.is_some() {
                    return Err(format!("invalid '=' after option --{}", opt.name));
                }
                flags.push(opt.name);
                continue;
            }
            let value = match inline {
                Some(value) => value,
                None => match iter.next() {
                    Some(value) => value.clone(),
                    None => {
                        return Err(format!(
                            "expected syntax: --{} <{}>",
                            opt.name,
                            kind_word(opt.kind)
                        ))
                    }
                },
            };
            values.insert(opt.name, value);
            continue;
        }
        let slot = command
            .opts
            .iter()
            .find(|o| o.kind != Kind::Bool && !values.contains_key(o.name));
        match slot {
            Some(opt) => {
                values.insert(opt.name, arg.clone());
            }
            None => return Err(format!("unexpected data '{arg}'")),
        }
    }
    if !help {
        for opt in command.opts {
            if matches!(opt.kind, Kind::Data | Kind::Number) && !values.contains_key(opt.name) {
                return Err(format!(
                    "command '{}' requires <{}> option",
                    command.name, opt.name
                ));
            }
        }
    }
    Ok(Parsed {
        command,
        values,
        flags,
        help,
    })
}

/// Splits a virsh command string into commands and their words: blanks separate words, `;` (outside quotes)
/// separates commands, single quotes keep text as is, double quotes and backslashes escape as in a shell.
pub fn split_command_string(text: &str) -> Result<Vec<Vec<String>>, String> {
    let mut commands = Vec::new();
    let mut words: Vec<String> = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' | '\n' => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            ';' => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
                if !words.is_empty() {
                    commands.push(std::mem::take(&mut words));
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => return Err("missing '".to_string()),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c) => word.push(c),
                            None => return Err("dangling \\".to_string()),
                        },
                        Some(c) => word.push(c),
                        None => return Err("missing \"".to_string()),
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some(c) => word.push(c),
                    None => return Err("dangling \\".to_string()),
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    if !words.is_empty() {
        commands.push(words);
    }
    Ok(commands)
}

/// The help page of one command, laid out as virsh lays it out.
pub fn command_help(command: &Command) -> String {
    let mut synopsis = command.name.to_string();
    for opt in command.opts {
        let part = match opt.kind {
            Kind::Bool => format!(" [--{}]", opt.name),
            Kind::Data | Kind::Number => format!(" <{}>", opt.name),
            Kind::Str => format!(" [--{} <string>]", opt.name),
        };
        synopsis.push_str(&part);
    }
    let mut out = format!(
        "  NAME\n    {} - {}\n\n  SYNOPSIS\n    {}\n\n",
        command.name, command.summary, synopsis
    );
    if !command.opts.is_empty() {
        out.push_str("  OPTIONS\n");
        for opt in command.opts {
            let left = match opt.kind {
                Kind::Bool => format!("--{}", opt.name),
                Kind::Data => format!("[--{}] <string>", opt.name),
                Kind::Number => format!("[--{}] <number>", opt.name),
                Kind::Str => format!("--{} <string>", opt.name),
            };
            out.push_str(&format!("    {left:<15}  {}\n", opt.help));
        }
        out.push('\n');
    }
    out
}

/// The list of all commands by group.
pub fn overview() -> String {
    let mut out = String::from("Grouped commands:\n\n");
    for group in Group::ALL {
        out.push_str(&format!(" {}:\n", group.title()));
        for command in COMMANDS.iter().filter(|c| c.group == group) {
            out.push_str(&format!("    {:<30} {}\n", command.name, command.summary));
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| w.to_string()).collect()
    }

    fn cmd(name: &str) -> &'static Command {
        find(name).expect("known command")
    }

    #[test]
    fn positional_and_named_values_are_the_same() {
        for words in [
            &["test"][..],
            &["--domain", "test"],
            &["--domain=test"],
            &["--", "test"],
        ] {
            let parsed = parse(cmd("start"), &args(words)).expect("parses");
            assert_eq!(parsed.value("domain"), Some("test"));
        }
    }

    #[test]
    fn bare_words_fill_value_options_in_order() {
        let parsed = parse(cmd("vol-info"), &args(&["v1", "pool1", "--bytes"])).expect("parses");
        assert_eq!(parsed.value("vol"), Some("v1"));
        assert_eq!(parsed.value("pool"), Some("pool1"));
        assert!(parsed.flag("bytes"));
        let parsed = parse(cmd("setmem"), &args(&["--size", "5", "dom"])).expect("parses");
        assert_eq!(parsed.value("domain"), Some("dom"));
        assert_eq!(parsed.value("size"), Some("5"));
    }

    #[test]
    fn errors_read_like_virsh() {
        let cases: &[(&str, &[&str], &str)] = &[
            (
                "list",
                &["--bogus"],
                "command 'list' doesn't support option --bogus",
            ),
            ("start", &[], "command 'start' requires <domain> option"),
            ("start", &["--domain"], "expected syntax: --domain <string>"),
            (
                "setmem",
                &["d", "--size"],
                "expected syntax: --size <number>",
            ),
            ("domstate", &["a", "b"], "unexpected data 'b'"),
            (
                "start",
                &["--dom", "x"],
                "command 'start' doesn't support option --dom",
            ),
            ("list", &["--all", "--all"], "option --all already seen"),
            ("setmem", &["d"], "command 'setmem' requires <size> option"),
        ];
        for (name, words, message) in cases {
            let err = parse(cmd(name), &args(words)).expect_err("must fail");
            assert_eq!(&err, message, "{name} {words:?}");
        }
    }

    #[test]
    fn command_strings_split_like_virsh() {
        let split =
            split_command_string("define 'a b.xml'; start  demo ;list --all;").expect("splits");
        assert_eq!(
            split,
            vec![
                args(&["define", "a b.xml"]),
                args(&["start", "demo"]),
                args(&["list", "--all"]),
            ]
        );
        assert_eq!(
            split_command_string(r#"domid "te\"st""#).expect("splits"),
            vec![args(&["domid", "te\"st"])]
        );
        assert!(split_command_string("domid 'open").is_err());
    }

    #[test]
    fn help_flag_skips_required_checks() {
        let parsed = parse(cmd("start"), &args(&["--help"])).expect("parses");
        assert!(parsed.help);
    }

    #[test]
    fn help_page_layout() {
        let page = command_help(cmd("domstate"));
        assert!(page.starts_with(
            "  NAME\n    domstate - domain state\n\n  SYNOPSIS\n    domstate <domain> [--reason]\n"
        ));
        assert!(page.contains("    [--domain] <string>  domain name, id or uuid\n"));
        assert!(page.contains("    --reason         also print reason for the state\n"));
    }

    #[test]
    fn command_names_are_unique() {
        for (i, a) in COMMANDS.iter().enumerate() {
            for b in &COMMANDS[i + 1..] {
                assert_ne!(a.name, b.name);
            }
        }
    }
}
