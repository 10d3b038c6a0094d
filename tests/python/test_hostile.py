"""Hostile input from Python, against the real binary.

1. A sweep generated from the protobuf descriptors: for every RPC of `leadpool.v1`, every string
   field (nested, repeated, map keys and values) set to a NUL-containing and to 10,000-character
   values, and every Timestamp to the extremes. Nothing may answer INTERNAL (or any other status a
   refusal never has), no reply may reach 16 KiB, and no reply may quote more of the input than
   the contract's 64 characters (shared/api.md, "Errors" and "Input hygiene").
2. A caller's deadline bounds the claim: a `DEADLINE_EXCEEDED` never hides a committed claim.
3. A request over the server's 4 MiB limit is `RESOURCE_EXHAUSTED`/`MESSAGE_TOO_LARGE` and
   creates nothing.
"""

import itertools
import os
import pkgutil
import re
import subprocess
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib import import_module
from typing import Callable

import grpc
import pytest
from google.protobuf import duration_pb2, field_mask_pb2, timestamp_pb2
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass
from google.rpc import error_details_pb2
from grpc_status import rpc_status

import leadpool.v1
from conftest import psql_binary, server_database_url
from leadpool.v1 import (
    assignment_service_pb2,
    assignment_service_pb2_grpc,
    availability_service_pb2,
    availability_service_pb2_grpc,
    calendar_service_pb2,
    calendar_service_pb2_grpc,
    event_service_pb2,
    lead_service_pb2,
    lead_service_pb2_grpc,
    pool_service_pb2,
    pool_service_pb2_grpc,
    recycle_service_pb2,
    report_service_pb2,
    types_pb2,
)

DEADLINE_S = 10
KIB = 1024
MAX_REPLY_BYTES = 16 * KIB
# shared/api.md: "an error message or field violation quotes at most 64 characters of the
# offending input".
MAX_QUOTED_CHARS = 64
MAX_MESSAGE_BYTES = 4 * 1024 * 1024
ADMIN = "ops"
NOW = int(time.time())
DAY = 86_400

# Our own channel options: the client must not be the one that refuses a large reply, or the
# sweep would see the client's error instead of measuring the server's answer.
GENEROUS_CLIENT = [
    ("grpc.max_metadata_size", 4 * 1024 * 1024),
    ("grpc.absolute_max_metadata_size", 4 * 1024 * 1024),
    ("grpc.max_receive_message_length", -1),
]

# The codes an answer to a hostile request may carry: the contract's refusals (shared/api.md,
# "Errors"). Not INTERNAL nor UNKNOWN (our bugs), not UNAVAILABLE (the database is up), not
# DEADLINE_EXCEEDED (a 10 s deadline on one small request means a hang), not UNAUTHENTICATED
# (every call carries an admin identity).
ACCEPTABLE_CODES = {
    grpc.StatusCode.OK,
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.ALREADY_EXISTS,
    grpc.StatusCode.PERMISSION_DENIED,
    grpc.StatusCode.FAILED_PRECONDITION,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.ABORTED,
}

NUL = "a\x00b"
STRING_VARIANTS = {
    "NUL": NUL,
    "10k ASCII": "x" * 10_000,
    "10k CJK": "王" * 10_000,
}
# (seconds, nanos); seconds None keeps the baseline's seconds. 0001-01-01T00:00:00Z is
# -62135596800 and 9999-12-31T23:59:59Z is 253402300799: the first four are out of range.
TIMESTAMP_VARIANTS = {
    "before year 1": (-62135596800 - 1, 0),
    "after year 9999": (253402300799 + 1, 0),
    "seconds -1e12": (-(10**12), 0),
    "seconds +1e12": (10**12, 0),
    "nanos 999999999": (None, 999_999_999),
}
IN_RANGE_VARIANTS = {"nanos 999999999"}

# The second sweep: the other scalars a caller can set out of range. Numbers by their wire type,
# enums beyond their values (proto3 enums are open: any int32 arrives), Durations and Timestamps
# that the well-known types' own rules forbid (nanos outside 0-999,999,999, or signed unlike the
# seconds; more than 10,000 years). The server may accept a value it can use (a page_size is
# clamped) but never answers outside the contract, nor refuses without naming the field.
INT32, INT64 = 2**31, 2**63
NUMBER_VARIANTS = {
    "int32": {"-1": -1, "min": -INT32, "max": INT32 - 1},
    "int64": {"-1": -1, "min": -INT64, "max": INT64 - 1},
    "uint32": {"max": 2**32 - 1},
    "uint64": {"max": 2**64 - 1},
}
NUMBER_TYPES = {
    FieldDescriptor.TYPE_INT32: "int32", FieldDescriptor.TYPE_SINT32: "int32",
    FieldDescriptor.TYPE_SFIXED32: "int32", FieldDescriptor.TYPE_INT64: "int64",
    FieldDescriptor.TYPE_SINT64: "int64", FieldDescriptor.TYPE_SFIXED64: "int64",
    FieldDescriptor.TYPE_UINT32: "uint32", FieldDescriptor.TYPE_FIXED32: "uint32",
    FieldDescriptor.TYPE_UINT64: "uint64", FieldDescriptor.TYPE_FIXED64: "uint64",
}
ENUM_VARIANTS = {"unknown 99": 99, "negative": -1}
# (seconds, nanos)
DURATION_VARIANTS = {
    "negative": (-1, 0),
    "nanos -1": (0, -1),
    "signs differ": (1, -1),
    "nanos 1e9": (0, 10**9),
    "over 10,000 years": (315_576_000_001, 0),
    "seconds max": (INT64 - 1, 0),
}
TIMESTAMP_NANOS_VARIANTS = {"nanos -1": (None, -1), "nanos 1e9": (None, 10**9)}
# Kinds whose every swept variant is invalid input.
NEVER_VALID_KINDS = {"enum", "duration", "timestamp"}


def rid() -> str:
    return str(uuid.uuid4())


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def ts(seconds: int) -> timestamp_pb2.Timestamp:
    return timestamp_pb2.Timestamp(seconds=seconds)


def phone() -> str:
    return "+86 138" + str(uuid.uuid4().int)[:8]


def new_lead(**fields) -> types_pb2.NewLead:
    """A valid lead, unique in phone, e-mail and external_ref so it is never a duplicate."""
    tag = uuid.uuid4().hex[:10]
    values = dict(
        external_ref=f"crm-{tag}",
        name="Wang Wei",
        company="Hangzhou Tea Co",
        phone=phone(),
        email=f"{tag}@hangzhou-tea.cn",
        source="web-form",
        region="east",
        industry="tea",
        grade="B",
        tags=["vip"],
        attributes={"size": "50"},
    )
    return types_pb2.NewLead(**{**values, **fields})


class Tenant:
    """One tenant of our own, so nothing another test does is in the way."""

    def __init__(self):
        self.id = f"hostile-{uuid.uuid4().hex[:12]}"

    def as_user(self, user: str, roles: str = "") -> list[tuple[str, str]]:
        metadata = [("x-tenant-id", self.id), ("x-actor-id", user)]
        return metadata + [("x-actor-roles", roles)] if roles else metadata

    def admin(self):
        return self.as_user(ADMIN, "admin")


@pytest.fixture(scope="module")
def channel(server):
    channel = grpc.insecure_channel(server.addr, options=GENEROUS_CLIENT)
    yield channel
    channel.close()


class World:
    """Pools, members and leads in every state the sweep's baselines need, so a request gets past
    "not found" and "not allowed" to whatever the hostile field does.

    The admin `ops` manages every pool (claims need a member). Each mutating method gets a lead of
    its own, so one method's successes do not change the state another method starts from.
    """

    def __init__(self, channel: grpc.Channel):
        self.tenant = Tenant()
        self.pools_stub = pool_service_pb2_grpc.PoolServiceStub(channel)
        self.leads_stub = lead_service_pb2_grpc.LeadServiceStub(channel)
        self.calendars_stub = calendar_service_pb2_grpc.CalendarServiceStub(channel)
        self.availability_stub = availability_service_pb2_grpc.AvailabilityServiceStub(channel)
        self.assignments_stub = assignment_service_pb2_grpc.AssignmentServiceStub(channel)
        # Each planned absence gets a window of its own: absences of one user may not overlap.
        self.windows = itertools.count(1)
        self.calendar = self.create_calendar("main")
        self.pool: dict[str, str] = {}
        self.lead: dict[str, str] = {}

        for name in ("main", "target", "intake", "edit", "archive", "dist", "preview", "offboard",
                     "deadline", "big", "pull", "sla"):
            self.pool[name] = self.create_pool(name)
        members = {
            "main": ["alice", "leaver", "traveller"],
            "target": [],
            "intake": [],
            # Distribute, PreviewDistribution and OffboardMember each in a pool of their own:
            # side by side in one pool, one may rightly answer ABORTED to the other.
            "dist": ["alice"],
            "preview": ["alice"],
            "offboard": ["departing"],
            "deadline": ["alice"],
            "big": [],
            # ClaimNext takes whatever lead comes next: a pool of its own.
            "pull": [],
            # Leads pushed here wait for acceptance: ops, the only member, gets them.
            "sla": [],
        }
        for pool, users in members.items():
            self.add_member(pool, ADMIN, types_pb2.MEMBER_ROLE_MANAGER)
            for user in users:
                self.add_member(pool, user, types_pb2.MEMBER_ROLE_MEMBER)

        for name in ("read", "claim", "claims", "assign", "lock", "unlock", "move",
                     "discard", "reopen", "filler-1", "filler-2"):
            self.lead[name] = self.create_lead("main", name)
        for name in ("release", "convert", "follow", "transfer", "extend", "accept"):
            self.lead[name] = self.create_lead("main", name, owner=ADMIN)
        self.lead["update"] = self.create_lead("intake", "update")
        self.lead["dist"] = self.create_lead("dist", "dist")
        for n in range(8):
            self.create_lead("pull", f"pull-{n}")
        self.lead["preview"] = self.create_lead("preview", "preview")
        self.create_lead("offboard", "departing's", owner="departing")

        admin = dict(metadata=self.tenant.admin(), timeout=DEADLINE_S)
        self.pools_stub.UpdatePool(
            pool_service_pb2.UpdatePoolRequest(
                pool=types_pb2.Pool(id=self.pool["sla"],
                                    accept_within=duration_pb2.Duration(seconds=DAY)),
                update_mask=field_mask_pb2.FieldMask(paths=["accept_within"])),
            **admin)
        self.lead["decline"] = self.create_lead("sla", "decline")
        self.assignments_stub.Distribute(
            assignment_service_pb2.DistributeRequest(pool_id=self.pool["sla"]), **admin)
        self.leads_stub.LockLead(lead_service_pb2.LockLeadRequest(lead_id=self.lead["unlock"]),
                                 **admin)
        self.leads_stub.DiscardLead(
            lead_service_pb2.DiscardLeadRequest(lead_id=self.lead["reopen"], reason="SPAM"),
            **admin)
        self.leads_stub.RecordFollowUp(
            lead_service_pb2.RecordFollowUpRequest(
                lead_id=self.lead["follow"], channel=lead_service_pb2.FOLLOW_UP_CHANNEL_CALL,
                note="first call"),
            **admin)

    def create_pool(self, name: str) -> str:
        return self.pools_stub.CreatePool(
            pool_service_pb2.CreatePoolRequest(
                name=unique(name),
                timezone="Asia/Shanghai",
                # Owned leads get deadlines, so ListUpcomingRecycles and ExtendDeadline have some.
                follow_up_timeout=duration_pb2.Duration(seconds=30 * DAY),
                close_timeout=duration_pb2.Duration(seconds=90 * DAY),
            ),
            metadata=self.tenant.admin(), timeout=DEADLINE_S,
        ).pool.id

    def create_calendar(self, name: str) -> str:
        return self.calendars_stub.CreateCalendar(
            calendar_service_pb2.CreateCalendarRequest(calendar=work_week(unique(name))),
            metadata=self.tenant.admin(), timeout=DEADLINE_S,
        ).calendar.id

    def away_request(self) -> "availability_service_pb2.SetAwayRequest":
        start = NOW + 2 * DAY * next(self.windows)
        return availability_service_pb2.SetAwayRequest(
            user_id="traveller", away_from=ts(start), away_until=ts(start + DAY),
            mode=availability_service_pb2.AWAY_MODE_COVER, cover_user_id="alice",
            reason="年假 annual leave", request_id=rid())

    def plan_absence(self) -> str:
        return self.availability_stub.SetAway(
            self.away_request(), metadata=self.tenant.admin(), timeout=DEADLINE_S,
        ).absence.id

    def add_member(self, pool: str, user: str, role):
        self.pools_stub.AddMember(
            pool_service_pb2.AddMemberRequest(pool_id=self.pool[pool], user_id=user, role=role),
            metadata=self.tenant.admin(), timeout=DEADLINE_S,
        )

    def create_lead(self, pool: str, name: str, owner: str = "") -> str:
        return self.leads_stub.CreateLead(
            lead_service_pb2.CreateLeadRequest(
                pool_id=self.pool[pool], lead=new_lead(name=f"Lead {name}"), owner_id=owner
            ),
            metadata=self.tenant.admin(), timeout=DEADLINE_S,
        ).lead.id

    def get_lead(self, lead_id: str) -> types_pb2.Lead:
        return self.leads_stub.GetLead(
            lead_service_pb2.GetLeadRequest(lead_id=lead_id),
            metadata=self.tenant.admin(), timeout=DEADLINE_S,
        ).lead

    def history(self, lead_id: str) -> list[types_pb2.LeadEvent]:
        return list(self.leads_stub.GetLeadHistory(
            lead_service_pb2.GetLeadHistoryRequest(lead_id=lead_id, page_size=500),
            metadata=self.tenant.admin(), timeout=DEADLINE_S,
        ).events)


@pytest.fixture(scope="module")
def world(channel) -> World:
    return World(channel)


# --- Baselines: one valid request per method ------------------------------------------------------
#
# Built afresh for every case (fresh request_id, unique names), so a variant that is accepted acts
# like a real first call rather than replaying an idempotent one. String fields left empty here are
# swept all the same: the variant sets them.

def update_lead_baseline(w: World):
    # The current version, so a variant the server rightly accepts is not just VERSION_CONFLICT.
    lead = w.get_lead(w.lead["update"])
    lead.name, lead.company, lead.source = "Zhang San", "Suzhou Silk", "fair"
    lead.region, lead.industry, lead.grade = "south", "silk", "A"
    del lead.tags[:]
    lead.tags.append("follow-up")
    lead.attributes["size"] = "200"
    return lead_service_pb2.UpdateLeadRequest(
        lead=lead, update_mask=field_mask_pb2.FieldMask(paths=list(UPDATE_LEAD_MASK)),
        request_id=rid(),
    )


UPDATE_LEAD_MASK = ("external_ref", "name", "company", "phone", "email", "source", "region",
                    "industry", "grade", "tags", "attributes")
UPDATE_POOL_MASK = ("name", "timezone", "release_reasons", "exempt_grades", "grade_overrides",
                    "recycle_to_pool_id")
UPDATE_MEMBER_MASK = ("weight", "regions", "industries", "grades")
UPDATE_CALENDAR_MASK = ("name", "workdays", "business_hours", "holidays", "make_up_workdays")


def update_pool(w: "World", pool_id: str) -> pool_service_pb2.UpdatePoolRequest:
    return pool_service_pb2.UpdatePoolRequest(
        pool=types_pb2.Pool(
            id=pool_id, name=unique("edited"), timezone="Europe/Berlin",
            release_reasons=["NO_BUDGET", "WRONG_CONTACT"], exempt_grades=["A"],
            grade_overrides=grade_overrides(), recycle_to_pool_id=w.pool["target"],
            created_at=ts(NOW - DAY), updated_at=ts(NOW),
        ),
        update_mask=field_mask_pb2.FieldMask(paths=list(UPDATE_POOL_MASK)),
        request_id=rid(),
    )


def update_calendar(calendar_id: str) -> calendar_service_pb2.UpdateCalendarRequest:
    return calendar_service_pb2.UpdateCalendarRequest(
        calendar=calendar_service_pb2.Calendar(
            id=calendar_id, name=unique("renamed"), workdays=[1, 2, 3, 4, 5, 6],
            business_hours=calendar_service_pb2.BusinessHours(start="08:30", end="17:30"),
            holidays=["2027-10-01..2027-10-07"], make_up_workdays=["2027-10-09"]),
        update_mask=field_mask_pb2.FieldMask(paths=list(UPDATE_CALENDAR_MASK)),
        request_id=rid())


def work_week(name: str) -> calendar_service_pb2.Calendar:
    return calendar_service_pb2.Calendar(
        name=name, workdays=[1, 2, 3, 4, 5],
        business_hours=calendar_service_pb2.BusinessHours(start="09:00", end="18:00"),
        holidays=["2027-02-06..2027-02-12"], make_up_workdays=["2027-02-20"],
    )


def grade_overrides():
    return {"B": types_pb2.GradeDeadlines(follow_up_timeout=duration_pb2.Duration(seconds=DAY))}


def distribution_filter(lead_id: str):
    return assignment_service_pb2.DistributionFilter(
        lead_ids=[lead_id], entered_before=ts(NOW + 3600)
    )


BASELINES: dict[str, Callable[[World], Message]] = {
    "PoolService.CreatePool": lambda w: pool_service_pb2.CreatePoolRequest(
        name=unique("swept"), timezone="Asia/Shanghai", request_id=rid(),
        release_reasons=["NO_BUDGET"], exempt_grades=["A"], grade_overrides=grade_overrides(),
        recycle_to_pool_id=w.pool["target"],
    ),
    "PoolService.GetPool": lambda w: pool_service_pb2.GetPoolRequest(pool_id=w.pool["main"]),
    "PoolService.ListPools": lambda w: pool_service_pb2.ListPoolsRequest(page_size=5),
    "PoolService.UpdatePool": lambda w: update_pool(w, w.pool["edit"]),
    "PoolService.ArchivePool": lambda w: pool_service_pb2.ArchivePoolRequest(
        pool_id=w.pool["archive"], request_id=rid()),
    "PoolService.AddMember": lambda w: pool_service_pb2.AddMemberRequest(
        pool_id=w.pool["intake"], user_id=unique("rep"), weight=1, regions=["east"],
        industries=["tea"], grades=["A"], request_id=rid(),
    ),
    "PoolService.ListMembers": lambda w: pool_service_pb2.ListMembersRequest(
        pool_id=w.pool["main"], page_size=5),
    "PoolService.UpdateMember": lambda w: pool_service_pb2.UpdateMemberRequest(
        member=types_pb2.Member(
            pool_id=w.pool["main"], user_id="alice", weight=2, regions=["east"],
            industries=["tea"], grades=["B"], joined_at=ts(NOW - DAY),
        ),
        update_mask=field_mask_pb2.FieldMask(paths=list(UPDATE_MEMBER_MASK)),
        request_id=rid(),
    ),
    "PoolService.RemoveMember": lambda w: pool_service_pb2.RemoveMemberRequest(
        pool_id=w.pool["main"], user_id="leaver", request_id=rid()),
    "PoolService.GetMemberStats": lambda w: pool_service_pb2.GetMemberStatsRequest(
        pool_id=w.pool["main"], user_id="alice"),

    "LeadService.CreateLead": lambda w: lead_service_pb2.CreateLeadRequest(
        pool_id=w.pool["intake"], lead=new_lead(), request_id=rid()),
    "LeadService.ImportLeads": lambda w: lead_service_pb2.ImportLeadsRequest(
        pool_id=w.pool["intake"], leads=[new_lead()], request_id=rid()),
    "LeadService.ImportLeadsStream": lambda w: lead_service_pb2.ImportLeadsStreamRequest(
        pool_id=w.pool["intake"], leads=[new_lead()], request_id=rid()),
    "LeadService.GetLead": lambda w: lead_service_pb2.GetLeadRequest(lead_id=w.lead["read"]),
    "LeadService.ListLeads": lambda w: lead_service_pb2.ListLeadsRequest(
        pool_id=w.pool["main"], page_size=5, query="Lead", order_by="created_at desc",
        deadline_before=ts(NOW + 365 * DAY), created_after=ts(NOW - DAY),
        created_before=ts(NOW + DAY),
    ),
    "LeadService.ClaimLead": lambda w: lead_service_pb2.ClaimLeadRequest(
        lead_id=w.lead["claim"], request_id=rid()),
    "LeadService.ClaimLeads": lambda w: lead_service_pb2.ClaimLeadsRequest(
        lead_ids=[w.lead["claims"]], request_id=rid()),
    "LeadService.ReleaseLead": lambda w: lead_service_pb2.ReleaseLeadRequest(
        lead_id=w.lead["release"], reason="NO_BUDGET", note="Q3", request_id=rid()),
    "LeadService.GetLeadHistory": lambda w: lead_service_pb2.GetLeadHistoryRequest(
        lead_id=w.lead["read"], page_size=5),
    "LeadService.LockLead": lambda w: lead_service_pb2.LockLeadRequest(
        lead_id=w.lead["lock"], note="contract pending", request_id=rid()),
    "LeadService.UnlockLead": lambda w: lead_service_pb2.UnlockLeadRequest(
        lead_id=w.lead["unlock"], note="signed", request_id=rid()),
    "LeadService.ConvertLead": lambda w: lead_service_pb2.ConvertLeadRequest(
        lead_id=w.lead["convert"], note="order 42", request_id=rid()),
    "LeadService.DiscardLead": lambda w: lead_service_pb2.DiscardLeadRequest(
        lead_id=w.lead["discard"], reason="SPAM", note="bot", request_id=rid()),
    "LeadService.ReopenLead": lambda w: lead_service_pb2.ReopenLeadRequest(
        lead_id=w.lead["reopen"], note="real after all", request_id=rid()),
    "LeadService.MoveLead": lambda w: lead_service_pb2.MoveLeadRequest(
        lead_id=w.lead["move"], target_pool_id=w.pool["target"], note="wrong region",
        request_id=rid()),
    "LeadService.UpdateLead": update_lead_baseline,
    "LeadService.RecordFollowUp": lambda w: lead_service_pb2.RecordFollowUpRequest(
        lead_id=w.lead["follow"], channel=lead_service_pb2.FOLLOW_UP_CHANNEL_CALL,
        note="called back", occurred_at=ts(NOW - 600), request_id=rid()),
    "LeadService.ListFollowUps": lambda w: lead_service_pb2.ListFollowUpsRequest(
        lead_id=w.lead["follow"], page_size=5),

    "AssignmentService.AssignLead": lambda w: assignment_service_pb2.AssignLeadRequest(
        lead_id=w.lead["assign"], user_id="alice", note="your region", request_id=rid()),
    "AssignmentService.TransferLeads": lambda w: assignment_service_pb2.TransferLeadsRequest(
        lead_ids=[w.lead["transfer"]], to_user_id="alice", note="holiday", request_id=rid()),
    "AssignmentService.Distribute": lambda w: assignment_service_pb2.DistributeRequest(
        pool_id=w.pool["dist"], filter=distribution_filter(w.lead["dist"]), request_id=rid()),
    "AssignmentService.PreviewDistribution":
        lambda w: assignment_service_pb2.PreviewDistributionRequest(
            pool_id=w.pool["preview"], filter=distribution_filter(w.lead["preview"])),
    "AssignmentService.OffboardMember": lambda w: assignment_service_pb2.OffboardMemberRequest(
        user_id="departing", mode=assignment_service_pb2.OFFBOARD_MODE_TRANSFER_TO,
        to_user_id=ADMIN, note="left the company", request_id=rid()),

    "RecycleService.ListUpcomingRecycles":
        lambda w: recycle_service_pb2.ListUpcomingRecyclesRequest(
            pool_id=w.pool["main"], until=ts(NOW + 365 * DAY), page_size=5),
    # dry_run: a real sweep would change what the other methods' baselines rely on.
    "RecycleService.RunRecycle": lambda w: recycle_service_pb2.RunRecycleRequest(
        pool_id=w.pool["main"], dry_run=True, request_id=rid()),
    "RecycleService.ListRecycled": lambda w: recycle_service_pb2.ListRecycledRequest(
        pool_id=w.pool["main"], page_size=5),
    "RecycleService.ExtendDeadline": lambda w: recycle_service_pb2.ExtendDeadlineRequest(
        lead_id=w.lead["extend"], deadline=recycle_service_pb2.DEADLINE_KIND_FOLLOW_UP,
        until=ts(NOW + 60 * DAY), reason="customer on holiday", note="back in May",
        request_id=rid()),

    "CalendarService.CreateCalendar": lambda w: calendar_service_pb2.CreateCalendarRequest(
        calendar=work_week(unique("swept")), request_id=rid()),
    "CalendarService.GetCalendar": lambda w: calendar_service_pb2.GetCalendarRequest(
        calendar_id=w.calendar),
    "CalendarService.ListCalendars": lambda w: calendar_service_pb2.ListCalendarsRequest(
        page_size=5),
    "CalendarService.UpdateCalendar": lambda w: update_calendar(w.calendar),
    # A preview changes nothing, so one pool serves every case.
    "CalendarService.PreviewDeadlines": {
        "": lambda w: calendar_service_pb2.PreviewDeadlinesRequest(
            pool_id=w.pool["deadline"], pool_change=update_pool(w, w.pool["deadline"]),
            due_before=ts(NOW + 60 * DAY)),
        "calendar_change": lambda w: calendar_service_pb2.PreviewDeadlinesRequest(
            pool_id=w.pool["deadline"], calendar_change=update_calendar(w.calendar)),
    },
    "CalendarService.DeleteCalendar": lambda w: calendar_service_pb2.DeleteCalendarRequest(
        calendar_id=w.create_calendar("doomed"), request_id=rid()),

    "LeadService.ClaimNext": lambda w: lead_service_pb2.ClaimNextRequest(
        pool_id=w.pool["pull"], request_id=rid()),
    # A lead the caller owns is accepted: the call answers with it.
    "LeadService.AcceptLead": lambda w: lead_service_pb2.AcceptLeadRequest(
        lead_id=w.lead["accept"], request_id=rid()),
    "LeadService.DeclineLead": lambda w: lead_service_pb2.DeclineLeadRequest(
        lead_id=w.lead["decline"], reason="不在我的区域 not my region", request_id=rid()),
    "LeadService.ListPendingAcceptance": lambda w: lead_service_pb2.ListPendingAcceptanceRequest(
        pool_id=w.pool["sla"], all_owners=True, page_size=5),

    "ReportService.GetPoolReport": lambda w: report_service_pb2.GetPoolReportRequest(
        pool_id=w.pool["pull"], from_date="2026-01-01", to_date="2026-04-01",
        bucket=report_service_pb2.REPORT_BUCKET_WEEK),
    "ReportService.GetMemberReport": lambda w: report_service_pb2.GetMemberReportRequest(
        pool_id=w.pool["pull"], from_date="2026-01-01", to_date="2026-04-01"),
    "ReportService.GetDistributionFairness": lambda w:
        report_service_pb2.GetDistributionFairnessRequest(
            pool_id=w.pool["pull"], from_date="2026-01-01", to_date="2026-04-01"),

    "AvailabilityService.SetAway": lambda w: w.away_request(),
    "AvailabilityService.ClearAway": lambda w: availability_service_pb2.ClearAwayRequest(
        absence_id=w.plan_absence(), request_id=rid()),
    "AvailabilityService.ListAway": lambda w: availability_service_pb2.ListAwayRequest(
        user_id="traveller", include_ended=True, page_size=5),

    "EventService.ListEvents": lambda w: event_service_pb2.ListEventsRequest(
        pool_id=w.pool["main"], page_size=5),
    "EventService.WatchEvents": lambda w: event_service_pb2.WatchEventsRequest(
        pool_id=w.pool["main"]),
}


def fallback_baseline(w: World, request_class) -> Message:
    """A method without a baseline above (added since) is still swept, from the ids it likely
    needs; add a baseline for it to get past its own checks."""
    request = request_class()
    fields = request.DESCRIPTOR.fields_by_name
    for name, value in (("pool_id", w.pool["main"]), ("lead_id", w.lead["read"]),
                        ("request_id", rid())):
        if name in fields and fields[name].type == FieldDescriptor.TYPE_STRING:
            setattr(request, name, value)
    return request


def ignored_paths(resource: str, descriptor, read: tuple[str, ...]) -> tuple[str, ...]:
    """The fields of an update request's resource that the server does not read: those neither
    naming the resource nor in the baseline's update_mask (proto: "other fields are read only
    where update_mask names them"). A hostile value there may be accepted."""
    return tuple(f"{resource}.{f.name}" for f in descriptor.fields if f.name not in read)


# Paths whose hostile values the server may rightly accept (they are ignored on input).
IGNORED_ON_INPUT = {
    "LeadService.UpdateLead": ignored_paths(
        "lead", types_pb2.Lead.DESCRIPTOR, ("id", "version", *UPDATE_LEAD_MASK)),
    "PoolService.UpdatePool": ignored_paths(
        "pool", types_pb2.Pool.DESCRIPTOR, ("id", *UPDATE_POOL_MASK)),
    "PoolService.UpdateMember": ignored_paths(
        "member", types_pb2.Member.DESCRIPTOR, ("pool_id", "user_id", *UPDATE_MEMBER_MASK)),
    "CalendarService.UpdateCalendar": ignored_paths(
        "calendar", calendar_service_pb2.Calendar.DESCRIPTOR, ("id", *UPDATE_CALENDAR_MASK)),
    "CalendarService.PreviewDeadlines": ignored_paths(
        "pool_change.pool", types_pb2.Pool.DESCRIPTOR, ("id", *UPDATE_POOL_MASK)) + ignored_paths(
        "calendar_change.calendar", calendar_service_pb2.Calendar.DESCRIPTOR,
        ("id", *UPDATE_CALENDAR_MASK)),
    # A new calendar's id, version and times are the server's to set.
    "CalendarService.CreateCalendar": ("calendar.id", "calendar.created_at",
                                       "calendar.updated_at"),
}


# --- Walking the descriptors ----------------------------------------------------------------------

Nav = Callable[[Message], Message]


@dataclass(frozen=True)
class Target:
    """One string, number, enum, Timestamp or Duration reachable in a request, and how to set
    it."""

    path: str  # as a person reads it: `lead.tags[]`, `lead.attributes{key}`, `leads[0].name`
    kind: str  # "string", "timestamp", "duration", "enum" or a NUMBER_VARIANTS key
    set: Callable[[Message, object], None]


def our_methods():
    """Every method of every service in the leadpool.v1 files (health and reflection are not)."""
    for module in pkgutil.iter_modules(leadpool.v1.__path__):
        if not module.name.endswith("_pb2"):
            continue
        file = import_module(f"leadpool.v1.{module.name}").DESCRIPTOR
        for service in file.services_by_name.values():
            if service.full_name.startswith("leadpool.v1."):
                yield from service.methods


def is_map(field) -> bool:
    return field.type == FieldDescriptor.TYPE_MESSAGE and field.message_type.GetOptions().map_entry


def is_repeated(field) -> bool:
    # `is_repeated` on newer protobuf; `label` (deprecated there) on older.
    flag = getattr(field, "is_repeated", None)
    if flag is not None:
        return flag() if callable(flag) else flag
    return field.label == FieldDescriptor.LABEL_REPEATED


def targets(descriptor, nav: Nav = lambda m: m, prefix: str = "", depth: int = 0):
    if depth > 5:
        return
    for field in descriptor.fields:
        path = f"{prefix}{field.name}"
        if is_map(field):
            yield from map_targets(field, nav, path, depth)
        elif field.type == FieldDescriptor.TYPE_STRING:
            yield Target(path + ("[]" if is_repeated(field) else ""), "string",
                         string_setter(nav, field))
        elif field.type in NUMBER_TYPES:
            yield Target(path + ("[]" if is_repeated(field) else ""), NUMBER_TYPES[field.type],
                         scalar_setter(nav, field))
        elif field.type == FieldDescriptor.TYPE_ENUM:
            yield Target(path + ("[]" if is_repeated(field) else ""), "enum",
                         scalar_setter(nav, field))
        elif field.type == FieldDescriptor.TYPE_MESSAGE:
            if field.message_type.full_name == "google.protobuf.Timestamp":
                yield Target(path, "timestamp", seconds_nanos_setter(nav, field))
            elif field.message_type.full_name == "google.protobuf.Duration":
                yield Target(path, "duration", seconds_nanos_setter(nav, field))
            elif is_repeated(field):
                yield from targets(field.message_type, first_item(nav, field), f"{path}[0].",
                                   depth + 1)
            else:
                yield from targets(field.message_type, child(nav, field), f"{path}.", depth + 1)


def map_targets(field, nav: Nav, path: str, depth: int):
    key, value = (field.message_type.fields_by_name[n] for n in ("key", "value"))
    if key.type == FieldDescriptor.TYPE_STRING:
        def set_key(message, hostile):
            entries = getattr(nav(message), field.name)
            if value.type == FieldDescriptor.TYPE_MESSAGE:
                entries[hostile].SetInParent()
            else:
                entries[hostile] = "v" if value.type == FieldDescriptor.TYPE_STRING else 1
        yield Target(f"{path}{{key}}", "string", set_key)
    if value.type == FieldDescriptor.TYPE_STRING:
        def set_value(message, hostile):
            getattr(nav(message), field.name)["hostile"] = hostile
        yield Target(f"{path}{{value}}", "string", set_value)
    elif value.type == FieldDescriptor.TYPE_MESSAGE:
        def entry(message):
            return getattr(nav(message), field.name)["hostile"]
        yield from targets(value.message_type, entry, f"{path}{{value}}.", depth + 1)


def child(nav: Nav, field) -> Nav:
    return lambda message: getattr(nav(message), field.name)


def first_item(nav: Nav, field) -> Nav:
    def go(message):
        items = getattr(nav(message), field.name)
        return items[0] if len(items) else items.add()
    return go


def scalar_setter(nav: Nav, field):
    """Numbers and enums are set as strings are: appended to a repeated field's valid items."""
    return string_setter(nav, field)


def string_setter(nav: Nav, field):
    if is_repeated(field):
        # Next to the baseline's valid items: one bad item must spoil the request on its own.
        return lambda message, hostile: getattr(nav(message), field.name).append(hostile)
    return lambda message, hostile: setattr(nav(message), field.name, hostile)


def seconds_nanos_setter(nav: Nav, field):
    """A Timestamp's or Duration's (seconds, nanos)."""
    def set_time(message, variant):
        seconds, nanos = variant
        parent = nav(message)
        stamp = getattr(parent, field.name)
        if is_repeated(field):
            stamp = stamp.add()
        if seconds is None:  # keep the baseline's time (or now), only the nanos change
            seconds = stamp.seconds or NOW
        stamp.seconds, stamp.nanos = seconds, nanos
    return set_time


# --- Calling --------------------------------------------------------------------------------------

@dataclass
class Reply:
    code: grpc.StatusCode
    size: int  # bytes of the answer: the response, or the error message and trailers
    raw: bytes  # where to look for quoted input
    reason: str = ""
    message: str = ""
    has_error_info: bool = False
    bad_fields: tuple[str, ...] = ()
    response: Message | None = None


def call(channel: grpc.Channel, method, request: Message, metadata) -> Reply:
    """One call of any kind: a client stream sends the request as its one message; a server
    stream is read by `read_stream`."""
    path = f"/{method.containing_service.full_name}/{method.name}"
    kinds = {
        (False, False): channel.unary_unary,
        (False, True): channel.unary_stream,
        (True, False): channel.stream_unary,
        (True, True): channel.stream_stream,
    }
    callable_ = kinds[(method.client_streaming, method.server_streaming)](
        path,
        request_serializer=lambda m: m.SerializeToString(),
        response_deserializer=GetMessageClass(method.output_type).FromString,
    )
    argument = iter([request]) if method.client_streaming else request
    try:
        answer = callable_(argument, metadata=metadata, timeout=DEADLINE_S)
        if method.server_streaming:
            return read_stream(answer)
    except grpc.RpcError as error:
        return error_reply(error)
    return Reply(grpc.StatusCode.OK, answer.ByteSize(), answer.SerializeToString(),
                 response=answer)


def read_stream(stream) -> Reply:
    """A stream that was accepted runs until cancelled (WatchEvents): read what it has and stop
    at its first heartbeat or after 50 items. The largest item is the reply's size."""
    items = []
    try:
        for item in stream:
            items.append(item)
            if len(items) >= 50 or is_heartbeat(item):
                break
    finally:
        stream.cancel()
    raw = b"".join(item.SerializeToString() for item in items)
    return Reply(grpc.StatusCode.OK, max((item.ByteSize() for item in items), default=0), raw)


def is_heartbeat(item: Message) -> bool:
    return "item" in item.DESCRIPTOR.oneofs_by_name and item.WhichOneof("item") == "heartbeat"


def error_reply(error: grpc.RpcError) -> Reply:
    message = error.details() or ""
    trailers = error.trailing_metadata() or ()
    raw_trailers = [(key.encode(), value if isinstance(value, bytes) else value.encode())
                    for key, value in trailers]
    reply = Reply(
        error.code(),
        len(message.encode()) + sum(len(k) + len(v) for k, v in raw_trailers),
        message.encode() + b"".join(v for _, v in raw_trailers),
        message=message,
    )
    try:
        status = rpc_status.from_call(error)
    except ValueError:  # the details' code or message disagree with the call's
        status = None
    for detail in status.details if status else ():
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            reply.reason = info.reason
            reply.has_error_info = info.domain == "leadpool.v1"
        elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad_request = error_details_pb2.BadRequest()
            detail.Unpack(bad_request)
            reply.bad_fields = tuple(v.field for v in bad_request.field_violations)
    return reply


# --- 1. The sweep ---------------------------------------------------------------------------------

@dataclass
class Case:
    method: object  # MethodDescriptor
    target: Target
    variant: str
    value: object

    @property
    def key(self) -> str:
        return f"{self.method.containing_service.name}.{self.method.name}"


def cases():
    """The first sweep's: hostile strings and out-of-range Timestamps."""
    variants = {"string": STRING_VARIANTS, "timestamp": TIMESTAMP_VARIANTS}
    return cases_of(variants)


def scalar_cases():
    """The second sweep's: numbers, enums, Durations and Timestamps' nanos."""
    variants = {"enum": ENUM_VARIANTS, "duration": DURATION_VARIANTS,
                "timestamp": TIMESTAMP_NANOS_VARIANTS, **NUMBER_VARIANTS}
    return cases_of(variants)


def cases_of(variants: dict[str, dict[str, object]]):
    for method in our_methods():
        for target in targets(method.input_type):
            for variant, value in variants.get(target.kind, {}).items():
                yield Case(method, target, variant, value)


def problems(case: Case, reply: Reply) -> list[str]:
    """What is wrong with this answer to this hostile request, per shared/api.md."""
    found = []
    if reply.code not in ACCEPTABLE_CODES:
        found.append(f"answered {reply.code.name}")
    if reply.size >= MAX_REPLY_BYTES:
        found.append(f"reply of {reply.size} bytes")
    if case.target.kind == "string":
        if case.value == NUL:
            if reply.code == grpc.StatusCode.OK and NUL.encode() in reply.raw:
                found.append("accepted and echoed the NUL")
        elif case.value[0] * (MAX_QUOTED_CHARS + 1) in reply.raw.decode("utf-8", "replace"):
            found.append(f"quotes more than {MAX_QUOTED_CHARS} characters of the input")
    # A value the server reads, and that is out of bounds (every variant but the in-range one).
    hostile = case.variant not in IN_RANGE_VARIANTS and not ignored(case)
    if reply.code == grpc.StatusCode.OK:
        if hostile:
            found.extend(accepted_problem(case, reply))
    elif reply.code in ACCEPTABLE_CODES:
        if not reply.has_error_info:
            found.append("refused without google.rpc.ErrorInfo")
        # "every text field and id refuses NUL ... with VALIDATION_FAILED naming the field;
        # timestamps outside 0001-9999 are refused the same way"; limits likewise.
        if hostile and reply.code != grpc.StatusCode.INVALID_ARGUMENT:
            found.append("refused, but not as INVALID_ARGUMENT")
        if hostile and reply.reason == "VALIDATION_FAILED" and not any(
                names(field, case.target.path) for field in reply.bad_fields):
            found.append(f"BadRequest names {list(reply.bad_fields)}, not {case.target.path}")
    return found


def names(violation: str, path: str) -> bool:
    """Whether a field violation names the swept field, by its full path (`filter.lead_ids[1]`
    for `filter.lead_ids[]`, `lead.attributes` or `lead.attributes[k]` for `lead.attributes{key}`,
    `update_mask` for `update_mask.paths[]`)."""
    def bare(p):
        return re.sub(r"\[[^\]]*\]|\{[^}]*\}", "", p)
    violation, path = bare(violation), bare(path)
    return path == violation or path.startswith(violation + ".")


def ignored(case: Case) -> bool:
    return any(case.target.path == p or case.target.path.startswith((p + ".", p + "[", p + "{"))
               for p in IGNORED_ON_INPUT.get(case.key, ()))


def accepted_problem(case: Case, reply: Reply) -> list[str]:
    """A hostile value the server reads must be refused (every text field and id refuses NUL,
    every text field has a limit well under 10,000 characters, timestamps must be in years
    0001-9999). Import rows are the exception: the call succeeds and the row is reported invalid."""
    if case.key in ("LeadService.ImportLeads", "LeadService.ImportLeadsStream") and \
            case.target.path.startswith("leads[0]."):
        response = reply.response
        if response is not None:
            rows = response.results if hasattr(response, "results") else response.problems
            if any(r.index == 0 and r.outcome == lead_service_pb2.IMPORT_OUTCOME_INVALID
                   for r in rows):
                return []
        return ["accepted the row instead of reporting it invalid"]
    return ["accepted (contract: refused with VALIDATION_FAILED)"]


def baselines(key: str) -> dict[str, Callable[[World], Message]]:
    """A method's baselines by the first segment of the paths they serve ("" for any other): a
    request with a oneof has one per member, since setting a field of another member clears the
    one the baseline filled."""
    baseline = BASELINES[key]
    return baseline if isinstance(baseline, dict) else {"": baseline}


def baseline_for(key: str, world: World, case: Case) -> Message:
    by_member = baselines(key)
    return by_member.get(case.target.path.split(".")[0], by_member[""])(world)


def run_method(channel, world: World, method_cases: list[Case]):
    """The method's baselines once (each must succeed, or the sweep would test the method's
    other checks rather than the hostile fields), then its cases in order on this one thread, so
    baselines that read state (UpdateLead's version) see the previous case's effect, not a
    concurrent one's."""
    method = method_cases[0].method
    key = method_cases[0].key
    metadata = world.tenant.admin()
    broken = []
    for member, baseline in (baselines(key).items() if key in BASELINES else ()):
        reply = call(channel, method, baseline(world), metadata)
        if reply.code != grpc.StatusCode.OK:
            broken.append(f"{key} {member}: its baseline is refused ({reply.code.name} "
                          f"{reply.reason}: {reply.message[:200]!r}); fix BASELINES")
    done = []
    for case in method_cases:
        request = baseline_for(key, world, case) if key in BASELINES else fallback_baseline(
            world, GetMessageClass(method.input_type))
        case.target.set(request, case.value)
        done.append((case, call(channel, method, request, metadata)))
    return broken, done


def describe(case: Case, reply: Reply, found: list[str]) -> str:
    excerpt = reply.message[:100] + ("…" if len(reply.message) > 100 else "")
    return (f"{case.key} {case.target.path} [{case.variant}]: {'; '.join(found)} "
            f"(code {reply.code.name}, reason {reply.reason or '-'}, {reply.size} bytes, "
            f"message {excerpt!r})")


def sweep(channel, world: World, all_cases, judge) -> tuple[int, list[str]]:
    """Every case, each method's on one thread and eight methods at a time; `judge` says what is
    wrong with an answer. Returns how many calls ran and what went wrong."""
    by_method: dict[str, list[Case]] = {}
    for case in all_cases:
        by_method.setdefault(case.key, []).append(case)
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=8) as pool:
        runs = list(pool.map(lambda c: run_method(channel, world, c), by_method.values()))
    elapsed = time.monotonic() - started
    results = [result for _, done in runs for result in done]

    failures = [problem for broken, _ in runs for problem in broken]
    failures += [describe(case, reply, found) for case, reply in results
                 if (found := judge(case, reply))]
    codes = Counter(f"{reply.code.name}/{reply.reason or '-'}" for _, reply in results)
    print(f"\n{len(results)} hostile calls over {len(by_method)} methods in {elapsed:.1f} s: "
          + ", ".join(f"{k} {n}" for k, n in codes.most_common()))
    without_baseline = sorted(set(by_method) - set(BASELINES))
    if without_baseline:
        print(f"swept from a fallback baseline (add one): {without_baseline}")
    return len(results), failures


def test_hostile_sweep_every_rpc_every_string_and_timestamp(channel, world):
    every_method = {case.key for case in cases()}
    assert every_method >= set(BASELINES), "a baseline for a method the protos lack"
    ran, failures = sweep(channel, world, cases(), problems)
    assert ran > 500, f"the sweep ran only {ran} cases"
    assert not failures, f"{len(failures)} of {ran} hostile calls answered wrongly:\n" + \
        "\n".join(failures)


def scalar_problems(case: Case, reply: Reply) -> list[str]:
    """What is wrong with this answer to an out-of-range number, enum, Duration or nanos: an
    answer outside the contract, a refusal without ErrorInfo, or a validation refusal that does
    not name the field (the baseline was valid, so the swept field is what is wrong). An enum
    value the enum lacks, or a Duration or Timestamp no valid one can be (or a negative
    Duration: every duration of ours is a span forward), must be refused where the server
    reads it; a number may be accepted where it is usable (a page_size is clamped)."""
    found = []
    if case.target.kind in NEVER_VALID_KINDS and not ignored(case):
        if reply.code == grpc.StatusCode.OK:
            found.append("accepted (contract: refused with VALIDATION_FAILED)")
        elif reply.code != grpc.StatusCode.INVALID_ARGUMENT:
            found.append("refused, but not as INVALID_ARGUMENT")
    if reply.code not in ACCEPTABLE_CODES:
        found.append(f"answered {reply.code.name}")
    if reply.size >= MAX_REPLY_BYTES:
        found.append(f"reply of {reply.size} bytes")
    if reply.code != grpc.StatusCode.OK and not reply.has_error_info:
        found.append("refused without google.rpc.ErrorInfo")
    if reply.reason == "VALIDATION_FAILED" and not any(
            names(field, case.target.path) for field in reply.bad_fields):
        found.append(f"BadRequest names {list(reply.bad_fields)}, not {case.target.path}")
    return found


def test_hostile_sweep_every_rpc_every_number_enum_and_duration(channel, world):
    ran, failures = sweep(channel, world, scalar_cases(), scalar_problems)
    assert ran > 300, f"the sweep ran only {ran} cases"
    assert not failures, f"{len(failures)} of {ran} out-of-range calls answered wrongly:\n" + \
        "\n".join(failures)


# --- 2. The caller's deadline bounds the claim ----------------------------------------------------

def claim_outcome(world: World, lead_id: str, user: str, timeout: float,
                  request_id: str) -> Reply:
    try:
        world.leads_stub.ClaimLead(
            lead_service_pb2.ClaimLeadRequest(lead_id=lead_id, request_id=request_id),
            metadata=world.tenant.as_user(user), timeout=timeout,
        )
    except grpc.RpcError as error:
        return error_reply(error)
    return Reply(grpc.StatusCode.OK, 0, b"")


def claims_of(world: World, lead_id: str) -> list[types_pb2.LeadEvent]:
    return [e for e in world.history(lead_id) if e.kind == types_pb2.EVENT_KIND_CLAIMED]


def test_hostile_deadline_exceeded_claim_changes_nothing(world):
    # From "cannot even leave the client" to "just about enough": the interesting ones are those
    # whose deadline passes while the server is in the middle of the claim.
    timeouts_ms = [1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 14, 16, 18, 20] * 4
    outcomes = []
    for timeout_ms in timeouts_ms:
        lead_id = world.create_lead("deadline", f"deadline {timeout_ms} ms")
        request_id = rid()
        reply = claim_outcome(world, lead_id, "alice", timeout_ms / 1000, request_id)
        outcomes.append((timeout_ms, lead_id, request_id, reply))
    time.sleep(1)  # whatever the server still had in flight has finished or rolled back

    wrong = []
    for timeout_ms, lead_id, request_id, reply in outcomes:
        code = reply.code
        lead, claims = world.get_lead(lead_id), claims_of(world, lead_id)
        if code == grpc.StatusCode.DEADLINE_EXCEEDED and reply.has_error_info:
            # The server's own answer: it gave up before committing anything.
            if lead.state != types_pb2.LEAD_STATE_IN_POOL or lead.owner_id or claims:
                wrong.append(f"{timeout_ms} ms: DEADLINE_EXCEEDED ({reply.reason}: "
                             f"{reply.message!r}), yet the lead is "
                             f"{types_pb2.LeadState.Name(lead.state)} owned by "
                             f"{lead.owner_id!r} with {len(claims)} CLAIMED event(s)")
        elif code == grpc.StatusCode.DEADLINE_EXCEEDED:
            # The client's own timer: the answer may have been on its way (as with any gRPC
            # server), so the caller retries with the same request_id and learns the truth: the
            # claim, made exactly once.
            retried = claim_outcome(world, lead_id, "alice", DEADLINE_S, request_id)
            claims = claims_of(world, lead_id)
            if retried.code != grpc.StatusCode.OK or len(claims) != 1:
                wrong.append(f"{timeout_ms} ms: client-side DEADLINE_EXCEEDED, then the retry "
                             f"with its request_id answered {retried.code.name} with "
                             f"{len(claims)} CLAIMED event(s)")
        elif code == grpc.StatusCode.OK:
            if lead.owner_id != "alice" or len(claims) != 1:
                wrong.append(f"{timeout_ms} ms: OK, yet the lead is owned by {lead.owner_id!r} "
                             f"with {len(claims)} CLAIMED event(s)")
        else:
            # Not UNAVAILABLE either: the database is up; the caller's deadline is what ran out.
            wrong.append(f"{timeout_ms} ms: answered {code.name} ({reply.reason or '-'}: "
                         f"{reply.message!r}); the lead is {types_pb2.LeadState.Name(lead.state)}"
                         f" with {len(claims)} CLAIMED event(s)")
    counts = Counter(reply.code.name for _, _, _, reply in outcomes)
    print(f"\nclaims under short deadlines: {dict(counts)}")
    assert not wrong, "\n".join(wrong)
    assert counts["DEADLINE_EXCEEDED"] >= 1, f"no call ran out of time: {dict(counts)}"


def test_hostile_deadline_exceeded_while_the_row_is_locked_changes_nothing(world, database_env):
    url = server_database_url(database_env)
    lead_id = world.create_lead("deadline", "locked row")
    app = f"leadpool-hostile-{uuid.uuid4().hex[:8]}"
    # Another session holds the row for 3 s; the claim's 1 s deadline passes while it waits.
    holder = subprocess.Popen(
        [psql_binary(), url, "-v", "ON_ERROR_STOP=1", "-qAt",
         "-c", "BEGIN",
         "-c", f"SELECT 1 FROM leads WHERE tenant_id = '{world.tenant.id}' "
               f"AND id = '{lead_id}' FOR UPDATE",
         "-c", "SELECT pg_sleep(3)",
         "-c", "COMMIT"],
        env={**os.environ, "PGAPPNAME": app}, stdout=subprocess.DEVNULL,
    )
    try:
        wait_until_sleeping(url, app, holder)
        started = time.monotonic()
        reply = claim_outcome(world, lead_id, "alice", 1.0, rid())
        took = time.monotonic() - started
    finally:
        holder.wait(30)
    assert holder.returncode == 0, "the locking session failed"
    assert reply.code == grpc.StatusCode.DEADLINE_EXCEEDED, \
        f"{reply.code.name} ({reply.reason}: {reply.message!r}) after {took:.2f} s"
    # The lock is gone: a claim the server did not cancel would now go through and commit.
    time.sleep(1.5)
    lead = world.get_lead(lead_id)
    assert (lead.state, lead.owner_id) == (types_pb2.LEAD_STATE_IN_POOL, "")
    assert claims_of(world, lead_id) == []


def wait_until_sleeping(url: str, app: str, holder: subprocess.Popen):
    """Until the locking session is in its pg_sleep, so the row lock is held."""
    query = (f"SELECT count(*) FROM pg_stat_activity WHERE application_name = '{app}' "
             "AND wait_event = 'PgSleep'")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and holder.poll() is None:
        out = subprocess.run([psql_binary(), url, "-qAtc", query], check=True,
                             capture_output=True, text=True).stdout.strip()
        if out == "1":
            return
        time.sleep(0.05)
    raise TimeoutError(f"the locking session never reached pg_sleep (exit {holder.poll()})")


# --- 3. A message over the server's limit ---------------------------------------------------------

def test_hostile_oversized_import_is_message_too_large_and_creates_nothing(server, world):
    pool_id = world.pool["big"]
    world.create_lead("big", "already there")

    def count():
        return len(world.leads_stub.ListLeads(
            lead_service_pb2.ListLeadsRequest(pool_id=pool_id, page_size=500),
            metadata=world.tenant.admin(), timeout=DEADLINE_S).leads)

    before = count()
    # 1,000 rows within every per-field limit: only the message's size is wrong with it.
    rows = [new_lead(attributes={f"k{i}": "汉" * 490 for i in range(4)}) for _ in range(1000)]
    request = lead_service_pb2.ImportLeadsRequest(pool_id=pool_id, leads=rows, request_id=rid())
    assert request.ByteSize() > MAX_MESSAGE_BYTES

    # Our own channel: the client's default send limit (4 MiB) would refuse it before sending.
    with grpc.insecure_channel(server.addr,
                               options=[("grpc.max_send_message_length", -1)]) as big:
        with pytest.raises(grpc.RpcError) as raised:
            lead_service_pb2_grpc.LeadServiceStub(big).ImportLeads(
                request, metadata=world.tenant.admin(), timeout=30)
    error = raised.value
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, (error.code(), error.details())
    status = rpc_status.from_call(error)
    assert status is not None, f"no google.rpc.Status details on {error}"
    infos = []
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            infos.append(info)
    assert [(i.reason, i.domain) for i in infos] == [("MESSAGE_TOO_LARGE", "leadpool.v1")]
    assert infos[0].metadata["limit_bytes"] == str(MAX_MESSAGE_BYTES)
    assert count() == before
