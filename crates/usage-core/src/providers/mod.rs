//! Built-in providers.
