// One HTTP exchange on an undici dispatcher, with a hard overall deadline. Kept apart from the SCIM client so
// the OAuth2 token request shares the same timeout and failure classification.
//
// Keep-alive matters for latency: a leaver fans out to ~20 apps with a p99 ≤ 100 ms target, and a fresh
// TCP+TLS handshake per request would eat most of it. undici pools connections per origin and keeps them
// open; we only size the pool and choose timeouts.
import { Agent, type Dispatcher } from "undici";

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

export interface SendRequest {
  origin: string;
  path: string;
  method: Dispatcher.HttpMethod;
  headers: Record<string, string>;
  body?: string;
  timeoutMs: number;
  signal?: AbortSignal;
}

/** No complete response arrived: the request may or may not have been applied by the app. */
export class TransportError extends Error {
  override readonly name = "TransportError";
  constructor(
    readonly kind: "timeout" | "network" | "aborted",
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export interface AgentOptions {
  /** Connections per origin; default 8 (or the app's rateLimit.concurrency). */
  connections?: number;
  connectTimeoutMs?: number;
}

/** An Agent (one keep-alive pool per origin, so an OAuth2 token URL on another host is pooled too). */
export function createAgent(options: AgentOptions = {}): Agent {
  return new Agent({
    connections: options.connections ?? 8,
    // No pipelining: a slow PATCH must not hold up the next request queued on the same socket.
    pipelining: 1,
    keepAliveTimeout: 30_000,
    keepAliveMaxTimeout: 600_000,
    connect: { timeout: options.connectTimeoutMs ?? 5_000 },
  });
}

const UNDICI_TIMEOUTS = new Set(["UND_ERR_CONNECT_TIMEOUT", "UND_ERR_HEADERS_TIMEOUT", "UND_ERR_BODY_TIMEOUT"]);

export async function send(dispatcher: Dispatcher, req: SendRequest): Promise<RawResponse> {
  const deadline = AbortSignal.timeout(req.timeoutMs);
  const signal = req.signal ? AbortSignal.any([deadline, req.signal]) : deadline;
  try {
    const res = await dispatcher.request({
      origin: req.origin,
      path: req.path,
      method: req.method,
      headers: req.headers,
      body: req.body,
      signal,
      headersTimeout: req.timeoutMs,
      bodyTimeout: req.timeoutMs,
    });
    // Always drain the body, or the socket is not returned to the pool.
    const text = await res.body.text();
    return { status: res.statusCode, headers: res.headers, text };
  } catch (e) {
    // A caller's own deadline (AbortSignal.timeout, e.g. a connection test's) is a timeout too, not an abort.
    const callerTimeout = (req.signal?.reason as Error | undefined)?.name === "TimeoutError";
    if (req.signal?.aborted && !deadline.aborted && !callerTimeout) throw new TransportError("aborted", "request aborted by caller", { cause: e });
    const code = (e as { code?: string }).code;
    if (deadline.aborted || callerTimeout || (code !== undefined && UNDICI_TIMEOUTS.has(code)))
      throw new TransportError("timeout", `no response within ${req.timeoutMs} ms`, { cause: e });
    // Only the error code/name: messages of some errors embed the request URL, never the headers.
    throw new TransportError("network", code ?? (e as Error).name ?? "network error", { cause: e });
  }
}
