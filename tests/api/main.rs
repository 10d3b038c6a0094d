//! Integration tests: the real server, a fresh database per test, the generated gRPC client.

mod fixtures;
mod harness;

mod auth;
mod claim;
mod concurrency;
mod duplicates;
mod edits;
mod events;
mod history;
mod idempotency;
mod identity;
mod imports;
mod leads;
mod lifecycle;
mod members;
mod metrics;
mod pool_admin;
mod pool_rules;
mod pools;
mod release;
mod replicas;
mod server;
mod traces;
