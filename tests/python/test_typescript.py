"""leadpool from TypeScript: clients/typescript's caller test (node:test), on code that
buf.gen.yaml generated from proto/ alone, against the running server over gRPC and over
gRPC-Web, with a browser's CORS preflight from an allowed and a refused origin."""

import os
import shutil
import subprocess

from conftest import ROOT, WEB_ORIGIN

CLIENT = ROOT / "clients" / "typescript"


def run(command: list[str], **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        command, cwd=CLIENT, env={**os.environ, **env}, capture_output=True, text=True,
        timeout=300,
    )


def test_the_typescript_caller_passes_over_grpc_and_grpc_web(server):
    node = shutil.which("node")
    assert node, "Node.js is needed (.ci/tools installs it)"
    assert (CLIENT / "node_modules").is_dir(), "run `npm ci --prefix clients/typescript`"
    assert (CLIENT / "src" / "gen" / "leadpool" / "v1" / "lead_service_pb.ts").is_file(), (
        "run `buf generate` at the repository root (buf.gen.yaml)"
    )
    compiled = run([str(CLIENT / "node_modules" / ".bin" / "tsc"), "-p", "."])
    assert compiled.returncode == 0, compiled.stdout + compiled.stderr

    tested = run([node, "--test", "--test-reporter=spec", "dist/caller.test.js"],
                 LEADPOOL_ADDR=server.addr, LEADPOOL_WEB_ORIGIN=WEB_ORIGIN)
    print(tested.stdout)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    # Every case ran: two on each transport, one client stream, two preflights.
    assert "ℹ pass 7" in tested.stdout and "ℹ fail 0" in tested.stdout, tested.stdout
