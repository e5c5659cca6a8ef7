//! Links the package's binaries and tests so that glommio's io_uring set-up goes through
//! `tlsterm::uring` (see src/uring.rs): liburing's `__sys_io_uring_setup` calls land in
//! `__wrap___sys_io_uring_setup`, which `--undefined` makes the linker take from the library
//! whatever the order of the archives.
fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rustc-link-arg=-Wl,--wrap=__sys_io_uring_setup");
    println!("cargo:rustc-link-arg=-Wl,--undefined=__wrap___sys_io_uring_setup");
}
