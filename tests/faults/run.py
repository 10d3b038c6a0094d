"""Fault checks of leadpool: two replicas of the real binary on a PostgreSQL cluster of our own,
then the faults a deployment meets, and the tables checked straight with psql afterwards.

A. PostgreSQL restarted under claim load: callers spread over both replicas claim, release and
   batch-claim while PostgreSQL restarts (`pg_ctl restart -m fast`, then `-m immediate`; twice in
   the full form), and then while it is stopped for a few seconds and started again. Every
   status must be a clean one (OK or a refusal the contract names: FAILED_PRECONDITION, ABORTED,
   UNAVAILABLE, DEADLINE_EXCEEDED, ...; never INTERNAL or UNKNOWN), both replicas must answer
   again on their own, without a restart, and a claim through each must succeed afterwards.
B. One replica killed mid-Distribute: replica 1 is SIGKILLed while its Distribute transaction is
   open (seen in pg_stat_activity: the statement that moves the leads running, or run and not
   yet committed). The batch must be applied in full or not at all, replica 2 keeps serving, the
   caller's retry (same request_id) through replica 2 completes, and replica 1, restarted,
   serves again. Then both replicas distribute the rest of the pool concurrently, up to the caps.

After each step the invariants are checked in the database: state OWNED exactly when a lead has an
owner; each member's held_count equals the leads it owns in that pool; nobody over the cap; each
lead's events replay step by step (claims and distributions only from nobody, releases only from
the owner) to the lead's current owner; and calls that failed with a definite refusal wrote no
event.

Usage (from the repository root; the venv is the one .ci/tools builds):

    LEADPOOL_BIN=target/debug/leadpool target/ci/venv/bin/python tests/faults/run.py --short
    target/ci/venv/bin/python tests/faults/run.py            # full: more load, longer, larger

Without LEADPOOL_BIN the debug binary is built (or found up to date) by cargo. PostgreSQL's
server binaries are looked up under /usr/lib/postgresql/*/bin (or LEADPOOL_PG_BIN_DIR, or PATH).
As root, initdb and pg_ctl run as the `postgres` user (PostgreSQL refuses root). Everything lives
in one temporary directory under /tmp, removed at the end, also on failure. Exits non-zero, with
the reason, on any violated invariant, any INTERNAL or UNKNOWN status, or a replica that does not
recover. `--keep` leaves the directory (logs, cluster) behind for a post-mortem.
"""

from __future__ import annotations

import argparse
import atexit
import glob
import json
import os
import pwd
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "python"))
from conftest import generate_stubs, leadpool_binary, wait_for_address  # noqa: E402

import grpc  # noqa: E402
from google.rpc import error_details_pb2  # noqa: E402
from grpc_health.v1 import health_pb2, health_pb2_grpc  # noqa: E402
from grpc_status import rpc_status  # noqa: E402

# Statuses a caller may see under these faults; anything else is a failure of the check.
CLEAN = {
    "OK", "FAILED_PRECONDITION", "ABORTED", "UNAVAILABLE", "DEADLINE_EXCEEDED",
    "RESOURCE_EXHAUSTED", "PERMISSION_DENIED",
}
# Answers that do not show the server reached the database: it may still be down. Any other
# answer (a refusal included) was decided on what the database said.
DB_DOWN = {"UNAVAILABLE", "DEADLINE_EXCEEDED", "CANCELLED"}
CALL_TIMEOUT_S = 5
RECOVERY_TIMEOUT_S = 30


@dataclass(frozen=True)
class Size:
    # Check A
    members: int
    cap: int
    leads: int
    workers: int
    warm_s: float
    settle_s: float
    cycles: int  # each cycle: restart -m fast, then -m immediate
    outage_s: float  # then stopped this long, and started again
    # Check B
    dist_leads: int
    dist_members: int
    dist_cap: int
    kills: int


SHORT = Size(members=6, cap=5, leads=200, workers=12, warm_s=2, settle_s=2, cycles=1, outage_s=3,
             dist_leads=2500, dist_members=5, dist_cap=450, kills=2)
FULL = Size(members=12, cap=5, leads=1000, workers=32, warm_s=5, settle_s=6, cycles=2, outage_s=6,
            dist_leads=5000, dist_members=8, dist_cap=550, kills=4)
BATCH = 1000  # Distribute's largest `limit`


class CheckFailed(Exception):
    """A fault check saw something the service must never do."""


def say(text: str = ""):
    print(text, flush=True)


def fmt_codes(codes: Counter) -> str:
    order = sorted(codes.items(), key=lambda kv: (kv[0] != "OK", -kv[1]))
    return "{" + ", ".join(f"{k}: {v:,}" for k, v in order) + "}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------------------------------------
# Cleanup: whatever was started is stopped once, on success, failure, Ctrl-C or SIGTERM.


class Cleanup:
    def __init__(self):
        self.actions: list = []
        self.done = False
        atexit.register(self.run)

    def add(self, action):
        self.actions.append(action)

    def run(self):
        if self.done:
            return
        self.done = True
        for action in reversed(self.actions):
            try:
                action()
            except Exception as err:  # noqa: BLE001 - cleanup goes on
                print(f"cleanup: {err}", file=sys.stderr)


# ---------------------------------------------------------------------------------------------
# PostgreSQL: a cluster of our own, so we may restart it.


def pg_bin_dir() -> Path:
    if os.environ.get("LEADPOOL_PG_BIN_DIR"):
        return Path(os.environ["LEADPOOL_PG_BIN_DIR"])
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), reverse=True)
    if found:
        return Path(found[0]).parent
    if shutil.which("pg_ctl"):
        return Path(shutil.which("pg_ctl")).parent
    raise CheckFailed("no PostgreSQL server binaries (pg_ctl) found")


class Postgres:
    def __init__(self, base: Path):
        self.bin = pg_bin_dir()
        self.dir = base / "pg"
        self.data = self.dir / "data"
        self.log = self.dir / "postgres.log"
        self.port = free_port()
        self.as_root = os.geteuid() == 0
        self.url = f"postgres://postgres@127.0.0.1:{self.port}/leadpool"

    def _as_owner(self, *args) -> list[str]:
        cmd = [str(a) for a in args]
        return ["runuser", "-u", "postgres", "--", *cmd] if self.as_root else cmd

    def _run(self, *args, timeout=120):
        done = subprocess.run(self._as_owner(*args), capture_output=True, text=True,
                              timeout=timeout)
        if done.returncode != 0:
            raise CheckFailed(f"{' '.join(map(str, args[:2]))} failed ({done.returncode}):\n"
                              f"{done.stdout}{done.stderr}{self.log_tail()}")
        return done

    def log_tail(self, lines=20) -> str:
        try:
            return "\n".join(self.log.read_text().splitlines()[-lines:])
        except OSError:
            return ""

    def init(self):
        self.dir.mkdir()
        if self.as_root:
            try:
                owner = pwd.getpwnam("postgres")
            except KeyError as err:
                raise CheckFailed("running as root but there is no `postgres` user") from err
            os.chown(self.dir, owner.pw_uid, owner.pw_gid)
        self._run(self.bin / "initdb", "-D", self.data, "-U", "postgres", "-A", "trust",
                  "-E", "UTF8", "--locale=C", "--no-sync")
        # fsync off: an immediate shutdown kills PostgreSQL, not the OS, so the page cache keeps
        # every WAL write; synchronous_commit stays on, so an acknowledged commit survives.
        conf = f"""
listen_addresses = '127.0.0.1'
port = {self.port}
unix_socket_directories = '{self.dir}'
max_connections = 200
fsync = off
full_page_writes = off
shared_buffers = 128MB
"""
        with (self.data / "postgresql.conf").open("a") as f:
            f.write(conf)

    def pg_ctl(self, *args):
        return self._run(self.bin / "pg_ctl", "-D", self.data, "-l", self.log, "-w", "-t", "60",
                         *args)

    def start(self):
        self.pg_ctl("start")
        self.psql("CREATE DATABASE leadpool", db="postgres")

    def restart(self, mode: str):
        self.pg_ctl("-m", mode, "restart")

    def stop(self):
        if (self.data / "postmaster.pid").exists():
            subprocess.run(self._as_owner(self.bin / "pg_ctl", "-D", self.data, "-m",
                                          "immediate", "-w", "stop"),
                           capture_output=True, timeout=60)

    def psql(self, sql: str, db: str = "leadpool") -> list[list[str]]:
        """Rows of the last statement, each a list of column texts."""
        done = subprocess.run(
            [str(self.bin / "psql"), "-X", "-q", "-At", "-F", "\t", "-v", "ON_ERROR_STOP=1",
             "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-d", db, "-c", sql],
            capture_output=True, text=True, timeout=60,
        )
        if done.returncode != 0:
            raise CheckFailed(f"psql failed: {done.stderr.strip()}\n{sql}")
        return [line.split("\t") for line in done.stdout.splitlines() if line]

    def watch(self, sql: str) -> subprocess.Popen:
        """psql running `sql` every millisecond (\\watch), its rows on stdout as they come;
        connected once this returns."""
        process = subprocess.Popen(
            [str(self.bin / "psql"), "-X", "-q", "-At", "-F", "\t", "-h", "127.0.0.1", "-p",
             str(self.port), "-U", "postgres", "-d", "leadpool"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        process.stdin.write("SELECT 'ready';\n")
        process.stdin.flush()
        if process.stdout.readline().strip() != "ready":
            process.kill()
            raise CheckFailed("psql could not connect for polling")
        process.stdin.write(f"{sql.strip()} \\watch 0.001\n")
        process.stdin.flush()
        return process

    def value(self, sql: str) -> str:
        return self.psql(sql)[0][0]


# ---------------------------------------------------------------------------------------------
# The replicas: the real binary, its address from its log, health SERVING.


class Stubs:
    """Generated modules, and stubs per channel."""

    def __init__(self, out: Path):
        out.mkdir()
        generate_stubs(out)
        sys.path.insert(0, str(out))
        from leadpool.v1 import (  # noqa: PLC0415
            assignment_service_pb2, assignment_service_pb2_grpc, lead_service_pb2,
            lead_service_pb2_grpc, pool_service_pb2, pool_service_pb2_grpc, types_pb2,
        )
        self.assign = assignment_service_pb2
        self.assign_grpc = assignment_service_pb2_grpc
        self.lead = lead_service_pb2
        self.lead_grpc = lead_service_pb2_grpc
        self.pool = pool_service_pb2
        self.pool_grpc = pool_service_pb2_grpc
        self.types = types_pb2


class Replica:
    def __init__(self, index: int, binary: Path, env: dict, logs: Path, stubs: Stubs):
        self.index, self.name = index, f"replica {index + 1}"
        self.binary, self.env, self.logs, self.stubs = binary, env, logs, stubs
        self.process: subprocess.Popen | None = None
        self.starts = 0
        self.channel = None

    def start(self) -> float:
        """Starts the process; seconds until it serves."""
        t0 = time.monotonic()
        self.starts += 1
        self.log = self.logs / f"replica{self.index + 1}-{self.starts}.log"
        if self.channel:
            self.channel.close()
        with self.log.open("w") as out:
            self.process = subprocess.Popen([str(self.binary)], env=self.env, stdout=out,
                                            stderr=subprocess.STDOUT)
        try:
            self.addr = wait_for_address(self.process, self.log)
        except Exception as err:
            raise CheckFailed(f"{self.name} did not start: {err}\n{self.log_tail()}") from err
        self.channel = grpc.insecure_channel(self.addr)
        self.health = health_pb2_grpc.HealthStub(self.channel)
        self.pools = self.stubs.pool_grpc.PoolServiceStub(self.channel)
        self.leads = self.stubs.lead_grpc.LeadServiceStub(self.channel)
        self.assignments = self.stubs.assign_grpc.AssignmentServiceStub(self.channel)
        if not self.wait_serving(RECOVERY_TIMEOUT_S):
            raise CheckFailed(f"{self.name} never became SERVING\n{self.log_tail()}")
        return time.monotonic() - t0

    def serving(self) -> bool:
        try:
            status = self.health.Check(health_pb2.HealthCheckRequest(), timeout=1).status
        except grpc.RpcError:
            return False
        return status == health_pb2.HealthCheckResponse.SERVING

    def wait_serving(self, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise CheckFailed(f"{self.name} exited with {self.process.returncode}\n"
                                  f"{self.log_tail()}")
            if self.serving():
                return True
            time.sleep(0.1)
        return False

    def kill(self):
        """SIGKILL; the channel stays open, so calls in flight see what a caller would."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(30)

    def stop(self):
        if self.channel:
            self.channel.close()
            self.channel = None
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def log_tail(self, lines=15) -> str:
        try:
            return "\n".join(self.log.read_text().splitlines()[-lines:])
        except OSError:
            return ""

    def log_levels(self) -> tuple[Counter, Counter]:
        """Log lines by level over every start, and the ERROR lines' messages."""
        levels, errors = Counter(), Counter()
        for log in self.logs.glob(f"replica{self.index + 1}-*.log"):
            for line in log.read_text(errors="replace").splitlines():
                try:
                    entry = json.loads(line)
                except json.JSONDecodeError:
                    levels["(not json)"] += 1
                    continue
                levels[entry.get("level", "?")] += 1
                if entry.get("level") == "ERROR":
                    errors[f"{entry.get('message')} {entry.get('error', '')}".strip()] += 1
        return levels, errors


class Tenant:
    def __init__(self, prefix: str):
        self.id = f"{prefix}-{uuid.uuid4().hex[:10]}"

    def user(self, user: str, roles: str = "") -> list[tuple[str, str]]:
        metadata = [("x-tenant-id", self.id), ("x-actor-id", user)]
        return metadata + [("x-actor-roles", roles)] if roles else metadata

    def admin(self):
        return self.user("ops", "admin")

    def service(self):
        return self.user("crm-sync", "service")


def code_of(err: grpc.RpcError) -> str:
    return err.code().name if err.code() else "UNKNOWN"


def reason_of(err: grpc.RpcError) -> str:
    """The ErrorInfo reason the status carries, or ''."""
    try:
        status = rpc_status.from_call(err)
    except Exception:  # noqa: BLE001 - a status without readable details has no reason
        return ""
    for detail in status.details if status else []:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return info.reason
    return ""


# ---------------------------------------------------------------------------------------------
# Database invariants, checked with psql on the tables of every tenant.

INVARIANTS = """
WITH owned AS (
    SELECT tenant_id, pool_id, owner_id, count(*) AS n FROM leads
    WHERE owner_id IS NOT NULL GROUP BY tenant_id, pool_id, owner_id),
steps AS (
    SELECT lead_id, kind, from_owner, to_owner AS owner_after,
           lag(to_owner) OVER (PARTITION BY tenant_id, lead_id ORDER BY seq) AS owner_before,
           row_number() OVER (PARTITION BY tenant_id, lead_id ORDER BY seq) AS n,
           count(*) OVER (PARTITION BY tenant_id, lead_id) AS total, tenant_id
    FROM lead_events),
last AS (SELECT tenant_id, lead_id, owner_after FROM steps WHERE n = total)
SELECT
  (SELECT count(*) FROM leads WHERE (state = 'OWNED') <> (owner_id IS NOT NULL)),
  (SELECT count(*) FROM members m LEFT JOIN owned o
       ON o.tenant_id = m.tenant_id AND o.pool_id = m.pool_id AND o.owner_id = m.user_id
   WHERE m.held_count <> COALESCE(o.n, 0)),
  (SELECT count(*) FROM owned o WHERE NOT EXISTS (
       SELECT 1 FROM members m WHERE m.tenant_id = o.tenant_id AND m.pool_id = o.pool_id
         AND m.user_id = o.owner_id)),
  (SELECT count(*) FROM members m JOIN pools p ON p.tenant_id = m.tenant_id AND p.id = m.pool_id
   WHERE m.held_count > COALESCE(m.max_held, p.max_held_per_member, 2147483647)),
  (SELECT count(DISTINCT (tenant_id, lead_id)) FROM steps
   WHERE kind NOT IN ('CREATED', 'CLAIMED', 'ASSIGNED', 'DISTRIBUTED', 'RELEASED',
                      'RECYCLE_WARNING', 'RECYCLED')
      OR (kind = 'CREATED' AND n <> 1)
      OR (kind IN ('CLAIMED', 'ASSIGNED', 'DISTRIBUTED') AND owner_before IS NOT NULL)
      OR (kind IN ('RELEASED', 'RECYCLE_WARNING', 'RECYCLED')
          AND owner_before IS DISTINCT FROM from_owner)),
  (SELECT count(*) FROM leads l LEFT JOIN last
       ON last.tenant_id = l.tenant_id AND last.lead_id = l.id
   WHERE l.owner_id IS DISTINCT FROM last.owner_after),
  (SELECT count(*) FROM last WHERE NOT EXISTS (
       SELECT 1 FROM leads l WHERE l.tenant_id = last.tenant_id AND l.id = last.lead_id)),
  (SELECT count(*) FROM leads),
  (SELECT count(*) FROM leads WHERE state = 'OWNED'),
  (SELECT count(*) FROM lead_events)
"""
INVARIANT_NAMES = [
    "state OWNED <=> owner set",
    "held_count = leads owned in the pool",
    "owners are members of the lead's pool",
    "nobody over the cap",
    "events replay step by step (one owner at a time)",
    "events replay to the current owner",
    "no events of unknown leads",
]


def check_invariants(pg: Postgres, when: str) -> list[str]:
    row = [int(v) for v in pg.psql(INVARIANTS)[0]]
    counts, (leads, owned, events) = row[: len(INVARIANT_NAMES)], row[len(INVARIANT_NAMES):]
    broken = [f"{name}: {n} violation(s)" for name, n in zip(INVARIANT_NAMES, counts) if n]
    verdict = "all hold" if not broken else "VIOLATED: " + "; ".join(broken)
    say(f"  invariants {when}: {len(INVARIANT_NAMES)} checks on {leads:,} leads "
        f"({owned:,} owned), {events:,} events: {verdict}")
    return [f"invariants {when}: {b}" for b in broken]


# ---------------------------------------------------------------------------------------------
# Check A: PostgreSQL restarted under claim load.


@dataclass
class Call:
    t0: float
    t1: float
    replica: int
    method: str
    code: str
    request_id: str
    detail: str = ""
    reason: str = ""


@dataclass
class Load:
    calls: list = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    stop: threading.Event = field(default_factory=threading.Event)
    final: dict = field(default_factory=dict)  # request_id -> final code after retries
    faults: list = field(default_factory=list)  # (what, started, PostgreSQL back)

    def record(self, call: Call):
        with self.lock:
            self.calls.append(call)

    def snapshot(self) -> list[Call]:
        with self.lock:
            return list(self.calls)


def call_with_retry(load: Load, replicas, idx: int, method: str, fn, request, metadata):
    """Calls `fn` on replica `idx` as a careful caller would: UNAVAILABLE is retried (same
    request_id, up to 3 attempts, on the other replica too) after a short pause."""
    rid = getattr(request, "request_id", "")
    for attempt in range(3):
        replica = replicas[(idx + attempt) % len(replicas)]
        t0 = time.monotonic()
        try:
            response = fn(replica)(request, metadata=metadata, timeout=CALL_TIMEOUT_S)
            load.record(Call(t0, time.monotonic(), replica.index, method, "OK", rid))
            if rid:
                load.final[rid] = "OK"
            return "OK", response
        except grpc.RpcError as err:
            code, failure = code_of(err), err
            load.record(Call(t0, time.monotonic(), replica.index, method, code, rid,
                             err.details() or "", reason_of(err)))
            if rid:
                load.final[rid] = code
            if code != "UNAVAILABLE" or load.stop.is_set():
                return code, failure
            time.sleep(0.05 + 0.1 * attempt)
    return code, failure


def worker(n: int, load: Load, replicas, stubs: Stubs, tenant: Tenant, pool_id: str,
           lead_ids: list[str], member: str, cap: int):
    rng = random.Random(n)
    meta = tenant.user(member)
    held: set[str] = set()
    L = stubs.lead
    ops = 0
    while not load.stop.is_set():
        ops += 1
        idx = rng.randrange(len(replicas))
        if ops % 25 == 0:
            code, res = call_with_retry(
                load, replicas, idx, "ListLeads", lambda r: r.leads.ListLeads,
                L.ListLeadsRequest(pool_id=pool_id, owner_id="me", page_size=100), meta)
            if code == "OK":
                held = {lead.id for lead in res.leads}
            continue
        if held and (len(held) >= cap or rng.random() < 0.3):
            lead_id = rng.choice(sorted(held))
            code, _ = call_with_retry(
                load, replicas, idx, "ReleaseLead", lambda r: r.leads.ReleaseLead,
                L.ReleaseLeadRequest(lead_id=lead_id, reason="NO_BUDGET",
                                     request_id=str(uuid.uuid4())), meta)
            if code in ("OK", "FAILED_PRECONDITION", "PERMISSION_DENIED"):
                held.discard(lead_id)
        elif rng.random() < 0.25:
            wanted = rng.sample(lead_ids, 3)
            code, res = call_with_retry(
                load, replicas, idx, "ClaimLeads", lambda r: r.leads.ClaimLeads,
                L.ClaimLeadsRequest(lead_ids=wanted, all_or_nothing=rng.random() < 0.5,
                                    request_id=str(uuid.uuid4())), meta)
            if code == "OK":
                held |= {r.lead_id for r in res.results if r.WhichOneof("outcome") == "lead"}
        else:
            lead_id = rng.choice(lead_ids)
            code, _ = call_with_retry(
                load, replicas, idx, "ClaimLead", lambda r: r.leads.ClaimLead,
                L.ClaimLeadRequest(lead_id=lead_id, request_id=str(uuid.uuid4())), meta)
            if code == "OK":
                held.add(lead_id)
        if code in DB_DOWN:
            time.sleep(0.05)


class HealthWatch:
    """Polls both replicas' health every 100 ms, keeping the times each was not SERVING."""

    def __init__(self, replicas):
        self.replicas = replicas
        self.samples: list[tuple[float, int, bool]] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        while not self.stop.is_set():
            for r in self.replicas:
                self.samples.append((time.monotonic(), r.index, r.serving()))
            time.sleep(0.1)

    def not_serving_s(self, index: int, t0: float, t1: float) -> float:
        """How long (sampled) the replica was not SERVING between t0 and t1."""
        mine = [(t, ok) for t, i, ok in self.samples if i == index and t0 <= t <= t1]
        down = 0.0
        for (t, ok), (t_next, _) in zip(mine, mine[1:]):
            if not ok:
                down += t_next - t
        return down


def restart_under_load(pg: Postgres, mode: str, load: Load, health: HealthWatch,
                       replicas, outage_s: float = 0) -> list[str]:
    """Restarts PostgreSQL (`mode` fast or immediate), or with `outage_s` stops it (fast) and
    starts it that much later; then waits for both replicas to answer from it again."""
    failures = []
    t0 = time.monotonic()
    if outage_s:
        pg.pg_ctl("-m", mode, "stop")
        time.sleep(outage_s)
        pg.pg_ctl("start")
        what = f"stop -m {mode}, {outage_s:g} s down, start"
    else:
        pg.restart(mode)
        what = f"restart -m {mode}"
    t_up = time.monotonic()
    load.faults.append((what, t0, t_up))
    recovered: dict[int, float] = {}
    deadline = t_up + RECOVERY_TIMEOUT_S
    while len(recovered) < len(replicas) and time.monotonic() < deadline:
        for c in load.snapshot():
            if c.t0 >= t_up and c.code not in DB_DOWN and c.replica not in recovered:
                recovered[c.replica] = c.t1
        time.sleep(0.05)
    t_end = max(recovered.values(), default=time.monotonic())
    during = [c for c in load.snapshot() if t0 <= c.t1 <= t_end]
    codes = Counter(c.code for c in during)
    again = ", ".join(
        f"{r.name} {(recovered[r.index] - t_up) * 1000:.0f} ms" if r.index in recovered
        else f"{r.name} NEVER" for r in replicas)
    down = ", ".join(f"{r.name} {health.not_serving_s(r.index, t0, t_end + 1.5):.1f} s"
                     for r in replicas)
    say(f"  {what} under load: PostgreSQL back after {t_up - t0:.1f} s; "
        f"{len(during):,} calls meanwhile, codes {fmt_codes(codes)}")
    say(f"    answered from the database again after: {again}; health not SERVING: {down}")
    for r in replicas:
        if r.index not in recovered:
            failures.append(f"{r.name} did not answer from the database within "
                            f"{RECOVERY_TIMEOUT_S} s after {what}")
    return failures


def check_a(pg: Postgres, replicas, stubs: Stubs, size: Size) -> list[str]:
    say(f"A. PostgreSQL restarted under claim load ({size.workers} callers over "
        f"{len(replicas)} replicas, {size.members} members capped at {size.cap}, "
        f"{size.leads} leads)")
    P, L, T = stubs.pool, stubs.lead, stubs.types
    tenant = Tenant("faults-a")
    r1 = replicas[0]
    pool = r1.pools.CreatePool(P.CreatePoolRequest(name="Restart pool", timezone="UTC",
                                                   max_held_per_member=size.cap),
                               metadata=tenant.admin(), timeout=CALL_TIMEOUT_S).pool
    members = [f"rep-{i:02d}" for i in range(size.members)]
    for m in members:
        r1.pools.AddMember(P.AddMemberRequest(pool_id=pool.id, user_id=m),
                           metadata=tenant.admin(), timeout=CALL_TIMEOUT_S)
    lead_ids = import_leads(r1, stubs, tenant, pool.id, size.leads, "a")

    load = Load()
    threads = [
        threading.Thread(target=worker, daemon=True, args=(
            n, load, replicas, stubs, tenant, pool.id, lead_ids, members[n % len(members)],
            size.cap))
        for n in range(size.workers)
    ]
    health = HealthWatch(replicas)
    health.thread.start()
    failures = []
    t_start = time.monotonic()
    for t in threads:
        t.start()
    try:
        time.sleep(size.warm_s)
        for _ in range(size.cycles):
            for mode in ("fast", "immediate"):
                failures += restart_under_load(pg, mode, load, health, replicas)
                time.sleep(size.settle_s)
        failures += restart_under_load(pg, "fast", load, health, replicas, size.outage_s)
        time.sleep(size.settle_s)
    finally:
        load.stop.set()
        for t in threads:
            t.join(CALL_TIMEOUT_S * 4)
        health.stop.set()
        health.thread.join(5)
    calls = load.snapshot()
    codes = Counter(c.code for c in calls)
    per_method = Counter(c.method for c in calls)
    say(f"  load: {len(calls):,} calls in {time.monotonic() - t_start:.1f} s "
        f"({', '.join(f'{m} {n:,}' for m, n in per_method.most_common())}); "
        f"codes {fmt_codes(codes)}")
    reasons = Counter(f"{c.code}/{c.reason or '-'}" for c in calls if c.code != "OK")
    say(f"    refusals by reason: {fmt_codes(reasons)}")
    late = [c for c in calls if c.code == "DEADLINE_EXCEEDED"]
    if late:
        say(f"    DEADLINE_EXCEEDED ({CALL_TIMEOUT_S} s deadline): " + "; ".join(
            f"{c.method} on {replicas[c.replica].name} after {c.t1 - c.t0:.2f} s, "
            f"{c.t0 - t_start:.1f}-{c.t1 - t_start:.1f} s into the load" for c in late[:5]))
        say("    faults at: " + "; ".join(f"{what} {t0 - t_start:.1f}-{t1 - t_start:.1f} s"
                                      for what, t0, t1 in load.faults))
    bad = [c for c in calls if c.code not in CLEAN]
    for code, n in Counter(c.code for c in bad).items():
        example = next(c for c in bad if c.code == code)
        failures.append(f"{n} call(s) returned {code}, e.g. {example.method} on "
                        f"{replicas[example.replica].name}: {example.detail!r}")

    # The replicas serve again on their own: healthy, and a fresh claim through each succeeds.
    for r in replicas:
        t0 = time.monotonic()
        if not r.wait_serving(RECOVERY_TIMEOUT_S):
            failures.append(f"{r.name} not SERVING {RECOVERY_TIMEOUT_S} s after the load")
            continue
        verifier = f"verifier-{r.index + 1}"
        r.pools.AddMember(P.AddMemberRequest(pool_id=pool.id, user_id=verifier),
                          metadata=tenant.admin(), timeout=CALL_TIMEOUT_S)
        fresh = import_leads(r, stubs, tenant, pool.id, 1, f"a-verify-{r.index}")[0]
        claimed = r.leads.ClaimLead(L.ClaimLeadRequest(lead_id=fresh, request_id=str(
            uuid.uuid4())), metadata=tenant.user(verifier), timeout=CALL_TIMEOUT_S).lead
        if claimed.state != T.LEAD_STATE_OWNED or claimed.owner_id != verifier:
            failures.append(f"claim through {r.name} after the restarts returned {claimed}")
        say(f"  {r.name} after the restarts: SERVING, add member + import + claim OK "
            f"in {time.monotonic() - t0:.2f} s")

    failures += check_invariants(pg, "after the restarts")
    failures += failed_calls_wrote_nothing(pg, tenant, load)
    return failures


def failed_calls_wrote_nothing(pg: Postgres, tenant: Tenant, load: Load) -> list[str]:
    """A call refused for good (not UNAVAILABLE or DEADLINE_EXCEEDED, whose commit a caller
    cannot know: it retries with the same request_id) must have written no event."""
    written = {row[0] for row in pg.psql(
        f"SELECT DISTINCT request_id FROM lead_events WHERE tenant_id = '{tenant.id}' "
        "AND request_id IS NOT NULL")}
    refused = {rid for rid, code in load.final.items() if code not in DB_DOWN and code != "OK"}
    unsure = {rid for rid, code in load.final.items() if code in DB_DOWN}
    wrong = refused & written
    committed_unsure = unsure & written
    say(f"  request ids: {len(refused):,} refused calls wrote no event"
        + (f" ({len(wrong)} DID)" if wrong else "")
        + f"; of {len(unsure):,} left UNAVAILABLE/DEADLINE_EXCEEDED after retries, "
        f"{len(committed_unsure)} had committed")
    return [f"{len(wrong)} refused call(s) wrote events anyway, e.g. request_id "
            f"{sorted(wrong)[0]}"] if wrong else []


def import_leads(replica: Replica, stubs: Stubs, tenant: Tenant, pool_id: str, n: int,
                 tag: str) -> list[str]:
    """n new pool leads with distinct contacts (ImportLeads, 1,000 rows a call)."""
    L, T = stubs.lead, stubs.types
    ids = []
    salt = uuid.uuid4().int % 10**6
    for start in range(0, n, 1000):
        rows = [T.NewLead(name=f"Lead {tag} {i}", company=f"Co {i}",
                          phone=f"+1 {salt:06d}{i:07d}")
                for i in range(start, min(n, start + 1000))]
        res = replica.leads.ImportLeads(
            L.ImportLeadsRequest(pool_id=pool_id, leads=rows, request_id=str(uuid.uuid4())),
            metadata=tenant.service(), timeout=60)
        if res.created != len(rows):
            raise CheckFailed(f"import created {res.created} of {len(rows)}: "
                              f"{[r for r in res.results if not r.lead_id][:3]}")
        ids += [r.lead_id for r in res.results]
    return ids


# ---------------------------------------------------------------------------------------------
# Check B: one replica killed mid-Distribute.

# A Distribute's transaction, open, once the statement that moves the leads (and writes their
# events and held counts) has begun: it holds lead_events' ROW EXCLUSIVE lock from then until it
# ends. `moving`: that statement is still running; else it has run and COMMIT has not happened.
# The scheduler's sweeps take the same lock on lead_events (even when they find nothing due), so
# the transaction is told apart by the distribution_state row it locks first, which only a
# Distribute does: a sweep caught instead would be a backend of the replica that lives on.
MOVE_STATEMENT = "WITH plan AS (%UNNEST($2::uuid[], $3::text[], $4::text[])%"
OPEN_DISTRIBUTION = """
SELECT a.pid, a.state, left(regexp_replace(a.query, '\\s+', ' ', 'g'), 40),
       round(extract(epoch FROM clock_timestamp() - a.xact_start) * 1000)
FROM pg_stat_activity a JOIN pg_locks k ON k.pid = a.pid
WHERE a.application_name = 'leadpool' AND a.xact_start IS NOT NULL
  AND k.relation = 'lead_events'::regclass AND k.mode = 'RowExclusiveLock' AND k.granted
  AND EXISTS (SELECT 1 FROM pg_locks d WHERE d.pid = a.pid
              AND d.relation = 'distribution_state'::regclass AND d.granted)
  AND {phase}
"""
MOVING = f"a.state = 'active' AND a.query LIKE '{MOVE_STATEMENT}'"
MOVED = f"NOT (a.state = 'active' AND a.query LIKE '{MOVE_STATEMENT}')"


def distributed(pg: Postgres, tenant: Tenant, pool_id: str, request_id: str | None = None):
    """(DISTRIBUTED events, owned leads acquired by distribution) of the pool, or of one
    request only (its events, and the owned leads they name)."""
    pool = f"tenant_id = '{tenant.id}' AND pool_id = '{pool_id}'"
    if request_id is None:
        return (int(pg.value(f"SELECT count(*) FROM lead_events WHERE {pool} "
                             "AND kind = 'DISTRIBUTED'")),
                int(pg.value(f"SELECT count(*) FROM leads WHERE {pool} AND state = 'OWNED' "
                             "AND acquired_via = 'DISTRIBUTE'")))
    row = pg.psql(f"""
        WITH mine AS (SELECT lead_id, to_owner FROM lead_events
                      WHERE {pool} AND kind = 'DISTRIBUTED' AND request_id = '{request_id}')
        SELECT (SELECT count(*) FROM mine),
               (SELECT count(*) FROM mine JOIN leads l
                    ON l.tenant_id = '{tenant.id}' AND l.id = mine.lead_id
                WHERE l.state = 'OWNED' AND l.owner_id = mine.to_owner
                  AND l.acquired_via = 'DISTRIBUTE')""")[0]
    return int(row[0]), int(row[1])


def kill_mid_distribute(pg: Postgres, replicas, stubs: Stubs, tenant: Tenant, pool_id: str,
                        round_no: int, moving: bool) -> list[str]:
    A = stubs.assign
    r1, r2 = replicas
    failures = []
    in_pool, room = (int(v) for v in pg.psql(f"""
        SELECT (SELECT count(*) FROM leads WHERE tenant_id = '{tenant.id}'
                  AND pool_id = '{pool_id}' AND state = 'IN_POOL'),
               (SELECT sum(GREATEST(COALESCE(m.max_held, p.max_held_per_member) - m.held_count, 0))
                FROM members m JOIN pools p ON p.tenant_id = m.tenant_id AND p.id = m.pool_id
                WHERE m.tenant_id = '{tenant.id}' AND m.pool_id = '{pool_id}' AND m.active)""")[0])
    pg_log_at = pg.log.stat().st_size
    request = A.DistributeRequest(pool_id=pool_id, limit=BATCH, request_id=str(uuid.uuid4()))
    outcome: dict = {}

    def call():
        outcome["t0"] = time.monotonic()
        try:
            res = r1.assignments.Distribute(request, metadata=tenant.admin(), timeout=60)
            outcome["code"], outcome["plan"] = "OK", res.plan
        except grpc.RpcError as err:
            outcome["code"], outcome["detail"] = code_of(err), err.details()
        outcome["t1"] = time.monotonic()
        time.sleep(0.05)  # a last poll, then the watch ends (if the kill has not ended it)
        try:
            watch.kill()
        except OSError:
            pass

    # psql polls pg_stat_activity every millisecond and prints the open transaction once it
    # is there; the first line it prints is the moment to kill.
    watch = pg.watch(OPEN_DISTRIBUTION.format(phase=MOVING if moving else MOVED))
    thread = threading.Thread(target=call, daemon=True)
    thread.start()
    seen = None
    for line in watch.stdout:
        if line.strip():
            r1.kill()
            t_kill = time.monotonic()
            seen = line.strip().split("\t")
            break
    watch.kill()
    watch.wait()
    thread.join(60)
    if seen is None:
        # The call finished before the poll caught its transaction open: no fault injected.
        say(f"  round {round_no}: Distribute finished ({outcome.get('code')}) in "
            f"{(outcome['t1'] - outcome['t0']) * 1000:.0f} ms before a poll caught it "
            "open; trying again")
        return ["missed"]
    pid, state, query, xact_ms = seen
    at_ms = (t_kill - outcome["t0"]) * 1000
    # The dead replica's backend notices its client is gone and rolls back (or, if COMMIT
    # reached it first, commits): wait until it is gone before reading.
    t_gone = time.monotonic()
    while pg.psql(f"SELECT 1 FROM pg_stat_activity WHERE pid = {pid}"):
        if time.monotonic() - t_gone > RECOVERY_TIMEOUT_S:
            failures.append(f"backend {pid} of the killed replica still there after "
                            f"{RECOVERY_TIMEOUT_S} s")
            break
        time.sleep(0.02)
    gone_ms = (time.monotonic() - t_gone) * 1000
    expected = min(BATCH, in_pool, room)
    events, owned = distributed(pg, tenant, pool_id, request.request_id)
    if events == 0 and owned == 0:
        verdict = "rolled back"
    elif events == owned == expected:
        verdict = "committed in full"
    else:
        verdict = "HALF-APPLIED"
        failures.append(f"round {round_no}: the killed Distribute left {events} events and "
                        f"{owned} owned leads of its {expected}")
    doing = ("running the statement that moves the leads" if moving
             else f"past that statement, not committed: {state} `{query}...`")
    say(f"  round {round_no}: killed {r1.name} {at_ms:.0f} ms into Distribute, its transaction "
        f"open {xact_ms} ms and {doing}")
    say(f"    caller saw {outcome.get('code')}; the backend was gone {gone_ms:.0f} ms later; "
        f"distributed {events}/{expected} ({verdict})")
    with pg.log.open(errors="replace") as log:
        log.seek(pg_log_at)
        said = [line.split("]", 1)[-1].strip() for line in log if f"[{pid}]" in line]
    if said:
        say(f"    PostgreSQL logged for that backend: {' / '.join(said)}")
    if outcome.get("code") not in CLEAN:
        failures.append(f"the killed Distribute's caller saw {outcome.get('code')}: "
                        f"{outcome.get('detail')!r}")
    failures += check_invariants(pg, f"after the kill (round {round_no})")
    all_events, all_owned = distributed(pg, tenant, pool_id)
    if all_events != all_owned:
        failures.append(f"pool has {all_events} DISTRIBUTED events but {all_owned} leads "
                        "owned by distribution")

    # Replica 2 keeps serving while replica 1 is down, and the caller's retry completes there.
    t0 = time.monotonic()
    if not r2.serving():
        failures.append(f"{r2.name} not SERVING while {r1.name} is dead")
    r2.pools.GetPool(stubs.pool.GetPoolRequest(pool_id=pool_id), metadata=tenant.admin(),
                     timeout=CALL_TIMEOUT_S)
    try:
        plan = r2.assignments.Distribute(request, metadata=tenant.admin(), timeout=60).plan
    except grpc.RpcError as err:
        failures.append(f"retried Distribute through {r2.name} failed: {code_of(err)} "
                        f"{err.details()!r}")
        return failures
    retry_ms = (time.monotonic() - t0) * 1000
    events, owned = distributed(pg, tenant, pool_id, request.request_id)
    owners = dict(pg.psql(f"SELECT id, owner_id FROM leads WHERE tenant_id = '{tenant.id}' "
                          f"AND pool_id = '{pool_id}' AND state = 'OWNED'"))
    mismatched = sum(1 for a in plan.assignments if owners.get(a.lead_id) != a.user_id)
    say(f"  round {round_no}: retry (same request_id) through {r2.name}: OK in {retry_ms:.0f} ms, "
        f"plan {len(plan.assignments)} assignments; the request's events {events}, owned "
        f"{owned}; plan vs owners mismatches {mismatched}")
    if not (len(plan.assignments) == events == owned == expected):
        failures.append(f"round {round_no}: retried Distribute: plan {len(plan.assignments)}, "
                        f"events {events}, owned {owned}, expected {expected}")
    if mismatched:
        failures.append(f"round {round_no}: {mismatched} planned assignments are not the owners")
    failures += check_invariants(pg, f"after the retry (round {round_no})")

    took = r1.start()
    r1.pools.GetPool(stubs.pool.GetPoolRequest(pool_id=pool_id), metadata=tenant.admin(),
                     timeout=CALL_TIMEOUT_S)
    say(f"  {r1.name} restarted: SERVING in {took:.1f} s, GetPool OK")
    return failures


def check_b(pg: Postgres, replicas, stubs: Stubs, size: Size) -> list[str]:
    say(f"B. One replica killed mid-Distribute ({size.dist_leads:,} pool leads, "
        f"{size.dist_members} members capped at {size.dist_cap}, batches of {BATCH})")
    P, A = stubs.pool, stubs.assign
    tenant = Tenant("faults-b")
    r1, r2 = replicas
    pool = r1.pools.CreatePool(P.CreatePoolRequest(name="Distribute pool", timezone="UTC",
                                                   max_held_per_member=size.dist_cap),
                               metadata=tenant.admin(), timeout=CALL_TIMEOUT_S).pool
    members = [f"rep-{i:02d}" for i in range(size.dist_members)]
    for m in members:
        r1.pools.AddMember(P.AddMemberRequest(pool_id=pool.id, user_id=m),
                           metadata=tenant.admin(), timeout=CALL_TIMEOUT_S)
    t0 = time.monotonic()
    import_leads(r1, stubs, tenant, pool.id, size.dist_leads, "b")
    say(f"  imported {size.dist_leads:,} leads in {time.monotonic() - t0:.1f} s")
    t0 = time.monotonic()
    preview = r1.assignments.PreviewDistribution(
        A.PreviewDistributionRequest(pool_id=pool.id, limit=BATCH), metadata=tenant.admin(),
        timeout=60).plan
    say(f"  PreviewDistribution of {len(preview.assignments)} leads takes "
        f"{(time.monotonic() - t0) * 1000:.0f} ms")

    failures = []
    kills = attempts = 0
    while kills < size.kills:
        attempts += 1
        result = kill_mid_distribute(pg, replicas, stubs, tenant, pool.id, kills + 1,
                                     moving=kills % 2 == 0)
        if result == ["missed"]:
            if attempts >= size.kills + 3:
                failures.append(f"could not catch a Distribute transaction open in "
                                f"{attempts} attempts (no fault injected: each finished "
                                "between two 1 ms polls of pg_stat_activity)")
                break
            continue
        kills += 1
        failures += result

    # The rest of the pool, by both replicas at once, until nobody may take more.
    capacity = size.dist_members * size.dist_cap
    t0 = time.monotonic()
    seen: list[tuple[int, str]] = []
    lock = threading.Lock()

    def drain(r: Replica):
        while True:
            try:
                plan = r.assignments.Distribute(
                    A.DistributeRequest(pool_id=pool.id, limit=BATCH,
                                        request_id=str(uuid.uuid4())),
                    metadata=tenant.admin(), timeout=60).plan
                with lock:
                    seen.append((len(plan.assignments), "OK"))
                if not plan.assignments:
                    return
            except grpc.RpcError as err:
                with lock:
                    seen.append((0, f"{code_of(err)}: {err.details()}"))
                if code_of(err) not in CLEAN:
                    return
                time.sleep(0.1)

    drains = [threading.Thread(target=drain, args=(r,), daemon=True) for r in replicas]
    for t in drains:
        t.start()
    for t in drains:
        t.join(120)
    events, owned = distributed(pg, tenant, pool.id)
    in_pool = int(pg.value(f"SELECT count(*) FROM leads WHERE tenant_id = '{tenant.id}' "
                           f"AND pool_id = '{pool.id}' AND state = 'IN_POOL'"))
    codes = Counter(s.split(":")[0] for _, s in seen)
    say(f"  the rest by both replicas at once: {len(seen)} calls, codes {fmt_codes(codes)}, "
        f"in {time.monotonic() - t0:.1f} s; {owned:,} leads distributed (capacity "
        f"{capacity:,}), {in_pool:,} left in the pool, {events:,} DISTRIBUTED events")
    for _, s in seen:
        if s.split(":")[0] not in CLEAN:
            failures.append(f"Distribute during the drain returned {s}")
    if owned != min(capacity, size.dist_leads) or events != owned:
        failures.append(f"after the drain: {owned} owned by distribution, {events} events, "
                        f"expected {min(capacity, size.dist_leads)} of each")
    failures += check_invariants(pg, "at the end")
    return failures


# ---------------------------------------------------------------------------------------------


def interrupted(*_):
    """SIGTERM (a CI timeout) unwinds like Ctrl-C, so the finally in main stops everything."""
    raise KeyboardInterrupt


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--short", action="store_true", help="the quick form, for CI")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args()
    size = SHORT if args.short else FULL
    started = time.monotonic()
    cleanup = Cleanup()
    signal.signal(signal.SIGTERM, interrupted)

    base = Path(tempfile.mkdtemp(prefix="leadpool-faults-", dir="/tmp"))
    base.chmod(0o755)
    if args.keep:
        cleanup.add(lambda: say(f"kept {base}"))
    else:
        cleanup.add(lambda: shutil.rmtree(base, ignore_errors=True))
    failures: list[str] = []
    try:
        stubs = Stubs(base / "stubs")
        binary = leadpool_binary()
        pg = Postgres(base)
        t0 = time.monotonic()
        pg.init()
        cleanup.add(pg.stop)
        pg.start()
        say(f"PostgreSQL ({pg.bin.parent.name}) on 127.0.0.1:{pg.port}, "
            f"initdb + start in {time.monotonic() - t0:.1f} s")
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("LEADPOOL_", "OTEL_")) and k != "DATABASE_URL"}
        env.update({
            "DATABASE_URL": pg.url,
            "LEADPOOL_LISTEN": "127.0.0.1:0",
            "LEADPOOL_LOG_FORMAT": "json",
            "LEADPOOL_LOG": "info,sqlx=warn",
            "LEADPOOL_METRICS_LISTEN": "",
            "LEADPOOL_HEALTH_INTERVAL_SECONDS": "1",
            # The schedulers sweep every second, so they meet the faults too (they find nothing
            # due: no pool here has deadlines or automatic distribution).
            "LEADPOOL_RECYCLE_INTERVAL_SECONDS": "1",
            "LEADPOOL_DISTRIBUTE_INTERVAL_SECONDS": "1",
        })
        logs = base / "logs"
        logs.mkdir()
        replicas = []
        for i in (1, 2):
            r = Replica(i - 1, binary, env, logs, stubs)
            cleanup.add(r.stop)
            replicas.append(r)
        t0 = time.monotonic()
        for r in replicas:
            r.start()
        say(f"{binary}: 2 replicas SERVING ({', '.join(r.addr for r in replicas)}) in "
            f"{time.monotonic() - t0:.1f} s")
        say()
        failures += check_a(pg, replicas, stubs, size)
        say()
        failures += check_b(pg, replicas, stubs, size)
        say()
        for r in replicas:
            levels, errors = r.log_levels()
            say(f"{r.name} log lines by level: {dict(levels)}"
                + "".join(f"\n  ERROR x{n}: {m}" for m, n in errors.most_common(5)))
    except CheckFailed as err:
        failures.append(str(err))
    except grpc.RpcError as err:
        failures.append(f"a setup or verification call failed: {code_of(err)} {err.details()!r}")
    except KeyboardInterrupt:
        failures.append("interrupted")
    except Exception as err:  # noqa: BLE001 - reported as a failure, after cleanup
        import traceback  # noqa: PLC0415

        failures.append(f"unexpected error: {err!r}\n{traceback.format_exc()}")
    finally:
        cleanup.run()
    took = time.monotonic() - started
    if failures:
        say(f"FAILED after {took:.1f} s:")
        for f in failures:
            say(f"  - {f}")
        return 1
    say(f"fault checks passed in {took:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
