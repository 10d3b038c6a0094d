//! Reports: their requests to a pool, a range of days and a bucket; their figures to messages.

use chrono::NaiveDate;
use uuid::Uuid;

use super::OWNER_ME;
use crate::domain::DomainError;
use crate::domain::access::Actor;
use crate::domain::report::{Bucket, Fairness, MemberRow, Percentiles, Period, PoolBucket, rate};
use crate::domain::validate::{MAX_CODE_CHARS, Validator, iso_date};
use crate::proto;

/// What every report asks: a pool and a range of days.
#[derive(Debug, Clone, Copy)]
pub struct ReportScope {
    pub pool_id: Uuid,
    pub period: Period,
}

/// A `YYYY-MM-DD` day; a violation names `field` otherwise.
fn date(v: &mut Validator, field: &str, value: &str) -> Option<NaiveDate> {
    if value.is_empty() {
        v.violation(field, "is required: a date, YYYY-MM-DD");
        return None;
    }
    let parsed = iso_date(value);
    if parsed.is_none() {
        v.violation(field, "must be a date, YYYY-MM-DD");
    }
    parsed
}

fn scope(
    v: &mut Validator,
    pool_id: &str,
    from: &str,
    to: &str,
) -> Option<(Uuid, NaiveDate, NaiveDate)> {
    let pool_id = v.uuid("pool_id", pool_id);
    let from = date(v, "from_date", from);
    let to = date(v, "to_date", to);
    Some((pool_id, from?, to?))
}

/// The pool and range, each field checked; the range's own rules after.
fn report_scope(
    pool_id: &str,
    from: &str,
    to: &str,
    more: impl FnOnce(&mut Validator),
) -> Result<ReportScope, DomainError> {
    let mut v = Validator::new();
    let parsed = scope(&mut v, pool_id, from, to);
    more(&mut v);
    let (pool_id, from, to) = v
        .finish(parsed)?
        .ok_or_else(|| DomainError::internal("a finished scope without dates"))?;
    Ok(ReportScope {
        pool_id,
        period: Period::new(from, to)?,
    })
}

pub fn pool_report_query(
    r: &proto::GetPoolReportRequest,
) -> Result<(ReportScope, Bucket), DomainError> {
    let mut bucket = Bucket::Day;
    let scope = report_scope(&r.pool_id, &r.from_date, &r.to_date, |v| {
        bucket = match proto::ReportBucket::try_from(r.bucket) {
            Ok(proto::ReportBucket::Unspecified | proto::ReportBucket::Day) => Bucket::Day,
            Ok(proto::ReportBucket::Week) => Bucket::Week,
            Ok(proto::ReportBucket::Month) => Bucket::Month,
            Err(_) => {
                v.violation("bucket", format!("{} is no ReportBucket", r.bucket));
                Bucket::Day
            }
        };
    })?;
    Ok((scope, bucket))
}

/// The report's scope and the one member asked for, if any (`me`: the caller, as in
/// `GetMemberStats` and `ListLeads`).
pub fn member_report_query(
    r: &proto::GetMemberReportRequest,
    actor: &Actor,
) -> Result<(ReportScope, Option<String>), DomainError> {
    let mut user = None;
    let scope = report_scope(&r.pool_id, &r.from_date, &r.to_date, |v| {
        user = match v.optional_text("user_id", &r.user_id, MAX_CODE_CHARS) {
            u if u.is_empty() => None,
            u if u == OWNER_ME => Some(actor.user_id.clone()),
            u => Some(u),
        };
    })?;
    Ok((scope, user))
}

pub fn fairness_query(
    r: &proto::GetDistributionFairnessRequest,
) -> Result<ReportScope, DomainError> {
    report_scope(&r.pool_id, &r.from_date, &r.to_date, |_| {})
}

fn day(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

fn percentiles(p: Percentiles) -> proto::DurationPercentiles {
    let seconds = |s: i64| prost_types::Duration {
        seconds: s,
        nanos: 0,
    };
    proto::DurationPercentiles {
        count: p.count,
        p50: Some(seconds(p.p50)),
        p90: Some(seconds(p.p90)),
    }
}

pub fn pool_bucket(b: PoolBucket) -> proto::PoolReportBucket {
    let [created, released, recycled, moved_in, offboarded, reopened] = b.entered;
    let [follow_up, close, accept_timeout] = b.recycled;
    let recycled_total = follow_up + close + accept_timeout;
    proto::PoolReportBucket {
        start_date: day(b.start),
        end_date: day(b.end),
        entered: Some(proto::LeadsEntered {
            created,
            released,
            recycled,
            moved_in,
            offboarded,
            reopened,
            total: b.entered.iter().sum(),
        }),
        claimed: b.claimed,
        assigned: b.assigned,
        distributed: b.distributed,
        acquired: b.acquired,
        released_by_reason: b
            .released_by_reason
            .into_iter()
            .map(|(reason, count)| proto::ReasonCount { reason, count })
            .collect(),
        recycled: Some(proto::RecycledByCause {
            follow_up,
            close,
            accept_timeout,
            total: recycled_total,
        }),
        converted: b.converted,
        discarded: b.discarded,
        time_to_owner: Some(percentiles(b.time_to_owner)),
        time_to_first_follow_up: Some(percentiles(b.time_to_first_follow_up)),
        recycle_rate: rate(recycled_total, b.acquired),
        conversion: Some(proto::ConversionByReturn {
            returned_acquired: b.returned.0,
            returned_converted: b.returned.1,
            returned_rate: rate(b.returned.1, b.returned.0),
            never_returned_acquired: b.never_returned.0,
            never_returned_converted: b.never_returned.1,
            never_returned_rate: rate(b.never_returned.1, b.never_returned.0),
        }),
        in_pool_at_end: b.in_pool_at_end,
        owned_at_end: b.owned_at_end,
    }
}

pub fn member_row(m: MemberRow) -> proto::MemberReportRow {
    let [claim, assign, distribute, transfer_in, cover] = m.acquired;
    let total = m.acquired.iter().sum();
    proto::MemberReportRow {
        user_id: m.user_id,
        acquired: Some(proto::AcquiredByWay {
            claim,
            assign,
            distribute,
            transfer_in,
            cover,
            total,
        }),
        released: m.released,
        recycled_away: m.recycled_away,
        converted: m.converted,
        conversion_rate: rate(m.converted, total),
        follow_ups: m.follow_ups,
        time_to_first_follow_up: Some(percentiles(m.time_to_first_follow_up)),
        average_held: m.average_held,
    }
}

pub fn fairness_response(f: Fairness) -> proto::GetDistributionFairnessResponse {
    let (largest_deviation_user_id, largest_deviation) = f.largest.unwrap_or_default();
    proto::GetDistributionFairnessResponse {
        distributed: f.distributed,
        largest_deviation,
        largest_deviation_user_id,
        members: f
            .rows
            .into_iter()
            .map(|r| proto::FairnessRow {
                user_id: r.user_id,
                received: r.received,
                entitled: r.entitled,
                deviation: r.deviation,
            })
            .collect(),
    }
}
