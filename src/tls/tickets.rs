//! Session-ticket keys (in progress).
