// Crash safety of SET delivery: the broker runs as a child process (as `npm start` runs it: the compiled dist/main.js)
// pushing RISC account-disabled SETs for 200 leavers to a receiver declared in broker.yaml that holds its answers after the first 20; it is killed
// with SIGKILL mid-delivery and started again on the same database. Every SET owed must arrive: the set of
// jtis received is complete. A SET whose 202 the dead process never read is sent again (at-least-once, RFC
// 8935 §2.2), which a receiver dedupes by jti — duplicates are counted, not forbidden.
import { expect } from "chai";
import { createServer, type Server, type ServerResponse } from "node:http";
import pg from "pg";
import { decodeJwt } from "jose";
import { createTestDatabase } from "../helpers/db.ts";
import { eventually, FAST_ENV, inParallel, person, policyYaml, spawnBroker, writePolicy, type BrokerProcess } from "./fanout-harness.ts";

const USERS = 200;
const TOKEN = "ssf-crash-test-bootstrap-token-0123456789";
const DISABLED = "https://schemas.openid.net/secevent/risc/event-type/account-disabled";

interface HoldingReceiver { url: string; jtis: string[]; release(): void; close(): Promise<void> }

/**
 * An RFC 8935 push endpoint that records every jti it is sent and answers 202 to the first `answered` SETs;
 * the ones after are held unanswered — the broker's push is then in flight, where the kill must land — until
 * release(), after which every SET is answered at once.
 */
async function startHoldingReceiver(answered: number): Promise<HoldingReceiver> {
  const held: ServerResponse[] = [];
  let holding = true;
  const r: HoldingReceiver = {
    url: "", jtis: [], close: async () => {},
    release: () => { holding = false; for (const res of held.splice(0)) if (!res.destroyed) res.writeHead(202).end(); },
  };
  const server: Server = createServer((req, res) => {
    let body = "";
    req.setEncoding("utf8");
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      try { r.jtis.push(String(decodeJwt(body).jti)); } catch { res.writeHead(400).end(); return; }
      if (holding && r.jtis.length > answered) held.push(res);
      else res.writeHead(202).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  r.url = `http://127.0.0.1:${(server.address() as { port: number }).port}/events`;
  r.close = () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); });
  return r;
}

describe("SSF: kill -9 in the middle of pushing 200 leavers' SETs", function () {
  this.timeout(240_000);
  let rcv: HoldingReceiver;
  let db: { url: string; drop(): Promise<void> };
  let policy: Awaited<ReturnType<typeof writePolicy>>;
  let broker: BrokerProcess | undefined;
  let env: Record<string, string>;

  before(async () => {
    rcv = await startHoldingReceiver(USERS * 0.1); // the kill lands while the next push waits for its answer
    const stream = ["ssf:", "  streams:", "    - name: crash-rx",
      `      delivery: { method: push, url: "${rcv.url}" }`, "      events: [account-disabled]", `      audience: "https://crash-rx.example"`];
    policy = await writePolicy(policyYaml([]).yaml + stream.join("\n") + "\n");
    db = await createTestDatabase();
    env = { ...FAST_ENV, DATABASE_URL: db.url, BROKER_CONFIG: policy.file, BROKER_BOOTSTRAP_TOKEN: TOKEN, BROKER_PUBLIC_URL: "https://broker.example" };
  });
  after(async () => {
    await broker?.stop();
    await rcv?.close();
    await db?.drop();
    await policy?.cleanup();
  });

  it("when restarted, then every SET owed reaches the receiver: the jti set is complete", async () => {
    broker = await spawnBroker(env);
    const headers = { Authorization: `Bearer ${TOKEN}`, "Content-Type": "application/scim+json" };
    const ids: string[] = [];
    await inParallel(8, USERS, async (i) => {
      const res = await fetch(`${broker!.url}/scim/v2/Users`, { method: "POST", headers, body: JSON.stringify(person(`ssfcrash${i}@example.com`)) });
      expect(res.status).to.equal(201);
      ids[i] = ((await res.json()) as { id: string }).id;
    });
    await inParallel(8, USERS, async (i) => {
      const res = await fetch(`${broker!.url}/scim/v2/Users/${ids[i]}`, {
        method: "PATCH", headers, body: JSON.stringify({ schemas: ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], Operations: [{ op: "replace", path: "active", value: false }] }),
      });
      expect(res.status).to.equal(200);
    });

    await eventually(() => expect(new Set(rcv.jtis).size).to.be.greaterThan(USERS * 0.1), 60_000, 10);
    await broker.kill9();
    const before = new Set(rcv.jtis).size;
    const sentBefore = rcv.jtis.length;
    expect(before, "killed mid-delivery").to.be.lessThan(USERS * 0.9);
    // One stream is pushed by one worker at a time (a named queue per stream): before the crash, no SET twice.
    expect(sentBefore, "no SET sent twice before the crash").to.equal(before);

    const pool = new pg.Pool({ connectionString: db.url, max: 2 });
    try {
      const owed = (await pool.query(
        `SELECT s.jti FROM ssf_set s JOIN ssf_stream st ON st.id = s.stream_id WHERE st.name = 'crash-rx' AND s.event_type = $1`, [DISABLED])).rows.map((r) => r.jti as string);
      expect(owed, "one account-disabled SET per leaver, written in the HR transaction").to.have.length(USERS);
      rcv.release();
      const restarted = Date.now();
      broker = await spawnBroker(env);
      await eventually(() => { const got = new Set(rcv.jtis); expect(owed.filter((j) => !got.has(j))).to.deep.equal([]); }, 120_000, 50);
      const recoveryMs = Date.now() - restarted;
      const delivered = await eventually(async () => {
        const r = await pool.query(`SELECT state, count(*)::int AS n FROM ssf_set WHERE jti = ANY($1::text[]) GROUP BY state`, [owed]);
        expect(r.rows).to.deep.equal([{ state: "delivered", n: USERS }]);
        return r.rows;
      }, 30_000);
      expect(delivered).to.have.length(1);
      const duplicates = rcv.jtis.length - new Set(rcv.jtis).size;
      expect(rcv.jtis.filter((j) => !owed.includes(j)), "nothing but what was owed").to.deep.equal([]);
      console.log(`      (killed after ${before}/${USERS} SETs received in ${sentBefore} POSTs; all ${USERS} received ${recoveryMs} ms after restart; ${duplicates} re-sent in all, deduped by jti)`);
    } finally {
      await pool.end();
    }
  });
});
