//! OCSP stapling (in progress).
