// Loopback SaaS apps for the fan-out benchmark, run as their OWN process (`node --import tsx
// scripts/bench/fanout-apps.ts <group>:<count> …`) so they do not share the broker's or the load generator's
// event loop. Each app is a real SCIM endpoint on its own port (its own keep-alive pool on the broker's
// side), kept deliberately cheap so the benchmark measures the broker: users indexed by id and by
// lower(userName), filters parsed by scimmy but only `userName eq` served, PATCH with the two shapes the
// broker sends (path-less replace of attributes; replace of `active`), PUT, DELETE, ServiceProviderConfig.
//
// Control server (one port): GET /_wait?group=g&userName=u&n=N → answers when N apps of group g show u
// disabled, with the epoch-ms instants (performance.timeOrigin + now(), sub-ms) at which each app applied it;
// GET /_stats?group=g → { users, active, requests, firstAt, lastAt };
// GET /_outage?app=a&mode=refuse|hang|off → an outage of one app: `refuse` closes its port (connections
// refused, open keep-alive sockets reset), `hang` accepts requests and never answers them (held until the
// client gives up), `off` serves again on the same port.
// Prints one JSON line on stdout: { control, apps: [{ name, group, url }] }.
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import SCIMMY from "scimmy";

const epoch = () => performance.timeOrigin + performance.now();
const TOKEN = process.env.BENCH_APP_TOKEN ?? "bench-app-token";

interface User { id: string; userName: string; active: boolean; [k: string]: unknown }
class App {
  readonly users = new Map<string, User>();
  readonly byName = new Map<string, string>();
  readonly disabledAt = new Map<string, number>();
  requests = 0;
  firstAt = 0;
  lastAt = 0;
  #seq = 0;
  constructor(readonly name: string, readonly group: string) {}

  handle(method: string, segments: string[], query: URLSearchParams, body: any): { status: number; body?: unknown } {
    const [type, id] = segments;
    if (type === "ServiceProviderConfig") return { status: 200, body: { patch: { supported: true }, filter: { supported: true, maxResults: 200 } } };
    if (type !== "Users") return { status: 404, body: err(404, "no such endpoint") };
    if (id === undefined && method === "GET") {
      const filter = query.get("filter");
      let found: User[] = [...this.users.values()].slice(0, 200);
      if (filter) {
        const [branch] = [...new SCIMMY.Types.Filter(filter)] as Array<Record<string, unknown>>;
        const cmp = branch?.userName as unknown[] | undefined;
        if (!cmp || cmp[0] !== "eq") return { status: 400, body: err(400, "only userName eq is supported", "invalidFilter") };
        const hit = this.byName.get(String(cmp[1]).toLowerCase());
        found = hit ? [this.users.get(hit)!] : [];
      }
      return { status: 200, body: { schemas: ["urn:ietf:params:scim:api:messages:2.0:ListResponse"], totalResults: found.length, startIndex: 1, itemsPerPage: found.length, Resources: found } };
    }
    if (id === undefined && method === "POST") {
      const key = String(body?.userName ?? "").toLowerCase();
      if (!key) return { status: 400, body: err(400, "userName required", "invalidValue") };
      if (this.byName.has(key)) return { status: 409, body: err(409, "userName taken", "uniqueness") };
      const user: User = { ...body, id: `${this.name}-${++this.#seq}`, active: body.active !== false };
      this.users.set(user.id, user);
      this.byName.set(key, user.id);
      return { status: 201, body: user };
    }
    const user = id === undefined ? undefined : this.users.get(id);
    if (!user) return { status: 404, body: err(404, `User ${id} not found`) };
    if (method === "GET") return { status: 200, body: user };
    if (method === "DELETE") { this.users.delete(user.id); this.byName.delete(user.userName.toLowerCase()); return { status: 204 }; }
    if (method === "PUT") { Object.assign(user, body, { id: user.id }); this.#activeChanged(user); return { status: 200, body: user }; }
    if (method === "PATCH") {
      for (const op of (body?.Operations ?? []) as Array<{ op: string; path?: string; value?: any }>) {
        if (op.path === undefined && op.value && typeof op.value === "object") Object.assign(user, op.value);
        else if (op.path?.toLowerCase() === "active") user.active = op.value === true || op.value === "True";
        else return { status: 400, body: err(400, `unsupported op ${op.op} ${op.path}`, "invalidPath") };
      }
      this.#activeChanged(user);
      return { status: 200, body: user };
    }
    return { status: 405, body: err(405, "method not allowed") };
  }

  #activeChanged(user: User) {
    user.active = user.active !== false && (user.active as unknown) !== "False";
    if (!user.active && !this.disabledAt.has(user.userName.toLowerCase())) {
      this.disabledAt.set(user.userName.toLowerCase(), epoch());
      for (const w of [...waiters]) w();
    }
  }
}

/** Per app: its server (to close and re-open its port), the outage mode and the sockets it holds. */
const outages = new Map<App, { server: import("node:http").Server; port: number; mode: "off" | "refuse" | "hang"; sockets: Set<import("node:net").Socket> }>();

const err = (status: number, detail: string, scimType?: string) => ({ schemas: ["urn:ietf:params:scim:api:messages:2.0:Error"], status: String(status), detail, ...(scimType ? { scimType } : {}) });
const waiters = new Set<() => void>();
const apps: App[] = [];

async function serve(app: App): Promise<string> {
  const server = createServer(async (req: IncomingMessage, res: ServerResponse) => {
    if (outages.get(app)?.mode === "hang") return; // accepted, never answered
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const text = Buffer.concat(chunks).toString("utf8");
    const t = epoch();
    app.requests++;
    app.firstAt ||= t;
    app.lastAt = t;
    let reply: { status: number; body?: unknown };
    if (req.headers.authorization !== `Bearer ${TOKEN}`) reply = { status: 401, body: err(401, "authentication required") };
    else {
      const url = new URL(req.url ?? "/", "http://x");
      const segments = url.pathname.replace(/^\/scim\/v2/, "").split("/").filter(Boolean).map(decodeURIComponent);
      try {
        reply = app.handle(req.method ?? "GET", segments, url.searchParams, text ? JSON.parse(text) : undefined);
      } catch (e) {
        reply = { status: 400, body: err(400, (e as Error).message, "invalidSyntax") };
      }
    }
    // A refused write is a dead letter on the broker's side (a 4xx is final): say which request it was, so a
    // benchmark's dead letters can be told apart as the app's limits or the broker's requests. Refused
    // look-ups are not printed: the broker's matching skips filters an app cannot serve.
    if (reply.status === 400 && req.method !== "GET")
      process.stderr.write(`[${app.name}] refused ${req.method} ${req.url}: ${text.slice(0, 600)} → ${JSON.stringify(reply.body)}\n`);
    if (reply.body === undefined || reply.status === 204) { res.writeHead(reply.status); res.end(); return; }
    res.writeHead(reply.status, { "content-type": "application/scim+json" });
    res.end(JSON.stringify(reply.body));
  });
  server.keepAliveTimeout = 120_000;
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const port = (server.address() as { port: number }).port;
  const sockets = new Set<import("node:net").Socket>();
  server.on("connection", (s) => { sockets.add(s); s.on("close", () => sockets.delete(s)); });
  outages.set(app, { server, port, mode: "off", sockets });
  return `http://127.0.0.1:${port}/scim/v2`;
}

async function setOutage(app: App, mode: "off" | "refuse" | "hang"): Promise<void> {
  const o = outages.get(app)!;
  if (o.mode === "refuse" && mode !== "refuse") await new Promise<void>((r) => o.server.listen(o.port, "127.0.0.1", () => r()));
  if (mode === "refuse") {
    await new Promise<void>((r) => { o.server.close(() => r()); for (const s of o.sockets) s.destroy(); });
  }
  o.mode = mode;
}

async function main() {
  const out: Array<{ name: string; group: string; url: string }> = [];
  for (const spec of process.argv.slice(2)) {
    const [group, count] = spec.split(":");
    for (let i = 0; i < Number(count); i++) {
      const app = new App(`${group}${i}`, group!);
      apps.push(app);
      out.push({ name: app.name, group: app.group, url: await serve(app) });
    }
  }
  const control = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://x");
    const group = url.searchParams.get("group") ?? "";
    const members = apps.filter((a) => a.group === group);
    const send = (body: unknown) => { res.writeHead(200, { "content-type": "application/json" }); res.end(JSON.stringify(body)); };
    if (url.pathname === "/_stats") {
      let users = 0, active = 0, requests = 0, firstAt = Infinity, lastAt = 0;
      for (const a of members) {
        users += a.users.size; requests += a.requests;
        for (const u of a.users.values()) if (u.active) active++;
        if (a.firstAt) firstAt = Math.min(firstAt, a.firstAt);
        lastAt = Math.max(lastAt, a.lastAt);
      }
      return send({ users, active, requests, firstAt: Number.isFinite(firstAt) ? firstAt : null, lastAt });
    }
    if (url.pathname === "/_outage") {
      const app = apps.find((a) => a.name === url.searchParams.get("app"));
      const mode = url.searchParams.get("mode") as "off" | "refuse" | "hang";
      if (!app || !["off", "refuse", "hang"].includes(mode)) { res.writeHead(400); res.end(); return; }
      void setOutage(app, mode).then(() => send({ app: app.name, mode, at: epoch() }));
      return;
    }
    if (url.pathname === "/_wait") {
      const userName = (url.searchParams.get("userName") ?? "").toLowerCase();
      const n = Number(url.searchParams.get("n") ?? members.length);
      const check = () => {
        const times = members.map((a) => a.disabledAt.get(userName)).filter((t): t is number => t !== undefined);
        if (times.length < n) return false;
        waiters.delete(check as () => void);
        send({ times });
        return true;
      };
      if (!check()) waiters.add(check as () => void);
      return;
    }
    res.writeHead(404); res.end();
  });
  await new Promise<void>((r) => control.listen(0, "127.0.0.1", () => r()));
  console.log(JSON.stringify({ control: (control.address() as { port: number }).port, token: TOKEN, apps: out }));
}

main().catch((e) => { console.error(e); process.exit(1); });
