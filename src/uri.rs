//! libvirt connection URIs, `driver[+transport]://[user@][host][:port]/path[?params]`: parsed and formatted, pure.

/// A parsed connection URI.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct Uri {}
