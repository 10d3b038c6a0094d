//! Integration tests: the real server, a fresh database per test, the generated gRPC client.

mod distribution_fixtures;
mod fixtures;
mod harness;

mod assign;
mod claim;
mod claim_batch;
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
mod listing;
mod members;
mod migrations;
mod offboard;
mod pool_admin;
mod pool_rules;
mod pools;
mod recycle;
mod recycle_race;
mod release;
mod replicas;
mod server;
