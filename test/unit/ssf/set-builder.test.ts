import { expect } from "chai";
import { claimsChange, setClaims, subjectKeys, subjectWanted, userChangeEvents, userKeys, userSubject, type CauseFacts } from "../../../src/ssf/set-builder.ts";
import { EVENT, eventsDelivered, eventUri } from "../../../src/ssf/event-types.ts";
import { backoffMs, retryAfter } from "../../../src/ssf/push-task.ts";

const ISS = "https://broker.example.com";
const person = { userId: "8f1c2a9e-0000-4000-8000-000000000001", email: "ann@example.com", externalId: "E-17" };
const cause = (over: Partial<CauseFacts> = {}): CauseFacts => ({
  cause: "update", leaver: false, deleted: false, changeId: 42, at: new Date("2026-12-01T10:00:00Z"), changed: [], department: "Sales", active: true, byHr: true, ...over,
});
const types = (c: CauseFacts) => userChangeEvents(person, c, ISS).map((e) => e.type);

describe("ssf set-builder", () => {
  it("when a person has several identifiers, then the subject is RFC 9493 aliases; with one, that identifier", () => {
    expect(userSubject(person, ISS)).to.deep.equal({ format: "aliases", identifiers: [
      { format: "iss_sub", iss: ISS, sub: person.userId }, { format: "email", email: "ann@example.com" }, { format: "opaque", id: "E-17" }] });
    expect(userSubject({ userId: "u1", email: null, externalId: null }, ISS)).to.deep.equal({ format: "iss_sub", iss: ISS, sub: "u1" });
  });

  it("when HR makes a user a leaver, then session-revoked, account-disabled and prov:deactivate, all leaver-priority", () => {
    const drafts = userChangeEvents(person, cause({ cause: "leaver", leaver: true }), ISS);
    expect(drafts.map((d) => d.type)).to.deep.equal([EVENT.sessionRevoked, EVENT.accountDisabled, EVENT.provDeactivate]);
    expect(drafts.every((d) => d.leaver)).to.equal(true);
    expect(drafts[0]!.event).to.deep.include({ initiating_entity: "admin", event_timestamp: 1796119200 });
    expect(drafts[2]!.subject).to.deep.equal({ format: "scim", uri: `/Users/${person.userId}` });
  });

  it("when a leaver's record is updated again, then nothing is re-sent", () => {
    expect(types(cause({ cause: "update", leaver: true, changed: ["title"] }))).to.deep.equal([]);
  });

  it("when the end date passes (no HR change), then the initiating entity is policy", () => {
    const d = userChangeEvents(person, cause({ cause: "leaver", leaver: true, byHr: false, changeId: null }), ISS);
    expect(d[0]!.event.initiating_entity).to.equal("policy");
  });

  it("when a user is deleted, then session-revoked, account-purged and prov:delete", () => {
    expect(types(cause({ deleted: true, leaver: true, cause: "update" }))).to.deep.equal([EVENT.sessionRevoked, EVENT.accountPurged, EVENT.provDelete]);
  });

  it("when a mover's department changes, then prov:patch and a token-claims-change with the new department", () => {
    const d = userChangeEvents(person, cause({ cause: "mover", changed: ["department", "title"], department: "Engineering" }), ISS);
    expect(d.map((e) => e.type)).to.deep.equal([EVENT.provPatch, EVENT.tokenClaimsChange]);
    expect(d[1]!.event.claims).to.deep.equal({ department: "Engineering" });
    expect(d[0]!.event).to.deep.equal({ attributes: ["department", "title"] });
  });

  it("when HR writes a password, then credential-change", () => {
    expect(types(cause({ changed: ["password"] }))).to.include(EVENT.credentialChange);
  });

  it("when a joiner or a rehire arrives, then prov:create or account-enabled + prov:activate", () => {
    expect(types(cause({ cause: "joiner", changed: ["userName"] }))).to.deep.equal([EVENT.provCreate]);
    expect(types(cause({ cause: "rehire" }))).to.deep.equal([EVENT.accountEnabled, EVENT.provActivate]);
  });

  it("when claims are built, then sub_id is top level, txn is set, and there is never sub nor exp", () => {
    const d = claimsChange(person, cause(), ISS, { groups: ["a"] });
    const c = setClaims(d, "jti-1", "42", ISS, ["https://rcv.example"], new Date("2026-12-01T10:00:00Z"));
    expect(c).to.include({ iss: ISS, jti: "jti-1", txn: "42", aud: "https://rcv.example", iat: 1796119200 });
    expect(c).to.not.have.any.keys("sub", "exp");
    expect(Object.keys(c.events as object)).to.deep.equal([EVENT.tokenClaimsChange]);
    expect(c.sub_id).to.deep.equal(d.subject);
  });

  it("when a receiver removes a subject by any identifier, then the person's events are not wanted", () => {
    const keys = userKeys(person, ISS);
    expect(subjectWanted(keys, new Set(subjectKeys({ format: "email", email: "ANN@example.com" })))).to.equal(false);
    expect(subjectWanted(keys, new Set(subjectKeys({ format: "iss_sub", iss: ISS, sub: person.userId })))).to.equal(false);
    expect(subjectWanted(keys, new Set(subjectKeys({ format: "email", email: "bob@example.com" })))).to.equal(true);
    expect(subjectKeys({ format: "phone_number", phone_number: "+1" })).to.deep.equal([]);
  });

  it("when events are requested, then delivered = requested ∩ supported; short names resolve", () => {
    expect(eventsDelivered([EVENT.sessionRevoked, "urn:x", EVENT.sessionRevoked])).to.deep.equal([EVENT.sessionRevoked]);
    expect(eventUri("account-disabled")).to.equal(EVENT.accountDisabled);
    expect(eventUri("prov:deactivate")).to.equal(EVENT.provDeactivate);
    expect(eventUri("nope")).to.equal(undefined);
    expect(EVENT.provDeactivate).to.equal("urn:ietf:params:scim:event:prov:deactivate"); // RFC 9967 §2.4: lower case
  });

  it("when a push fails, then backoff doubles with jitter, is capped, and a longer Retry-After wins", () => {
    const s = { backoffBaseMs: 1000, backoffMaxMs: 60_000 };
    expect(backoffMs(1, s, undefined, () => 0.5)).to.equal(1000);
    expect(backoffMs(3, s, undefined, () => 0.5)).to.equal(4000);
    expect(backoffMs(30, s, undefined, () => 0.5)).to.equal(60_000);
    expect(backoffMs(1, s, 120_000, () => 0.5)).to.equal(120_000);
    expect(retryAfter("30")).to.equal(30_000);
    expect(retryAfter(new Date(Date.UTC(2030, 0, 1, 0, 1)).toUTCString(), Date.UTC(2030, 0, 1))).to.equal(60_000);
    expect(retryAfter("soon")).to.equal(undefined);
  });
});
