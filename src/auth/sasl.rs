//! SASL for the native RPC service, both sides, sans-IO: which mechanisms each transport allows, the server
//! (secrets from the credential store, never a plain password), the client, and the security layer after
//! authentication. The mechanisms run inside rsasl: SCRAM-SHA-256 and PLAIN are rsasl's own, DIGEST-MD5 is our
//! custom rsasl mechanism (`digest_md5`).
//!
//! rsasl's `Session` does not expose what a mechanism negotiated, so DIGEST-MD5 reports its SSF through a
//! callback action (`NegotiatedSsf`) and reads the transport's SSF range through a callback property
//! (`LayerPolicy`); the chunking by maxbuf lives in the mechanism's own encode/decode, which `SaslLayer` calls.

use std::sync::{Arc, Mutex, PoisonError};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use rsasl::callback::{Context, Request, SessionCallback, SessionData};
use rsasl::mechanisms::scram::properties::ScramStoredPassword;
use rsasl::prelude::{
    Mechanism, Mechname, MessageSent, Registry, SASLClient, SASLConfig, SASLServer, Session,
    SessionError, State,
};
use rsasl::property::{AuthId, AuthzId, Hostname, Password, Realm};
use rsasl::validate::{NoValidation, Validate, Validation, ValidationError};

use super::credentials::CredentialStore;
use super::digest_md5::{decode_hex_secret, DigestSecret, LayerPolicy, NegotiatedSsf, DIGEST_MD5};

/// The SSF plain TCP requires (libvirt's `tcp_min_ssf` default): DIGEST-MD5 with a cipher.
pub const TCP_MIN_SSF: u32 = 56;

/// The transport under a SASL exchange; it decides the mechanisms and whether a security layer is required
/// (REPORT §9.2: plain TCP needs SSF >= 56, i.e. DIGEST-MD5 auth-conf; unix, ssh, TLS: SSF 0, no layer).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SaslTransport {
    Unix,
    Tcp,
    Tls,
    /// Also stands for ext (a secure local pipe).
    Ssh,
}

impl SaslTransport {
    /// Mechanisms in preference order (the server's AUTH_SASL_INIT list; the client's choice order).
    fn mechanisms(self) -> &'static [&'static str] {
        match self {
            SaslTransport::Tcp => &["DIGEST-MD5"],
            SaslTransport::Unix | SaslTransport::Ssh => &["SCRAM-SHA-256", "DIGEST-MD5"],
            SaslTransport::Tls => &["SCRAM-SHA-256", "DIGEST-MD5", "PLAIN"],
        }
    }

    /// Minimum and maximum SSF: libvirt asks for a layer only on plain TCP, and never on a secure channel.
    fn ssf_policy(self) -> (u32, u32) {
        match self {
            SaslTransport::Tcp => (TCP_MIN_SSF, 100_000),
            _ => (0, 0),
        }
    }
}

/// One step's outcome. `None` = XDR nil (no data at all), `Some(empty)` = empty data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SaslStep {
    Continue(Option<Vec<u8>>),
    Done(Option<Vec<u8>>),
}

#[derive(Debug, thiserror::Error)]
pub enum SaslError {
    #[error("SASL mechanism {0:?} is not allowed on this transport")]
    MechanismNotAllowed(String),
    #[error("no usable SASL mechanism among those the server offers ({0:?})")]
    NoCommonMechanism(String),
    #[error("SASL authentication failed: {0}")]
    Failed(String),
    #[error("SASL exchange out of order: {0}")]
    Sequence(&'static str),
    #[error("SASL security strength {ssf} is below the required {required}")]
    TooWeak { ssf: u32, required: u32 },
    #[error("SASL security layer: {0}")]
    Layer(String),
}

fn failed(err: SessionError) -> SaslError {
    SaslError::Failed(describe(&err))
}

/// rsasl's errors wrap the interesting part; show the innermost message.
fn describe(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(inner) = source {
        text = inner.to_string();
        source = inner.source();
    }
    text
}

fn static_mechanism(name: &str) -> Option<&'static [Mechanism]> {
    static SCRAM: [Mechanism; 1] = [rsasl::mechanisms::scram::SCRAM_SHA256];
    static PLAIN: [Mechanism; 1] = [rsasl::mechanisms::plain::PLAIN];
    static DIGEST: [Mechanism; 1] = [DIGEST_MD5];
    match name {
        "SCRAM-SHA-256" => Some(&SCRAM),
        "PLAIN" => Some(&PLAIN),
        "DIGEST-MD5" => Some(&DIGEST),
        _ => None,
    }
}

fn allowed(transport: SaslTransport, mech: &str) -> Result<&'static str, SaslError> {
    transport
        .mechanisms()
        .iter()
        .copied()
        .find(|m| m.eq_ignore_ascii_case(mech))
        .ok_or_else(|| SaslError::MechanismNotAllowed(mech.to_owned()))
}

fn config_for(
    mech: &'static str,
    callback: impl SessionCallback + 'static,
) -> Result<Arc<SASLConfig>, SaslError> {
    let mechanisms =
        static_mechanism(mech).ok_or_else(|| SaslError::MechanismNotAllowed(mech.into()))?;
    SASLConfig::builder()
        .with_registry(Registry::with_mechanisms(mechanisms))
        .with_callback(callback)
        .map_err(|e| SaslError::Failed(e.to_string()))
}

/// The server's validation result: the authenticated user name.
struct Identity;
impl Validation for Identity {
    type Value = String;
}

/// What a mechanism reports back through the callback.
#[derive(Default)]
struct Negotiated {
    ssf: u32,
}

struct ServerCallback {
    store: Arc<CredentialStore>,
    realm: String,
    transport: SaslTransport,
    mechanism: &'static str,
    negotiated: Arc<Mutex<Negotiated>>,
}

impl SessionCallback for ServerCallback {
    fn callback(
        &self,
        _session: &SessionData,
        context: &Context,
        request: &mut Request,
    ) -> Result<(), SessionError> {
        if let Some(ssf) = request.get_action::<NegotiatedSsf>() {
            self.negotiated
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .ssf = *ssf;
            return Ok(());
        }
        request.satisfy::<LayerPolicy>(&self.transport.ssf_policy())?;
        request.satisfy::<Realm>(&self.realm)?;
        let Some(user) = context
            .get_ref::<AuthId>()
            .and_then(|name| self.store.user(name))
        else {
            // Unknown user: leave the request unanswered; the mechanism fails the exchange.
            return Ok(());
        };
        if request.is::<ScramStoredPassword>() {
            let verifier = &user.scram_sha_256;
            if let (Ok(salt), Ok(stored_key), Ok(server_key)) = (
                B64.decode(&verifier.salt),
                B64.decode(&verifier.stored_key),
                B64.decode(&verifier.server_key),
            ) {
                request.satisfy::<ScramStoredPassword>(&ScramStoredPassword::new(
                    verifier.iterations,
                    &salt,
                    &stored_key,
                    &server_key,
                ))?;
            }
            return Ok(());
        }
        if request.is::<DigestSecret>() {
            let realm = context.get_ref::<Realm>().unwrap_or(&self.realm);
            if let Some(secret) = user
                .digest_md5
                .get(realm)
                .and_then(|h| decode_hex_secret(h))
            {
                request.satisfy::<DigestSecret>(&secret)?;
            }
        }
        Ok(())
    }

    fn validate(
        &self,
        _session: &SessionData,
        context: &Context,
        validate: &mut Validate<'_>,
    ) -> Result<(), ValidationError> {
        let Some(name) = context.get_ref::<AuthId>() else {
            return Ok(());
        };
        // We do not support acting for another identity.
        if context
            .get_ref::<AuthzId>()
            .is_some_and(|authz| !authz.is_empty() && authz != name)
        {
            return Ok(());
        }
        if self.mechanism == "PLAIN" {
            let password = context
                .get_ref::<Password>()
                .and_then(|p| std::str::from_utf8(p).ok());
            if !password.is_some_and(|p| self.store.verify_password(name, p)) {
                return Ok(());
            }
        } else if self.store.user(name).is_none() {
            return Ok(());
        }
        validate.with::<Identity, _>(|| Ok(name.to_owned()))?;
        Ok(())
    }
}

/// The server side of one SASL exchange.
pub struct SaslServer {
    store: Arc<CredentialStore>,
    realm: String,
    transport: SaslTransport,
    session: Option<Session<Identity>>,
    negotiated: Arc<Mutex<Negotiated>>,
    username: Option<String>,
    finished: bool,
}

impl SaslServer {
    pub fn new(store: Arc<CredentialStore>, realm: &str, transport: SaslTransport) -> SaslServer {
        SaslServer {
            store,
            realm: realm.to_owned(),
            transport,
            session: None,
            negotiated: Arc::default(),
            username: None,
            finished: false,
        }
    }

    /// The AUTH_SASL_INIT answer, in preference order.
    pub fn mechanisms(&self) -> Vec<&'static str> {
        self.transport.mechanisms().to_vec()
    }

    pub fn start(&mut self, mech: &str, data: Option<&[u8]>) -> Result<SaslStep, SaslError> {
        if self.session.is_some() || self.finished {
            return Err(SaslError::Sequence("SASL start after the exchange began"));
        }
        let mech = allowed(self.transport, mech)?;
        let callback = ServerCallback {
            store: self.store.clone(),
            realm: self.realm.clone(),
            transport: self.transport,
            mechanism: mech,
            negotiated: self.negotiated.clone(),
        };
        let config = config_for(mech, callback)?;
        let name =
            Mechname::parse(mech.as_bytes()).map_err(|e| SaslError::Failed(e.to_string()))?;
        let session = SASLServer::<Identity>::new(config)
            .start_suggested(name)
            .map_err(|e| SaslError::Failed(e.to_string()))?;
        let client_first = !session.are_we_first();
        self.session = Some(session);
        match data {
            // A client-first mechanism without an initial response gets an empty challenge to answer.
            None if client_first => Ok(SaslStep::Continue(Some(Vec::new()))),
            // A server-first mechanism ignores an empty initial response (cyrus sends nil; others empty).
            Some(d) if !client_first && d.is_empty() => self.step(None),
            _ => self.step(data),
        }
    }

    pub fn step(&mut self, data: Option<&[u8]>) -> Result<SaslStep, SaslError> {
        if self.finished {
            return Err(SaslError::Sequence("SASL step after the exchange finished"));
        }
        let session = self
            .session
            .as_mut()
            .ok_or(SaslError::Sequence("SASL step before start"))?;
        let mut out = Vec::new();
        let state = match session.step(data, &mut out) {
            Ok(state) => state,
            Err(err) => {
                self.finished = true;
                return Err(failed(err));
            }
        };
        match state {
            State::Running => Ok(SaslStep::Continue(Some(out))),
            State::Finished(sent) => {
                self.finished = true;
                let name = session
                    .validation()
                    .ok_or_else(|| SaslError::Failed("credentials rejected".into()))?;
                let (required, _) = self.transport.ssf_policy();
                let ssf = self.ssf();
                if ssf < required {
                    return Err(SaslError::TooWeak { ssf, required });
                }
                self.username = Some(name);
                Ok(SaslStep::Done(match sent {
                    MessageSent::Yes => Some(out),
                    MessageSent::No => None,
                }))
            }
        }
    }

    /// The authenticated identity once the exchange is done.
    pub fn username(&self) -> Option<&str> {
        self.username.as_deref()
    }

    pub fn ssf(&self) -> u32 {
        self.negotiated
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .ssf
    }

    /// The security layer, exactly when the exchange succeeded with an SSF > 0.
    pub fn into_layer(self) -> Option<SaslLayer> {
        let ssf = self.ssf();
        let session = self.session?;
        (self.username.is_some() && ssf > 0 && session.has_security_layer()).then(|| SaslLayer {
            session: LayerSession::Server(Box::new(session)),
        })
    }
}

struct ClientCallback {
    user: String,
    password: String,
    host: String,
    policy: (u32, u32),
    negotiated: Arc<Mutex<Negotiated>>,
}

impl SessionCallback for ClientCallback {
    fn callback(
        &self,
        _session: &SessionData,
        _context: &Context,
        request: &mut Request,
    ) -> Result<(), SessionError> {
        if let Some(ssf) = request.get_action::<NegotiatedSsf>() {
            self.negotiated
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .ssf = *ssf;
            return Ok(());
        }
        request
            .satisfy::<AuthId>(&self.user)?
            .satisfy::<Password>(self.password.as_bytes())?
            .satisfy::<Hostname>(&self.host)?
            .satisfy::<LayerPolicy>(&self.policy)?;
        Ok(())
    }
}

/// The client side of one SASL exchange.
pub struct SaslClient {
    transport: SaslTransport,
    host: String,
    user: String,
    password: String,
    /// A cap below the transport's maximum SSF (picks a weaker cipher; tests and interop checks).
    max_ssf: Option<u32>,
    session: Option<Session<NoValidation>>,
    negotiated: Arc<Mutex<Negotiated>>,
    /// The local mechanism has produced its last message / verified the server.
    mechanism_finished: bool,
    done: bool,
}

impl SaslClient {
    /// `host`: the URI host ("localhost" for unix), used as DIGEST-MD5 digest-uri host ("libvirt/HOST").
    pub fn new(transport: SaslTransport, host: &str, user: &str, password: &str) -> SaslClient {
        SaslClient {
            transport,
            host: host.to_owned(),
            user: user.to_owned(),
            password: password.to_owned(),
            max_ssf: None,
            session: None,
            negotiated: Arc::default(),
            mechanism_finished: false,
            done: false,
        }
    }

    /// Caps the SSF the client accepts (still at least the transport's minimum): on TCP 112 picks 3des and 56
    /// picks rc4-56 when the server offers them, instead of the strongest cipher.
    pub fn with_max_ssf(mut self, max_ssf: u32) -> SaslClient {
        self.max_ssf = Some(max_ssf);
        self
    }

    fn policy(&self) -> (u32, u32) {
        let (min, max) = self.transport.ssf_policy();
        (min, self.max_ssf.map_or(max, |cap| cap.clamp(min, max)))
    }

    /// Picks from the server's comma-separated list (or checks `forced`, from the URI's auth=sasl.MECH).
    pub fn choose(&self, offered: &str, forced: Option<&str>) -> Result<&'static str, SaslError> {
        let offered: Vec<&str> = offered
            .split([',', ' '])
            .map(str::trim)
            .filter(|m| !m.is_empty())
            .collect();
        let is_offered = |mech: &str| offered.iter().any(|o| o.eq_ignore_ascii_case(mech));
        if let Some(forced) = forced {
            let mech = allowed(self.transport, forced)?;
            return if is_offered(mech) {
                Ok(mech)
            } else {
                Err(SaslError::NoCommonMechanism(offered.join(",")))
            };
        }
        self.transport
            .mechanisms()
            .iter()
            .copied()
            .find(|m| is_offered(m))
            .ok_or_else(|| SaslError::NoCommonMechanism(offered.join(",")))
    }

    /// The initial response for AUTH_SASL_START; `None` = nil (server-first mechanisms).
    pub fn start(&mut self, mech: &str) -> Result<Option<Vec<u8>>, SaslError> {
        if self.session.is_some() {
            return Err(SaslError::Sequence("SASL start called twice"));
        }
        let mech = allowed(self.transport, mech)?;
        let callback = ClientCallback {
            user: self.user.clone(),
            password: self.password.clone(),
            host: self.host.clone(),
            policy: self.policy(),
            negotiated: self.negotiated.clone(),
        };
        let config = config_for(mech, callback)?;
        let name =
            Mechname::parse(mech.as_bytes()).map_err(|e| SaslError::Failed(e.to_string()))?;
        let mut session = SASLClient::new(config)
            .start_suggested(&[name])
            .map_err(|e| SaslError::Failed(e.to_string()))?;
        if !session.are_we_first() {
            self.session = Some(session);
            return Ok(None);
        }
        let mut out = Vec::new();
        let state = session.step(None, &mut out).map_err(failed)?;
        self.mechanism_finished = state.is_finished();
        self.session = Some(session);
        Ok(Some(out))
    }

    /// One server reply; `server_done` = the server's `complete` flag. Returns the data for the next STEP
    /// (Continue) or Done once the client has also verified the server (rspauth / v=).
    pub fn step(&mut self, data: Option<&[u8]>, server_done: bool) -> Result<SaslStep, SaslError> {
        if self.done {
            return Err(SaslError::Sequence("SASL step after the exchange finished"));
        }
        let session = self
            .session
            .as_mut()
            .ok_or(SaslError::Sequence("SASL step before start"))?;
        let has_data = data.is_some_and(|d| !d.is_empty());
        if self.mechanism_finished {
            // Nothing more to run locally: the server may only confirm.
            if server_done && !has_data {
                self.done = true;
                return self.check_strength().map(|()| SaslStep::Done(None));
            }
            return Err(SaslError::Failed(
                "the server sent more after the exchange finished".into(),
            ));
        }
        let mut out = Vec::new();
        let state = session.step(data, &mut out).map_err(failed)?;
        match state {
            State::Running if server_done => Err(SaslError::Failed(
                "the server finished before the client could verify it".into(),
            )),
            State::Running => Ok(SaslStep::Continue(Some(out))),
            State::Finished(sent) => {
                self.mechanism_finished = true;
                match sent {
                    MessageSent::Yes if !server_done => Ok(SaslStep::Continue(Some(out))),
                    MessageSent::Yes => Err(SaslError::Failed(
                        "the server finished but the mechanism has more to send".into(),
                    )),
                    MessageSent::No if server_done => {
                        self.done = true;
                        self.check_strength().map(|()| SaslStep::Done(None))
                    }
                    // The server still owes its `complete`; send an empty response.
                    MessageSent::No => Ok(SaslStep::Continue(Some(Vec::new()))),
                }
            }
        }
    }

    fn check_strength(&self) -> Result<(), SaslError> {
        let (required, _) = self.transport.ssf_policy();
        let ssf = self.ssf();
        if ssf < required {
            return Err(SaslError::TooWeak { ssf, required });
        }
        Ok(())
    }

    pub fn ssf(&self) -> u32 {
        self.negotiated
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .ssf
    }

    /// The security layer, exactly when the exchange succeeded with an SSF > 0.
    pub fn into_layer(self) -> Option<SaslLayer> {
        let ssf = self.ssf();
        let session = self.session?;
        (self.done && ssf > 0 && session.has_security_layer()).then(|| SaslLayer {
            session: LayerSession::Client(Box::new(session)),
        })
    }
}

enum LayerSession {
    Server(Box<Session<Identity>>),
    Client(Box<Session<NoValidation>>),
}

/// The security layer after authentication (sans-IO, both sides): each wire chunk is a 4-byte big-endian
/// length + the mechanism's token; plaintext is cut into pieces of at most the negotiated maxbuf. The
/// mechanism's own encode/decode does the framing, so this is a thin handle on the finished session.
pub struct SaslLayer {
    session: LayerSession,
}

impl SaslLayer {
    /// Complete wire chunks for `plain`.
    pub fn encode(&mut self, plain: &[u8]) -> Result<Vec<u8>, SaslError> {
        let mut out = Vec::new();
        let result = match &mut self.session {
            LayerSession::Server(s) => s.encode(plain, &mut out),
            LayerSession::Client(s) => s.encode(plain, &mut out),
        };
        result.map_err(|e| SaslError::Layer(describe(&e)))?;
        Ok(out)
    }

    /// Accepts any split of the wire stream; returns the plaintext completed so far.
    pub fn decode(&mut self, wire: &[u8]) -> Result<Vec<u8>, SaslError> {
        let mut out = Vec::new();
        let result = match &mut self.session {
            LayerSession::Server(s) => s.decode(wire, &mut out),
            LayerSession::Client(s) => s.decode(wire, &mut out),
        };
        result.map_err(|e| SaslError::Layer(describe(&e)))?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> Arc<CredentialStore> {
        let mut store = CredentialStore::new();
        store.add_user("alice", "s3cret", &[]).unwrap();
        store.add_user("bob", "hunter2", &[]).unwrap();
        Arc::new(store)
    }

    /// Runs a whole exchange the way the RPC layer does; returns both ends.
    fn exchange(
        transport: SaslTransport,
        mech: Option<&str>,
        user: &str,
        password: &str,
    ) -> Result<(SaslServer, SaslClient), SaslError> {
        let mut server = SaslServer::new(store(), "virtcim", transport);
        let mut client = SaslClient::new(transport, "localhost", user, password);
        let offered = server.mechanisms().join(",");
        let mech = client.choose(&offered, mech)?;
        let initial = client.start(mech)?;
        let mut reply = server.start(mech, initial.as_deref())?;
        for _ in 0..10 {
            match reply {
                SaslStep::Continue(data) => match client.step(data.as_deref(), false)? {
                    SaslStep::Continue(response) => reply = server.step(response.as_deref())?,
                    SaslStep::Done(_) => return Err(SaslError::Sequence("client done early")),
                },
                SaslStep::Done(data) => {
                    assert_eq!(client.step(data.as_deref(), true)?, SaslStep::Done(None));
                    return Ok((server, client));
                }
            }
        }
        Err(SaslError::Sequence("too many steps"))
    }

    #[test]
    fn mechanisms_by_transport() {
        let server = |t| SaslServer::new(store(), "virtcim", t).mechanisms();
        assert_eq!(server(SaslTransport::Tcp), ["DIGEST-MD5"]);
        assert_eq!(server(SaslTransport::Unix), ["SCRAM-SHA-256", "DIGEST-MD5"]);
        assert_eq!(server(SaslTransport::Ssh), ["SCRAM-SHA-256", "DIGEST-MD5"]);
        assert_eq!(
            server(SaslTransport::Tls),
            ["SCRAM-SHA-256", "DIGEST-MD5", "PLAIN"]
        );
    }

    #[test]
    fn client_choice_prefers_scram_and_checks_forced() {
        let client = SaslClient::new(SaslTransport::Unix, "localhost", "a", "b");
        assert_eq!(
            client.choose("DIGEST-MD5,SCRAM-SHA-256", None).unwrap(),
            "SCRAM-SHA-256"
        );
        assert_eq!(
            client
                .choose("SCRAM-SHA-256,DIGEST-MD5", Some("digest-md5"))
                .unwrap(),
            "DIGEST-MD5"
        );
        assert!(client.choose("DIGEST-MD5", Some("SCRAM-SHA-256")).is_err());
        assert!(client.choose("CRAM-MD5", None).is_err());
        let tcp = SaslClient::new(SaslTransport::Tcp, "127.0.0.1", "a", "b");
        assert!(matches!(
            tcp.choose("SCRAM-SHA-256,DIGEST-MD5", Some("SCRAM-SHA-256")),
            Err(SaslError::MechanismNotAllowed(_))
        ));
        assert!(tcp.choose("SCRAM-SHA-256", None).is_err());
    }

    #[test]
    fn scram_sha_256_round_trip() {
        let (server, client) = exchange(
            SaslTransport::Unix,
            Some("SCRAM-SHA-256"),
            "alice",
            "s3cret",
        )
        .unwrap();
        assert_eq!(server.username(), Some("alice"));
        assert_eq!(server.ssf(), 0);
        assert_eq!(client.ssf(), 0);
        assert!(server.into_layer().is_none());
        assert!(client.into_layer().is_none());
    }

    #[test]
    fn scram_wrong_password_and_unknown_user_fail() {
        assert!(exchange(SaslTransport::Unix, Some("SCRAM-SHA-256"), "alice", "nope").is_err());
        assert!(exchange(SaslTransport::Unix, Some("SCRAM-SHA-256"), "mallory", "x").is_err());
    }

    #[test]
    fn scram_server_answers_cyrus_style_first_message() {
        // The first message virsh (cyrus) sends: gs2 header "n,,", no initial nil.
        let mut server = SaslServer::new(store(), "virtcim", SaslTransport::Unix);
        let reply = server
            .start(
                "SCRAM-SHA-256",
                Some(b"n,,n=alice,r=oEXcoFVxgbAwzZsCK9BKOcNufnbU0QkD"),
            )
            .unwrap();
        let SaslStep::Continue(Some(challenge)) = reply else {
            panic!("expected a challenge, got {reply:?}")
        };
        let text = String::from_utf8(challenge).unwrap();
        assert!(
            text.starts_with("r=oEXcoFVxgbAwzZsCK9BKOcNufnbU0QkD"),
            "{text}"
        );
        assert!(text.contains(",s=") && text.ends_with(",i=4096"), "{text}");
    }

    #[test]
    fn plain_over_tls_round_trip_and_rejects() {
        let (server, _) = exchange(SaslTransport::Tls, Some("PLAIN"), "bob", "hunter2").unwrap();
        assert_eq!(server.username(), Some("bob"));
        assert!(exchange(SaslTransport::Tls, Some("PLAIN"), "bob", "wrong").is_err());
        assert!(exchange(SaslTransport::Tls, Some("PLAIN"), "nobody", "hunter2").is_err());
        // PLAIN is not offered on unix sockets.
        assert!(exchange(SaslTransport::Unix, Some("PLAIN"), "bob", "hunter2").is_err());
    }

    #[test]
    fn plain_without_initial_response_gets_empty_challenge() {
        let mut server = SaslServer::new(store(), "virtcim", SaslTransport::Tls);
        assert_eq!(
            server.start("PLAIN", None).unwrap(),
            SaslStep::Continue(Some(Vec::new()))
        );
        let reply = server.step(Some(b"\0bob\0hunter2")).unwrap();
        assert!(matches!(reply, SaslStep::Done(_)), "{reply:?}");
        assert_eq!(server.username(), Some("bob"));
    }

    #[test]
    fn server_refuses_mechanism_not_offered_on_transport() {
        let mut server = SaslServer::new(store(), "virtcim", SaslTransport::Tcp);
        assert!(matches!(
            server.start("SCRAM-SHA-256", Some(b"n,,n=alice,r=abc")),
            Err(SaslError::MechanismNotAllowed(_))
        ));
    }
    #[test]
    fn digest_md5_over_tcp_negotiates_rc4_and_encrypts_both_ways() {
        let (server, client) = exchange(SaslTransport::Tcp, None, "alice", "s3cret").unwrap();
        assert_eq!(server.username(), Some("alice"));
        assert_eq!(server.ssf(), 128);
        assert_eq!(client.ssf(), 128);
        let mut server_layer = server.into_layer().expect("a layer on TCP");
        let mut client_layer = client.into_layer().expect("a layer on TCP");
        let frame = b"\0\0\0\x20 a plain XDR frame of some length".to_vec();
        let wire = client_layer.encode(&frame).unwrap();
        assert!(
            !wire.windows(8).any(|w| w == b"a plain "),
            "the frame is encrypted"
        );
        let (head, tail) = wire.split_at(7);
        let mut plain = server_layer.decode(head).unwrap();
        assert!(plain.is_empty());
        plain.extend(server_layer.decode(tail).unwrap());
        assert_eq!(plain, frame);
        let back = server_layer.encode(&frame).unwrap();
        assert_eq!(client_layer.decode(&back).unwrap(), frame);
        // Replaying a chunk is refused.
        assert!(client_layer.decode(&back).is_err());
    }

    #[test]
    fn client_ssf_cap_picks_weaker_ciphers() {
        for (cap, ssf) in [(112, 112), (56, 56), (1, 56)] {
            let mut server = SaslServer::new(store(), "virtcim", SaslTransport::Tcp);
            let mut client = SaslClient::new(SaslTransport::Tcp, "127.0.0.1", "alice", "s3cret")
                .with_max_ssf(cap);
            assert_eq!(client.start("DIGEST-MD5").unwrap(), None);
            let SaslStep::Continue(challenge) = server.start("DIGEST-MD5", None).unwrap() else {
                panic!("challenge")
            };
            let SaslStep::Continue(response) = client.step(challenge.as_deref(), false).unwrap()
            else {
                panic!("response")
            };
            let SaslStep::Done(rspauth) = server.step(response.as_deref()).unwrap() else {
                panic!("done")
            };
            assert_eq!(
                client.step(rspauth.as_deref(), true).unwrap(),
                SaslStep::Done(None)
            );
            assert_eq!((server.ssf(), client.ssf()), (ssf, ssf), "cap {cap}");
            let (mut s, mut c) = (server.into_layer().unwrap(), client.into_layer().unwrap());
            assert_eq!(s.decode(&c.encode(b"hello").unwrap()).unwrap(), b"hello");
            assert_eq!(c.decode(&s.encode(b"world").unwrap()).unwrap(), b"world");
        }
    }

    #[test]
    fn digest_md5_over_unix_has_no_layer() {
        let (server, client) =
            exchange(SaslTransport::Unix, Some("DIGEST-MD5"), "bob", "hunter2").unwrap();
        assert_eq!(server.username(), Some("bob"));
        assert_eq!(server.ssf(), 0);
        assert!(server.into_layer().is_none());
        assert!(client.into_layer().is_none());
    }

    #[test]
    fn digest_md5_wrong_password_or_unknown_user_fails() {
        assert!(exchange(SaslTransport::Tcp, None, "alice", "wrong").is_err());
        assert!(exchange(SaslTransport::Tcp, None, "mallory", "s3cret").is_err());
    }

    #[test]
    fn digest_md5_challenge_looks_like_libvirtd() {
        let mut server = SaslServer::new(store(), "virtcim", SaslTransport::Tcp);
        let SaslStep::Continue(Some(challenge)) = server.start("DIGEST-MD5", None).unwrap() else {
            panic!("expected a challenge")
        };
        let text = String::from_utf8(challenge).unwrap();
        assert!(text.starts_with("nonce=\""), "{text}");
        assert!(
            text.ends_with(
                ",realm=\"virtcim\",qop=\"auth-conf\",cipher=\"rc4-56,rc4,3des\",maxbuf=65536,charset=utf-8,algorithm=md5-sess"
            ),
            "{text}"
        );
        let mut unix = SaslServer::new(store(), "virtcim", SaslTransport::Unix);
        let SaslStep::Continue(Some(challenge)) = unix.start("DIGEST-MD5", Some(b"")).unwrap()
        else {
            panic!("expected a challenge")
        };
        let text = String::from_utf8(challenge).unwrap();
        assert!(text.contains("qop=\"auth\",maxbuf"), "{text}");
    }

    #[test]
    fn digest_md5_client_refuses_a_server_without_encryption_on_tcp() {
        let mut client = SaslClient::new(SaslTransport::Tcp, "127.0.0.1", "alice", "s3cret");
        assert_eq!(client.start("DIGEST-MD5").unwrap(), None);
        let challenge =
            b"nonce=\"abc\",realm=\"virtcim\",qop=\"auth\",charset=utf-8,algorithm=md5-sess";
        assert!(client.step(Some(challenge), false).is_err());
    }
}
