//! SASL on the client side of a remote connection: which authentication to run, credentials from libvirt's auth
//! file or a prompt, the AUTH_SASL_* exchange, and the security layer it may install.

use super::*;

/// Picks the authentication method as libvirt's client does: the one the URI asks for if offered, else the
/// server's first. Only "none" is implemented so far.
/// The authentication type to run: the server's first offer, or the one `auth=` asks for if offered.
pub(super) fn check_auth(offered: &[i32], wanted: Option<&AuthChoice>) -> Result<i32> {
    let name = |kind: i32| match kind {
        auth_type::NONE => "none",
        auth_type::SASL => "sasl",
        auth_type::POLKIT => "polkit",
        _ => "unknown",
    };
    let chosen = match wanted {
        None => offered.first().copied().unwrap_or(auth_type::NONE),
        Some(choice) => {
            let (kind, label) = match choice {
                AuthChoice::Sasl { .. } => (auth_type::SASL, "sasl".to_string()),
                AuthChoice::Polkit => (auth_type::POLKIT, "polkit".to_string()),
                AuthChoice::Other(other) => (-1, other.clone()),
            };
            if !offered.contains(&kind) {
                return Err(Error::with_detail(
                    ErrorCode::AUTH_FAILED,
                    ErrorDomain::RPC,
                    format!("requested authentication type {label} rejected"),
                ));
            }
            kind
        }
    };
    match chosen {
        auth_type::NONE | auth_type::SASL => Ok(chosen),
        other => Err(Error::with_detail(
            ErrorCode::AUTH_UNAVAILABLE,
            ErrorDomain::RPC,
            format!(
                "authentication method {} is not supported by this client yet",
                name(other)
            ),
        )),
    }
}

/// What a credential prompt is asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CredentialRequest<'a> {
    /// The authentication name for `host`.
    Username { host: &'a str },
    /// The password of `user` on `host` (read without echo).
    Password { user: &'a str, host: &'a str },
}

/// Asks the user for a credential; `None` when none was given.
pub type CredentialPrompt = dyn Fn(CredentialRequest<'_>) -> Option<String> + Send + Sync;

static CREDENTIAL_PROMPT: std::sync::OnceLock<Box<CredentialPrompt>> = std::sync::OnceLock::new();

/// Registers, once per process, how to ask for credentials the auth file does not give (libvirt's default auth
/// callback: an interactive program on a terminal). Without one, missing credentials fail the open.
pub fn set_credential_prompt(prompt: Box<CredentialPrompt>) {
    let _ = CREDENTIAL_PROMPT.set(prompt);
}

/// SASL's view of the transport: unix, TLS and TCP as themselves; ssh and ext pipes count as a secure local pipe.
pub(super) fn sasl_transport(transport: Transport) -> SaslTransport {
    match transport {
        Transport::Unix => SaslTransport::Unix,
        Transport::Tcp => SaslTransport::Tcp,
        Transport::Tls => SaslTransport::Tls,
        _ => SaslTransport::Ssh,
    }
}

/// The minimum SSF libvirt's client demands where the transport itself gives no confidentiality (plain TCP).
const TCP_MIN_SSF: u32 = 56;

pub(super) fn sasl_failure(what: &str, err: &SaslError) -> Error {
    Error::with_detail(
        ErrorCode::AUTH_FAILED,
        ErrorDomain::RPC,
        format!("{what}: {err}"),
    )
}

/// The user name and password for `host`: the auth file's answers, completed by the registered prompt.
pub(super) fn sasl_credentials(
    authfile: Option<&str>,
    host: Option<&str>,
) -> Result<(String, String)> {
    let FileCredentials {
        mut authname,
        mut password,
    } = file_credentials(authfile, host)?;
    let shown_host = host.unwrap_or("localhost");
    if let Some(prompt) = CREDENTIAL_PROMPT.get() {
        if authname.is_none() {
            authname = prompt(CredentialRequest::Username { host: shown_host });
        }
        if let (None, Some(user)) = (&password, &authname) {
            password = prompt(CredentialRequest::Password {
                user,
                host: shown_host,
            });
        }
    }
    match (authname, password) {
        (Some(user), Some(password)) => Ok((user, password)),
        _ => Err(Error::with_detail(
            ErrorCode::AUTH_FAILED,
            ErrorDomain::RPC,
            format!(
                "Failed to collect auth credentials: no authname/password for '{shown_host}' \
                 in an auth file (LIBVIRT_AUTH_FILE, authfile=, ~/.config/libvirt/auth.conf)"
            ),
        )),
    }
}

pub(super) fn sasl_data(data: Option<Vec<u8>>) -> (i32, CharArray<AUTH_SASL_DATA_MAX>) {
    match data {
        None => (1, CharArray(Vec::new())),
        Some(bytes) => (0, CharArray(bytes)),
    }
}

pub(super) fn server_data(ret: &AuthSaslRet) -> Option<&[u8]> {
    (ret.nil == 0).then_some(ret.data.0.as_slice())
}

/// The SASL exchange of REPORT §9.2: INIT for the mechanism list, START with the initial response (nil when the
/// mechanism has none), STEP while the server is not complete, and always a local step on the server's last
/// answer (the client's check of the server). A layer-bearing result wraps the connection from here on.
pub(super) async fn authenticate_sasl(
    client: &RpcClient,
    uri: &Uri,
    authfile: Option<&str>,
    forced: Option<&str>,
) -> Result<()> {
    let transport = sasl_transport(uri.transport());
    let offered = client.call(P::AuthSaslInit, &()).await?.value;
    let probe = SaslClient::new(transport, uri.effective_host(), "", "");
    let mechanism = probe
        .choose(&offered, forced)
        .map_err(|err| sasl_failure("Failed to start SASL negotiation", &err))?;
    let (user, password) = sasl_credentials(authfile, uri.host.as_deref())?;
    let mut sasl = SaslClient::new(transport, uri.effective_host(), &user, &password);
    let initial = sasl
        .start(mechanism)
        .map_err(|err| sasl_failure("Failed to start SASL negotiation", &err))?;
    let (nil, data) = sasl_data(initial);
    let mut reply: AuthSaslRet = client
        .call(
            P::AuthSaslStart,
            &AuthSaslStartArgs {
                mech: mechanism.to_string(),
                nil,
                data,
            },
        )
        .await?;
    // Each server answer gets a local step; the loop ends once both sides are complete.
    let mut rounds = 0;
    loop {
        rounds += 1;
        if rounds > 16 {
            return Err(Error::with_detail(
                ErrorCode::AUTH_FAILED,
                ErrorDomain::RPC,
                "SASL negotiation did not finish",
            ));
        }
        let server_done = reply.complete != 0;
        let step = sasl
            .step(server_data(&reply), server_done)
            .map_err(|err| sasl_failure("Failed to step SASL negotiation", &err))?;
        let (finished, next) = match step {
            SaslStep::Done(_) if server_done => break,
            SaslStep::Done(data) => (true, data),
            SaslStep::Continue(data) => (false, data),
        };
        let (nil, data) = sasl_data(next);
        reply = client
            .call(P::AuthSaslStep, &AuthSaslStepArgs { nil, data })
            .await?;
        if finished {
            if reply.complete == 0 {
                return Err(Error::with_detail(
                    ErrorCode::AUTH_FAILED,
                    ErrorDomain::RPC,
                    "SASL negotiation: the server wants more after the client finished",
                ));
            }
            break;
        }
    }
    let ssf = sasl.ssf();
    if matches!(transport, SaslTransport::Tcp) && ssf < TCP_MIN_SSF {
        return Err(Error::with_detail(
            ErrorCode::AUTH_FAILED,
            ErrorDomain::RPC,
            format!("negotiation SSF {ssf} was not strong enough"),
        ));
    }
    if let Some(layer) = sasl.into_layer() {
        client.install_layer(Box::new(LayerAdapter(layer)));
    }
    Ok(())
}

/// The SASL security layer as the RPC client's stream wrapper.
struct LayerAdapter(SaslLayer);

impl SecurityLayer for LayerAdapter {
    fn encode(&mut self, plain: &[u8]) -> std::result::Result<Vec<u8>, String> {
        self.0.encode(plain).map_err(|err| err.to_string())
    }
    fn decode(&mut self, wire: &[u8]) -> std::result::Result<Vec<u8>, String> {
        self.0.decode(wire).map_err(|err| err.to_string())
    }
}
