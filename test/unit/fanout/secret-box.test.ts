import { expect } from "chai";
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SecretBox } from "../../../src/fanout/apps/secret-box.ts";

describe("fanout/secret-box", () => {
  it("when a value is sealed, then only the same key and associated data open it", () => {
    const box = new SecretBox(Buffer.alloc(32, 7));
    const sealed = box.seal("access-token-123", "chat\nclient\nurl");
    expect(sealed).to.match(/^v1\.[0-9a-f]{8}\./).and.not.include("access-token-123");
    expect(box.open(sealed, "chat\nclient\nurl")).to.equal("access-token-123");
    expect(box.open(sealed, "other\nclient\nurl")).to.equal(null);
    expect(new SecretBox(Buffer.alloc(32, 8)).open(sealed, "chat\nclient\nurl")).to.equal(null);
    const tampered = sealed.slice(0, -4) + (sealed.endsWith("AAAA") ? "BBBB" : "AAAA");
    expect(box.open(tampered, "chat\nclient\nurl")).to.equal(null);
    expect(box.seal("x", "a")).to.not.equal(box.seal("x", "a")); // fresh nonce each time
  });

  it("when BROKER_SECRET_KEY is hex, base64 or a passphrase, then each gives a stable 256-bit key", async () => {
    const hex = "ab".repeat(32);
    const a = await SecretBox.load({ secretKey: hex, dataDir: "/nonexistent" });
    const b = await SecretBox.load({ secretKey: Buffer.from(hex, "hex").toString("base64"), dataDir: "/nonexistent" });
    expect(a.keyId).to.equal(b.keyId);
    const p1 = await SecretBox.load({ secretKey: "correct horse battery staple", dataDir: "/nonexistent" });
    const p2 = await SecretBox.load({ secretKey: "correct horse battery staple", dataDir: "/nonexistent" });
    expect(p1.open(p2.seal("v", "x"), "x")).to.equal("v");
  });

  it("when no key is configured, then one is generated into the data directory (0600) and reused", async () => {
    const dir = await mkdtemp(join(tmpdir(), "secret-box-"));
    try {
      const first = await SecretBox.load({ dataDir: join(dir, "data") });
      const file = join(dir, "data", "secret.key");
      expect((await stat(file)).mode & 0o777).to.equal(0o600);
      expect((await readFile(file, "utf8")).trim()).to.match(/^[0-9a-f]{64}$/);
      const again = await SecretBox.load({ dataDir: join(dir, "data") });
      expect(again.open(first.seal("token", "app"), "app")).to.equal("token");
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
