// The console's start: the sign-in view until a session is live, then the router (location.hash -> page module).
import {api, ApiError, events, forget, me, onSignedOut, setCsrf} from "./api.js";
import {clear, h} from "./dom.js";
import {errorText, lang, register, setLang, setTimeZone, t} from "./i18n.js";
import {pages} from "./pages/index.js";

register({
  en: {
    "app.skip": "Skip to content", "app.language": "Language", "app.signOut": "Sign out",
    "app.nav": "Main", "signIn.title": "Sign in to click2call", "signIn.token": "API token",
    "signIn.help": "Use the API token your administrator gave you. It is sent once; the browser then keeps a "
      + "session cookie, never the token.",
    "signIn.submit": "Sign in", "signIn.wrong": "This token is not valid.", "signIn.busy": "Signing in…",
    "app.operator": "Operator", "app.agent": "agent {ext}", "app.notFound": "No such page.",
    "app.loading": "Loading…",
  },
  vi: {
    "app.skip": "Chuyển tới nội dung", "app.language": "Ngôn ngữ", "app.signOut": "Đăng xuất",
    "app.nav": "Chính", "signIn.title": "Đăng nhập click2call", "signIn.token": "API token",
    "signIn.help": "Dùng API token do quản trị viên cấp. Token chỉ gửi một lần; sau đó trình duyệt giữ cookie "
      + "phiên, không giữ token.",
    "signIn.submit": "Đăng nhập", "signIn.wrong": "Token không hợp lệ.", "signIn.busy": "Đang đăng nhập…",
    "app.operator": "Nhà vận hành", "app.agent": "nhân viên {ext}", "app.notFound": "Không có trang này.",
    "app.loading": "Đang tải…",
  },
});
for (const page of pages) register(page.strings || {});

const view = document.getElementById("view");
const top = document.getElementById("top");
let cleanup = null;
let who = null;

function stop() {
  if (cleanup) {
    try { cleanup(); } catch (exc) { console.warn(exc); }
  }
  cleanup = null;
}

function shellText() {
  document.getElementById("skip").textContent = t("app.skip");
  document.getElementById("lang-label").textContent = t("app.language");
  document.getElementById("sign-out").textContent = t("app.signOut");
  document.getElementById("nav").setAttribute("aria-label", t("app.nav"));
  document.getElementById("lang").value = lang();
}

function signInView(message) {
  stop();
  who = null;
  top.hidden = true;
  document.title = t("signIn.title");
  const status = h("p", {id: "sign-in-error", class: "error", role: "alert", "data-test": "sign-in-error"},
                   message || "");
  const input = h("input", {id: "token", name: "token", type: "password", autocomplete: "current-password",
                            required: true, "aria-describedby": "token-help sign-in-error", "data-test": "token"});
  const button = h("button", {type: "submit", "data-test": "sign-in"}, t("signIn.submit"));
  const form = h("form", {class: "sign-in card", "data-test": "sign-in-form", onsubmit: async (event) => {
    event.preventDefault();
    button.disabled = true;
    status.textContent = t("signIn.busy");
    try {
      const session = await api("/console/session", {method: "POST", body: {token: input.value}});
      input.value = "";
      setCsrf(session.csrf);
      await start();
    } catch (exc) {
      status.textContent = exc instanceof ApiError && exc.status === 401 ? t("signIn.wrong") : errorText(exc);
      button.disabled = false;
      input.focus();
    }
  }},
  h("h1", {}, t("signIn.title")),
  h("label", {for: "token"}, t("signIn.token")), input,
  h("p", {id: "token-help", class: "help"}, t("signIn.help")),
  button, status);
  clear(view).append(form);
  input.focus();
}

function allowed(page) {
  return !page.operatorOnly || (who && who.operator);
}

function nav(current) {
  const list = clear(document.getElementById("nav-links"));
  for (const page of pages.filter(allowed)) {
    list.append(h("li", {}, h("a", {href: `#/${page.id}`, "aria-current": page.id === current ? "page" : null,
                                    "data-test": `nav-${page.id}`}, t(page.nav))));
  }
}

async function route() {
  if (!who) return;
  stop();
  const id = (location.hash.match(/^#\/([\w-]+)/) || [])[1] || pages[0].id;
  const page = pages.find((p) => p.id === id && allowed(p));
  nav(page ? page.id : "");
  const root = clear(view);
  root.dataset.page = id;
  if (!page) {
    root.append(h("p", {class: "error", role: "alert"}, t("app.notFound")));
    return;
  }
  document.title = `${t(page.nav)} · click2call`;
  const ctx = {api, me: who, events, t, h};
  try {
    const done = await page.render(root, ctx);
    cleanup = typeof done === "function" ? done : null;
  } catch (exc) {
    if (!(exc instanceof ApiError && exc.status === 401)) {
      root.append(h("p", {class: "error", role: "alert"}, errorText(exc)));
    }
  }
}

async function start() {
  who = await me();
  setTimeZone(who.timezone);
  top.hidden = false;
  shellText();
  const label = who.operator ? t("app.operator") : who.tenant;
  document.getElementById("who").textContent = who.extension ? `${label} · ${t("app.agent", {ext: who.extension})}`
    : `${label} · ${who.token_id}`;
  await route();
  view.focus({preventScroll: true});
}

onSignedOut(() => signInView(t("error.UNAUTHORIZED")));
window.addEventListener("hashchange", () => { route().then(() => view.focus({preventScroll: true})); });
window.addEventListener("c2c-lang", () => {
  shellText();
  if (who) start(); else signInView();
});
document.getElementById("lang").addEventListener("change", (event) => setLang(event.target.value));
document.getElementById("sign-out").addEventListener("click", async () => {
  try { await api("/console/session", {method: "DELETE"}); } catch (exc) { /* ended already: signed out anyway */ }
  forget();
  signInView();
});

shellText();
api("/console/session").then((session) => {
  setCsrf(session.csrf);
  return start();
}).catch(() => signInView());
