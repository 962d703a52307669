// @ts-check
// Reviews: the queue of decisions the broker waits for — privileged grants, portable memberships kept on a
// move, contractors without end date, service accounts without (or losing) an owner, mass-deprovision holds.
// Approve and Deny ask for a reason (recorded in the audit log) in a dialog; the list updates in place.
// GET /reviews?status=&kind=, POST /reviews/{id}/approve|deny {reason}, GET /people?ids= (names).
import { api, userNames } from "../api.js";
import { askReason } from "../dialog.js";
import { badge, flash, h, link, pageHead, personRoute, table, when } from "../dom.js";

const KINDS = ["privileged-grant", "mover", "contractor-without-end-date", "service-account-without-owner", "owner-left", "owner-moved", "mass-deprovision"];
const STATUSES = ["pending", "approved", "denied", "cancelled"];

/** Why the item is in the queue, in words. @param {any} r */
export function reasonOf(r) {
  const p = r.payload ?? {};
  switch (r.kind) {
    case "privileged-grant": return `Rule ${p.cause?.rule ?? "?"} grants a privileged group: every grant waits for its owner.`;
    case "mover": return `Kept a portable membership after a move (rule ${p.cause?.rule ?? "?"}): confirm it stays.`;
    case "contractor-without-end-date": return "A contractor without an end date.";
    case "service-account-without-owner": return "A service account without a sponsor or manager.";
    case "owner-left": return `The owner ${p.previousOwnerUserName ?? ""} of this service account left.`;
    case "owner-moved": return `The owner ${p.previousOwnerUserName ?? ""} of this service account moved.`;
    case "mass-deprovision": return `${p.count ?? "?"} leavers from source ${p.source ?? r.source ?? "?"} within the window exceed the guard's ${p.limit ?? "limit"} (population ${p.population ?? "?"}); their deprovisioning is held.`;
    default: return r.kind;
  }
}

/** @param {HTMLElement} root @param {string | null} _arg @param {URLSearchParams} params */
export async function render(root, _arg, params) {
  const status = STATUSES.includes(params.get("status") ?? "") ? /** @type {string} */ (params.get("status")) : "pending";
  const kind = KINDS.includes(params.get("kind") ?? "") ? /** @type {string} */ (params.get("kind")) : "";
  const holder = h("div");
  const count = h("span");
  const select = (/** @type {string} */ name, /** @type {string[]} */ values, /** @type {string} */ current, all = "") =>
    h("select", { id: `reviews-${name}`, name, onchange: (/** @type {Event} */ e) => {
      const q = new URLSearchParams({ status, kind, [name]: /** @type {HTMLSelectElement} */ (e.target).value });
      location.hash = `#/reviews?${q}`;
    } }, all ? h("option", { value: "" }, all) : null, values.map((v) => h("option", { value: v, selected: v === current }, v)));
  root.replaceChildren(
    pageHead("Reviews", h("span", null, "Decisions the broker waits for. ", count)),
    h("div", { class: "filters" },
      h("div", { class: "field" }, h("label", { for: "reviews-status" }, "Status"), select("status", STATUSES, status)),
      h("div", { class: "field" }, h("label", { for: "reviews-kind" }, "Kind"), select("kind", KINDS, kind, "all kinds"))),
    holder);

  const refresh = async () => {
    const { items } = await api("/reviews", { query: { status, kind, limit: 500 } });
    const missing = [...new Set(items.filter((/** @type {any} */ r) => r.userId && !r.payload?.userName && !r.payload?.serviceAccount).map((/** @type {any} */ r) => r.userId))];
    const names = await userNames(missing);
    count.textContent = `${items.length} ${status}${kind ? ` ${kind}` : ""} item(s).`;
    holder.replaceChildren(table(
      ["Opened", "Kind", "User", "Group", "Reason", "Owner", status === "pending" ? "Decision" : "Decided"],
      items.map((/** @type {any} */ r) => row(r, names, refresh)),
      status === "pending" ? "Nothing waits for a decision." : `No ${status} reviews.`));
  };
  await refresh();
}

/** @param {any} r @param {Map<string, string>} names @param {() => Promise<void>} refresh */
function row(r, names, refresh) {
  const userName = r.payload?.userName ?? r.payload?.serviceAccount ?? names.get(r.userId) ?? r.userId;
  const who = r.kind === "mass-deprovision"
    ? h("div", null, `${(r.held ?? []).filter((/** @type {any} */ x) => !x.outcome).length} held leaver(s)`,
      h("div", { class: "chips" }, (r.held ?? []).slice(0, 8).map((/** @type {any} */ x) => link(personRoute(x.userId), x.userName, { class: "chip" }))))
    : r.userId ? link(personRoute(r.userId), userName) : "—";
  const decide = (/** @type {"approve" | "deny"} */ action) => async () => {
    const ok = await askReason({
      title: `${action === "approve" ? "Approve" : "Deny"} review`,
      summary: `${r.kind}${r.group ? ` · ${r.group}` : ""} · ${typeof userName === "string" ? userName : ""} — ${reasonOf(r)}`,
      onConfirm: async (reason) => { await api(`/reviews/${encodeURIComponent(r.id)}/${action}`, { method: "POST", body: { reason } }); },
    });
    if (!ok) return;
    tr.remove(); // at once; the refresh below brings the queue up to date (decisions may close other items)
    flash(`Review ${action === "approve" ? "approved" : "denied"}`);
    await refresh().catch((e) => flash(e.message, true));
  };
  const last = r.status === "pending"
    ? h("div", { class: "actions" },
      h("button", { type: "button", class: "small ok", onclick: decide("approve") }, "Approve"),
      h("button", { type: "button", class: "small danger", onclick: decide("deny") }, "Deny"))
    : h("div", null, badge(r.status, r.status === "approved" ? "ok" : r.status === "denied" ? "bad" : "off"),
      h("div", { class: "small-text muted" }, r.decidedBy ?? "", " ", when(r.decidedAt)), r.reason ? h("div", { class: "small-text" }, r.reason) : null);
  const tr = h("tr", { "data-review": r.id, "data-kind": r.kind },
    h("td", null, when(r.createdAt)), h("td", null, h("span", { class: "chip" }, r.kind)), h("td", null, who),
    h("td", null, r.group ?? "—"), h("td", { class: "small-text" }, reasonOf(r)), h("td", null, r.owner ?? "—"), h("td", null, last));
  return tr;
}
