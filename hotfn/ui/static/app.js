// Start-up, the token prompt, routing (#/, #/apps/{id}, #/fns/{id}) and polling.
import * as api from "./api.js";
import { clear, h } from "./dom.js";
import { appPage, fnPage, overview } from "./pages.js";

const POLL_MS = 2000;
const main = document.getElementById("main");
const alertBox = document.getElementById("alert");
const crumbs = document.getElementById("crumbs");
const signout = document.getElementById("signout");
let timer = null;
let generation = 0; // bumped per navigation: late answers of an old page are dropped
let needsToken = false;

function showAlert(message) {
  alertBox.hidden = !message;
  alertBox.textContent = message || "";
}

function stopPolling() {
  if (timer !== null) clearTimeout(timer);
  timer = null;
}

function poll(refresh, gen) {
  stopPolling();
  timer = setTimeout(async () => {
    if (gen !== generation) return;
    if (!document.hidden) {
      try {
        await refresh();
        showAlert("");
      } catch (e) {
        if (!handleAuth(e)) showAlert(`Could not refresh: ${e.message}`);
        if (e.status === 401) return;
      }
    }
    if (gen === generation) poll(refresh, gen);
  }, POLL_MS);
}

function handleAuth(e) {
  if (e instanceof api.ApiError && e.status === 401) {
    api.token.clear();
    askToken("The token was refused; enter it again.");
    return true;
  }
  return false;
}

function route() {
  const parts = location.hash.replace(/^#\/?/, "").split("/").map(decodeURIComponent);
  if (parts[0] === "apps" && parts[1]) return () => appPage(parts[1]);
  if (parts[0] === "fns" && parts[1]) return () => fnPage(parts[1]);
  return overview;
}

async function render() {
  stopPolling();
  const gen = ++generation;
  if (needsToken && !api.token.get()) return askToken("");
  clear(main, h("p", {}, "Loading…"));
  try {
    const page = await route()();
    if (gen !== generation) return;
    showAlert("");
    document.title = `${page.title} · hotfn`;
    clear(crumbs, h("li", {}, h("a", { href: "#/" }, "Server")),
      page.crumbs.map(([href, text], i) => h("li", {}, h("a",
        { href, "aria-current": i === page.crumbs.length - 1 ? "page" : null }, text))));
    clear(main, page.node);
    main.focus({ preventScroll: true });
    if (page.refresh) poll(page.refresh, gen);
  } catch (e) {
    if (gen !== generation || handleAuth(e)) return;
    clear(main, h("h1", {}, "Not available"), h("p", { class: "error" }, e.message),
      h("p", {}, h("a", { href: "#/" }, "Back to the server overview")));
  }
}

function askToken(message) {
  stopPolling();
  generation++;
  clear(crumbs);
  signout.hidden = true;
  document.title = "API token · hotfn";
  const form = document.getElementById("token-form").content.cloneNode(true);
  clear(main, form);
  const error = document.getElementById("token-error");
  error.textContent = message;
  const input = document.getElementById("token-input");
  input.focus();
  document.getElementById("token").addEventListener("submit", async (event) => {
    event.preventDefault();
    const value = input.value.trim();
    if (!value) {
      error.textContent = "Enter the token the server was started with (--token or HOTFN_TOKEN).";
      return;
    }
    const resp = await fetch("/v2/apps?per_page=1", { headers: { Authorization: `Bearer ${value}` } });
    if (resp.status === 401) {
      error.textContent = "That is not this server's token.";
      input.select();
      return;
    }
    api.token.set(value);
    signout.hidden = false;
    render();
  });
}

async function start() {
  try {
    needsToken = (await api.session()).token_required;
  } catch (e) {
    clear(main, h("p", { class: "error" }, `The server did not answer: ${e.message}`));
    return;
  }
  signout.hidden = !(needsToken && api.token.get());
  signout.addEventListener("click", () => { api.token.clear(); askToken(""); });
  window.addEventListener("hashchange", render);
  render();
}

start();
