//! Integration tests: the real server, a fresh database per test, the generated gRPC client.

mod fixtures;
mod harness;

mod claim;
mod concurrency;
mod events;
mod history;
mod identity;
mod leads;
mod members;
mod pools;
mod release;
mod server;
