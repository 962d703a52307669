// PostgreSQL LISTEN on one dedicated connection (not a pool client: it stays open for the process's life),
// shared by every subscriber of the process. A subscriber hears three things: a notification on its channel,
// `lost` (the connection broke — notifications may have been missed from here on) and `ready` (listening
// again; anything cached from before must be dropped). The connection is opened at the first subscription,
// re-opened after a loss with a capped backoff, and closed by close(); a process that never subscribes
// (the CLI) never opens it.
import pg from "pg";

export interface ChannelHandlers {
  message(payload: string): void;
  /** the connection broke: from now on notifications may be missed, until `ready` */
  lost(): void;
  /** LISTEN is in effect (first time or after a loss) */
  ready(): void;
}

export class NotificationListener {
  private readonly channels = new Map<string, Set<ChannelHandlers>>();
  private client: pg.Client | null = null;
  private connecting: Promise<void> | null = null;
  private retry: NodeJS.Timeout | null = null;
  private backoffMs = 100;
  private closed = false;

  constructor(private readonly url: string) {}

  /** Subscribes to a channel (a plain identifier); returns the unsubscribe function. */
  subscribe(channel: string, handlers: ChannelHandlers): () => void {
    if (!/^[a-z_][a-z0-9_]*$/.test(channel)) throw new Error(`channel names are lower-case identifiers (got ${channel})`);
    let set = this.channels.get(channel);
    const fresh = !set;
    if (!set) this.channels.set(channel, (set = new Set()));
    set.add(handlers);
    if (this.client && !this.connecting) {
      if (fresh) this.client.query(`LISTEN ${channel}`).then(() => handlers.ready(), () => this.broken(this.client!));
      else handlers.ready();
    } else if (!this.connecting) this.connect();
    return () => { set!.delete(handlers); };
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.retry) clearTimeout(this.retry);
    await this.connecting?.catch(() => {});
    const c = this.client;
    this.client = null;
    await c?.end().catch(() => {});
  }

  private connect(): void {
    if (this.closed) return;
    const client = new pg.Client({ connectionString: this.url, connectionTimeoutMillis: 5000, keepAlive: true });
    client.on("error", () => this.broken(client));
    client.on("end", () => this.broken(client));
    client.on("notification", (n) => {
      for (const h of this.channels.get(n.channel) ?? []) h.message(n.payload ?? "");
    });
    this.connecting = (async () => {
      try {
        await client.connect();
        for (const ch of this.channels.keys()) await client.query(`LISTEN ${ch}`);
        if (this.closed) { await client.end().catch(() => {}); return; }
        this.client = client;
        this.backoffMs = 100;
        for (const set of this.channels.values()) for (const h of set) h.ready();
      } catch {
        client.end().catch(() => {});
        this.schedule();
      } finally {
        this.connecting = null;
      }
    })();
  }

  private broken(client: pg.Client): void {
    if (this.client !== client) return; // an attempt that never became the listener, or already handled
    this.client = null;
    client.end().catch(() => {});
    for (const set of this.channels.values()) for (const h of set) h.lost();
    this.schedule();
  }

  private schedule(): void {
    if (this.closed || this.retry) return;
    this.retry = setTimeout(() => { this.retry = null; this.connect(); }, this.backoffMs);
    this.retry.unref();
    this.backoffMs = Math.min(this.backoffMs * 2, 5000);
  }
}
