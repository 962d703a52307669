import { readFileSync } from "node:fs";
import { expect } from "chai";
import { DEFAULT_MASS_DEPROVISION } from "../../../src/domain/mass-deprovision-guard.ts";
import { loadPolicy, policyGroup, PolicyError, POLICY_INVALID, type PolicyIssue } from "../../../src/rules/policy-loader.ts";

function issuesOf(text: string, options: Parameters<typeof loadPolicy>[1] = { file: "bad.yaml" }): PolicyIssue[] {
  try {
    loadPolicy(text, options);
  } catch (e) {
    expect(e).to.be.instanceOf(PolicyError);
    expect((e as PolicyError).code).to.equal(POLICY_INVALID);
    return [...(e as PolicyError).issues];
  }
  throw new Error("expected a PolicyError");
}

describe("rules/policy-loader", () => {
  describe("examples", () => {
    it("when the shipped example is loaded, then it yields its groups, apps (credentials as references) and guard", () => {
      const policy = loadPolicy(readFileSync("examples/broker.yaml", "utf8"), { file: "examples/broker.yaml" });
      expect(policy.groups.map((g) => g.name)).to.deep.equal(["finance", "engineering", "prod-admin", "all-staff-london", "contractors"]);
      expect(policyGroup(policy, "prod-admin")).to.include({ privileged: true, portable: false, owner: "security@example.com" });
      expect(policyGroup(policy, "all-staff-london")!.portable).to.equal(true);
      expect(policy.apps.map((a) => a.name)).to.deep.equal(["slack", "aws-identity-center"]);
      expect(policy.apps[0]!.auth).to.deep.include({ token: "${SLACK_SCIM_TOKEN}" });
      expect(policy.guards.massDeprovision).to.deep.equal({ maxUsers: 10, maxPercent: 5, windowMs: 3_600_000 });
      expect(policy.version).to.match(/^[0-9a-f]{16}$/);
    });

    it("when the minimal example is loaded, then the guard takes the issue's defaults", () => {
      const policy = loadPolicy(readFileSync("examples/broker.minimal.yaml", "utf8"));
      expect(policy.groups).to.have.length(1);
      expect(policy.apps).to.deep.equal([]);
      expect(policy.guards.massDeprovision).to.deep.equal({ maxUsers: 50, maxPercent: 20, windowMs: 3_600_000 });
      expect(policy.guards.massDeprovision).to.deep.equal(DEFAULT_MASS_DEPROVISION);
    });

    it("when a guard sets only some fields, then the others take their defaults and durations become ms", () => {
      const policy = loadPolicy("guards:\n  massDeprovision: { window: 90s }\n");
      expect(policy.guards.massDeprovision).to.deep.equal({ maxUsers: 50, maxPercent: 20, windowMs: 90_000 });
      expect(loadPolicy("guards:\n  massDeprovision: { window: 30m }\n").guards.massDeprovision.windowMs).to.equal(1_800_000);
    });
  });

  describe("policy object", () => {
    const text = 'groups:\n  - name: finance\n    when: department eq "Finance"\n';

    it("when a policy is loaded, then it is deeply immutable", () => {
      const policy = loadPolicy(text);
      expect(Object.isFrozen(policy)).to.equal(true);
      expect(Object.isFrozen(policy.groups[0])).to.equal(true);
      expect(Object.isFrozen(policy.groups[0]!.condition.filter)).to.equal(true);
      expect(() => ((policy.groups as unknown as unknown[]).push({}))).to.throw(TypeError);
    });

    it("when short names are used, then the condition reads the extension attributes by URN", () => {
      const policy = loadPolicy('groups:\n  - name: g\n    when: costCenter sw "4" and startDate le "2026-01-01T00:00:00Z" and title pr\n');
      expect(policy.groups[0]!.condition.attributes).to.deep.equal([
        "title",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:costCenter",
        "urn:ietf:params:scim:schemas:extension:scim-broker:2.0:User:startDate",
      ]);
    });

    it("when only comments, formatting or key order change, then the version is the same", () => {
      const a = loadPolicy(text);
      const b = loadPolicy('# finance people\ngroups:\n  - when: department eq "Finance"   # rule\n    name: finance\n    privileged: false\n');
      expect(b.version).to.equal(a.version);
    });

    it("when a condition changes, then the version changes", () => {
      expect(loadPolicy(text.replace("Finance", "Sales")).version).to.not.equal(loadPolicy(text).version);
    });

    it("when only an app token changes, then the version is the same (secrets are hashed redacted)", () => {
      const app = (token: string) => `${text}apps:\n  - name: slack\n    url: https://slack.example.com/scim\n    auth: { type: bearer, token: "${token}" }\n`;
      expect(loadPolicy(app("one")).version).to.equal(loadPolicy(app("two")).version);
    });
  });

  describe("environment references", () => {
    const app = (auth: string, extra = "") => `apps:\n  - name: chat\n    url: https://chat.example.com/scim\n    auth: ${auth}\n${extra}`;

    it("when app credentials reference ${VAR}s, then the policy keeps the references as written (resolved only when the fan-out authenticates)", () => {
      const bearer = loadPolicy(app('{ type: bearer, token: "${CHAT_TOKEN}" }'));
      expect(bearer.apps[0]!.auth).to.deep.equal({ type: "bearer", token: "${CHAT_TOKEN}" });
      const basic = loadPolicy(app('{ type: basic, username: "${U}", password: "p-${P}-$${x}" }'));
      expect(basic.apps[0]!.auth).to.deep.equal({ type: "basic", username: "${U}", password: "p-${P}-$${x}" });
      const oauth = loadPolicy(app('{ type: oauth2, tokenUrl: "https://idp.example.com/token", clientId: "${ID}", clientSecret: "${SECRET}" }'));
      expect(oauth.apps[0]!.auth).to.include({ clientId: "${ID}", clientSecret: "${SECRET}" });
    });

    it("when a reference appears outside app credentials, then it is refused at its line without any value, and $${ stays a literal", () => {
      const policy = loadPolicy('groups:\n  - name: g\n    when: title ne "$${X}"\n');
      expect(policy.groups[0]!.when).to.equal('title ne "${X}"');
      const issues = issuesOf('groups:\n  - name: g\n    when: department eq "${DEPT}"\nguards:\n  massDeprovision:\n    maxUsers: ${MAX}\n' +
        app('{ type: bearer, token: t }', '    url2: x\n').replace("url: https://chat.example.com/scim", 'url: "https://${HOST}/scim"'));
      expect(issues.map((i) => [i.line, i.path])).to.deep.include.members([[3, "groups[0].when"], [6, "guards.massDeprovision.maxUsers"], [9, "apps[0].url"]]);
      for (const i of issues.filter((x) => x.path !== "apps[0].url2")) expect(i.message).to.match(/environment references are only allowed in app credentials/);
    });

    it("when a reference is malformed, then it is an error rather than literal text, in credentials too", () => {
      expect(issuesOf('groups:\n  - name: g\n    when: department eq "${not-a-name}"\n')[0]!.message).to.match(/not a valid variable reference/);
      expect(issuesOf(app('{ type: bearer, token: "${unterminated" }'))[0]!.message).to.match(/unterminated/);
    });
  });

  describe("errors", () => {
    const bad = [
      "groups:", //                                                          1
      "  - name: finance", //                                                2
      '    when: deparment eq "Finance" and activ eq true', //              3
      "    extra: 1", //                                                     4
      "  - name: Finance", //                                                5
      "    when: department eq", //                                          6
      "  - name: y", //                                                      7
      "    privileged: yes", //                                              8
      "apps:", //                                                            9
      "  - name: slack", //                                                  10
      "    url: https://slack.example.com/scim", //                          11
      "    auth: { type: bearer, token: t }", //                             12
      "    groups: [finanse, FINANCE]", //                                   13
      "guards:", //                                                          14
      "  massDeprovision: { maxUsers: -1, window: 1x }", //                  15
      "bogus: 1", //                                                         16
    ].join("\n");

    it("when a file has many problems, then every one is reported with file, line, column and path, in file order", () => {
      const issues = issuesOf(bad);
      expect(issues.map((i) => `${i.file}:${i.line}:${i.column} ${i.path}`)).to.deep.equal([
        "bad.yaml:3:11 groups[0].when",
        "bad.yaml:3:11 groups[0].when",
        "bad.yaml:4:5 groups[0].extra",
        "bad.yaml:5:11 groups[1].name",
        "bad.yaml:6:11 groups[1].when",
        "bad.yaml:7:5 groups[2].when",
        "bad.yaml:8:17 groups[2].privileged",
        "bad.yaml:13:14 apps[0].groups[0]",
        "bad.yaml:13:23 apps[0].groups[1]",
        "bad.yaml:15:32 guards.massDeprovision.maxUsers",
        "bad.yaml:15:44 guards.massDeprovision.window",
        "bad.yaml:16:1 bogus",
      ]);
    });

    it("when a condition names unknown attributes, then each one is named", () => {
      const messages = issuesOf(bad).filter((i) => i.line === 3).map((i) => i.message);
      expect(messages).to.deep.equal(["unknown attribute 'deparment' for User", "unknown attribute 'activ' for User"]);
    });

    it("when group names differ only in case, then the later one is a duplicate", () => {
      expect(issuesOf(bad).find((i) => i.path === "groups[1].name")!.message).to.equal('duplicate group name "Finance" (also groups[0])');
    });

    it("when an app lists an undeclared group, then it is reported with a suggestion for a case slip", () => {
      const messages = issuesOf(bad).filter((i) => i.path.startsWith("apps[0].groups")).map((i) => i.message);
      expect(messages).to.deep.equal(['unknown group "finanse": not declared under groups', 'unknown group "FINANCE" (did you mean "finance"?)']);
    });

    it("when a required key is missing or an unknown key is present, then the message says so", () => {
      const issues = issuesOf(bad);
      expect(issues.find((i) => i.path === "groups[2].when")!.message).to.equal('missing required key "when"');
      expect(issues.find((i) => i.path === "bogus")!.message).to.equal('unknown key "bogus"');
    });

    it("when a condition negates a group of comparisons, then it is accepted (RFC 7644 §3.4.2.2)", () => {
      const policy = loadPolicy('groups:\n  - name: g\n    when: not (department eq "a" or department eq "b")\n');
      expect(policy.groups[0]!.condition.attributes).to.deep.equal(["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"]);
    });

    it("when a condition compares a boolean with a string or is not a filter, then it is refused", () => {
      expect(issuesOf('groups:\n  - name: g\n    when: active gt true\n')[0]!.message).to.match(/boolean/);
      expect(issuesOf('groups:\n  - name: g\n    when: department eq "a" and (\n')[0]!.message).to.match(/invalid SCIM filter/);
    });

    it("when two apps share a name, then the second is reported", () => {
      const app = "  - name: slack\n    url: https://slack.example.com/scim\n    auth: { type: bearer, token: t }\n";
      const issues = issuesOf(`apps:\n${app}${app}`);
      expect(issues.map((i) => [i.line, i.message])).to.deep.equal([[5, 'duplicate app name "slack" (also apps[0])']]);
    });

    it("when the YAML itself is broken, then the parser's errors are reported with positions", () => {
      const issues = issuesOf("groups:\n  - name: a\n    when: x\n  name: b\n");
      expect(issues).to.have.length.greaterThan(0);
      expect(issues[0]).to.include({ file: "bad.yaml", line: 4 });
    });

    it("when a key is repeated, then it is an error, not a silent override", () => {
      const issues = issuesOf('groups:\n  - name: a\n    when: title pr\n    when: department eq "x"\n');
      expect(issues[0]!.line).to.equal(4);
    });

    it("when aliases expand explosively, then loading fails with a PolicyError instead of exhausting memory", () => {
      const bomb = ["a: &a [x, x, x, x, x, x, x, x, x, x]"];
      for (let i = 1; i < 8; i++) bomb.push(`${"abcdefgh"[i]}: &${"abcdefgh"[i]} [${Array(10).fill(`*${"abcdefgh"[i - 1]}`).join(", ")}]`);
      expect(issuesOf(bomb.join("\n") + "\n")).to.have.length(1);
    });

    it("when the file is empty, then that is the error", () => {
      expect(issuesOf("# nothing\n")[0]!.message).to.equal("the policy file is empty");
    });

    it("when the error is printed, then each line reads file:line:column: path: message", () => {
      try {
        loadPolicy("bogus: 1\n", { file: "x.yaml" });
      } catch (e) {
        expect((e as Error).message).to.equal('invalid policy (1 problem):\n  x.yaml:1:1: bogus: unknown key "bogus"');
        return;
      }
      throw new Error("expected a PolicyError");
    });
  });
});
