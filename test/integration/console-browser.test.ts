// The web console end to end in headless Chromium (Debian's chromium, driven by playwright-core): a broker
// with a loopback SCIM app, a leaver already deprovisioned there and a pending review. The operator signs
// in, sees the app, opens the leaver's provisioning log, and approves the review through the dialog — the
// row leaves the list without a page reload. Waits are on page signals (selectors), never on time.
// BROKER_TEST_SCREENSHOTS=<dir> also saves a screenshot of each page.
import { expect } from "chai";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { startStrictApp, type StrictScimApp } from "../helpers/fake-apps/strict-app.ts";
import { accountIn, eventually, startFanoutBroker, type FanoutBroker } from "./fanout-harness.ts";

const CHROMIUM = "/usr/bin/chromium";
const FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"];
const SHOTS = process.env.BROKER_TEST_SCREENSHOTS;

describe("console: the operator's pages in a real browser", function () {
  this.timeout(60_000);
  let app: StrictScimApp, b: FanoutBroker, profile: string, ctx: BrowserContext, page: Page;
  const problems: string[] = [];
  const shot = async (name: string) => { if (SHOTS) await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true }); };

  before(async () => {
    app = await startStrictApp();
    b = await startFanoutBroker([{ name: "strict", app, groups: ["finance"] }]);
    await b.create("ann@example.com", { department: "Finance", title: "Controller" });
    const leo = await b.create("leo@example.com", { department: "Finance" });
    await b.create("cora@example.com", { userType: "Contractor" }); // no end date: a review waits for a decision
    await eventually(() => expect(accountIn(app, "leo@example.com")?.active).to.equal(true));
    await b.scim.patch(`/Users/${leo.id}`, [{ op: "replace", path: "active", value: false }]).expect(200);
    await eventually(async () => {
      expect(accountIn(app, "leo@example.com")?.active).to.equal(false);
      const { rows } = await b.db.query(`SELECT completed_at FROM leaver_sla WHERE user_id = $1`, [leo.id]);
      expect(rows[0]?.completed_at, "leaver SLA completed").to.be.instanceOf(Date);
    });
    profile = await mkdtemp(join(tmpdir(), "broker-chromium-")); // a fresh --user-data-dir
    ctx = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: FLAGS, viewport: { width: 1360, height: 900 } });
    page = ctx.pages()[0] ?? await ctx.newPage();
    page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
    page.on("console", (m) => { if (m.type() === "error") problems.push(`console: ${m.text()}`); }); // CSP violations land here
  });
  after(async () => {
    await ctx?.close();
    if (profile) await rm(profile, { recursive: true, force: true });
    await b?.stop();
    await app?.stop();
  });

  it("when an admin signs in, then the Apps page shows the app with its health, and the token is in no URL or markup", async () => {
    await page.goto(`${b.t.url}/`); // the root leads to the console
    await page.waitForSelector("#sign-in-form");
    expect(page.url()).to.equal(`${b.t.url}/console/`);
    await shot("0-sign-in");
    await page.fill("#token", b.t.token);
    await page.click("#sign-in-form button[type=submit]");
    const row = await page.waitForSelector('tr[data-app="strict"]');
    expect(await row.textContent()).to.include("ok");
    expect(await page.locator("#nav a").allTextContents()).to.deep.equal(["Apps", "People", "Reviews", "Events", "Audit"]);
    expect(page.url()).to.not.include(b.t.token);
    expect(await page.content()).to.not.include(b.t.token);
    await shot("1-apps");
    await page.click('tr[data-app="strict"] button:text("Test")');
    expect(await page.textContent('tr[data-app="strict"] .test-ok')).to.match(/^Test ok in \d+ ms$/);
  });

  it("when an app is disabled with a reason in the dialog and enabled again, then its health follows", async () => {
    await page.click('tr[data-app="strict"] button:text("Disable")');
    await page.fill("#reason-input", "maintenance window");
    await page.click("#reason-dialog button:text('Confirm')");
    await page.waitForSelector('tr[data-app="strict"] .badge.disabled');
    const { body } = await b.admin.get("/apps/strict").expect(200);
    expect(body).to.include({ status: "disabled", disabledReason: "maintenance window" });
    await page.click('tr[data-app="strict"] button:text("Enable")');
    await page.waitForSelector('tr[data-app="strict"] .badge.ok');
  });

  it("when the leaver's provisioning log is opened from People, then it shows the HR change, the leaver event and the app's deprovisioning", async () => {
    await page.click('#nav a[data-page="people"]');
    await page.fill("#people-q", "leo");
    await page.click('form[role=search] button[type=submit]');
    await page.waitForSelector('a[data-user="leo@example.com"]');
    await shot("2-people");
    await page.click('a[data-user="leo@example.com"]');
    const deprovisioned = await page.waitForSelector('#person-timeline li[data-kind="app.deprovisioned"]');
    expect(await deprovisioned.textContent()).to.match(/Deprovisioned in strict: account disabled/);
    expect(await page.textContent('#person-timeline li[data-kind="lifecycle.leaver"]')).to.include("Lifecycle: leaver");
    expect(await page.textContent('#person-timeline li[data-kind="hr.update"]')).to.include("active true → false");
    expect(await page.textContent('#person-apps tr[data-app="strict"]')).to.include("deprovisioned");
    expect(await page.textContent("#person-sla")).to.include("strict:");
    await shot("2-person-log");
  });

  it("when a pending review is approved through the dialog, then it leaves the list without a page reload", async () => {
    await page.click('#nav a[data-page="reviews"]');
    const row = page.locator('tr[data-kind="contractor-without-end-date"]', { hasText: "cora@example.com" });
    await row.waitFor();
    await page.evaluate(() => { (window as unknown as { sameDocument: boolean }).sameDocument = true; });
    await shot("3-reviews");
    await row.getByRole("button", { name: "Approve" }).click();
    await page.waitForSelector("#reason-dialog[open]");
    await page.fill("#reason-input", "fixed-term contract, end date follows from HR");
    await shot("4-approve-dialog");
    await page.click("#reason-dialog button:text('Confirm')");
    await row.waitFor({ state: "detached" });
    expect(await page.evaluate(() => (window as unknown as { sameDocument?: boolean }).sameDocument)).to.equal(true);
    const { body } = await b.admin.get("/reviews", { kind: "contractor-without-end-date" }).expect(200);
    expect(body.items[0]).to.include({ status: "approved", reason: "fixed-term contract, end date follows from HR", decidedBy: "token:test-admin" });
    if (SHOTS) {
      await page.click('#nav a[data-page="events"]'); await page.waitForSelector('tr[data-kind="leaver"]'); await shot("5-events");
      await page.click('#nav a[data-page="audit"]'); await page.waitForSelector("#audit-verify.ok"); await shot("6-audit");
    }
    expect(problems, problems.join("\n")).to.deep.equal([]);
  });

  it("when the Events page is filtered by kind, then only that kind is listed, and Clear shows all again", async () => {
    await page.click('#nav a[data-page="events"]');
    await page.waitForSelector('tr[data-kind="leaver"]');
    expect(await page.locator('tr[data-kind="joiner"]').count()).to.be.greaterThan(0);
    await page.selectOption("#events-kind", "leaver");
    await page.click('form.filters button[type=submit]');
    // the filtered list is in: leaver rows and no joiner (not the moment the old rows are cleared, before it loads)
    await page.waitForFunction(() => location.hash.includes("kind=leaver") && !!document.querySelector('tr[data-kind="leaver"]') && !document.querySelector('tr[data-kind="joiner"]'));
    const kinds = await page.locator("tr[data-kind]").evaluateAll((rows) => rows.map((r) => r.getAttribute("data-kind")));
    expect(kinds).to.have.length.greaterThan(0);
    expect(new Set(kinds)).to.deep.equal(new Set(["leaver"]));
    expect(await page.inputValue("#events-kind")).to.equal("leaver");
    await page.click('form.filters button:text("Clear")');
    await page.waitForSelector('tr[data-kind="joiner"]');
    expect(problems, problems.join("\n")).to.deep.equal([]);
  });
});
