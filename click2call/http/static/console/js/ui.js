// Small building blocks the history, dashboard, hooks and cluster pages share: labelled form fields, a page's own
// stylesheet, and where an error is shown (elements built by dom.js's h, from text only).
import { h } from "./dom.js";
import { errorText } from "./i18n.js";

let ids = 0;
export const uid = (prefix) => `${prefix}-${++ids}`;

// A label and its control, tied by id, in one wrapper (the stylesheet lays the wrappers out in a grid).
export function field(label, control, hint) {
  control.id ||= uid("f");
  const wrap = h("div", { class: "field" }, h("label", { for: control.id }, label), control);
  if (hint) {
    const note = h("small", { id: uid("hint") }, hint);
    control.setAttribute("aria-describedby", note.id);
    wrap.append(note);
  }
  return wrap;
}

export function select(name, options, value) {
  return h("select", { name },
    options.map(([v, text]) => h("option", { value: v, selected: v === value }, text)));
}

// A page's stylesheet, linked once (the CSP allows style-src 'self' only: no <style>, no style attributes).
export function sheet(href) {
  const url = new URL(href, import.meta.url).href;
  if ([...document.querySelectorAll("link[rel=stylesheet]")].some((l) => l.href === url)) return;
  document.head.append(h("link", { rel: "stylesheet", href: url }));
}

// The status line of a page: errors in words (role=alert), other news politely (role=status).
export function notice(root) {
  const box = h("p", { class: "notice", role: "status", "aria-live": "polite", dataset: { test: "notice" } });
  root.append(box);
  return {
    node: box,
    say(text) { box.classList.remove("error"); box.setAttribute("role", "status"); box.textContent = text; },
    fail(err) {
      box.classList.add("error");
      box.setAttribute("role", "alert");
      // The words for the code, and the API's own message when it says more (which value, and why).
      const words = err && err.code ? errorText(err) : "";
      const detail = (err && err.message) || "";
      box.textContent = words && detail && !words.includes(detail) ? `${words} ${detail}` : words || detail || String(err);
    },
    clear() { box.classList.remove("error"); box.textContent = ""; },
  };
}

// The console's ctx.me is /v1/me's answer, or a function giving it: either way, the answer.
export async function whoami(ctx) {
  return typeof ctx.me === "function" ? await ctx.me() : ctx.me;
}
