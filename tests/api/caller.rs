//! A typed client per caller, so a test says what happens and not how a request is built:
//! `let alice = app.as_member("alice"); alice.claim(&lead.id).await`.
//!
//! Every call comes twice: `try_claim(..)` returns the status for tests of refusals, and
//! `claim(..)` expects success. Calls that take a whole request (`create_pool`, `list_leads`)
//! leave the test to say which fields matter; the rest are filled with their defaults.

use leadpool::proto;
use leadpool::proto::assignment_service_client::AssignmentServiceClient;
use leadpool::proto::availability_service_client::AvailabilityServiceClient;
use leadpool::proto::calendar_service_client::CalendarServiceClient;
use leadpool::proto::event_service_client::EventServiceClient;
use leadpool::proto::lead_service_client::LeadServiceClient;
use leadpool::proto::pool_service_client::PoolServiceClient;
use leadpool::proto::recycle_service_client::RecycleServiceClient;
use leadpool::proto::report_service_client::ReportServiceClient;
use tonic::transport::Channel;
use tonic::{Request, Status};

use crate::fixtures::TENANT;
use crate::harness::{Caller, TestApp};

/// One caller's view of the server: their identity on every request, over the test's channel.
#[derive(Debug, Clone)]
pub struct Client {
    pub caller: Caller,
    channel: Channel,
}

impl TestApp {
    /// A user of the test tenant with no tenant role: a member, a manager or a stranger,
    /// as the pool's membership says.
    pub fn as_member(&self, user: &str) -> Client {
        self.as_caller(Caller::user(TENANT, user))
    }

    /// The tenant's administrator.
    pub fn as_admin(&self) -> Client {
        self.as_caller(Caller::admin(TENANT))
    }

    /// The CRM importer, with the tenant's `service` role.
    pub fn as_service(&self) -> Client {
        self.as_caller(Caller::service(TENANT))
    }

    pub fn as_caller(&self, caller: Caller) -> Client {
        Client {
            caller,
            channel: self.channel(),
        }
    }
}

impl Client {
    /// The same caller on another channel (another replica, a new connection).
    pub fn on(&self, channel: Channel) -> Self {
        Self {
            caller: self.caller.clone(),
            channel,
        }
    }

    pub fn req<T>(&self, message: T) -> Request<T> {
        self.caller.req(message)
    }
}

/// The generated clients of every service, on one channel. Requests carry no identity of
/// their own: a `Client` adds its caller's, a test that speaks for itself builds its own.
pub trait Services {
    fn channel(&self) -> Channel;

    fn pools(&self) -> PoolServiceClient<Channel> {
        PoolServiceClient::new(self.channel())
    }

    fn leads(&self) -> LeadServiceClient<Channel> {
        LeadServiceClient::new(self.channel())
    }

    fn assignments(&self) -> AssignmentServiceClient<Channel> {
        AssignmentServiceClient::new(self.channel())
    }

    fn events(&self) -> EventServiceClient<Channel> {
        EventServiceClient::new(self.channel())
    }

    fn recycles(&self) -> RecycleServiceClient<Channel> {
        RecycleServiceClient::new(self.channel())
    }

    fn calendars(&self) -> CalendarServiceClient<Channel> {
        CalendarServiceClient::new(self.channel())
    }

    fn availability(&self) -> AvailabilityServiceClient<Channel> {
        AvailabilityServiceClient::new(self.channel())
    }

    fn reports(&self) -> ReportServiceClient<Channel> {
        ReportServiceClient::new(self.channel())
    }
}

impl Services for Client {
    fn channel(&self) -> Channel {
        self.channel.clone()
    }
}

impl Services for TestApp {
    fn channel(&self) -> Channel {
        TestApp::channel(self)
    }
}

fn present<T>(message: Option<T>) -> T {
    message.expect("the response carries its resource")
}

fn mask(paths: &[&str]) -> Option<prost_types::FieldMask> {
    Some(prost_types::FieldMask {
        paths: paths.iter().map(|p| p.to_string()).collect(),
    })
}

/// `name, try_name(args) -> Out = service.rpc(request) => pick;` makes `try_name`, which sends
/// the request and picks `Out` from the response, and `name`, which expects it to succeed. Both
/// forms exist for every call whether or not a test uses both yet, hence `dead_code`.
macro_rules! calls {
    ($(
        $(#[$doc:meta])*
        $name:ident, $try_name:ident($($arg:ident: $ty:ty),*) -> $out:ty
            = $service:ident.$rpc:ident($request:expr) => $pick:expr;
    )*) => {
        impl Client {$(
            $(#[$doc])*
            #[allow(dead_code)]
            pub async fn $try_name(&self, $($arg: $ty),*) -> Result<$out, Status> {
                self.$service()
                    .$rpc(self.req($request))
                    .await
                    .map(tonic::Response::into_inner)
                    .map($pick)
            }

            $(#[$doc])*
            #[allow(dead_code)]
            pub async fn $name(&self, $($arg: $ty),*) -> $out {
                match self.$try_name($($arg),*).await {
                    Ok(out) => out,
                    Err(status) => panic!(
                        "{} by {}: {status:?}", stringify!($rpc), self.caller.user
                    ),
                }
            }
        )*}
    };
}

/// `name, try_name = rpc(Request);` for the calls that take a lead id and answer with the lead.
macro_rules! lead_calls {
    ($($name:ident, $try_name:ident = $rpc:ident($request:ident);)*) => {
        calls! {$(
            $name, $try_name(lead_id: &str) -> proto::Lead
                = leads.$rpc(with!($request { lead_id: lead_id.into() })) => |r| present(r.lead);
        )*}
    };
}

/// A request with these fields and defaults for the rest.
macro_rules! with {
    ($request:ident { $($field:ident $(: $value:expr)?),* }) => {{
        #[allow(clippy::needless_update)]
        let request = proto::$request { $($field $(: $value)?,)* ..Default::default() };
        request
    }};
}

calls! {
    create_pool, try_create_pool(request: proto::CreatePoolRequest) -> proto::Pool
        = pools.create_pool(request) => |r| present(r.pool);
    get_pool, try_get_pool(pool_id: &str) -> proto::Pool
        = pools.get_pool(with!(GetPoolRequest { pool_id: pool_id.into() }))
        => |r| present(r.pool);
    list_pools, try_list_pools(request: proto::ListPoolsRequest) -> proto::ListPoolsResponse
        = pools.list_pools(request) => |r| r;
    /// Changes the fields named in `paths` to their values in `pool`.
    update_pool, try_update_pool(pool: proto::Pool, paths: &[&str]) -> proto::UpdatePoolResponse
        = pools.update_pool(with!(UpdatePoolRequest {
            pool: Some(pool), update_mask: mask(paths)
        })) => |r| r;
    /// As `update_pool`, and recomputes the owned leads' deadlines by the new rules.
    reschedule, try_reschedule(pool: proto::Pool, paths: &[&str]) -> proto::UpdatePoolResponse
        = pools.update_pool(with!(UpdatePoolRequest {
            pool: Some(pool), update_mask: mask(paths), reschedule_owned: true
        })) => |r| r;
    remove_member, try_remove_member(pool_id: &str, user_id: &str) -> i32
        = pools.remove_member(with!(RemoveMemberRequest {
            pool_id: pool_id.into(), user_id: user_id.into()
        })) => |r| r.released_leads;
    archive_pool, try_archive_pool(pool_id: &str) -> proto::Pool
        = pools.archive_pool(with!(ArchivePoolRequest { pool_id: pool_id.into() }))
        => |r| present(r.pool);
    list_members, try_list_members(request: proto::ListMembersRequest)
        -> proto::ListMembersResponse
        = pools.list_members(request) => |r| r;
    add_member, try_add_member(request: proto::AddMemberRequest) -> proto::Member
        = pools.add_member(request) => |r| present(r.member);
    /// Changes the fields named in `paths` to their values in `member`.
    update_member, try_update_member(member: proto::Member, paths: &[&str]) -> proto::Member
        = pools.update_member(with!(UpdateMemberRequest {
            member: Some(member), update_mask: mask(paths)
        })) => |r| present(r.member);
    /// Held count, cap, claims today and quota of `user_id` ("me": the caller) in a pool.
    member_stats, try_member_stats(pool_id: &str, user_id: &str)
        -> proto::GetMemberStatsResponse
        = pools.get_member_stats(with!(GetMemberStatsRequest {
            pool_id: pool_id.into(), user_id: user_id.into()
        })) => |r| r;

    create_calendar, try_create_calendar(calendar: proto::Calendar) -> proto::Calendar
        = calendars.create_calendar(with!(CreateCalendarRequest { calendar: Some(calendar) }))
        => |r| present(r.calendar);
    get_calendar, try_get_calendar(calendar_id: &str) -> proto::Calendar
        = calendars.get_calendar(with!(GetCalendarRequest { calendar_id: calendar_id.into() }))
        => |r| present(r.calendar);
    list_calendars, try_list_calendars(page_size: i32, page_token: String)
        -> proto::ListCalendarsResponse
        = calendars.list_calendars(with!(ListCalendarsRequest { page_size, page_token }))
        => |r| r;
    /// Changes the fields named in `paths` to their values in `calendar`.
    update_calendar, try_update_calendar(calendar: proto::Calendar, paths: &[&str])
        -> proto::Calendar
        = calendars.update_calendar(with!(UpdateCalendarRequest {
            calendar: Some(calendar), update_mask: mask(paths)
        })) => |r| present(r.calendar);
    /// As `update_calendar`, and recomputes the owned leads' deadlines of the pools naming it;
    /// how many changed.
    reschedule_calendar, try_reschedule_calendar(calendar: proto::Calendar, paths: &[&str]) -> i32
        = calendars.update_calendar(with!(UpdateCalendarRequest {
            calendar: Some(calendar), update_mask: mask(paths), reschedule_owned: true
        })) => |r| r.rescheduled_leads;
    delete_calendar, try_delete_calendar(calendar_id: &str) -> ()
        = calendars.delete_calendar(with!(DeleteCalendarRequest { calendar_id: calendar_id.into() }))
        => |_| ();

    create_lead, try_create_lead(request: proto::CreateLeadRequest) -> proto::Lead
        = leads.create_lead(request) => |r| present(r.lead);
    /// A lead with these fields in the pool.
    create_in, try_create_in(pool_id: &str, lead: proto::NewLead) -> proto::Lead
        = leads.create_lead(with!(CreateLeadRequest { pool_id: pool_id.into(), lead: Some(lead) }))
        => |r| present(r.lead);
    /// A lead with these fields in the pool, owned by `owner_id` from the start.
    create_owned, try_create_owned(pool_id: &str, lead: proto::NewLead, owner_id: &str)
        -> proto::Lead
        = leads.create_lead(with!(CreateLeadRequest {
            pool_id: pool_id.into(), lead: Some(lead), owner_id: owner_id.into()
        })) => |r| present(r.lead);
    import_leads, try_import_leads(request: proto::ImportLeadsRequest) -> proto::ImportLeadsResponse
        = leads.import_leads(request) => |r| r;
    list_leads, try_list_leads(request: proto::ListLeadsRequest) -> proto::ListLeadsResponse
        = leads.list_leads(request) => |r| r;
    claim_leads, try_claim_leads(lead_ids: &[String], all_or_nothing: bool)
        -> proto::ClaimLeadsResponse
        = leads.claim_leads(with!(ClaimLeadsRequest {
            lead_ids: lead_ids.to_vec(), all_or_nothing
        })) => |r| r;
    release, try_release(lead_id: &str, reason: &str) -> proto::Lead
        = leads.release_lead(with!(ReleaseLeadRequest {
            lead_id: lead_id.into(), reason: reason.into()
        })) => |r| present(r.lead);
    /// A release into a pool of the caller's choosing instead of the pool's recycle pool.
    release_to, try_release_to(lead_id: &str, reason: &str, to_pool_id: &str) -> proto::Lead
        = leads.release_lead(with!(ReleaseLeadRequest {
            lead_id: lead_id.into(), reason: reason.into(), to_pool_id: to_pool_id.into()
        })) => |r| present(r.lead);
    discard, try_discard(lead_id: &str, reason: &str) -> proto::Lead
        = leads.discard_lead(with!(DiscardLeadRequest {
            lead_id: lead_id.into(), reason: reason.into()
        })) => |r| present(r.lead);
    move_to, try_move_to(lead_id: &str, target_pool_id: &str) -> proto::Lead
        = leads.move_lead(with!(MoveLeadRequest {
            lead_id: lead_id.into(), target_pool_id: target_pool_id.into()
        })) => |r| present(r.lead);
    /// Changes the fields named in `paths` to their values in `lead`, at `lead.version`.
    update_lead, try_update_lead(lead: proto::Lead, paths: &[&str]) -> proto::Lead
        = leads.update_lead(with!(UpdateLeadRequest { lead: Some(lead), update_mask: mask(paths) }))
        => |r| present(r.lead);
    /// A call logged now.
    follow_up, try_follow_up(lead_id: &str) -> proto::Lead
        = leads.record_follow_up(with!(RecordFollowUpRequest {
            lead_id: lead_id.into(), channel: proto::FollowUpChannel::Call.into()
        })) => |r| present(r.lead);
    record_follow_up, try_record_follow_up(request: proto::RecordFollowUpRequest)
        -> proto::RecordFollowUpResponse
        = leads.record_follow_up(request) => |r| r;
    /// The lead's first page of follow-ups.
    follow_ups, try_follow_ups(lead_id: &str) -> Vec<proto::FollowUp>
        = leads.list_follow_ups(with!(ListFollowUpsRequest { lead_id: lead_id.into() }))
        => |r| r.follow_ups;
    lead_history, try_lead_history(request: proto::GetLeadHistoryRequest)
        -> proto::GetLeadHistoryResponse
        = leads.get_lead_history(request) => |r| r;
    /// The lead's first page of events.
    history, try_history(lead_id: &str) -> Vec<proto::LeadEvent>
        = leads.get_lead_history(with!(GetLeadHistoryRequest { lead_id: lead_id.into() }))
        => |r| r.events;

    list_events, try_list_events(request: proto::ListEventsRequest) -> proto::ListEventsResponse
        = events.list_events(request) => |r| r;
    watch, try_watch(request: proto::WatchEventsRequest)
        -> tonic::Streaming<proto::WatchEventsResponse>
        = events.watch_events(request) => |r| r;

    /// Gives a pool lead to `user_id`; `override_cooldown` lets a manager past a cooldown.
    assign, try_assign(lead_id: &str, user_id: &str, override_cooldown: bool) -> proto::Lead
        = assignments.assign_lead(with!(AssignLeadRequest {
            lead_id: lead_id.into(), user_id: user_id.into(), override_cooldown
        })) => |r| present(r.lead);
    transfer, try_transfer(lead_ids: &[&str], to_user_id: &str)
        -> proto::TransferLeadsResponse
        = assignments.transfer_leads(with!(TransferLeadsRequest {
            lead_ids: lead_ids.iter().map(|id| id.to_string()).collect(),
            to_user_id: to_user_id.into()
        })) => |r| r;
    /// As `transfer`, to a member even while they are away (`override_away`).
    transfer_overriding_away, try_transfer_overriding_away(lead_ids: &[&str], to_user_id: &str)
        -> proto::TransferLeadsResponse
        = assignments.transfer_leads(with!(TransferLeadsRequest {
            lead_ids: lead_ids.iter().map(|id| id.to_string()).collect(),
            to_user_id: to_user_id.into(),
            override_away: true
        })) => |r| r;
    /// As `assign`, to a member even while they are away (`override_away`).
    assign_overriding_away, try_assign_overriding_away(lead_id: &str, user_id: &str)
        -> proto::Lead
        = assignments.assign_lead(with!(AssignLeadRequest {
            lead_id: lead_id.into(), user_id: user_id.into(), override_away: true
        })) => |r| present(r.lead);
    /// Moves all of `user_id`'s leads as `mode` says (`to_user_id`: the colleague, if any).
    offboard, try_offboard(user_id: &str, mode: proto::OffboardMode, to_user_id: &str)
        -> proto::OffboardMemberResponse
        = assignments.offboard_member(with!(OffboardMemberRequest {
            user_id: user_id.into(), mode: mode.into(), to_user_id: to_user_id.into()
        })) => |r| r;
    distribute, try_distribute(request: proto::DistributeRequest) -> proto::DistributionPlan
        = assignments.distribute(request) => |r| present(r.plan);
    /// The plan `Distribute` would apply now for the pool, applying nothing.
    preview_distribution, try_preview_distribution(pool_id: &str) -> proto::DistributionPlan
        = assignments.preview_distribution(with!(PreviewDistributionRequest {
            pool_id: pool_id.into()
        })) => |r| present(r.plan);

    /// Sweeps a pool now, or only says what it would do with `dry_run`.
    run_recycle, try_run_recycle(pool_id: &str, dry_run: bool) -> proto::RunRecycleResponse
        = recycles.run_recycle(with!(RunRecycleRequest { pool_id: pool_id.into(), dry_run }))
        => |r| r;
    /// Moves a lead's deadline (a manager of its pool, or `admin`).
    extend_deadline, try_extend_deadline(request: proto::ExtendDeadlineRequest) -> proto::Lead
        = recycles.extend_deadline(request) => |r| present(r.lead);

    set_away, try_set_away(request: proto::SetAwayRequest) -> proto::Absence
        = availability.set_away(request) => |r| present(r.absence);
    clear_away, try_clear_away(absence_id: &str) -> proto::ClearAwayResponse
        = availability.clear_away(with!(ClearAwayRequest { absence_id: absence_id.into() }))
        => |r| r;
    list_away, try_list_away(request: proto::ListAwayRequest) -> proto::ListAwayResponse
        = availability.list_away(request) => |r| r;

    /// Declines a lead pushed to the caller; where it went.
    decline, try_decline(lead_id: &str, reason: &str) -> proto::DeclineOutcome
        = leads.decline_lead(with!(DeclineLeadRequest {
            lead_id: lead_id.into(), reason: reason.into()
        })) => |r| r.outcome();
    pending_acceptance, try_pending_acceptance(request: proto::ListPendingAcceptanceRequest)
        -> proto::ListPendingAcceptanceResponse
        = leads.list_pending_acceptance(request) => |r| r;

    pool_report, try_pool_report(request: proto::GetPoolReportRequest)
        -> proto::GetPoolReportResponse
        = reports.get_pool_report(request) => |r| r;
    member_report, try_member_report(request: proto::GetMemberReportRequest)
        -> Vec<proto::MemberReportRow>
        = reports.get_member_report(request) => |r| r.members;
    fairness, try_fairness(request: proto::GetDistributionFairnessRequest)
        -> proto::GetDistributionFairnessResponse
        = reports.get_distribution_fairness(request) => |r| r;
}

lead_calls! {
    get_lead, try_get_lead = get_lead(GetLeadRequest);
    claim, try_claim = claim_lead(ClaimLeadRequest);
    lock, try_lock = lock_lead(LockLeadRequest);
    unlock, try_unlock = unlock_lead(UnlockLeadRequest);
    convert, try_convert = convert_lead(ConvertLeadRequest);
    reopen, try_reopen = reopen_lead(ReopenLeadRequest);
    accept, try_accept = accept_lead(AcceptLeadRequest);
}
