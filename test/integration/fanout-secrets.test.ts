// Secrets at rest: an OAuth2 app's access token is shared by broker processes through the database, sealed
// with AES-256-GCM under a key generated into the data directory — never stored or logged in clear — and a
// token the app rejects is not served again.
import { expect } from "chai";
import pg from "pg";
import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FakeOAuthServer } from "../helpers/fake-apps/oauth-server.ts";
import { startStrictApp, type StrictScimApp } from "../helpers/fake-apps/strict-app.ts";
import { parseAppConfig } from "../../src/domain/app-config.ts";
import { createScimClient } from "../../src/fanout/client/scim-client.ts";
import { SecretBox } from "../../src/fanout/apps/secret-box.ts";
import { TokenVault } from "../../src/fanout/apps/token-vault.ts";
import { accountIn, eventually, isActiveIn, startFanoutBroker, type FanoutBroker } from "./fanout-harness.ts";

describe("fan-out: OAuth2 tokens encrypted at rest and shared", function () {
  this.timeout(60_000);
  let app: StrictScimApp, plain: StrictScimApp, oauth: FakeOAuthServer, b: FanoutBroker, dataDir: string;

  before(async () => {
    app = await startStrictApp({ token: "not-yet" });
    plain = await startStrictApp({ token: "plain-bearer-token" });
    oauth = await new FakeOAuthServer({ clientId: "broker", clientSecret: "oauth-client-secret", onIssue: (t) => (app.auth.bearer = t) }).start();
    dataDir = await mkdtemp(join(tmpdir(), "broker-data-"));
    b = await startFanoutBroker([{ name: "plain", app: plain }], { env: { BROKER_DATA_DIR: dataDir } });
  });
  after(async () => {
    await b?.stop();
    await oauth?.stop();
    await Promise.all([app?.stop(), plain?.stop()]);
    await rm(dataDir, { recursive: true, force: true });
  });

  it("when two processes use the same OAuth2 app, then one token serves both and only ciphertext is stored", async () => {
    const config = parseAppConfig({ name: "crm", url: app.url, auth: { type: "oauth2", tokenUrl: oauth.tokenUrl, clientId: "broker", clientSecret: "oauth-client-secret" } });
    const pool = new pg.Pool({ connectionString: b.t.databaseUrl, max: 2 });
    try {
      // Two vaults with their own key loading, as two broker processes on one data directory would have.
      const vault = () => new TokenVault(pool, () => SecretBox.load({ dataDir }));
      const one = createScimClient(config, { tokenCache: vault().cacheFor(config) });
      const two = createScimClient(config, { tokenCache: vault().cacheFor(config) });
      await one.listUsers(1, 1);
      await two.listUsers(1, 1);
      expect(oauth.issued).to.have.length(1);
      const { rows } = await pool.query(`SELECT sealed FROM app_token_cache WHERE app = 'crm'`);
      expect(rows[0].sealed).to.match(/^v1\./).and.not.include(oauth.issued[0]!);
      expect((await stat(join(dataDir, "secret.key"))).mode & 0o777).to.equal(0o600);

      // The app revokes the token: a 401 refreshes it, and the refused token is not taken from the vault again.
      app.auth.bearer = "revoked";
      const three = createScimClient(config, { tokenCache: vault().cacheFor(config) });
      await three.listUsers(1, 1);
      expect(oauth.issued).to.have.length(2);
      await Promise.all([one.close(), two.close(), three.close()]);
    } finally {
      await pool.end();
    }
  });

  it("when the broker delivers, then no credential reaches its tables", async () => {
    await b.create("sam@example.com");
    await eventually(() => expect(isActiveIn(accountIn(plain, "sam@example.com"))).to.equal(true), 20_000);
    const pool = new pg.Pool({ connectionString: b.t.databaseUrl, max: 1 });
    try {
      let dump = "";
      for (const t of ["app_account", "app_state", "dead_letter", "policy_version", "audit_event"]) dump += JSON.stringify((await pool.query(`SELECT * FROM ${t}`)).rows);
      expect(dump).to.include("sam@example.com").and.not.include("plain-bearer-token");
    } finally {
      await pool.end();
    }
  });
});
