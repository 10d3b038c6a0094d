//! A tenant's calendar as kept and listed: a name and a version around the [`Calendar`].

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::draft::Source;
use super::{Calendar, CalendarDraft};
use crate::domain::DomainError;
use crate::domain::validate::Validator;

/// A stored calendar. Its `calendar` has no zone of its own (UTC): a pool naming it reads it
/// in the pool's zone ([`Calendar::with_timezone`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamedCalendar {
    pub id: Uuid,
    pub name: String,
    pub calendar: Calendar,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The fields `UpdateCalendar` may change, as field-mask paths.
pub const UPDATABLE_FIELDS: &[&str] = &[
    "name",
    "workdays",
    "business_hours",
    "holidays",
    "make_up_workdays",
];

impl NamedCalendar {
    /// This calendar with the fields named in `mask` taken from `name` and `patch`. The result
    /// is validated whole, since fields constrain each other (a holiday added on a make-up
    /// day, the workdays emptied of a calendar without make-up days); its violations are named
    /// as `UpdateCalendar` names them (`calendar.holidays[3]`), a rule between two fields in
    /// the one the mask names. Fields not in the mask are read as stored.
    pub fn updated(
        &self,
        name: &str,
        patch: &CalendarDraft,
        mask: &[String],
    ) -> Result<Self, DomainError> {
        let mut next = self.clone();
        let mut draft = CalendarDraft::from(self.calendar.clone());
        for path in mask {
            match path.as_str() {
                "name" => next.name = name.to_owned(),
                "workdays" => draft.workdays.clone_from(&patch.workdays),
                "business_hours" => draft.business_hours.clone_from(&patch.business_hours),
                "holidays" => draft.holidays.clone_from(&patch.holidays),
                "make_up_workdays" => draft.make_up_workdays.clone_from(&patch.make_up_workdays),
                _ => {}
            }
        }
        let mut v = Validator::new();
        let source = Source::Update(mask);
        next.calendar = v.nested("calendar.", |v| Calendar::parse_from(v, &draft, source));
        v.finish(next)
    }
}
