// The admin API's OpenAPI document is generated from the same declarations as its express routes
// (src/admin/admin-route.ts); this test walks the routes express actually serves under /admin/v1 and fails
// when one of them is missing from the document (or the document lists one express does not serve).
import { expect } from "chai";
import express, { type Router } from "express";
import request from "supertest";
import { startTestBroker, type TestBroker } from "../helpers/broker.ts";
import { adminRouter } from "../../src/admin/admin-router.ts";
import { routerOf, route } from "../../src/admin/admin-route.ts";
import { createLogger } from "../../src/shared/logger.ts";
import * as z from "zod";

interface Layer { route?: { path: string; methods: Record<string, boolean> }; handle: { stack?: Layer[] }; match(path: string): unknown }

/** "GET /apps/{app}" for every route of a router, recursively through the routers it mounts at "/". */
function servedRoutes(router: { stack: Layer[] }): string[] {
  const out: string[] = [];
  for (const layer of router.stack) {
    if (layer.route) {
      for (const [m, on] of Object.entries(layer.route.methods)) if (on && m !== "_all") out.push(`${m.toUpperCase()} ${layer.route.path.replace(/:(\w+)/g, "{$1}")}`);
    } else if (layer.handle.stack) out.push(...servedRoutes(layer.handle as { stack: Layer[] }));
  }
  return out;
}

/** The admin router as mounted on the broker's app: the router layer that answers /admin/v1/… and not /… */
function mountedAdminRouter(app: express.Express): { stack: Layer[] } {
  const stack = (app as unknown as { router: { stack: Layer[] } }).router.stack;
  const layer = stack.find((l) => l.handle.stack && l.match("/admin/v1/openapi.json") && !l.match("/openapi.json"));
  if (!layer) throw new Error("no router mounted at /admin/v1");
  return layer.handle as { stack: Layer[] };
}

const documented = (doc: { paths: Record<string, Record<string, unknown>> }) =>
  Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`));

function missingFrom(served: string[], doc: { paths: Record<string, Record<string, unknown>> }) {
  const inDoc = new Set(documented(doc));
  return { undocumented: served.filter((r) => !inDoc.has(r)).sort(), notServed: [...inDoc].filter((r) => !served.includes(r)).sort() };
}

describe("admin API: OpenAPI document generated from the route declarations", () => {
  let t: TestBroker;
  const auth = () => ({ Authorization: `Bearer ${t.token}` });
  before(async () => { t = await startTestBroker(); });
  after(async () => { await t.stop(); });

  it("when the document is fetched without a token, then it is OpenAPI 3.1 covering every area of the admin API", async () => {
    const res = await request(t.url).get("/admin/v1/openapi.json");
    expect(res.status).to.equal(200);
    expect(res.headers["content-type"]).to.match(/^application\/json/);
    const doc = res.body;
    expect(doc.openapi).to.equal("3.1.0");
    expect(doc.components.securitySchemes.bearer).to.include({ type: "http", scheme: "bearer" });
    expect(doc.components.schemas.Error.properties.error.required).to.have.members(["code", "message"]);
    const ops = documented(doc);
    for (const op of [
      "GET /apps", "POST /apps/{app}/replay", "GET /reviews", "POST /reviews/{id}/approve", "POST /exceptions", "DELETE /exceptions/{id}",
      "GET /events", "GET /people", "GET /people/{user}/log", "GET /audit", "POST /audit/verify", "GET /policy", "POST /policy/apply",
      "POST /import", "GET /tokens", "POST /tokens", "DELETE /tokens/{name}",
    ]) expect(ops, op).to.include(op);
    const events = doc.paths["/events"].get;
    expect(events.parameters.map((p: { name: string }) => p.name)).to.include.members(["user", "kind", "limit", "before"]);
    expect(doc.paths["/tokens"].post.requestBody.content["application/json"].schema.required).to.include.members(["name", "scopes"]);
    expect(doc.paths["/import"].post.requestBody.content).to.have.property("text/csv");
    expect(doc.paths["/openapi.json"].get.security).to.deep.equal([]);
    expect(doc.paths["/tokens"].get.responses["401"].content["application/json"].schema.$ref).to.equal("#/components/schemas/Error");
  });

  it("when the routes express serves under /admin/v1 are enumerated, then each is in the document and the document lists no other", async () => {
    const doc = (await request(t.url).get("/admin/v1/openapi.json")).body;
    const served = servedRoutes(mountedAdminRouter(t.broker.app));
    expect(served.length).to.be.greaterThan(30);
    expect(missingFrom(served, doc)).to.deep.equal({ undocumented: [], notServed: [] });
  });

  it("when a router is mounted whose route is not declared, then the comparison reports it as undocumented", async () => {
    const handMade: Router = express.Router();
    handMade.get("/secret-knob", (_req, res) => { res.json({}); });
    const declared = routerOf([route({ method: "get", path: "/things/{id}", tag: "x", summary: "x", params: z.object({ id: z.string() }), response: z.object({}), handle: () => ({}) })]);
    const admin = adminRouter({ require: () => (_req: unknown, _res: unknown, next: () => void) => next() } as never, [declared, handMade], createLogger({ level: "silent" }));
    const app = express().use("/admin/v1", admin);
    const doc = (await request(app).get("/admin/v1/openapi.json")).body;
    expect(missingFrom(servedRoutes(mountedAdminRouter(app)), doc)).to.deep.equal({ undocumented: ["GET /secret-knob"], notServed: [] });
  });

  it("when inputs fail their schema, then 400 BAD_REQUEST whose message names the field, without zod's internals", async () => {
    const cases: Array<[request.Test, RegExp]> = [
      [request(t.url).post("/admin/v1/tokens").set(auth()).send({ name: "ci", scopes: ["scim:read", "root"] }), /^scopes\[1\] must be among scim:read, scim:write, admin, ssf$/],
      [request(t.url).post("/admin/v1/tokens").set(auth()).send({ scopes: ["admin"] }), /^name is required$/],
      [request(t.url).get("/admin/v1/events?kind=joiner,promoted").set(auth()), /^kind names an unknown event kind 'promoted'/],
      [request(t.url).get("/admin/v1/events?limit=0").set(auth()), /^limit must be an integer from 1 to 1000$/],
      [request(t.url).post("/admin/v1/exceptions").set(auth()).send({ group: "g", kind: "grant", reason: "r", owner: "o" }), /^user is required$/],
      [request(t.url).post("/admin/v1/exceptions").set(auth()).send({ user: "u", group: "g", kind: "forever", reason: "r", owner: "o" }), /^kind must be one of grant, keep, block$/],
      [request(t.url).post("/admin/v1/reviews/00000000-0000-0000-0000-000000000000/approve").set(auth()).send({}), /^reason is required/],
      [request(t.url).post("/admin/v1/apps/x/reconcile").set(auth()).send({ fix: "yes" }), /^fix must be a boolean$/],
      [request(t.url).post("/admin/v1/import?source=hr").set(auth()).set("Content-Type", "text/csv").send("a\n").query({ dryRun: "maybe" }), /^dryRun must be true or false$/],
    ];
    for (const [req, message] of cases) {
      const res = await req;
      expect(res.status, JSON.stringify(res.body)).to.equal(400);
      expect(Object.keys(res.body)).to.deep.equal(["error"]);
      expect(res.body.error.code).to.equal("BAD_REQUEST");
      expect(res.body.error.message).to.match(message).and.not.match(/invalid_type|Zod|expected|received|\[object/i);
    }
  });

  it("when tokens are managed over HTTP, then create shows the value once, the list never, and a revoked token is refused", async () => {
    const created = await request(t.url).post("/admin/v1/tokens").set(auth()).send({ name: "okta-push", scopes: ["scim:write"], source: "okta", rate: 50 });
    expect(created.status).to.equal(201);
    expect(created.body).to.include({ name: "okta-push", source: "okta", rateLimit: 50 });
    expect(created.body.token).to.match(/^scb_/);
    const list = await request(t.url).get("/admin/v1/tokens").set(auth());
    expect(list.body.items.map((i: { name: string }) => i.name)).to.include("okta-push");
    expect(JSON.stringify(list.body)).to.not.include(created.body.token);
    expect((await request(t.url).get("/scim/v2/Users").set("Authorization", `Bearer ${created.body.token}`)).status).to.equal(200);
    const revoked = await request(t.url).delete("/admin/v1/tokens/okta-push").set(auth());
    expect(revoked.status).to.equal(200);
    expect(revoked.body.revokedAt).to.be.a("string");
    expect((await request(t.url).get("/scim/v2/Users").set("Authorization", `Bearer ${created.body.token}`)).status).to.equal(401);
    expect((await request(t.url).delete("/admin/v1/tokens/okta-push").set(auth())).body.error.code).to.equal("NOT_FOUND");
    expect((await request(t.url).post("/admin/v1/tokens").set(auth()).send({ name: "test-admin", scopes: ["admin"] })).body.error.code).to.equal("CONFLICT");
  });

  it("when an admin token arrives anywhere but the Authorization header, then 401 in the admin shape", async () => {
    const inQuery = await request(t.url).get("/admin/v1/tokens").query({ access_token: t.token });
    expect(inQuery.status).to.equal(401);
    expect(inQuery.body.error.code).to.equal("UNAUTHORIZED");
    const inJson = await request(t.url).post("/admin/v1/tokens").send({ access_token: t.token, name: "x1", scopes: ["admin"] });
    expect(inJson.status).to.equal(401);
    const inForm = await request(t.url).post("/admin/v1/audit/verify").type("form").send(`access_token=${encodeURIComponent(t.token)}`);
    expect(inForm.status).to.equal(401);
    expect(inForm.body.error.code).to.equal("UNAUTHORIZED");
    expect((await request(t.url).get("/admin/v1/tokens").set(auth())).body.items.map((i: { name: string }) => i.name)).to.not.include("x1");
  });
});
