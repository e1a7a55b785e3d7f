//! Links the `rvkit` binary as a position-dependent executable unless
//! `RVKIT_LINK_PIE` is set.
//!
//! As a position-independent executable, the dynamic loader applied about
//! 58,000 relative relocations at every start, writing to all of
//! `.data.rel.ro` (1.5 MB): more than half of the page faults and a third of
//! the CPU time of a short command such as `rvps emit` (ARCHITECTURE.md,
//! "Start-up", has the measurements). Without PIE the binary's own image is
//! not randomised; shared libraries, stack, heap and mappings still are.
//! Packagers whose policy requires PIE set `RVKIT_LINK_PIE=1`.

fn main() {
    println!("cargo:rerun-if-env-changed=RVKIT_LINK_PIE");
    println!("cargo:rerun-if-changed=build.rs");
    let target = std::env::var("TARGET").unwrap_or_default();
    let pie = std::env::var_os("RVKIT_LINK_PIE").is_some_and(|v| !v.is_empty() && v != "0");
    // Only where the linker driver is GCC or Clang on Linux: that is where
    // `-no-pie` means this, and where the measurements were made.
    if !pie && target.contains("-linux-") {
        println!("cargo:rustc-link-arg-bin=rvkit=-no-pie");
    }
}
