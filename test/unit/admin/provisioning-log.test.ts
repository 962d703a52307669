import { expect } from "chai";
import { buildProvisioningLog } from "../../../src/admin/provisioning-log.ts";
import type { PersonRecords } from "../../../src/admin/people-repository.ts";

const t = (s: number) => new Date(Date.UTC(2026, 2, 2, 9, 0, s));
const records = (over: Partial<PersonRecords> = {}): PersonRecords => ({
  user: null, groups: [], changes: [], events: [], audit: [], accounts: [], deadLetters: [], slas: [], reviews: [], exceptions: [],
  tokens: new Map([["tok-1", "workday"]]), truncated: false, ...over,
});

describe("provisioning log", () => {
  const leaver = records({
    changes: [{ id: 7, operation: "update", changed: ["active"], before: { active: true }, after: { active: false }, tokenName: "workday", source: "workday", requestId: "r1", at: t(0) }],
    events: [{ id: 3, kind: "leaver", details: { reason: "deactivated" }, changeId: 7, cause: "hr", held: false, at: t(0) }],
    audit: [
      { seq: 11, kind: "membership.removed", groupName: "finance", app: null, cause: { changeId: 7, rule: "finance", tokenId: "tok-1" }, details: { source: "rule" }, sealed: true, at: t(0) },
      { seq: 12, kind: "lifecycle.event", groupName: null, app: null, cause: { changeId: 7 }, details: null, sealed: true, at: t(0) },
      { seq: 13, kind: "app.deprovisioned", groupName: null, app: "chat", cause: { changeId: 7, actor: "fanout" }, details: { mode: "disable", reason: "leaver", outcome: "disabled" }, sealed: true, at: t(2) },
    ],
    accounts: [
      { app: "chat", userName: "leo", remoteId: "c1", status: "deprovisioned", leaver: false, attempts: 0, lastError: null, pendingSince: null, deliveredAt: t(2), updatedAt: t(2) },
      { app: "crm", userName: "leo", remoteId: "r1", status: "pending", leaver: true, attempts: 3, lastError: { code: "FANOUT_UNAVAILABLE", status: 503, method: "PATCH", path: "/Users/r1", message: "down" }, pendingSince: t(0), deliveredAt: null, updatedAt: t(5) },
      { app: "wiki", userName: "leo", remoteId: null, status: "failed", leaver: true, attempts: 1, lastError: null, pendingSince: t(0), deliveredAt: null, updatedAt: t(1) },
    ],
    deadLetters: [{ id: 4, app: "wiki", code: "FANOUT_REJECTED", request: { method: "PATCH", path: "/Users/w1" }, responseStatus: 400, responseBody: "{}", message: "bad value", attempts: 1, at: t(1), replayedAt: null }],
    slas: [{ id: 1, changeId: 7, requestedAt: t(0), completedAt: null, appsTotal: 3, pendingApps: ["crm", "wiki"] }],
  });

  it("when a leaver's records are merged, then they read in time order, causes resolved, without the audit's copies of lifecycle events", () => {
    const log = buildProvisioningLog("u1", leaver);
    expect(log.entries.map((e) => e.ref)).to.deep.equal(["change:7", "event:3", "audit:11", "dead-letter:4", "audit:13"]);
    expect(log.entries[0]!.title).to.equal("Updated: active true → false (source workday, token workday)");
    expect(log.entries[2]!.cause).to.deep.equal({ changeId: 7, rule: "finance", token: "workday" });
    expect(log.entries[3]!.title).to.equal("wiki refused PATCH /Users/w1: HTTP 400 FANOUT_REJECTED — bad value");
    expect(log.deleted).to.equal(true);
  });

  it("when apps are summarised, then each says what it was last sent, its answer, and its part of the leaver SLA", () => {
    const apps = Object.fromEntries(buildProvisioningLog("u1", leaver).apps.map((a) => [a.app, a]));
    expect(apps.chat!.lastSent).to.deep.include({ what: "PATCH active=false (deprovision)", answer: "done (disabled)", ok: true });
    expect(apps.chat!.leaverSla).to.deep.equal({ requestedAt: t(0), confirmedAt: t(2), durationMs: 2000 });
    expect(apps.crm!.lastSent).to.deep.include({ what: "PATCH /Users/r1", ok: false });
    expect(apps.crm!.lastSent!.answer).to.equal("HTTP 503 FANOUT_UNAVAILABLE: down (retrying, attempt 3)");
    expect(apps.crm!.leaverSla).to.deep.include({ confirmedAt: null, durationMs: null });
    expect(apps.wiki!).to.deep.include({ openDeadLetters: 1 });
    expect(apps.wiki!.lastSent!.answer).to.match(/dead letter #4/);
  });

  it("when the last app confirms, then the SLA entry closes the story with the time from the HR request", () => {
    const done = records({ ...leaver, slas: [{ id: 1, changeId: 7, requestedAt: t(0), completedAt: t(2), appsTotal: 1, pendingApps: [] }] });
    const log = buildProvisioningLog("u1", done);
    expect(log.entries.at(-1)).to.deep.include({ ref: "sla:1", title: "Leaver deprovisioned in every app (1) in 2.0 s from the HR request" });
    expect(log.leaverSla[0]).to.deep.include({ durationMs: 2000 });
  });
});
