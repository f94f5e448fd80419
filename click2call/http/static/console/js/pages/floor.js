// The live floor: calls in progress and agents, from GET /v1/call and /v1/monitor/agent, then kept current by the
// event stream (/v1/stream). Durations tick here, from when each call started.
import {ApiError} from "../api.js";
import {clear, notify} from "../dom.js";
import {errorText, fmtDuration, parseTime} from "../i18n.js";

const strings = {
  en: {
    "nav.floor": "Live floor", "floor.title": "Live floor", "floor.calls": "Calls in progress ({n})",
    "floor.agents": "Agents ({n})", "floor.noCalls": "No call in progress.", "floor.noAgents": "No agent registered.",
    "floor.ext": "Extension", "floor.phone": "Customer", "floor.hotline": "Hotline", "floor.direction": "Direction",
    "floor.state": "State", "floor.duration": "Duration", "floor.customerId": "Customer ID",
    "floor.actions": "Actions", "floor.registered": "Registered", "floor.callState": "Call",
    "floor.paused": "Paused", "floor.yes": "yes", "floor.no": "no",
    "floor.hangup": "Hang up", "floor.hangupOf": "Hang up the call of {ext} with {phone}",
    "floor.more": "More", "floor.target": "Extension or number", "floor.transfer": "Transfer",
    "floor.supervisor": "Supervisor's extension", "floor.listen": "Listen", "floor.whisper": "Whisper",
    "floor.barge": "Barge", "floor.hold": "Hold customer", "floor.unhold": "Resume customer",
    "floor.park": "Park customer", "floor.pause": "Pause", "floor.resume": "Resume",
    "floor.pauseOf": "Pause agent {ext}", "floor.resumeOf": "Resume agent {ext}",
    "floor.done": "{action}: done.", "floor.live": "Live", "floor.reconnecting": "Reconnecting…",
    "state.new": "Starting", "state.agent_ringing": "Ringing agent", "state.dialing": "Ringing customer",
    "state.ringing": "Ringing", "state.connected": "Connected", "state.unanswered": "Unanswered",
    "state.ending": "Ending", "state.ended": "Ended",
    "agent.IDLE": "Idle", "agent.RINGING": "Ringing", "agent.ONCALL": "On a call",
  },
  vi: {
    "nav.floor": "Trực tiếp", "floor.title": "Tình hình trực tiếp", "floor.calls": "Cuộc gọi đang diễn ra ({n})",
    "floor.agents": "Nhân viên ({n})", "floor.noCalls": "Không có cuộc gọi nào.",
    "floor.noAgents": "Không có nhân viên nào đăng ký.",
    "floor.ext": "Máy nhánh", "floor.phone": "Khách hàng", "floor.hotline": "Hotline", "floor.direction": "Chiều",
    "floor.state": "Trạng thái", "floor.duration": "Thời lượng", "floor.customerId": "Mã khách hàng",
    "floor.actions": "Thao tác", "floor.registered": "Đã đăng ký", "floor.callState": "Cuộc gọi",
    "floor.paused": "Tạm nghỉ", "floor.yes": "có", "floor.no": "không",
    "floor.hangup": "Gác máy", "floor.hangupOf": "Gác máy cuộc gọi của {ext} với {phone}",
    "floor.more": "Thêm", "floor.target": "Máy nhánh hoặc số", "floor.transfer": "Chuyển",
    "floor.supervisor": "Máy nhánh giám sát", "floor.listen": "Nghe", "floor.whisper": "Nhắc",
    "floor.barge": "Tham gia", "floor.hold": "Giữ máy khách", "floor.unhold": "Tiếp tục với khách",
    "floor.park": "Đỗ cuộc gọi", "floor.pause": "Tạm nghỉ", "floor.resume": "Làm tiếp",
    "floor.pauseOf": "Cho nhân viên {ext} tạm nghỉ", "floor.resumeOf": "Cho nhân viên {ext} làm tiếp",
    "floor.done": "{action}: xong.", "floor.live": "Trực tiếp", "floor.reconnecting": "Đang kết nối lại…",
    "state.new": "Đang bắt đầu", "state.agent_ringing": "Đang đổ chuông nhân viên",
    "state.dialing": "Đang gọi khách", "state.ringing": "Đang đổ chuông", "state.connected": "Đang nói chuyện",
    "state.unanswered": "Không ai nghe", "state.ending": "Đang kết thúc", "state.ended": "Đã kết thúc",
    "agent.IDLE": "Rảnh", "agent.RINGING": "Đang đổ chuông", "agent.ONCALL": "Đang gọi",
  },
};

// A call event -> the call's phase, as GET /v1/call names it (null: the event does not change it).
export function phaseAfter(name, data) {
  const inbound = data.direction === "inbound";
  if (data.leg === "transfer") return null;
  if (name === "ringing") return data.leg === "customer" ? "dialing" : inbound ? "ringing" : "agent_ringing";
  if (name === "answered") return data.leg === "customer" || inbound ? "connected" : "dialing";
  return null;
}

async function render(root, {api, me, events, t, h}) {
  const calls = new Map(); // call_id -> {call_id, extension, phone, hotline, direction, state, started, customer_id}
  const agents = new Map(); // extension -> the monitor's fields
  const may = (scope) => me.scopes.includes(scope);
  const status = h("p", {class: "muted", "aria-live": "polite", "data-test": "stream-status"}, "");
  const callsTitle = h("h2", {id: "calls-title"});
  const agentsTitle = h("h2", {id: "agents-title"});
  const callsBox = h("div", {class: "table-wrap"});
  const agentsBox = h("div", {class: "table-wrap"});
  root.append(h("h1", {}, t("floor.title")), status,
              h("section", {class: "card", "aria-labelledby": "calls-title"}, callsTitle, callsBox),
              h("section", {class: "card", "aria-labelledby": "agents-title"}, agentsTitle, agentsBox));

  async function act(label, path, body) {
    try {
      await api(path, {method: body === undefined ? "DELETE" : "POST", body});
      notify(t("floor.done", {action: label}));
    } catch (exc) {
      notify(errorText(exc), "error");
    }
  }

  function callActions(call) {
    const id = encodeURIComponent(call.call_id);
    const target = h("input", {id: `target-${call.call_id}`, inputmode: "tel", size: 12, "data-test": "transfer-target"});
    const supervisor = h("input", {id: `sup-${call.call_id}`, inputmode: "numeric", size: 6, "data-test": "supervisor"});
    const transfer = () => {
      const value = target.value.trim();
      // an extension is short; a longer number is an external one (the API checks either)
      const where = value.length > 6 ? {phone: value} : {ext: value};
      act(t("floor.transfer"), `/v1/call/${id}/transfer`, {legs: "bleg", ...where});
    };
    const supervise = (mode, label) => act(label, `/v1/call/${id}/${mode}`, {ext: supervisor.value.trim()});
    const more = [];
    if (may("control")) {
      more.push(h("div", {class: "row"},
        h("div", {}, h("label", {for: target.id}, t("floor.target")), target),
        h("button", {type: "button", class: "secondary", onclick: transfer, "data-test": "transfer"},
          t("floor.transfer"))));
      more.push(h("div", {class: "row"},
        h("button", {type: "button", class: "secondary", "data-test": "hold",
                     onclick: () => act(t("floor.hold"), `/v1/call/${id}/hold`, {legs: "bleg"})}, t("floor.hold")),
        h("button", {type: "button", class: "secondary", "data-test": "unhold",
                     onclick: () => act(t("floor.unhold"), `/v1/call/${id}/unhold`, {legs: "bleg"})},
          t("floor.unhold")),
        h("button", {type: "button", class: "secondary", "data-test": "park",
                     onclick: () => act(t("floor.park"), `/v1/call/${id}/park`, {legs: "bleg"})}, t("floor.park"))));
    }
    if (may("supervise")) {
      more.push(h("div", {class: "row"},
        h("div", {}, h("label", {for: supervisor.id}, t("floor.supervisor")), supervisor),
        ...["listen", "whisper", "barge"].map((mode) => h("button", {type: "button", class: "secondary",
          "data-test": mode, onclick: () => supervise(mode, t(`floor.${mode}`))}, t(`floor.${mode}`)))));
    }
    return h("div", {class: "actions"},
      may("calls:write") ? h("button", {type: "button", class: "danger", "data-test": "hangup",
        "aria-label": t("floor.hangupOf", {ext: call.extension, phone: call.phone}),
        onclick: () => act(t("floor.hangup"), `/v1/call/${id}`)}, t("floor.hangup")) : null,
      more.length ? h("details", {class: "more"}, h("summary", {}, t("floor.more")), ...more) : null);
  }

  const cells = new Map(); // call_id -> its duration cell, updated each second without redrawing the row
  const built = new Map(); // call_id -> {key, tr, duration}: the rows drawn
  function drawCalls() {
    callsTitle.textContent = t("floor.calls", {n: calls.size});
    cells.clear();
    clear(callsBox);
    if (!calls.size) {
      callsBox.append(h("p", {class: "muted", "data-test": "no-calls"}, t("floor.noCalls")));
      return;
    }
    const heads = ["floor.ext", "floor.phone", "floor.customerId", "floor.hotline", "floor.direction",
                   "floor.state", "floor.duration", "floor.actions"];
    const rows = [...calls.values()].sort((a, b) => a.started - b.started).map((c) => {
      // a row whose call did not change is kept as it is: a transfer target being typed in it stays
      const key = `${c.state}|${c.customer_id || ""}|${c.extension}|${c.phone}`;
      const kept = built.get(c.call_id);
      if (kept && kept.key === key) {
        cells.set(c.call_id, kept.duration);
        return kept.tr;
      }
      const duration = h("td", {class: "num", "data-label": t("floor.duration"), "data-test": "duration"});
      cells.set(c.call_id, duration);
      const badge = c.state === "connected" ? "connected" : /ring|dial|new/.test(c.state) ? "ringing" : "ended";
      const tr = h("tr", {"data-test": "call-row", "data-call-id": c.call_id, "data-state": c.state},
        h("td", {"data-label": t("floor.ext"), "data-test": "ext"}, c.extension),
        h("td", {"data-label": t("floor.phone"), "data-test": "phone"}, c.phone),
        h("td", {"data-label": t("floor.customerId"), "data-test": "customer-id"}, c.customer_id || ""),
        h("td", {"data-label": t("floor.hotline")}, c.hotline),
        h("td", {"data-label": t("floor.direction")}, t(`direction.${c.direction}`)),
        h("td", {"data-label": t("floor.state")},
          h("span", {class: `badge badge-${badge}`, "data-test": "state"}, t(`state.${c.state}`))),
        duration,
        h("td", {"data-label": t("floor.actions")}, callActions(c)));
      built.set(c.call_id, {key, tr, duration});
      return tr;
    });
    for (const id of built.keys()) if (!calls.has(id)) built.delete(id);
    callsBox.append(h("table", {class: "stack", "data-test": "calls"},
      h("caption", {class: "visually-hidden"}, t("floor.calls", {n: calls.size})),
      h("thead", {}, h("tr", {}, heads.map((k) => h("th", {scope: "col"}, t(k))))), h("tbody", {}, rows)));
    tick();
  }

  function tick() {
    const now = Date.now() / 1000;
    for (const [id, cell] of cells) {
      const call = calls.get(id);
      if (call && !Number.isNaN(call.started)) cell.textContent = fmtDuration(now - call.started);
    }
  }

  function drawAgents() {
    agentsTitle.textContent = t("floor.agents", {n: agents.size});
    clear(agentsBox);
    if (!agents.size) {
      agentsBox.append(h("p", {class: "muted"}, t("floor.noAgents")));
      return;
    }
    const heads = ["floor.ext", "floor.registered", "floor.callState", "floor.paused", "floor.actions"];
    const rows = [...agents.values()].sort((a, b) => a.extension.localeCompare(b.extension)).map((a) => {
      const toggle = may("agents:write") ? h("button", {type: "button", class: "secondary", "data-test": "pause",
        "aria-label": t(a.paused ? "floor.resumeOf" : "floor.pauseOf", {ext: a.extension}),
        onclick: () => act(t(a.paused ? "floor.resume" : "floor.pause"),
                           `/v1/agent/${encodeURIComponent(a.extension)}/${a.paused ? "resume" : "pause"}`, {})},
        t(a.paused ? "floor.resume" : "floor.pause")) : null;
      return h("tr", {"data-test": "agent-row", "data-ext": a.extension, "data-call-state": a.call_state,
                      "data-paused": String(a.paused)},
        h("td", {"data-label": t("floor.ext")}, a.extension),
        h("td", {"data-label": t("floor.registered")}, t(a.registered ? "floor.yes" : "floor.no")),
        h("td", {"data-label": t("floor.callState")},
          h("span", {class: `badge badge-${a.call_state}`}, t(`agent.${a.call_state}`))),
        h("td", {"data-label": t("floor.paused")},
          a.paused ? h("span", {class: "badge badge-paused"}, t("floor.paused")) : t("floor.no")),
        h("td", {"data-label": t("floor.actions")}, toggle));
    });
    agentsBox.append(h("table", {class: "stack", "data-test": "agents"},
      h("caption", {class: "visually-hidden"}, t("floor.agents", {n: agents.size})),
      h("thead", {}, h("tr", {}, heads.map((k) => h("th", {scope: "col"}, t(k))))), h("tbody", {}, rows)));
  }

  // What the API says now; events that came first are kept (their call is newer than this answer, or gone).
  async function load() {
    const [live, monitor] = await Promise.all([api("/v1/call"), api("/v1/monitor/agent")]);
    const seen = new Set();
    for (const c of live.data) {
      seen.add(c.call_id);
      const known = calls.get(c.call_id) || {};
      calls.set(c.call_id, {...known, call_id: c.call_id, extension: c.extension, phone: c.destination,
                            hotline: c.hotline, direction: c.direction, state: c.state,
                            customer_id: c.customer_id || known.customer_id, started: parseTime(c.time_started)});
    }
    for (const [id, c] of calls) if (!seen.has(id) && !c.fromEvent) calls.delete(id);
    agents.clear();
    for (const a of monitor.data) agents.set(a.extension, a);
    drawCalls();
    drawAgents();
  }

  function onEvent(name, data) {
    if (name === "open") {
      status.textContent = t("floor.live");
      status.dataset.live = "true";
      load().catch((exc) => { if (!(exc instanceof ApiError && exc.status === 401)) notify(errorText(exc), "error"); });
      return;
    }
    if (["registered", "unregistered", "paused", "resumed", "state"].includes(name)) {
      const known = agents.get(data.extension) || {extension: data.extension};
      const agent = {...known, registered: data.registered, paused: data.paused, call_state: data.call_state,
                     call_id: data.call_id};
      if (!agent.registered && agent.call_state === "IDLE") agents.delete(data.extension);
      else agents.set(data.extension, agent);
      drawAgents();
      return;
    }
    if (!data || !data.call_id) return;
    if (["hangup", "cdr", "missed"].includes(name)) {
      if (data.leg === "transfer") return;
      if (calls.delete(data.call_id)) drawCalls();
      return;
    }
    const phase = phaseAfter(name, data);
    if (phase === null) return;
    const inbound = data.direction === "inbound";
    const known = calls.get(data.call_id);
    calls.set(data.call_id, {
      started: data.timestamp, hotline: data.hotline, direction: data.direction,
      extension: inbound ? data.to_number : data.from_number, phone: inbound ? data.from_number : data.to_number,
      ...known, call_id: data.call_id, state: phase, customer_id: data.customer_id || (known && known.customer_id),
      fromEvent: true});
    drawCalls();
  }

  drawCalls();
  drawAgents();
  status.textContent = t("floor.reconnecting");
  const unsubscribe = events(onEvent);
  await load();
  const timer = setInterval(tick, 1000);
  return () => {
    clearInterval(timer);
    unsubscribe();
  };
}

export default {id: "floor", nav: "nav.floor", operatorOnly: false, strings, render};
