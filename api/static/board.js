// facwatch live board: open alerts (RED first, with the on-site countdown), tickets by state with their
// actions, and every asset's latest values. Plain JS, no build step; data from /api/v1, live via SSE.
"use strict";

(function () {
  const API = "/api/v1";
  const TOKEN_KEY = "facwatch.token";
  const ASSET_POLL_MS = 2000;
  const LIST_POLL_MS = 15000;
  const BOOL_CHANNELS = new Set(["in_door_zone", "door_open", "alarm_button", "running"]);
  const LEVEL_RANK = { red: 0, orange: 1, yellow: 2, blue: 3 };
  const LEVEL_LABEL = { red: "红 RED", orange: "橙 ORANGE", yellow: "黄 YELLOW", blue: "蓝 BLUE" };
  const KIND_LABEL = { elevator: "电梯 elevator", pump: "水泵 pump", power: "配电 power" };
  const LANES = [
    { states: ["open", "reopened"], label: "待确认 Open" },
    { states: ["acknowledged", "dispatched"], label: "已确认 Acknowledged / dispatched" },
    { states: ["on_site"], label: "已到场 On site" },
    { states: ["resolved"], label: "已修复 Resolved (holding)" },
  ];
  const STATE_LABEL = {
    open: "待确认 open", reopened: "重开 reopened", acknowledged: "已确认 acknowledged",
    dispatched: "已派单 dispatched", on_site: "已到场 on site", resolved: "已修复 resolved",
  };

  const state = { token: null, alerts: [], tickets: [], assets: [], offsetMs: 0, source: null, timers: [] };
  const $ = (id) => document.getElementById(id);

  // --- token ------------------------------------------------------------------------------------------

  function tokenFromFragment() {
    const params = new URLSearchParams(window.location.hash.replace(/^#/, ""));
    const token = params.get("token");
    if (token) {
      // Keep it for this tab only, and take it out of the address bar (and of screenshots).
      sessionStorage.setItem(TOKEN_KEY, token);
      history.replaceState(null, "", window.location.pathname + window.location.search);
    }
    return token || sessionStorage.getItem(TOKEN_KEY);
  }

  function askForToken(message) {
    stop();
    sessionStorage.removeItem(TOKEN_KEY);
    state.token = null;
    $("board").hidden = true;
    $("logout").hidden = true;
    $("login").hidden = false;
    $("login-error").hidden = !message;
    $("login-error").textContent = message || "";
    $("token-input").focus();
  }

  // --- HTTP -------------------------------------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, detail) {
      super(detail);
      this.status = status;
    }
  }

  async function api(path, options) {
    const init = Object.assign({ headers: {} }, options || {});
    init.headers = Object.assign({ Authorization: "Bearer " + state.token }, init.headers);
    const response = await fetch(API + path, init);
    if (response.status === 401) {
      askForToken("令牌无效或已撤销 · The token is invalid or revoked.");
      throw new ApiError(401, "unauthorized");
    }
    const body = response.headers.get("content-type")?.includes("json") ? await response.json() : null;
    if (!response.ok) {
      throw new ApiError(response.status, describe(body) || response.statusText);
    }
    return body;
  }

  function describe(body) {
    if (!body || body.detail === undefined) return "";
    if (typeof body.detail === "string") return body.detail;
    return body.detail.map((d) => (d.loc || []).slice(1).join(".") + ": " + d.msg).join("; ");
  }

  // --- time -------------------------------------------------------------------------------------------

  function serverNow() {
    return Date.now() + state.offsetMs;
  }

  function clockText(ms) {
    const total = Math.floor(Math.abs(ms) / 1000);
    const h = Math.floor(total / 3600);
    const m = Math.floor((total % 3600) / 60);
    const s = String(total % 60).padStart(2, "0");
    const body = h > 0 ? h + ":" + String(m).padStart(2, "0") + ":" + s : String(m).padStart(2, "0") + ":" + s;
    return (ms < 0 ? "-" : "") + body;
  }

  function timeText(iso) {
    if (!iso) return "—";
    const d = new Date(iso);
    return d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  }

  function ago(iso) {
    if (!iso) return "从未 never";
    const s = Math.max(0, Math.round((serverNow() - Date.parse(iso)) / 1000));
    return s < 90 ? s + " s" : Math.round(s / 60) + " min";
  }

  // A countdown element: ticks every second (see tick()), red and blinking once overdue.
  function countdown(deadline, label, doneText, small) {
    const el = document.createElement("span");
    el.className = "countdown" + (small ? " small" : "");
    if (doneText) {
      el.classList.add("done");
      el.textContent = doneText;
      return el;
    }
    if (!deadline) {
      el.textContent = label + " —";
      return el;
    }
    el.dataset.deadline = String(Date.parse(deadline));
    el.dataset.label = label;
    paintCountdown(el);
    return el;
  }

  function paintCountdown(el) {
    const left = Number(el.dataset.deadline) - serverNow();
    el.textContent = el.dataset.label + " " + clockText(left);
    el.classList.toggle("overdue", left < 0);
    el.title = left < 0 ? "已超时 Overdue" : "剩余 Time left";
  }

  function tick() {
    document.querySelectorAll(".countdown[data-deadline]").forEach(paintCountdown);
  }

  // --- rendering --------------------------------------------------------------------------------------

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function assetName(id) {
    const asset = state.assets.find((a) => a.id === id);
    return asset ? asset.name : id;
  }

  function renderAlerts() {
    const list = $("alerts");
    const alerts = state.alerts
      .filter((a) => a.state === "firing")
      .sort((a, b) => LEVEL_RANK[a.level] - LEVEL_RANK[b.level] || Date.parse(b.opened_at) - Date.parse(a.opened_at));
    const tickets = new Map(state.tickets.map((t) => [t.id, t]));
    list.replaceChildren();
    for (const alert of alerts) {
      const item = el("li", "alert " + alert.level);
      item.dataset.alertId = alert.id;
      item.append(el("span", "badge " + alert.level, LEVEL_LABEL[alert.level] || alert.level));
      item.append(el("span", "what", assetName(alert.asset) + " · " + alert.summary));
      const ticket = tickets.get(alert.ticket_id);
      if (alert.level === "red") {
        const arrived = ticket && ticket.on_site_at ? "已到场 On site ✓" : null;
        item.append(countdown(ticket ? ticket.deadlines.on_site : null, "到场 On site", arrived, false));
      } else {
        item.append(el("span", "muted", "×" + alert.count));
      }
      const meta = [alert.kind, "开始 opened " + timeText(alert.opened_at)];
      if (alert.acknowledged_at) meta.push("已确认 acknowledged " + timeText(alert.acknowledged_at));
      if (alert.escalation_step > 0) meta.push("已升级 escalated ×" + alert.escalation_step);
      item.append(el("span", "meta", meta.join(" · ")));
      list.append(item);
    }
    $("alerts-empty").hidden = alerts.length > 0;
    $("alert-count").textContent = alerts.length ? "(" + alerts.length + ")" : "";
  }

  function ticketActions(ticket) {
    const buttons = [];
    if (ticket.state === "open" || ticket.state === "reopened") buttons.push(["acknowledge", "确认 Acknowledge"]);
    if (["open", "reopened", "acknowledged", "dispatched"].includes(ticket.state)) {
      buttons.push(["check_in", "到场签到 Check in"]);
    }
    if (ticket.state === "on_site") buttons.push(["resolve", "已修复 Resolve"]);
    return buttons;
  }

  function ticketCountdown(ticket) {
    const d = ticket.deadlines;
    if (!ticket.acknowledged_at && d.acknowledge) return countdown(d.acknowledge, "确认 Ack", null, true);
    if (!ticket.on_site_at && d.on_site) return countdown(d.on_site, "到场 On site", null, true);
    if (!ticket.resolved_at && d.fixed) return countdown(d.fixed, "修复 Fix", null, true);
    return null;
  }

  function renderTickets() {
    const lanes = $("tickets");
    lanes.replaceChildren();
    let shown = 0;
    for (const lane of LANES) {
      const tickets = state.tickets
        .filter((t) => lane.states.includes(t.state))
        .sort((a, b) => LEVEL_RANK[a.level] - LEVEL_RANK[b.level] || Date.parse(b.created_at) - Date.parse(a.created_at));
      if (!tickets.length) continue;
      const column = el("div", "lane");
      column.append(el("h3", null, lane.label + " (" + tickets.length + ")"));
      const list = el("ul", "cards");
      for (const ticket of tickets) list.append(renderTicket(ticket));
      column.append(list);
      lanes.append(column);
      shown += tickets.length;
    }
    $("tickets-empty").hidden = shown > 0;
    $("ticket-count").textContent = shown ? "(" + shown + ")" : "";
  }

  function renderTicket(ticket) {
    const card = el("li", "ticket");
    card.dataset.ticketId = ticket.id;
    const head = el("div", "actions");
    head.append(el("span", "badge " + ticket.level, LEVEL_LABEL[ticket.level] || ticket.level));
    const clock = ticketCountdown(ticket);
    if (clock) head.append(clock);
    card.append(head);
    card.append(el("span", "title", ticket.title));
    const meta = [assetName(ticket.asset), STATE_LABEL[ticket.state] || ticket.state];
    if (ticket.assignee) meta.push("负责人 " + ticket.assignee);
    card.append(el("span", "meta", meta.join(" · ")));
    const actions = el("div", "actions");
    for (const [action, label] of ticketActions(ticket)) {
      const button = el("button", action === "acknowledge" ? null : "secondary", label);
      button.type = "button";
      button.dataset.action = action;
      button.addEventListener("click", () => act(ticket, action, button));
      actions.append(button);
    }
    card.append(actions);
    return card;
  }

  function renderAssets() {
    const root = $("assets");
    const firing = new Set(state.alerts.filter((a) => a.state === "firing").map((a) => a.asset));
    const buildings = new Map();
    for (const asset of state.assets) {
      if (!buildings.has(asset.building)) buildings.set(asset.building, { name: asset.building_name, assets: [] });
      buildings.get(asset.building).assets.push(asset);
    }
    root.replaceChildren();
    for (const [id, building] of buildings) {
      const section = el("div", "building");
      section.dataset.building = id;
      section.append(el("h3", null, building.name));
      const grid = el("div", "assets");
      for (const asset of building.assets) grid.append(renderAsset(asset, firing.has(asset.id)));
      section.append(grid);
      root.append(section);
    }
    $("assets-updated").textContent = "更新 updated " + new Date().toLocaleTimeString();
  }

  function renderAsset(asset, alerting) {
    const card = el("div", "asset");
    card.dataset.assetId = asset.id;
    const silentMs = asset.last_seen ? serverNow() - Date.parse(asset.last_seen) : Infinity;
    const offline = silentMs > Math.max(asset.interval_s * 5000, 10000);
    card.classList.toggle("offline", offline);
    card.classList.toggle("alerting", alerting);
    const head = el("div", "head");
    head.append(el("span", "name", asset.name));
    head.append(el("span", "kind", KIND_LABEL[asset.kind] || asset.kind));
    card.append(head);
    card.append(el("span", "muted", (offline ? "离线 offline · " : "") + "最新 last " + ago(asset.last_seen)));
    const values = el("dl", "values");
    for (const [channel, point] of Object.entries(asset.latest)) {
      values.append(el("dt", null, channel));
      values.append(el("dd", null, formatValue(channel, point.value)));
    }
    card.append(values);
    return card;
  }

  function formatValue(channel, value) {
    if (BOOL_CHANNELS.has(channel)) return value >= 0.5 ? "是 on" : "否 off";
    if (Number.isInteger(value)) return String(value);
    return Math.abs(value) >= 100 ? value.toFixed(1) : value.toFixed(2);
  }

  // --- actions ----------------------------------------------------------------------------------------

  async function act(ticket, action, button) {
    const body = { action };
    if (action === "check_in") {
      const code = window.prompt("输入设备现场签到码 · Enter the check-in code posted at " + assetName(ticket.asset));
      if (code === null) return;
      body.checkin_code = code.trim();
    }
    if (action === "resolve") {
      const note = window.prompt("处理说明（可选）· What was done? (optional)", "");
      if (note === null) return;
      body.note = note;
    }
    button.disabled = true;
    try {
      await api("/tickets/" + encodeURIComponent(ticket.id) + "/actions", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(body),
      });
      toast("已提交 Done: " + action.replace("_", " "), false);
      await refreshLists();
    } catch (err) {
      if (err.status !== 401) toast("失败 Failed: " + err.message, true);
    } finally {
      button.disabled = false;
    }
  }

  let toastTimer = null;
  function toast(text, bad) {
    const node = $("toast");
    node.textContent = text;
    node.classList.toggle("bad", bad);
    node.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { node.hidden = true; }, bad ? 6000 : 2500);
  }

  // --- data -------------------------------------------------------------------------------------------

  async function refreshLists() {
    const [alerts, tickets] = await Promise.all([
      api("/alerts?state=firing&limit=500"),
      api("/tickets?limit=500"),
    ]);
    state.alerts = alerts.items;
    state.tickets = tickets.items.filter((t) => t.state !== "closed" && t.state !== "cancelled");
    renderAlerts();
    renderTickets();
  }

  async function refreshAssets() {
    const [assets, health] = await Promise.all([api("/assets?limit=1000"), fetch("/healthz").then((r) => r.json())]);
    // The server's clock decides deadlines (the demo may run on simulated time); follow it.
    if (health && health.time) state.offsetMs = Date.parse(health.time) - Date.now();
    if (health && health.site) $("site-name").textContent = health.site;
    state.assets = assets.items;
    renderAssets();
  }

  let pending = null;
  function refreshSoon() {
    clearTimeout(pending);
    pending = setTimeout(() => refreshLists().catch(report), 150);
  }

  function report(err) {
    if (!(err instanceof ApiError && err.status === 401)) console.warn("facwatch board:", err);
  }

  function connect() {
    const source = new EventSource(API + "/events?access_token=" + encodeURIComponent(state.token));
    const live = (on) => {
      $("live").className = "live " + (on ? "on" : "off");
      $("live-text").textContent = on ? "实时 live" : "重连中 reconnecting";
    };
    source.onopen = () => { live(true); refreshSoon(); };
    source.onerror = () => live(false);
    source.addEventListener("alert", refreshSoon);
    source.addEventListener("ticket", refreshSoon);
    state.source = source;
  }

  function stop() {
    if (state.source) state.source.close();
    state.source = null;
    state.timers.forEach(clearInterval);
    state.timers = [];
  }

  async function start(token) {
    state.token = token;
    $("login").hidden = true;
    $("board").hidden = false;
    $("logout").hidden = false;
    try {
      await refreshAssets();
      await refreshLists();
    } catch (err) {
      report(err);
      if (!state.token) return;
    }
    connect();
    state.timers.push(setInterval(() => refreshAssets().catch(report), ASSET_POLL_MS));
    state.timers.push(setInterval(() => refreshLists().catch(report), LIST_POLL_MS));
    state.timers.push(setInterval(tick, 1000));
  }

  $("login-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const token = $("token-input").value.trim();
    if (!token) return;
    sessionStorage.setItem(TOKEN_KEY, token);
    $("token-input").value = "";
    start(token);
  });
  $("logout").addEventListener("click", () => askForToken(""));

  const token = tokenFromFragment();
  if (token) start(token);
  else askForToken("");
})();
