// History: the call records (GET /v1/cdr) with every filter the API has, paged by number (with the total) or
// scrolled newer/older (keyset: stable while calls arrive), and one call's record (GET /v1/cdr/{id}): its legs,
// what was done to it, and its recording played in the page (the session cookie authenticates the audio's Range
// requests like any other).
import { t, register, fmtTime, fmtDuration } from "../i18n.js";
import { h } from "../dom.js";
import { field, select, sheet, notice, whoami } from "../ui.js";
import { table } from "../table.js";

const STATUSES = ["ANSWERED", "NO_ANSWER", "BUSY", "FAILED", "CANCELLED", "IN_PROGRESS"];
const FILTERS = ["start_date", "end_date", "extension", "phone", "customer_id", "hotline", "status", "min_duration"];
const SIZES = ["20", "50", "100"];

const strings = {
  en: {
    "nav.history": "History",
    "history.title": "Call history",
    "history.filters": "Search calls",
    "history.start_date": "From",
    "history.end_date": "Until",
    "history.extension": "Extension",
    "history.phone": "Phone (customer or hotline)",
    "history.customer_id": "Customer ID",
    "history.hotline": "Hotline",
    "history.status": "Status",
    "history.min_duration": "At least (seconds)",
    "history.any": "Any",
    "history.limit": "Per page",
    "history.paging": "Paging",
    "history.paging.page": "Page numbers",
    "history.paging.scroll": "Newer / older",
    "history.search": "Search",
    "history.reset": "Clear",
    "history.results": "Calls found",
    "history.export": "Download these calls (CSV)",
    "history.none": "No call matches.",
    "history.loading": "Loading…",
    "history.total": "{total} calls, page {page} of {pages}",
    "history.shown": "{count} calls shown",
    "history.first": "First",
    "history.prev": "Previous",
    "history.next": "Next",
    "history.last": "Last",
    "history.newer": "Newer",
    "history.older": "Older",
    "history.pages": "Pages",
    "history.page_n": "Page {n}",
    "history.started": "Started",
    "history.direction": "Direction",
    "history.from": "From",
    "history.to": "To",
    "history.duration": "Duration",
    "history.billsec": "Talk",
    "history.recording": "Recording",
    "history.open": "Details",
    "history.open_call": "Details of the call at {time}",
    "history.has_recording": "yes",
    "history.detail": "Call {id}",
    "history.close": "Back to the list",
    "history.fields": "Record",
    "history.legs": "Legs",
    "history.leg": "Leg",
    "history.leg.agent": "Agent",
    "history.leg.customer": "Customer",
    "history.leg.agents": "Agent rung {n} ({ext})",
    "history.leg.supervisor": "Supervisor {ext} ({mode})",
    "history.leg.transfer": "Transfer {n} to {target} ({mode}, {status})",
    "history.sip_call_id": "SIP Call-ID",
    "history.created": "Created",
    "history.ringing": "Ringing",
    "history.answered": "Answered",
    "history.ended": "Ended",
    "history.cause": "Cause",
    "history.actions": "Actions",
    "history.no_actions": "Nothing was done to this call.",
    "history.action": "Action",
    "history.side": "Side",
    "history.time": "Time",
    "history.by": "By",
    "history.detail_of": "Details",
    "history.operator": "operator",
    "history.play": "Recording of the call",
    "history.download": "Download the recording",
    "history.no_recording": "This call was not recorded.",
    "history.recording_error": "The recording failed: {error}",
    "history.recording_progress": "The call is still being recorded.",
    "field.id": "Call ID", "field.sip_call_id": "SIP Call-ID", "field.status": "Status",
    "field.direction": "Direction", "field.extension": "Extension", "field.from_number": "From",
    "field.to_number": "To", "field.hotline": "Hotline", "field.customer_id": "Customer ID",
    "field.time_started": "Started", "field.time_answered": "Answered", "field.time_ended": "Ended",
    "field.duration": "Duration", "field.billsec": "Talk time", "field.cause": "Cause",
    "field.hangup_by": "Hung up by", "field.ring_group": "Ring group", "field.transferred_to": "Transferred to",
    "field.node": "Asterisk node", "field.tenant": "Tenant",
    "status.ANSWERED": "Answered", "status.NO_ANSWER": "No answer", "status.BUSY": "Busy",
    "status.FAILED": "Failed", "status.CANCELLED": "Cancelled", "status.IN_PROGRESS": "In progress",
    "side.aleg": "agent", "side.bleg": "customer",
    "action.hold": "hold", "action.unhold": "unhold", "action.mute": "mute", "action.unmute": "unmute",
    "action.dtmf": "DTMF", "action.listen": "listen", "action.whisper": "whisper", "action.barge": "barge",
    "action.transfer": "transfer", "action.park": "park",
    "transfer.blind": "blind", "transfer.attended": "attended",
    "transfer.started": "under way", "transfer.answered": "answered", "transfer.failed": "failed",
    "error.RECORDING_NOT_FOUND": "This call has no recording.",
    "error.RECORDING_EXPIRED": "The recording was removed after its retention period; the call's record is kept.",
    "error.RECORDING_IN_PROGRESS": "The call is still being recorded.",
  },
  vi: {
    "nav.history": "Lịch sử",
    "history.title": "Lịch sử cuộc gọi",
    "history.filters": "Tìm cuộc gọi",
    "history.start_date": "Từ ngày",
    "history.end_date": "Đến ngày",
    "history.extension": "Máy nhánh",
    "history.phone": "Số điện thoại (khách hàng hoặc hotline)",
    "history.customer_id": "Mã khách hàng",
    "history.hotline": "Hotline",
    "history.status": "Trạng thái",
    "history.min_duration": "Tối thiểu (giây)",
    "history.any": "Tất cả",
    "history.limit": "Mỗi trang",
    "history.paging": "Cách chia trang",
    "history.paging.page": "Số trang",
    "history.paging.scroll": "Mới hơn / cũ hơn",
    "history.search": "Tìm",
    "history.reset": "Xoá bộ lọc",
    "history.results": "Cuộc gọi tìm thấy",
    "history.export": "Tải các cuộc gọi này (CSV)",
    "history.none": "Không có cuộc gọi nào khớp.",
    "history.loading": "Đang tải…",
    "history.total": "{total} cuộc gọi, trang {page} / {pages}",
    "history.shown": "Đang hiển thị {count} cuộc gọi",
    "history.first": "Đầu",
    "history.prev": "Trước",
    "history.next": "Sau",
    "history.last": "Cuối",
    "history.newer": "Mới hơn",
    "history.older": "Cũ hơn",
    "history.pages": "Các trang",
    "history.page_n": "Trang {n}",
    "history.started": "Bắt đầu",
    "history.direction": "Chiều",
    "history.from": "Từ số",
    "history.to": "Đến số",
    "history.duration": "Thời lượng",
    "history.billsec": "Đàm thoại",
    "history.recording": "Ghi âm",
    "history.open": "Chi tiết",
    "history.open_call": "Chi tiết cuộc gọi lúc {time}",
    "history.has_recording": "có",
    "history.detail": "Cuộc gọi {id}",
    "history.close": "Quay lại danh sách",
    "history.fields": "Bản ghi",
    "history.legs": "Các chặng",
    "history.leg": "Chặng",
    "history.leg.agent": "Nhân viên",
    "history.leg.customer": "Khách hàng",
    "history.leg.agents": "Nhân viên đổ chuông {n} ({ext})",
    "history.leg.supervisor": "Giám sát {ext} ({mode})",
    "history.leg.transfer": "Chuyển lần {n} tới {target} ({mode}, {status})",
    "history.sip_call_id": "SIP Call-ID",
    "history.created": "Tạo lúc",
    "history.ringing": "Đổ chuông",
    "history.answered": "Trả lời",
    "history.ended": "Kết thúc",
    "history.cause": "Nguyên nhân",
    "history.actions": "Thao tác",
    "history.no_actions": "Không có thao tác nào trên cuộc gọi này.",
    "history.action": "Thao tác",
    "history.side": "Phía",
    "history.time": "Thời điểm",
    "history.by": "Bởi",
    "history.detail_of": "Chi tiết",
    "history.operator": "nhà vận hành",
    "history.play": "Ghi âm cuộc gọi",
    "history.download": "Tải bản ghi âm",
    "history.no_recording": "Cuộc gọi này không được ghi âm.",
    "history.recording_error": "Ghi âm thất bại: {error}",
    "history.recording_progress": "Cuộc gọi vẫn đang được ghi âm.",
    "field.id": "Mã cuộc gọi", "field.sip_call_id": "SIP Call-ID", "field.status": "Trạng thái",
    "field.direction": "Chiều", "field.extension": "Máy nhánh", "field.from_number": "Từ số",
    "field.to_number": "Đến số", "field.hotline": "Hotline", "field.customer_id": "Mã khách hàng",
    "field.time_started": "Bắt đầu", "field.time_answered": "Trả lời", "field.time_ended": "Kết thúc",
    "field.duration": "Thời lượng", "field.billsec": "Thời gian đàm thoại", "field.cause": "Nguyên nhân",
    "field.hangup_by": "Bên gác máy", "field.ring_group": "Nhóm đổ chuông", "field.transferred_to": "Đã chuyển tới",
    "field.node": "Máy chủ Asterisk", "field.tenant": "Khách thuê",
    "status.ANSWERED": "Đã trả lời", "status.NO_ANSWER": "Không trả lời", "status.BUSY": "Máy bận",
    "status.FAILED": "Thất bại", "status.CANCELLED": "Đã huỷ", "status.IN_PROGRESS": "Đang diễn ra",
    "side.aleg": "nhân viên", "side.bleg": "khách hàng",
    "action.hold": "giữ máy", "action.unhold": "bỏ giữ máy", "action.mute": "tắt tiếng", "action.unmute": "bật tiếng",
    "action.dtmf": "DTMF", "action.listen": "nghe", "action.whisper": "nhắc", "action.barge": "tham gia",
    "action.transfer": "chuyển", "action.park": "đỗ cuộc gọi",
    "transfer.blind": "chuyển thẳng", "transfer.attended": "có hỏi ý",
    "transfer.started": "đang chuyển", "transfer.answered": "đã trả lời", "transfer.failed": "thất bại",
    "error.RECORDING_NOT_FOUND": "Cuộc gọi này không có ghi âm.",
    "error.RECORDING_EXPIRED": "Bản ghi âm đã bị xoá khi hết thời hạn lưu; bản ghi cuộc gọi vẫn được giữ.",
    "error.RECORDING_IN_PROGRESS": "Cuộc gọi vẫn đang được ghi âm.",
  },
};
register(strings);

const time = (text) => (text ? fmtTime(text) : "");

export default {
  id: "history",
  nav: "nav.history",
  operatorOnly: false,
  strings,
  async render(root, ctx) {
    sheet("../css/pages.css");
    const api = ctx.api;
    const me = await whoami(ctx);
    // What is asked and where we are, while the page is shown: the filters searched, the page number, or the
    // scroll_ids walked so far (the last one is the page shown; "newer" goes back one).
    const state = { filters: {}, limit: "50", mode: "page", page: 1, cursors: [null] };
    let alive = true;

    const controls = {
      start_date: h("input", { type: "date", name: "start_date" }),
      end_date: h("input", { type: "date", name: "end_date" }),
      extension: h("input", { type: "text", name: "extension", autocomplete: "off",
                               value: me && me.extension ? me.extension : null }),
      phone: h("input", { type: "tel", name: "phone", autocomplete: "off" }),
      customer_id: h("input", { type: "text", name: "customer_id", autocomplete: "off" }),
      hotline: select("hotline", [["", t("history.any")], ...((me && me.hotlines) || []).map((x) => [x, x])], ""),
      status: select("status", [["", t("history.any")], ...STATUSES.map((s) => [s, t(`status.${s}`)])], ""),
      min_duration: h("input", { type: "number", name: "min_duration", min: 0, step: 1, inputmode: "numeric" }),
      limit: select("limit", SIZES.map((n) => [n, n]), state.limit),
      mode: select("mode", [["page", t("history.paging.page")], ["scroll", t("history.paging.scroll")]], state.mode),
    };
    const form = h("form", { class: "filters", dataset: { test: "cdr-filters" }, "aria-labelledby": "history-filters" },
      h("h2", { id: "history-filters" }, t("history.filters")),
      h("div", { class: "grid" },
        FILTERS.map((name) => field(t(`history.${name}`), controls[name])),
        field(t("history.limit"), controls.limit),
        field(t("history.paging"), controls.mode)),
      h("div", { class: "buttons" },
        h("button", { type: "submit", dataset: { test: "cdr-search" } }, t("history.search")),
        h("button", { type: "reset", class: "secondary" }, t("history.reset"))));
    for (const [name, control] of Object.entries(controls)) control.dataset.test = `filter-${name}`;

    const status = notice(root);
    const list = h("section", { "aria-labelledby": "history-results", dataset: { test: "cdr-list" } });
    const detail = h("section", { class: "detail", hidden: true, "aria-labelledby": "history-detail",
                                   dataset: { test: "cdr-detail" } });
    root.append(h("h1", {}, t("history.title")), form, status.node, list, detail);

    form.addEventListener("submit", (event) => {
      event.preventDefault();
      state.filters = Object.fromEntries(FILTERS.map((n) => [n, controls[n].value.trim()]).filter(([, v]) => v));
      state.limit = controls.limit.value;
      state.mode = controls.mode.value;
      state.page = 1;
      state.cursors = [null];
      load();
    });
    form.addEventListener("reset", () => setTimeout(() => form.requestSubmit(), 0));

    // data-state (loading, ready, error) says when what is shown is the answer to the last request.
    async function load() {
      list.dataset.state = "loading";
      status.say(t("history.loading"));
      const query = { ...state.filters, limit: state.limit };
      if (state.mode === "page") query.page = state.page;
      else if (state.cursors.at(-1)) query.scroll_id = state.cursors.at(-1);
      let answer;
      try {
        answer = await api("/v1/cdr", { query });
      } catch (err) {
        if (alive) status.fail(err);
        list.dataset.state = "error";
        return;
      }
      if (!alive) return;
      status.clear();
      showList(answer);
      list.dataset.state = "ready";
    }

    function showList(answer) {
      const columns = [
        { label: t("history.started"), cell: (c) => time(c.time_started), rowHeader: true },
        { label: t("history.direction"), cell: (c) => t(`direction.${c.direction}`) },
        { label: t("history.extension"), cell: (c) => c.extension, test: "cdr-extension" },
        { label: t("history.from"), cell: (c) => c.from_number },
        { label: t("history.to"), cell: (c) => c.to_number },
        { label: t("history.customer_id"), cell: (c) => c.customer_id, test: "cdr-customer" },
        { label: t("history.status"), cell: (c) => h("span", { class: `status s-${c.status}`, dataset: { status: c.status } },
          t(`status.${c.status}`)), test: "cdr-status" },
        { label: t("history.duration"), cell: (c) => fmtDuration(c.duration), num: true },
        { label: t("history.billsec"), cell: (c) => fmtDuration(c.billsec), num: true, test: "cdr-billsec" },
        { label: t("history.recording"), cell: (c) => (c.recording_url ? t("history.has_recording") : "") },
        { label: t("history.detail_of"), cell: (c) => h("button", {
          type: "button", class: "link", dataset: { test: "cdr-open" },
          "aria-label": t("history.open_call", { time: time(c.time_started) }), onclick: () => openCall(c.id),
        }, t("history.open")) },
      ];
      const rows = answer.data;
      const summary = state.mode === "page"
        ? t("history.total", { total: answer.total, page: answer.page,
                               pages: Math.max(1, Math.ceil(answer.total / answer.limit)) })
        : t("history.shown", { count: rows.length });
      // The export takes the same filters (GET /v1/cdr/export); the cookie authenticates the download.
      const exported = `/v1/cdr/export?${new URLSearchParams(state.filters)}`;
      list.replaceChildren(
        h("h2", { id: "history-results" }, t("history.results")),
        h("p", { dataset: { test: "cdr-summary", total: answer.total ?? "" } }, summary),
        h("p", {}, h("a", { href: exported, download: "", dataset: { test: "cdr-export" } }, t("history.export"))),
        table({ columns, rows, empty: t("history.none"), test: "cdr-table",
                rowAttrs: (c) => ({ dataset: { test: "call-row", callId: c.id, status: c.status } }) }),
        state.mode === "page" ? pager(answer) : scroller(answer));
    }

    // Page numbers: the first, the last and a few around the current one.
    function pager(answer) {
      const pages = Math.max(1, Math.ceil(answer.total / answer.limit));
      const go = (n) => () => { state.page = n; load(); };
      const numbers = [...new Set([1, state.page - 2, state.page - 1, state.page, state.page + 1, state.page + 2, pages])]
        .filter((n) => n >= 1 && n <= pages).sort((a, b) => a - b);
      const items = [];
      numbers.forEach((n, i) => {
        if (i && n - numbers[i - 1] > 1) items.push(h("li", { class: "gap", "aria-hidden": "true" }, "…"));
        items.push(h("li", {}, h("button", {
          type: "button", onclick: go(n), "aria-current": n === state.page ? "page" : null,
          "aria-label": t("history.page_n", { n }), dataset: { test: "page-number", page: n },
        }, n)));
      });
      return h("nav", { class: "pager", "aria-label": t("history.pages") },
        h("button", { type: "button", disabled: state.page <= 1, onclick: go(1) }, t("history.first")),
        h("button", { type: "button", disabled: state.page <= 1, onclick: go(state.page - 1),
                       dataset: { test: "page-prev" } }, t("history.prev")),
        h("ul", {}, items),
        h("button", { type: "button", disabled: state.page >= pages, onclick: go(state.page + 1),
                       dataset: { test: "page-next" } }, t("history.next")),
        h("button", { type: "button", disabled: state.page >= pages, onclick: go(pages) }, t("history.last")));
    }

    // Newer / older: the cursors walked so far, so "newer" steps back to the page before.
    function scroller(answer) {
      return h("nav", { class: "pager", "aria-label": t("history.pages") },
        h("button", { type: "button", disabled: state.cursors.length <= 1, dataset: { test: "page-newer" },
                       onclick: () => { state.cursors.pop(); load(); } }, t("history.newer")),
        h("button", { type: "button", disabled: !answer.scroll_id, dataset: { test: "page-older" },
                       onclick: () => { state.cursors.push(answer.scroll_id); load(); } }, t("history.older")));
    }

    async function openCall(id) {
      detail.dataset.state = "loading";
      let call;
      try {
        call = await api(`/v1/cdr/${encodeURIComponent(id)}`);
      } catch (err) {
        if (alive) status.fail(err);
        detail.dataset.state = "error";
        return;
      }
      if (!alive) return;
      status.clear();
      showCall(call);
      detail.dataset.state = "ready";
    }

    function showCall(c) {
      const fieldNames = ["id", "sip_call_id", "status", "direction", "extension", "from_number", "to_number",
        "hotline", "customer_id", "time_started", "time_answered", "time_ended", "duration", "billsec", "cause",
        "hangup_by", "ring_group", "transferred_to", "node", ...(me && me.operator ? ["tenant"] : [])];
      const shown = (name) => {
        const v = c[name];
        if (name.startsWith("time_")) return time(v);
        if (name === "duration" || name === "billsec") return fmtDuration(v);
        if (name === "status") return t(`status.${v}`);
        if (name === "direction") return t(`direction.${v}`);
        return v === null || v === undefined ? "" : String(v);
      };
      const back = h("button", { type: "button", class: "secondary", dataset: { test: "cdr-close" },
                                  onclick: () => { detail.hidden = true; list.hidden = false; form.hidden = false; } },
        t("history.close"));
      const heading = h("h2", { id: "history-detail", tabindex: -1 }, t("history.detail", { id: c.id }));
      detail.replaceChildren(
        heading, back,
        recording(c),
        h("h3", {}, t("history.fields")),
        h("dl", { class: "record" }, fieldNames.map((name) => [
          h("dt", {}, t(`field.${name}`)), h("dd", { dataset: { test: `cdr-field-${name}` } }, shown(name))])),
        h("h3", {}, t("history.legs")),
        table({ columns: legColumns(), rows: legs(c), test: "cdr-legs",
                rowAttrs: (leg) => ({ dataset: { test: "leg-row", leg: leg.kind } }) }),
        h("h3", {}, t("history.actions")),
        table({ columns: actionColumns(), rows: c.actions || [], empty: t("history.no_actions"), test: "cdr-actions",
                rowAttrs: (a) => ({ dataset: { test: "action-row", action: a.action } }) }));
      list.hidden = true;
      form.hidden = true;
      detail.hidden = false;
      heading.focus();
    }

    // Every leg of the call in one table: the agent's and the customer's, then each agent rung, each supervisor,
    // each transfer's target.
    function legs(c) {
      const l = c.legs || {};
      const rows = [];
      if (l.agent) rows.push({ kind: "agent", name: t("history.leg.agent"), ...l.agent });
      if (l.customer) rows.push({ kind: "customer", name: t("history.leg.customer"), ...l.customer });
      (l.agents || []).forEach((a, i) => rows.push({ kind: "agents", name: t("history.leg.agents", { n: i + 1, ext: a.extension }), ...a }));
      (l.supervisors || []).forEach((s) => rows.push({ kind: "supervisor",
        name: t("history.leg.supervisor", { ext: s.extension, mode: t(`action.${s.mode}`) }), ...s }));
      (l.transfers || []).forEach((x) => rows.push({ kind: "transfer", time_created: x.time_started,
        name: t("history.leg.transfer", { n: x.transfer, target: x.target, mode: t(`transfer.${x.mode}`),
                                          status: t(`transfer.${x.status}`) }), ...x }));
      return rows;
    }

    const legColumns = () => [
      { label: t("history.leg"), cell: (r) => r.name, rowHeader: true },
      { label: t("history.sip_call_id"), cell: (r) => r.sip_call_id || "" },
      { label: t("history.created"), cell: (r) => time(r.time_created) },
      { label: t("history.ringing"), cell: (r) => time(r.time_ringing) },
      { label: t("history.answered"), cell: (r) => time(r.time_answered) },
      { label: t("history.ended"), cell: (r) => time(r.time_ended) },
      { label: t("history.cause"), cell: (r) => (r.cause ? `${r.cause}${r.cause_code != null ? ` (${r.cause_code})` : ""}` : "") },
    ];

    const actionColumns = () => [
      { label: t("history.time"), cell: (a) => time(a.time), rowHeader: true },
      { label: t("history.action"), cell: (a) => t(`action.${a.action}`) + (a.digits ? ` ${a.digits}` : "") + (a.ext ? ` (${a.ext})` : "") },
      { label: t("history.side"), cell: (a) => t(`side.${a.legs}`) },
      { label: t("history.by"), cell: (a) => a.by || t("history.operator") },
    ];

    // The recording, played in the page: <audio> asks /v1/recordings/{id} itself, with Range for seeking; the
    // session cookie goes along (same origin), so no token is ever put in a URL.
    function recording(c) {
      const box = h("section", { class: "recording", "aria-label": t("history.recording") });
      if (c.recording_url && c.status !== "IN_PROGRESS") {
        const src = `/v1/recordings/${encodeURIComponent(c.id)}`;
        box.append(
          h("audio", { controls: true, preload: "metadata", src, "aria-label": t("history.play"),
                        dataset: { test: "recording", billsec: c.billsec } }),
          h("a", { href: src, download: `${c.id}.wav` }, t("history.download")));
      } else if (c.recording_url) {
        box.append(h("p", {}, t("history.recording_progress")));
      } else if (c.recording_error) {
        box.append(h("p", { dataset: { test: "recording-error" } }, t("history.recording_error", { error: c.recording_error })));
      } else {
        box.append(h("p", {}, t("history.no_recording")));
      }
      return box;
    }

    load();
    return () => { alive = false; };
  },
};
