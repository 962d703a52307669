// Existing accounts whose userName differs in letter case, on apps whose filter is case-exact (a plain
// scimmy server compares exactly) — issue 13, defects 3, 4 and 8: after a 409 the broker looks further
// (case variants, externalId, emails, a small app read whole); what it cannot find, reconcile lists as
// `unlinked` (and --fix links), and `scim-broker apps link` settles; a failing account is ONE dead letter
// however often it fails; reconcile's exit code and text tell a script and a person everything it found.
import { expect } from "chai";
import { Command } from "commander";
import { startStrictApp, type StrictScimApp } from "../helpers/fake-apps/strict-app.ts";
import { registerFanoutCommands } from "../../src/admin/cli-fanout.ts";
import { accountIn, eventually, isActiveIn, startFanoutBroker, USER_SCHEMA, type FanoutBroker } from "./fanout-harness.ts";

describe("fan-out: accounts that differ in case, links and reconcile output", function () {
  this.timeout(90_000);
  let exact: StrictScimApp, big: StrictScimApp, b: FanoutBroker;
  /** The CLI in-process on the test broker's services (same commands, captured output and exit code). */
  const cli = async (...args: string[]) => {
    const out: string[] = [], err: string[] = [];
    let code = 0;
    const program = new Command().exitOverride();
    registerFanoutCommands(program, (fn) => fn(b.t.broker.fanout.service), { out: (l) => out.push(l), err: (l) => err.push(l), setExitCode: (c) => (code = c) });
    await program.parseAsync(args, { from: "user" });
    return { stdout: out.join("\n"), stderr: err.join("\n"), code };
  };
  const deadLetters = async (app: string) => (await b.admin.get(`/apps/${app}/dead-letters`).expect(200)).body.items;
  const accounts = (app: StrictScimApp, userName: string) => [...app.users.values()].filter((u) => String(u.userName).toLowerCase() === userName.toLowerCase());

  before(async () => {
    [exact, big] = await Promise.all([startStrictApp({ caseExactUserName: true }), startStrictApp({ caseExactUserName: true })]);
    b = await startFanoutBroker([
      { name: "exact", app: exact, groups: ["finance"] },
      // Too big to be read whole (the bound is the app's matchScanMax): what lookups miss waits for a human.
      { name: "big", app: big, extra: ["matchScanMax: 0", "assign: 'title ne \"nobody\"'"] },
    ]);
  });
  after(async () => {
    await b?.stop();
    await Promise.all([exact?.stop(), big?.stop()]);
  });

  it("when an existing account's userName differs in case on a case-exact app, then after the 409 it is found and linked: no duplicate, no dead letter", async () => {
    const seeded = exact.seedUser({ schemas: [USER_SCHEMA], userName: "Kim.Lee@Example.COM", displayName: "old name" });
    const user = await b.create("kim.lee@example.com");
    await eventually(async () => {
      const status = (await b.admin.get(`/users/${user.id}/apps`).expect(200)).body.apps.find((a: any) => a.app === "exact");
      expect(status).to.include({ status: "delivered", remoteId: seeded.id });
    });
    expect(accounts(exact, "kim.lee@example.com")).to.have.length(1);
    expect(exact.users.get(seeded.id)!.displayName).to.equal("kim.lee");
    expect(await deadLetters("exact")).to.deep.equal([]);
  });

  it("when the broker cannot find the account, then it is one dead letter however often it fails, reconcile lists it as unlinked (exit 2), and apps link settles it", async () => {
    const seeded = big.seedUser({ schemas: [USER_SCHEMA], userName: "Zed@Example.COM" });
    const user = await b.create("zed@example.com");
    await eventually(async () => expect((await deadLetters("big")).map((d: any) => d.code)).to.deep.equal(["FANOUT_CONFLICT"]));
    for (let i = 2; i <= 3; i++) {
      await b.admin.post("/apps/big/replay", { all: true }).expect(200);
      await eventually(async () => expect((await deadLetters("big")).map((d: any) => [d.label, d.occurrences])).to.deep.equal([["zed@example.com", i]]));
    }
    expect((await b.admin.get("/apps/big/dead-letters", { open: "false" })).body.items).to.have.length(1);

    const report = await cli("reconcile", "big");
    expect(report.code, "drift found").to.equal(2);
    expect(report.stdout).to.include(`unlinked: zed@example.com app id ${seeded.id}`);

    const linked = await cli("apps", "link", "big", "zed@example.com", seeded.id);
    expect(linked.stdout).to.equal(`big: zed@example.com linked to ${seeded.id}; delivery queued`);
    await eventually(async () => {
      const status = (await b.admin.get(`/users/${user.id}/apps`).expect(200)).body.apps.find((a: any) => a.app === "big");
      expect(status).to.include({ status: "delivered", remoteId: seeded.id });
    });
    expect(accounts(big, "zed@example.com")).to.have.length(1);
    expect(await deadLetters("big")).to.deep.equal([]);
    const other = await b.create("yan@example.com");
    await eventually(() => expect(accountIn(big, "yan@example.com")).to.not.equal(undefined));
    const taken = await b.admin.post("/apps/big/link", { user: other.id, remoteId: seeded.id });
    expect(taken.status).to.equal(409);
    expect(taken.body.error.code).to.equal("CONFLICT");
  });

  it("when a leaver's account was never linked, then reconcile --fix links it and disables it", async () => {
    const seeded = big.seedUser({ schemas: [USER_SCHEMA], userName: "Ned@Example.COM", active: true });
    const user = await b.create("ned@example.com");
    await eventually(async () => expect((await deadLetters("big")).map((d: any) => d.label)).to.include("ned@example.com"));
    await b.scim.patch(`/Users/${user.id}`, [{ op: "replace", path: "active", value: false }]).expect(200);
    const found = await cli("reconcile", "big", "--json");
    expect(found.code).to.equal(2);
    expect(JSON.parse(found.stdout).leaverActive.map((l: any) => [l.userName, l.remoteId])).to.deep.equal([["ned@example.com", seeded.id]]);
    await cli("reconcile", "big", "--fix");
    await eventually(() => expect(big.users.get(seeded.id)!.active).to.equal(false));
  });

  it("when reconcile finds membership drift, then members are named by userName, and a clean app exits 0", async () => {
    const ann = await b.create("ann.fin@example.com", { department: "Finance" });
    await eventually(() => {
      const finance = [...exact.groups.values()].find((g) => g.displayName === "finance");
      expect(finance && exact.memberIds(finance.id)).to.include(accountIn(exact, "ann.fin@example.com")!.id);
    });
    const finance = [...exact.groups.values()].find((g) => g.displayName === "finance")!;
    finance.members = [];
    const drift = await cli("reconcile", "exact");
    expect(drift.code).to.equal(2);
    expect(drift.stdout).to.include("group finance: missing [ann.fin@example.com] extra []");
    await cli("reconcile", "exact", "--fix");
    await eventually(() => expect(exact.memberIds(finance.id)).to.include(accountIn(exact, "ann.fin@example.com")!.id));
    const clean = await cli("reconcile", "exact");
    expect(clean.code, clean.stdout).to.equal(0);
    expect(clean.stdout).to.match(/no drift/);
    expect(ann.id).to.be.a("string");
  });
});
