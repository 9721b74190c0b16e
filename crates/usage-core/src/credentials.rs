//! Credential discovery (filled in below).
