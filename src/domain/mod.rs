//! Pure rules of the lead pool: no I/O, no database, no gRPC. Functions take state and a
//! time and return a decision or a [`DomainError`].

#[macro_use]
pub mod stored;

pub mod absence;
pub mod acceptance;
pub mod access;
pub mod assignment;
pub mod business_time;
pub mod calendar;
pub mod clock;
pub mod committed;
pub mod distribution;
pub mod due;
pub mod error;
pub mod event;
pub mod follow_up;
pub mod import;
pub mod lead;
pub mod lifecycle;
pub mod listing;
pub mod masking;
pub mod member;
pub mod page;
pub mod pool;
pub mod quota;
pub mod recycle;
pub mod report;
pub mod validate;

pub use error::{DomainError, Result};
