//! leadpool: the CRM public pool / private pool (公海 / 私海) lead service over gRPC.
//!
//! `domain` holds the pure rules, `store` every SQL statement, `service` the use cases, `api`
//! the gRPC services and `scheduler` the background loops; [`app::App`] wires them into a
//! server that `main` and the integration tests both start. See `docs/architecture.md`.

pub mod api;
pub mod app;
pub mod config;
pub mod domain;
pub mod embedded_pg;
pub mod metrics;
pub mod scheduler;
pub mod service;
pub mod store;
pub mod telemetry;
pub mod wakeups;

/// Code generated from `proto/leadpool/v1`.
pub mod proto {
    #![allow(clippy::all, clippy::pedantic, missing_docs)]
    tonic::include_proto!("leadpool.v1");

    /// The descriptor set served by gRPC reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] =
        tonic::include_file_descriptor_set!("leadpool_descriptor");
}
