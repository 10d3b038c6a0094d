// leadpool from TypeScript, as a Node service or a browser admin tool would call it: code
// generated from proto/ alone by buf.gen.yaml (protobuf-es + Connect), over gRPC (HTTP/2) and
// over gRPC-Web (HTTP/1.1, what browsers speak). Run by tests/python/test_typescript.py, which
// starts the server and passes LEADPOOL_ADDR and LEADPOOL_WEB_ORIGIN (an allowed origin).
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { describe, it } from "node:test";

import type { MessageInitShape } from "@bufbuild/protobuf";
import { Code, createClient, type Transport } from "@connectrpc/connect";
import { createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";

import { refusal } from "./errors.js";
import { EventService } from "./gen/leadpool/v1/event_service_pb.js";
import { ErrorReason } from "./gen/leadpool/v1/errors_pb.js";
import { LeadService } from "./gen/leadpool/v1/lead_service_pb.js";
import { PoolService } from "./gen/leadpool/v1/pool_service_pb.js";
import { EventKind, LeadState, NewLeadSchema } from "./gen/leadpool/v1/types_pb.js";

const addr = required("LEADPOOL_ADDR");
const allowedOrigin = required("LEADPOOL_WEB_ORIGIN");
const baseUrl = `http://${addr}`;
const timeoutMs = 10_000;

function required(name: string): string {
  const value = process.env[name];
  assert.ok(value, `${name} must be set`);
  return value;
}

/** Identity as trusted metadata, one tenant per test so its events are only the test's. */
class Tenant {
  readonly id = `ts-${randomUUID().slice(0, 12)}`;
  as(user: string, roles = ""): { headers: Record<string, string>; timeoutMs: number } {
    const headers: Record<string, string> = { "x-tenant-id": this.id, "x-actor-id": user };
    if (roles) headers["x-actor-roles"] = roles;
    return { headers, timeoutMs };
  }
  admin() {
    return this.as("ops", "admin");
  }
}

type NewLead = MessageInitShape<typeof NewLeadSchema>;
const WANG: NewLead = { name: "王伟", company: "杭州西湖茶业", phone: "+86 138-1234-5678" };
const LI: NewLead = { name: "Li Na", company: "Suzhou Silk", phone: "139 0000 4321" };

/** A pool capping its reps at one lead, with alice and bob as reps. */
async function team(transport: Transport) {
  const pools = createClient(PoolService, transport);
  const tenant = new Tenant();
  const { pool } = await pools.createPool(
    { name: "华东", timezone: "Asia/Shanghai", maxHeldPerMember: 1 },
    tenant.admin(),
  );
  assert.ok(pool);
  for (const userId of ["alice", "bob"]) {
    await pools.addMember({ poolId: pool.id, userId }, tenant.admin());
  }
  return { tenant, pool };
}

for (const [name, transport] of [
  ["gRPC", createGrpcTransport({ baseUrl })],
  ["gRPC-Web", createGrpcWebTransport({ baseUrl, httpVersion: "1.1" })],
] as const) {
  describe(`over ${name}`, () => {
    it("imports, claims, and reads a refusal's code and ErrorInfo reason", async () => {
      const { tenant, pool } = await team(transport);
      const leads = createClient(LeadService, transport);
      const imported = await leads.importLeads(
        { poolId: pool.id, leads: [WANG, LI] },
        tenant.as("crm-sync", "service"),
      );
      assert.equal(imported.created, 2);
      const [wangId, liId] = imported.results.map((row) => row.leadId);
      assert.ok(wangId && liId);

      const { lead } = await leads.claimLead(
        { leadId: wangId, requestId: randomUUID() },
        tenant.as("alice"),
      );
      assert.equal(lead?.state, LeadState.OWNED);
      assert.equal(lead?.ownerId, "alice");
      assert.equal(lead?.name, "王伟");

      const overCap = await leads.claimLead({ leadId: liId }, tenant.as("alice")).then(
        () => assert.fail("a second claim over the cap of one"),
        refusal,
      );
      assert.equal(overCap.code, Code.FailedPrecondition);
      assert.equal(overCap.reason, ErrorReason.HELD_LIMIT_REACHED);
      assert.deepEqual(overCap.metadata, { user_id: "alice", limit: "1", held: "1" });

      // Refused before the server reads the message: over HTTP/1.1 the connection must stay
      // usable (the next test reuses it).
      const anonymous = await leads.getLead({ leadId: wangId }, { timeoutMs }).then(
        () => assert.fail("a call without identity"),
        refusal,
      );
      assert.equal(anonymous.code, Code.Unauthenticated);
      assert.equal(anonymous.reason, ErrorReason.MISSING_IDENTITY);
    });

    it("follows events on a server stream", async () => {
      const { tenant, pool } = await team(transport);
      const leads = createClient(LeadService, transport);
      const events = createClient(EventService, transport);
      const imported = await leads.importLeads(
        { poolId: pool.id, leads: [LI] },
        tenant.as("crm-sync", "service"),
      );
      const leadId = imported.results[0]?.leadId;
      assert.ok(leadId);
      const stop = new AbortController();
      // No deadline on a stream that is followed until the test has seen enough: it is cut off.
      const { headers } = tenant.as("bob");
      const stream = events.watchEvents({ poolId: pool.id }, { headers, signal: stop.signal });
      const kinds: EventKind[] = [];
      let claimed = false;
      for await (const item of stream) {
        if (item.item.case !== "event") continue;
        kinds.push(item.item.value.kind);
        assert.ok(item.cursor, "every item says where to resume");
        if (!claimed) {
          claimed = true;
          await leads.claimLead({ leadId }, tenant.as("bob"));
        }
        if (item.item.value.kind === EventKind.CLAIMED) {
          assert.equal(item.item.value.toOwner, "bob");
          break;
        }
      }
      stop.abort();
      assert.deepEqual(kinds, [EventKind.CREATED, EventKind.CLAIMED]);
    });
  });
}

describe("over gRPC only", () => {
  it("imports in chunks on a client stream", async () => {
    const transport = createGrpcTransport({ baseUrl });
    const { tenant, pool } = await team(transport);
    const leads = createClient(LeadService, transport);
    async function* chunks() {
      yield { poolId: pool.id, requestId: randomUUID(), leads: [WANG] };
      yield { leads: [LI, { ...WANG, name: "王伟 (again)" }] };
    }
    const summary = await leads.importLeadsStream(chunks(), tenant.as("crm-sync", "service"));
    assert.equal(summary.created, 2n);
    assert.equal(summary.duplicates, 1n);
    assert.deepEqual(summary.replayedChunks, []);
  });
});

describe("a browser's preflight", () => {
  const preflight = (origin: string) =>
    fetch(`${baseUrl}/leadpool.v1.LeadService/GetLead`, {
      method: "OPTIONS",
      headers: {
        origin,
        "access-control-request-method": "POST",
        "access-control-request-headers": "content-type,x-grpc-web,x-tenant-id,x-actor-id",
      },
    });

  it("grants the configured origin and exposes the status headers", async () => {
    const answer = await preflight(allowedOrigin);
    assert.equal(answer.headers.get("access-control-allow-origin"), allowedOrigin);
    assert.match(answer.headers.get("access-control-allow-methods") ?? "", /POST/);
    assert.match(answer.headers.get("access-control-allow-headers") ?? "", /x-tenant-id/);
  });

  it("grants no other origin", async () => {
    const answer = await preflight("https://evil.example");
    assert.equal(answer.headers.get("access-control-allow-origin"), null);
  });
});
