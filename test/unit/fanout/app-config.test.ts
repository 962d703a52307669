import { expect } from "chai";
import { ZodError } from "zod";
import { appSecrets, parseAppConfig, redactAppConfig } from "../../../src/domain/app-config.ts";

const minimal = { name: "chat", url: "http://127.0.0.1:9101/scim/v2/", auth: { type: "bearer", token: "t0ken-abcdef" } };

function issues(input: unknown): string[] {
  try {
    parseAppConfig(input);
  } catch (e) {
    if (e instanceof ZodError) return e.issues.map((i) => `${i.path.join(".")}: ${i.message}`);
    throw e;
  }
  return [];
}

describe("fanout/app-config", () => {
  it("when only name, url and auth are given, then every default from the issue applies", () => {
    const config = parseAppConfig(minimal);
    expect(config).to.deep.equal({
      name: "chat",
      url: "http://127.0.0.1:9101/scim/v2",
      auth: { type: "bearer", token: "t0ken-abcdef" },
      assign: "active eq true",
      groups: [],
      deprovision: "disable",
      matchAttribute: "userName",
      matchScanMax: 1000,
      dialect: {},
      onMissing: "recreate",
      timeoutMs: 10_000,
    });
  });

  it("when the full issue example is given, then it parses with basic and oauth2 variants too", () => {
    const full = parseAppConfig({
      ...minimal,
      assign: 'active eq true and urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "Finance"',
      groups: ["finance", "engineering"],
      deprovision: "delete",
      rateLimit: { perSecond: 10, concurrency: 4 },
      matchAttribute: "emails.value",
      mapping: { userName: 'emails[type eq "work"].value', title: null },
      dialect: { patch: false, opCasing: "Capital", stringBooleans: true },
      onMissing: "report",
      timeoutMs: 2_000,
    });
    expect(full.rateLimit).to.deep.equal({ perSecond: 10, concurrency: 4 });
    expect(full.dialect).to.deep.equal({ patch: false, opCasing: "Capital", stringBooleans: true });
    expect(parseAppConfig({ ...minimal, auth: { type: "basic", username: "svc", password: "pw-123456" } }).auth.type).to.equal("basic");
    const oauth = parseAppConfig({ ...minimal, auth: { type: "oauth2", tokenUrl: "https://idp.example/token", clientId: "c", clientSecret: "s-123456", scope: "scim" } });
    expect(oauth.auth).to.include({ type: "oauth2", scope: "scim" });
  });

  it("when fields are wrong, then each issue names its path", () => {
    const found = issues({
      ...minimal,
      name: "Chat App",
      url: "ftp://x",
      assign: "",
      deprovision: "archive",
      rateLimit: { perSecond: 0, concurrency: 4 },
      mapping: { userName: "lower(" },
      dialect: { opCasing: "upper" },
      extra: 1,
    });
    const paths = found.map((f) => f.split(":")[0]);
    expect(paths).to.include.members(["name", "url", "deprovision", "rateLimit.perSecond", "mapping", "dialect.opCasing", ""]);
  });

  it("when a secret is a ${VAR} reference, then it is kept (resolved at use) and shown by name; a bad value is refused without echo", () => {
    const config = parseAppConfig({ ...minimal, auth: { type: "bearer", token: "${CHAT_TOKEN}" } });
    expect(redactAppConfig(config).auth).to.deep.equal({ type: "bearer", token: "${CHAT_TOKEN}" });
    expect(redactAppConfig(parseAppConfig({ ...minimal, auth: { type: "bearer", token: "x-${CHAT_TOKEN}" } })).auth).to.deep.equal({ type: "bearer", token: "[redacted]" });
    const leaked = issues({ ...minimal, auth: { type: "basic", username: "u", password: 42 } }).join(" ");
    expect(leaked).to.not.contain("42");
  });

  it("when an assign filter is not SCIM, then scimmy's parser rejects it", () => {
    expect(issues({ ...minimal, assign: 'active eq "x" and (' }).join()).to.match(/^assign: invalid SCIM filter/);
  });

  it("when a config is logged, then redactAppConfig hides every secret and appSecrets lists them", () => {
    const config = parseAppConfig({ ...minimal, auth: { type: "oauth2", tokenUrl: "https://idp/token", clientId: "cid", clientSecret: "very-secret" } });
    expect(JSON.stringify(redactAppConfig(config))).to.not.contain("very-secret");
    expect(appSecrets(config)).to.include("very-secret");
    expect(JSON.stringify(redactAppConfig(parseAppConfig(minimal)))).to.not.contain("t0ken-abcdef");
  });
});
