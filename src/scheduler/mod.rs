//! Background loops of the service, started and stopped by `App::serve`.

pub mod distribute;
