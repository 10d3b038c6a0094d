"""Python stubs generated from proto/ with grpcio-tools, and the real leadpool binary serving them.

The stubs are generated before the test modules are imported, so those import them as any
Python project would (`from leadpool.v1 import lead_service_pb2`). The server is the built
binary (`cargo build --bin leadpool`, or LEADPOOL_BIN) on a fresh database: a new database on
DATABASE_URL's server when that is set, else the private PostgreSQL the binary starts itself in a
temporary LEADPOOL_DATA_DIR.
"""

import contextlib
import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from importlib import resources
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

ROOT = Path(__file__).resolve().parents[2]
PROTO_DIR = ROOT / "proto"
# The googleapis files the contract imports (google/api/field_behavior.proto, google/rpc/…).
VENDOR_PROTO_DIR = PROTO_DIR / "vendor"
# Generous: the private PostgreSQL's initdb and the migrations come first.
START_TIMEOUT_S = 120
STOP_TIMEOUT_S = 60
# The origin whose browser pages the session's server lets call over gRPC-Web.
WEB_ORIGIN = "http://admin.leadpool.test"


def pytest_configure(config):
    stubs = Path(tempfile.mkdtemp(prefix="leadpool-stubs-"))
    config._leadpool_stubs = stubs
    generate_stubs(stubs)
    sys.path.insert(0, str(stubs))


def pytest_unconfigure(config):
    shutil.rmtree(getattr(config, "_leadpool_stubs", ""), ignore_errors=True)


def generate_stubs(out: Path):
    """Stubs of our own files only: the googleapis files they import (proto/vendor) come from
    the installed googleapis-common-protos (`google.rpc.error_details_pb2`, `google.api`), which
    generated copies would shadow."""
    from grpc_tools import protoc

    well_known = resources.files("grpc_tools") / "_proto"
    ours = PROTO_DIR / "leadpool"
    protos = sorted(str(p.relative_to(PROTO_DIR)) for p in ours.rglob("*.proto"))
    args = [
        "grpc_tools.protoc",
        f"-I{PROTO_DIR}",
        f"-I{VENDOR_PROTO_DIR}",
        f"-I{well_known}",
        f"--python_out={out}",
        f"--grpc_python_out={out}",
        *protos,
    ]
    if protoc.main(args) != 0:
        raise pytest.UsageError(f"grpc_tools.protoc failed on {protos}")


def leadpool_binary() -> Path:
    """LEADPOOL_BIN, or the debug binary, built (or found up to date) by cargo."""
    if os.environ.get("LEADPOOL_BIN"):
        return Path(os.environ["LEADPOOL_BIN"])
    subprocess.run(["cargo", "build", "--quiet", "--bin", "leadpool"], cwd=ROOT, check=True)
    return ROOT / "target" / "debug" / "leadpool"


def psql_binary() -> str:
    found = shutil.which("psql") or next(
        iter(sorted(glob.glob("/usr/lib/postgresql/*/bin/psql"), reverse=True)), None
    )
    if not found:
        raise RuntimeError("DATABASE_URL is set but psql is not installed")
    return found


def psql(url: str, sql: str):
    subprocess.run([psql_binary(), url, "-v", "ON_ERROR_STOP=1", "-qc", sql], check=True)


def with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


def server_database_url(database_env: dict) -> str:
    """A libpq URL of the server's database: DATABASE_URL's, or the private PostgreSQL the binary
    started (database `leadpool`, unix socket only, trust auth; its socket directory is line 5
    of postmaster.pid)."""
    if database_env.get("DATABASE_URL"):
        return database_env["DATABASE_URL"]
    pid_file = os.path.join(database_env["LEADPOOL_DATA_DIR"], "pgdata", "postmaster.pid")
    with open(pid_file) as lines:
        fields = lines.read().splitlines()
    port, socket_dir = fields[3].strip(), fields[4].strip()
    return f"postgresql://postgres@/leadpool?host={socket_dir}&port={port}"


@pytest.fixture(scope="session")
def database_env():
    """The environment that gives the server a fresh database, and removes it afterwards."""
    with fresh_database() as env:
        yield env


@contextlib.contextmanager
def fresh_database():
    """The environment of a fresh database: a new one on DATABASE_URL's server, else a new
    private PostgreSQL directory for the binary; removed afterwards."""
    url = os.environ.get("DATABASE_URL", "").strip()
    if url:
        name = f"leadpool_py_{uuid.uuid4().hex}"
        psql(url, f"CREATE DATABASE {name}")
        yield {"DATABASE_URL": with_database(url, name)}
        psql(url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    else:
        # Under /tmp and world-traversable, so PostgreSQL's own user (when we are root) can
        # reach the cluster the binary creates in it.
        data_dir = Path(tempfile.mkdtemp(prefix="leadpool-py-"))
        data_dir.chmod(0o755)
        yield {"DATABASE_URL": "", "LEADPOOL_DATA_DIR": str(data_dir / "data")}
        shutil.rmtree(data_dir, ignore_errors=True)


class Server:
    """The leadpool process, its log, and a channel to it."""

    def __init__(self, process: subprocess.Popen, log: Path, addr: str):
        self.process = process
        self.log = log
        self.addr = addr
        self.channel = grpc.insecure_channel(addr)

    def metrics_url(self) -> str:
        """`http://127.0.0.1:<port>/metrics`, from the `leadpool serving gRPC` log line."""
        serving = next(line for line in self.log_lines()
                       if line.get("message") == "leadpool serving gRPC")
        return serving["metrics"]

    def log_lines(self) -> list[dict]:
        lines = []
        for line in self.log.read_text().splitlines():
            try:
                lines.append(json.loads(line))
            except json.JSONDecodeError:
                lines.append({"message": line})
        return lines

    def stop(self) -> int:
        self.channel.close()
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(STOP_TIMEOUT_S)


@pytest.fixture(scope="session")
def server(database_env, tmp_path_factory):
    with started_server(database_env, tmp_path_factory.mktemp("server")) as server:
        yield server


@contextlib.contextmanager
def started_server(database_env: dict, log_dir: Path):
    """The binary serving on `database_env`'s database, stopped (and checked to stop cleanly)
    afterwards."""
    log = log_dir / "leadpool.log"
    env = {
        **os.environ,
        **database_env,
        "LEADPOOL_LISTEN": "127.0.0.1:0",
        "LEADPOOL_METRICS_LISTEN": "127.0.0.1:0",
        "LEADPOOL_LOG_FORMAT": "json",
        "LEADPOOL_LOG": "info,sqlx=warn",
        "LEADPOOL_HEALTH_INTERVAL_SECONDS": "1",
        "LEADPOOL_HEARTBEAT_INTERVAL_MS": "300",
        "LEADPOOL_GRPC_WEB_ORIGINS": WEB_ORIGIN,
    }
    with log.open("w") as out:
        process = subprocess.Popen(
            [str(leadpool_binary())], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        server = Server(process, log, wait_for_address(process, log))
        wait_until_serving(server.channel)
    except BaseException:
        process.kill()
        process.wait()
        print(log.read_text())
        raise
    yield server
    code = server.stop()
    messages = [line.get("message") for line in server.log_lines()]
    assert code == 0, f"leadpool exited with {code}:\n{log.read_text()}"
    assert "SIGTERM received" in messages, log.read_text()


def wait_for_address(process: subprocess.Popen, log: Path) -> str:
    """The address from the `leadpool serving gRPC` log line (the port is chosen by the OS)."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        for line in log.read_text().splitlines():
            if '"leadpool serving gRPC"' in line:
                return json.loads(line)["addr"]
        if process.poll() is not None:
            raise RuntimeError(f"leadpool exited with {process.returncode} before serving")
        time.sleep(0.1)
    raise TimeoutError(f"leadpool did not serve within {START_TIMEOUT_S} s")


def wait_until_serving(channel: grpc.Channel):
    health = health_pb2_grpc.HealthStub(channel)
    deadline = time.monotonic() + 30
    while True:
        status = health.Check(health_pb2.HealthCheckRequest(), timeout=5).status
        if status == health_pb2.HealthCheckResponse.SERVING:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"health still {status} after 30 s")
        time.sleep(0.2)
