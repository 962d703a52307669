// @ts-check
// Console entry point: sign-in, navigation and the hash router (#/apps, #/people, #/people/<user>,
// #/reviews, #/events, #/audit). Hash routes keep everything but the page itself in the browser: the
// admin token travels only in the Authorization header of API calls.
import { api, ApiError, session } from "./api.js";
import { byId, h } from "./dom.js";
import * as apps from "./pages/apps.js";
import * as people from "./pages/people.js";
import * as person from "./pages/person.js";
import * as reviews from "./pages/reviews.js";
import * as events from "./pages/events.js";
import * as audit from "./pages/audit.js";

/** @typedef {{ render(root: HTMLElement, arg: string | null, params: URLSearchParams): Promise<void> }} Page */
/** @type {Record<string, Page>} */
const PAGES = { apps, people, reviews, events, audit };

let generation = 0;

function parseHash() {
  const raw = location.hash.replace(/^#\/?/, "");
  const [path, query = ""] = raw.split("?", 2);
  const [page = "", ...rest] = (path ?? "").split("/");
  return { page, arg: rest.length ? decodeURIComponent(rest.join("/")) : null, params: new URLSearchParams(query) };
}

function showSignIn(/** @type {string | null} */ message) {
  byId("nav").hidden = true;
  byId("sign-out").hidden = true;
  byId("view").replaceChildren();
  byId("sign-in").hidden = false;
  const err = byId("sign-in-error");
  err.textContent = message ?? "";
  err.hidden = !message;
  /** @type {HTMLInputElement} */ (byId("token")).focus();
}

async function route() {
  if (!session.token) return showSignIn(null);
  byId("sign-in").hidden = true;
  byId("nav").hidden = false;
  byId("sign-out").hidden = false;
  const { page, arg, params } = parseHash();
  const target = page === "people" && arg ? person : PAGES[page];
  if (!target) { location.replace("#/apps"); return; }
  for (const a of byId("nav").querySelectorAll("a")) a.classList.toggle("active", a.dataset.page === page);
  const mine = ++generation;
  const view = byId("view");
  view.replaceChildren(h("p", { class: "loading" }, "Loading…"));
  const root = h("div", { class: `page page-${page}` });
  try {
    await target.render(root, arg, params);
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) return; // console:signed-out shows the sign-in form
    root.replaceChildren(h("p", { class: "error" }, e instanceof Error ? e.message : String(e)));
  }
  if (mine === generation) view.replaceChildren(root); // a later navigation wins
}

byId("sign-in-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const input = /** @type {HTMLInputElement} */ (byId("token"));
  const token = input.value.trim();
  if (!token) return;
  session.set(token);
  try {
    await api("/people", { query: { limit: 1 } }); // any admin call: proves the token and its scope
    input.value = "";
    if (!location.hash || location.hash === "#/") location.hash = "#/apps";
    else await route();
  } catch (err) {
    session.clear();
    showSignIn(err instanceof ApiError && err.status === 403 ? "This token lacks the admin scope." : err instanceof ApiError && err.status === 401 ? "This token is not accepted by the broker." : String(err instanceof Error ? err.message : err));
  }
});

byId("sign-out").addEventListener("click", () => { session.clear(); showSignIn(null); });
window.addEventListener("console:signed-out", (e) => showSignIn(/** @type {CustomEvent<string>} */ (e).detail));
window.addEventListener("hashchange", () => void route());
void route();
