// Click-to-call: ring an agent, then dial the customer (GET /v1/click2call/async); the call's progress follows from
// the event stream, and a refusal is said in words (errorText), not as a code alone.
import {clear, notify} from "../dom.js";
import {errorText, fmtDuration, fmtTime} from "../i18n.js";

const strings = {
  en: {
    "nav.call": "Call", "call.title": "Click-to-call", "call.ext": "Agent's extension", "call.phone": "Customer's number",
    "call.hotline": "Hotline (caller ID)", "call.customerId": "Customer ID (optional)", "call.submit": "Call",
    "call.hangup": "Hang up", "call.busy": "Calling…", "call.progress": "Progress", "call.started": "Call {id} started.",
    "call.extHelp": "The agent's phone rings first; the customer is dialled when the agent answers.",
    "call.phoneHelp": "Digits only, e.g. 0899098899.",
    "call.ev.ringing.agent": "The agent's phone is ringing", "call.ev.answered.agent": "The agent answered",
    "call.ev.ringing.customer": "The customer's phone is ringing", "call.ev.answered.customer": "Connected",
    "call.ev.ringing.transfer": "The transfer target is ringing",
    "call.ev.answered.transfer": "The transfer target answered",
    "call.ev.hangup": "The call ended: {status} ({cause}), talked {billsec}", "call.ev.cdr": "The record is written.",
    "call.ev.transfer": "Transfer: {cause}", "call.ev.supervision": "Supervision: {cause}",
    "call.status.ANSWERED": "answered", "call.status.NO_ANSWER": "not answered", "call.status.BUSY": "busy",
    "call.status.FAILED": "failed", "call.status.CANCELLED": "cancelled",
    "call.failed": "The call was not connected: {status} ({cause}).",
  },
  vi: {
    "nav.call": "Gọi", "call.title": "Gọi bằng một cú nhấp", "call.ext": "Máy nhánh nhân viên",
    "call.phone": "Số khách hàng", "call.hotline": "Hotline (số hiển thị)", "call.customerId": "Mã khách hàng (tùy chọn)",
    "call.submit": "Gọi", "call.hangup": "Gác máy", "call.busy": "Đang gọi…", "call.progress": "Diễn biến",
    "call.started": "Đã bắt đầu cuộc gọi {id}.",
    "call.extHelp": "Điện thoại nhân viên đổ chuông trước; khi nhân viên nghe máy thì gọi khách hàng.",
    "call.phoneHelp": "Chỉ gồm chữ số, ví dụ 0899098899.",
    "call.ev.ringing.agent": "Điện thoại nhân viên đang đổ chuông", "call.ev.answered.agent": "Nhân viên đã nghe máy",
    "call.ev.ringing.customer": "Điện thoại khách hàng đang đổ chuông", "call.ev.answered.customer": "Đã kết nối",
    "call.ev.ringing.transfer": "Đang đổ chuông người nhận chuyển",
    "call.ev.answered.transfer": "Người nhận chuyển đã nghe máy",
    "call.ev.hangup": "Cuộc gọi kết thúc: {status} ({cause}), đàm thoại {billsec}",
    "call.ev.cdr": "Đã ghi bản ghi cuộc gọi.", "call.ev.transfer": "Chuyển cuộc gọi: {cause}",
    "call.ev.supervision": "Giám sát: {cause}",
    "call.status.ANSWERED": "có trả lời", "call.status.NO_ANSWER": "không trả lời", "call.status.BUSY": "máy bận",
    "call.status.FAILED": "thất bại", "call.status.CANCELLED": "đã hủy",
    "call.failed": "Cuộc gọi không kết nối được: {status} ({cause}).",
  },
};

function describe(name, data, t) {
  if (name === "ringing" || name === "answered") return t(`call.ev.${name}.${data.leg || "agent"}`);
  if (name === "hangup") {
    if (data.leg === "transfer") return null;
    const status = t(`call.status.${data.status}`);
    return t("call.ev.hangup", {status: status.startsWith("call.") ? data.status : status, cause: data.cause || "",
                                billsec: fmtDuration(data.billsec)});
  }
  if (name === "cdr") return t("call.ev.cdr");
  if (name === "transfer" || name === "supervision") return t(`call.ev.${name}`, {cause: data.cause || data.state});
  return null;
}

// Asterisk's hang-up causes (Q.850 names) a refused call ends with -> the API's words for them.
const CAUSES = {USER_BUSY: "USER_BUSY", CALL_REJECTED: "CALL_REJECTED", NO_ANSWER: "NO_ANSWER",
                NO_USER_RESPONSE: "NO_ANSWER", SUBSCRIBER_ABSENT: "USER_NOT_REGISTERED"};

// Why a call placed by the form ended unanswered, in words.
function failure(data, t) {
  const code = CAUSES[data.cause] || (data.status === "CANCELLED" ? "CANCELLED" : null);
  if (code) return errorText({code});
  const status = t(`call.status.${data.status}`);
  return t("call.failed", {status: status.startsWith("call.") ? data.status : status, cause: data.cause || ""});
}

async function render(root, {api, me, events, t, h}) {
  const field = (id, label, input, help) => h("div", {},
    h("label", {for: id}, label), input, help ? h("p", {id: `${id}-help`, class: "help"}, help) : null);
  const ext = h("input", {id: "call-ext", name: "ext", required: true, inputmode: "numeric", autocomplete: "off",
                          value: me.extension || "", readOnly: Boolean(me.extension), "aria-describedby": "call-ext-help",
                          "data-test": "call-ext"});
  const phone = h("input", {id: "call-phone", name: "phone", required: true, type: "tel", autocomplete: "off",
                            "aria-describedby": "call-phone-help", "data-test": "call-phone"});
  const hotline = h("select", {id: "call-hotline", name: "hotline", "data-test": "call-hotline"},
                    me.hotlines.map((n) => h("option", {value: n}, n)));
  const customer = h("input", {id: "call-customer", name: "customer_id", autocomplete: "off",
                               "data-test": "call-customer-id"});
  const submit = h("button", {type: "submit", "data-test": "call-submit"}, t("call.submit"));
  const error = h("p", {class: "error", role: "alert", "data-test": "call-error"});
  const progress = h("ol", {class: "progress", "data-test": "call-progress"});
  const heading = h("h2", {id: "progress-title"}, t("call.progress"));
  const hangup = h("button", {type: "button", class: "danger", hidden: true, "data-test": "call-hangup"},
                   t("call.hangup"));
  const callLine = h("p", {"data-test": "call-id"});
  let current = null; // the call_id this page placed

  const form = h("form", {class: "card", "data-test": "call-form", onsubmit: async (event) => {
    event.preventDefault();
    error.textContent = "";
    current = null; // the new call's first events wait in `early` until its id is known
    clear(progress);
    callLine.textContent = "";
    hangup.hidden = true;
    submit.disabled = true;
    submit.textContent = t("call.busy");
    try {
      const answer = await api("/v1/click2call/async", {query: {
        ext: ext.value.trim(), phone: phone.value.trim(), hotline: hotline.value, customer_id: customer.value.trim()}});
      current = answer.call_id;
      root.dataset.callId = current;
      callLine.textContent = t("call.started", {id: current});
      hangup.hidden = false;
      notify(t("call.started", {id: current}));
    } catch (exc) {
      error.textContent = errorText(exc);
    } finally {
      submit.disabled = false;
      submit.textContent = t("call.submit");
    }
  }},
  h("h1", {}, t("call.title")),
  h("div", {class: "grid"},
    field("call-ext", t("call.ext"), ext, t("call.extHelp")),
    field("call-phone", t("call.phone"), phone, t("call.phoneHelp")),
    field("call-hotline", t("call.hotline"), hotline),
    field("call-customer", t("call.customerId"), customer)),
  h("div", {class: "row"}, submit), error);

  hangup.addEventListener("click", async () => {
    try {
      await api(`/v1/call/${encodeURIComponent(current)}`, {method: "DELETE"});
    } catch (exc) {
      error.textContent = errorText(exc);
    }
  });

  // Events may come before the API's answer names the call: those of an unknown call wait here a moment.
  const early = [];
  function show(name, data) {
    const text = describe(name, data, t);
    if (text === null) return;
    progress.append(h("li", {"data-test": "progress-step", "data-event": name, "data-leg": data.leg || ""},
      h("time", {}, fmtTime(data.timestamp, false)), " ", text));
    if (name === "hangup" || name === "cdr") hangup.hidden = true;
    if (name === "hangup" && data.status !== "ANSWERED") error.textContent = failure(data, t);
  }
  const unsubscribe = events((name, data) => {
    if (!data || !data.call_id) return;
    if (current === null) {
      early.push([name, data]);
      if (early.length > 200) early.shift();
      return;
    }
    if (early.length) {
      for (const [n, d] of early.splice(0)) if (d.call_id === current) show(n, d);
    }
    if (data.call_id === current) show(name, data);
  });
  // flush what came before the answer, once it is known
  const flush = setInterval(() => {
    if (current !== null && early.length) {
      for (const [n, d] of early.splice(0)) if (d.call_id === current) show(n, d);
    }
  }, 200);

  root.append(form, h("section", {class: "card", "aria-labelledby": "progress-title"},
    heading, callLine, progress, hangup));
  (me.extension ? phone : ext).focus();
  return () => {
    clearInterval(flush);
    unsubscribe();
  };
}

export default {id: "call", nav: "nav.call", operatorOnly: false, strings, render};
