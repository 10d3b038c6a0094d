//! Reports from the event history: the fold that turns events into daily rollups (what the
//! aggregator writes), and the reports assembled from those rollups (what callers read).

mod assemble;
mod eligibility;
mod fold;
pub mod histogram;
mod members;
mod period;

pub use assemble::{
    CountRow, HistogramRow, Percentiles, PoolBucket, PoolReportRows, pool_report, rate,
};
pub use eligibility::{Absence, Eligibility, EligibleMember};
pub use fold::{BinKey, CountKey, FactState, Fold, LeadFacts, Tally};
pub use members::{
    Fairness, FairnessRow, MemberBin, MemberReportRows, MemberRow, MemberTotal, fairness,
    member_report, member_report_of,
};
pub use period::{Bucket, MAX_DAYS, Period, month_start};

macro_rules! metrics {
    ($($metric:ident => $name:literal),* $(,)?) => {
        /// What a rollup row counts.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Metric { $($metric),* }

        stored_names!(Metric, "report metric" { $($metric => $name),* });
    };
}

metrics! {
    // The pool's own (member ''), by the day of the event in the pool's time zone.
    EnteredCreated => "entered_created",
    EnteredReleased => "entered_released",
    EnteredRecycled => "entered_recycled",
    EnteredMovedIn => "entered_moved_in",
    EnteredOffboarded => "entered_offboarded",
    EnteredReopened => "entered_reopened",
    Claimed => "claimed",
    Assigned => "assigned",
    Distributed => "distributed",
    Acquired => "acquired",
    AcquiredReturned => "acquired_returned",
    ConvertedReturned => "converted_returned",
    Discarded => "discarded",
    InPoolDelta => "in_pool_delta",
    OwnedDelta => "owned_delta",
    // Both the pool's (member '') and each member's.
    Released => "released",
    Recycled => "recycled",
    Converted => "converted",
    // Each member's.
    AcquiredClaim => "acquired_claim",
    AcquiredAssign => "acquired_assign",
    AcquiredDistribute => "acquired_distribute",
    AcquiredTransfer => "acquired_transfer",
    AcquiredCover => "acquired_cover",
    FollowUps => "follow_ups",
    HeldDelta => "held_delta",
    Received => "received",
    EntitledMicro => "entitled_micro",
    // Histograms.
    TimeToOwner => "time_to_owner",
    FirstFollowUp => "first_follow_up",
}

/// The `member_id` of the pool's own rows.
pub const POOL_ROW: &str = "";
