// @ts-check
// One person's provisioning log — the page an incident responder opens first: who they are now, their
// account in every app (what was sent, when, the app's answer, the leaver SLA), their groups and why, and
// the time line of HR changes, lifecycle events, entitlement changes with their causes, and deliveries.
// GET /people/{id or userName}/log.
import { api } from "../api.js";
import { append, badge, causeChips, duration, h, link, pageHead, personRoute, table, when } from "../dom.js";

const CATEGORIES = [["hr", "HR"], ["lifecycle", "Lifecycle"], ["entitlement", "Entitlements"], ["app", "Apps"], ["review", "Reviews"], ["exception", "Exceptions"], ["policy", "Policy"]];

/** @param {HTMLElement} root @param {string | null} ref */
export async function render(root, ref) {
  const log = await api(`/people/${encodeURIComponent(ref ?? "")}/log`);
  const p = log.person;
  const title = p ? ([p.givenName, p.familyName].filter(Boolean).join(" ") || p.displayName || p.userName) : `Deleted user ${log.id}`;
  root.replaceChildren();
  append(root, [
    pageHead(title, p ? `${p.userName}${p.employeeNumber ? ` · employee ${p.employeeNumber}` : ""}${p.source ? ` · source ${p.source}` : ""}` : "The user was deleted; what the broker recorded about it follows.",
      link("people", "← People")),
    p ? personCard(p) : null,
    h("section", { class: "card", id: "person-apps" }, h("h2", null, "Apps"), appsTable(log.apps)),
    log.leaverSla.length ? h("section", { class: "card", id: "person-sla" }, h("h2", null, "Leaver SLA"), slaTable(log.leaverSla)) : null,
    h("section", { class: "card" }, h("h2", null, "Groups"), groups(log.groups)),
    h("section", { class: "card", id: "person-timeline" }, h("h2", null, "Provisioning log"), timeline(log.entries, log.truncated)),
  ]);
}

/** @param {any} p */
function personCard(p) {
  /** @type {Array<[string, import("../dom.js").Child | Node]>} */
  const facts = [
    ["Account", h("span", { class: "chips" }, badge(p.active ? "active" : "inactive", p.active ? "ok" : "off"), p.lifecycleStatus ? h("span", { class: "chip" }, `lifecycle: ${p.lifecycleStatus}`) : null)],
    ["Employment status", p.employmentStatus ?? "—"], ["Email", p.email ?? "—"], ["Department", p.department ?? "—"], ["Title", p.title ?? "—"],
    ["Type", p.userType ?? "—"], ["Manager", p.managerId ? link(personRoute(p.managerId), p.managerUserName ?? p.managerId) : "—"],
    ["Start date", when(p.startDate)], ["End date", when(p.endDate)], ["Source", p.source ?? "—"], ["Created", when(p.createdAt)], ["Last change", when(p.updatedAt)],
  ];
  return h("section", { class: "card" }, h("div", { class: "person-head" }, facts.map(([k, v]) => h("div", null, h("div", { class: "k" }, k), h("div", { class: "v" }, v)))));
}

/** @param {any[]} apps */
function appsTable(apps) {
  return table(["App", "Account", "App's id", "Last sent", "App's answer", "Last delivery", "Leaver SLA"], apps.map((a) => {
    const sla = a.leaverSla;
    return h("tr", { "data-app": a.app },
      h("td", null, h("strong", null, a.app)),
      h("td", null, badge(a.status), a.pendingSince ? h("div", { class: "small-text muted" }, "pending since ", when(a.pendingSince)) : null,
        a.openDeadLetters ? h("div", { class: "small-text error" }, `${a.openDeadLetters} dead letter(s)`) : null),
      h("td", { class: "mono small-text" }, a.remoteId ?? "—"),
      h("td", null, a.lastSent ? [h("div", { class: "mono small-text" }, a.lastSent.what), h("div", { class: "small-text muted" }, when(a.lastSent.at))] : "—"),
      h("td", { class: a.lastSent && !a.lastSent.ok ? "error small-text" : "small-text" }, a.lastSent?.answer ?? "—"),
      h("td", null, when(a.deliveredAt)),
      h("td", null, sla ? (sla.confirmedAt ? `${duration(sla.durationMs)} (confirmed)` : badge("pending")) : h("span", { class: "muted" }, "—")),
    );
  }), "No app accounts: no app of the policy is assigned to this person.");
}

/** @param {any[]} slas */
function slaTable(slas) {
  return table(["HR request", "Completed", "Duration", "Apps"], slas.map((s) => [
    when(s.requestedAt), s.completedAt ? when(s.completedAt) : badge("pending"), duration(s.durationMs),
    h("div", { class: "chips" }, s.apps.map((/** @type {any} */ a) => h("span", { class: a.confirmedAt ? "chip" : "badge pending" }, `${a.app}: ${a.confirmedAt ? duration(a.durationMs) : "pending"}`))),
  ]));
}

/** @param {any[]} groups */
function groups(groups) {
  if (!groups.length) return h("p", { class: "muted" }, "No group memberships.");
  return h("div", { class: "chips" }, groups.map((g) => {
    const why = g.cause?.rule ? `rule ${g.cause.rule}` : g.cause?.exceptionId ? `exception ${g.cause.kind ?? ""}` : g.source;
    return h("span", { class: "chip", title: JSON.stringify(g.cause ?? {}) }, `${g.group} · ${why}`);
  }));
}

/** @param {any[]} entries @param {boolean} truncated */
function timeline(entries, truncated) {
  const shown = new Set(CATEGORIES.map(([k]) => k));
  const list = h("ol", { class: "timeline" });
  const draw = () => {
    const items = [...entries].reverse().filter((e) => shown.has(e.category)); // newest first
    list.replaceChildren(...items.map((e) => h("li", { "data-kind": e.kind, "data-category": e.category },
      h("div", { class: "when" }, when(e.at, true)),
      h("div", null, h("span", { class: `cat cat-${e.category}` }, e.category)),
      h("div", null, h("div", { class: "title" }, e.title),
        e.app || e.group ? h("div", { class: "chips sub" }, e.app ? h("span", { class: "chip" }, `app ${e.app}`) : null, e.group ? h("span", { class: "chip" }, `group ${e.group}`) : null) : null,
        causeChips(e.cause)))));
    if (!items.length) list.replaceChildren(h("li", { class: "empty" }, "Nothing recorded in the selected categories."));
  };
  const toggles = h("div", { class: "toggles" }, CATEGORIES.map(([key, label]) => {
    const b = h("button", { type: "button", class: "small on", "aria-pressed": "true", onclick: () => {
      if (shown.has(key)) shown.delete(key); else shown.add(key);
      b.classList.toggle("on", shown.has(key));
      b.setAttribute("aria-pressed", String(shown.has(key)));
      draw();
    } }, label);
    return b;
  }));
  draw();
  return h("div", null, toggles, truncated ? h("p", { class: "hint" }, "Only the most recent records of each kind are shown.") : null, list);
}
