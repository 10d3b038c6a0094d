//! Generates the gRPC server and client code and the descriptor set that reflection serves.
//! protoc comes from `protoc-bin-vendored`, so a fresh machine needs no system protoc.

use std::path::PathBuf;

const PROTOS: &[&str] = &[
    "proto/leadpool/v1/types.proto",
    "proto/leadpool/v1/errors.proto",
    "proto/leadpool/v1/pool_service.proto",
    "proto/leadpool/v1/lead_service.proto",
    "proto/leadpool/v1/event_service.proto",
    "proto/leadpool/v1/recycle_service.proto",
    "proto/leadpool/v1/assignment_service.proto",
    "proto/leadpool/v1/calendar_service.proto",
    "proto/leadpool/v1/availability_service.proto",
    "proto/leadpool/v1/report_service.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    let mut config = tonic_prost_build::Config::new();
    config.protoc_executable(protoc_bin_vendored::protoc_bin_path()?);
    // Ordered maps encode deterministically, so a request's bytes identify it (idempotency keys).
    config.btree_map(["."]);
    let protos: Vec<PathBuf> = PROTOS.iter().map(PathBuf::from).collect();
    // Our files, the googleapis files they import (`proto/vendor`), and protobuf's own.
    let includes = [
        PathBuf::from("proto"),
        PathBuf::from("proto/vendor"),
        protoc_bin_vendored::include_path()?,
    ];
    tonic_prost_build::configure()
        .file_descriptor_set_path(out_dir.join("leadpool_descriptor.bin"))
        .compile_with_config(config, &protos, &includes)?;
    println!("cargo:rerun-if-changed=proto");
    println!("cargo:rerun-if-changed=migrations");
    Ok(())
}
