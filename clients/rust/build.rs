//! Generates the clients and messages of every leadpool service from the repository's proto/
//! (no server code); protoc comes vendored, so a caller's machine needs none.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../proto");
    let services = root.join("leadpool/v1");
    let mut protos = Vec::new();
    for entry in std::fs::read_dir(&services)? {
        let path = entry?.path();
        if path.extension().is_some_and(|ext| ext == "proto") {
            protos.push(path);
        }
    }
    protos.sort();
    let mut config = tonic_prost_build::Config::new();
    config.protoc_executable(protoc_bin_vendored::protoc_bin_path()?);
    let includes = [
        root.clone(),
        root.join("vendor"),
        protoc_bin_vendored::include_path()?,
    ];
    tonic_prost_build::configure()
        .build_server(false)
        .compile_with_config(config, &protos, &includes)?;
    println!("cargo:rerun-if-changed={}", root.display());
    Ok(())
}
