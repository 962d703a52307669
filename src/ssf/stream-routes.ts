// The SSF HTTP surface: discovery and JWKS (public), stream management (SSF 1.0 §8.1) and poll (RFC 8936)
// behind a broker token with scope `ssf` (or `admin`). Errors: {"error": {"code", "message"}} as on the
// admin API, with SSF's status codes (400, 401, 403, 404).
import express, { type Request, type Router } from "express";
import type pg from "pg";
import type { Authenticator, Principal } from "../auth/authenticator.ts";
import { adminErrorHandler } from "../http/error-handler.ts";
import type { Logger } from "../shared/logger.ts";
import type { Clock } from "../domain/clock.ts";
import { DomainError, notFound, badRequest } from "../shared/errors.ts";
import { issuerFor, transmitterMetadata } from "./metadata.ts";
import type { SigningKeys } from "./keys.ts";
import type { StreamService } from "./stream-service.ts";
import { streamIdOf } from "./stream-body.ts";
import type { Viewer } from "./stream-repository.ts";
import { POLL_METHOD } from "./event-types.ts";
import { parsePoll, poll } from "./poll.ts";
import type { SsfMetrics } from "./metrics.ts";
import type { ReceiverRoutes } from "./receiver.ts";

export interface SsfRouteDeps {
  auth: Authenticator; log: Logger; pool: pg.Pool; clock: Clock; keys: SigningKeys; streams: StreamService; metrics: SsfMetrics;
  publicUrl?: string; setTtlMs: number; receiver?: ReceiverRoutes;
}

export function ssfRouter(d: SsfRouteDeps): Router {
  const r = express.Router();
  const noStore = (_req: Request, res: express.Response, next: express.NextFunction) => { res.set("Cache-Control", "no-store"); next(); };
  r.get("/.well-known/ssf-configuration", (req, res) => { res.json(transmitterMetadata(issuerFor(d.publicUrl, req))); });
  r.get("/ssf/jwks.json", async (_req, res, next) => {
    try { res.set("Cache-Control", "max-age=300").type("application/jwk-set+json").send(JSON.stringify(await d.keys.jwks())); } catch (e) { next(e); }
  });
  if (d.receiver) r.post("/ssf/receive", express.text({ type: ["application/secevent+jwt", "application/jwt"], limit: "64kb" }), d.receiver.handler);

  const api = express.Router();
  api.use(d.auth.require("ssf", "admin"), noStore, express.json({ limit: "64kb", type: ["application/json", "application/*+json"] }));
  const viewer = (req: Request): Viewer & { name: string } => {
    const p = req.user as Principal;
    return { tokenId: p.tokenId, admin: p.scopes.includes("admin"), name: p.name };
  };
  const body = (req: Request): Record<string, unknown> => {
    if (typeof req.body !== "object" || req.body === null || Array.isArray(req.body)) throw badRequest("invalidSyntax", "the body must be a JSON object");
    return req.body as Record<string, unknown>;
  };
  const handle = (fn: (req: Request, res: express.Response) => Promise<void>) => (req: Request, res: express.Response, next: express.NextFunction) => { fn(req, res).catch(next); };

  // §8.1.1: create 201, read 200 (a list without stream_id), update/replace 200, delete 204.
  api.post("/stream", handle(async (req, res) => { res.status(201).json(await d.streams.create(viewer(req), req.body, issuerFor(d.publicUrl, req))); }));
  api.get("/stream", handle(async (req, res) => {
    const id = req.query.stream_id;
    if (id === undefined) { res.json(await d.streams.list(viewer(req))); return; }
    res.json(d.streams.view(await d.streams.get(viewer(req), streamIdOf(id))));
  }));
  api.patch("/stream", handle(async (req, res) => { const b = body(req); res.json(await d.streams.update(viewer(req), streamIdOf(b.stream_id), b, false)); }));
  api.put("/stream", handle(async (req, res) => { const b = body(req); res.json(await d.streams.update(viewer(req), streamIdOf(b.stream_id), b, true)); }));
  api.delete("/stream", handle(async (req, res) => { await d.streams.remove(viewer(req), streamIdOf(req.query.stream_id)); res.status(204).end(); }));
  // §8.1.2
  api.get("/status", handle(async (req, res) => { res.json(await d.streams.status(viewer(req), streamIdOf(req.query.stream_id))); }));
  api.post("/status", handle(async (req, res) => { const b = body(req); res.json(await d.streams.setStatus(viewer(req), b, streamIdOf(b.stream_id))); }));
  // §8.1.3: add 200 (empty), remove 204.
  api.post("/subjects/add", handle(async (req, res) => { const b = body(req); await d.streams.subject(viewer(req), streamIdOf(b.stream_id), b.subject, true); res.status(200).end(); }));
  api.post("/subjects/remove", handle(async (req, res) => { const b = body(req); await d.streams.subject(viewer(req), streamIdOf(b.stream_id), b.subject, false); res.status(204).end(); }));
  // §8.1.4.2: 204.
  api.post("/verify", handle(async (req, res) => { const b = body(req); await d.streams.verify(viewer(req), streamIdOf(b.stream_id), b.state); res.status(204).end(); }));
  // RFC 8936 §2.
  api.post("/poll/:streamId", handle(async (req, res) => {
    const stream = await d.streams.get(viewer(req), String(req.params.streamId));
    if (stream.method !== POLL_METHOD) throw notFound(`poll stream '${stream.id}'`);
    res.json(await poll({ pool: d.pool, keys: d.keys, clock: d.clock, metrics: d.metrics, setTtlMs: d.setTtlMs }, stream, parsePoll(req.body)));
  }));
  api.use((req, _res, next) => next(new DomainError("NOT_FOUND", 404, `no endpoint ${req.method} /ssf${req.path}`)));
  api.use(adminErrorHandler(d.log));
  r.use("/ssf", api); // after the public routes above, which answer without a token
  return r;
}
