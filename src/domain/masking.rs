//! Contact masking: in a pool with `mask_contacts`, members who neither own a lead nor manage
//! the pool see `138****5678` and `j***@example.com`.

use super::access::Actor;
use super::lead::normalize_phone;
use super::member::Membership;

/// Whether this reader sees a lead's real phone and e-mail. Owners, managers, tenant admins and
/// services do; other readers do unless the pool masks contacts.
pub fn sees_contacts(
    actor: &Actor,
    owner_id: Option<&str>,
    viewer: Option<Membership>,
    pool_masks_contacts: bool,
) -> bool {
    !pool_masks_contacts
        || owner_id == Some(actor.user_id.as_str())
        || actor.roles.service
        || actor.manages(viewer)
}

/// Keeps the first 3 and last 4 digits of the national number, the country code dropped as
/// duplicates drop it: `+86 138-1234-5678` and `0086 138 1234 5678` → `138****5678`. Shorter
/// numbers, which those digits would give away, are masked whole.
pub fn mask_phone(phone: &str) -> String {
    let digits: Vec<char> = normalize_phone(phone).chars().collect();
    if phone.is_empty() {
        String::new()
    } else if digits.len() < 8 {
        "****".to_owned()
    } else {
        let head: String = digits[..3].iter().collect();
        let tail: String = digits[digits.len() - 4..].iter().collect();
        format!("{head}****{tail}")
    }
}

/// Keeps the first character and the domain: `jane@example.com` → `j***@example.com`.
pub fn mask_email(email: &str) -> String {
    // By the last `@`: whatever stands before it is hidden, even in a value stored before
    // e-mail addresses were checked.
    match email.rsplit_once('@') {
        _ if email.is_empty() => String::new(),
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}***@{domain}")
        }
        None => "***".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::access::TenantRoles;
    use crate::domain::member::MemberRole;

    #[test]
    fn phones_keep_three_and_four_digits() {
        assert_eq!(mask_phone("13812345678"), "138****5678");
        assert_eq!(mask_phone("+86 138-1234-5678"), "138****5678");
        assert_eq!(mask_phone("021 5555 0000"), "021****0000");
        assert_eq!(mask_phone("１３８１２３４５６７８"), "138****5678");
        assert_eq!(mask_phone("12345"), "****");
        assert_eq!(mask_phone(""), "");
    }

    /// The audit (leaddata repro 03) saw `0086 139 1234 5678` masked `008****5678`: the
    /// country code is dropped as duplicates drop it, whichever way it is written.
    #[test]
    fn phones_mask_the_national_number_however_the_country_code_is_written() {
        for phone in [
            "+86 139 1234 5678",
            "0086 139 1234 5678",
            "86 139 1234 5678",
            "8613912345678",
            "＋８６ 139 1234 5678",
        ] {
            assert_eq!(mask_phone(phone), "139****5678", "{phone}");
        }
        assert_eq!(mask_phone("0086 1234567"), "****");
    }

    #[test]
    fn emails_keep_first_character_and_domain() {
        assert_eq!(mask_email("jane@example.com"), "j***@example.com");
        assert_eq!(mask_email("王@例子.中国"), "王***@例子.中国");
        assert_eq!(mask_email("not-an-email"), "***");
        // Stored before addresses were checked: nothing before the last `@` shows.
        assert_eq!(
            mask_email("john@gmail.com; jane.secret@corp.cn"),
            "j***@corp.cn"
        );
        assert_eq!(mask_email(""), "");
    }

    #[test]
    fn only_plain_members_who_do_not_own_see_masked() {
        let actor = |user: &str, roles: &str| Actor {
            tenant_id: "t".into(),
            user_id: user.into(),
            roles: TenantRoles::parse(roles),
        };
        let member = Some(Membership {
            role: MemberRole::Member,
            active: true,
        });
        let manager = Some(Membership {
            role: MemberRole::Manager,
            active: true,
        });
        assert!(!sees_contacts(
            &actor("bob", ""),
            Some("alice"),
            member,
            true
        ));
        assert!(sees_contacts(
            &actor("alice", ""),
            Some("alice"),
            member,
            true
        ));
        assert!(sees_contacts(
            &actor("mia", ""),
            Some("alice"),
            manager,
            true
        ));
        assert!(sees_contacts(&actor("svc", "service"), None, None, true));
        assert!(sees_contacts(
            &actor("bob", ""),
            Some("alice"),
            member,
            false
        ));
    }
}
