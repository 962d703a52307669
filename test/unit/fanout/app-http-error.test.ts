import { expect } from "chai";
import { AppHttpError, codeForStatus, MAX_ERROR_BODY_CHARS, parseRetryAfter } from "../../../src/fanout/client/app-http-error.ts";

const base = { app: "chat", method: "PATCH", path: "/scim/v2/Users/u1" };

describe("fanout/app-http-error classification", () => {
  it("when the status is 429, 408 or a 5xx other than 501, then the error is retryable", () => {
    for (const status of [429, 408, 500, 502, 503, 504]) {
      const e = new AppHttpError({ ...base, status, code: codeForStatus(status) });
      expect(e.retryable, String(status)).to.equal(true);
    }
  });

  it("when the status is another 4xx, 405 or 501, then the error is permanent with a specific code", () => {
    const cases: Array<[number, string]> = [
      [400, "FANOUT_REJECTED"],
      [401, "FANOUT_UNAUTHORIZED"],
      [403, "FANOUT_UNAUTHORIZED"],
      [404, "FANOUT_NOT_FOUND"],
      [405, "FANOUT_NOT_IMPLEMENTED"],
      [409, "FANOUT_CONFLICT"],
      [412, "FANOUT_REJECTED"],
      [413, "FANOUT_REJECTED"],
      [501, "FANOUT_NOT_IMPLEMENTED"],
    ];
    for (const [status, code] of cases) {
      const e = new AppHttpError({ ...base, status, code: codeForStatus(status) });
      expect([e.code, e.retryable], String(status)).to.deep.equal([code, false]);
    }
    expect(new AppHttpError({ ...base, status: 404, code: "FANOUT_NOT_FOUND" }).notFound).to.equal(true);
  });

  it("when no response arrived (network, timeout), then the error is retryable and has no status", () => {
    for (const code of ["FANOUT_NETWORK", "FANOUT_TIMEOUT"] as const) {
      const e = new AppHttpError({ ...base, code, detail: "ECONNREFUSED" });
      expect([e.retryable, e.status]).to.deep.equal([true, undefined]);
      expect(e.message).to.contain("ECONNREFUSED");
    }
  });

  it("when the token endpoint fails, then 5xx/network retry and 4xx (bad client credentials) do not", () => {
    expect(new AppHttpError({ ...base, code: "FANOUT_AUTH_TOKEN", status: 503 }).retryable).to.equal(true);
    expect(new AppHttpError({ ...base, code: "FANOUT_AUTH_TOKEN" }).retryable).to.equal(true);
    expect(new AppHttpError({ ...base, code: "FANOUT_AUTH_TOKEN", status: 401 }).retryable).to.equal(false);
  });

  it("when the app sends an RFC 7644 §3.12 error body, then detail and scimType are surfaced", () => {
    const body = JSON.stringify({ schemas: ["urn:ietf:params:scim:api:messages:2.0:Error"], status: "409", scimType: "uniqueness", detail: "userName taken" });
    const e = new AppHttpError({ ...base, code: "FANOUT_CONFLICT", status: 409, body });
    expect(e.scimType).to.equal("uniqueness");
    expect(e.message).to.equal("chat: PATCH /scim/v2/Users/u1 failed (FANOUT_CONFLICT) 409: userName taken");
    expect(e.toJSON()).to.include({ code: "FANOUT_CONFLICT", status: 409, scimType: "uniqueness", retryable: false, body });
  });

  it("when the body is huge or echoes a secret, then it is truncated and scrubbed", () => {
    const token = "s3cr3t-token-value";
    const e = new AppHttpError({ ...base, code: "FANOUT_REJECTED", status: 400, body: `{"detail":"bad header Bearer ${token}"}` + "x".repeat(10_000), secrets: [token] });
    expect(e.body!.length).to.be.at.most(MAX_ERROR_BODY_CHARS + 20);
    expect(e.body).to.match(/…\[truncated\]$/);
    expect(JSON.stringify(e.toJSON()) + e.message + e.stack).to.not.contain(token);
    expect(e.body).to.contain("Bearer [redacted]");
  });

  describe("Retry-After (RFC 9110 §10.2.3)", () => {
    const now = Date.parse("2026-11-26T10:00:00Z");
    it("when it is delay-seconds, then it is converted to ms", () => {
      expect(parseRetryAfter("120", now)).to.equal(120_000);
      expect(parseRetryAfter(" 0 ", now)).to.equal(0);
      expect(parseRetryAfter(["3", "9"], now)).to.equal(3_000);
    });
    it("when it is an HTTP-date, then it is the time until that date (0 if past)", () => {
      expect(parseRetryAfter("Thu, 26 Nov 2026 10:00:30 GMT", now)).to.equal(30_000);
      expect(parseRetryAfter("Thu, 26 Nov 2026 09:00:00 GMT", now)).to.equal(0);
    });
    it("when it is absent or garbage, then it is undefined", () => {
      expect(parseRetryAfter(undefined, now)).to.equal(undefined);
      expect(parseRetryAfter("-5", now)).to.equal(undefined);
      expect(parseRetryAfter("1.5", now)).to.equal(undefined);
      expect(parseRetryAfter("soon", now)).to.equal(undefined);
    });
  });
});
