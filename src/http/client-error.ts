// Requests that Node's HTTP parser refuses before express sees them — headers over the size limit (431),
// a malformed request line or header (400), a header timeout (408) — get no body by default. With a
// `clientError` listener the server writes the answer itself: on SCIM paths an RFC 7644 §3.12 error body,
// on admin paths the admin error shape (README "Stable error codes"), elsewhere Node's bare answer.
import type { Server } from "node:http";
import type { Socket } from "node:net";
import { ERROR_SCHEMA } from "../scim/schemas.ts";

const STATUS: Record<string, [number, string, string]> = {
  HPE_HEADER_OVERFLOW: [431, "Request Header Fields Too Large", "the request headers exceed the server's limit"],
  HPE_REQUEST_TIMEOUT: [408, "Request Timeout", "the request headers did not arrive in time"],
};

/** The request path from the raw bytes Node could read, when its request line is complete. */
function pathOf(raw: Buffer | undefined): string | undefined {
  const line = raw?.subarray(0, 8192).toString("latin1").split("\r\n", 1)[0];
  return line ? /^[A-Z]+ (\S+) HTTP\/1\.[01]$/.exec(line)?.[1] ?? /^[A-Z]+ (\/\S*)/.exec(line)?.[1] : undefined;
}

export function clientErrorResponse(code: string | undefined, raw: Buffer | undefined): string {
  const [status, reason, message] = STATUS[code ?? ""] ?? [400, "Bad Request", "the request is not valid HTTP/1.1"];
  const path = pathOf(raw) ?? "";
  let body = "", type = "";
  if (/^\/scim\/v2(\/|\?|$)/i.test(path)) {
    type = "application/scim+json; charset=utf-8";
    body = JSON.stringify({ schemas: [ERROR_SCHEMA], status: String(status), detail: message });
  } else if (/^\/admin\/v1(\/|\?|$)/i.test(path)) {
    type = "application/json; charset=utf-8";
    body = JSON.stringify({ error: { code: status === 431 ? "REQUEST_HEADERS_TOO_LARGE" : "BAD_REQUEST", message } });
  }
  const headers = [`HTTP/1.1 ${status} ${reason}`, "Connection: close", ...(body ? [`Content-Type: ${type}`, `Content-Length: ${Buffer.byteLength(body)}`] : ["Content-Length: 0"])];
  return `${headers.join("\r\n")}\r\n\r\n${body}`;
}

/** Installs the listener on `server` (called once from the broker's listen()). */
export function answerClientErrors(server: Server): void {
  server.on("clientError", (err: NodeJS.ErrnoException & { rawPacket?: Buffer }, socket: Socket) => {
    if (err.code === "ECONNRESET" || !socket.writable) { socket.destroy(); return; }
    socket.end(clientErrorResponse(err.code, err.rawPacket));
  });
}
