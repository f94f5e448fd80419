// An accessible table from columns and rows: a caption, header cells with scope, one row per item, and a wrapper
// that scrolls sideways on a phone instead of widening the page.
import { h } from "./dom.js";

// columns: [{label, cell(row) -> text or node, num: true for figures (right-aligned), test: data-test of the cell}]
// rowAttrs(row) -> the <tr>'s attributes (e.g. {dataset: {test: "call-row", callId: ...}}).
// wrap: cells may wrap (a table with long texts), instead of each line kept whole.
export function table({ caption, columns, rows, rowAttrs, empty, test, wrap }) {
  const head = h("tr", {}, columns.map((c) => h("th", { scope: "col", class: c.num ? "num" : null }, c.label)));
  const body = rows.length
    ? rows.map((row) => h("tr", rowAttrs ? rowAttrs(row) : {},
      columns.map((c, i) => h(i === 0 && c.rowHeader ? "th" : "td",
        { scope: i === 0 && c.rowHeader ? "row" : null, class: c.num ? "num" : null,
          dataset: c.test ? { test: c.test } : null },
        c.cell(row)))))
    : [h("tr", {}, h("td", { colspan: columns.length, class: "empty" }, empty || ""))];
  return h("div", { class: wrap ? "table-wrap wrap" : "table-wrap", tabindex: 0, dataset: test ? { test } : null },
    h("table", {}, caption ? h("caption", {}, caption) : null, h("thead", {}, head), h("tbody", {}, body)));
}
