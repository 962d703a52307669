// RFC 8935 push delivery of one stream's SETs: POST each (Content-Type application/secevent+jwt) to the
// receiver's endpoint_url, leavers' first. 202 (any 2xx) → delivered. 400 with an RFC 8935 §2.4 error → that
// SET is refused for good (failed, recorded), the next goes. Anything else (no answer, 401/403/404, 429,
// 5xx) is the receiver's outage: the stream backs off exponentially with jitter, honouring Retry-After
// (RFC 9110 §10.2.3), and after `quarantineAfter` failures in a row it is quarantined — retried at the
// capped interval and reported — while other streams' jobs carry on: each stream has its own job.
import type { Task } from "graphile-worker";
import type pg from "pg";
import type { Clock } from "../domain/clock.ts";
import type { Logger } from "../shared/logger.ts";
import type { SigningKeys } from "./keys.ts";
import type { Sealer } from "./sealer.ts";
import type { SsfMetrics } from "./metrics.ts";
import { PUSH_METHOD } from "./event-types.ts";
import { signSet } from "./signer.ts";
import * as streams from "./stream-repository.ts";
import * as sets from "./set-repository.ts";
import { enqueuePush, PRIORITY } from "./push-jobs.ts";
import { shortName } from "./outbox.ts";

export interface PushSettings { backoffBaseMs: number; backoffMaxMs: number; quarantineAfter: number; timeoutMs: number; setTtlMs: number; batch: number }

export interface PushDeps { pool: pg.Pool; keys: SigningKeys; sealer: Sealer; clock: Clock; log: Logger; metrics: SsfMetrics; settings: PushSettings }

export const authAad = (streamId: string) => `ssf-stream-authorization\n${streamId}`;

export function pushTask(d: PushDeps): Task {
  return async (payload) => {
    const { streamId } = payload as { streamId: string };
    const stream = await streams.streamById(d.pool, streamId);
    // Paused: the SETs wait (SSF §8.1.2); disabled or deleted: nothing is owed; poll streams are read, not pushed.
    if (!stream || stream.status !== "enabled" || stream.method !== PUSH_METHOD || !stream.endpointUrl) return;
    const now = d.clock.now();
    if (stream.retryAt && stream.retryAt > now) { await enqueuePush(d.pool, streamId, PRIORITY.other, stream.retryAt); return; }
    const authorization = stream.authSealed ? await d.sealer.open(stream.authSealed, authAad(streamId)) : null;
    const batch = await sets.pendingSets(d.pool, streamId, d.settings.batch, new Date(now.getTime() - d.settings.setTtlMs));
    for (const set of batch) {
      const jws = set.jws ?? (await signAndKeep(d, set));
      const outcome = await post(stream.endpointUrl, jws, authorization, d.settings.timeoutMs);
      const at = d.clock.now();
      if (outcome.kind === "delivered") {
        await sets.markDelivered(d.pool, set.id, at);
        d.metrics.deliveries.inc({ stream: streamId, outcome: "delivered" });
        d.metrics.latency.observe({ stream: streamId }, Math.max(0, at.getTime() - set.createdAt.getTime()) / 1000);
        continue;
      }
      if (outcome.kind === "refused") {
        await sets.markFailed(d.pool, set.id, outcome.error, at);
        d.metrics.deliveries.inc({ stream: streamId, outcome: "refused" });
        d.log.warn({ code: "SSF_SET_REFUSED", stream: streamId, jti: set.jti, event: shortName(set.eventType), err: outcome.error }, "the receiver refused a SET (RFC 8935 §2.4)");
        continue;
      }
      await sets.noteAttempt(d.pool, set.id);
      const failures = stream.failures + 1;
      const delay = backoffMs(failures, d.settings, outcome.retryAfterMs);
      const quarantine = failures >= d.settings.quarantineAfter;
      await streams.noteFailure(d.pool, streamId, outcome.error, new Date(at.getTime() + delay), quarantine, at);
      await enqueuePush(d.pool, streamId, set.priority, new Date(at.getTime() + delay));
      d.metrics.deliveries.inc({ stream: streamId, outcome: quarantine ? "quarantined" : "retry" });
      d.log[quarantine ? "warn" : "debug"]({ code: quarantine ? "SSF_STREAM_QUARANTINED" : "SSF_PUSH_RETRY", stream: streamId, failures, delayMs: delay, err: outcome.error }, "SET push failed; retrying later");
      return;
    }
    if (stream.failures > 0 || stream.retryAt) await streams.noteSuccess(d.pool, streamId);
    if (batch.length === d.settings.batch) await enqueuePush(d.pool, streamId, PRIORITY.other); // more are owed
  };
}

async function signAndKeep(d: PushDeps, set: sets.SetRow): Promise<string> {
  const jws = await signSet(d.keys, set.claims);
  await sets.saveJws(d.pool, set.id, jws);
  return jws;
}

type Outcome = { kind: "delivered" } | { kind: "refused"; error: string } | { kind: "retry"; error: string; retryAfterMs?: number };

async function post(url: string, jws: string, authorization: string | null, timeoutMs: number): Promise<Outcome> {
  let res: Response;
  try {
    res = await fetch(url, {
      method: "POST", body: jws, redirect: "error", signal: AbortSignal.timeout(timeoutMs),
      headers: { "Content-Type": "application/secevent+jwt", Accept: "application/json", ...(authorization ? { Authorization: authorization } : {}) },
    });
  } catch (e) {
    return { kind: "retry", error: `no answer: ${(e as Error).name === "TimeoutError" ? "timed out" : (e as Error).message}` };
  }
  const text = await res.text().catch(() => "");
  if (res.status >= 200 && res.status < 300) return { kind: "delivered" };
  if (res.status === 400) {
    const body = parseJson(text) as { err?: unknown; description?: unknown } | null;
    if (body && typeof body.err === "string") return { kind: "refused", error: `${body.err}${typeof body.description === "string" ? `: ${body.description}` : ""}` };
  }
  return { kind: "retry", error: `HTTP ${res.status}`, retryAfterMs: retryAfter(res.headers.get("retry-after")) };
}

const parseJson = (t: string): unknown => { try { return JSON.parse(t); } catch { return null; } };

/** Retry-After (RFC 9110 §10.2.3): delay-seconds or an HTTP-date. */
export function retryAfter(v: string | null, now = Date.now()): number | undefined {
  if (!v) return undefined;
  if (/^\d+$/.test(v.trim())) return Number(v.trim()) * 1000;
  const t = Date.parse(v);
  return Number.isNaN(t) ? undefined : Math.max(0, t - now);
}

/** Exponential with ±20 % jitter, capped; a Retry-After wins when it asks for longer (capped at an hour). */
export function backoffMs(failures: number, s: Pick<PushSettings, "backoffBaseMs" | "backoffMaxMs">, retryAfterMs?: number, random = Math.random): number {
  const exp = Math.min(s.backoffMaxMs, s.backoffBaseMs * 2 ** Math.max(0, failures - 1));
  const jittered = Math.round(exp * (0.8 + 0.4 * random()));
  return retryAfterMs === undefined ? jittered : Math.max(jittered, Math.min(retryAfterMs, 3_600_000));
}
