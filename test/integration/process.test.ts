// The two commands, as a user runs them: the broker as a child process on its own embedded PostgreSQL
// (data survives a restart, SIGTERM stops cleanly), and the CLI against the same database.
import { expect } from "chai";
import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { freePort, startChildBroker, type ChildBroker } from "../helpers/broker-process.ts";
import { USER_SCHEMA } from "../helpers/scim.ts";

const run = promisify(execFile);

describe("npm start: the broker process on embedded PostgreSQL, and the CLI", function () {
  this.timeout(180_000);
  let dir: string;
  let env: NodeJS.ProcessEnv;
  let childEnv: Record<string, string>;
  let url: string;
  const BOOT = "bootstrap-token-for-process-test-0123456789";
  /** The child on the env below; resolves once it says it serves (its IPC "ready"), and /readyz agrees. */
  const start = async (): Promise<ChildBroker> => {
    const p = await startChildBroker(childEnv);
    expect((await fetch(`${url}/readyz`)).status, "ready").to.equal(200);
    return p;
  };
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "broker-proc-"));
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    const { DATABASE_URL: _d, ...rest } = process.env;
    childEnv = { PORT: String(port), HOST: "127.0.0.1", BROKER_DATA_DIR: dir, BROKER_EMBEDDED_PG_PORT: String(await freePort()), BROKER_BOOTSTRAP_TOKEN: BOOT, BROKER_LOG_LEVEL: "warn" };
    env = { ...rest, ...childEnv };
  });
  after(async () => { await rm(dir, { recursive: true, force: true }); });

  it("when started, used, stopped with SIGTERM and restarted, then data persists and the CLI issues working tokens", async () => {
    let p = await start();
    expect((await fetch(`${url}/healthz`)).status).to.equal(200);
    const auth = { Authorization: `Bearer ${BOOT}`, "Content-Type": "application/scim+json" };
    const created = await fetch(`${url}/scim/v2/Users`, { method: "POST", headers: auth, body: JSON.stringify({ schemas: [USER_SCHEMA], userName: "persist@example.com" }) });
    expect(created.status).to.equal(201);

    // CLI against the running server's embedded database
    const cli = await run(process.execPath, ["bin/scim-broker.mjs", "token", "create", "--name", "hr-feed", "--scope", "scim:write", "--source", "workday", "--rate", "50", "--json"], { env });
    const issued = JSON.parse(cli.stdout.trim());
    expect(issued).to.include({ name: "hr-feed", source: "workday", rateLimit: 50 });
    const list = await run(process.execPath, ["bin/scim-broker.mjs", "token", "list"], { env });
    expect(list.stdout).to.include("hr-feed").and.to.not.include(issued.token);
    const viaCli = await fetch(`${url}/scim/v2/Users`, { method: "POST", headers: { ...auth, Authorization: `Bearer ${issued.token}` }, body: JSON.stringify({ schemas: [USER_SCHEMA], userName: "fromfeed@example.com" }) });
    expect(viaCli.status).to.equal(201);

    expect(await p.stop()).to.equal(0);
    p = await start();
    const found = await (await fetch(`${url}/scim/v2/Users?filter=${encodeURIComponent('userName eq "persist@example.com"')}`, { headers: auth })).json();
    expect(found.totalResults).to.equal(1);
    await run(process.execPath, ["bin/scim-broker.mjs", "token", "revoke", "hr-feed"], { env });
    expect(await p.stop()).to.equal(0);
  });
});
