// Shared plumbing of the fake SaaS apps: a real node:http server on 127.0.0.1:0 (no express: starting twenty
// of them per test file must cost milliseconds), bearer/basic auth, JSON bodies, a request log with
// timestamps, a connection counter (to prove keep-alive) and an optional artificial delay.
import { closeNow, listenOnLoopback } from "./loopback.ts";
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from "node:http";
import SCIMMY from "scimmy";

export const BASE_PATH = "/scim/v2";
export const ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error";

export interface LoggedRequest {
  /** Date.now() when the request arrived. */
  at: number;
  method: string;
  /** Path below the base path, e.g. "/Users/123" (still URL-encoded). */
  path: string;
  query: Record<string, string>;
  headers: IncomingHttpHeaders;
  body: unknown;
  status: number;
  durationMs: number;
}

export interface FakeAuth {
  bearer?: string;
  basic?: { username: string; password: string };
}

export interface ParsedRequest {
  method: string;
  /** Decoded path segments below the base path: ["Users", "usr_1@x"]. */
  segments: string[];
  query: URLSearchParams;
  body: unknown;
  headers: IncomingHttpHeaders;
}

export interface Reply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

/** An RFC 7644 §3.12 error a handler throws; becomes the error body. */
export class ScimHttpError extends Error {
  constructor(
    readonly status: number,
    readonly scimType: string | undefined,
    detail: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(detail);
  }
}

export function scimError(status: number, scimType: string | undefined, detail: string): Reply {
  return { status, body: { schemas: [ERROR_SCHEMA], status: String(status), ...(scimType ? { scimType } : {}), detail } };
}

export abstract class FakeScimServer {
  readonly requests: LoggedRequest[] = [];
  /** TCP connections accepted so far; with keep-alive, far fewer than requests. */
  connections = 0;
  /** Milliseconds added before every response. */
  delayMs = 0;
  auth: FakeAuth;
  #server: Server | undefined;
  #port = 0;

  constructor(auth: FakeAuth) {
    this.auth = auth;
  }

  /** SCIM base URL, e.g. http://127.0.0.1:41234/scim/v2 */
  get url(): string {
    if (!this.#server) throw new Error("fake app not started");
    return `http://127.0.0.1:${this.#port}${BASE_PATH}`;
  }
  get origin(): string {
    return `http://127.0.0.1:${this.#port}`;
  }

  async start(): Promise<this> {
    const server = createServer((req, res) => void this.#serve(req, res));
    server.on("connection", () => this.connections++);
    this.#port = await listenOnLoopback(server);
    this.#server = server;
    return this;
  }

  async stop(): Promise<void> {
    const server = this.#server;
    if (!server) return;
    this.#server = undefined;
    await closeNow(server);
  }

  /** Requests whose method and path (below the base) match. */
  requestsTo(method: string, pathPrefix = ""): LoggedRequest[] {
    return this.requests.filter((r) => r.method === method && r.path.startsWith(pathPrefix));
  }

  protected abstract handle(req: ParsedRequest): Promise<Reply> | Reply;

  /** Subclasses may refuse before routing (throttling, outages). */
  protected intercept(_req: ParsedRequest): Reply | undefined {
    return undefined;
  }

  async #serve(req: import("node:http").IncomingMessage, res: ServerResponse): Promise<void> {
    const started = Date.now();
    const url = new URL(req.url ?? "/", "http://fake");
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks).toString("utf8");
    let body: unknown;
    let reply: Reply;
    try {
      body = raw === "" ? undefined : JSON.parse(raw);
    } catch {
      body = raw;
    }
    const path = url.pathname.startsWith(BASE_PATH) ? url.pathname.slice(BASE_PATH.length) : url.pathname;
    const parsed: ParsedRequest = {
      method: req.method ?? "GET",
      segments: path.split("/").filter(Boolean).map(decodeURIComponent),
      query: url.searchParams,
      body,
      headers: req.headers,
    };
    try {
      if (this.delayMs > 0) await new Promise((r) => setTimeout(r, this.delayMs));
      if (typeof body === "string") reply = scimError(400, "invalidSyntax", "body is not JSON");
      else if (!this.#authorised(req.headers.authorization))
        reply = { ...scimError(401, undefined, "authentication required"), headers: { "www-authenticate": 'Bearer realm="fake"' } };
      else reply = this.intercept(parsed) ?? (await this.handle(parsed));
    } catch (e) {
      reply = toReply(e);
    }
    const headers: Record<string, string> = { ...(reply.headers ?? {}) };
    let payload: string | undefined;
    if (reply.body !== undefined && reply.status !== 204) {
      payload = JSON.stringify(reply.body);
      headers["content-type"] ??= "application/scim+json";
    }
    res.writeHead(reply.status, headers);
    res.end(payload);
    this.requests.push({
      at: started,
      method: parsed.method,
      path,
      query: Object.fromEntries(url.searchParams),
      headers: req.headers,
      body,
      status: reply.status,
      durationMs: Date.now() - started,
    });
  }

  #authorised(header: string | undefined): boolean {
    if (!header) return false;
    const [scheme, credentials = ""] = header.split(" ", 2);
    if (this.auth.bearer !== undefined && scheme?.toLowerCase() === "bearer") return credentials === this.auth.bearer;
    if (this.auth.basic && scheme?.toLowerCase() === "basic") {
      const { username, password } = this.auth.basic;
      return credentials === Buffer.from(`${username}:${password}`).toString("base64");
    }
    return false;
  }
}

/** scimmy errors carry status/scimType (RFC 7644 §3.12); coerce() throws TypeError for schema violations. */
export function toReply(e: unknown): Reply {
  if (e instanceof ScimHttpError) return { ...scimError(e.status, e.scimType, e.message), headers: e.headers };
  if (e instanceof SCIMMY.Types.Error) return scimError(e.status, e.scimType ?? undefined, e.message);
  if (e instanceof TypeError) return scimError(400, "invalidValue", e.message);
  return scimError(500, undefined, e instanceof Error ? e.message : String(e));
}

/** Parses startIndex/count (RFC 7644 §3.4.2.4): 1-based, non-positive startIndex means 1, count capped. */
export function paging(query: URLSearchParams, maxResults: number): { startIndex: number; count: number } {
  const start = Number.parseInt(query.get("startIndex") ?? "1", 10);
  const count = Number.parseInt(query.get("count") ?? String(maxResults), 10);
  return {
    startIndex: Number.isFinite(start) && start > 0 ? start : 1,
    count: Math.min(Number.isFinite(count) && count >= 0 ? count : maxResults, maxResults),
  };
}
