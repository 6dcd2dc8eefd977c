//! Typed Wire identifiers (protocol doc §1).
