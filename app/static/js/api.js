// The HTTP API: JSON in and out, the session token as a Bearer header, one error type.

const TOKEN_KEY = "chimecast.token";

/** An answer other than 2xx; `message` is the server's own text, `code` its stable code. */
export class ApiError extends Error {
  constructor(status, code, message, body = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.body = body;
  }
}

/** The session token lives in sessionStorage only (per tab, gone when the tab closes). */
export const session = {
  get token() {
    return sessionStorage.getItem(TOKEN_KEY);
  },
  set token(value) {
    if (value) sessionStorage.setItem(TOKEN_KEY, value);
    else sessionStorage.removeItem(TOKEN_KEY);
  },
};

async function request(method, path, body) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const token = session.token;
  if (token) headers.Authorization = `Bearer ${token}`;
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "omit",
      cache: "no-store",
    });
  } catch (err) {
    throw new ApiError(0, "network_error", "Cannot reach the server. Check your connection.");
  }
  const text = await response.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!response.ok) {
    const code = data?.error ?? "http_error";
    const message = data?.message ?? `The server answered ${response.status}.`;
    throw new ApiError(response.status, code, message, data ?? {});
  }
  return data;
}

export const api = {
  clientConfig: () => request("GET", "/client-config"),
  register: (username, password, displayName) =>
    request("POST", "/register", {
      username,
      password,
      ...(displayName ? { display_name: displayName } : {}),
    }),
  login: (username, password) => request("POST", "/login", { username, password }),
  logout: () => request("POST", "/logout"),
  me: () => request("GET", "/me"),
  searchUsers: (q) => request("GET", `/users?q=${encodeURIComponent(q)}&limit=20`),
  user: (username) => request("GET", `/users/${encodeURIComponent(username)}`),
  iceServers: () => request("GET", "/ice-servers"),
  startCall: (callee) => request("POST", "/call/start", { callee }),
  acceptCall: (callId) => request("POST", "/call/accept", { call_id: callId }),
  declineCall: (callId) => request("POST", "/call/decline", { call_id: callId }),
  endCall: (callId) => request("POST", "/call/end", { call_id: callId }),
  history: (page = 1) => request("GET", `/calls?page=${page}&per_page=20`),
  meetings: (page = 1) => request("GET", `/meetings?page=${page}&per_page=20`),
  contacts: () => request("GET", "/me/contacts?limit=8"),
  createMeeting: ({ name, waitingRoom, size }) =>
    request("POST", "/meetings", {
      name,
      waiting_room: waitingRoom,
      ...(size ? { max_participants: size } : {}),
    }),
  leaveMeeting: (id) => request("POST", `/meetings/${id}/leave`),
  meeting: (id) => request("GET", `/meetings/${id}`),
};
