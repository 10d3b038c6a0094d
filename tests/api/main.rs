//! Integration tests: the real server, a fresh database per test, the generated gRPC client.

mod fixtures;
mod harness;

mod claim;
mod claim_batch;
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
mod listing;
mod members;
mod migrations;
mod pool_admin;
mod pool_rules;
mod pools;
mod recycle;
mod recycle_race;
mod release;
mod replicas;
mod server;
