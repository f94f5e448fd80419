// An accessible table from columns and rows: a caption, header cells with scope, one row per item, and a wrapper
// that scrolls sideways on a phone instead of widening the page.
import { el } from "./ui.js";

// columns: [{label, cell(row) -> text or node, num: true for figures (right-aligned), test: data-test of the cell}]
// rowAttrs(row) -> the <tr>'s attributes (e.g. {dataset: {test: "call-row", callId: ...}}).
// wrap: cells may wrap (a table with long texts), instead of each line kept whole.
export function table({ caption, columns, rows, rowAttrs, empty, test, wrap }) {
  const head = el("tr", {}, columns.map((c) => el("th", { scope: "col", class: c.num ? "num" : null }, c.label)));
  const body = rows.length
    ? rows.map((row) => el("tr", rowAttrs ? rowAttrs(row) : {},
      columns.map((c, i) => el(i === 0 && c.rowHeader ? "th" : "td",
        { scope: i === 0 && c.rowHeader ? "row" : null, class: c.num ? "num" : null,
          dataset: c.test ? { test: c.test } : null },
        c.cell(row)))))
    : [el("tr", {}, el("td", { colspan: columns.length, class: "empty" }, empty || ""))];
  return el("div", { class: wrap ? "table-wrap wrap" : "table-wrap", tabindex: 0, dataset: test ? { test } : null },
    el("table", {}, caption ? el("caption", {}, caption) : null, el("thead", {}, head), el("tbody", {}, body)));
}
