//! The daemon configuration: libvirtd.conf keys plus ours, strict (unknown keys refused), validated.

/// The daemon configuration.
#[derive(Clone, Debug, Default)]
pub struct Config {}
