//! `virtcim-passwd`: adds, changes, deletes and lists the users of a credential store (WBEM Basic auth, SASL).

use std::io::BufRead;
use std::path::PathBuf;
use std::process::ExitCode;

use virtcim::CredentialStore;

const USAGE: &str = "\
Usage: virtcim-passwd -f FILE COMMAND

Commands:
  add USER [REALM...]   add a user; the password is read from the first line of standard input
                        (DIGEST-MD5 secrets are kept for each REALM, default \"virtcim\")
  passwd USER           change a user's password (read from standard input)
  delete USER           remove a user
  list                  print the user names

The file keeps salted SCRAM-SHA-256 verifiers and DIGEST-MD5 secrets, never passwords; it is written
atomically with mode 0600.
";

fn read_password() -> Result<String, String> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| format!("cannot read the password: {e}"))?;
    let password = line.trim_end_matches(['\r', '\n']).to_owned();
    if password.is_empty() {
        return Err("empty password".into());
    }
    Ok(password)
}

fn run(args: Vec<String>) -> Result<(), String> {
    let mut file: Option<PathBuf> = None;
    let mut rest = Vec::new();
    let mut it = args.into_iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "-f" | "--file" => file = Some(it.next().ok_or("-f needs a file name")?.into()),
            "-h" | "--help" => {
                print!("{USAGE}");
                return Ok(());
            }
            _ => rest.push(arg),
        }
    }
    let file = file.ok_or("no credentials file (-f FILE); try --help")?;
    let mut store = CredentialStore::load(&file).map_err(|e| e.to_string())?;
    let words: Vec<&str> = rest.iter().map(String::as_str).collect();
    match words.as_slice() {
        ["add", user, realms @ ..] => {
            let password = read_password()?;
            store
                .add_user(user, &password, realms)
                .map_err(|e| e.to_string())?;
        }
        ["passwd", user] => {
            let password = read_password()?;
            store
                .set_password(user, &password)
                .map_err(|e| e.to_string())?;
        }
        ["delete", user] => store.remove_user(user).map_err(|e| e.to_string())?,
        ["list"] => {
            for name in store.user_names() {
                println!("{name}");
            }
            return Ok(());
        }
        _ => return Err("unknown or incomplete command; try --help".into()),
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
