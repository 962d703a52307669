// A start that cannot succeed says why in one line and exits non-zero — never a TypeError, never "undefined".
import { expect } from "chai";
import { createServer, type Server } from "node:net";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createTestDatabase } from "../helpers/db.ts";
import { freePort, startChildBroker } from "../helpers/broker-process.ts";

const hold = (port: number) => new Promise<Server>((resolve, reject) => { const s = createServer().once("error", reject).listen(port, "127.0.0.1", () => resolve(s)); });

describe("process: start errors name their cause", function () {
  this.timeout(120_000);
  let busy: Server, busyPort: number;
  let db: { url: string; drop(): Promise<void> };
  let dir: string;
  before(async () => {
    busyPort = await freePort();
    busy = await hold(busyPort);
    db = await createTestDatabase();
    dir = await mkdtemp(join(tmpdir(), "broker-start-"));
  });
  after(async () => { busy.close(); await db.drop(); await rm(dir, { recursive: true, force: true }); });

  it("when the HTTP port is in use, then it prints `EADDRINUSE: port N is in use` and exits non-zero", async () => {
    const b = await startChildBroker({ DATABASE_URL: db.url, PORT: String(busyPort), BROKER_LOG_LEVEL: "warn" }, { ready: false });
    const code = await b.exited;
    expect(code, b.output()).to.equal(1);
    expect(b.output()).to.include(`scim-broker failed to start: EADDRINUSE: port ${busyPort} is in use`);
    expect(b.output()).to.not.match(/TypeError|Cannot read properties/);
  });

  it("when the embedded PostgreSQL's port is in use, then the error names PostgreSQL's reason, not `undefined`", async () => {
    const b = await startChildBroker({ BROKER_DATA_DIR: dir, BROKER_EMBEDDED_PG_PORT: String(busyPort), BROKER_LOG_LEVEL: "warn" }, { ready: false });
    const code = await b.exited;
    expect(code, b.output()).to.equal(1);
    const line = b.output().split("\n").find((l) => l.startsWith("scim-broker failed to start:"));
    expect(line, b.output()).to.match(new RegExp(`embedded PostgreSQL did not start on 127\\.0\\.0\\.1:${busyPort}.*(in use|could not)`, "i"));
    expect(line).to.not.include("undefined");
  });
});
