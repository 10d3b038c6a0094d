"""leadpool from Python, as another team's service would call it: stubs generated from proto/,
metadata for identity, and failures read as `grpc.StatusCode` plus `google.rpc.ErrorInfo`
(and `BadRequest`) through grpcio-status."""

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import grpc
import pytest
from google.protobuf import descriptor_pool
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)
from grpc_status import rpc_status

from leadpool.v1 import (
    event_service_pb2,
    event_service_pb2_grpc,
    lead_service_pb2,
    lead_service_pb2_grpc,
    pool_service_pb2,
    pool_service_pb2_grpc,
    types_pb2,
)

DEADLINE_S = 10
OUR_SERVICES = ["leadpool.v1.PoolService", "leadpool.v1.LeadService", "leadpool.v1.EventService"]


@dataclass
class Failure:
    """A failed call as a Python caller reads it."""

    code: grpc.StatusCode
    message: str
    info: error_details_pb2.ErrorInfo
    bad_fields: list[str]


def failure(call, request, metadata) -> Failure:
    with pytest.raises(grpc.RpcError) as raised:
        call(request, metadata=metadata, timeout=DEADLINE_S)
    error = raised.value
    status = rpc_status.from_call(error)
    assert status is not None, f"no google.rpc.Status details on {error}"
    info = error_details_pb2.ErrorInfo()
    bad_request = error_details_pb2.BadRequest()
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            detail.Unpack(info)
        elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            detail.Unpack(bad_request)
    assert info.domain == "leadpool.v1", f"ErrorInfo missing from {error}"
    assert error.details(), "a readable message"
    return Failure(
        error.code(), error.details(), info, [v.field for v in bad_request.field_violations]
    )


class Tenant:
    """One tenant of our own per test, so its events are only the test's."""

    def __init__(self):
        self.id = f"py-{uuid.uuid4().hex[:12]}"

    def as_user(self, user: str, roles: str = "") -> list[tuple[str, str]]:
        metadata = [("x-tenant-id", self.id), ("x-actor-id", user)]
        return metadata + [("x-actor-roles", roles)] if roles else metadata

    def admin(self):
        return self.as_user("ops", "admin")

    def service(self):
        return self.as_user("crm-sync", "service")


@pytest.fixture
def stubs(server):
    return (
        pool_service_pb2_grpc.PoolServiceStub(server.channel),
        lead_service_pb2_grpc.LeadServiceStub(server.channel),
        event_service_pb2_grpc.EventServiceStub(server.channel),
    )


@pytest.fixture
def team(stubs):
    """A pool that masks contacts and caps reps at one lead, with alice and bob as reps."""
    pools, _, _ = stubs
    tenant = Tenant()
    pool = pools.CreatePool(
        pool_service_pb2.CreatePoolRequest(
            name="East China",
            timezone="Asia/Shanghai",
            max_held_per_member=1,
            mask_contacts=True,
        ),
        metadata=tenant.admin(),
        timeout=DEADLINE_S,
    ).pool
    for rep in ("alice", "bob"):
        pools.AddMember(
            pool_service_pb2.AddMemberRequest(pool_id=pool.id, user_id=rep),
            metadata=tenant.admin(),
            timeout=DEADLINE_S,
        )
    return tenant, pool


def import_leads(leads_stub, tenant, pool, rows):
    return leads_stub.ImportLeads(
        lead_service_pb2.ImportLeadsRequest(
            pool_id=pool.id, leads=[types_pb2.NewLead(**row) for row in rows]
        ),
        metadata=tenant.service(),
        timeout=DEADLINE_S,
    )


WANG = {"name": "Wang Wei", "company": "Hangzhou Tea Co", "phone": "+86 138-1234-5678",
        "email": "wang@hangzhou-tea.cn"}
LI = {"name": "Li Na", "company": "Suzhou Silk", "phone": "139 0000 4321"}


def test_health_answers_for_the_server_each_service_and_liveness(server):
    health = health_pb2_grpc.HealthStub(server.channel)
    for name in ["", *OUR_SERVICES, "liveness"]:
        status = health.Check(health_pb2.HealthCheckRequest(service=name), timeout=DEADLINE_S)
        assert status.status == health_pb2.HealthCheckResponse.SERVING, name
    with pytest.raises(grpc.RpcError) as unknown:
        health.Check(health_pb2.HealthCheckRequest(service="no.such.Service"), timeout=DEADLINE_S)
    assert unknown.value.code() == grpc.StatusCode.NOT_FOUND


def test_reflection_describes_our_services_and_error_details(server):
    reflection = ProtoReflectionDescriptorDatabase(server.channel)
    services = reflection.get_services()
    for name in [*OUR_SERVICES, "grpc.health.v1.Health"]:
        assert name in services
    pool = descriptor_pool.DescriptorPool(reflection)
    claim = pool.FindServiceByName("leadpool.v1.LeadService").FindMethodByName("ClaimLead")
    assert claim.input_type.full_name == "leadpool.v1.ClaimLeadRequest"
    watch = pool.FindServiceByName("leadpool.v1.EventService").FindMethodByName("WatchEvents")
    assert watch.server_streaming
    # The error details' types too, so generic tools can decode failures.
    assert pool.FindMessageTypeByName("google.rpc.ErrorInfo").fields_by_name["reason"]


def test_import_claim_read_masked_and_release(stubs, team):
    _, leads, _ = stubs
    tenant, pool = team
    alice, bob = tenant.as_user("alice"), tenant.as_user("bob")

    imported = import_leads(
        leads, tenant, pool,
        [WANG, LI, {**WANG, "name": "Wang Wei (again)"}, {"name": "", "phone": "1"}],
    )
    Outcome = lead_service_pb2
    assert [r.outcome for r in imported.results] == [
        Outcome.IMPORT_OUTCOME_CREATED,
        Outcome.IMPORT_OUTCOME_CREATED,
        Outcome.IMPORT_OUTCOME_DUPLICATE,
        Outcome.IMPORT_OUTCOME_INVALID,
    ]
    assert (imported.created, imported.duplicates, imported.invalid) == (2, 1, 1)
    wang_id, li_id = imported.results[0].lead_id, imported.results[1].lead_id
    assert imported.results[2].lead_id == wang_id
    assert imported.results[3].field == "name"

    claimed = leads.ClaimLead(
        lead_service_pb2.ClaimLeadRequest(lead_id=wang_id, request_id=str(uuid.uuid4())),
        metadata=alice, timeout=DEADLINE_S,
    ).lead
    assert claimed.state == types_pb2.LEAD_STATE_OWNED
    assert claimed.owner_id == "alice"
    assert (claimed.phone, claimed.contact_masked) == (WANG["phone"], False)

    # bob is a member but not the owner: the pool masks contacts for him.
    seen_by_bob = leads.GetLead(
        lead_service_pb2.GetLeadRequest(lead_id=wang_id), metadata=bob, timeout=DEADLINE_S
    ).lead
    assert seen_by_bob.contact_masked
    assert seen_by_bob.phone == "138****5678"
    assert seen_by_bob.email == "w***@hangzhou-tea.cn"

    over_cap = failure(leads.ClaimLead, lead_service_pb2.ClaimLeadRequest(lead_id=li_id), alice)
    assert over_cap.code == grpc.StatusCode.FAILED_PRECONDITION
    assert over_cap.info.reason == "HELD_LIMIT_REACHED"
    assert dict(over_cap.info.metadata) == {"user_id": "alice", "limit": "1", "held": "1"}

    not_his = failure(
        leads.ReleaseLead,
        lead_service_pb2.ReleaseLeadRequest(lead_id=wang_id, reason="NO_BUDGET"),
        bob,
    )
    assert (not_his.code, not_his.info.reason) == (
        grpc.StatusCode.PERMISSION_DENIED, "NOT_LEAD_OWNER",
    )
    assert not_his.info.metadata["lead_id"] == wang_id

    no_reason = failure(
        leads.ReleaseLead, lead_service_pb2.ReleaseLeadRequest(lead_id=wang_id), alice
    )
    assert (no_reason.code, no_reason.info.reason) == (
        grpc.StatusCode.INVALID_ARGUMENT, "VALIDATION_FAILED",
    )
    assert no_reason.bad_fields == ["reason"]

    released = leads.ReleaseLead(
        lead_service_pb2.ReleaseLeadRequest(lead_id=wang_id, reason="NO_BUDGET", note="Q3"),
        metadata=alice, timeout=DEADLINE_S,
    ).lead
    assert (released.state, released.owner_id) == (types_pb2.LEAD_STATE_IN_POOL, "")
    assert released.previous_owner_id == "alice"


def test_callers_without_identity_or_of_another_tenant_are_refused(stubs, team):
    _, leads, _ = stubs
    tenant, pool = team
    lead_id = import_leads(leads, tenant, pool, [LI]).results[0].lead_id
    anonymous = failure(leads.GetLead, lead_service_pb2.GetLeadRequest(lead_id=lead_id), [])
    assert (anonymous.code, anonymous.info.reason) == (
        grpc.StatusCode.UNAUTHENTICATED, "MISSING_IDENTITY",
    )
    stranger = failure(
        leads.GetLead, lead_service_pb2.GetLeadRequest(lead_id=lead_id), Tenant().admin()
    )
    assert (stranger.code, stranger.info.reason) == (grpc.StatusCode.NOT_FOUND, "LEAD_NOT_FOUND")


def test_retried_claim_with_the_same_request_id_succeeds_once(stubs, team):
    _, leads, events = stubs
    tenant, pool = team
    lead_id = import_leads(leads, tenant, pool, [LI]).results[0].lead_id
    claim = lead_service_pb2.ClaimLeadRequest(lead_id=lead_id, request_id=str(uuid.uuid4()))
    first = leads.ClaimLead(claim, metadata=tenant.as_user("bob"), timeout=DEADLINE_S).lead
    retry = leads.ClaimLead(claim, metadata=tenant.as_user("bob"), timeout=DEADLINE_S).lead
    assert retry == first
    claims = events.ListEvents(
        event_service_pb2.ListEventsRequest(kinds=[types_pb2.EVENT_KIND_CLAIMED]),
        metadata=tenant.service(), timeout=DEADLINE_S,
    ).events
    assert [e.lead_id for e in claims] == [lead_id]


def test_follow_events_by_pages_then_live(stubs, team):
    _, leads, events = stubs
    tenant, pool = team
    alice, bob = tenant.as_user("alice"), tenant.as_user("bob")
    wang_id, li_id = (r.lead_id for r in import_leads(leads, tenant, pool, [WANG, LI]).results)
    leads.ClaimLead(lead_service_pb2.ClaimLeadRequest(lead_id=wang_id), metadata=alice,
                    timeout=DEADLINE_S)
    leads.ReleaseLead(lead_service_pb2.ReleaseLeadRequest(lead_id=wang_id, reason="NO_BUDGET"),
                      metadata=alice, timeout=DEADLINE_S)

    # A member follows their pool, two events a page, until a page comes back short.
    seen, cursor = [], ""
    while True:
        page = events.ListEvents(
            event_service_pb2.ListEventsRequest(pool_id=pool.id, cursor=cursor, page_size=2),
            metadata=bob, timeout=DEADLINE_S,
        )
        seen += page.events
        cursor = page.next_cursor
        if len(page.events) < 2:
            break
    kinds = types_pb2.EventKind
    assert [(kinds.Name(e.kind), e.lead_id) for e in seen] == [
        ("EVENT_KIND_CREATED", wang_id),
        ("EVENT_KIND_CREATED", li_id),
        ("EVENT_KIND_CLAIMED", wang_id),
        ("EVENT_KIND_RELEASED", wang_id),
    ]
    assert (seen[3].from_owner, seen[3].reason) == ("alice", "NO_BUDGET")

    outsider = failure(
        events.ListEvents, event_service_pb2.ListEventsRequest(pool_id=pool.id),
        tenant.as_user("carol"),
    )
    assert (outsider.code, outsider.info.reason) == (
        grpc.StatusCode.PERMISSION_DENIED, "NOT_POOL_MEMBER",
    )

    # Resume from the stored cursor: nothing old again, bob's claim as it commits, then
    # heartbeats (300 ms here) while nothing happens, each with a cursor to resume from.
    stream = events.WatchEvents(
        event_service_pb2.WatchEventsRequest(pool_id=pool.id, cursor=cursor),
        metadata=bob, timeout=30,
    )
    leads.ClaimLead(lead_service_pb2.ClaimLeadRequest(lead_id=li_id), metadata=bob,
                    timeout=DEADLINE_S)
    items = iter(stream)
    live = next(item for item in items if item.WhichOneof("item") == "event")
    assert (kinds.Name(live.event.kind), live.event.lead_id, live.event.to_owner) == (
        "EVENT_KIND_CLAIMED", li_id, "bob",
    )
    heartbeat = next(items)
    assert heartbeat.WhichOneof("item") == "heartbeat"
    assert heartbeat.heartbeat.sent_at.seconds > 0 and heartbeat.cursor
    stream.cancel()
    after = events.ListEvents(
        event_service_pb2.ListEventsRequest(pool_id=pool.id, cursor=heartbeat.cursor),
        metadata=bob, timeout=DEADLINE_S,
    )
    assert list(after.events) == []


def test_reports_count_what_happened_and_a_member_sees_only_their_row(stubs, team, server):
    from leadpool.v1 import report_service_pb2, report_service_pb2_grpc

    _, leads, _ = stubs
    reports = report_service_pb2_grpc.ReportServiceStub(server.channel)
    tenant, pool = team
    alice = tenant.as_user("alice")
    wang_id, li_id = (r.lead_id for r in import_leads(leads, tenant, pool, [WANG, LI]).results)
    leads.ClaimLead(lead_service_pb2.ClaimLeadRequest(lead_id=wang_id), metadata=alice,
                    timeout=DEADLINE_S)
    leads.ReleaseLead(lead_service_pb2.ReleaseLeadRequest(lead_id=wang_id, reason="NO_BUDGET"),
                      metadata=alice, timeout=DEADLINE_S)
    leads.ClaimLead(lead_service_pb2.ClaimLeadRequest(lead_id=li_id), metadata=alice,
                    timeout=DEADLINE_S)

    # Yesterday to tomorrow in Shanghai (the pool's days), so a call across midnight counts too.
    shanghai = datetime.now(timezone(timedelta(hours=8))).date()
    days = {"from_date": (shanghai - timedelta(days=1)).isoformat(),
            "to_date": (shanghai + timedelta(days=2)).isoformat()}
    report = reports.GetPoolReport(
        report_service_pb2.GetPoolReportRequest(
            pool_id=pool.id, bucket=report_service_pb2.REPORT_BUCKET_WEEK, **days),
        metadata=tenant.admin(), timeout=DEADLINE_S,
    )
    assert report.timezone == "Asia/Shanghai"
    total = lambda figure: sum(figure(b) for b in report.buckets)  # noqa: E731
    assert total(lambda b: b.entered.created) == 2 and total(lambda b: b.claimed) == 2
    assert total(lambda b: b.entered.released) == 1
    assert [(r.reason, r.count) for b in report.buckets for r in b.released_by_reason] == [
        ("NO_BUDGET", 1)]
    assert (report.buckets[-1].in_pool_at_end, report.buckets[-1].owned_at_end) == (1, 1)
    assert total(lambda b: b.time_to_owner.count) == 2

    mine = reports.GetMemberReport(
        report_service_pb2.GetMemberReportRequest(pool_id=pool.id, **days),
        metadata=alice, timeout=DEADLINE_S,
    ).members
    assert [(m.user_id, m.acquired.claim, m.released) for m in mine] == [("alice", 2, 1)]
    refused = failure(reports.GetPoolReport,
                      report_service_pb2.GetPoolReportRequest(pool_id=pool.id, **days), alice)
    assert (refused.code, refused.info.reason) == (
        grpc.StatusCode.PERMISSION_DENIED, "MANAGER_REQUIRED",
    )
