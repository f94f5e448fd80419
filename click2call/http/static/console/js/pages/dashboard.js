// Dashboard: today by hour and the last 7 days by day (calls by status), answer rate, wait and talk time, missed
// inbound calls, and each agent's calls and talk time. Every figure comes from GET /v1/stats (the database's
// aggregates, never the records themselves) and is shown as text beside the charts, so it can be read (and tested)
// without the canvas. Days and hours are the service's time zone's (/v1/me), like the API's keys.
import { t, register, lang, fmtDuration } from "../i18n.js";
import { h } from "../dom.js";
import { field, select, sheet, notice, whoami } from "../ui.js";
import { table } from "../table.js";
import { barChart, COLOURS } from "../chart.js";

const OUTCOMES = ["answered", "no_answer", "busy", "cancelled", "failed", "in_progress"];
// The summary's figures, in order, with how each is shown.
const FIGURES = [
  ["calls", "count"], ["answered", "count"], ["no_answer", "count"], ["busy", "count"], ["cancelled", "count"],
  ["failed", "count"], ["answer_rate", "rate"], ["missed_inbound", "count"],
  ["inbound", "count"], ["outbound", "count"], ["in_progress", "count"], ["wait_avg", "seconds"],
  ["talk_avg", "seconds"], ["talk_total", "duration"],
];

const strings = {
  en: {
    "nav.dashboard": "Dashboard",
    "dash.title": "Dashboard",
    "dash.refresh": "Refresh",
    "dash.updated": "Updated {time}",
    "dash.loading": "Loading…",
    "dash.summary": "Summary",
    "dash.figure": "Figure",
    "dash.today": "Today",
    "dash.week": "Last 7 days",
    "dash.by_hour": "Today by hour",
    "dash.by_day": "The last 7 days by day",
    "dash.by_hour_caption": "Calls started each hour today ({day}), by outcome",
    "dash.by_day_caption": "Calls started each day from {from} to {to}, by outcome",
    "dash.hour": "Hour",
    "dash.day": "Day",
    "dash.agents": "Agents",
    "dash.agents_caption": "Calls and talk time per agent",
    "dash.period": "Period",
    "dash.agent": "Extension",
    "dash.unanswered": "(inbound, not answered)",
    "dash.no_calls": "No calls.",
    "dash.none": "–",
    "stat.calls": "Calls", "stat.answered": "Answered", "stat.no_answer": "No answer", "stat.busy": "Busy",
    "stat.cancelled": "Cancelled", "stat.failed": "Failed", "stat.in_progress": "In progress",
    "stat.answer_rate": "Answer rate", "stat.missed_inbound": "Missed inbound", "stat.inbound": "Inbound",
    "stat.outbound": "Outbound", "stat.wait_avg": "Average wait", "stat.talk_avg": "Average talk time",
    "stat.talk_total": "Talk time", "stat.talk": "Talk time (minutes)",
  },
  vi: {
    "nav.dashboard": "Tổng quan",
    "dash.title": "Tổng quan",
    "dash.refresh": "Làm mới",
    "dash.updated": "Cập nhật lúc {time}",
    "dash.loading": "Đang tải…",
    "dash.summary": "Tóm tắt",
    "dash.figure": "Chỉ số",
    "dash.today": "Hôm nay",
    "dash.week": "7 ngày qua",
    "dash.by_hour": "Hôm nay theo giờ",
    "dash.by_day": "7 ngày qua theo ngày",
    "dash.by_hour_caption": "Số cuộc gọi bắt đầu mỗi giờ hôm nay ({day}), theo kết quả",
    "dash.by_day_caption": "Số cuộc gọi bắt đầu mỗi ngày từ {from} đến {to}, theo kết quả",
    "dash.hour": "Giờ",
    "dash.day": "Ngày",
    "dash.agents": "Nhân viên",
    "dash.agents_caption": "Số cuộc gọi và thời gian đàm thoại của từng nhân viên",
    "dash.period": "Khoảng thời gian",
    "dash.agent": "Máy nhánh",
    "dash.unanswered": "(gọi vào, không ai trả lời)",
    "dash.no_calls": "Không có cuộc gọi.",
    "dash.none": "–",
    "stat.calls": "Cuộc gọi", "stat.answered": "Đã trả lời", "stat.no_answer": "Không trả lời",
    "stat.busy": "Máy bận", "stat.cancelled": "Đã huỷ", "stat.failed": "Thất bại", "stat.in_progress": "Đang diễn ra",
    "stat.answer_rate": "Tỉ lệ trả lời", "stat.missed_inbound": "Cuộc gọi vào bị nhỡ", "stat.inbound": "Gọi vào",
    "stat.outbound": "Gọi ra", "stat.wait_avg": "Thời gian chờ trung bình",
    "stat.talk_avg": "Thời gian đàm thoại trung bình", "stat.talk_total": "Thời gian đàm thoại",
    "stat.talk": "Thời gian đàm thoại (phút)",
  },
};
register(strings);

// YYYY-MM-DD of today in the zone, and of n days before a YYYY-MM-DD (calendar arithmetic, in UTC to be exact).
export function today(zone) {
  return new Intl.DateTimeFormat("en-CA", { timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit" })
    .format(new Date());
}
export function daysBefore(day, n) {
  const d = new Date(`${day}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() - n);
  return d.toISOString().slice(0, 10);
}

const number = (v, digits = 0) =>
  new Intl.NumberFormat(lang() === "vi" ? "vi-VN" : "en-GB", { maximumFractionDigits: digits }).format(v);

// A figure as text, and its raw value for data-value (what the tests compare with the calls they placed).
function shown(kind, v) {
  if (v === null || v === undefined) return t("dash.none");
  if (kind === "rate") return `${number(v * 100, 1)} %`;
  if (kind === "seconds") return `${number(v, 1)} s`;
  if (kind === "duration") return fmtDuration(v);
  return number(v);
}

function cell(test, kind, v, period) {
  const data = { test, value: v === null || v === undefined ? "" : String(v), ...(period ? { period } : {}) };
  return h("span", { dataset: data }, shown(kind, v));
}

export default {
  id: "dashboard",
  nav: "nav.dashboard",
  operatorOnly: false,
  strings,
  async render(root, ctx) {
    sheet("../css/pages.css");
    sheet("../css/dashboard.css");
    const api = ctx.api;
    const me = await whoami(ctx);
    const zone = (me && me.timezone) || "Asia/Ho_Chi_Minh";
    let alive = true;
    let charts = [];
    let agentPeriod = "today";

    const status = notice(root);
    const refresh = h("button", { type: "button", dataset: { test: "dash-refresh" }, onclick: () => load() },
      t("dash.refresh"));
    const updated = h("p", { class: "updated", dataset: { test: "dash-updated" } });
    const body = h("div", { class: "dashboard", dataset: { test: "dashboard", state: "loading" } });
    root.append(h("div", { class: "dash-head" }, h("h1", {}, t("dash.title")), refresh), updated, status.node, body);

    async function load() {
      const day = today(zone);
      const week = daysBefore(day, 6);
      status.say(t("dash.loading"));
      body.dataset.state = "loading";
      let answers;
      try {
        answers = await Promise.all([
          api("/v1/stats", { query: { from: day, to: day, group_by: "hour" } }),
          api("/v1/stats", { query: { from: week, to: day, group_by: "day" } }),
          api("/v1/stats", { query: { from: agentPeriod === "today" ? day : week, to: day, group_by: "extension" } }),
        ]);
      } catch (err) {
        if (alive) status.fail(err);
        body.dataset.state = "error";
        return;
      }
      if (!alive) return;
      status.clear();
      show(day, week, ...answers);
      updated.textContent = t("dash.updated", { time: new Intl.DateTimeFormat(lang() === "vi" ? "vi-VN" : "en-GB",
        { timeZone: zone, hour: "2-digit", minute: "2-digit", second: "2-digit" }).format(new Date()) });
      body.dataset.state = "ready";
    }

    function show(day, week, hours, days, agents) {
      charts.forEach((c) => c.destroy());
      charts = [];
      const hourChart = h("div", { class: "chart-host", dataset: { test: "chart-hour" } });
      const dayChart = h("div", { class: "chart-host", dataset: { test: "chart-day" } });
      body.replaceChildren(
        summary(hours.total, days.total),
        h("section", { "aria-labelledby": "dash-hour" }, h("h2", { id: "dash-hour" }, t("dash.by_hour")), hourChart,
          periods(hours.data, "hour", (k) => k.slice(11, 16))),
        h("section", { "aria-labelledby": "dash-day" }, h("h2", { id: "dash-day" }, t("dash.by_day")), dayChart,
          periods(days.data, "day", (k) => k)),
        agentSection(agents));
      charts.push(byOutcome(hourChart, hours.data, (k) => k.slice(11, 13), t("dash.by_hour_caption", { day })));
      charts.push(byOutcome(dayChart, days.data, (k) => k.slice(5), t("dash.by_day_caption", { from: week, to: day })));
    }

    function byOutcome(host, data, label, caption) {
      return barChart(host, {
        labels: data.map((g) => label(g.key)), caption,
        series: OUTCOMES.map((o) => ({ label: t(`stat.${o}`), values: data.map((g) => g[o]), colour: COLOURS[o] })),
      });
    }

    // Today's and the week's figures side by side: stat-<figure> cells, data-period today or week.
    function summary(todays, weeks) {
      return h("section", { "aria-labelledby": "dash-summary", dataset: { test: "summary" } },
        h("h2", { id: "dash-summary" }, t("dash.summary")),
        table({
          columns: [
            { label: t("dash.figure"), cell: ([name]) => t(`stat.${name}`), rowHeader: true },
            { label: t("dash.today"), cell: ([name, kind]) => cell(`stat-${name}`, kind, todays[name], "today"), num: true },
            { label: t("dash.week"), cell: ([name, kind]) => cell(`stat-${name}`, kind, weeks[name], "week"), num: true },
          ],
          rows: FIGURES,
          rowAttrs: ([name]) => ({ dataset: { test: "figure-row", figure: name } }),
        }));
    }

    // Every period's counts: what the chart draws, as numbers.
    function periods(data, kind, label) {
      const columns = [
        { label: t(`dash.${kind}`), cell: (g) => label(g.key), rowHeader: true },
        { label: t("stat.calls"), cell: (g) => cell("stat-calls", "count", g.calls), num: true },
        ...OUTCOMES.map((o) => ({ label: t(`stat.${o}`), cell: (g) => cell(`stat-${o}`, "count", g[o]), num: true })),
        { label: t("stat.missed_inbound"), cell: (g) => cell("stat-missed_inbound", "count", g.missed_inbound), num: true },
        { label: t("stat.answer_rate"), cell: (g) => cell("stat-answer_rate", "rate", g.answer_rate), num: true },
      ];
      // The week's seven rows are open; today's 24 hours fold away (the chart shows them).
      return h("details", { class: "numbers", open: kind === "day" }, h("summary", {}, t(`dash.by_${kind}`)),
        table({ columns, rows: data, test: `${kind}-table`,
                rowAttrs: (g) => ({ dataset: { test: `${kind}-row`, key: g.key } }) }));
    }

    function agentSection(agents) {
      const choice = select("period", [["today", t("dash.today")], ["week", t("dash.week")]], agentPeriod);
      choice.dataset.test = "agent-period";
      choice.addEventListener("change", () => { agentPeriod = choice.value; load(); });
      const rows = agents.data.filter((g) => g.calls);
      const host = h("div", { class: "chart-host", dataset: { test: "chart-agents" } });
      const name = (g) => g.key || t("dash.unanswered");
      const section = h("section", { "aria-labelledby": "dash-agents" },
        h("h2", { id: "dash-agents" }, t("dash.agents")),
        field(t("dash.period"), choice),
        host,
        table({
          caption: t("dash.agents_caption"), test: "agent-table", empty: t("dash.no_calls"), rows,
          columns: [
            { label: t("dash.agent"), cell: name, rowHeader: true },
            { label: t("stat.calls"), cell: (g) => cell("stat-calls", "count", g.calls), num: true },
            { label: t("stat.answered"), cell: (g) => cell("stat-answered", "count", g.answered), num: true },
            { label: t("stat.answer_rate"), cell: (g) => cell("stat-answer_rate", "rate", g.answer_rate), num: true },
            { label: t("stat.talk_total"), cell: (g) => cell("stat-talk_total", "duration", g.talk_total), num: true },
            { label: t("stat.talk_avg"), cell: (g) => cell("stat-talk_avg", "seconds", g.talk_avg), num: true },
            { label: t("stat.wait_avg"), cell: (g) => cell("stat-wait_avg", "seconds", g.wait_avg), num: true },
          ],
          rowAttrs: (g) => ({ dataset: { test: "agent-row", ext: g.key } }),
        }));
      if (rows.length) {
        // Appended once the section is in the page (uPlot measures its host).
        queueMicrotask(() => alive && charts.push(barChart(host, {
          labels: rows.map((g) => g.key || "–"), caption: t("dash.agents_caption"),  // the table names "–"
          series: [{ label: t("stat.calls"), values: rows.map((g) => g.calls), colour: COLOURS.calls }],
        })));
      }
      return section;
    }

    // Live: a call's end changes the figures; the stream says when (at most one reload every few seconds).
    let timer = null;
    const stop = ctx.events ? ctx.events((name) => {
      if (!["ringing", "cdr", "missed"].includes(name)) return;  // a call started, ended (its record), missed
      if (!timer) timer = setTimeout(() => { timer = null; if (alive) load(); }, 3000);
    }) : null;

    await load();
    return () => {
      alive = false;
      clearTimeout(timer);
      if (typeof stop === "function") stop();
      charts.forEach((c) => c.destroy());
    };
  },
};
