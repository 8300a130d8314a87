//! Links every binary with `footprint.x`: code and constants in FLASH, statics in RAM.
use std::{env, fs, path::PathBuf};

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR"));
    fs::write(out.join("footprint.x"), include_bytes!("footprint.x")).expect("write footprint.x");
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rustc-link-arg-bins=-Tfootprint.x");
    println!("cargo:rerun-if-changed=footprint.x");
    println!("cargo:rerun-if-changed=build.rs");
}
