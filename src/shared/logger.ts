// pino logger with secrets redacted at the source: tokens and app credentials never reach a log line.
// Two layers: `redact` removes known secret fields of logged objects; every finished line then goes through
// scrubSecrets, which removes query strings of URLs (they may carry a token, RFC 6750 §2.3 / §5.3) and
// anything that looks like a credential (bearer/basic values, the broker's own `scb_` tokens, secret-named
// parameters) wherever it appears — in a message, an error's text or its stack.
import { pino, type Logger, type DestinationStream } from "pino";

export type { Logger };
export const REDACT_PATHS = [
  "req.headers.authorization", "headers.authorization", "authorization", "token", "password",
  "*.token", "*.password", "*.clientSecret", "*.secret", "auth.token", "auth.password", "auth.clientSecret",
];

const SCRUBBERS: Array<[RegExp, string]> = [
  // Authorization values: `Bearer abc…`, `Basic dXNl…`.
  [/\b(Bearer|Basic)(\s+|%20)[A-Za-z0-9._~+/=-]{4,}/gi, "$1$2[redacted]"],
  // Credentials in a URL's userinfo: postgresql://user:secret@host → postgresql://[redacted]@host.
  [/\b([a-z][a-z0-9+.-]*:\/\/)[^\s/:@"'\\]+:[^\s/@"'\\]+@/gi, "$1[redacted]@"],
  // The broker's own API tokens (token-store.ts: `scb_` + base64url).
  [/\bscb_[A-Za-z0-9_-]{8,}/g, "scb_[redacted]"],
  // Secret-named parameters anywhere (query strings, form bodies, "key=value" in messages).
  [/\b(access_token|refresh_token|id_token|client_secret|password|passwd|api_?key|apikey|secret|token|sig|signature)=[^&\s"'\\]*/gi, "$1=[redacted]"],
  // Every other query string of a URL or path: /scim/v2/Users?filter=… → /scim/v2/Users?[redacted]
  [/((?:\bhttps?:\/\/[^\s?#"'\\]*)|(?:^|[\s"'(=])\/[^\s?#"'\\]*)\?[^\s#"'\\]+/g, "$1?[redacted]"],
];

/** Removes query strings and credential-looking values from a string (a finished log line, a message). */
export function scrubSecrets(line: string): string {
  let out = line;
  for (const [re, to] of SCRUBBERS) out = out.replace(re, to);
  return out;
}

export interface LoggerOptions {
  level: string;
  pretty?: boolean;
  /** where lines go (default stdout); tests pass a collector */
  destination?: DestinationStream;
}

export function createLogger(opts: LoggerOptions): Logger {
  const target = opts.destination ?? pino.destination({ dest: 1, sync: true });
  const scrubbed: DestinationStream = { write: (line: string) => target.write(scrubSecrets(line)) };
  return pino({ level: opts.level, redact: { paths: REDACT_PATHS, censor: "[redacted]" }, base: { service: "scim-broker" } }, scrubbed);
}
