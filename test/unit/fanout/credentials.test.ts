import { expect } from "chai";
import { Agent } from "undici";
import { AppHttpError } from "../../../src/fanout/client/app-http-error.ts";
import { createAuthProvider, missingCredentials, resolveCredential } from "../../../src/fanout/client/app-auth.ts";
import { hasReference, resolveReferences } from "../../../src/rules/env-substitution.ts";

describe("fanout/credentials: ${VAR} resolved at the point of use", () => {
  const env = { CHAT_TOKEN: "s3cret-token-value", USER: "svc" };

  it("when a credential references variables, then they are resolved from the given environment; literals and $${ stay", () => {
    expect(resolveCredential("${CHAT_TOKEN}", { app: "chat", env })).to.equal("s3cret-token-value");
    expect(resolveCredential("pre-${USER}-$${x}", { app: "chat", env })).to.equal("pre-svc-${x}");
    expect(resolveCredential("literal", { app: "chat", env: {} })).to.equal("literal");
    expect(resolveReferences("${A}${B}", { A: "1" })).to.deep.equal({ value: "1", missing: ["B"] });
    expect(hasReference("$${not}")).to.equal(false);
    expect(hasReference("x${Y}")).to.equal(true);
  });

  it("when a variable is not set, then the error is an auth failure of the app that names the variable only", () => {
    let error: unknown;
    try { resolveCredential("${MISSING_ONE}-${CHAT_TOKEN}", { app: "chat", env }); } catch (e) { error = e; }
    expect(error).to.be.instanceOf(AppHttpError);
    const e = error as AppHttpError;
    expect(e).to.include({ code: "FANOUT_CREDENTIAL_MISSING", authFailure: true, retryable: false });
    expect(e.message).to.include("${MISSING_ONE}").and.not.include("s3cret-token-value");
    expect(missingCredentials({ type: "basic", username: "${USER}", password: "${NOPE}" }, env)).to.deep.equal(["NOPE"]);
  });

  it("when a provider builds its header, then it resolves once, at use, and scrubs the resolved value", async () => {
    const dispatcher = new Agent();
    try {
      const bearer = createAuthProvider({ type: "bearer", token: "${CHAT_TOKEN}" }, { app: "chat", dispatcher, timeoutMs: 1000, env });
      expect(bearer.secrets()).to.deep.equal([]);
      expect(await bearer.header()).to.equal("Bearer s3cret-token-value");
      expect(bearer.secrets()).to.deep.equal(["s3cret-token-value"]);
      const basic = createAuthProvider({ type: "basic", username: "${USER}", password: "${UNSET}" }, { app: "chat", dispatcher, timeoutMs: 1000, env });
      await basic.header().then(() => expect.fail("resolved an unset variable"), (e: AppHttpError) => expect(e.code).to.equal("FANOUT_CREDENTIAL_MISSING"));
    } finally {
      await dispatcher.close();
    }
  });
});
