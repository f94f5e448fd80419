// Building the DOM: text always as text nodes (a customer_id holding "<script>" stays text), never innerHTML.

// h("button", {class: "x", onclick: fn, "aria-label": "..", dataset: {test: "row"}}, "text", child, [more])
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "class") el.className = value;
    else if (name === "dataset") Object.assign(el.dataset, value);
    else if (name.startsWith("on") && typeof value === "function") el.addEventListener(name.slice(2), value);
    else if (name in el && typeof value !== "string") el[name] = value; // checked, value, disabled as properties
    else el.setAttribute(name === "for" ? "for" : name, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

// A short message for screen readers and eyes alike (the shell's live region), e.g. "Call hung up".
export function notify(text, kind = "info") {
  const toast = document.getElementById("toast");
  if (!toast) return;
  toast.className = `toast toast-${kind} toast-on`;
  toast.textContent = text;
  clearTimeout(notify.timer);
  notify.timer = setTimeout(() => toast.classList.remove("toast-on"), 5000);
}
