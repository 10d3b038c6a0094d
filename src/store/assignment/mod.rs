//! Assignment (分配), transfer (转移), distribution (自动分配) and offboarding (离职交接). Each
//! locks what it decides from (distribution state, then member rows, then leads), decides with
//! `domain::assignment` / `domain::distribution`, and applies every move of the batch with one
//! statement (`moves::apply`) that keeps held counts and events in step.

pub mod distribute;
pub mod moves;
pub mod offboard;
pub mod transfer;

pub use distribute::{
    AutoPool, DistributeCall, Distribution, Mode, Selection, Wait, distribute, due_pools,
};
