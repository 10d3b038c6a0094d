//! A lead's caller-provided fields, and their validation.

use std::collections::BTreeMap;

use serde::Serialize;

use super::normalize_phone;
use crate::domain::validate::{
    MAX_ATTRIBUTE_CHARS, MAX_ATTRIBUTES, MAX_CODE_CHARS, MAX_NAME_CHARS, MAX_TAG_CHARS, MAX_TAGS,
    Validator, fits, is_clean, quoted,
};

/// The caller-provided fields of a lead, before validation.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LeadFields {
    pub external_ref: String,
    pub name: String,
    pub company: String,
    pub phone: String,
    pub email: String,
    pub source: String,
    pub region: String,
    pub industry: String,
    pub grade: String,
    pub tags: Vec<String>,
    pub attributes: BTreeMap<String, String>,
}

/// Validated fields of a new lead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NewLead {
    pub external_ref: Option<String>,
    pub name: String,
    pub company: String,
    pub phone: String,
    pub email: String,
    pub source: String,
    pub region: String,
    pub industry: String,
    pub grade: String,
    pub tags: Vec<String>,
    pub attributes: BTreeMap<String, String>,
}

impl NewLead {
    /// Validates every field; `prefix` names the message the fields sit in (`lead.`).
    pub fn parse(v: &mut Validator, prefix: &str, draft: &LeadFields) -> Self {
        let field = |name: &str| format!("{prefix}{name}");
        let code = |v: &mut Validator, name: &str, value: &str| {
            v.optional_text(&field(name), value, MAX_CODE_CHARS)
        };
        let external_ref = code(v, "external_ref", &draft.external_ref);
        Self {
            external_ref: Some(external_ref).filter(|r| !r.is_empty()),
            name: v.required_text(&field("name"), &draft.name, MAX_NAME_CHARS),
            company: v.optional_text(&field("company"), &draft.company, MAX_NAME_CHARS),
            phone: phone(v, &field("phone"), &draft.phone),
            email: email(v, &field("email"), &draft.email),
            source: code(v, "source", &draft.source),
            region: code(v, "region", &draft.region),
            industry: code(v, "industry", &draft.industry),
            grade: code(v, "grade", &draft.grade),
            tags: v.codes(&field("tags"), &draft.tags, MAX_TAGS, MAX_TAG_CHARS),
            attributes: parse_attributes(v, &field("attributes"), &draft.attributes),
        }
    }
}

/// Digits a phone holds after normalisation ([`normalize_phone`]): shorter is no number anyone
/// can call back, longer than E.164 allows; duplicate detection compares these digits.
const PHONE_DIGITS: std::ops::RangeInclusive<usize> = 5..=20;

/// An optional phone: empty, or 5 to 20 digits once normalised.
fn phone(v: &mut Validator, field: &str, value: &str) -> String {
    let phone = v.optional_text(field, value, MAX_CODE_CHARS);
    let digits = normalize_phone(&phone).len();
    if !phone.is_empty() && !PHONE_DIGITS.contains(&digits) {
        v.violation(
            field,
            format!(
                "must hold {} to {} digits, got {digits} in {}",
                PHONE_DIGITS.start(),
                PHONE_DIGITS.end(),
                quoted(&phone)
            ),
        );
    }
    phone
}

/// An optional e-mail address: empty, or one address `local@domain` whose domain has a dot, with
/// no spaces and none of the characters that join or quote several addresses (`,;<>()[]"\`).
/// A cell holding two addresses would otherwise be de-duplicated by the whole text and masked
/// as if it were the first alone, showing the second to every member.
fn email(v: &mut Validator, field: &str, value: &str) -> String {
    let email = v.optional_text(field, value, MAX_CODE_CHARS);
    if !email.is_empty() && !is_one_address(&email) {
        v.violation(
            field,
            format!(
                "must be one e-mail address such as name@example.com, got {}",
                quoted(&email)
            ),
        );
    }
    email
}

fn is_one_address(text: &str) -> bool {
    let bad = |c: char| c.is_whitespace() || "@,;<>()[]\"\\".contains(c);
    let Some((local, domain)) = text.split_once('@') else {
        return false;
    };
    let labels_ok = domain.split('.').count() > 1 && domain.split('.').all(|l| !l.is_empty());
    !local.is_empty() && !local.contains(bad) && !domain.contains(bad) && labels_ok
}

fn parse_attributes(
    v: &mut Validator,
    field: &str,
    attributes: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let attributes = attributes.clone();
    if attributes.len() > MAX_ATTRIBUTES {
        v.violation(
            field,
            format!(
                "must have at most {MAX_ATTRIBUTES} keys, got {}",
                attributes.len()
            ),
        );
    }
    for (key, value) in &attributes {
        if key.is_empty() || key.chars().count() > MAX_CODE_CHARS || !is_clean(key, false) {
            // A bad key is quoted (cut short, escaped), never echoed whole as a path.
            v.violation(
                field,
                format!(
                    "keys must be 1 to {MAX_CODE_CHARS} characters without control characters; \
                     {} is not",
                    quoted(key)
                ),
            );
        } else if !fits(value, MAX_ATTRIBUTE_CHARS) {
            v.max_chars(&format!("{field}[{key}]"), value, MAX_ATTRIBUTE_CHARS);
        }
    }
    attributes
}

/// The fields `UpdateLead` may change, as field-mask paths.
pub const UPDATABLE_FIELDS: &[&str] = &[
    "external_ref",
    "name",
    "company",
    "phone",
    "email",
    "source",
    "region",
    "industry",
    "grade",
    "tags",
    "attributes",
];

#[cfg(test)]
mod tests {
    use super::is_one_address;

    #[test]
    fn an_email_is_one_address_with_a_dotted_domain() {
        for good in [
            "jane@example.com",
            "wang.wei+crm@hangzhou-tea.cn",
            "王@例子.中国",
        ] {
            assert!(is_one_address(good), "{good}");
        }
        let bad = [
            "not-an-email",
            "@example.com",
            "jane@",
            "jane@localhost",
            "jane@example..com",
            "jane@.example.com",
            "a@b@example.com",
            "john@gmail.com; jane@corp.cn",
            "john@gmail.com,jane@corp.cn",
            "王伟 <wang@example.com>",
            "jane doe@example.com",
        ];
        for text in bad {
            assert!(!is_one_address(text), "{text}");
        }
    }
}
