import { expect } from "chai";
import { startupHint } from "../../../src/admin/startup-hint.ts";

describe("start-up hint", () => {
  it("when the broker starts, then the log names the console's URL (behind BROKER_PUBLIC_URL when set)", () => {
    expect(startupHint({ port: 8080, bootstrap: false, adminTokens: 1 }).fields.console).to.equal("http://localhost:8080/console/");
    expect(startupHint({ port: 8080, publicUrl: "https://broker.example.com/", bootstrap: false, adminTokens: 1 }).fields.console).to.equal("https://broker.example.com/console/");
  });

  it("when there is no admin token, then it says how to make one; with a bootstrap token or admin tokens, how to sign in — never a value", () => {
    expect(startupHint({ port: 1, bootstrap: false, adminTokens: 0 }).message).to.include("npx scim-broker token create --name admin --scope admin").and.include("BROKER_BOOTSTRAP_TOKEN");
    expect(startupHint({ port: 1, bootstrap: true, adminTokens: 1 }).message).to.include("sign in with the value of BROKER_BOOTSTRAP_TOKEN");
    expect(startupHint({ port: 1, bootstrap: false, adminTokens: 2 }).message).to.include("2 active");
  });
});
