// @ts-check
// Audit: the hash-chained log of entitlement changes with their causes, filtered by person, group, kind and
// time, paged forward (the log reads in order; the default window is the last 24 hours); the chain's
// verification status on top. GET /audit, POST /audit/verify.
import { api, userNames } from "../api.js";
import { badge, causeChips, fields, h, link, pageHead, personRoute, table, when } from "../dom.js";

const PAGE = 50;
const KINDS = ["membership.added", "membership.removed", "account.created", "account.disabled", "account.enabled", "account.deleted",
  "app.assignment.changed", "app.deprovisioned", "exception.created", "exception.expired", "exception.revoked", "review.created",
  "review.decided", "policy.applied", "lifecycle.event", "guard.held", "guard.released"];
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A person's id from an id or a userName (the audit log is keyed by id). */
export async function userIdOf(/** @type {string} */ ref) {
  if (!ref || UUID.test(ref)) return ref;
  const { items } = await api("/people", { query: { q: ref, limit: 20 } });
  return items.find((/** @type {any} */ p) => p.userName.toLowerCase() === ref.toLowerCase())?.id ?? ref;
}

/** A datetime-local input's value (local time, to the minute) for 24 hours ago. */
const dayAgo = () => {
  const d = new Date(Date.now() - 86400000);
  const p = (/** @type {number} */ n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
};
const isoOrEmpty = (/** @type {string} */ local) => (local ? new Date(local).toISOString() : "");

/** @param {HTMLElement} root @param {string | null} _arg @param {URLSearchParams} params */
export async function render(root, _arg, params) {
  const f = { user: params.get("user") ?? "", group: params.get("group") ?? "", kind: params.get("kind") ?? "", from: params.has("from") ? params.get("from") ?? "" : dayAgo(), to: params.get("to") ?? "", after: params.get("after") ?? "" };
  const userId = await userIdOf(f.user);
  const page = await api("/audit", { query: { user: userId, group: f.group, kind: f.kind, from: isoOrEmpty(f.from), to: isoOrEmpty(f.to), after: f.after, limit: PAGE } });
  const ids = [...new Set(page.items.map((/** @type {any} */ e) => e.userId).filter((/** @type {string | null} */ x) => x && UUID.test(x)))];
  const names = await userNames(ids);

  const field = (/** @type {string} */ name, /** @type {string} */ label, /** @type {HTMLElement} */ input) => h("div", { class: "field" }, h("label", { for: `audit-${name}` }, label), input);
  const inputs = {
    user: /** @type {HTMLInputElement} */ (h("input", { id: "audit-user", type: "search", value: f.user, placeholder: "userName or id", size: "26" })),
    group: /** @type {HTMLInputElement} */ (h("input", { id: "audit-group", type: "search", value: f.group, size: "14" })),
    kind: /** @type {HTMLSelectElement} */ (h("select", { id: "audit-kind" }, h("option", { value: "" }, "all kinds"), KINDS.map((k) => h("option", { value: k, selected: k === f.kind }, k)))),
    from: /** @type {HTMLInputElement} */ (h("input", { id: "audit-from", type: "datetime-local", value: f.from })),
    to: /** @type {HTMLInputElement} */ (h("input", { id: "audit-to", type: "datetime-local", value: f.to })),
  };
  const go = (/** @type {Record<string, string>} */ q) => { location.hash = `#/audit?${new URLSearchParams(q)}`; };
  const current = () => ({ user: inputs.user.value.trim(), group: inputs.group.value.trim(), kind: inputs.kind.value, from: inputs.from.value, to: inputs.to.value });
  const verify = h("div", { class: "verify pending", id: "audit-verify" }, "Verifying the audit chain…");

  root.replaceChildren(
    pageHead("Audit", "Every entitlement change with its cause, in the order it was written; hash-chained so a change to history shows.",
      h("button", { type: "button", onclick: () => runVerify(verify) }, "Verify chain")),
    verify,
    h("form", { class: "filters", onsubmit: (/** @type {Event} */ e) => { e.preventDefault(); go(current()); } },
      field("user", "Person", inputs.user), field("group", "Group", inputs.group), field("kind", "Kind", inputs.kind),
      field("from", "From", inputs.from), field("to", "To", inputs.to),
      h("button", { type: "submit", class: "primary" }, "Filter")),
    table(["#", "When", "Kind", "Person", "Group / app", "Cause", "Details", "Sealed"], page.items.map((/** @type {any} */ e) => h("tr", { "data-kind": e.kind },
      h("td", { class: "num" }, String(e.seq)), h("td", null, when(e.at)), h("td", null, h("span", { class: "chip" }, e.kind)),
      h("td", null, e.userId ? link(personRoute(e.userId), names.get(e.userId) ?? e.userId) : "—"),
      h("td", null, [e.groupName, e.app].filter(Boolean).join(" / ") || "—"),
      h("td", { class: "cause-cell" }, causeChips(e.cause) ?? "—"),
      h("td", null, fields(e.details)),
      h("td", null, e.chainIndex !== null ? badge("sealed", "ok") : badge("pending", "off")))), "No audit events match."),
    h("div", { class: "pager" },
      f.after ? h("button", { type: "button", class: "small", onclick: () => go({ ...current() }) }, "First page") : null,
      h("button", { type: "button", class: "small", disabled: page.next === null, onclick: () => go({ ...current(), after: String(page.next) }) }, "Next page")),
  );
  void runVerify(verify);
}

/** @param {HTMLElement} el */
async function runVerify(el) {
  el.className = "verify pending";
  el.textContent = "Verifying the audit chain…";
  try {
    const r = await api("/audit/verify", { method: "POST", body: {} });
    el.className = `verify ${r.ok ? "ok" : "bad"}`;
    el.textContent = r.ok
      ? `Audit chain verified: ${r.checked} sealed event(s) intact${r.tip ? `, tip #${r.tip.chainIndex} ${String(r.tip.hash).slice(0, 12)}…` : ""}${r.pending ? `; ${r.pending} not sealed yet` : ""}.`
      : `Audit chain BROKEN at chain index ${r.brokenAt?.chainIndex ?? "?"} (seq ${r.brokenAt?.seq ?? "?"}): ${r.reason ?? ""} ${r.detail ?? ""}`;
  } catch (e) {
    el.className = "verify bad";
    el.textContent = `Verification failed: ${/** @type {Error} */ (e).message}`;
  }
}
