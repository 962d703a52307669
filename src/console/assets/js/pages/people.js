// @ts-check
// People: search by userName, email (both by prefix) or employee number; each result opens the person's
// provisioning log. GET /people?q=&limit=&offset=; the query lives in the hash (#/people?q=ann).
import { api } from "../api.js";
import { badge, h, link, pageHead, personRoute, table } from "../dom.js";

const PAGE = 50;

/** @param {HTMLElement} root @param {string | null} _arg @param {URLSearchParams} params */
export async function render(root, _arg, params) {
  const q = params.get("q") ?? "";
  const offset = Math.max(0, Number(params.get("offset") ?? 0) || 0);
  const page = await api("/people", { query: { q, limit: PAGE, offset } });
  const input = /** @type {HTMLInputElement} */ (h("input", { type: "search", name: "q", value: q, placeholder: "userName, email or employee number", "aria-label": "Search people", size: "40" }));
  const go = (/** @type {string} */ query, /** @type {number} */ off) => { location.hash = `#/people?${new URLSearchParams({ q: query, ...(off ? { offset: String(off) } : {}) })}`; };
  const form = h("form", { class: "filters", role: "search", onsubmit: (/** @type {Event} */ e) => { e.preventDefault(); go(input.value.trim(), 0); } },
    h("div", { class: "field" }, h("label", { for: "people-q" }, "Search"), Object.assign(input, { id: "people-q" })),
    h("button", { type: "submit", class: "primary" }, "Search"));
  const rows = page.items.map((/** @type {any} */ p) => [
    link(personRoute(p.id), p.userName, { "data-user": p.userName }),
    [p.givenName, p.familyName].filter(Boolean).join(" ") || p.displayName || "",
    p.email ?? "", p.employeeNumber ?? "", p.department ?? "", p.title ?? "",
    h("div", { class: "chips" }, badge(p.active ? "active" : "inactive", p.active ? "ok" : "off"),
      p.employmentStatus ? h("span", { class: "chip" }, p.employmentStatus) : null,
      p.lifecycleStatus && p.lifecycleStatus !== "active" ? h("span", { class: "chip" }, `lifecycle: ${p.lifecycleStatus}`) : null),
    p.source ?? "",
  ]);
  const last = offset + page.items.length;
  root.replaceChildren(
    pageHead("People", "Everyone the broker knows. Open a person for their provisioning log: HR changes, lifecycle, entitlements and every app."),
    form,
    table(["userName", "Name", "Email", "Employee #", "Department", "Title", "Status", "Source"], rows, q ? `Nobody matches '${q}'` : "No people yet"),
    h("div", { class: "pager" }, `${page.total ? offset + 1 : 0}–${last} of ${page.total}`,
      h("button", { type: "button", class: "small", disabled: offset === 0, onclick: () => go(q, Math.max(0, offset - PAGE)) }, "Previous"),
      h("button", { type: "button", class: "small", disabled: last >= page.total, onclick: () => go(q, offset + PAGE) }, "Next")),
  );
}
