//! The ssh transport as libvirt's client runs it: the `ssh` argv, and the remote command (netcat to the daemon's
//! socket, or `virt-ssh-helper`) with libvirt's two levels of shell quoting.

use crate::uri::{ProxyMode, Uri};

/// Socket of the system daemon on the far host (libvirt's legacy default for every non-unix transport).
pub const REMOTE_SOCKET: &str = "/var/run/libvirt/libvirt-sock";
/// Its read-only sibling.
pub const REMOTE_SOCKET_RO: &str = "/var/run/libvirt/libvirt-sock-ro";

/// What goes wrong building the ssh command.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SshError {
    #[error("netcat path not valid with native proxy mode")]
    NetcatWithNative,
}

/// Characters that make `sh` treat a word specially; a word without any is used unquoted (as libvirt does).
const SHELL_SPECIAL: &[char] = &[
    ' ', '\t', '\n', '\'', '"', '#', '$', '&', '(', ')', '*', ';', '<', '>', '?', '[', '\\', ']',
    '^', '`', '{', '|', '}', '~', '!',
];

/// One level of shell quoting: the word as is when it is plain, else in single quotes with `'` written `'\''`.
pub fn shell_escape(word: &str) -> String {
    if !word.is_empty() && !word.contains(SHELL_SPECIAL) {
        return word.to_string();
    }
    let mut out = String::with_capacity(word.len() + 2);
    out.push('\'');
    for c in word.chars() {
        if c == '\'' {
            out.push_str("'\\''");
        } else {
            out.push(c);
        }
    }
    out.push('\'');
    out
}

/// Two levels: sshd hands the command to the login shell, which runs `sh -c '...'`, which parses it again.
pub fn double_escape(word: &str) -> String {
    shell_escape(&shell_escape(word))
}

/// The word for a path spliced into the `sh -c '...'` script: unchanged when plain (byte-identical to libvirt's
/// command), else closed out of the outer quotes and double-quoted, so no path can break out of the script.
fn script_word(word: &str) -> String {
    if shell_escape(word) == word {
        word.to_string()
    } else {
        format!("'{}'", double_escape(word))
    }
}

/// The remote command libvirt's client sends: `proxy` picks netcat, `virt-ssh-helper`, or the shell test between
/// them; `netcat` (the `netcat=` param) forces netcat in auto mode; `socket` is the far socket for netcat;
/// `helper_uri` is passed to `virt-ssh-helper` (`-r` when `read_only`).
pub fn remote_command(
    proxy: ProxyMode,
    netcat: Option<&str>,
    socket: &str,
    helper_uri: &str,
    read_only: bool,
) -> Result<String, SshError> {
    let nc = double_escape(netcat.unwrap_or("nc"));
    let nc_cmd = format!(
        "if '{nc}' -q 2>&1 | grep \"requires an argument\" >/dev/null 2>&1; then ARG=-q0;else ARG=;fi;'{nc}' $ARG -U {}",
        script_word(socket)
    );
    let helper_cmd = format!(
        "virt-ssh-helper{}'{}'",
        if read_only { " -r " } else { " " },
        double_escape(helper_uri)
    );
    let proxy = match proxy {
        ProxyMode::Auto if netcat.is_some() => ProxyMode::Netcat,
        other => other,
    };
    Ok(match proxy {
        ProxyMode::Auto => format!(
            "sh -c 'which virt-ssh-helper 1>/dev/null 2>&1; if test $? = 0; then     {helper_cmd}; else    {nc_cmd}; fi'"
        ),
        ProxyMode::Netcat => format!("sh -c '{nc_cmd}'"),
        ProxyMode::Native => {
            if netcat.is_some() {
                return Err(SshError::NetcatWithNative);
            }
            format!("sh -c '{helper_cmd}'")
        }
    })
}

/// The ssh invocation for `uri`: (program, arguments). Arguments:
/// `[-p PORT] [-l USER] [-i KEYFILE] -T -e none [-o BatchMode=yes] [-o StrictHostKeyChecking=no] -- HOST CMD`.
pub fn ssh_command(uri: &Uri, read_only: bool) -> Result<(String, Vec<String>), crate::Error> {
    let params = uri.remote_params()?;
    let program = params.command.clone().unwrap_or_else(|| "ssh".into());
    // A socket or netcat given explicitly means the netcat proxy, as libvirt's remote driver decides.
    let proxy = match params.proxy.unwrap_or(ProxyMode::Auto) {
        ProxyMode::Auto if params.socket.is_some() => ProxyMode::Netcat,
        other => other,
    };
    let socket = params.socket.clone().unwrap_or_else(|| {
        if read_only {
            REMOTE_SOCKET_RO
        } else {
            REMOTE_SOCKET
        }
        .to_string()
    });
    let command = remote_command(
        proxy,
        params.netcat.as_deref(),
        &socket,
        &uri.ssh_helper_name(),
        read_only,
    )
    .map_err(|err| {
        crate::Error::with_detail(
            crate::ErrorCode::INVALID_ARG,
            crate::ErrorDomain::REMOTE,
            err.to_string(),
        )
    })?;
    let mut args = Vec::new();
    if let Some(port) = uri.port {
        args.extend(["-p".to_string(), port.to_string()]);
    }
    if let Some(user) = &uri.user {
        args.extend(["-l".to_string(), user.clone()]);
    }
    if let Some(keyfile) = &params.keyfile {
        args.extend(["-i".to_string(), keyfile.clone()]);
    }
    args.extend(["-T", "-e", "none"].map(String::from));
    if params.no_tty {
        args.extend(["-o", "BatchMode=yes"].map(String::from));
    }
    if params.no_verify {
        args.extend(["-o", "StrictHostKeyChecking=no"].map(String::from));
    }
    args.push("--".into());
    args.push(uri.effective_host().to_string());
    args.push(command);
    Ok((program, args))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_match_libvirts() {
        let auto = remote_command(
            ProxyMode::Auto,
            None,
            REMOTE_SOCKET,
            "test:///default",
            false,
        );
        assert_eq!(
            auto.as_deref(),
            Ok("sh -c 'which virt-ssh-helper 1>/dev/null 2>&1; if test $? = 0; then     virt-ssh-helper 'test:///default'; else    if 'nc' -q 2>&1 | grep \"requires an argument\" >/dev/null 2>&1; then ARG=-q0;else ARG=;fi;'nc' $ARG -U /var/run/libvirt/libvirt-sock; fi'")
        );
        let netcat = remote_command(ProxyMode::Netcat, None, "/tmp/s", "test:///default", false);
        assert_eq!(
            netcat.as_deref(),
            Ok("sh -c 'if 'nc' -q 2>&1 | grep \"requires an argument\" >/dev/null 2>&1; then ARG=-q0;else ARG=;fi;'nc' $ARG -U /tmp/s'")
        );
        let native = remote_command(
            ProxyMode::Native,
            None,
            REMOTE_SOCKET,
            "test:///default",
            true,
        );
        assert_eq!(
            native.as_deref(),
            Ok("sh -c 'virt-ssh-helper -r 'test:///default''")
        );
        assert_eq!(
            remote_command(ProxyMode::Native, Some("nc"), REMOTE_SOCKET, "x", false),
            Err(SshError::NetcatWithNative)
        );
    }

    /// The command survives the two shells it goes through: run it through `sh -c` twice as sshd would and check
    /// the path the inner shell sees.
    #[test]
    fn odd_socket_paths_reach_the_inner_shell_intact() {
        for path in [
            "/tmp/a b/sock",
            "/tmp/it's \"here\"/s;rm -rf x",
            "/tmp/$HOME`id`/s",
        ] {
            let script = script_word(path);
            // What the login shell runs is `sh -c '<...> -U WORD'`; emulate with echo in place of nc.
            let command = format!("sh -c 'printf %s {script}'");
            let out = std::process::Command::new("sh")
                .arg("-c")
                .arg(&command)
                .output()
                .expect("sh");
            assert_eq!(String::from_utf8_lossy(&out.stdout), path, "{command}");
        }
    }

    #[test]
    fn argv_follows_the_uri() {
        let uri = Uri::parse(
            "test+ssh://root@example.org:2222/default?keyfile=/k&no_verify=1&no_tty=1&socket=/s",
        )
        .expect("uri");
        let (program, args) = ssh_command(&uri, false).expect("argv");
        assert_eq!(program, "ssh");
        assert_eq!(
            args[..13],
            [
                "-p",
                "2222",
                "-l",
                "root",
                "-i",
                "/k",
                "-T",
                "-e",
                "none",
                "-o",
                "BatchMode=yes",
                "-o",
                "StrictHostKeyChecking=no"
            ]
        );
        assert_eq!(args[13..15], ["--", "example.org"]);
        assert!(args[15].ends_with("-U /s'"), "{}", args[15]);
    }
}
