// The apps of the active policy, each with what delivering to it needs at run time: its outbound SCIM
// client (keep-alive pool, auth, dialect, mapping, the per-app rate limiter), the compiled `assign`
// condition and its pushed groups. Fed by the composition root with Policy.apps at start and on every
// policy reload; an app whose entry did not change keeps its client (and its open connections, its OAuth2
// token, its limiter state).
import { systemClock, type Clock } from "../../domain/clock.ts";
import type { AppConfig } from "../../domain/app-config.ts";
import { redactAppConfig } from "../../domain/app-config.ts";
import type { RateLimiter } from "../client/rate-limiter.ts";
import { createScimClient, type ResponseEvent, type ScimClient, type ScimResource } from "../client/scim-client.ts";
import { compileCondition } from "../../rules/condition.ts";
import type { Logger } from "../../shared/logger.ts";
import type { TokenVault } from "./token-vault.ts";

/** How long a failed /ServiceProviderConfig read is trusted before discovery is tried again. */
const REDISCOVER_AFTER_MS = 60_000;

export interface AppRuntimeOptions {
  workerConcurrency: number;
  onResponse?: (e: ResponseEvent) => void;
  /** Shared, encrypted OAuth2 tokens (token-vault.ts). */
  tokens?: TokenVault;
  /** The server's environment, for credentials' `${VAR}` references (resolved when used, client/app-auth.ts). */
  env?: Readonly<Record<string, string | undefined>>;
  /** The broker's clock (monotonic side): when to look at a failed discovery again. */
  clock?: Pick<Clock, "monotonic">;
}

export class AppRuntime {
  readonly name: string;
  readonly client: ScimClient;
  /** Deliveries of this app in flight in this process (admission, see delivery/fanout-context.ts). */
  inFlight = 0;
  /** Smoothed delivery duration (ms), used to spread re-scheduled jobs instead of re-running them in waves. */
  avgDeliveryMs = 5;
  /** Next free admission slot (the clock's monotonic ms) handed to a job that had to wait (see admissionDelay). */
  nextSlotAt = 0;
  readonly #matches: (user: Record<string, unknown>) => boolean;
  readonly groups: ReadonlySet<string>;
  #discovered: Promise<void> | undefined;
  #discoveryFailedAt = Number.NEGATIVE_INFINITY;
  readonly #clock: Pick<Clock, "monotonic">;

  constructor(readonly config: AppConfig, opts: AppRuntimeOptions) {
    this.name = config.name;
    this.#clock = opts.clock ?? systemClock;
    this.client = createScimClient(config, { onResponse: opts.onResponse, tokenCache: opts.tokens?.cacheFor(config), env: opts.env });
    this.#matches = compileCondition(config.assign).matches;
    this.groups = new Set(config.groups);
  }

  get limiter(): RateLimiter | null {
    return this.client.limiter;
  }

  /** The broker's User → this app's resource (mapping + dialect). */
  mapUser(user: ScimResource): ScimResource {
    return this.client.mapUser(user);
  }

  /** app.assign evaluated on the broker's SCIM User (RFC 7644 §3.4.2.2 semantics of filter-match.ts). */
  isAssigned(user: ScimResource): boolean {
    return this.#matches(user);
  }

  /**
   * Reads the app's /ServiceProviderConfig once (PATCH support, page size) before the first delivery. An
   * app that is down fails the delivery as retryable; an app without discovery keeps configured defaults.
   */
  async ready(signal?: AbortSignal): Promise<void> {
    if (this.#discovered === undefined && this.#clock.monotonic() - this.#discoveryFailedAt > REDISCOVER_AFTER_MS) {
      this.#discovered = this.client.discover(signal).then(
        () => undefined,
        (e: unknown) => {
          this.#discovered = undefined;
          this.#discoveryFailedAt = this.#clock.monotonic();
          throw e;
        },
      );
    }
    // Within REDISCOVER_AFTER_MS of a failure, deliveries proceed with the configured dialect: an app
    // whose discovery endpoint alone is broken must still be served.
    if (this.#discovered) await this.#discovered;
  }

  /** Cheap liveness request (Entra's "test connection"): a filter that matches nobody must answer 200. */
  async probe(signal?: AbortSignal): Promise<{ ms: number }> {
    const started = performance.now();
    await this.client.listUsers(1, 1, `${this.config.matchAttribute} eq "probe-${crypto.randomUUID()}"`, signal);
    return { ms: performance.now() - started };
  }

  /** Records one delivery's duration (exponentially weighted). */
  observe(ms: number): void {
    this.avgDeliveryMs = this.avgDeliveryMs * 0.9 + ms * 0.1;
  }

  close(): Promise<void> {
    return this.client.close();
  }
}

export class AppRegistry {
  #apps = new Map<string, { runtime: AppRuntime; fingerprint: string }>();

  constructor(private readonly opts: AppRuntimeOptions & { log: Logger }) {}

  /**
   * Adopts the policy's apps. Throws (naming the app) when an `assign` condition does not compile, so a
   * bad policy fails the start or the reload instead of silently assigning nobody.
   */
  update(apps: readonly AppConfig[]): void {
    const next = new Map<string, { runtime: AppRuntime; fingerprint: string }>();
    for (const config of apps) {
      const fingerprint = JSON.stringify(config);
      const current = this.#apps.get(config.name);
      if (current && current.fingerprint === fingerprint) {
        next.set(config.name, current);
        continue;
      }
      let runtime: AppRuntime;
      try {
        runtime = new AppRuntime(config, this.opts);
      } catch (e) {
        throw new Error(`app '${config.name}': ${(e as Error).message}`, { cause: e });
      }
      next.set(config.name, { runtime, fingerprint });
      this.opts.log.info({ app: redactAppConfig(config).name, url: config.url, auth: config.auth.type }, current ? "fan-out app updated" : "fan-out app registered");
    }
    for (const [name, old] of this.#apps) {
      if (next.get(name)?.runtime !== old.runtime) void old.runtime.close().catch(() => {});
      if (!next.has(name)) this.opts.log.warn({ app: name }, "fan-out app removed from the policy; its pending deliveries are dropped");
    }
    this.#apps = next;
  }

  get(name: string): AppRuntime | undefined {
    return this.#apps.get(name)?.runtime;
  }

  list(): AppRuntime[] {
    return [...this.#apps.values()].map((a) => a.runtime);
  }

  get size(): number {
    return this.#apps.size;
  }

  async close(): Promise<void> {
    await Promise.all(this.list().map((r) => r.close().catch(() => {})));
    this.#apps.clear();
  }
}

