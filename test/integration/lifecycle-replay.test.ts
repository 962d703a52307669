// Policy replay through HTTP and the CLI on real PostgreSQL: the recorded HR changes of a window are replayed
// under the proposed policy and under the versions that were active at the time; the answer is what would
// have differed, per user and in a summary, and nothing is written.
import { expect } from "chai";
import { Command } from "commander";
import { startLifecycleBroker, replace, ENT, HR, HOUR, T0, type LifecycleBroker } from "./lifecycle-harness.ts";
import { registerLifecycleCommands } from "../../src/admin/cli-lifecycle.ts";

const P1 = `
groups:
  - name: finance
    when: department eq "Finance" and active eq true
guards:
  massDeprovision: { maxUsers: 1000, maxPercent: 100, window: 1h }
`;
const P2 = `
groups:
  - name: finance
    when: department eq "Finance" and active eq true
  - name: sales
    when: department eq "Sales" and active eq true
guards:
  massDeprovision: { maxUsers: 1000, maxPercent: 100, window: 1h }
`;
const PROPOSED = `
groups:
  - name: finance
    when: department eq "Finance" and active eq true
  - name: sales
    when: department eq "Sales" and active eq true
  - name: legal
    when: department eq "Legal"
    privileged: true
    owner: gc@example.com
dataQuality:
  departments: [Finance, Sales, Legal]
  flapping: { within: 1h }
guards:
  massDeprovision: { maxUsers: 1000, maxPercent: 100, window: 1h }
`;

describe("policy replay over recorded history", () => {
  let b: LifecycleBroker;
  const ids: Record<string, string> = {};
  const counts = async () => (await b.db.query(
    `SELECT (SELECT count(*) FROM change_record) c, (SELECT count(*) FROM group_member) m, (SELECT count(*) FROM review) r,
            (SELECT count(*) FROM lifecycle_event) e, (SELECT count(*) FROM policy_version) p, (SELECT count(*) FROM audit_event) a`)).rows[0];

  before(async () => {
    b = await startLifecycleBroker(P1);
    for (const n of ["early", "late", "flapper", "lawyer", "before"]) ids[n] = (await b.create({ userName: `${n}@example.com`, department: "Finance" })).id;
    b.clock.advance(HOUR);                                                            // T0+1h: the window starts
    await b.patch(ids.early!, [replace(`${ENT}:department`, "Sales")]);               // under P1: no sales group
    await b.patch(ids.flapper!, [replace("active", false)]);
    b.clock.advance(20 * 60_000);
    await b.patch(ids.flapper!, [replace("active", true), replace(`${HR}:startDate`, b.clock.now().toISOString())]); // back within 20 minutes
    await b.patch(ids.lawyer!, [replace(`${ENT}:department`, "Legal")]);
    b.clock.advance(HOUR);                                                            // T0+2h20: P2 adds sales
    expect((await b.admin.yaml("/policy/apply", P2)).status).to.equal(200);
    b.clock.advance(HOUR);
    await b.patch(ids.late!, [replace(`${ENT}:department`, "Sales")]);                // under P2: sales
    b.clock.advance(HOUR);
  });
  after(async () => { await b.stop(); });

  const window = { from: new Date(T0.getTime() + HOUR).toISOString(), to: new Date(T0.getTime() + 5 * HOUR).toISOString() };

  it("when a policy is replayed over a window, then each user's differences and the summary come back, judged against the versions active at the time, and nothing is written", async () => {
    const before = await counts();
    const res = await b.admin.post("/policy/replay", { yaml: PROPOSED, ...window });
    expect(res.status, JSON.stringify(res.body)).to.equal(200);
    const byName = Object.fromEntries(res.body.differences.map((d: any) => [d.userName, d]));
    // early moved to Sales while P1 (no sales group) was active: the proposed policy would have granted it
    expect(byName["early@example.com"]).to.deep.include({ gained: ["sales"], lost: [], held: [], reviews: [] });
    // late moved after P2 added sales: both grant it, no difference
    expect(byName["late@example.com"]).to.equal(undefined);
    // the shield of the proposed policy would have held the flapping re-activation
    expect(byName["flapper@example.com"]).to.deep.include({ gained: [], lost: ["finance"], held: ["flapping"], reviews: ["data-quality"] });
    expect(byName["lawyer@example.com"]).to.deep.include({ reviews: ["privileged-grant:legal"] });
    expect(byName["before@example.com"]).to.equal(undefined); // no change in the window
    expect(res.body.summary).to.deep.equal({ users: 3, usersReplayed: 4, changes: 5, gained: 1, lost: 1, held: 1, reviews: 2 });
    expect(res.body.recorded.length).to.equal(2); // P1 in force at `from`, P2 applied during the window
    expect(await counts()).to.deep.equal(before);
  });

  it("when the policy comes as YAML with the window in the query, then the answer is the same", async () => {
    const res = await b.admin.yaml(`/policy/replay?from=${window.from}&to=${window.to}&limit=1`, PROPOSED);
    expect(res.status).to.equal(200);
    expect(res.body.differences).to.have.length(1);
    expect(res.body).to.deep.include({ truncated: true });
    expect(res.body.summary.users).to.equal(3);
  });

  it("when the request is wrong, then it is a 400 with a stable code and a message about the request", async () => {
    const noFrom = await b.admin.post("/policy/replay", { yaml: PROPOSED });
    expect(noFrom.status).to.equal(400);
    expect(noFrom.body.error).to.deep.include({ code: "BAD_REQUEST" });
    expect(noFrom.body.error.message).to.match(/from is required/);
    const empty = await b.admin.post("/policy/replay", { yaml: PROPOSED, from: window.to, to: window.from });
    expect(empty.body.error.message).to.match(/from must be before to/);
    const bad = await b.admin.post("/policy/replay", { yaml: "groups:\n  - name: x\n    when: departmnt eq \"A\"\n", ...window });
    expect(bad.status).to.equal(400);
    expect(bad.body.error.code).to.equal("POLICY_INVALID");
    const path = await b.admin.post("/policy/replay", { path: "/etc/passwd", ...window });
    expect(path.status).to.equal(400);
    expect(path.body.error.message).to.match(/file paths are not accepted/);
  });

  it("when a replay reports its progress, then it counts the window's changes up to their total (what the CLI's bar shows)", async () => {
    const calls: Array<[number, number]> = [];
    const r = await b.t.broker.lifecycle.replay(PROPOSED, "proposed.yaml", { from: new Date(window.from), to: new Date(window.to), onProgress: (done, total) => calls.push([done, total]) });
    expect(calls.length).to.be.greaterThan(0);
    expect(calls.at(-1)).to.deep.equal([r.summary.changes, r.summary.changes]);
    expect(calls.every(([done, total], i) => total === 5 && done <= total && (i === 0 || done >= calls[i - 1]![0]))).to.equal(true);
  });

  it("when the CLI replays a file, then it prints the same figures (and JSON with --json)", async () => {
    const file = await b.writePolicy(PROPOSED, "proposed.yaml");
    const out: string[] = [];
    const run = (...args: string[]) => registerLifecycleCommands(new Command().exitOverride(), (fn) => fn(b.t.broker.lifecycle), { out: (l) => out.push(l), err: (l) => out.push(l), setExitCode: () => {} })
      .parseAsync(["node", "scim-broker", "policy", "replay", file, ...args]);
    await run("--from", window.from, "--to", window.to, "--json");
    expect(JSON.parse(out.join("\n")).summary).to.deep.include({ users: 3, changes: 5, gained: 1, lost: 1 });
    out.length = 0;
    await run("--from", window.from, "--to", window.to);
    expect(out[0]).to.match(/5 change\(s\) of 4 user\(s\); 3 user\(s\) differ — gained 1, lost 1, held 1, reviews 2/);
    expect(out.some((l) => l.includes("early@example.com\t+sales"))).to.equal(true);
  });
});
