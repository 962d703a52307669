// The CLI as an operator runs it (`scim-broker …` as a child process) against a running broker's database:
// config validate / plan / apply, the exceptions register and the review queue.
import { expect } from "chai";
import { startLifecycleBroker, type LifecycleBroker } from "./lifecycle-harness.ts";


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
  - name: treasury
    when: department eq "Treasury"
    privileged: true
    owner: cfo@example.com
guards:
  massDeprovision: { maxUsers: 1000, maxPercent: 100, window: 1h }
`;

describe("lifecycle: the CLI (config, exception, review)", function () {
  this.timeout(120_000);
  let b: LifecycleBroker;
  const cli = (...args: string[]) => b.cli(...args);
  before(async () => { b = await startLifecycleBroker(P1); });
  after(async () => { await b.stop(); });

  it("when a file is validated, then a good one prints its version and a bad one exits 1 with file:line:column", async () => {
    const good = await cli("config", "validate", await b.writePolicy(P2, "p2.yaml"));
    expect(good.code, good.stderr).to.equal(0);
    expect(good.stdout).to.match(/ok — version [0-9a-f]{16}, 2 group\(s\)/);
    const badFile = await b.writePolicy("groups:\n  - name: finance\n    when: departmnt eq \"Finance\"\n", "bad.yaml");
    const bad = await cli("config", "validate", badFile);
    expect(bad.code).to.equal(1);
    expect(bad.stderr).to.include("error POLICY_INVALID");
    expect(bad.stderr).to.include(`${badFile}:3:11: groups[0].when:`);
  });

  it("when a change is planned and applied from the CLI, then the plan names the users and the apply does it", async () => {
    const u = await b.create({ userName: "tess@example.com", department: "Treasury" });
    const file = await b.writePolicy(P2, "p2.yaml");
    const plan = await cli("config", "plan", file);
    expect(plan.code, plan.stderr).to.equal(0);
    expect(plan.stdout).to.include("groups added:   treasury");
    expect(plan.stdout).to.include("treasury: +0 -0 (1 wait for review)");
    expect(plan.stdout).to.include("reviews: tess@example.com");
    const applied = await cli("config", "apply", file, "--json");
    expect(applied.code, applied.stderr).to.equal(0);
    expect(JSON.parse(applied.stdout)).to.include({ recorded: true });
    expect((await b.admin.get("/reviews", { user: u.id })).body.items.map((r: any) => r.group)).to.deep.equal(["treasury"]);
  });

  it("when an exception is granted, listed and revoked, and a review decided from the CLI, then the broker follows", async () => {
    const u = await b.create({ userName: "sam@example.com", department: "Sales" });
    const granted = await cli("exception", "grant", "--user", "sam@example.com", "--group", "finance", "--reason", "quarter close", "--owner", "cfo@example.com", "--expires", "2027-01-01T00:00:00Z", "--json");
    expect(granted.code, granted.stderr).to.equal(0);
    const id = JSON.parse(granted.stdout).exception.id;
    expect(await b.groupsOf(u.id)).to.deep.equal(["finance"]);
    const list = await cli("exception", "list", "--user", "sam@example.com");
    expect(list.stdout).to.include(`${id}\tgrant\tfinance`);
    expect((await cli("exception", "revoke", id, "--reason", "done")).code).to.equal(0);
    expect(await b.groupsOf(u.id)).to.deep.equal([]);

    const reviews = await cli("review", "list", "--json");
    const [review] = JSON.parse(reviews.stdout);
    const denied = await cli("review", "deny", review.id, "--reason", "not needed");
    expect(denied.code, denied.stderr).to.equal(0);
    expect(denied.stdout).to.include(`privileged-grant review ${review.id} denied`);
    const again = await cli("review", "approve", review.id, "--reason", "changed my mind");
    expect(again.code).to.equal(1);
    expect(again.stderr).to.include("error CONFLICT");
  });
});
