// Small building blocks the history, dashboard, hooks and cluster pages share: elements built from text only (never
// HTML), labelled form fields, a page's own stylesheet, and where an error is shown.
import { errorText } from "./i18n.js";

// el("td", {class: "num", dataset: {test: "x"}}, "text", child, [more]): attributes that are null, undefined or
// false are left out (setAttribute("disabled", false) would still disable), numbers become text.
export function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "dataset") Object.assign(node.dataset, value);
    else if (name.startsWith("on") && typeof value === "function") node.addEventListener(name.slice(2), value);
    else if (name === "class") node.className = value;
    else if (name === "value" && "value" in node) node.value = value;
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

let ids = 0;
export const uid = (prefix) => `${prefix}-${++ids}`;

// A label and its control, tied by id, in one wrapper (the stylesheet lays the wrappers out in a grid).
export function field(label, control, hint) {
  control.id ||= uid("f");
  const wrap = el("div", { class: "field" }, el("label", { for: control.id }, label), control);
  if (hint) {
    const note = el("small", { id: uid("hint") }, hint);
    control.setAttribute("aria-describedby", note.id);
    wrap.append(note);
  }
  return wrap;
}

export function select(name, options, value) {
  return el("select", { name },
    options.map(([v, text]) => el("option", { value: v, selected: v === value }, text)));
}

// A page's stylesheet, linked once (the CSP allows style-src 'self' only: no <style>, no style attributes).
export function sheet(href) {
  const url = new URL(href, import.meta.url).href;
  if ([...document.querySelectorAll("link[rel=stylesheet]")].some((l) => l.href === url)) return;
  document.head.append(el("link", { rel: "stylesheet", href: url }));
}

// The status line of a page: errors in words (role=alert), other news politely (role=status).
export function notice(root) {
  const box = el("p", { class: "notice", role: "status", "aria-live": "polite", dataset: { test: "notice" } });
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
