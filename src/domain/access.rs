//! Who may do what. Tenant roles come with the caller's identity; the pool role
//! (`MANAGER`) comes from membership. A tenant `admin` acts as a manager of every pool,
//! and `service` (other back ends) reads everything and creates leads.

use uuid::Uuid;

use super::DomainError;
use super::member::{MemberRole, Membership};

/// What decides whether a user reads a lead's notes and history: the lead's pool and owner, the
/// user's membership of that pool, and whether `reads_lead_notes` names the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotesAccess {
    pub lead_id: Uuid,
    pub pool_id: Uuid,
    pub owner_id: Option<String>,
    pub membership: Option<Membership>,
    pub member_reads: bool,
}

/// The caller of one RPC, already authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub tenant_id: String,
    pub user_id: String,
    pub roles: TenantRoles,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TenantRoles {
    pub admin: bool,
    pub service: bool,
}

impl TenantRoles {
    /// Parses a comma-separated role list; unknown roles grant nothing.
    pub fn parse(list: &str) -> Self {
        Self::named(list.split(','))
    }

    /// The roles among `names`, matched case-insensitively and without surrounding spaces;
    /// other names grant nothing.
    pub fn named<'a>(names: impl IntoIterator<Item = &'a str>) -> Self {
        names
            .into_iter()
            .map(str::trim)
            .fold(Self::default(), |roles, role| Self {
                admin: roles.admin || role.eq_ignore_ascii_case("admin"),
                service: roles.service || role.eq_ignore_ascii_case("service"),
            })
    }
}

impl Actor {
    /// Admins and services see every pool and lead of the tenant.
    pub fn reads_everything(&self) -> bool {
        self.roles.admin || self.roles.service
    }

    /// Whose pools a pool listing shows: `None` (every pool) for admins and services, else
    /// the actor's own.
    pub fn listed_member(&self) -> Option<&str> {
        (!self.reads_everything()).then_some(self.user_id.as_str())
    }

    pub fn require_admin(&self) -> Result<(), DomainError> {
        if self.roles.admin {
            Ok(())
        } else {
            Err(DomainError::AdminRequired)
        }
    }

    /// Reading a pool, its members and its leads: any member (active or not), admins, services.
    pub fn require_pool_reader(
        &self,
        pool_id: Uuid,
        membership: Option<Membership>,
    ) -> Result<(), DomainError> {
        if self.reads_everything() || membership.is_some() {
            Ok(())
        } else {
            Err(DomainError::NotPoolMember { pool_id })
        }
    }

    /// Reading a lead: its owner, or whoever may read its pool.
    pub fn require_lead_reader(
        &self,
        pool_id: Uuid,
        owner_id: Option<&str>,
        membership: Option<Membership>,
    ) -> Result<(), DomainError> {
        if owner_id == Some(self.user_id.as_str()) {
            Ok(())
        } else {
            self.require_pool_reader(pool_id, membership)
        }
    }

    /// Reading a lead's follow-up notes and history: whoever may read the lead and either has
    /// a tenant role (`admin`, `service`) or is one of the users the SQL function
    /// `reads_lead_notes` names (its owner, the pool's managers, the pool's other members only
    /// while the lead is in the pool, so the next rep sees what came before (退回公海后信息不丢失)
    /// but nobody reads the live notes of a lead a colleague works; for a converted or discarded
    /// lead, the member who held it last). That function is the rule's one definition: the event
    /// feed filters a plain member's events with it.
    pub fn require_notes_reader(&self, lead: &NotesAccess) -> Result<(), DomainError> {
        self.require_lead_reader(lead.pool_id, lead.owner_id.as_deref(), lead.membership)?;
        if self.reads_everything() || lead.member_reads {
            Ok(())
        } else {
            Err(DomainError::NotLeadOwner {
                lead_id: lead.lead_id,
            })
        }
    }

    /// Whose right to read lead histories bounds the actor's events of a pool: `None` for those
    /// who read every lead's history there (admins, services, the pool's managers); a plain
    /// member reads only the events of leads whose history they may read now
    /// ([`Self::require_notes_reader`]).
    pub fn feed_notes_reader(&self, membership: Option<Membership>) -> Option<&str> {
        (!self.reads_everything() && !self.manages(membership)).then_some(self.user_id.as_str())
    }

    /// Whether the actor acts on everything in the pool: an active manager or a tenant admin.
    pub fn manages(&self, membership: Option<Membership>) -> bool {
        self.roles.admin || membership.is_some_and(|m| m.active && m.role == MemberRole::Manager)
    }

    pub fn require_manager(
        &self,
        pool_id: Uuid,
        membership: Option<Membership>,
    ) -> Result<(), DomainError> {
        if self.manages(membership) {
            Ok(())
        } else {
            Err(DomainError::ManagerRequired { pool_id })
        }
    }

    /// Creating leads: the `service` role, or whoever manages the pool.
    pub fn require_lead_creator(
        &self,
        pool_id: Uuid,
        membership: Option<Membership>,
    ) -> Result<(), DomainError> {
        if self.roles.service {
            Ok(())
        } else {
            self.require_manager(pool_id, membership)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn actor(roles: &str) -> Actor {
        Actor {
            tenant_id: "t1".into(),
            user_id: "u1".into(),
            roles: TenantRoles::parse(roles),
        }
    }

    const MANAGER: Membership = Membership {
        role: MemberRole::Manager,
        active: true,
    };

    #[test]
    fn parses_role_lists_loosely() {
        assert_eq!(
            TenantRoles::parse(" Admin , service,,other"),
            TenantRoles {
                admin: true,
                service: true
            }
        );
        assert_eq!(TenantRoles::parse(""), TenantRoles::default());
    }

    #[test]
    fn inactive_manager_does_not_manage() {
        let pool = Uuid::nil();
        let inactive = Membership {
            active: false,
            ..MANAGER
        };
        assert!(actor("").require_manager(pool, Some(MANAGER)).is_ok());
        assert!(actor("").require_manager(pool, Some(inactive)).is_err());
        assert!(actor("admin").require_manager(pool, None).is_ok());
    }

    #[test]
    fn only_a_plain_members_feed_is_bound_by_their_notes_rights() {
        let member = Membership {
            role: MemberRole::Member,
            active: true,
        };
        let demoted = Membership {
            active: false,
            ..MANAGER
        };
        assert_eq!(actor("").feed_notes_reader(Some(member)), Some("u1"));
        assert_eq!(actor("").feed_notes_reader(Some(demoted)), Some("u1"));
        assert_eq!(actor("").feed_notes_reader(Some(MANAGER)), None);
        assert_eq!(actor("admin").feed_notes_reader(None), None);
        assert_eq!(actor("service").feed_notes_reader(None), None);
    }

    #[test]
    fn services_create_leads_but_plain_members_do_not() {
        let pool = Uuid::nil();
        let member = Membership {
            role: MemberRole::Member,
            active: true,
        };
        assert!(actor("service").require_lead_creator(pool, None).is_ok());
        assert!(matches!(
            actor("").require_lead_creator(pool, Some(member)),
            Err(DomainError::ManagerRequired { .. })
        ));
    }
}
