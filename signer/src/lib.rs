//! e2ei-signer
