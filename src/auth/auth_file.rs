//! libvirt's client authentication file (`auth.conf`): where it is looked for, its keyfile syntax, and the lookup
//! of a credential for one host.
//!
//! The file holds `[credentials-NAME]` groups with `authname=` / `password=` items and `[auth-SERVICE-HOST]`
//! groups whose `credentials=NAME` picks one of them. HOST is the URI's host (`localhost` when it has none), with
//! `[auth-SERVICE-default]` as the fallback. A missing `[auth-…]` group or a missing item is "no answer" (the
//! caller may prompt); a `credentials=` naming no group, or a malformed file, is an error.

use std::path::{Path, PathBuf};

use thiserror::Error as ThisError;

use crate::error::{Error, ErrorCode, ErrorDomain};

/// The service name libvirt's remote driver looks credentials up for.
pub const LIBVIRT_SERVICE: &str = "libvirt";

/// Why an auth file could not be used.
#[derive(Debug, ThisError, Clone, PartialEq, Eq)]
pub enum AuthFileError {
    #[error("cannot read auth file '{path}': {reason}")]
    Read { path: String, reason: String },
    #[error("{path}:{line}: {reason}")]
    Syntax {
        path: String,
        line: usize,
        reason: String,
    },
    #[error("Missing item 'credentials' in group '{group}' in '{path}'")]
    MissingCredentials { group: String, path: String },
    #[error("Missing group 'credentials-{name}' referenced from group '{group}' in '{path}'")]
    MissingGroup {
        name: String,
        group: String,
        path: String,
    },
}

impl From<AuthFileError> for Error {
    fn from(err: AuthFileError) -> Self {
        match err {
            AuthFileError::Read { .. } => {
                Error::new(ErrorCode::SYSTEM_ERROR, ErrorDomain::AUTH, err.to_string())
            }
            _ => Error::with_detail(ErrorCode::CONF_SYNTAX, ErrorDomain::AUTH, err.to_string()),
        }
    }
}

/// A parsed auth file: its groups in file order, each with its items in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthFile {
    path: String,
    groups: Vec<(String, Vec<(String, String)>)>,
}

/// What an auth file says about one host; either part may be absent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileCredentials {
    pub authname: Option<String>,
    pub password: Option<String>,
}

impl AuthFile {
    /// Reads and parses the file at `path`.
    pub fn load(path: &Path) -> Result<Self, AuthFileError> {
        let text = std::fs::read_to_string(path).map_err(|err| AuthFileError::Read {
            path: path.display().to_string(),
            reason: crate::error::io_error_text(&err),
        })?;
        Self::parse(&path.display().to_string(), &text)
    }

    /// Parses keyfile text; `path` only names the file in errors.
    pub fn parse(path: &str, text: &str) -> Result<Self, AuthFileError> {
        let syntax = |line: usize, reason: &str| AuthFileError::Syntax {
            path: path.to_string(),
            line,
            reason: reason.to_string(),
        };
        let mut groups: Vec<(String, Vec<(String, String)>)> = Vec::new();
        for (index, raw) in text.lines().enumerate() {
            let number = index + 1;
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if let Some(rest) = line.strip_prefix('[') {
                let Some(name) = rest.strip_suffix(']') else {
                    return Err(syntax(
                        number,
                        "cannot find end of group name, expected ']'",
                    ));
                };
                if name.is_empty() || name.contains(['[', ']']) {
                    return Err(syntax(number, "malformed group name"));
                }
                if groups.iter().any(|(existing, _)| existing == name) {
                    return Err(syntax(number, &format!("duplicate group '{name}'")));
                }
                groups.push((name.to_string(), Vec::new()));
                continue;
            }
            let Some((key, value)) = line.split_once('=') else {
                return Err(syntax(number, "expected 'key=value' or '[group]'"));
            };
            let key = key.trim();
            if key.is_empty()
                || !key
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err(syntax(number, &format!("malformed key '{key}'")));
            }
            let Some((_, items)) = groups.last_mut() else {
                return Err(syntax(number, "key/value pair outside of a group"));
            };
            // As in a keyfile, a repeated key replaces the earlier value.
            let value = value.trim().to_string();
            match items.iter_mut().find(|(existing, _)| existing == key) {
                Some(item) => item.1 = value,
                None => items.push((key.to_string(), value)),
            }
        }
        Ok(Self {
            path: path.to_string(),
            groups,
        })
    }

    fn group(&self, name: &str) -> Option<&[(String, String)]> {
        self.groups
            .iter()
            .find(|(group, _)| group == name)
            .map(|(_, items)| items.as_slice())
    }

    /// The value of item `credname` ("authname", "password", ...) for `host` (`None` = localhost) and `service`.
    pub fn lookup(
        &self,
        service: &str,
        host: Option<&str>,
        credname: &str,
    ) -> Result<Option<&str>, AuthFileError> {
        let host = host.unwrap_or("localhost");
        let specific = format!("auth-{service}-{host}");
        let fallback = format!("auth-{service}-default");
        let Some((group_name, group)) = self
            .group(&specific)
            .map(|group| (specific, group))
            .or_else(|| self.group(&fallback).map(|group| (fallback, group)))
        else {
            return Ok(None);
        };
        let Some((_, name)) = group.iter().find(|(key, _)| key == "credentials") else {
            return Err(AuthFileError::MissingCredentials {
                group: group_name,
                path: self.path.clone(),
            });
        };
        let Some(credentials) = self.group(&format!("credentials-{name}")) else {
            return Err(AuthFileError::MissingGroup {
                name: name.clone(),
                group: group_name,
                path: self.path.clone(),
            });
        };
        Ok(credentials
            .iter()
            .find(|(key, _)| key == credname)
            .map(|(_, value)| value.as_str()))
    }

    /// The `authname` and `password` the file gives the libvirt service on `host`.
    pub fn credentials(&self, host: Option<&str>) -> Result<FileCredentials, AuthFileError> {
        let get = |name: &str| {
            self.lookup(LIBVIRT_SERVICE, host, name)
                .map(|value| value.map(str::to_string))
        };
        Ok(FileCredentials {
            authname: get("authname")?,
            password: get("password")?,
        })
    }
}

/// Which auth file a client reads, in libvirt's order: `LIBVIRT_AUTH_FILE` (used even if it does not exist, so
/// the read fails loudly), the URI's `authfile=`, then `$XDG_CONFIG_HOME/libvirt/auth.conf` (default
/// `~/.config/libvirt/auth.conf`) and `/etc/libvirt/auth.conf` when readable. `None`: no file at all.
pub fn auth_file_path(uri_authfile: Option<&str>) -> Option<PathBuf> {
    let env = |name: &str| std::env::var_os(name).filter(|value| !value.is_empty());
    locate(
        env("LIBVIRT_AUTH_FILE").map(PathBuf::from),
        uri_authfile,
        env("XDG_CONFIG_HOME")
            .map(PathBuf::from)
            .or_else(|| env("HOME").map(|home| PathBuf::from(home).join(".config"))),
        Path::new("/etc/libvirt/auth.conf"),
    )
}

/// [`auth_file_path`] with its inputs given, for tests.
fn locate(
    from_env: Option<PathBuf>,
    uri_authfile: Option<&str>,
    config_home: Option<PathBuf>,
    system: &Path,
) -> Option<PathBuf> {
    if let Some(path) = from_env {
        return Some(path);
    }
    if let Some(path) = uri_authfile {
        return Some(PathBuf::from(path));
    }
    let readable = |path: &Path| std::fs::File::open(path).is_ok();
    if let Some(user) = config_home.map(|dir| dir.join("libvirt/auth.conf")) {
        if readable(&user) {
            return Some(user);
        }
    }
    readable(system).then(|| system.to_path_buf())
}

/// The credentials for `host` from the auth file the client would use; empty when there is no file.
pub fn file_credentials(
    uri_authfile: Option<&str>,
    host: Option<&str>,
) -> Result<FileCredentials, AuthFileError> {
    match auth_file_path(uri_authfile) {
        Some(path) => AuthFile::load(&path)?.credentials(host),
        None => Ok(FileCredentials::default()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
# comment
[credentials-test]
authname=fred
password=123456

[credentials-prod]
authname = bar
password = letmein=now

[auth-libvirt-test1.example.com]
credentials=test

[auth-libvirt-localhost]
credentials=prod

[auth-libvirt-default]
credentials=test
";

    #[test]
    fn hosts_pick_their_group_then_the_default() {
        let file = AuthFile::parse("auth.conf", SAMPLE).unwrap();
        let for_host = |host| file.credentials(host).unwrap();
        assert_eq!(
            for_host(Some("test1.example.com")),
            FileCredentials {
                authname: Some("fred".into()),
                password: Some("123456".into())
            }
        );
        // No host means localhost; values keep everything after the first '='.
        assert_eq!(
            for_host(None),
            FileCredentials {
                authname: Some("bar".into()),
                password: Some("letmein=now".into())
            }
        );
        assert_eq!(
            for_host(Some("elsewhere")).authname.as_deref(),
            Some("fred")
        );
        assert_eq!(
            file.lookup(LIBVIRT_SERVICE, Some("elsewhere"), "realm")
                .unwrap(),
            None
        );
    }

    #[test]
    fn no_matching_group_is_no_answer() {
        let file = AuthFile::parse(
            "a",
            "[credentials-x]\nauthname=a\n[auth-libvirt-h]\ncredentials=x\n",
        )
        .unwrap();
        assert_eq!(
            file.credentials(Some("other")).unwrap(),
            FileCredentials::default()
        );
        assert_eq!(file.credentials(Some("h")).unwrap().password, None);
    }

    #[test]
    fn dangling_references_are_errors() {
        let file =
            AuthFile::parse("/x/auth.conf", "[auth-libvirt-default]\ncredentials=gone\n").unwrap();
        let err = file.credentials(Some("h")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Missing group 'credentials-gone' referenced from group 'auth-libvirt-default' in '/x/auth.conf'"
        );
        let file = AuthFile::parse("/x/auth.conf", "[auth-libvirt-h]\nfoo=bar\n").unwrap();
        let err = file.credentials(Some("h")).unwrap_err();
        assert!(
            err.to_string().contains("Missing item 'credentials'"),
            "{err}"
        );
        assert_eq!(Error::from(err).code, ErrorCode::CONF_SYNTAX);
    }

    #[test]
    fn malformed_files_name_the_line() {
        let cases = [
            ("authname=x\n", 1, "outside of a group"),
            ("[credentials-x\nauthname=x\n", 1, "expected ']'"),
            ("[a]\n\njust words\n", 3, "expected 'key=value'"),
            ("[a]\n=x\n", 2, "malformed key"),
            ("[a]\nbad key=x\n", 2, "malformed key"),
            ("[]\n", 1, "malformed group name"),
            ("[a]\n[a]\n", 2, "duplicate group 'a'"),
        ];
        for (text, line, reason) in cases {
            let err = AuthFile::parse("f.conf", text).unwrap_err();
            let AuthFileError::Syntax {
                line: got,
                reason: why,
                ..
            } = &err
            else {
                panic!("{text:?}: {err}");
            };
            assert_eq!(*got, line, "{text:?}: {err}");
            assert!(why.contains(reason), "{text:?}: {err}");
            assert!(err.to_string().starts_with(&format!("f.conf:{line}: ")));
        }
    }

    #[test]
    fn search_order_env_then_uri_then_user_then_system() {
        let tmp = tempfile::tempdir().unwrap();
        let user_dir = tmp.path().join("config");
        let system = tmp.path().join("etc-auth.conf");
        let env = Some(PathBuf::from("/env/auth.conf"));
        // The environment wins even over a URI parameter, and a named file need not exist.
        assert_eq!(
            locate(env, Some("/uri.conf"), Some(user_dir.clone()), &system),
            Some(PathBuf::from("/env/auth.conf"))
        );
        assert_eq!(
            locate(None, Some("/uri.conf"), Some(user_dir.clone()), &system),
            Some(PathBuf::from("/uri.conf"))
        );
        // Neither default file exists yet.
        assert_eq!(locate(None, None, Some(user_dir.clone()), &system), None);
        std::fs::write(&system, "").unwrap();
        assert_eq!(
            locate(None, None, Some(user_dir.clone()), &system),
            Some(system.clone())
        );
        std::fs::create_dir_all(user_dir.join("libvirt")).unwrap();
        std::fs::write(user_dir.join("libvirt/auth.conf"), "").unwrap();
        assert_eq!(
            locate(None, None, Some(user_dir.clone()), &system),
            Some(user_dir.join("libvirt/auth.conf"))
        );
    }

    #[test]
    fn a_missing_named_file_is_a_read_error() {
        let err = AuthFile::load(Path::new("/nonexistent/auth.conf")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot read auth file '/nonexistent/auth.conf': No such file or directory"
        );
    }
}
