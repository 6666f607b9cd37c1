// The OpenWork web page: paste a token, see the host and one workspace,
// answer pending approvals. Everything goes through the public HTTP API on
// the same origin; the token stays in this browser's localStorage.

const TOKEN_KEY = "openwork.toy.token";
const RETRY_MS = 1000;

const $ = (id) => document.getElementById(id);

/** An element with attributes and children (text is never parsed as HTML). */
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** Take `#token=…` from the URL into storage, then drop it from the URL. */
function takeTokenFromFragment() {
  const match = location.hash.match(/(?:^#|&)token=([^&]+)/);
  if (match) {
    localStorage.setItem(TOKEN_KEY, decodeURIComponent(match[1]));
    history.replaceState(null, "", location.pathname + location.search);
  }
  return localStorage.getItem(TOKEN_KEY) || "";
}

let token = takeTokenFromFragment();

class ApiError extends Error {
  constructor(status, body) {
    super((body && body.message) || `HTTP ${status}`);
    this.status = status;
    this.code = body && body.code;
  }
}

async function api(path, { method = "GET", json } = {}) {
  const headers = {};
  if (token) headers.Authorization = `Bearer ${token}`;
  const init = { method, headers };
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(json);
  }
  const res = await fetch(path, init);
  const text = await res.text();
  let body = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = { message: text };
  }
  if (!res.ok) throw new ApiError(res.status, body);
  return body;
}

function showError(error) {
  const box = $("error");
  if (!error) {
    box.hidden = true;
    return;
  }
  box.textContent = error.code ? `${error.code}: ${error.message}` : error.message;
  box.hidden = false;
}

function workspaceFromPath() {
  const match = location.pathname.match(/^\/w\/([^/]+)\/ui\/?$/);
  return match ? decodeURIComponent(match[1]) : null;
}

const when = (ms) => new Date(ms).toLocaleString();

function fill(list, items, render, empty) {
  list.replaceChildren(...(items.length ? items.map(render) : [el("li", { class: "muted" }, empty)]));
}

function renderFacts(status, capabilities, whoami) {
  const facts = [
    ["Server", `openworkd ${capabilities.serverVersion}`],
    ["Your access", whoami.actor.scope || whoami.actor.type],
    ["Approvals", `${status.approval.mode} (${Math.round(status.approval.timeoutMs / 1000)} s)`],
    ["Read-only", status.readOnly ? "yes" : "no"],
    ["Sandbox", capabilities.sandbox && capabilities.sandbox.enabled ? capabilities.sandbox.backend : "off"],
    ["Inbox / outbox", capabilities.toolProviders && capabilities.toolProviders.files ? `${capabilities.toolProviders.files.inboxPath} · ${capabilities.toolProviders.files.outboxPath}` : "off"],
  ];
  $("facts").replaceChildren(...facts.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
  $("host").textContent = `up ${Math.round(status.uptimeMs / 1000)} s · ${status.workspaceCount} workspace(s)`;
}

async function loadWorkspace(id) {
  const base = `/workspace/${encodeURIComponent(id)}`;
  const [skills, commands, plugins, mcp, audit] = await Promise.all([
    api(`${base}/skills`),
    api(`${base}/commands`),
    api(`${base}/plugins`),
    api(`${base}/mcp`),
    api(`${base}/audit?limit=20`),
  ]);
  fill($("skills"), skills.items, (s) => el("li", {}, s.name, el("span", { class: "sub" }, s.description)), "No skills yet.");
  fill($("commands"), commands.items, (c) => el("li", {}, `/${c.name}`, el("span", { class: "sub" }, c.description || "")), "No commands yet.");
  fill($("plugins"), plugins.items, (p) => el("li", {}, p.spec, el("span", { class: "sub" }, `${p.source} · ${p.scope}`)), "No plugins yet.");
  fill($("mcp"), mcp.items, (m) => el("li", {}, m.name, el("span", { class: "sub" }, m.config.type || "")), "No MCP servers yet.");
  const rows = audit.items.map((a) =>
    el("tr", {}, el("td", {}, when(a.timestamp)), el("td", {}, a.action), el("td", {}, a.summary), el("td", {}, a.actor.scope || a.actor.type)),
  );
  $("audit").replaceChildren(...(rows.length ? rows : [el("tr", {}, el("td", { colspan: "4", class: "muted" }, "Nothing has happened yet."))]));
}

async function reply(id, decision, buttons) {
  buttons.forEach((b) => (b.disabled = true));
  try {
    await api(`/approvals/${encodeURIComponent(id)}`, { method: "POST", json: { reply: decision } });
    showError(null);
  } catch (error) {
    // Already decided elsewhere (or timed out): it is no longer pending.
    if (error.status === 404) pending.delete(id);
    else buttons.forEach((b) => (b.disabled = false));
    showError(error.status === 404 ? null : error);
    renderApprovals();
  }
  // Otherwise the stream's approval.decided removes it.
}

// Pending approvals, kept current from the pushed stream (GET /approvals
// with Accept: text/event-stream), resumed with Last-Event-ID.
const pending = new Map();
let lastEventId = null;
let shownApprovals = "";

function renderApprovals() {
  const items = [...pending.values()];
  const key = items.map((a) => a.id).join(",");
  $("approvals-count").textContent = String(items.length);
  $("approvals-empty").hidden = items.length > 0;
  if (key === shownApprovals) return;
  shownApprovals = key;
  $("approvals").replaceChildren(
    ...items.map((a) => {
      const allow = el("button", { class: "allow", "data-action": "allow", "data-id": a.id }, "Allow");
      const deny = el("button", { class: "deny", "data-action": "deny", "data-id": a.id }, "Deny");
      allow.addEventListener("click", () => reply(a.id, "allow", [allow, deny]));
      deny.addEventListener("click", () => reply(a.id, "deny", [allow, deny]));
      return el(
        "li",
        { class: "approval", "data-approval": a.id },
        el("span", { class: "what" }, a.summary, el("span", { class: "sub" }, `${a.action} · ${a.paths.join(", ")}`)),
        allow,
        deny,
      );
    }),
  );
}

function handleFrame(frame) {
  let name = "message";
  let data = "";
  for (const line of frame.split("\n")) {
    if (line.startsWith(":")) continue;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "event") name = value;
    else if (field === "id") lastEventId = value;
    else if (field === "data") data += (data ? "\n" : "") + value;
  }
  if (!data) return;
  const item = JSON.parse(data);
  if (name === "approval.requested") pending.set(item.id, item);
  else if (name === "approval.decided") pending.delete(item.id);
  renderApprovals();
}

async function followApprovals() {
  for (;;) {
    try {
      const headers = { Authorization: `Bearer ${token}`, Accept: "text/event-stream" };
      // Resuming: the events missed; starting: what is pending now.
      if (lastEventId !== null) headers["Last-Event-ID"] = lastEventId;
      else pending.clear();
      const res = await fetch("/approvals", { headers });
      if (!res.ok) {
        const text = await res.text();
        let body;
        try {
          body = JSON.parse(text);
        } catch {
          body = { message: text };
        }
        throw new ApiError(res.status, body);
      }
      renderApprovals();
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let cut;
        while ((cut = buffer.indexOf("\n\n")) >= 0) {
          handleFrame(buffer.slice(0, cut));
          buffer = buffer.slice(cut + 2);
        }
      }
    } catch (error) {
      showError(error);
    }
    await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
  }
}

async function start() {
  $("token").value = token;
  $("hint").hidden = Boolean(token);
  if (!token) return;
  try {
    const workspaces = await api("/workspaces");
    const wanted = workspaceFromPath();
    if (!wanted) {
      const first = workspaces.activeId || (workspaces.items[0] && workspaces.items[0].id);
      if (first) location.replace(`/w/${encodeURIComponent(first)}/ui`);
      else showError(new Error("This host serves no workspace yet."));
      return;
    }
    const [status, capabilities, whoami] = await Promise.all([api("/status"), api("/capabilities"), api("/whoami")]);
    const ws = workspaces.items.find((w) => w.id === wanted);
    if (!ws) throw new ApiError(404, { code: "workspace_not_found", message: `No workspace ${wanted}` });
    $("workspace-name").textContent = ws.name;
    $("workspace-path").textContent = ws.path;
    $("workspace-switch").replaceChildren(
      ...workspaces.items.map((w) => el("option", w.id === wanted ? { value: w.id, selected: "" } : { value: w.id }, w.name)),
    );
    renderFacts(status, capabilities, whoami);
    $("main").hidden = false;
    await loadWorkspace(wanted);
    if (whoami.actor.scope === "owner") {
      $("approvals-card").hidden = false;
      followApprovals();
    }
    showError(null);
  } catch (error) {
    showError(error);
  }
}

$("token-form").addEventListener("submit", (event) => {
  event.preventDefault();
  token = $("token").value.trim();
  localStorage.setItem(TOKEN_KEY, token);
  location.reload();
});
$("forget").addEventListener("click", () => {
  localStorage.removeItem(TOKEN_KEY);
  token = "";
  location.reload();
});
$("workspace-switch").addEventListener("change", (event) => {
  location.assign(`/w/${encodeURIComponent(event.target.value)}/ui`);
});

start();
