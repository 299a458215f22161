//! Links the system's libxml2 (Debian: libxml2, with libxml2-dev for the unversioned .so).
fn main() {
    println!("cargo:rustc-link-lib=dylib=xml2");
    println!("cargo:rerun-if-changed=build.rs");
}
