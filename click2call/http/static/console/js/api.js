// The public API from the browser: the session cookie (HttpOnly: this code never sees it) authenticates, and every
// request carries the session's CSRF token (X-CSRF-Token), which a page of another site cannot read.

let csrf = "";
let mePromise = null;
let signedOut = () => {};
const listeners = new Set();
let source = null;

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message || code);
    this.status = status;
    this.code = code;
  }
}

export function setCsrf(token) {
  csrf = token || "";
}

// app.js shows the sign-in view through this when the session has ended (401).
export function onSignedOut(fn) {
  signedOut = fn;
}

// api("/v1/cdr", {query: {limit: 20}}), api("/v1/call/ID/hold", {method: "POST", body: {legs: "bleg"}})
export async function api(path, {method = "GET", body, query} = {}) {
  const url = new URL(path, location.origin);
  for (const [name, value] of Object.entries(query || {})) {
    if (value !== undefined && value !== null && value !== "") url.searchParams.set(name, value);
  }
  const headers = {"Accept": "application/json"};
  if (csrf) headers["X-CSRF-Token"] = csrf;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(url, {method, headers, body: body === undefined ? undefined : JSON.stringify(body),
                                 credentials: "same-origin", cache: "no-store"});
  } catch (exc) {
    throw new ApiError(0, "NETWORK", String(exc));
  }
  const type = response.headers.get("content-type") || "";
  const data = type.startsWith("application/json") ? await response.json() : await response.text();
  if (!response.ok) {
    const error = new ApiError(response.status, data.error || `HTTP_${response.status}`, data.message || "");
    if (response.status === 401 && !path.startsWith("/console/session")) {
      forget();
      signedOut(error);
    }
    throw error;
  }
  return data;
}

// Who this session is (GET /v1/me), asked once per sign-in.
export function me() {
  if (!mePromise) mePromise = api("/v1/me").catch((exc) => { mePromise = null; throw exc; });
  return mePromise;
}

// Sign-out and the end of a session: nothing of the last one is kept.
export function forget() {
  mePromise = null;
  csrf = "";
  if (source) source.close();
  source = null;
  listeners.clear();
}

// events((name, data, id) => ...): every event of the one shared stream (GET /v1/stream); an EventSource resumes by
// itself after a drop, sending Last-Event-ID. Returns the unsubscribe function (the stream closes with the last one).
const NAMES = ["ringing", "answered", "hangup", "cdr", "missed", "supervision", "transfer",
               "registered", "unregistered", "paused", "resumed", "state"];

export function events(onEvent) {
  listeners.add(onEvent);
  if (!source) {
    source = new EventSource("/v1/stream", {withCredentials: true});
    const deliver = (name) => (message) => {
      let data;
      try { data = JSON.parse(message.data); } catch { return; }
      for (const fn of [...listeners]) {
        try { fn(name, data, message.lastEventId); } catch (exc) { console.warn(exc); }
      }
    };
    for (const name of NAMES) source.addEventListener(name, deliver(name));
    source.addEventListener("open", () => {
      for (const fn of [...listeners]) {
        try { fn("open", null, ""); } catch (exc) { console.warn(exc); }
      }
    });
  }
  return () => {
    listeners.delete(onEvent);
    if (!listeners.size && source) {
      source.close();
      source = null;
    }
  };
}
