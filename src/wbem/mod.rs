//! The WBEM server: `cimxml` (the DSP0201 codec, sans I/O); the operations, providers and HTTP service follow.

pub mod cimxml;
