//! Rebuilds the server when a file of the embedded web app (`web/`) is added, changed or
//! removed: the embedding macro alone would notice only changes to files it already knew.
fn main() {
    println!("cargo:rerun-if-changed=web");
}
