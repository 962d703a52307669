// @ts-check
// Events: lifecycle events (joiner, mover, leaver, leave, return, rehire, conversion, guard release…), newest
// first, filtered by person and kind and paged back in time. GET /events?user=&kind=&limit=&before=.
import { api, userNames } from "../api.js";
import { badge, fields, h, link, pageHead, personRoute, table, when } from "../dom.js";

const PAGE = 50;
/** The kinds of lifecycle event (GET /admin/v1/openapi.json, /events kind). */
const KINDS = ["joiner", "prehire", "mover", "conversion", "leaver", "leave", "return", "rehire", "review"];

/** @param {HTMLElement} root @param {string | null} _arg @param {URLSearchParams} params */
export async function render(root, _arg, params) {
  const user = params.get("user") ?? "";
  const kind = KINDS.includes(params.get("kind") ?? "") ? /** @type {string} */ (params.get("kind")) : "";
  const before = params.get("before") ?? "";
  const { items } = await api("/events", { query: { user, kind, limit: PAGE, before } });
  const ids = [...new Set(items.map((/** @type {any} */ e) => e.userId))];
  const names = await userNames(ids);
  const input = /** @type {HTMLInputElement} */ (h("input", { id: "events-user", type: "search", value: user, placeholder: "userName or id", size: "32" }));
  const kindSelect = /** @type {HTMLSelectElement} */ (h("select", { id: "events-kind", name: "kind" },
    h("option", { value: "" }, "all kinds"), KINDS.map((k) => h("option", { value: k, selected: k === kind }, k))));
  const go = (/** @type {Record<string, string>} */ q) => { location.hash = `#/events?${new URLSearchParams(Object.entries(q).filter(([, v]) => v))}`; };
  root.replaceChildren(
    pageHead("Events", "Lifecycle events as the broker classified each HR change, newest first."),
    h("form", { class: "filters", onsubmit: async (/** @type {Event} */ e) => { e.preventDefault(); go({ user: input.value.trim(), kind: kindSelect.value }); } },
      h("div", { class: "field" }, h("label", { for: "events-user" }, "Person"), input),
      h("div", { class: "field" }, h("label", { for: "events-kind" }, "Kind"), kindSelect),
      h("button", { type: "submit", class: "primary" }, "Filter"),
      user || kind ? h("button", { type: "button", onclick: () => go({}) }, "Clear") : null),
    table(["When", "Event", "Person", "Trigger", "HR change", "Details"], items.map((/** @type {any} */ e) => h("tr", { "data-kind": e.kind },
      h("td", null, when(e.createdAt)),
      h("td", null, h("span", { class: "chip" }, e.kind), e.held ? badge("held", "warn") : null),
      h("td", null, link(personRoute(e.userId), names.get(e.userId) ?? e.userId)),
      h("td", null, e.cause), h("td", null, e.changeId ? `#${e.changeId}` : "—"),
      h("td", null, fields(e.details)))), user || kind ? "No events match the filter." : "No lifecycle events yet."),
    h("div", { class: "pager" },
      before ? h("button", { type: "button", class: "small", onclick: () => go({ user, kind }) }, "Newest") : null,
      h("button", { type: "button", class: "small", disabled: items.length < PAGE, onclick: () => go({ user, kind, before: String(items.at(-1)?.id ?? "") }) }, "Older")),
  );
}
