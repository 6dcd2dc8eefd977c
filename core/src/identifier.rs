//! The ACME identifier kinds `wireapp-user` and `wireapp-device` (protocol doc §4 step 4).
