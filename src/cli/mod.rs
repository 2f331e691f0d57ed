//! The `virtcim` command-line client: virsh's command names, options, output and exit codes.
//!
//! `run` reads the global options (`-c URI`, `-r`, `-q`), then either one command's argv or, when a single
//! argument remains, a virsh command string (`"define x.xml; start x"`). Each command is found in [`spec`] and
//! parsed the way virsh parses it before anything runs; the driver is opened once (`crate::connect`), wrapped
//! read-only for `-r`. Output goes to stdout; failures print virsh's `error: ` lines on stderr and make the exit
//! code 1. As virsh does outside its interactive shell, a blank line follows the output of every command that ran
//! (unless `-q`). Formats live in `format` (pure), commands in `host`, `domain`, `network` and `storage`.

mod domain;
mod format;
mod host;
mod interface;
mod network;
mod prompt;
mod spec;
mod storage;
#[cfg(test)]
mod tests;

use crate::connect::{connect, ConnectOptions};
use crate::driver::Connection;
use crate::error::Error;
use spec::Parsed;
use std::io::Write;

/// The URI used when neither `-c` nor the environment names one.
const FALLBACK_URI: &str = "test:///default";

/// The libvirt release whose virsh this CLI follows (printed by `version` when the driver names none).
const LIBVIRT_API_VERSION: u64 = 9_000_000;

/// Why a command failed: the lines virsh prints, each to be prefixed with `error: `.
#[derive(Debug)]
pub(crate) struct Failure(Vec<String>);

impl Failure {
    /// One line of our own.
    pub(crate) fn msg(text: impl Into<String>) -> Self {
        Self(vec![text.into()])
    }

    /// virsh's two-line form: what we tried, then the driver's message.
    pub(crate) fn context(text: impl Into<String>, err: &Error) -> Self {
        Self(vec![text.into(), err.message.clone()])
    }
}

impl From<Error> for Failure {
    fn from(err: Error) -> Self {
        Self(vec![err.message])
    }
}

pub(crate) type CmdResult = Result<(), Failure>;

/// What every command gets: the open driver, the URI it was opened with and the output being built.
pub(crate) struct Session {
    pub driver: Connection,
    pub uri: String,
    pub out: String,
    /// `-q`: tables lose their header.
    pub quiet: bool,
}

impl Session {
    pub(crate) fn print(&mut self, text: &str) {
        self.out.push_str(text);
    }

    /// Prints a list table, headerless in quiet mode.
    pub(crate) fn table(&mut self, header: &[&str], rows: &[Vec<String>]) {
        let text = format::table_with((!self.quiet).then_some(header), rows);
        self.out.push_str(&text);
    }

    /// A success message ("Domain 'x' started"): quiet mode leaves it out, as virsh does.
    pub(crate) fn notice(&mut self, text: impl AsRef<str>) {
        if !self.quiet {
            self.line(text);
        }
    }

    pub(crate) fn line(&mut self, text: impl AsRef<str>) {
        self.out.push_str(text.as_ref());
        self.out.push('\n');
    }

    /// Prints an XML document as it came, making sure it ends the line.
    pub(crate) fn xml(&mut self, xml: &str) {
        self.out.push_str(xml);
        if !xml.ends_with('\n') {
            self.out.push('\n');
        }
    }
}

/// Reads an XML file named on the command line, failing with libvirt's wording.
pub(crate) fn read_file(path: &str) -> Result<String, Failure> {
    std::fs::read_to_string(path).map_err(|err| {
        Failure::msg(format!(
            "Failed to open file '{path}': {}",
            crate::error::io_error_text(&err)
        ))
    })
}

/// Options that come before the command name.
#[derive(Debug, Default)]
struct Global {
    uri: Option<String>,
    read_only: bool,
    quiet: bool,
    help: bool,
    version: bool,
}

fn parse_global(args: &[String]) -> Result<(Global, usize), String> {
    let mut global = Global::default();
    let mut i = 0;
    while i < args.len() {
        let arg = args[i].as_str();
        match arg {
            "-c" | "--connect" => {
                let Some(uri) = args.get(i + 1) else {
                    return Err("option '-c'/'--connect' requires an argument".to_string());
                };
                global.uri = Some(uri.clone());
                i += 2;
                continue;
            }
            "-r" | "--readonly" => global.read_only = true,
            "-q" | "--quiet" => global.quiet = true,
            "-h" | "--help" => global.help = true,
            "-v" | "--version" => global.version = true,
            "--" => return Ok((global, i + 1)),
            _ => {
                if let Some(uri) = arg.strip_prefix("--connect=") {
                    global.uri = Some(uri.to_string());
                } else if let Some(uri) = arg.strip_prefix("-c").filter(|u| !u.is_empty()) {
                    global.uri = Some(uri.to_string());
                } else if arg.starts_with('-') && arg.len() > 1 {
                    return Err(format!("unsupported option '{arg}'. See --help."));
                } else {
                    return Ok((global, i));
                }
            }
        }
        i += 1;
    }
    Ok((global, i))
}

/// The URI to open: `-c`, else `$VIRTCIM_DEFAULT_URI`, else `$LIBVIRT_DEFAULT_URI`, else `test:///default`.
fn default_uri() -> String {
    ["VIRTCIM_DEFAULT_URI", "LIBVIRT_DEFAULT_URI"]
        .iter()
        .filter_map(|name| std::env::var(name).ok())
        .find(|uri| !uri.is_empty())
        .unwrap_or_else(|| FALLBACK_URI.to_string())
}

fn print_errors(lines: &[String]) {
    let mut stderr = std::io::stderr().lock();
    for line in lines {
        let _ = writeln!(stderr, "error: {line}");
    }
}

fn print_out(text: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(text.as_bytes());
    let _ = stdout.flush();
}

/// Runs the CLI with `args` (without the program name); returns the process exit code.
pub fn run(args: Vec<String>) -> i32 {
    let (global, start) = match parse_global(&args) {
        Ok(parsed) => parsed,
        Err(message) => {
            print_errors(&[message]);
            return 1;
        }
    };
    if global.version {
        print_out(&format!("{}\n", version_text(LIBVIRT_API_VERSION)));
        return 0;
    }
    prompt::install_terminal_prompt();
    let rest = &args[start..];
    if rest.is_empty() {
        print_out(&global_help());
        return if global.help { 0 } else { 1 };
    }
    // Like virsh: one argument is a command string ("define x.xml; start x"), several are one command's argv.
    let words = if rest.len() == 1 {
        match spec::split_command_string(&rest[0]) {
            Ok(words) => words,
            Err(message) => {
                print_errors(&[message]);
                return 1;
            }
        }
    } else {
        vec![rest.to_vec()]
    };
    let mut commands = Vec::with_capacity(words.len());
    for argv in &words {
        let Some((name, options)) = argv.split_first() else {
            continue;
        };
        let Some(command) = spec::find(name) else {
            print_errors(&[format!("unknown command: '{name}'")]);
            return 1;
        };
        match spec::parse(command, options) {
            Ok(parsed) => commands.push(parsed),
            Err(message) => {
                print_errors(&[message]);
                return 1;
            }
        }
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            print_errors(&[format!("cannot start the async runtime: {err}")]);
            return 1;
        }
    };
    runtime.block_on(run_all(global, commands))
}

/// Runs the parsed commands in order, opening the connection when the first one needs it. The exit code is the
/// last command's, as with virsh.
async fn run_all(global: Global, commands: Vec<Parsed>) -> i32 {
    let trailer = if global.quiet { "" } else { "\n" };
    let uri = global.uri.clone().unwrap_or_else(default_uri);
    let mut driver: Option<Connection> = None;
    let mut code = 0;
    for parsed in &commands {
        if parsed.help || parsed.command.name == "help" {
            code = match help(parsed) {
                Ok(text) => {
                    print_out(&format!("{text}{trailer}"));
                    0
                }
                Err(failure) => {
                    print_errors(&failure.0);
                    print_out(trailer);
                    1
                }
            };
            continue;
        }
        let open = match &driver {
            Some(open) => open.clone(),
            None => {
                let options = ConnectOptions {
                    read_only: global.read_only,
                    state_dir: None,
                };
                match connect(&uri, &options).await {
                    Ok(open) => {
                        driver = Some(open.clone());
                        open
                    }
                    Err(err) => {
                        print_errors(&[
                            "failed to connect to the hypervisor".to_string(),
                            err.message,
                        ]);
                        return 1;
                    }
                }
            }
        };
        let outcome = run_command(open, uri.clone(), parsed, global.quiet).await;
        print_out(&outcome.stdout);
        if !outcome.stderr.is_empty() {
            let _ = std::io::stderr()
                .lock()
                .write_all(outcome.stderr.as_bytes());
        }
        print_out(trailer);
        code = outcome.code;
    }
    if let Some(open) = driver {
        let _ = open.close().await;
    }
    code
}

/// What one command printed and its exit code, before anything reaches the terminal.
#[derive(Debug)]
struct Outcome {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs a parsed command on an open driver. The blank line virsh prints after a command is left to the caller.
async fn run_command(driver: Connection, uri: String, parsed: &Parsed, quiet: bool) -> Outcome {
    let mut session = Session {
        driver,
        uri,
        out: String::new(),
        quiet,
    };
    let result = dispatch(&mut session, parsed).await;
    let (code, stderr) = match result {
        Ok(()) => (0, String::new()),
        Err(failure) => (
            1,
            failure
                .0
                .iter()
                .map(|line| format!("error: {line}\n"))
                .collect(),
        ),
    };
    Outcome {
        code,
        stdout: session.out,
        stderr,
    }
}

async fn dispatch(s: &mut Session, p: &Parsed) -> CmdResult {
    match p.command.name {
        "version" => host::version(s, p).await,
        "hostname" => host::hostname(s).await,
        "uri" => host::uri(s).await,
        "nodeinfo" => host::nodeinfo(s).await,
        "capabilities" => host::capabilities(s).await,
        "list" => domain::list(s, p).await,
        "dominfo" => domain::dominfo(s, p).await,
        "domstate" => domain::domstate(s, p).await,
        "domid" => domain::domid(s, p).await,
        "domuuid" => domain::domuuid(s, p).await,
        "domname" => domain::domname(s, p).await,
        "dumpxml" => domain::dumpxml(s, p).await,
        "define" => domain::define(s, p).await,
        "create" => domain::create(s, p).await,
        "undefine" => domain::undefine(s, p).await,
        "start" => domain::start(s, p).await,
        "destroy" => domain::destroy(s, p).await,
        "shutdown" => domain::shutdown(s, p).await,
        "reboot" => domain::reboot(s, p).await,
        "suspend" => domain::suspend(s, p).await,
        "resume" => domain::resume(s, p).await,
        "autostart" => domain::autostart(s, p).await,
        "setmem" => domain::setmem(s, p, false).await,
        "setmaxmem" => domain::setmem(s, p, true).await,
        "setvcpus" => domain::setvcpus(s, p).await,
        "net-list" => network::list(s, p).await,
        "net-info" => network::info(s, p).await,
        "net-dumpxml" => network::dumpxml(s, p).await,
        "net-define" => network::define(s, p).await,
        "net-start" => network::start(s, p).await,
        "net-destroy" => network::destroy(s, p).await,
        "net-undefine" => network::undefine(s, p).await,
        "net-autostart" => network::autostart(s, p).await,
        "iface-list" => interface::list(s, p).await,
        "iface-dumpxml" => interface::dumpxml(s, p).await,
        "pool-list" => storage::pool_list(s, p).await,
        "pool-info" => storage::pool_info(s, p).await,
        "pool-dumpxml" => storage::pool_dumpxml(s, p).await,
        "pool-define" => storage::pool_define(s, p).await,
        "pool-start" => storage::pool_start(s, p).await,
        "pool-destroy" => storage::pool_destroy(s, p).await,
        "pool-undefine" => storage::pool_undefine(s, p).await,
        "pool-autostart" => storage::pool_autostart(s, p).await,
        "pool-build" => storage::pool_build(s, p).await,
        "pool-refresh" => storage::pool_refresh(s, p).await,
        "vol-list" => storage::vol_list(s, p).await,
        "vol-create-as" => storage::vol_create_as(s, p).await,
        "vol-delete" => storage::vol_delete(s, p).await,
        "vol-info" => storage::vol_info(s, p).await,
        "vol-path" => storage::vol_path(s, p).await,
        "vol-dumpxml" => storage::vol_dumpxml(s, p).await,
        other => Err(Failure::msg(format!("unknown command: '{other}'"))),
    }
}

/// `help [COMMAND|GROUP]` and `COMMAND --help`.
fn help(p: &Parsed) -> Result<String, Failure> {
    if p.command.name != "help" {
        return Ok(spec::command_help(p.command));
    }
    let Some(topic) = p.value("command") else {
        return Ok(spec::overview());
    };
    if let Some(command) = spec::find(topic) {
        return Ok(spec::command_help(command));
    }
    if let Some(group) = spec::find_group(topic) {
        return Ok(spec::group_help(group));
    }
    Err(Failure::msg(format!(
        "command or command group '{topic}' doesn't exist"
    )))
}

fn global_help() -> String {
    format!(
        "\nvirtcim [options]... [<command_string>]\n\
         virtcim [options]... <command> [args...]\n\n  \
         options:\n    \
         -c | --connect=URI      hypervisor connection URI\n    \
         -h | --help             this help\n    \
         -q | --quiet            quiet mode\n    \
         -r | --readonly         connect readonly\n    \
         -v | --version          print the version\n\n  \
         commands (non interactive mode):\n\n{}",
        spec::overview()
    )
}

/// "9.0.0" from libvirt's version number encoding.
pub(crate) fn version_text(version: u64) -> String {
    format!(
        "{}.{}.{}",
        version / 1_000_000,
        version / 1_000 % 1_000,
        version % 1_000
    )
}

#[cfg(test)]
mod parse_tests {
    use super::*;

    fn args(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| w.to_string()).collect()
    }

    #[test]
    fn global_options() {
        let (global, start) =
            parse_global(&args(&["-c", "test:///default", "-r", "list", "--all"])).expect("ok");
        assert_eq!(global.uri.as_deref(), Some("test:///default"));
        assert!(global.read_only);
        assert_eq!(start, 3);
        let (global, start) =
            parse_global(&args(&["--connect=x:///", "--readonly", "uri"])).expect("ok");
        assert_eq!(global.uri.as_deref(), Some("x:///"));
        assert!(global.read_only);
        assert_eq!(start, 2);
        assert_eq!(
            parse_global(&args(&["--bogus", "list"])).expect_err("bad"),
            "unsupported option '--bogus'. See --help."
        );
        assert_eq!(
            parse_global(&args(&["-c"])).expect_err("bad"),
            "option '-c'/'--connect' requires an argument"
        );
    }

    #[test]
    fn versions() {
        assert_eq!(version_text(9_000_000), "9.0.0");
        assert_eq!(version_text(2), "0.0.2");
        assert_eq!(version_text(10_002_003), "10.2.3");
    }
}
