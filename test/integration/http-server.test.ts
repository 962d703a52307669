// The broker's HTTP server (src/http/http-server.ts) creates each request and response with Express's own
// prototypes, so Express's per-request re-parenting changes nothing; Express's helpers still work on them.
import { expect } from "chai";
import express from "express";
import type { AddressInfo } from "node:net";
import { createHttpServer } from "../../src/http/http-server.ts";

describe("http server: requests born with Express's prototypes", () => {
  it("when a request arrives, then req and res already have app.request / app.response before Express sees them, and Express's helpers work", async () => {
    const app = express();
    app.get("/things/:id", (req, res) => { res.status(201).json({ id: req.params.id, agent: req.get("x-test") }); });
    const server = createHttpServer(app);
    const seen: Array<[unknown, unknown]> = [];
    server.prependListener("request", (req, res) => { seen.push([Object.getPrototypeOf(req), Object.getPrototypeOf(res)]); });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const res = await fetch(`http://127.0.0.1:${port}/things/42`, { headers: { "x-test": "yes" } });
      expect(res.status).to.equal(201);
      expect(await res.json()).to.deep.equal({ id: "42", agent: "yes" });
      expect(seen).to.have.length(1);
      expect(seen[0]![0] === app.request, "req's prototype at creation").to.equal(true);
      expect(seen[0]![1] === app.response, "res's prototype at creation").to.equal(true);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
