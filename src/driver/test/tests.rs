//! Unit tests of the test driver: every transition and every refusal.
