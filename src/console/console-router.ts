// The web console at /console: static files (HTML, CSS, ES modules) served by the broker itself — nothing
// from a CDN — that call the admin API with the operator's admin token as a bearer header. The token lives
// in the tab's sessionStorage: never in a URL, a cookie, a log line or the HTML.
//
// Every console response carries a strict Content-Security-Policy: scripts and styles only from the broker
// (no inline script or style, so an injected string can never run), API calls only to the broker, no
// framing (frame-ancestors 'none', the CSP form of X-Frame-Options), no <base> or plugin tricks.
import express, { type RequestHandler, type Router } from "express";
import { fileURLToPath } from "node:url";

export const CONSOLE_ASSETS = fileURLToPath(new URL("./assets/", import.meta.url));

export const CONSOLE_CSP = [
  "default-src 'none'", "script-src 'self'", "style-src 'self'", "img-src 'self'", "connect-src 'self'", "font-src 'self'",
  "form-action 'self'", "base-uri 'none'", "object-src 'none'", "frame-ancestors 'none'",
].join("; ");

const securityHeaders: RequestHandler = (_req, res, next) => {
  res.set({
    "Content-Security-Policy": CONSOLE_CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    // Revalidate every time (ETag): an upgraded broker never runs with last version's modules.
    "Cache-Control": "no-cache",
  });
  next();
};

export function consoleRouter(): Router {
  const r = express.Router();
  r.use(securityHeaders);
  // serve-static: /console redirects to /console/ (the page's relative URLs need it), no directory listing,
  // no dotfiles; a missing file falls through to the app's JSON 404.
  r.use(express.static(CONSOLE_ASSETS, { index: "index.html", redirect: true, dotfiles: "ignore", etag: true, lastModified: false }));
  return r;
}
