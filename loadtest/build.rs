//! Links loadtest (client and origin) and its tests so that glommio's io_uring set-up goes
//! through the ring-flags hook it shares with tlsterm (src/uring.rs, compiled in as
//! `crate::uring`): liburing's `__sys_io_uring_setup` calls land in
//! `__wrap___sys_io_uring_setup`; `--undefined` keeps the linker from dropping it.
fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rustc-link-arg=-Wl,--wrap=__sys_io_uring_setup");
    println!("cargo:rustc-link-arg=-Wl,--undefined=__wrap___sys_io_uring_setup");
}
