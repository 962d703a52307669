// Shared by the SSF tests: a real SSF receiver on loopback (RFC 8935 push endpoint) that records every SET
// it is sent and can answer 503 for a while, and a receiver's client of the broker's SSF API.
import { createServer, type Server } from "node:http";
import request from "supertest";
import { createRemoteJWKSet, jwtVerify, type JWTPayload } from "jose";

export interface FakeReceiver {
  url: string;
  /** the compact SETs received, in order */
  received: string[];
  /** answer this status (with Retry-After) instead of 202 while set */
  failWith: { status: number; retryAfter?: string } | null;
  attempts: number;
  authorization: Array<string | undefined>;
  close(): Promise<void>;
}

export async function startReceiver(): Promise<FakeReceiver> {
  const r: FakeReceiver = { url: "", received: [], failWith: null, attempts: 0, authorization: [], close: async () => {} };
  const server: Server = createServer((req, res) => {
    let body = "";
    req.setEncoding("utf8");
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      r.attempts++;
      if (r.failWith) {
        res.writeHead(r.failWith.status, r.failWith.retryAfter ? { "Retry-After": r.failWith.retryAfter } : {});
        res.end();
        return;
      }
      if (req.headers["content-type"] !== "application/secevent+jwt") { res.writeHead(400, { "Content-Type": "application/json" }); res.end(JSON.stringify({ err: "invalid_request" })); return; }
      r.received.push(body);
      r.authorization.push(req.headers.authorization);
      res.writeHead(202);
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  r.url = `http://127.0.0.1:${(server.address() as { port: number }).port}/events`;
  r.close = () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); });
  return r;
}

/** A receiver's view of the broker's SSF API, authenticated with its own token. */
export function ssfClient(brokerUrl: string, token: string) {
  const auth = { Authorization: `Bearer ${token}` };
  return {
    get: (path: string, query?: Record<string, unknown>) => request(brokerUrl).get(path).query(query ?? {}).set(auth),
    post: (path: string, body: unknown) => request(brokerUrl).post(path).set(auth).send(body as object),
    patch: (path: string, body: unknown) => request(brokerUrl).patch(path).set(auth).send(body as object),
    put: (path: string, body: unknown) => request(brokerUrl).put(path).set(auth).send(body as object),
    del: (path: string, query: Record<string, unknown>) => request(brokerUrl).delete(path).query(query).set(auth),
  };
}

/** Verifies a SET as an outside receiver would: the published JWKS, the issuer, typ secevent+jwt. */
export async function verifySet(jws: string, metadata: { issuer: string; jwks_uri: string }): Promise<JWTPayload & Record<string, any>> {
  const jwks = createRemoteJWKSet(new URL(metadata.jwks_uri));
  const { payload } = await jwtVerify(jws, jwks, { issuer: metadata.issuer, typ: "secevent+jwt" });
  return payload as JWTPayload & Record<string, any>;
}

export const eventTypeOf = (p: Record<string, any>) => Object.keys(p.events ?? {})[0];
