//! Imports: every row is checked on its own, so one bad row costs only itself. Rows that
//! repeat an earlier row's contact or external_ref are settled here, before the database.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::lead::{LeadFields, NewLead, normalize_email, normalize_phone};
use super::validate::Validator;

pub const MAX_BATCH_ROWS: usize = super::validate::MAX_BATCH_ITEMS;

/// A row after the checks that need no database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowCheck {
    /// To be written; `repeats` is an earlier valid row with the same phone or e-mail.
    Valid {
        lead: Box<NewLead>,
        repeats: Option<usize>,
    },
    Invalid {
        field: String,
        message: String,
    },
}

/// Checks each row, then marks rows repeating an earlier row's contact (a duplicate of it) or
/// external_ref (invalid: one id cannot name two leads).
pub fn check_rows(drafts: &[LeadFields]) -> Vec<RowCheck> {
    let mut first_contact: HashMap<String, usize> = HashMap::new();
    let mut first_ref: HashMap<String, usize> = HashMap::new();
    drafts
        .iter()
        .enumerate()
        .map(|(index, draft)| {
            let mut v = Validator::new();
            let lead = NewLead::parse(&mut v, "", draft);
            if let Err(err) = v.finish(()) {
                let first = err.field_violations().first().cloned();
                return RowCheck::Invalid {
                    field: first.as_ref().map(|f| f.field.clone()).unwrap_or_default(),
                    message: first.map(|f| f.description).unwrap_or_default(),
                };
            }
            if let Some(external_ref) = &lead.external_ref {
                match first_ref.entry(external_ref.clone()) {
                    Entry::Occupied(earlier) => {
                        return RowCheck::Invalid {
                            field: "external_ref".into(),
                            message: format!("repeats the external_ref of row {}", earlier.get()),
                        };
                    }
                    Entry::Vacant(slot) => {
                        slot.insert(index);
                    }
                }
            }
            let contacts = [
                Some(normalize_phone(&lead.phone))
                    .filter(|p| !p.is_empty())
                    .map(|p| format!("p:{p}")),
                Some(normalize_email(&lead.email))
                    .filter(|e| !e.is_empty())
                    .map(|e| format!("e:{e}")),
            ];
            let repeats = contacts
                .iter()
                .flatten()
                .find_map(|c| first_contact.get(c).copied());
            if repeats.is_none() {
                for contact in contacts.into_iter().flatten() {
                    first_contact.entry(contact).or_insert(index);
                }
            }
            RowCheck::Valid {
                lead: Box::new(lead),
                repeats,
            }
        })
        .collect()
}

/// What the database did with one valid row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    pub id: Uuid,
    pub created: bool,
    /// The live lead with the same contact, if any.
    pub existing: Option<Uuid>,
    /// The lead that already has this external_ref, if any.
    pub ref_owner: Option<Uuid>,
}

/// The outcome of one row, as reported to the caller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RowOutcome {
    Created(Uuid),
    Duplicate(Option<Uuid>),
    Invalid { field: String, message: String },
}

/// Combines the row checks with what the database did (`written[i]` for the i-th valid row).
pub fn outcomes(checks: Vec<RowCheck>, written: &[Written]) -> Vec<RowOutcome> {
    let mut written = written.iter();
    let mut done: Vec<Option<RowOutcome>> = Vec::with_capacity(checks.len());
    for check in checks {
        let outcome = match check {
            RowCheck::Invalid { field, message } => RowOutcome::Invalid { field, message },
            RowCheck::Valid { repeats, .. } => {
                let row = written.next().copied();
                match (row, repeats) {
                    (Some(w), _) if w.created => RowOutcome::Created(w.id),
                    (
                        Some(Written {
                            ref_owner: Some(owner),
                            ..
                        }),
                        _,
                    ) => RowOutcome::Invalid {
                        field: "external_ref".into(),
                        message: format!("already names lead {owner}"),
                    },
                    (
                        Some(Written {
                            existing: Some(id), ..
                        }),
                        _,
                    ) => RowOutcome::Duplicate(Some(id)),
                    // Not created because it repeats an earlier row: it duplicates what that became.
                    (_, Some(earlier)) => RowOutcome::Duplicate(match &done[earlier] {
                        Some(RowOutcome::Created(id)) => Some(*id),
                        Some(RowOutcome::Duplicate(id)) => *id,
                        _ => None,
                    }),
                    // Lost a race with a concurrent create of the same contact.
                    _ => RowOutcome::Duplicate(None),
                }
            }
        };
        done.push(Some(outcome));
    }
    done.into_iter().flatten().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft(name: &str, phone: &str, external_ref: &str) -> LeadFields {
        LeadFields {
            name: name.into(),
            phone: phone.into(),
            external_ref: external_ref.into(),
            ..Default::default()
        }
    }

    #[test]
    fn rows_repeating_an_earlier_contact_or_ref_are_marked() {
        let checks = check_rows(&[
            draft("A", "+86 138 0000 1234", "r1"),
            draft("", "", ""),
            draft("B", "13800001234", ""),
            draft("C", "13900001111", "r1"),
        ]);
        assert!(matches!(checks[0], RowCheck::Valid { repeats: None, .. }));
        assert!(matches!(&checks[1], RowCheck::Invalid { field, .. } if field == "name"));
        assert!(matches!(
            checks[2],
            RowCheck::Valid {
                repeats: Some(0),
                ..
            }
        ));
        assert!(matches!(&checks[3], RowCheck::Invalid { field, .. } if field == "external_ref"));
    }

    #[test]
    fn a_repeat_duplicates_what_its_first_row_became() {
        let checks = check_rows(&[draft("A", "13800001234", ""), draft("B", "13800001234", "")]);
        let first = Uuid::now_v7();
        let written = [
            Written {
                id: first,
                created: true,
                existing: None,
                ref_owner: None,
            },
            Written {
                id: Uuid::now_v7(),
                created: false,
                existing: None,
                ref_owner: None,
            },
        ];
        assert_eq!(
            outcomes(checks, &written),
            [
                RowOutcome::Created(first),
                RowOutcome::Duplicate(Some(first))
            ]
        );
    }
}
