//! Integration tests: the real server, a fresh database per test, the generated gRPC client.

mod distribution_fixtures;
mod fixtures;
mod harness;

mod assign;
mod claim;
mod concurrency;
mod distribute;
mod distribute_auto;
mod distribute_races;
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
mod offboard;
mod pool_admin;
mod pool_rules;
mod pools;
mod release;
mod replicas;
mod server;
