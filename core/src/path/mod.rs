//! RFC 5280 certification path validation with name constraints and CRLs.
