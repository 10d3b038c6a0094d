"""A mixed soak from Python, against the real binary: sixteen callers (reps and a manager, as a
sales floor at 9:00) claim, claim next, release, follow up, transfer, assign, distribute,
preview, lock, move, discard, convert, go away with cover and come back, and get offboarded and
taken back, all at once on one pool of Chinese and Latin leads.

Every answer is one the contract allows (shared/api.md, "Errors": ABORTED is one, after the
service's own retries; INTERNAL, UNKNOWN, UNAVAILABLE and a hang are not), every refusal carries
google.rpc.ErrorInfo, and afterwards the database holds the invariants (shared/domain.md): one
owner per owned lead, held counts equal to what members own, no cap exceeded, and the events
replay to the current owners.
"""

import random
import subprocess
import threading
import time
import uuid
from collections import Counter

import grpc
import pytest
from google.protobuf import duration_pb2, field_mask_pb2, timestamp_pb2
from grpc_status import rpc_status

from conftest import psql_binary, server_database_url
from leadpool.v1 import (
    assignment_service_pb2 as assignment,
    assignment_service_pb2_grpc,
    availability_service_pb2 as availability,
    availability_service_pb2_grpc,
    lead_service_pb2 as leads,
    lead_service_pb2_grpc,
    pool_service_pb2 as pools,
    pool_service_pb2_grpc,
    types_pb2,
)

SOAK_S = 8
CALLERS = 16
MANAGERS = 4  # the first callers act as the manager, the others as reps
REPS = [f"rep-{n}" for n in range(8)]
CAP = 15
DEADLINE_S = 10
# The answers a soak of valid calls may get; ABORTED only after the service's own retries.
CONTRACT = {"OK", "INVALID_ARGUMENT", "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED",
            "FAILED_PRECONDITION", "RESOURCE_EXHAUSTED", "ABORTED"}
SURNAMES, GIVEN = "王李张刘陈杨黄赵吴周", "伟芳娜敏静丽强磊洋艳"
LATIN = ["Garcia", "Müller", "Nguyen", "Smith", "Rossi", "Dubois"]

# Run after the soak, on the soak's tenant: each is the number of rows that break the invariant.
INVARIANTS = {
    "an event replay differs from the lead's owner": """
        WITH last AS (
            SELECT DISTINCT ON (lead_id) lead_id, to_owner FROM lead_events
            WHERE tenant_id = :'tenant' AND lead_id IS NOT NULL
            ORDER BY lead_id, xid DESC, seq DESC)
        SELECT count(*) FROM leads l LEFT JOIN last ON last.lead_id = l.id
        WHERE l.tenant_id = :'tenant' AND last.to_owner IS DISTINCT FROM l.owner_id""",
    "a held count differs from the leads owned": """
        SELECT count(*) FROM members m WHERE m.tenant_id = :'tenant' AND m.held_count <>
            (SELECT count(*) FROM leads l WHERE l.tenant_id = m.tenant_id
               AND l.pool_id = m.pool_id AND l.owner_id = m.user_id)""",
    "an owner without OWNED or OWNED without an owner": """
        SELECT count(*) FROM leads WHERE tenant_id = :'tenant'
          AND (state = 'OWNED') <> (owner_id IS NOT NULL)""",
    "a member over the cap": f"""
        SELECT count(*) FROM members WHERE tenant_id = :'tenant' AND held_count > {CAP}""",
}


def rid() -> str:
    return str(uuid.uuid4())


class Floor:
    """The tenant, its two pools, its people and leads, and the soak's tally."""

    def __init__(self, channel: grpc.Channel):
        self.tenant = f"soak-{uuid.uuid4().hex[:12]}"
        self.leads = lead_service_pb2_grpc.LeadServiceStub(channel)
        self.pools = pool_service_pb2_grpc.PoolServiceStub(channel)
        self.assignments = assignment_service_pb2_grpc.AssignmentServiceStub(channel)
        self.availability = availability_service_pb2_grpc.AvailabilityServiceStub(channel)
        self.codes: Counter = Counter()
        self.unclean: list[str] = []
        self.lock = threading.Lock()
        self.main = self.create_pool("华东公海")
        self.other = self.create_pool("华南公海")
        for pool in (self.main, self.other):
            self.pools.AddMember(pools.AddMemberRequest(
                pool_id=pool, user_id="manager", role=types_pb2.MEMBER_ROLE_MANAGER,
                active=True), metadata=self.admin(), timeout=DEADLINE_S)
            for n, rep in enumerate(REPS):
                self.pools.AddMember(pools.AddMemberRequest(
                    pool_id=pool, user_id=rep, role=types_pb2.MEMBER_ROLE_MEMBER, active=True,
                    weight=1 + n % 3), metadata=self.admin(), timeout=DEADLINE_S)
        self.lead_ids = self.import_leads(240)

    def as_user(self, user: str, roles: str = "") -> list[tuple[str, str]]:
        metadata = [("x-tenant-id", self.tenant), ("x-actor-id", user)]
        return metadata + [("x-actor-roles", roles)] if roles else metadata

    def admin(self):
        return self.as_user("ops", "admin")

    def create_pool(self, name: str) -> str:
        request = pools.CreatePoolRequest(
            name=name, timezone="Asia/Shanghai", max_held_per_member=CAP,
            follow_up_timeout=duration_pb2.Duration(seconds=86_400), request_id=rid())
        return self.pools.CreatePool(request, metadata=self.admin(), timeout=DEADLINE_S).pool.id

    def import_leads(self, n: int) -> list[str]:
        rng = random.Random(7)
        rows = []
        for i in range(n):
            tag = uuid.uuid4().hex[:10]
            name = (rng.choice(SURNAMES) + rng.choice(GIVEN) if i % 2
                    else f"{rng.choice(LATIN)} {tag[:4]}")
            rows.append(types_pb2.NewLead(
                name=name, company="杭州某某科技有限公司" if i % 2 else "Acme Trading GmbH",
                phone=f"1{rng.randrange(3, 9)}{rng.randrange(10**8, 10**9)}",
                email=f"{tag}@example.cn", grade=rng.choice("ABCD"), region="east"))
        request = leads.ImportLeadsRequest(pool_id=self.main, leads=rows, request_id=rid())
        response = self.leads.ImportLeads(request, metadata=self.as_user("crm", "service"),
                                          timeout=DEADLINE_S)
        return [r.lead_id for r in response.results if r.lead_id]

    def call(self, name: str, rpc, request, metadata):
        """One call; its code counted, and anything the contract does not allow kept."""
        try:
            rpc(request, metadata=metadata, timeout=DEADLINE_S)
            code = "OK"
        except grpc.RpcError as error:
            code = error.code().name
            if code not in CONTRACT:
                self.keep(f"{name}: {code} {error.details()!r}")
            elif not has_error_info(error):
                self.keep(f"{name}: {code} without ErrorInfo")
        with self.lock:
            self.codes[(name, code)] += 1

    def keep(self, problem: str):
        with self.lock:
            self.unclean.append(problem)

    def owned_by(self, user: str) -> list[str]:
        request = leads.ListLeadsRequest(pool_id=self.main, owner_id="me", page_size=20)
        found = self.leads.ListLeads(request, metadata=self.as_user(user), timeout=DEADLINE_S)
        return [lead.id for lead in found.leads]


def has_error_info(error: grpc.RpcError) -> bool:
    status = rpc_status.from_call(error)
    return status is not None and any(
        d.type_url.endswith("google.rpc.ErrorInfo") for d in status.details)


def rep_turn(floor: Floor, rng: random.Random, rep: str):
    me, lead = floor.as_user(rep), rng.choice(floor.lead_ids)
    roll = rng.random()
    if roll < 0.3:
        floor.call("ClaimLead", floor.leads.ClaimLead,
                   leads.ClaimLeadRequest(lead_id=lead, request_id=rid()), me)
    elif roll < 0.4:
        floor.call("ClaimNext", floor.leads.ClaimNext,
                   leads.ClaimNextRequest(pool_id=floor.main, request_id=rid()), me)
    elif roll < 0.45:
        batch = rng.sample(floor.lead_ids, 3)
        floor.call("ClaimLeads", floor.leads.ClaimLeads,
                   leads.ClaimLeadsRequest(lead_ids=batch, request_id=rid()), me)
    else:
        own_turn(floor, rng, rep, roll)


def own_turn(floor: Floor, rng: random.Random, rep: str, roll: float):
    """Something a rep does with a lead of their own."""
    mine = floor.owned_by(rep)
    if not mine:
        return
    me, lead = floor.as_user(rep), rng.choice(mine)
    if roll < 0.7:
        floor.call("ReleaseLead", floor.leads.ReleaseLead, leads.ReleaseLeadRequest(
            lead_id=lead, reason="客户暂无预算", request_id=rid()), me)
    elif roll < 0.8:
        floor.call("RecordFollowUp", floor.leads.RecordFollowUp, leads.RecordFollowUpRequest(
            lead_id=lead, channel=1, note="电话沟通，下周再联系", request_id=rid()), me)
    elif roll < 0.9:
        colleague = rng.choice([r for r in REPS if r != rep])
        floor.call("TransferLeads", floor.assignments.TransferLeads,
                   assignment.TransferLeadsRequest(lead_ids=[lead], to_user_id=colleague,
                                                   request_id=rid()), me)
    elif roll < 0.93:
        floor.call("ConvertLead", floor.leads.ConvertLead,
                   leads.ConvertLeadRequest(lead_id=lead, request_id=rid()), me)
    else:
        floor.call("AcceptLead", floor.leads.AcceptLead,
                   leads.AcceptLeadRequest(lead_id=lead, request_id=rid()), me)


def manager_turn(floor: Floor, rng: random.Random):
    manager, lead, rep = floor.as_user("manager"), rng.choice(floor.lead_ids), rng.choice(REPS)
    roll = rng.random()
    if roll < 0.15:
        floor.call("AssignLead", floor.assignments.AssignLead, assignment.AssignLeadRequest(
            lead_id=lead, user_id=rep, request_id=rid()), manager)
    elif roll < 0.25:
        floor.call("TransferLeads", floor.assignments.TransferLeads,
                   assignment.TransferLeadsRequest(lead_ids=rng.sample(floor.lead_ids, 4),
                                                   to_user_id=rep, request_id=rid()), manager)
    elif roll < 0.35:
        floor.call("Distribute", floor.assignments.Distribute, assignment.DistributeRequest(
            pool_id=floor.main, limit=5, request_id=rid()), manager)
    elif roll < 0.42:
        floor.call("PreviewDistribution", floor.assignments.PreviewDistribution,
                   assignment.PreviewDistributionRequest(pool_id=floor.main, limit=5), manager)
    elif roll < 0.52:
        floor.call("LockLead", floor.leads.LockLead,
                   leads.LockLeadRequest(lead_id=lead, request_id=rid()), manager)
    elif roll < 0.64:
        floor.call("UnlockLead", floor.leads.UnlockLead,
                   leads.UnlockLeadRequest(lead_id=lead, request_id=rid()), manager)
    elif roll < 0.72:
        target = rng.choice((floor.main, floor.other))
        floor.call("MoveLead", floor.leads.MoveLead, leads.MoveLeadRequest(
            lead_id=lead, target_pool_id=target, request_id=rid()), manager)
    else:
        people_turn(floor, rng, rep, roll)


def people_turn(floor: Floor, rng: random.Random, rep: str, roll: float):
    """Leave and cover, offboarding and taking back, a rule change: rarer, wider changes."""
    manager = floor.as_user("manager")
    if roll < 0.8:
        now = int(time.time())
        cover = rng.random() < 0.5
        colleague = rng.choice([r for r in REPS if r != rep]) if cover else ""
        floor.call("SetAway", floor.availability.SetAway, availability.SetAwayRequest(
            user_id=rep, away_from=timestamp_pb2.Timestamp(seconds=now - 10),
            away_until=timestamp_pb2.Timestamp(seconds=now + 3_600), mode=2 if cover else 1,
            cover_user_id=colleague, reason="年假", request_id=rid()), manager)
    elif roll < 0.88:
        away = floor.availability.ListAway(availability.ListAwayRequest(user_id=rep),
                                           metadata=manager, timeout=DEADLINE_S)
        for absence in away.absences[:1]:
            floor.call("ClearAway", floor.availability.ClearAway, availability.ClearAwayRequest(
                absence_id=absence.id, request_id=rid()), manager)
    elif roll < 0.91:
        floor.call("OffboardMember", floor.assignments.OffboardMember,
                   assignment.OffboardMemberRequest(user_id=rep, mode=rng.choice((1, 3)),
                                                    request_id=rid()), floor.admin())
        for pool in (floor.main, floor.other):
            floor.call("UpdateMember", floor.pools.UpdateMember, pools.UpdateMemberRequest(
                member=types_pb2.Member(pool_id=pool, user_id=rep, active=True),
                update_mask=field_mask_pb2.FieldMask(paths=["active"]), request_id=rid()),
                floor.admin())
    elif roll < 0.93:
        days = rng.choice((1, 2, 3))
        floor.call("UpdatePool", floor.pools.UpdatePool, pools.UpdatePoolRequest(
            pool=types_pb2.Pool(id=floor.main,
                                follow_up_timeout=duration_pb2.Duration(seconds=days * 86_400)),
            update_mask=field_mask_pb2.FieldMask(paths=["follow_up_timeout"]),
            reschedule_owned=True, request_id=rid()), floor.admin())
    else:
        floor.call("DiscardLead", floor.leads.DiscardLead, leads.DiscardLeadRequest(
            lead_id=rng.choice(floor.lead_ids), reason="重复线索", request_id=rid()), manager)


def caller(floor: Floor, n: int, until: float):
    rng = random.Random(n)
    while time.monotonic() < until:
        try:
            if n < MANAGERS:
                manager_turn(floor, rng)
            else:
                rep_turn(floor, rng, REPS[n % len(REPS)])
        except grpc.RpcError as error:  # a read between the calls (ListLeads, ListAway)
            floor.keep(f"read: {error.code().name} {error.details()!r}")


def broken_invariants(url: str, tenant: str) -> dict[str, int]:
    found = {}
    for name, query in INVARIANTS.items():
        out = subprocess.run([psql_binary(), url, "-v", f"tenant={tenant}", "-qAt"],
                             input=query, check=True, capture_output=True, text=True)
        found[name] = int(out.stdout.strip())
    return found


@pytest.fixture(scope="module")
def channel(server):
    channel = grpc.insecure_channel(server.addr)
    yield channel
    channel.close()


def test_soak_mixed_callers_get_contract_answers_and_leave_the_invariants(channel, database_env):
    floor = Floor(channel)
    until = time.monotonic() + SOAK_S
    callers = [threading.Thread(target=caller, args=(floor, n, until)) for n in range(CALLERS)]
    for thread in callers:
        thread.start()
    for thread in callers:
        thread.join()

    calls = sum(floor.codes.values())
    done, aborted = Counter(), 0
    for (name, code), n in floor.codes.items():
        done[name] += n if code == "OK" else 0
        aborted += n if code == "ABORTED" else 0
    print(f"\n{calls} calls in {SOAK_S} s, {aborted} ABORTED; succeeded: {dict(done)}")
    assert not floor.unclean, f"{len(floor.unclean)} answers outside the contract:\n" + \
        "\n".join(floor.unclean[:50])
    for use_case in ("ClaimLead", "ClaimNext", "ReleaseLead", "TransferLeads", "AssignLead",
                     "Distribute", "OffboardMember", "SetAway"):
        assert done[use_case] > 0, f"no {use_case} succeeded: the soak did not soak ({done})"
    broken = broken_invariants(server_database_url(database_env), floor.tenant)
    assert broken == dict.fromkeys(INVARIANTS, 0), broken
