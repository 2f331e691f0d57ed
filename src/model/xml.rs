//! Small XML helpers shared by the definition parsers and formatters (quick-xml based).
