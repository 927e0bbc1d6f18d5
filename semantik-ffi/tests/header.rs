//! The committed header must equal what the pinned cbindgen generates from the code.

use std::path::Path;

#[test]
fn committed_header_matches_the_code() {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml")).unwrap();
    let mut generated = Vec::new();
    cbindgen::Builder::new()
        .with_crate(crate_dir)
        .with_config(config)
        .generate()
        .expect("cbindgen runs")
        .write(&mut generated);
    let generated = String::from_utf8(generated).unwrap();
    let header_path = crate_dir.join("../include/semantik.h");
    if std::env::var_os("SEMANTIK_WRITE_HEADER").is_some() {
        std::fs::write(&header_path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(&header_path).unwrap_or_default();
    assert!(
        committed == generated,
        "include/semantik.h drifted from the code: run `make header` and commit it"
    );
}

#[test]
fn header_version_macros_match_the_crate() {
    let header = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../include/semantik.h"),
    )
    .unwrap();
    let version = env!("CARGO_PKG_VERSION");
    assert!(header.contains(&format!("#define SEMANTIK_VERSION \"{version}\"")));
    let mut parts = version.split('.');
    for macro_name in ["MAJOR", "MINOR", "PATCH"] {
        let part = parts.next().unwrap();
        assert!(
            header.contains(&format!("#define SEMANTIK_VERSION_{macro_name} {part}")),
            "{macro_name}"
        );
    }
}
