// pino logger with secrets redacted at the source: tokens and app credentials never reach a log line.
import { pino, type Logger } from "pino";

export type { Logger };
export const REDACT_PATHS = [
  "req.headers.authorization", "headers.authorization", "authorization", "token", "password",
  "*.token", "*.password", "*.clientSecret", "*.secret", "auth.token", "auth.password", "auth.clientSecret",
];

export function createLogger(opts: { level: string; pretty?: boolean }): Logger {
  return pino({ level: opts.level, redact: { paths: REDACT_PATHS, censor: "[redacted]" }, base: { service: "scim-broker" } });
}
