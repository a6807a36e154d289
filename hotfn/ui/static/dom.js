// Building DOM nodes without innerHTML: every value from the API becomes text.
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "text") el.textContent = value;
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function clear(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

// "2026-12-03T13:00:00.123Z" -> local "13:00:00" (full date in the title).
export function time(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  return h("time", { datetime: iso, title: d.toString() }, d.toLocaleTimeString());
}

export function ms(value) {
  return value === null || value === undefined ? "–" : `${Number(value).toFixed(1)}`;
}

export function props(pairs) {
  return h("dl", { class: "props" },
    pairs.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v === "" || v === null ? "–" : v)]));
}

// Run an event handler's promise; a failure shows in the page's alert line rather
// than as an unhandled rejection.
export function safely(promiseFn) {
  return (...args) => {
    Promise.resolve().then(() => promiseFn(...args)).catch((e) => {
      const box = document.getElementById("alert");
      box.hidden = false;
      box.textContent = `Could not load: ${e.message}`;
    });
  };
}
