// The "call it" form: body, content type and headers in, the answer's status,
// headers, body and timing out. Input is checked here first so mistakes get a
// message that says what to fix rather than a failed request.
import { authHeaders } from "./api.js";
import { clear, h } from "./dom.js";

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const MEDIA = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+\/[!#$%&'*+.^_`|~0-9A-Za-z-]+(\s*;.*)?$/;
// Headers fetch() may not set: the browser would drop them without a word.
const FORBIDDEN = new Set(["accept-charset", "accept-encoding", "access-control-request-headers",
  "access-control-request-method", "connection", "content-length", "cookie", "date", "dnt",
  "expect", "host", "keep-alive", "origin", "referer", "te", "trailer", "transfer-encoding",
  "upgrade", "via"]);

// "Name: value" lines -> [[name, value]], or throw an Error saying which line is wrong.
export function parseHeaders(textValue) {
  const out = [];
  textValue.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (!line) return;
    const colon = line.indexOf(":");
    const where = `Headers, line ${i + 1}`;
    if (colon <= 0) throw new Error(`${where}: "${line}" is not a header; write one "Name: value" per line.`);
    const name = line.slice(0, colon).trim();
    const value = line.slice(colon + 1).trim();
    if (!TOKEN.test(name)) throw new Error(`${where}: "${name}" is not a valid header name (letters, digits and - only, no spaces).`);
    if (/[\u0000-\u0008\u000a-\u001f\u007f]/.test(value) || /[^\u0000-\u00ff]/.test(value)) {
      throw new Error(`${where}: the value of ${name} has characters a header cannot carry.`);
    }
    const lower = name.toLowerCase();
    if (FORBIDDEN.has(lower) || lower.startsWith("proxy-") || lower.startsWith("sec-")) {
      throw new Error(`${where}: ${name} is set by the browser and cannot be sent from this form.`);
    }
    if (lower === "content-type") throw new Error(`${where}: use the Content type field for Content-Type.`);
    out.push([name, value]);
  });
  return out;
}

export function checkInput(body, contentType, headerText) {
  const headers = parseHeaders(headerText);
  const type = contentType.trim();
  if (type && !MEDIA.test(type)) {
    throw new Error(`Content type "${type}" is not a media type; write it like text/plain or application/json.`);
  }
  if (/^application\/(.+\+)?json\b/i.test(type) && body.trim()) {
    try {
      JSON.parse(body);
    } catch (e) {
      throw new Error(`Body is not valid JSON (${e.message}); fix it or change the content type.`);
    }
  }
  return { headers, type };
}

export function invokeForm(fn, onDone) {
  const result = h("div", { id: "invoke-result", "aria-live": "polite", "aria-atomic": "true" });
  const error = h("p", { id: "invoke-error", class: "error", role: "alert" });
  const body = h("textarea", { id: "invoke-body", name: "body", "aria-describedby": "invoke-error" });
  const type = h("input", { id: "invoke-type", name: "type", value: "text/plain", autocomplete: "off",
    "aria-describedby": "invoke-error" });
  const headers = h("textarea", { id: "invoke-headers", name: "headers", rows: 3,
    placeholder: "X-Name: value", "aria-describedby": "invoke-headers-hint invoke-error" });
  const send = h("button", { type: "submit", id: "invoke-send" }, "Call it");
  const form = h("form", { id: "invoke", novalidate: true },
    h("label", { for: "invoke-body" }, "Body"), body,
    h("div", { class: "row" },
      h("div", {}, h("label", { for: "invoke-type" }, "Content type"), type),
      h("div", {}, h("label", { for: "invoke-headers" }, "Headers"), headers,
        h("p", { class: "hint", id: "invoke-headers-hint" }, "One \"Name: value\" per line."))),
    send, error);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    let input;
    try {
      input = checkInput(body.value, type.value, headers.value);
    } catch (e) {
      error.textContent = e.message;
      clear(result);
      return;
    }
    const sent = { ...authHeaders() };
    for (const [k, v] of input.headers) sent[k] = v;
    if (input.type) sent["Content-Type"] = input.type;
    send.disabled = true;
    clear(result, h("p", {}, "Calling…"));
    const t0 = performance.now();
    try {
      const resp = await fetch(`/invoke/${encodeURIComponent(fn.id)}`,
        { method: "POST", body: body.value, headers: sent });
      const answer = await resp.text();
      showAnswer(result, resp, answer, performance.now() - t0);
      onDone(resp.headers.get("fn-call-id"));
    } catch (e) {
      error.textContent = `The call did not reach the server: ${e.message}`;
      clear(result);
    } finally {
      send.disabled = false;
    }
  });
  return h("section", { class: "card", "aria-labelledby": "invoke-title" },
    h("h2", { id: "invoke-title" }, "Call it"), form, result);
}

function showAnswer(el, resp, answer, elapsed) {
  const rows = [...resp.headers.entries()].map(([k, v]) =>
    h("tr", {}, h("th", { scope: "row" }, k), h("td", { class: "mono" }, v)));
  clear(el,
    h("h3", {}, "Answer"),
    h("p", { id: "invoke-status", class: resp.ok ? "status-success" : "status-error" },
      `Status ${resp.status} ${resp.statusText}`, " · ",
      h("span", { id: "invoke-time" }, `${elapsed.toFixed(1)} ms`), " in the browser"),
    h("details", {}, h("summary", {}, `Headers (${rows.length})`),
      h("table", { id: "invoke-headers-out" }, h("tbody", {}, rows))),
    h("pre", { id: "invoke-answer", "aria-label": "Response body" }, answer || "(empty body)"));
}
