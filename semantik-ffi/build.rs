//! Links the shared library so that it exports the C API only. Dependencies can carry C
//! symbols of their own (hnsw_rs exports `insert`, `init_hnsw`, ...), which would otherwise
//! clash with the host program's: `--exclude-libs ALL` keeps every symbol that comes from a
//! dependency's archive out of the dynamic symbol table, leaving this crate's `sk_*`.

fn main() {
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-cdylib-link-arg=-Wl,--exclude-libs,ALL");
    }
}
