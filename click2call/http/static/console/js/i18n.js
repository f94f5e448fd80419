// Words in Vietnamese and English. Each page module registers its own strings (register), so no shared dictionary
// is edited by two pages; times are shown in the service's time zone (GET /v1/me), not the browser's.

const STORE = "c2c.lang";
const dictionaries = {en: {}, vi: {}};
let current = pick();
let zone = "UTC";

function pick() {
  const kept = localStorage.getItem(STORE);
  if (kept === "en" || kept === "vi") return kept;
  for (const l of navigator.languages || [navigator.language || "en"]) {
    if (l.toLowerCase().startsWith("vi")) return "vi";
    if (l.toLowerCase().startsWith("en")) return "en";
  }
  return "en";
}

export function register(strings) {
  for (const l of Object.keys(dictionaries)) Object.assign(dictionaries[l], strings[l] || {});
}

// t("floor.calls", {n: 3}): the text in the current language ({n} replaced), else English, else the key itself.
export function t(key, vars) {
  const text = dictionaries[current][key] ?? dictionaries.en[key] ?? key;
  return vars ? text.replace(/\{(\w+)\}/g, (m, name) => (name in vars ? String(vars[name]) : m)) : text;
}

export function lang() {
  return current;
}

// Kept for the next visit; the page re-renders on the "c2c-lang" event (app.js).
export function setLang(l) {
  if (l !== "en" && l !== "vi") return;
  current = l;
  localStorage.setItem(STORE, l);
  document.documentElement.lang = l;
  window.dispatchEvent(new CustomEvent("c2c-lang", {detail: l}));
}

export function setTimeZone(tz) {
  zone = tz || "UTC";
}

export function timeZone() {
  return zone;
}

// An epoch (seconds) or an API time string ("2026-11-30 14:05:09", already in the service's zone).
export function fmtTime(value, withDate = true) {
  if (value === null || value === undefined || value === "") return "";
  if (typeof value === "string" && !/^\d+(\.\d+)?$/.test(value)) return value;
  const options = {timeZone: zone, hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23"};
  if (withDate) Object.assign(options, {year: "numeric", month: "2-digit", day: "2-digit"});
  return new Intl.DateTimeFormat(current === "vi" ? "vi-VN" : "en-GB", options).format(new Date(Number(value) * 1000));
}

// An API time string ("2026-11-30 14:05:09", in the service's zone) -> epoch seconds (NaN when it is not one).
export function parseTime(text) {
  const m = /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})$/.exec(text || "");
  if (!m) return NaN;
  const wall = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]);
  return (wall - offset(wall)) / 1000;
}

// The zone's offset from UTC (ms) near that instant: the wall clock there, read back as if it were UTC.
function offset(ms) {
  const parts = {};
  for (const p of new Intl.DateTimeFormat("en-US", {timeZone: zone, hourCycle: "h23", year: "numeric",
    month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit"}).formatToParts(ms)) {
    parts[p.type] = p.value;
  }
  return Date.UTC(+parts.year, +parts.month - 1, +parts.day, +parts.hour, +parts.minute, +parts.second) - ms;
}

// 75 -> "1:15", 3725 -> "1:02:05"
export function fmtDuration(seconds) {
  if (seconds === null || seconds === undefined || Number.isNaN(Number(seconds))) return "";
  const s = Math.max(0, Math.floor(Number(seconds)));
  const two = (n) => String(n).padStart(2, "0");
  const hours = Math.floor(s / 3600), minutes = Math.floor((s % 3600) / 60);
  return hours ? `${hours}:${two(minutes)}:${two(s % 60)}` : `${minutes}:${two(s % 60)}`;
}

const DETAILED = new Set(["INVALID_PARAMETER", "MISSING_PARAMETER"]);

// What went wrong, in words a person understands; the API's own message when there are none for its code.
export function errorText(error) {
  const code = error && (error.code || error.error);
  const key = `error.${code}`;
  const text = t(key);
  if (text === key) return (error && error.message) || t("error.UNKNOWN");
  // a refused input: the API's message names the field and the rule, which no general sentence can
  return DETAILED.has(code) && error.message ? `${text} (${error.message})` : text;
}

// Words every page may use; each page registers its own besides.
register({
  en: {
    "direction.outbound": "Outbound", "direction.inbound": "Inbound",
    "error.UNKNOWN": "Something went wrong. Please try again.",
    "error.NETWORK": "The service cannot be reached. Check the connection and try again.",
    "error.UNAUTHORIZED": "Your session has ended or the token is not valid. Please sign in.",
    "error.CSRF_REQUIRED": "The page's session check failed. Reload the page and try again.",
    "error.SCOPE_REQUIRED": "Your token is not allowed to do this.",
    "error.FORBIDDEN": "Your token is not allowed to do this.",
    "error.RATE_LIMITED": "Too many requests at once. Wait a moment and try again.",
    "error.TOO_MANY_CALLS": "Too many calls are in progress for this account.",
    "error.MISSING_PARAMETER": "Something required is missing.",
    "error.INVALID_PARAMETER": "A value is not valid.",
    "error.HOTLINE_NOT_FOUND": "That hotline is not configured.",
    "error.EXTENSION_NOT_ALLOWED": "That extension does not belong to your account.",
    "error.AGENT_EXTENSION_ONLY": "An agent can only act for their own extension.",
    "error.EXTENSION_NOT_FOUND": "That extension does not exist on the phone system.",
    "error.USER_NOT_REGISTERED": "The agent's phone is not connected (softphone or IP phone not registered).",
    "error.USER_BUSY": "The agent is busy on another call.",
    "error.CALL_REJECTED": "The agent declined the call.",
    "error.NO_ANSWER": "The agent did not answer.",
    "error.CANCELLED": "The call was cancelled before the agent answered.",
    "error.CALL_FAILED": "The phone system could not place the call.",
    "error.SERVICE_UNAVAILABLE": "The phone system is not reachable right now.",
    "error.CALL_NOT_FOUND": "That call is not there any more.",
    "error.CALL_NOT_CONNECTED": "The call is not connected yet (or is ending).",
    "error.CALL_ENDED": "The call has ended.",
    "error.ALREADY_HELD": "That party is on hold already.",
    "error.NOT_HELD": "That party is not on hold.",
    "error.PARTY_HELD": "That party is on hold.",
    "error.TRANSFER_IN_PROGRESS": "A transfer of this call is under way.",
    "error.ALREADY_PARKED": "The call is parked already.",
    "error.CALL_PARKED": "The call is parked: transfer the parked party to pick it up.",
  },
  vi: {
    "direction.outbound": "Gọi ra", "direction.inbound": "Gọi vào",
    "error.UNKNOWN": "Đã có lỗi. Vui lòng thử lại.",
    "error.NETWORK": "Không kết nối được dịch vụ. Kiểm tra kết nối rồi thử lại.",
    "error.UNAUTHORIZED": "Phiên đã hết hạn hoặc token không hợp lệ. Vui lòng đăng nhập.",
    "error.CSRF_REQUIRED": "Kiểm tra phiên của trang không thành công. Tải lại trang rồi thử lại.",
    "error.SCOPE_REQUIRED": "Token của bạn không được phép làm việc này.",
    "error.FORBIDDEN": "Token của bạn không được phép làm việc này.",
    "error.RATE_LIMITED": "Quá nhiều yêu cầu cùng lúc. Chờ một chút rồi thử lại.",
    "error.TOO_MANY_CALLS": "Tài khoản đang có quá nhiều cuộc gọi.",
    "error.MISSING_PARAMETER": "Thiếu thông tin bắt buộc.",
    "error.INVALID_PARAMETER": "Có giá trị không hợp lệ.",
    "error.HOTLINE_NOT_FOUND": "Hotline này chưa được cấu hình.",
    "error.EXTENSION_NOT_ALLOWED": "Máy nhánh này không thuộc tài khoản của bạn.",
    "error.AGENT_EXTENSION_ONLY": "Nhân viên chỉ thao tác được trên máy nhánh của mình.",
    "error.EXTENSION_NOT_FOUND": "Máy nhánh này không có trên tổng đài.",
    "error.USER_NOT_REGISTERED": "Điện thoại của nhân viên chưa kết nối (softphone hoặc IP phone chưa đăng ký).",
    "error.USER_BUSY": "Nhân viên đang bận cuộc gọi khác.",
    "error.CALL_REJECTED": "Nhân viên đã từ chối cuộc gọi.",
    "error.NO_ANSWER": "Nhân viên không nghe máy.",
    "error.CANCELLED": "Cuộc gọi đã bị hủy trước khi nhân viên nghe máy.",
    "error.CALL_FAILED": "Tổng đài không thực hiện được cuộc gọi.",
    "error.SERVICE_UNAVAILABLE": "Hiện không kết nối được tổng đài.",
    "error.CALL_NOT_FOUND": "Cuộc gọi này không còn nữa.",
    "error.CALL_NOT_CONNECTED": "Cuộc gọi chưa kết nối (hoặc đang kết thúc).",
    "error.CALL_ENDED": "Cuộc gọi đã kết thúc.",
    "error.ALREADY_HELD": "Bên này đang được giữ máy rồi.",
    "error.NOT_HELD": "Bên này không được giữ máy.",
    "error.PARTY_HELD": "Bên này đang được giữ máy.",
    "error.TRANSFER_IN_PROGRESS": "Cuộc gọi đang được chuyển.",
    "error.ALREADY_PARKED": "Cuộc gọi đã được đỗ rồi.",
    "error.CALL_PARKED": "Cuộc gọi đang đỗ: chuyển bên đang đỗ để nhận lại.",
  },
});

document.documentElement.lang = current;
