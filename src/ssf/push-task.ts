// RFC 8935 push delivery of one stream's SETs: POST each (Content-Type application/secevent+jwt) to the
// receiver's endpoint_url, leavers' first. 202 (any 2xx) → delivered. 400 with an RFC 8935 §2.4 error → that
// SET is refused for good (failed, recorded), the next goes. Anything else (no answer, 401/403/404, 429,
// 5xx) is the receiver's outage: the stream backs off exponentially with jitter, honouring Retry-After
// (RFC 9110 §10.2.3), and after `quarantineAfter` failures in a row it is quarantined — retried at the
// capped interval and reported — while other streams' jobs carry on: each stream has its own job.
import type { Task } from "graphile-worker";
import type pg from "pg";
import { Agent } from "undici";
import type { Clock } from "../domain/clock.ts";
import type { Logger } from "../shared/logger.ts";
import type { SigningKeys } from "./keys.ts";
import type { Sealer } from "./sealer.ts";
import type { SsfMetrics } from "./metrics.ts";
import { PUSH_METHOD } from "./event-types.ts";
import { keyHolder, signSetWith } from "./signer.ts";
import * as streams from "./stream-repository.ts";
import * as push from "./push-repository.ts";
import { enqueuePush, PRIORITY } from "./push-jobs.ts";
import { shortName } from "./outbox.ts";

export interface PushSettings { backoffBaseMs: number; backoffMaxMs: number; quarantineAfter: number; timeoutMs: number; setTtlMs: number; batch: number }

export interface PushDeps { pool: pg.Pool; keys: SigningKeys; sealer: Sealer; clock: Clock; log: Logger; metrics: SsfMetrics; settings: PushSettings }

export const authAad = (streamId: string) => `ssf-stream-authorization\n${streamId}`;

/**
 * One run: one statement reads the stream, the active kid and the owed SETs (push-repository.ts); each SET
 * is signed (once: a kept JWS is re-sent as is) and POSTed in order; one statement records the outcomes. A
 * crash after a POST and before that write re-sends the SET on the next run — RFC 8935 delivery is at least
 * once, and receivers recognise a SET by its jti (RFC 8417 §2.2).
 */
export function pushTask(d: PushDeps): Task {
  const keyFor = keyHolder(d.keys);
  // Keep-alive connections per receiver origin (a TCP handshake per SET is most of a loopback push); one
  // request at a time per connection, so a slow receiver holds up only its own stream.
  const agent = new Agent({ connections: 8, pipelining: 1, keepAliveTimeout: 30_000, keepAliveMaxTimeout: 600_000, connect: { timeout: 5_000 } });
  return async (payload) => {
    const { streamId } = payload as { streamId: string };
    const now = d.clock.now();
    const work = await push.pushWork(d.pool, streamId, d.settings.batch, new Date(now.getTime() - d.settings.setTtlMs));
    const stream = work?.stream;
    // Paused: the SETs wait (SSF §8.1.2); disabled or deleted: nothing is owed; poll streams are read, not pushed.
    if (!work || !stream || stream.status !== "enabled" || stream.method !== PUSH_METHOD || !stream.endpointUrl) return;
    if (stream.retryAt && stream.retryAt > now) { await enqueuePush(d.pool, streamId, PRIORITY.other, stream.retryAt); return; }
    if (!work.sets.length) { if (stream.failures > 0 || stream.retryAt) await streams.noteSuccess(d.pool, streamId); return; }
    const authorization = stream.authSealed ? await d.sealer.open(stream.authSealed, authAad(streamId)) : null;
    const key = work.sets.some((s) => !s.jws) ? await keyFor(work.activeKid) : null;
    const done: push.PushOutcome[] = [];
    for (const set of work.sets) {
      const jws = set.jws ?? (await signSetWith(key!, set.claims));
      const outcome = await post(agent, stream.endpointUrl, jws, authorization, d.settings.timeoutMs);
      const at = d.clock.now();
      if (outcome.kind === "delivered") {
        done.push({ id: set.id, state: "delivered", jws, at });
        d.metrics.deliveries.inc({ stream: streamId, outcome: "delivered" });
        d.metrics.latency.observe({ stream: streamId }, Math.max(0, at.getTime() - set.createdAt.getTime()) / 1000);
        continue;
      }
      if (outcome.kind === "refused") {
        done.push({ id: set.id, state: "failed", jws, at, error: outcome.error });
        d.metrics.deliveries.inc({ stream: streamId, outcome: "refused" });
        d.log.warn({ code: "SSF_SET_REFUSED", stream: streamId, jti: set.jti, event: shortName(set.eventType), err: outcome.error }, "the receiver refused a SET (RFC 8935 §2.4)");
        continue;
      }
      await push.recordOutcomes(d.pool, streamId, done, false);
      await push.noteAttempt(d.pool, set.id, jws);
      const failures = stream.failures + 1;
      const delay = backoffMs(failures, d.settings, outcome.retryAfterMs);
      const quarantine = failures >= d.settings.quarantineAfter;
      await streams.noteFailure(d.pool, streamId, outcome.error, new Date(at.getTime() + delay), quarantine, at);
      await enqueuePush(d.pool, streamId, set.priority, new Date(at.getTime() + delay));
      d.metrics.deliveries.inc({ stream: streamId, outcome: quarantine ? "quarantined" : "retry" });
      d.log[quarantine ? "warn" : "debug"]({ code: quarantine ? "SSF_STREAM_QUARANTINED" : "SSF_PUSH_RETRY", stream: streamId, failures, delayMs: delay, err: outcome.error }, "SET push failed; retrying later");
      return;
    }
    await push.recordOutcomes(d.pool, streamId, done, stream.failures > 0 || stream.retryAt !== null);
    if (work.sets.length === d.settings.batch) await enqueuePush(d.pool, streamId, PRIORITY.other); // more are owed
  };
}

type Outcome = { kind: "delivered" } | { kind: "refused"; error: string } | { kind: "retry"; error: string; retryAfterMs?: number };

async function post(agent: Agent, url: string, jws: string, authorization: string | null, timeoutMs: number): Promise<Outcome> {
  const deadline = AbortSignal.timeout(timeoutMs);
  let status: number, text: string, retryAfterHeader: string | string[] | undefined;
  try {
    const u = new URL(url);
    const res = await agent.request({
      origin: u.origin, path: `${u.pathname}${u.search}`, method: "POST", body: jws, signal: deadline, headersTimeout: timeoutMs, bodyTimeout: timeoutMs,
      headers: { "content-type": "application/secevent+jwt", accept: "application/json", ...(authorization ? { authorization } : {}) },
    });
    // Always drain the body, or the connection does not go back to the pool.
    text = await res.body.text().catch(() => "");
    status = res.statusCode;
    retryAfterHeader = res.headers["retry-after"];
  } catch (e) {
    const timedOut = deadline.aborted || /TIMEOUT/.test(String((e as { code?: string }).code ?? ""));
    // The error's code or name only: some messages embed the request URL.
    return { kind: "retry", error: `no answer: ${timedOut ? "timed out" : ((e as { code?: string }).code ?? (e as Error).name ?? "network error")}` };
  }
  // RFC 8935 §2.2: 202 Accepted; any 2xx is taken as delivered. A redirect is not followed (an outage).
  if (status >= 200 && status < 300) return { kind: "delivered" };
  if (status === 400) {
    const body = parseJson(text) as { err?: unknown; description?: unknown } | null;
    if (body && typeof body.err === "string") return { kind: "refused", error: `${body.err}${typeof body.description === "string" ? `: ${body.description}` : ""}` };
  }
  const ra = Array.isArray(retryAfterHeader) ? retryAfterHeader[0] : retryAfterHeader;
  return { kind: "retry", error: `HTTP ${status}`, retryAfterMs: retryAfter(ra ?? null) };
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
