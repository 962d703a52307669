// Streams declared in broker.yaml become ssf_stream rows (owner: none; visible to admin tokens), keyed by
// name: created, updated to the file, and removed when no longer declared. `${VAR}` in an authorization
// header is resolved from the broker's environment and sealed at rest, like app credentials.
import type pg from "pg";
import type { Clock } from "../domain/clock.ts";
import type { Logger } from "../shared/logger.ts";
import { resolveReferences } from "../rules/env-substitution.ts";
import { withTransaction } from "../store/database.ts";
import { eventUri, POLL_METHOD, PUSH_METHOD } from "./event-types.ts";
import type { SsfStreamConfig } from "../domain/ssf-stream-config.ts";
import type { Sealer } from "./sealer.ts";
import * as repo from "./stream-repository.ts";
import { authAad } from "./push-task.ts";
import { enqueuePush } from "./push-jobs.ts";

export async function syncDeclaredStreams(d: { pool: pg.Pool; sealer: Sealer; clock: Clock; log: Logger; env: Readonly<Record<string, string | undefined>>; iss: string }, declared: readonly SsfStreamConfig[]): Promise<void> {
  const now = d.clock.now();
  await withTransaction(d.pool, async (tx) => {
    const existing = new Map((await repo.declaredStreams(tx)).map((s) => [s.name!, s]));
    for (const c of declared) {
      const events = c.events.map((e) => eventUri(e) ?? e);
      const unknown = c.events.filter((e) => !eventUri(e));
      if (unknown.length) d.log.warn({ code: "SSF_UNKNOWN_EVENT", stream: c.name, events: unknown }, "broker.yaml names event types the broker does not transmit");
      const method = c.delivery.method === "push" ? PUSH_METHOD : POLL_METHOD;
      const endpointUrl = c.delivery.method === "push" ? c.delivery.url! : null;
      const audience = [c.audience ?? (endpointUrl ? new URL(endpointUrl).origin : `urn:scim-broker:stream:${c.name}`)];
      let row = existing.get(c.name);
      existing.delete(c.name);
      if (!row) row = await repo.insertStream(tx, { ownerTokenId: null, name: c.name, iss: d.iss, audience, method, endpointUrl, authSealed: null, eventsRequested: events, description: c.description ?? null }, now);
      let authSealed: string | null = null;
      if (c.delivery.authorization) {
        const r = resolveReferences(c.delivery.authorization, d.env);
        if (r.missing.length) d.log.error({ code: "SSF_CREDENTIAL_MISSING", stream: c.name, variables: r.missing }, "a stream's authorization header references variables not set in the broker's environment");
        else authSealed = await d.sealer.seal(r.value, authAad(row.id));
      }
      await repo.updateStream(tx, row.id, { method, endpointUrl, authSealed, eventsRequested: events, description: c.description ?? null }, now);
      if (method === PUSH_METHOD && row.status === "enabled") await enqueuePush(tx, row.id);
    }
    for (const gone of existing.values()) await repo.deleteStream(tx, gone.id);
  });
}
