// @ts-check
// The admin API as the console calls it: the token from this tab's sessionStorage as a bearer header,
// JSON in and out, errors as ApiError with the API's stable code and message.

const KEY = "scim-broker.admin-token";

export const session = {
  get token() { return sessionStorage.getItem(KEY); },
  set(/** @type {string} */ token) { sessionStorage.setItem(KEY, token); },
  clear() { sessionStorage.removeItem(KEY); },
};

export class ApiError extends Error {
  /** @param {number} status @param {string} code @param {string} message */
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/**
 * @param {string} path below /admin/v1
 * @param {{ method?: string, body?: unknown, query?: Record<string, string | number | boolean | null | undefined> }} [o]
 * @returns {Promise<any>}
 */
export async function api(path, o = {}) {
  const token = session.token;
  if (!token) throw new ApiError(401, "UNAUTHORIZED", "Sign in with an admin token");
  const url = new URL(`/admin/v1${path}`, location.origin);
  for (const [k, v] of Object.entries(o.query ?? {})) if (v !== undefined && v !== null && v !== "") url.searchParams.set(k, String(v));
  /** @type {Record<string, string>} */
  const headers = { Authorization: `Bearer ${token}`, Accept: "application/json" };
  if (o.body !== undefined) headers["Content-Type"] = "application/json";
  let res;
  try {
    res = await fetch(url, { method: o.method ?? "GET", headers, body: o.body === undefined ? undefined : JSON.stringify(o.body), cache: "no-store", credentials: "omit" });
  } catch {
    throw new ApiError(0, "NETWORK", "The broker cannot be reached");
  }
  const data = await res.json().catch(() => null);
  if (res.status === 401) {
    session.clear();
    window.dispatchEvent(new CustomEvent("console:signed-out", { detail: "The broker no longer accepts this token (revoked or unknown). Sign in again." }));
  }
  if (!res.ok) {
    // {"error": {code, message}} (admin API); SCIM-shaped bodies ({detail}) are read too
    const code = data?.error?.code ?? data?.scimType ?? `HTTP_${res.status}`;
    const message = data?.error?.message ?? data?.detail ?? `HTTP ${res.status}`;
    throw new ApiError(res.status, code, message);
  }
  return data;
}

/**
 * The userNames of people listed by id (GET /people?ids=, at most 200 at once): pages that show events,
 * audit rows or reviews name the people in them.
 * @param {string[]} ids
 * @returns {Promise<Map<string, string>>}
 */
export async function userNames(ids) {
  /** @type {Map<string, string>} */
  const names = new Map();
  if (ids.length) for (const p of (await api("/people", { query: { ids: ids.slice(0, 200).join(","), limit: 200 } })).items) names.set(p.id, p.userName);
  return names;
}
