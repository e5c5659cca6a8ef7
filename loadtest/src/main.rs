//! loadtest: see loadtest/README.md.
fn main() {}
