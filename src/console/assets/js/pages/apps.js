// @ts-check
// Apps: each downstream app's health, accounts by status, queue depth, dead letters (with Replay), last
// delivery and leaver SLA; Test, Disable and Enable. GET /apps, /apps-overview, /leavers.
import { api } from "../api.js";
import { askReason } from "../dialog.js";
import { ago, badge, duration, flash, h, pageHead, table, td, when } from "../dom.js";

/** @param {HTMLElement} root */
export async function render(root) {
  const [apps, overview, leavers] = await Promise.all([api("/apps"), api("/apps-overview"), api("/leavers", { query: { limit: 5 } })]);
  /** @type {Map<string, any>} */
  const byApp = new Map(overview.items.map((/** @type {any} */ o) => [o.app, o]));
  const reload = () => render(root).catch((e) => flash(e.message, true));
  const s = leavers.summary;
  const stats = h("div", { class: "stats" },
    stat("Apps", String(apps.items.length)),
    stat("Leaver SLA p50 (24 h)", duration(s.p50Ms)),
    stat("Leaver SLA p99 (24 h)", duration(s.p99Ms)),
    stat("Leavers completed / open", `${s.completed} / ${s.open}`));
  const rows = apps.items.flatMap((/** @type {any} */ a) => appRows(a, byApp.get(a.name), reload));
  root.replaceChildren(
    pageHead("Apps", "Downstream SaaS apps of the active policy (broker.yaml apps:): health, accounts, deliveries and the leaver SLA.",
      h("button", { type: "button", onclick: reload }, "Refresh")),
    stats,
    table(["App", "Health", "Accounts", ["Queue", "num"], ["Dead letters", "num"], "Last delivery", "Leaver SLA p50 / p99", "Actions"], rows,
      "No apps in the active policy: add them under apps: in broker.yaml."),
  );
}

const stat = (/** @type {string} */ label, /** @type {string} */ value) => h("div", { class: "stat" }, h("div", { class: "label" }, label), h("div", { class: "value" }, value));

/** @param {any} a an item of GET /apps @param {any} o its GET /apps-overview item @param {() => void} reload */
function appRows(a, o, reload) {
  const detail = h("tr", { class: "detail-row", hidden: true }, h("td", { colspan: "8" }));
  const result = h("div", { class: "small-text muted" });
  const health = h("div", null, badge(a.status),
    a.status === "quarantined" ? h("div", { class: "small-text muted" }, "next probe ", when(a.nextProbeAt)) : null,
    a.consecutiveFailures ? h("div", { class: "small-text muted" }, `${a.consecutiveFailures} failure(s) in a row`) : null);
  const accounts = Object.entries(a.accounts ?? {});
  const sla = o?.leaverSla;
  const actions = h("div", { class: "actions" },
    h("button", { type: "button", class: "small", onclick: async (/** @type {Event} */ e) => {
      const btn = /** @type {HTMLButtonElement} */ (e.currentTarget);
      btn.disabled = true;
      result.textContent = "testing…";
      try {
        const r = await api(`/apps/${encodeURIComponent(a.name)}/test`, { method: "POST" });
        result.textContent = r.ok ? `Test ok in ${r.ms} ms` : `Test failed in ${r.ms} ms: ${r.error.code}${r.error.status ? ` (HTTP ${r.error.status})` : ""} ${r.error.message}`;
        result.className = `small-text ${r.ok ? "test-ok" : "error"}`;
      } catch (err) { result.textContent = /** @type {Error} */ (err).message; result.className = "small-text error"; }
      btn.disabled = false;
    } }, "Test"),
    a.status === "disabled"
      ? h("button", { type: "button", class: "small ok", onclick: async () => {
        try {
          const r = await api(`/apps/${encodeURIComponent(a.name)}/enable`, { method: "POST" });
          flash(`${a.name} enabled: ${r.queued} deliveries queued`);
          reload();
        } catch (err) { flash(/** @type {Error} */ (err).message, true); }
      } }, "Enable")
      : h("button", { type: "button", class: "small danger", onclick: async () => {
        const ok = await askReason({
          title: `Disable ${a.name}`, required: false,
          summary: "Deliveries to this app stop; changes (leavers included) wait as pending until it is enabled again. The reason is shown with the app.",
          onConfirm: (reason) => api(`/apps/${encodeURIComponent(a.name)}/disable`, { method: "POST", body: { reason } }),
        });
        if (ok) { flash(`${a.name} disabled`); reload(); }
      } }, "Disable"));
  const dead = h("div", null, String(a.deadLetters),
    a.deadLetters > 0 ? h("div", { class: "actions" },
      h("button", { type: "button", class: "small", onclick: () => toggleDeadLetters(a.name, detail) }, "Show"),
      h("button", { type: "button", class: "small", onclick: async () => {
        try {
          const r = await api(`/apps/${encodeURIComponent(a.name)}/replay`, { method: "POST", body: { all: true } });
          flash(`${a.name}: ${r.replayed} dead letter(s) replayed (${r.users} user(s), ${r.groups} group(s) queued)`);
          reload();
        } catch (err) { flash(/** @type {Error} */ (err).message, true); }
      } }, "Replay")) : null);
  const row = h("tr", { "data-app": a.name },
    td(h("div", null, h("strong", null, a.name), h("div", { class: "small-text muted mono" }, a.url),
      a.groups?.length ? h("div", { class: "chips" }, a.groups.map((/** @type {string} */ g) => h("span", { class: "chip" }, g))) : null)),
    td(health),
    td(accounts.length ? h("div", { class: "chips" }, accounts.map(([k, v]) => h("span", { class: `badge ${k}` }, `${k} ${v}`))) : h("span", { class: "muted" }, "no accounts")),
    td(String(o?.queueDepth ?? 0), "num"),
    td(dead, "num"),
    td(h("div", null, ago(o?.lastDeliveryAt), a.lastFailureAt ? h("div", { class: "small-text muted" }, "last failure ", ago(a.lastFailureAt)) : null)),
    td(sla && (sla.completed || sla.pending) ? h("div", null, `${duration(sla.p50Ms)} / ${duration(sla.p99Ms)}`,
      h("div", { class: "small-text muted" }, `${sla.completed} confirmed${sla.pending ? `, ${sla.pending} pending` : ""} (24 h)`)) : h("span", { class: "muted" }, "no leavers (24 h)")),
    td(h("div", null, actions, result)),
  );
  return [row, detail];
}

/** @param {string} app @param {HTMLElement} detail */
async function toggleDeadLetters(app, detail) {
  if (!detail.hidden) { detail.hidden = true; return; }
  const cell = /** @type {HTMLElement} */ (detail.firstElementChild);
  cell.replaceChildren(h("span", { class: "loading" }, "Loading…"));
  detail.hidden = false;
  try {
    const { items } = await api(`/apps/${encodeURIComponent(app)}/dead-letters`, { query: { limit: 20 } });
    cell.replaceChildren(table(["#", "When", "Who", "Request", "App's answer"], items.map((/** @type {any} */ d) => [
      String(d.id), when(d.createdAt), d.label ?? d.key, h("span", { class: "mono" }, `${d.request?.method ?? ""} ${d.request?.path ?? ""}`),
      h("div", null, h("strong", null, `${d.responseStatus ?? ""} ${d.code}`), h("div", { class: "small-text" }, d.message)),
    ]), "No open dead letters"));
  } catch (e) { cell.replaceChildren(h("p", { class: "error" }, /** @type {Error} */ (e).message)); }
}
