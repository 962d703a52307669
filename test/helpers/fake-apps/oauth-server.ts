// A fake OAuth2 token endpoint for the client-credentials grant (RFC 6749 §4.4): checks the client's Basic
// credentials (§2.3.1), issues numbered tokens and calls `onIssue` so a test can make a fake app accept them.
import { closeNow, listenOnLoopback } from "./loopback.ts";
import { createServer, type Server } from "node:http";

export interface FakeOAuthOptions {
  clientId: string;
  clientSecret: string;
  /** expires_in of issued tokens; default 3600. */
  expiresIn?: number;
  onIssue?: (token: string) => void;
}

export class FakeOAuthServer {
  readonly issued: string[] = [];
  /** Form bodies received (grant_type, scope). */
  readonly requests: Array<Record<string, string>> = [];
  /** Answer every token request with this status instead (e.g. 503, 401). */
  failWith: number | null = null;
  #server: Server | undefined;
  #port = 0;

  constructor(readonly options: FakeOAuthOptions) {}

  get tokenUrl(): string {
    return `http://127.0.0.1:${this.#port}/oauth2/token`;
  }

  async start(): Promise<this> {
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const form = Object.fromEntries(new URLSearchParams(Buffer.concat(chunks).toString("utf8")));
        this.requests.push(form);
        const expected = `Basic ${Buffer.from(`${encodeURIComponent(this.options.clientId)}:${encodeURIComponent(this.options.clientSecret)}`).toString("base64")}`;
        const send = (status: number, body: unknown) => {
          res.writeHead(status, { "content-type": "application/json", "cache-control": "no-store" });
          res.end(JSON.stringify(body));
        };
        if (this.failWith !== null) return send(this.failWith, { error: "temporarily_unavailable" });
        if (req.headers.authorization !== expected) return send(401, { error: "invalid_client" });
        if (form.grant_type !== "client_credentials") return send(400, { error: "unsupported_grant_type" });
        const token = `oauth-token-${this.issued.length + 1}-${Math.random().toString(36).slice(2)}`;
        this.issued.push(token);
        this.options.onIssue?.(token);
        send(200, { access_token: token, token_type: "Bearer", expires_in: this.options.expiresIn ?? 3600 });
      });
    });
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
}
