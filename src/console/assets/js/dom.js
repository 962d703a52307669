// @ts-check
// DOM helpers. Every value from the API reaches the page as text (textContent / attributes), never as
// HTML: nothing a user, an HR feed or an app sends can become markup or script.

/** @typedef {Node | string | number | null | undefined | false} Child */

/**
 * @param {string} tag
 * @param {Record<string, unknown> | null} [attrs] `on<event>` keys take listeners; `class` the class name
 * @param {...(Child | Child[])} children
 * @returns {HTMLElement}
 */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), /** @type {EventListener} */ (v));
    else if (k === "class") el.className = String(v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  append(el, children);
  return el;
}

/** @param {Element} el @param {(Child | Child[])[]} children */
export function append(el, children) {
  for (const c of children.flat(2)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
}

/** @param {string} id @returns {HTMLElement} */
export function byId(id) {
  const el = document.getElementById(id);
  if (!el) throw new Error(`missing #${id}`);
  return el;
}

/** A link inside the console (hash routes: nothing but the path reaches the server). */
export function link(/** @type {string} */ route, /** @type {Child} */ text, attrs = {}) {
  return h("a", { href: `#/${route}`, ...attrs }, text);
}

export const personRoute = (/** @type {string} */ idOrUserName) => `people/${encodeURIComponent(idOrUserName)}`;

/** `2026-03-02 09:00:05` (or `…:05.123` with ms) in the browser's time zone, the ISO value as a tooltip. */
export function when(/** @type {string | null | undefined} */ iso, ms = false) {
  if (!iso) return h("span", { class: "muted" }, "—");
  const d = new Date(iso);
  const p = (/** @type {number} */ n, w = 2) => String(n).padStart(w, "0");
  const text = `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}${ms ? `.${p(d.getMilliseconds(), 3)}` : ""}`;
  return h("time", { datetime: iso, title: iso }, text);
}

/**
 * Why something happened, as chips: the HR change, the rule (and policy version), the exception or review,
 * the token or actor. Takes the provisioning log's resolved causes and the audit log's raw ones.
 * @param {any} c
 */
export function causeChips(c) {
  if (!c) return null;
  const chips = [];
  if (c.changeId) chips.push(`HR change #${c.changeId}`);
  if (c.rule) chips.push(`rule ${c.rule}${c.policyVersion ? ` @ ${String(c.policyVersion).slice(0, 8)}` : ""}`);
  if (c.exception) chips.push(`exception ${c.exception.kind ?? ""}${c.exception.reason ? `: ${c.exception.reason}` : ""}`);
  else if (c.exceptionId) chips.push("exception");
  if (c.review) chips.push(`review ${c.review.kind ?? ""} ${c.review.status ?? ""}`.trim());
  else if (c.reviewId) chips.push("review");
  if (c.token) chips.push(`token ${c.token}`);
  if (c.actor && c.actor !== `token:${c.token}`) chips.push(`by ${c.actor}`);
  if (c.trigger && c.trigger !== "hr") chips.push(`trigger ${c.trigger}`);
  return chips.length ? h("div", { class: "chips sub" }, chips.map((t) => h("span", { class: "chip cause" }, t))) : null;
}

/** An object's fields as key=value chips (long values cut, in full as a tooltip). @param {Record<string, unknown> | null | undefined} o */
export function fields(o) {
  if (!o) return null;
  return h("div", { class: "chips" }, Object.entries(o).filter(([, v]) => v !== null && v !== undefined && v !== "").map(([k, v]) => {
    const text = `${k}=${typeof v === "object" ? JSON.stringify(v) : String(v)}`;
    return h("span", { class: "chip kv", title: text }, text.length > 64 ? `${text.slice(0, 63)}…` : text);
  }));
}

/** "4 min ago" */
export function ago(/** @type {string | null | undefined} */ iso) {
  if (!iso) return h("span", { class: "muted" }, "never");
  const s = Math.max(0, (Date.now() - new Date(iso).getTime()) / 1000);
  const text = s < 60 ? `${Math.round(s)} s ago` : s < 3600 ? `${Math.round(s / 60)} min ago` : s < 172800 ? `${Math.round(s / 3600)} h ago` : `${Math.round(s / 86400)} days ago`;
  return h("time", { datetime: iso, title: iso }, text);
}

export function duration(/** @type {number | null | undefined} */ ms) {
  if (ms === null || ms === undefined) return "—";
  return ms < 1000 ? `${Math.round(ms)} ms` : ms < 120000 ? `${(ms / 1000).toFixed(1)} s` : ms < 7200000 ? `${(ms / 60000).toFixed(1)} min` : `${(ms / 3600000).toFixed(1)} h`;
}

export function badge(/** @type {string} */ text, cls = text) {
  return h("span", { class: `badge ${cls}` }, text);
}

/** A table with a header row; `rows` are arrays of cells (or <tr> elements). */
export function table(/** @type {Array<string | [string, string]>} */ head, /** @type {Array<HTMLElement | Child[]>} */ rows, empty = "Nothing to show") {
  const thead = h("thead", null, h("tr", null, head.map((c) => (Array.isArray(c) ? h("th", { class: c[1] }, c[0]) : h("th", null, c)))));
  const body = h("tbody", null, rows.map((r) => (r instanceof HTMLElement ? r : h("tr", null, r.map((c) => (c instanceof HTMLElement && c.tagName === "TD" ? c : h("td", null, c)))))));
  if (!rows.length) body.append(h("tr", null, h("td", { class: "empty", colspan: String(head.length) }, empty)));
  return h("div", { class: "table-wrap" }, h("table", null, thead, body));
}

export const td = (/** @type {Child} */ v, cls = "") => h("td", { class: cls || null }, v);

/** Page title with a sub-line and optional controls on the right. */
export function pageHead(/** @type {string} */ title, /** @type {Child} */ sub, /** @type {Child[]} */ ...right) {
  return h("div", { class: "page-head" }, h("div", null, h("h1", null, title), sub ? h("p", null, sub) : null), h("div", { class: "actions" }, right));
}

/** Shows a short confirmation or error at the top right. */
export function flash(/** @type {string} */ text, bad = false) {
  const el = byId("flash");
  el.textContent = text;
  el.className = bad ? "bad" : "";
  el.hidden = false;
  clearTimeout(Number(el.dataset.timer));
  el.dataset.timer = String(setTimeout(() => { el.hidden = true; }, 5000));
}
