// RFC 8936 poll delivery: the receiver acknowledges what it processed (ack, or setErrs for SETs it could not
// process) and gets up to maxEvents of what is still owed. A SET handed out but not acknowledged stays
// owed and is handed out again on a later poll, until acknowledged or expired (§2.4). A paused stream
// hands out nothing (SSF §8.1.2) and keeps its SETs.
import type pg from "pg";
import type { Clock } from "../domain/clock.ts";
import { badRequest } from "../shared/errors.ts";
import type { SigningKeys } from "./keys.ts";
import type { SsfMetrics } from "./metrics.ts";
import { signSet } from "./signer.ts";
import * as sets from "./set-repository.ts";
import type { StreamRow } from "./stream-repository.ts";

export interface PollRequest { maxEvents: number; ack: string[]; errors: Record<string, string> }

const MAX_EVENTS = 1000;

/** §2.4's request members; returnImmediately is accepted, and the broker always answers at once. */
export function parsePoll(body: unknown): PollRequest {
  const b = (typeof body === "object" && body !== null && !Array.isArray(body) ? body : {}) as Record<string, unknown>;
  const maxEvents = b.maxEvents === undefined ? 100 : b.maxEvents;
  if (typeof maxEvents !== "number" || !Number.isInteger(maxEvents) || maxEvents < 0) throw badRequest("invalidValue", "maxEvents must be a whole number ≥ 0");
  const ack = b.ack === undefined ? [] : b.ack;
  if (!Array.isArray(ack) || ack.some((j) => typeof j !== "string")) throw badRequest("invalidValue", "ack must be an array of jti strings");
  if (b.returnImmediately !== undefined && typeof b.returnImmediately !== "boolean") throw badRequest("invalidValue", "returnImmediately must be a boolean");
  const errors: Record<string, string> = {};
  if (b.setErrs !== undefined) {
    if (typeof b.setErrs !== "object" || b.setErrs === null || Array.isArray(b.setErrs)) throw badRequest("invalidValue", "setErrs must be an object of jti → { err, description }");
    for (const [jti, e] of Object.entries(b.setErrs as Record<string, any>)) errors[jti] = `${e?.err ?? "error"}${e?.description ? `: ${e.description}` : ""}`.slice(0, 500);
  }
  return { maxEvents: Math.min(maxEvents, MAX_EVENTS), ack: ack as string[], errors };
}

export async function poll(d: { pool: pg.Pool; keys: SigningKeys; clock: Clock; metrics: SsfMetrics; setTtlMs: number }, stream: StreamRow, r: PollRequest) {
  const now = d.clock.now();
  const acked = await sets.acknowledge(d.pool, stream.id, r.ack, "acked", now);
  const refused = await sets.acknowledge(d.pool, stream.id, Object.keys(r.errors), "failed", now, r.errors);
  if (acked) d.metrics.deliveries.inc({ stream: stream.id, outcome: "acked" }, acked);
  if (refused) d.metrics.deliveries.inc({ stream: stream.id, outcome: "refused" }, refused);
  const out: Record<string, string> = {};
  if (r.maxEvents === 0 || stream.status !== "enabled") return { sets: out, moreAvailable: false };
  const owed = await sets.pendingSets(d.pool, stream.id, r.maxEvents + 1, new Date(now.getTime() - d.setTtlMs));
  for (const s of owed.slice(0, r.maxEvents)) {
    let jws = s.jws;
    if (!jws) {
      jws = await signSet(d.keys, s.claims);
      await sets.saveJws(d.pool, s.id, jws);
      d.metrics.latency.observe({ stream: stream.id }, Math.max(0, now.getTime() - s.createdAt.getTime()) / 1000);
    }
    out[s.jti] = jws;
  }
  return { sets: out, moreAvailable: owed.length > r.maxEvents };
}
