//! Asking the user on the terminal for credentials the auth file does not give (libvirt's default auth callback):
//! the user name with echo, the password without.

use std::io::{BufRead, IsTerminal, Write};

use nix::sys::termios::{self, LocalFlags, SetArg};

use crate::remote::{set_credential_prompt, CredentialRequest};

/// Registers the terminal prompt for remote connections, when stdin and stderr are a terminal.
pub(crate) fn install_terminal_prompt() {
    if std::io::stdin().is_terminal() && std::io::stderr().is_terminal() {
        set_credential_prompt(Box::new(ask));
    }
}

fn ask(request: CredentialRequest<'_>) -> Option<String> {
    let answer = match request {
        CredentialRequest::Username { host } => {
            read_line(&format!("Enter username for {host}: "), true)
        }
        CredentialRequest::Password { user, host } => {
            read_line(&format!("Enter {user}'s password for {host}: "), false)
        }
    };
    answer.filter(|text| !text.is_empty())
}

/// One line from stdin after `prompt` on stderr; without `echo` the terminal echo is off while typing (and restored
/// even when reading fails).
fn read_line(prompt: &str, echo: bool) -> Option<String> {
    let stdin = std::io::stdin();
    let saved = if echo {
        None
    } else {
        let saved = termios::tcgetattr(&stdin).ok()?;
        let mut quiet = saved.clone();
        quiet.local_flags.remove(LocalFlags::ECHO);
        termios::tcsetattr(&stdin, SetArg::TCSANOW, &quiet).ok()?;
        Some(saved)
    };
    let mut stderr = std::io::stderr();
    let _ = write!(stderr, "{prompt}");
    let _ = stderr.flush();
    let mut line = String::new();
    let read = stdin.lock().read_line(&mut line);
    if let Some(saved) = saved {
        let _ = termios::tcsetattr(&stdin, SetArg::TCSANOW, &saved);
        let _ = writeln!(stderr);
    }
    read.ok()
        .filter(|count| *count > 0)
        .map(|_| line.trim_end_matches(['\r', '\n']).to_string())
}
