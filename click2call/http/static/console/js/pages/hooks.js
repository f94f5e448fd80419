// Webhooks: the subscriptions (GET /v1/event), adding one (POST /v1/event: URL, event, optional secret and API
// key, which are sent once and never shown again), removing one (a second click confirms: no window.confirm),
// and a hook's deliveries (GET /v1/event/{id}/deliveries) with every attempt and the receiver's answer, and
// resend (POST /v1/deliveries/{id}/resend).
import { t, register, fmtTime } from "../i18n.js";
import { h } from "../dom.js";
import { field, select, sheet, notice } from "../ui.js";
import { table } from "../table.js";

const EVENTS = ["ringing", "answered", "hangup", "cdr", "missed", "supervision", "transfer"];

const strings = {
  en: {
    "nav.hooks": "Webhooks",
    "hooks.title": "Webhooks",
    "hooks.list": "Subscriptions",
    "hooks.none": "No webhook yet.",
    "hooks.add": "Add a webhook",
    "hooks.url": "Callback URL",
    "hooks.url_hint": "Where each event is POSTed (https:// on the internet, or a network the operator allows).",
    "hooks.event": "Event",
    "hooks.secret": "Signing secret (optional)",
    "hooks.secret_hint": "whsec_ followed by a base64 key; without it the service's own secret signs.",
    "hooks.apikey": "Authorization header (optional)",
    "hooks.create": "Add",
    "hooks.created": "Webhook added.",
    "hooks.removed": "Webhook removed.",
    "hooks.resent": "The delivery will be sent again.",
    "hooks.state": "State",
    "hooks.active": "active",
    "hooks.disabled": "disabled: {reason}",
    "hooks.configured": "from the tenants file",
    "hooks.signing": "Signed with",
    "hooks.own_secret": "its own secret",
    "hooks.service_secret": "the service's secret",
    "hooks.with_apikey": "with Authorization",
    "hooks.created_at": "Created",
    "hooks.actions": "Actions",
    "hooks.deliveries": "Deliveries",
    "hooks.deliveries_of": "Deliveries of the {event} hook to {url}",
    "hooks.show_deliveries": "Deliveries of the {event} hook to {url}",
    "hooks.remove": "Remove",
    "hooks.remove_label": "Remove the {event} hook to {url}",
    "hooks.confirm": "Really remove?",
    "hooks.yes": "Yes, remove",
    "hooks.no": "Keep it",
    "hooks.no_deliveries": "Nothing was delivered to this hook yet.",
    "hooks.reload": "Reload",
    "hooks.close": "Close",
    "hooks.call": "Call",
    "hooks.status": "Status",
    "hooks.attempts": "Attempts",
    "hooks.answer": "Last answer",
    "hooks.when": "Delivered / next try",
    "hooks.resend": "Resend",
    "hooks.resend_label": "Resend the {event} delivery of call {call}",
    "hooks.history": "Every attempt",
    "hooks.attempt_at": "At",
    "hooks.attempt_status": "HTTP status",
    "hooks.attempt_error": "Error",
    "hooks.attempt_ms": "Time (ms)",
    "hooks.no_answer": "no answer",
    "delivery.pending": "pending", "delivery.delivered": "delivered", "delivery.failed": "failed",
    "error.HOOK_URL_REFUSED": "Webhooks may not be sent to this address.",
    "error.HOOK_NOT_FOUND": "This webhook is not there any more.",
    "error.DELIVERY_NOT_FOUND": "This delivery is not there any more.",
  },
  vi: {
    "nav.hooks": "Webhook",
    "hooks.title": "Webhook",
    "hooks.list": "Các đăng ký",
    "hooks.none": "Chưa có webhook nào.",
    "hooks.add": "Thêm webhook",
    "hooks.url": "URL nhận sự kiện",
    "hooks.url_hint": "Nơi nhận từng sự kiện qua POST (https:// trên Internet, hoặc mạng được nhà vận hành cho phép).",
    "hooks.event": "Sự kiện",
    "hooks.secret": "Khoá ký (không bắt buộc)",
    "hooks.secret_hint": "whsec_ theo sau là một khoá base64; nếu bỏ trống, khoá của dịch vụ sẽ ký.",
    "hooks.apikey": "Header Authorization (không bắt buộc)",
    "hooks.create": "Thêm",
    "hooks.created": "Đã thêm webhook.",
    "hooks.removed": "Đã xoá webhook.",
    "hooks.resent": "Lần gửi này sẽ được gửi lại.",
    "hooks.state": "Tình trạng",
    "hooks.active": "đang hoạt động",
    "hooks.disabled": "đã tắt: {reason}",
    "hooks.configured": "từ tệp khách thuê",
    "hooks.signing": "Ký bằng",
    "hooks.own_secret": "khoá riêng",
    "hooks.service_secret": "khoá của dịch vụ",
    "hooks.with_apikey": "có Authorization",
    "hooks.created_at": "Tạo lúc",
    "hooks.actions": "Thao tác",
    "hooks.deliveries": "Các lần gửi",
    "hooks.deliveries_of": "Các lần gửi của webhook {event} tới {url}",
    "hooks.show_deliveries": "Các lần gửi của webhook {event} tới {url}",
    "hooks.remove": "Xoá",
    "hooks.remove_label": "Xoá webhook {event} tới {url}",
    "hooks.confirm": "Chắc chắn xoá?",
    "hooks.yes": "Xoá",
    "hooks.no": "Giữ lại",
    "hooks.no_deliveries": "Chưa có lần gửi nào cho webhook này.",
    "hooks.reload": "Tải lại",
    "hooks.close": "Đóng",
    "hooks.call": "Cuộc gọi",
    "hooks.status": "Trạng thái",
    "hooks.attempts": "Số lần thử",
    "hooks.answer": "Phản hồi gần nhất",
    "hooks.when": "Đã gửi / lần thử tới",
    "hooks.resend": "Gửi lại",
    "hooks.resend_label": "Gửi lại sự kiện {event} của cuộc gọi {call}",
    "hooks.history": "Từng lần thử",
    "hooks.attempt_at": "Lúc",
    "hooks.attempt_status": "Mã HTTP",
    "hooks.attempt_error": "Lỗi",
    "hooks.attempt_ms": "Thời gian (ms)",
    "hooks.no_answer": "không có phản hồi",
    "delivery.pending": "đang chờ", "delivery.delivered": "đã gửi", "delivery.failed": "thất bại",
    "error.HOOK_URL_REFUSED": "Không được phép gửi webhook tới địa chỉ này.",
    "error.HOOK_NOT_FOUND": "Webhook này không còn nữa.",
    "error.DELIVERY_NOT_FOUND": "Lần gửi này không còn nữa.",
  },
};
register(strings);

const when = (epoch) => (epoch ? fmtTime(epoch) : "");
const answer = (code, error) => [code ? `HTTP ${code}` : "", error].filter(Boolean).join(" – ") || t("hooks.no_answer");

export default {
  id: "hooks",
  nav: "nav.hooks",
  operatorOnly: false,
  strings,
  async render(root, ctx) {
    sheet("../css/pages.css");
    const api = ctx.api;
    let alive = true;
    let open = null;  // the hook whose deliveries are shown

    const status = notice(root);
    const list = h("section", { "aria-labelledby": "hooks-list", dataset: { test: "hook-list" } });
    const deliveries = h("section", { hidden: true, "aria-labelledby": "hooks-deliveries",
                                       dataset: { test: "deliveries" } });
    const url = h("input", { type: "url", name: "callback_url", required: true, autocomplete: "off",
                              dataset: { test: "hook-url" } });
    const event = select("event", EVENTS.map((e) => [e, e]), "cdr");
    event.dataset.test = "hook-event";
    const secret = h("input", { type: "password", name: "secret", autocomplete: "new-password",
                                 dataset: { test: "hook-secret" } });
    const apikey = h("input", { type: "password", name: "callback_apikey", autocomplete: "new-password",
                                 dataset: { test: "hook-apikey" } });
    const form = h("form", { class: "filters", "aria-labelledby": "hooks-add", dataset: { test: "hook-form" } },
      h("h2", { id: "hooks-add" }, t("hooks.add")),
      h("div", { class: "grid" },
        field(t("hooks.url"), url, t("hooks.url_hint")),
        field(t("hooks.event"), event),
        field(t("hooks.secret"), secret, t("hooks.secret_hint")),
        field(t("hooks.apikey"), apikey)),
      h("div", { class: "buttons" }, h("button", { type: "submit", dataset: { test: "hook-add" } }, t("hooks.create"))));
    root.append(h("h1", {}, t("hooks.title")), status.node, list, form, deliveries);

    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const body = { callback_url: url.value.trim(), event: event.value };
      if (secret.value) body.secret = secret.value;
      if (apikey.value) body.callback_apikey = apikey.value;
      try {
        await api("/v1/event", { method: "POST", body });
      } catch (err) {
        if (alive) status.fail(err);
        return;
      }
      if (!alive) return;
      form.reset();  // the secret and key are not kept in the page
      status.say(t("hooks.created"));
      loadHooks();
    });

    // data-state (loading, ready, error) says when what is shown is the answer to the last request.
    async function loadHooks() {
      list.dataset.state = "loading";
      let reply;
      try {
        reply = await api("/v1/event");
      } catch (err) {
        if (alive) status.fail(err);
        list.dataset.state = "error";
        return;
      }
      if (!alive) return;
      const hooks = reply.data;
      list.replaceChildren(h("h2", { id: "hooks-list" }, t("hooks.list")), table({
        test: "hook-table", rows: hooks, empty: t("hooks.none"),
        rowAttrs: (hk) => ({ dataset: { test: "hook-row", hookId: hk.id, event: hk.event } }),
        columns: [
          { label: t("hooks.url"), cell: (hk) => hk.callback_url, rowHeader: true, test: "hook-url" },
          { label: t("hooks.event"), cell: (hk) => hk.event },
          { label: t("hooks.state"), cell: (hk) => [
            hk.disabled ? t("hooks.disabled", { reason: hk.disabled_reason }) : t("hooks.active"),
            hk.configured ? ` (${t("hooks.configured")})` : ""].join("") },
          { label: t("hooks.signing"), cell: (hk) => [hk.has_secret ? t("hooks.own_secret") : t("hooks.service_secret"),
            hk.has_callback_apikey ? `, ${t("hooks.with_apikey")}` : ""].join("") },
          { label: t("hooks.created_at"), cell: (hk) => when(hk.created_at) },
          { label: t("hooks.actions"), cell: (hk) => actions(hk) },
        ],
      }));
      if (open && !hooks.some((hk) => hk.id === open.id)) closeDeliveries();
      list.dataset.state = "ready";
    }

    function actions(hk) {
      const names = { event: hk.event, url: hk.callback_url };
      const box = h("div", { class: "row-actions" });
      const show = h("button", { type: "button", dataset: { test: "hook-deliveries" },
        "aria-label": t("hooks.show_deliveries", names), onclick: () => showDeliveries(hk) }, t("hooks.deliveries"));
      const remove = h("button", { type: "button", class: "danger", dataset: { test: "hook-remove" },
        disabled: hk.configured, "aria-label": t("hooks.remove_label", names), onclick: () => confirm() },
        t("hooks.remove"));
      // Two steps in the row itself: a stray click removes nothing.
      function confirm() {
        const yes = h("button", { type: "button", class: "danger", dataset: { test: "hook-remove-yes" },
          "aria-label": t("hooks.remove_label", names), onclick: () => removeHook(hk) }, t("hooks.yes"));
        const no = h("button", { type: "button", dataset: { test: "hook-remove-no" },
          onclick: () => { box.replaceChildren(show, remove); remove.focus(); } }, t("hooks.no"));
        box.replaceChildren(h("span", { role: "status" }, t("hooks.confirm")), yes, no);
        no.focus();
      }
      box.append(show, remove);
      return box;
    }

    async function removeHook(hk) {
      try {
        await api(`/v1/event/${encodeURIComponent(hk.id)}`, { method: "DELETE" });
      } catch (err) {
        if (alive) status.fail(err);
        return;
      }
      if (!alive) return;
      status.say(t("hooks.removed"));
      loadHooks();
    }

    function closeDeliveries() {
      open = null;
      deliveries.hidden = true;
      deliveries.replaceChildren();
    }

    async function showDeliveries(hk) {
      open = hk;
      deliveries.dataset.state = "loading";
      let reply;
      try {
        reply = await api(`/v1/event/${encodeURIComponent(hk.id)}/deliveries`);
      } catch (err) {
        if (alive) status.fail(err);
        deliveries.dataset.state = "error";
        return;
      }
      if (!alive || open !== hk) return;
      const heading = h("h2", { id: "hooks-deliveries", tabindex: -1 },
        t("hooks.deliveries_of", { event: hk.event, url: hk.callback_url }));
      const focusBack = deliveries.hidden;
      deliveries.replaceChildren(heading,
        h("div", { class: "buttons" },
          h("button", { type: "button", dataset: { test: "deliveries-reload" }, onclick: () => showDeliveries(hk) },
            t("hooks.reload")),
          h("button", { type: "button", class: "secondary", onclick: closeDeliveries }, t("hooks.close"))),
        table({
          test: "delivery-table", wrap: true, rows: reply.data, empty: t("hooks.no_deliveries"),
          rowAttrs: (d) => ({ dataset: { test: "delivery-row", deliveryId: d.id, status: d.status } }),
          columns: [
            { label: t("hooks.event"), cell: (d) => d.event, rowHeader: true },
            { label: t("hooks.status"), cell: (d) => t(`delivery.${d.status}`), test: "delivery-status" },
            { label: t("hooks.actions"), cell: (d) => (d.status === "pending" ? "" : h("button", {
              type: "button", dataset: { test: "delivery-resend" }, onclick: () => resend(hk, d),
              "aria-label": t("hooks.resend_label", { event: d.event, call: d.call_id }) }, t("hooks.resend"))) },
            { label: t("hooks.attempts"), cell: (d) => String(d.attempts), num: true, test: "delivery-attempts" },
            { label: t("hooks.answer"), cell: (d) => (d.attempts ? answer(d.last_status_code, d.last_error) : ""),
              test: "delivery-answer" },
            { label: t("hooks.when"), cell: (d) => when(d.delivered_at || d.next_attempt_at) },
            { label: t("hooks.call"), cell: (d) => d.call_id },
            { label: t("hooks.history"), cell: (d) => attempts(d) },
          ],
        }));
      deliveries.hidden = false;
      deliveries.dataset.state = "ready";
      if (focusBack) heading.focus();
    }

    // Each attempt: when, the receiver's HTTP status (or why there was none), how long it took, and what the
    // receiver said when it refused.
    function attempts(d) {
      if (!d.history.length) return "";
      return h("ol", { class: "attempts", dataset: { test: "attempts" } }, d.history.map((a) =>
        h("li", { dataset: { test: "attempt", statusCode: a.status_code ?? "" } },
          `${when(a.at)}: ${answer(a.status_code, a.error)} (${a.duration_ms} ms)`,
          a.answer ? h("q", { class: "receiver-answer", dataset: { test: "attempt-answer" } }, a.answer) : "")));
    }

    async function resend(hk, d) {
      try {
        await api(`/v1/deliveries/${encodeURIComponent(d.id)}/resend`, { method: "POST" });
      } catch (err) {
        if (alive) status.fail(err);
        return;
      }
      if (!alive) return;
      status.say(t("hooks.resent"));
      showDeliveries(hk);
    }

    await loadHooks();
    return () => { alive = false; };
  },
};
