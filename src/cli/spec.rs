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
const VOL: Opt = data("vol", "volume name, key or path");
const VOL_POOL: Opt = string("pool", "pool name or uuid");
const FILE_DOMAIN: Opt = data("file", "the domain XML file");
const VALIDATE: Opt = flag("validate", "check the XML against the schema first");
const AFFECT: [Opt; 3] = [
    flag("config", "affect next boot"),
    flag("live", "affect running domain"),
    flag("current", "affect current domain"),
];
const SHUTDOWN_MODE: Opt = string(
    "mode",
    "how: acpi, agent, initctl, signal or paravirt (comma-separated)",
);

/// Every command the CLI knows, in help order within each group.
pub const COMMANDS: &[Command] = &[
    // ---- domains ----
    Command {
        name: "autostart",
        group: Group::Domain,
        summary: "autostart a domain",
        opts: &[DOMAIN, flag("disable", "turn autostart off")],
    },
    Command {
        name: "create",
        group: Group::Domain,
        summary: "create a domain from an XML file",
        opts: &[
            FILE_DOMAIN,
            flag("paused", "start with the vCPUs paused"),
            flag(
                "autodestroy",
                "destroy the domain when this client disconnects",
            ),
            VALIDATE,
        ],
    },
    Command {
        name: "define",
        group: Group::Domain,
        summary: "define a domain from an XML file without starting it",
        opts: &[FILE_DOMAIN, VALIDATE],
    },
    Command {
        name: "destroy",
        group: Group::Domain,
        summary: "stop a domain at once",
        opts: &[DOMAIN, flag("graceful", "do not kill the process forcibly")],
    },
    Command {
        name: "dumpxml",
        group: Group::Domain,
        summary: "print a domain's XML",
        opts: &[
            DOMAIN,
            flag("inactive", "the persistent definition, not the live one"),
            flag("security-info", "include secrets such as passwords"),
            flag(
                "update-cpu",
                "describe the guest CPU as the host provides it",
            ),
            flag("migratable", "XML fit for migration"),
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
        summary: "set a domain's maximum memory",
        opts: &[
            DOMAIN,
            number(
                "size",
                "maximum memory: a number with an optional unit (KiB if none)",
            ),
            AFFECT[0],
            AFFECT[1],
            AFFECT[2],
        ],
    },
    Command {
        name: "setmem",
        group: Group::Domain,
        summary: "set a domain's current memory",
        opts: &[
            DOMAIN,
            number(
                "size",
                "memory: a number with an optional unit (KiB if none)",
            ),
            AFFECT[0],
            AFFECT[1],
            AFFECT[2],
        ],
    },
    Command {
        name: "setvcpus",
        group: Group::Domain,
        summary: "set a domain's vCPU count",
        opts: &[
            DOMAIN,
            number("count", "number of virtual CPUs"),
            flag("maximum", "change the maximum (needs --config)"),
            AFFECT[0],
            AFFECT[1],
            AFFECT[2],
        ],
    },
    Command {
        name: "shutdown",
        group: Group::Domain,
        summary: "ask a domain to shut down",
        opts: &[DOMAIN, SHUTDOWN_MODE],
    },
    Command {
        name: "start",
        group: Group::Domain,
        summary: "start a defined, inactive domain",
        opts: &[
            data("domain", "domain name or uuid"),
            flag("paused", "start with the vCPUs paused"),
            flag(
                "autodestroy",
                "destroy the domain when this client disconnects",
            ),
            flag(
                "bypass-cache",
                "bypass the file system cache while restoring",
            ),
            flag("force-boot", "boot afresh, ignoring any managed save image"),
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
        summary: "remove a domain's persistent definition",
        opts: &[
            DOMAIN,
            flag("managed-save", "also remove the managed save image"),
            flag("snapshots-metadata", "also remove snapshot metadata"),
            flag("nvram", "also remove the NVRAM file"),
            flag("keep-nvram", "keep the NVRAM file"),
        ],
    },
    Command {
        name: "domid",
        group: Group::Domain,
        summary: "print a domain's id",
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
        summary: "print a domain's name",
        opts: &[data("domain", "domain id or uuid")],
    },
    Command {
        name: "domstate",
        group: Group::Domain,
        summary: "domain state",
        opts: &[DOMAIN, flag("reason", "add the reason for the state")],
    },
    Command {
        name: "domuuid",
        group: Group::Domain,
        summary: "print a domain's UUID",
        opts: &[data("domain", "domain id or name")],
    },
    Command {
        name: "list",
        group: Group::Domain,
        summary: "list domains",
        opts: &[
            flag("inactive", "list inactive domains"),
            flag("all", "list active and inactive domains"),
            flag("transient", "list transient domains"),
            flag("persistent", "list persistent domains"),
            flag("state-running", "list domains in running state"),
            flag("state-paused", "list domains in paused state"),
            flag("state-shutoff", "list domains in shutoff state"),
            flag("state-other", "list domains in other states"),
            flag("autostart", "list domains with autostart enabled"),
            flag("no-autostart", "list domains with autostart disabled"),
            flag("uuid", "print only UUIDs"),
            flag("name", "list domain names only"),
            flag("id", "list domain IDs only"),
            flag("table", "print a table (the default)"),
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
        summary: "print the connection URI",
        opts: &[],
    },
    Command {
        name: "version",
        group: Group::Host,
        summary: "show version",
        opts: &[flag("daemon", "also print the daemon's version")],
    },
    // ---- networks ----
    Command {
        name: "net-autostart",
        group: Group::Network,
        summary: "autostart a network",
        opts: &[NETWORK, flag("disable", "turn autostart off")],
    },
    Command {
        name: "net-define",
        group: Group::Network,
        summary: "define (or redefine) a persistent network from an XML file",
        opts: &[data("file", "the network XML file"), VALIDATE],
    },
    Command {
        name: "net-destroy",
        group: Group::Network,
        summary: "stop a network",
        opts: &[NETWORK],
    },
    Command {
        name: "net-dumpxml",
        group: Group::Network,
        summary: "print a network's XML",
        opts: &[
            NETWORK,
            flag("inactive", "the persistent definition, not the live one"),
        ],
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
            flag("all", "list active and inactive networks"),
            flag("persistent", "list persistent networks"),
            flag("transient", "list transient networks"),
            flag("autostart", "list networks with autostart enabled"),
            flag("no-autostart", "list networks with autostart disabled"),
            flag("uuid", "print only UUIDs"),
            flag("name", "list network names only"),
            flag("table", "print a table (the default)"),
        ],
    },
    Command {
        name: "net-start",
        group: Group::Network,
        summary: "start a defined, inactive network",
        opts: &[NETWORK],
    },
    Command {
        name: "net-undefine",
        group: Group::Network,
        summary: "remove a network's persistent definition",
        opts: &[NETWORK],
    },
    // ---- host interfaces ----
    Command {
        name: "iface-dumpxml",
        group: Group::Network,
        summary: "print a host interface's XML",
        opts: &[
            data("interface", "interface name or MAC address"),
            flag("inactive", "the persistent definition, not the live one"),
        ],
    },
    Command {
        name: "iface-list",
        group: Group::Network,
        summary: "list host interfaces",
        opts: &[
            flag("inactive", "list inactive interfaces"),
            flag("all", "list inactive & active interfaces"),
        ],
    },
    // ---- storage pools ----
    Command {
        name: "pool-autostart",
        group: Group::Pool,
        summary: "autostart a pool",
        opts: &[POOL, flag("disable", "turn autostart off")],
    },
    Command {
        name: "pool-build",
        group: Group::Pool,
        summary: "build a pool",
        opts: &[
            POOL,
            flag("no-overwrite", "refuse to overwrite existing data"),
            flag("overwrite", "overwrite existing data"),
        ],
    },
    Command {
        name: "pool-define",
        group: Group::Pool,
        summary: "define (or redefine) a persistent storage pool from an XML file",
        opts: &[data("file", "the pool XML file"), VALIDATE],
    },
    Command {
        name: "pool-destroy",
        group: Group::Pool,
        summary: "stop a pool",
        opts: &[POOL],
    },
    Command {
        name: "pool-dumpxml",
        group: Group::Pool,
        summary: "print a pool's XML",
        opts: &[
            POOL,
            flag("inactive", "the persistent definition, not the live one"),
        ],
    },
    Command {
        name: "pool-info",
        group: Group::Pool,
        summary: "storage pool information",
        opts: &[POOL, flag("bytes", "print sizes in bytes")],
    },
    Command {
        name: "pool-list",
        group: Group::Pool,
        summary: "list pools",
        opts: &[
            flag("inactive", "list inactive pools"),
            flag("all", "list active and inactive pools"),
            flag("transient", "list transient pools"),
            flag("persistent", "list persistent pools"),
            flag("autostart", "list pools with autostart enabled"),
            flag("no-autostart", "list pools with autostart disabled"),
            flag("details", "add state, persistence and sizes"),
            flag("uuid", "print only UUIDs"),
            flag("name", "print only names"),
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
        summary: "start a defined, inactive pool",
        opts: &[
            POOL,
            flag("build", "build the pool before starting it"),
            flag("no-overwrite", "refuse to overwrite existing data"),
            flag("overwrite", "overwrite existing data"),
        ],
    },
    Command {
        name: "pool-undefine",
        group: Group::Pool,
        summary: "remove an inactive pool's definition",
        opts: &[POOL],
    },
    // ---- storage volumes ----
    Command {
        name: "vol-create-as",
        group: Group::Volume,
        summary: "create a volume from a name, size and format",
        opts: &[
            data("pool", "pool name"),
            data("name", "name of the volume"),
            data(
                "capacity",
                "capacity: a number with an optional unit (bytes if none)",
            ),
            string(
                "allocation",
                "allocation: a number with an optional unit (bytes if none)",
            ),
            string("format", "image format (raw, qcow2, ...)"),
            flag(
                "prealloc-metadata",
                "allocate only the image metadata (qcow2)",
            ),
            flag(
                "print-xml",
                "print the volume XML instead of creating the volume",
            ),
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
        summary: "print a volume's XML",
        opts: &[VOL, VOL_POOL],
    },
    Command {
        name: "vol-info",
        group: Group::Volume,
        summary: "storage vol information",
        opts: &[VOL, VOL_POOL, flag("bytes", "print sizes in bytes")],
    },
    Command {
        name: "vol-list",
        group: Group::Volume,
        summary: "list vols",
        opts: &[POOL, flag("details", "add type and sizes")],
    },
    Command {
        name: "vol-path",
        group: Group::Volume,
        summary: "print a volume's path",
        opts: &[data("vol", "volume name or key"), VOL_POOL],
    },
    // ---- the shell itself ----
    Command {
        name: "help",
        group: Group::Shell,
        summary: "print help",
        opts: &[string("command", "a command name or a group keyword")],
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
        out.push_str(&group_help(group));
    }
    out
}

/// One group's commands, as `help KEYWORD` prints them.
pub fn group_help(group: Group) -> String {
    let mut out = format!(" {}:\n", group.title());
    for command in COMMANDS.iter().filter(|c| c.group == group) {
        out.push_str(&format!("    {:<30} {}\n", command.name, command.summary));
    }
    out.push('\n');
    out
}

/// The group whose help keyword is `keyword` ("domain", "network", ...).
pub fn find_group(keyword: &str) -> Option<Group> {
    Group::ALL
        .into_iter()
        .find(|g| g.title().contains(&format!("(help keyword '{keyword}')")))
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
        assert!(page.contains("    --reason         add the reason for the state\n"));
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
