//! `RULE_MATCH`: a member takes the leads whose region, industry and grade are among theirs;
//! an empty list matches every value, a lead without a value only members without that list.

use super::{Candidate, Recipient};

pub fn matches(recipient: &Recipient, lead: &Candidate) -> bool {
    covers(&recipient.regions, &lead.region)
        && covers(&recipient.industries, &lead.industry)
        && covers(&recipient.grades, &lead.grade)
}

fn covers(list: &[String], value: &str) -> bool {
    list.is_empty() || list.iter().any(|v| v == value)
}
