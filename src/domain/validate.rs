//! Collects every invalid field of a request so the caller learns about all of them at once.
//! Limits are those of `shared/api.md`, checked before the database is touched.

use uuid::Uuid;

use super::error::{DomainError, FieldViolation};

pub const MAX_NAME_CHARS: usize = 200;
pub const MAX_NOTE_CHARS: usize = 2_000;
pub const MAX_CODE_CHARS: usize = 128;
pub const MAX_TAGS: usize = 20;
pub const MAX_TAG_CHARS: usize = 50;
pub const MAX_ATTRIBUTES: usize = 50;
pub const MAX_ATTRIBUTE_CHARS: usize = 500;
/// Items of one batch call (ids of `ClaimLeads`, rows of `ImportLeads`).
pub const MAX_BATCH_ITEMS: usize = 1_000;
/// How much of a caller's input an error quotes back: enough to recognise it, never so much
/// that the reply outgrows what clients accept in a header.
pub const MAX_QUOTED_CHARS: usize = 64;
/// Violations reported one by one; the rest are counted in a last one.
pub const MAX_REPORTED_VIOLATIONS: usize = 25;

/// `value` as an error message quotes it: in quotes, escaped, cut to [`MAX_QUOTED_CHARS`].
pub fn quoted(value: &str) -> String {
    let mut chars = value.chars();
    let head: String = chars.by_ref().take(MAX_QUOTED_CHARS).collect();
    if chars.next().is_some() {
        format!("{head:?}…")
    } else {
        format!("{head:?}")
    }
}

/// A calendar date written `YYYY-MM-DD`, exactly: four digits of a year from 0001 to 9999 (the
/// years every stored time lies in), never a sign, a fifth digit or a short month.
pub fn iso_date(text: &str) -> Option<chrono::NaiveDate> {
    let bytes = text.as_bytes();
    let shaped = bytes.len() == 10
        && bytes.iter().enumerate().all(|(i, b)| match i {
            4 | 7 => *b == b'-',
            _ => b.is_ascii_digit(),
        });
    let date = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()?;
    (shaped && chrono::Datelike::year(&date) >= 1).then_some(date)
}

/// The field a violation's path starts with: `tags` of `tags[3]`, `distribution` of
/// `distribution.strategy`; what a field mask names.
pub fn field_root(path: &str) -> &str {
    path.split(['[', '.']).next().unwrap_or(path)
}

/// Whether a text may hold `c`: never NUL or another control character, which PostgreSQL
/// refuses (NUL) or which forge log lines and break displays; free texts (names, notes) may
/// keep line breaks and tabs.
fn allowed_char(c: char, free_text: bool) -> bool {
    !c.is_control() || (free_text && matches!(c, '\n' | '\r' | '\t'))
}

/// `value` without the white space around it, but only white space it may hold: a control
/// character Unicode counts as white space (vertical tab, form feed, NEL; line breaks in an id)
/// stays, to be refused as the caller sent it rather than dropped unseen.
fn trim(value: &str, free_text: bool) -> &str {
    value.trim_matches(|c: char| c.is_whitespace() && allowed_char(c, free_text))
}

/// Whether a text of at most `max` characters is free text (a name, a note), which may keep line
/// breaks and tabs, rather than an id or a code.
fn is_free_text(max: usize) -> bool {
    max > MAX_CODE_CHARS
}

/// Whether `value` is at most `max` characters, none of them refused: what
/// [`Validator::max_chars`] lets through.
pub fn fits(value: &str, max: usize) -> bool {
    value.chars().count() <= max && is_clean(value, is_free_text(max))
}

/// Whether every character of `text` is allowed (see `allowed_char`): for keys and values of
/// maps, which are checked as a whole rather than field by field.
pub fn is_clean(text: &str, free_text: bool) -> bool {
    text.chars().all(|c| allowed_char(c, free_text))
}

/// Whether `value` can be a tenant id, user id or role list as callers present them
/// (`x-actor-id`, a token's `sub`): 1 to 128 visible ASCII characters.
pub fn is_identity(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= MAX_CODE_CHARS
        && value.chars().all(|c| c.is_ascii_graphic())
}

#[derive(Debug, Default)]
pub struct Validator {
    violations: Vec<FieldViolation>,
}

impl Validator {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn violation(&mut self, field: &str, description: impl Into<String>) {
        self.violations
            .push(FieldViolation::new(field, description.into()));
    }

    /// A UUID the caller must send. When absent or malformed the violation is recorded and
    /// the nil UUID returned, which [`Validator::finish`] never lets through.
    pub fn uuid(&mut self, field: &str, value: &str) -> Uuid {
        if value.is_empty() {
            self.violation(field, "is required");
            return Uuid::nil();
        }
        self.optional_uuid(field, value).unwrap_or_default()
    }

    /// A UUID the caller may leave empty.
    pub fn optional_uuid(&mut self, field: &str, value: &str) -> Option<Uuid> {
        if value.is_empty() {
            return None;
        }
        let parsed = Uuid::parse_str(value).ok();
        if parsed.is_none() {
            self.violation(field, format!("must be a UUID, got {}", quoted(value)));
        }
        parsed
    }

    /// 1 to [`MAX_BATCH_ITEMS`] distinct UUIDs, in the caller's order.
    pub fn uuid_batch(&mut self, field: &str, values: &[String]) -> Vec<Uuid> {
        if values.is_empty() || values.len() > MAX_BATCH_ITEMS {
            self.violation(
                field,
                format!("must hold 1 to {MAX_BATCH_ITEMS} ids, got {}", values.len()),
            );
            return Vec::new();
        }
        let mut seen = std::collections::HashSet::with_capacity(values.len());
        let mut ids = Vec::with_capacity(values.len());
        for (i, value) in values.iter().enumerate() {
            let item = format!("{field}[{i}]");
            match self.optional_uuid(&item, value) {
                Some(id) if !seen.insert(id) => self.violation(&item, "repeats an earlier id"),
                Some(id) => ids.push(id),
                None if value.is_empty() => self.violation(&item, "is required"),
                None => {}
            }
        }
        ids
    }

    /// A user id as callers present it ([`is_identity`]), exactly as sent: a member no caller
    /// could ever act as would hold leads nobody can work.
    pub fn user_id(&mut self, field: &str, value: &str) -> String {
        if value.is_empty() {
            self.violation(field, "is required");
        } else if !is_identity(value) {
            self.violation(
                field,
                format!(
                    "must be 1 to {MAX_CODE_CHARS} visible ASCII characters without spaces, as \
                     callers present it in x-actor-id or a token's sub; got {}",
                    quoted(value)
                ),
            );
        }
        value.to_owned()
    }

    /// A required text of at most `max` characters; returned trimmed.
    pub fn required_text(&mut self, field: &str, value: &str, max: usize) -> String {
        let trimmed = trim(value, is_free_text(max));
        if trimmed.is_empty() {
            self.violation(field, "is required");
        } else {
            self.max_chars(field, trimmed, max);
        }
        trimmed.to_owned()
    }

    /// An optional text of at most `max` characters; returned trimmed.
    pub fn optional_text(&mut self, field: &str, value: &str, max: usize) -> String {
        let trimmed = trim(value, is_free_text(max));
        self.max_chars(field, trimmed, max);
        trimmed.to_owned()
    }

    /// At most `max` characters, none of them a control character (see [`fits`]). Texts of code
    /// length (ids, codes, reasons: at most [`MAX_CODE_CHARS`]) refuse every control character;
    /// longer free texts (names, notes) may keep line breaks and tabs.
    pub fn max_chars(&mut self, field: &str, value: &str, max: usize) {
        let chars = value.chars().count();
        if chars > max {
            self.violation(
                field,
                format!("must be at most {max} characters, got {chars}"),
            );
        }
        let free_text = is_free_text(max);
        if let Some(bad) = value.chars().find(|c| !allowed_char(*c, free_text)) {
            let allowed = if free_text {
                " other than line breaks and tabs"
            } else {
                ""
            };
            self.violation(
                field,
                format!(
                    "must not contain control characters{allowed}, found U+{:04X}",
                    u32::from(bad)
                ),
            );
        }
    }

    pub fn non_negative(&mut self, field: &str, value: Option<i32>) -> Option<i32> {
        if let Some(v) = value.filter(|v| *v < 0) {
            self.violation(field, format!("must be 0 or more, got {v}"));
        }
        value
    }

    /// Codes such as regions or tags: at most `max_items`, each non-empty and at most
    /// `max_chars`; a bad one is named by its index (`regions[2]`), as AIP-193 names items.
    pub fn codes(
        &mut self,
        field: &str,
        values: &[String],
        max_items: usize,
        max_chars: usize,
    ) -> Vec<String> {
        if values.len() > max_items {
            self.violation(
                field,
                format!("must have at most {max_items} items, got {}", values.len()),
            );
        }
        let mut codes = Vec::with_capacity(values.len());
        for (i, value) in values.iter().enumerate() {
            let code = trim(value, false);
            // The item's path is written only for a bad item: an import checks a million rows.
            if code.is_empty() {
                self.violation(&format!("{field}[{i}]"), "must not be empty");
            } else if !fits(code, max_chars) {
                self.max_chars(&format!("{field}[{i}]"), code, max_chars);
            }
            codes.push(code.to_owned());
        }
        codes
    }

    /// The paths of an update's field mask, each one of `allowed`; an empty mask is refused
    /// rather than guessed at.
    pub fn field_mask(&mut self, paths: &[String], allowed: &[&str]) -> Vec<String> {
        if paths.is_empty() {
            self.violation("update_mask", "is required: name the fields to change");
        }
        for path in paths.iter().filter(|p| !allowed.contains(&p.as_str())) {
            self.violation(
                "update_mask",
                format!(
                    "{} cannot be updated; allowed: {}",
                    quoted(path),
                    allowed.join(", ")
                ),
            );
        }
        paths.to_vec()
    }

    /// Validates a nested message with `parse`, naming its fields by their full request path
    /// (`pool.name`, `member.weight`), as AIP-193 and the rest of the API do.
    pub fn nested<T>(&mut self, prefix: &str, parse: impl FnOnce(&mut Validator) -> T) -> T {
        let mut inner = Validator::new();
        let value = parse(&mut inner);
        self.violations
            .extend(inner.violations.into_iter().map(|v| v.under(prefix)));
        value
    }

    /// Forgets the violations of fields an update does not touch: their values were not sent.
    pub fn retain_fields(&mut self, keep: impl Fn(&str) -> bool) {
        self.violations.retain(|v| keep(&v.field));
    }

    /// Ends validation: the value if every field was valid, else all violations at once.
    /// Past [`MAX_REPORTED_VIOLATIONS`], the rest are counted in one last violation, so a
    /// huge bad batch gets a reply of bounded size.
    pub fn finish<T>(mut self, value: T) -> Result<T, DomainError> {
        if self.violations.is_empty() {
            return Ok(value);
        }
        if self.violations.len() > MAX_REPORTED_VIOLATIONS {
            let unreported = self.violations.split_off(MAX_REPORTED_VIOLATIONS);
            let first = unreported[0].field.clone();
            let more = unreported.len();
            self.violation(
                &first,
                format!("and {more} more invalid fields from here on, not listed"),
            );
        }
        Err(DomainError::ValidationFailed(self.violations))
    }

    /// The fields [`Validator::finish`] reports, in order; empty when all were valid. Lets a
    /// test say in one line which fields a parse rejected.
    #[cfg(test)]
    pub fn rejected_fields(self) -> Vec<String> {
        match self.finish(()) {
            Ok(()) => Vec::new(),
            Err(err) => err
                .field_violations()
                .iter()
                .map(|f| f.field.clone())
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_four_digit_years_months_and_days() {
        let day = chrono::NaiveDate::from_ymd_opt(2027, 2, 6);
        assert_eq!(iso_date("2027-02-06"), day);
        assert_eq!(
            iso_date("0001-01-01"),
            chrono::NaiveDate::from_ymd_opt(1, 1, 1)
        );
        for bad in [
            "-4713-01-01",
            "0000-01-01",
            "+2027-01-01",
            "2027-1-1",
            "+10000-01-01",
            "2027-02-30",
            " 2027-02-06",
            "２０２７-02-06",
        ] {
            assert_eq!(iso_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn reports_every_bad_field_at_once() {
        let mut v = Validator::new();
        v.uuid("pool_id", "not-a-uuid");
        v.required_text("name", "  ", MAX_NAME_CHARS);
        v.required_text("reason", &"x".repeat(129), MAX_CODE_CHARS);
        let Err(DomainError::ValidationFailed(violations)) = v.finish(()) else {
            panic!("expected a validation failure");
        };
        let fields: Vec<_> = violations.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(fields, ["pool_id", "name", "reason"]);
    }

    #[test]
    fn control_characters_are_refused_but_free_texts_keep_line_breaks() {
        let mut v = Validator::new();
        v.required_text("name", "王伟\n\t销售", MAX_NAME_CHARS);
        let name = v.required_text("name", " 王伟\n", MAX_NAME_CHARS);
        let owner = v.required_text("owner_id", "\u{3000}alice ", MAX_CODE_CHARS);
        assert!(v.finish(()).is_ok());
        assert_eq!((name.as_str(), owner.as_str()), ("王伟", "alice"));
        for (field, value, max) in [
            ("name", "a\0b", MAX_NAME_CHARS),
            ("owner_id", "alice\nbob", MAX_CODE_CHARS),
            ("note", "bell\u{7}", MAX_NOTE_CHARS),
            // White space to Unicode, control characters all the same: not trimmed away.
            ("name", "王伟\u{b}", MAX_NAME_CHARS),
            ("grade", "A\u{85}", MAX_CODE_CHARS),
            ("owner_id", "alice\n", MAX_CODE_CHARS),
            ("reason", "\u{c}NO_BUDGET", MAX_CODE_CHARS),
        ] {
            let mut v = Validator::new();
            v.required_text(field, value, max);
            let err = v.finish(()).expect_err("control character");
            assert_eq!(err.field_violations()[0].field, field, "{value:?}");
        }
    }

    #[test]
    fn errors_quote_at_most_64_characters_and_25_fields() {
        let mut v = Validator::new();
        let ids: Vec<String> = (0..900).map(|_| "x".repeat(10_000)).collect();
        v.uuid_batch("lead_ids", &ids);
        let err = v.finish(()).expect_err("bad ids");
        let violations = err.field_violations();
        assert_eq!(violations.len(), MAX_REPORTED_VIOLATIONS + 1);
        assert!(
            violations
                .iter()
                .all(|f| f.description.chars().count() < 120)
        );
        assert_eq!(violations[MAX_REPORTED_VIOLATIONS].field, "lead_ids[25]");
        assert!(err.to_string().len() < 5_000);
    }

    #[test]
    fn counts_characters_not_bytes() {
        let mut v = Validator::new();
        let name = v.required_text("name", &"公".repeat(200), MAX_NAME_CHARS);
        assert!(v.finish(()).is_ok());
        assert_eq!(name.chars().count(), 200);
    }
}
