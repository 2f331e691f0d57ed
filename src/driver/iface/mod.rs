//! Host interfaces.
