//! The statements of assignment (分配), transfer (转移), distribution (自动分配) and offboarding
//! (离职交接): locking what a move is decided from (distribution state, then member rows, then
//! leads), and the one statement (`moves::apply`) that applies every move of a batch, keeping
//! held counts and events in step. `service::assignment` decides and runs them in order.

pub mod distribute;
pub mod moves;
pub mod offboard;
pub mod reroute;
pub mod transfer;
