// The JSON API, with the server's token when it has one (sessionStorage only:
// gone when the tab closes, never in localStorage or a cookie).
const KEY = "hotfn-token";

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export const token = {
  get: () => sessionStorage.getItem(KEY),
  set: (value) => sessionStorage.setItem(KEY, value),
  clear: () => sessionStorage.removeItem(KEY),
};

export function authHeaders() {
  const t = token.get();
  return t ? { Authorization: `Bearer ${t}` } : {};
}

export async function session() {
  const resp = await fetch("/ui/session");
  return resp.json();
}

async function request(path, accept) {
  const resp = await fetch(path, { headers: { Accept: accept, ...authHeaders() } });
  if (!resp.ok) {
    let message = `${resp.status} ${resp.statusText}`;
    try {
      message = (await resp.json()).message || message;
    } catch {
      // not JSON: keep the status line
    }
    throw new ApiError(resp.status, message);
  }
  return resp;
}

export async function get(path) {
  return (await request(path, "application/json")).json();
}

export async function text(path) {
  return (await request(path, "text/plain")).text();
}

// Every page of a list (the dashboard shows whole lists; they are small).
export async function all(path) {
  const items = [];
  let cursor = null;
  for (let i = 0; i < 50; i++) {
    const sep = path.includes("?") ? "&" : "?";
    const page = await get(`${path}${sep}per_page=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
    items.push(...page.items);
    cursor = page.next_cursor;
    if (!cursor) break;
  }
  return items;
}
