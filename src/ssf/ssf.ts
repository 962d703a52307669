// Composition of the SSF layer (OpenID Shared Signals Framework 1.0 transmitter, docs/ssf.md), called once
// by the composition root (broker.ts): the FanoutPort that writes SETs in the HR transaction (combined with
// the fan-out's), the push task, the HTTP routes, and start() — signing key on first start, streams
// declared in broker.yaml.
import type { TaskList } from "graphile-worker";
import type pg from "pg";
import type { Registry } from "prom-client";
import type { Router } from "express";
import type { Authenticator } from "../auth/authenticator.ts";
import type { Clock } from "../domain/clock.ts";
import type { Logger } from "../shared/logger.ts";
import { createSealer } from "./sealer.ts";
import { SigningKeys } from "./keys.ts";
import { createSsfMetrics } from "./metrics.ts";
import { SsfOutbox } from "./outbox.ts";
import { StreamPresence } from "./stream-presence.ts";
import type { NotificationListener } from "../store/notification-listener.ts";
import { pushTask, type PushSettings } from "./push-task.ts";
import { PUSH_TASK } from "./push-jobs.ts";
import { StreamService } from "./stream-service.ts";
import { ssfRouter } from "./stream-routes.ts";
import { syncDeclaredStreams } from "./declared-streams.ts";
import type { SsfStreamConfig } from "../domain/ssf-stream-config.ts";
import * as sets from "./set-repository.ts";
import { createReceiver, type ReceiverRoutes } from "./receiver.ts";
import { deactivateWith, type UserPatcher } from "./receiver-deactivate.ts";
import type { SsfReceiveIssuer } from "../domain/ssf-stream-config.ts";

export const EXPIRE_TASK = "ssf:expire";

export interface SsfOptions {
  pool: pg.Pool;
  log: Logger;
  clock: Clock;
  registry: Registry;
  /** where the key for secrets at rest comes from (the same as the fan-out's) */
  secrets: { secretKey?: string; dataDir: string };
  /** BROKER_PUBLIC_URL: the issuer; without it, the origin a request reached */
  publicUrl?: string;
  /** push retries (the fan-out's backoff settings) and the SET time-to-live */
  settings: Pick<PushSettings, "backoffBaseMs" | "backoffMaxMs" | "quarantineAfter"> & { setTtlMs: number };
  /** the streams broker.yaml declares (read at start) */
  declared?: () => readonly SsfStreamConfig[];
  /** the issuers whose SETs the broker accepts (broker.yaml `ssf.receive.issuers`, read per request) */
  receiving?: () => readonly SsfReceiveIssuer[];
  env?: Readonly<Record<string, string | undefined>>;
  /** the process's LISTEN connection: with it, whether any stream is live is known without a read */
  notifications?: NotificationListener;
}

export function createSsf(o: SsfOptions) {
  const log = o.log.child({ component: "ssf" });
  const sealer = createSealer(o.secrets);
  const keys = new SigningKeys(o.pool, sealer, o.clock, o.settings.setTtlMs);
  const metrics = createSsfMetrics(o.registry);
  const presence = new StreamPresence(o.notifications);
  const streams = new StreamService(o.pool, sealer, o.clock, presence);
  const port = new SsfOutbox(metrics, presence);
  const settings: PushSettings = { ...o.settings, timeoutMs: 10_000, batch: 100 };
  const tasks: TaskList = {
    [PUSH_TASK]: pushTask({ pool: o.pool, keys, sealer, clock: o.clock, log, metrics, settings }),
    [EXPIRE_TASK]: async () => { await sets.expire(o.pool, new Date(o.clock.now().getTime() - o.settings.setTtlMs)); },
  };
  return {
    port, tasks, keys, streams, metrics, presence,
    /** graphile-worker cron: SETs owed past their time-to-live expire (RFC 8936 §2.4), every ten minutes. */
    crontab: [`*/10 * * * * ${EXPIRE_TASK}`],
    router: (auth: Authenticator, receiver?: ReceiverRoutes): Router =>
      ssfRouter({ auth, log, pool: o.pool, clock: o.clock, keys, streams, metrics, publicUrl: o.publicUrl, setTtlMs: o.settings.setTtlMs, receiver }),
    /** The receiver side (POST /ssf/receive): SETs from trusted issuers become lifecycle input via the user service. */
    receiver: (auth: Authenticator, users: UserPatcher): ReceiverRoutes =>
      createReceiver({ auth, pool: o.pool, clock: o.clock, log, issuers: o.receiving ?? (() => []), deactivate: deactivateWith(users) }),
    /** A signing key exists (first start), and broker.yaml's streams are rows. */
    async start(): Promise<void> {
      await keys.ensure();
      const declared = o.declared?.() ?? [];
      if (declared.length && !o.publicUrl) log.warn({ code: "SSF_NO_PUBLIC_URL" }, "broker.yaml declares SSF streams but BROKER_PUBLIC_URL is not set: their SETs name http://localhost as issuer");
      await syncDeclaredStreams({ pool: o.pool, sealer, clock: o.clock, log, env: o.env ?? {}, iss: (o.publicUrl ?? "http://localhost").replace(/\/+$/, "") }, declared);
    },
    /** Delivers what a push stream owes now, whatever its backoff (operator, tests). */
    retryNow: (streamId: string) => streams.retryNow(streamId),
    rotateKeys: () => keys.rotate(),
  };
}
export type Ssf = ReturnType<typeof createSsf>;
