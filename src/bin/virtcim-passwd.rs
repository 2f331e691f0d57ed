//! `virtcim-passwd`: adds, changes, deletes and lists the users of a credential store (WBEM Basic auth, SASL).

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use nix::sys::termios::{self, LocalFlags, SetArg};
use virtcim::CredentialStore;

const USAGE: &str = "\
Usage: virtcim-passwd [-f FILE] [-r REALM]... USER     add USER, or change USER's password
       virtcim-passwd [-f FILE] -d USER                delete USER
       virtcim-passwd [-f FILE] -l                     list the user names (read-only ones marked)
       virtcim-passwd [-f FILE] --read-only USER       make USER read-only for WBEM (adding it if new)
       virtcim-passwd [-f FILE] --read-write USER      give USER full access again (adding it if new)

The password is read from standard input (its first line) when that is not a terminal; on a terminal it is
asked for twice without echo. -r names a DIGEST-MD5 realm to keep a secret for (default \"virtcim\"; only
when a user is added). FILE defaults to /etc/virtcim/credentials for root, else
~/.config/virtcim/credentials; point the daemon's `credentials_file` at the same file.

A read-only user may enumerate, get, follow associations and pull through WBEM; any method call,
CreateInstance, ModifyInstance, DeleteInstance or SetProperty answers CIM_ERR_ACCESS_DENIED. On an existing
user --read-only and --read-write change only that flag (no password is asked for).

The file keeps salted SCRAM-SHA-256 verifiers and DIGEST-MD5 secrets, never passwords; it is written
atomically with mode 0600.
";

/// What `Set` may do with a user that exists (or not).
#[derive(Clone, Copy, PartialEq)]
enum SetMode {
    AddOnly,
    ChangeOnly,
    AddOrChange,
}

enum Action {
    Set {
        user: String,
        realms: Vec<String>,
        mode: SetMode,
        /// `--read-only` (true) or `--read-write` (false).
        read_only: Option<bool>,
    },
    Delete(String),
    List,
}

fn default_file() -> PathBuf {
    if nix::unistd::geteuid().is_root() {
        return PathBuf::from("/etc/virtcim/credentials");
    }
    let config = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|dir| !dir.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/".into())).join(".config")
        });
    config.join("virtcim/credentials")
}

/// Reads one line from the terminal with echo turned off, restoring the terminal afterwards.
fn prompt_hidden(prompt: &str) -> Result<String, String> {
    let stdin = std::io::stdin();
    let saved = termios::tcgetattr(&stdin).map_err(|e| format!("cannot read the terminal: {e}"))?;
    let mut quiet = saved.clone();
    quiet.local_flags.remove(LocalFlags::ECHO);
    termios::tcsetattr(&stdin, SetArg::TCSANOW, &quiet)
        .map_err(|e| format!("cannot set the terminal: {e}"))?;
    eprint!("{prompt}");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    let read = stdin.lock().read_line(&mut line);
    let _ = termios::tcsetattr(&stdin, SetArg::TCSANOW, &saved);
    eprintln!();
    read.map_err(|e| format!("cannot read the password: {e}"))?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

fn read_password() -> Result<String, String> {
    let password = if std::io::stdin().is_terminal() {
        let first = prompt_hidden("New password: ")?;
        let again = prompt_hidden("Retype new password: ")?;
        if first != again {
            return Err("the passwords do not match".into());
        }
        first
    } else {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| format!("cannot read the password: {e}"))?;
        line.trim_end_matches(['\r', '\n']).to_owned()
    };
    if password.is_empty() {
        return Err("empty password".into());
    }
    Ok(password)
}

/// Parses the command line; `None` means help was asked for.
fn parse(args: Vec<String>) -> Result<Option<(PathBuf, Action)>, String> {
    let mut file = None;
    let mut delete = false;
    let mut list = false;
    let mut realms = Vec::new();
    let mut read_only = None;
    let mut words = Vec::new();
    let mut it = args.into_iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "-f" | "--file" => file = Some(PathBuf::from(it.next().ok_or("-f needs a file name")?)),
            "-r" | "--realm" => realms.push(it.next().ok_or("-r needs a realm")?),
            "-d" | "--delete" => delete = true,
            "-l" | "--list" => list = true,
            "--read-only" | "--read-write" if read_only.is_some() => {
                return Err("give --read-only or --read-write once".into())
            }
            "--read-only" => read_only = Some(true),
            "--read-write" => read_only = Some(false),
            "-h" | "--help" => return Ok(None),
            other if other.starts_with('-') && other.len() > 1 => {
                return Err(format!("unknown option '{other}'; try --help"))
            }
            _ => words.push(arg),
        }
    }
    let usage_error = || Err("expected one USER, -d USER or -l; try --help".to_string());
    let action = if list {
        if delete || read_only.is_some() || !words.is_empty() {
            return usage_error();
        }
        Action::List
    } else if delete {
        match words.as_slice() {
            [user] if read_only.is_none() => Action::Delete(user.clone()),
            _ => return usage_error(),
        }
    } else {
        // The subcommand spellings (`add`, `passwd`, `delete`, `list`) are kept as aliases.
        match words.as_slice() {
            [verb] if verb == "list" => Action::List,
            [verb, user] if verb == "delete" => Action::Delete(user.clone()),
            [verb, user, extra @ ..] if verb == "add" => {
                realms.extend(extra.iter().cloned());
                Action::Set {
                    user: user.clone(),
                    realms,
                    mode: SetMode::AddOnly,
                    read_only,
                }
            }
            [verb, user] if verb == "passwd" => Action::Set {
                user: user.clone(),
                realms,
                mode: SetMode::ChangeOnly,
                read_only,
            },
            [user] => Action::Set {
                user: user.clone(),
                realms,
                mode: SetMode::AddOrChange,
                read_only,
            },
            _ => return usage_error(),
        }
    };
    Ok(Some((file.unwrap_or_else(default_file), action)))
}

fn run(args: Vec<String>) -> Result<(), String> {
    let Some((file, action)) = parse(args)? else {
        print!("{USAGE}");
        return Ok(());
    };
    let mut store = CredentialStore::load(&file).map_err(|e| e.to_string())?;
    match action {
        Action::List => {
            for name in store.user_names() {
                let read_only = store.user(name).is_some_and(|u| u.read_only);
                println!("{name}{}", if read_only { " (read-only)" } else { "" });
            }
            return Ok(());
        }
        Action::Delete(user) => store.remove_user(&user).map_err(|e| e.to_string())?,
        Action::Set {
            user,
            realms: _,
            mode,
            read_only: Some(flag),
        } if mode == SetMode::AddOrChange && store.user(&user).is_some() => {
            store
                .set_read_only(&user, flag)
                .map_err(|e| e.to_string())?;
        }
        Action::Set {
            user,
            realms,
            mode,
            read_only,
        } => {
            let password = read_password()?;
            // `add` on an existing user and `passwd` on a missing one are refused by the store, in its words.
            let change = match mode {
                SetMode::AddOnly => false,
                SetMode::ChangeOnly => true,
                SetMode::AddOrChange => store.user(&user).is_some(),
            };
            if change {
                store.set_password(&user, &password)
            } else {
                let realms: Vec<&str> = realms.iter().map(String::as_str).collect();
                store.add_user(&user, &password, &realms)
            }
            .map_err(|e| e.to_string())?;
            if let Some(flag) = read_only {
                store
                    .set_read_only(&user, flag)
                    .map_err(|e| e.to_string())?;
            }
        }
    }
    if let Some(dir) = file.parent().filter(|dir| !dir.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    store.save(&file).map_err(|e| e.to_string())
}

fn main() -> ExitCode {
    match run(std::env::args().skip(1).collect()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("virtcim-passwd: {message}");
            ExitCode::FAILURE
        }
    }
}
