// A clean stop is quiet: SIGTERM stops the HTTP server, the job queue (graphile-worker runner and its LISTEN
// connection), the pool and only then the embedded PostgreSQL — so nothing logs at error level.
import { expect } from "chai";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, startChildBroker } from "../helpers/broker-process.ts";

const TOKEN = "shutdown-test-bootstrap-token-0123456789";

describe("process: clean shutdown", function () {
  this.timeout(180_000);
  let dir: string;
  let env: Record<string, string>;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "broker-stop-"));
    env = { BROKER_DATA_DIR: dir, BROKER_EMBEDDED_PG_PORT: String(await freePort()), BROKER_BOOTSTRAP_TOKEN: TOKEN, BROKER_LOG_LEVEL: "info" };
  });
  after(async () => { await rm(dir, { recursive: true, force: true }); });

  for (const signal of ["SIGTERM", "SIGINT", "SIGTERM"] as const) {
    it(`when the broker on embedded PostgreSQL is stopped with ${signal}, then it exits 0 and logs nothing at error level`, async () => {
      const b = await startChildBroker(env);
      const res = await fetch(`${b.url}/scim/v2/Users`, {
        method: "POST", headers: { Authorization: `Bearer ${TOKEN}`, "Content-Type": "application/scim+json" },
        body: JSON.stringify({ schemas: ["urn:ietf:params:scim:schemas:core:2.0:User"], userName: `stop-${Date.now()}@example.com` }),
      });
      expect(res.status).to.equal(201);
      b.proc.kill(signal);
      expect(await b.exited, b.output()).to.equal(0);
      const loud = b.logLines().filter((l) => l.level >= 50);
      expect(loud, JSON.stringify(loud)).to.deep.equal([]);
      expect(b.logLines().some((l) => l.msg === "stopped"), b.output()).to.equal(true);
    });
  }
});
