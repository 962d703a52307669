// Stream management (SSF 1.0 §8.1) as use cases: each receiver (token) manages only its own streams;
// another receiver's stream is "not found" (§8.1.1.2: 404 "for this Event Receiver"). The routes
// (stream-routes.ts) only map HTTP to these calls.
import type pg from "pg";
import type { Clock } from "../domain/clock.ts";
import { badRequest, notFound } from "../shared/errors.ts";
import { withTransaction } from "../store/database.ts";
import { EVENTS_SUPPORTED, eventsDelivered, POLL_METHOD, PUSH_METHOD } from "./event-types.ts";
import { receiverSupplied, checkTransmitterSupplied, type ReceiverSupplied } from "./stream-body.ts";
import { subjectKeys, verificationEvent, setClaims, type SubjectId } from "./set-builder.ts";
import * as repo from "./stream-repository.ts";
import * as sets from "./set-repository.ts";
import { enqueuePush, PRIORITY } from "./push-jobs.ts";
import { authAad } from "./push-task.ts";
import type { Sealer } from "./sealer.ts";
import type { StreamPresence } from "./stream-presence.ts";
import { randomUUID } from "node:crypto";

export type StreamView = Record<string, unknown>;

export class StreamService {
  /** `presence`: dropped at once by this process's own stream changes (stream-presence.ts). */
  constructor(private readonly pool: pg.Pool, private readonly sealer: Sealer, private readonly clock: Clock, private readonly presence?: StreamPresence) {}

  /** The stream configuration as SSF §8.1.1 shows it (never the authorization header). */
  view(s: repo.StreamRow): StreamView {
    return {
      stream_id: s.id, iss: s.iss, aud: s.audience.length === 1 ? s.audience[0] : s.audience,
      delivery: { method: s.method, endpoint_url: s.method === POLL_METHOD ? `${s.iss}/ssf/poll/${s.id}` : s.endpointUrl },
      events_supported: [...EVENTS_SUPPORTED], events_requested: s.eventsRequested, events_delivered: eventsDelivered(s.eventsRequested),
      ...(s.description ? { description: s.description } : {}),
      min_verification_interval: 0,
    };
  }

  async list(v: repo.Viewer): Promise<StreamView[]> {
    return (await repo.streamsOf(this.pool, v)).map((s) => this.view(s));
  }

  async get(v: repo.Viewer, id: string): Promise<repo.StreamRow> {
    const s = await repo.streamOf(this.pool, v, id);
    if (!s) throw notFound(`stream '${id}'`);
    return s;
  }

  /** §8.1.1.1: 201 with the configuration. The audience is the receiver: its push origin, else its token's name. */
  async create(v: repo.Viewer & { name: string }, body: unknown, iss: string): Promise<StreamView> {
    const r = receiverSupplied(body);
    if (!r.method) throw badRequest("invalidValue", "delivery is required: { method, endpoint_url }");
    const audience = [r.endpointUrl ? new URL(r.endpointUrl).origin : `urn:scim-broker:receiver:${v.name}`];
    const created = await withTransaction(this.pool, async (tx) => {
      const row = await repo.insertStream(tx, {
        ownerTokenId: v.tokenId, iss, audience, method: r.method!, endpointUrl: r.endpointUrl ?? null, authSealed: null,
        eventsRequested: r.eventsRequested ?? [], description: r.description ?? null,
      }, this.clock.now());
      const authSealed = r.authorization ? await this.sealer.seal(r.authorization, authAad(row.id)) : null;
      if (!authSealed) return this.view(row);
      return this.view(await repo.updateStream(tx, row.id, { ...row, authSealed }, this.clock.now()));
    });
    this.presence?.invalidate();
    return created;
  }

  /** §8.1.1.3 (PATCH: what is present changes) and §8.1.1.4 (PUT: what is missing is removed). */
  async update(v: repo.Viewer, id: string, body: Record<string, unknown>, replace: boolean): Promise<StreamView> {
    const s = await this.get(v, id);
    checkTransmitterSupplied(body, this.view(s));
    const r: ReceiverSupplied = receiverSupplied(body);
    if (replace && !r.method) throw badRequest("invalidValue", "a replacement (PUT) carries the whole receiver-supplied configuration: delivery is required");
    const method = r.method ?? s.method;
    let authSealed = s.authSealed;
    if (r.authorization !== undefined || replace || (r.method && r.method !== s.method)) authSealed = r.authorization ? await this.sealer.seal(r.authorization, authAad(id)) : null;
    const row = await repo.updateStream(this.pool, id, {
      method, endpointUrl: r.method ? (r.endpointUrl ?? null) : s.endpointUrl, authSealed,
      eventsRequested: r.eventsRequested ?? (replace ? [] : s.eventsRequested),
      description: r.description !== undefined ? r.description : replace ? null : s.description,
    }, this.clock.now());
    if (row.method === PUSH_METHOD && row.status === "enabled") await enqueuePush(this.pool, id); // a new endpoint gets what is owed
    return this.view(row);
  }

  async remove(v: repo.Viewer, id: string): Promise<void> {
    await this.get(v, id);
    await repo.deleteStream(this.pool, id); // its subjects and SETs go with it (ON DELETE CASCADE)
    this.presence?.invalidate();
  }

  /** §8.1.2.1. */
  async status(v: repo.Viewer, id: string): Promise<Record<string, unknown>> {
    const s = await this.get(v, id);
    return { stream_id: s.id, status: s.status, ...(s.statusReason ? { reason: s.statusReason } : {}) };
  }

  /** §8.1.2.2: enabled → what a pause kept goes out; disabled → nothing is held. */
  async setStatus(v: repo.Viewer, body: Record<string, unknown>, id: string): Promise<Record<string, unknown>> {
    await this.get(v, id);
    const status = body.status;
    if (status !== "enabled" && status !== "paused" && status !== "disabled") throw badRequest("invalidValue", "status must be enabled, paused or disabled");
    if (body.reason !== undefined && (typeof body.reason !== "string" || body.reason.length > 1000)) throw badRequest("invalidValue", "reason must be a string of at most 1000 characters");
    const reason = (body.reason as string | undefined) ?? null;
    const row = await withTransaction(this.pool, async (tx) => {
      const r = await repo.setStatus(tx, id, status, reason, this.clock.now());
      if (status === "disabled") await repo.dropPending(tx, id);
      if (status === "enabled" && r.method === PUSH_METHOD) { await repo.clearRetry(tx, id); await enqueuePush(tx, id); }
      return r;
    });
    this.presence?.invalidate();
    return { stream_id: row.id, status: row.status, ...(row.statusReason ? { reason: row.statusReason } : {}) };
  }

  /** §8.1.3.1 (added: included) and §8.1.3.2 (removed: no events about it). */
  async subject(v: repo.Viewer, id: string, subject: unknown, included: boolean): Promise<void> {
    await this.get(v, id);
    const keys = typeof subject === "object" && subject !== null && !Array.isArray(subject) ? subjectKeys(subject as SubjectId) : [];
    if (!keys.length) throw badRequest("invalidValue", "subject must be an RFC 9493 subject identifier (email, opaque, iss_sub, aliases)");
    await withTransaction(this.pool, async (tx) => {
      for (const k of keys) await repo.putSubject(tx, id, k, subject, included, this.clock.now());
    });
  }

  /** §8.1.4.2: a verification event goes over the stream, with the receiver's state echoed. */
  async verify(v: repo.Viewer, id: string, state: unknown): Promise<void> {
    const s = await this.get(v, id);
    if (state !== undefined && (typeof state !== "string" || state.length > 1000)) throw badRequest("invalidValue", "state must be a string of at most 1000 characters");
    if (s.status === "disabled") return;
    const at = this.clock.now();
    const jti = randomUUID();
    await withTransaction(this.pool, async (tx) => {
      await sets.insertSets(tx, [{ streamId: id, jti, userId: null, eventType: verificationEvent(id, state as string | undefined).type, priority: PRIORITY.other,
        claims: setClaims(verificationEvent(id, state as string | undefined), jti, null, s.iss, s.audience, at) }], at);
      if (s.method === PUSH_METHOD && s.status === "enabled") { await repo.clearRetry(tx, id); await enqueuePush(tx, id); }
    });
  }

  /** An explicit retry now (operator, tests): the stream's backoff is cleared and its job runs at once. */
  async retryNow(id: string): Promise<void> {
    await withTransaction(this.pool, async (tx) => { await repo.clearRetry(tx, id); await enqueuePush(tx, id); });
  }
}
