// facwatch live board: open alerts worst first (RED with its 3-minute on-site countdown and its escalation
// step), tickets by state with their actions, every asset by building with sparklines of its key channels,
// and the data path's health. Plain JS, no build step; data from /api/v1, live over server-sent events.
// Words come from i18n.js (Chinese by default, English by the toggle).
"use strict";

(function () {
  const API = "/api/v1";
  const TOKEN_KEY = "facwatch.token";
  const ASSET_POLL_MS = 2000;
  const LIST_POLL_MS = 15000;
  const RECONNECT_MS = 3000;
  const HISTORY_POINTS = 90;
  const HISTORY_WINDOW_MS = 5 * 60 * 1000;
  const BOOL_CHANNELS = new Set(["in_door_zone", "door_open", "alarm_button", "running"]);
  const KEY_CHANNELS = {
    elevator: ["floor", "motor_current_a"],
    pump: ["discharge_pressure_bar", "flow_m3h"],
    power: ["voltage_l1_v", "current_l1_a"],
  };
  const LEVEL_RANK = { red: 0, orange: 1, yellow: 2, blue: 3 };
  const LANES = [
    { states: ["open", "reopened"], label: "laneOpen" },
    { states: ["acknowledged", "dispatched"], label: "laneAck" },
    { states: ["on_site"], label: "laneOnSite" },
    { states: ["resolved"], label: "laneResolved" },
  ];
  const t = (key) => window.fwT(key);

  const state = {
    token: null, alerts: [], tickets: [], assets: [], offsetMs: 0, source: null, timers: [],
    history: new Map(), health: {},
    sites: [], site: "",  // the sites this token may see; the one picked ("" = all of them)
  };
  const SITE_KEY = "facwatch.board.site";
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

  function newKey() {
    // crypto.randomUUID needs a secure context; a control-room board may be served over plain http.
    const random = new Uint32Array(4);
    crypto.getRandomValues(random);
    return "board-" + Array.from(random, (n) => n.toString(16)).join("");
  }

  async function api(path, options) {
    const init = Object.assign({ headers: {} }, options || {});
    init.headers = Object.assign({ Authorization: "Bearer " + state.token }, init.headers);
    if (init.method === "POST") {
      // One key per click: a retried POST (flaky phone network) acts once.
      init.headers["Content-Type"] = "application/json";
      init.headers["Idempotency-Key"] = init.headers["Idempotency-Key"] || newKey();
    }
    const response = await fetch(API + path, init);
    if (response.status === 401) {
      askForToken(t("tokenBad"));
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

  // Times are shown as the site's clock reads them: in the site's own time zone (from /api/v1/sites, the
  // zone its messages use), 24-hour, in the page's language. The browser's zone and locale play no part:
  // a board watched from another zone still shows the time the engineer on site sees.
  const zones = new Map();
  const formats = new Map();

  async function loadZones() {
    const body = await api("/sites?limit=1000");
    for (const site of body.items) zones.set(site.id, site.timezone);
    if (body.items.length) zones.set("", body.items[0].timezone);
  }

  function timeText(iso, siteId) {
    if (!iso) return "—";
    const zone = zones.get(siteId || "") || zones.get("") || "UTC";
    const locale = window.fwLang() === "en" ? "en-GB" : "zh-CN";
    const key = locale + "|" + zone;
    if (!formats.has(key)) {
      formats.set(key, new Intl.DateTimeFormat(locale, {
        timeZone: zone, hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23",
      }));
    }
    return formats.get(key).format(new Date(iso));
  }

  function ago(iso) {
    if (!iso) return t("never");
    const s = Math.max(0, Math.round((serverNow() - Date.parse(iso)) / 1000));
    return s < 90 ? s + " s" : Math.round(s / 60) + " min";
  }

  // A countdown element: ticks every second (see tick()), red and blinking once overdue.
  function countdown(deadline, label, doneText, small) {
    const node = document.createElement("span");
    node.className = "countdown" + (small ? " small" : "");
    if (doneText) {
      node.classList.add("done");
      node.textContent = doneText;
      return node;
    }
    if (!deadline) {
      node.textContent = label + " —";
      return node;
    }
    node.dataset.deadline = String(Date.parse(deadline));
    node.dataset.label = label;
    paintCountdown(node);
    return node;
  }

  function paintCountdown(node) {
    const left = Number(node.dataset.deadline) - serverNow();
    node.textContent = node.dataset.label + " " + clockText(left);
    node.dataset.leftMs = String(left);
    node.classList.toggle("overdue", left < 0);
    node.title = left < 0 ? t("overdue") : t("left");
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

  // A name the site file gives in both languages ("1号楼1单元电梯 Building 1 unit 1 elevator"): the page's
  // language's part (the same rule as the messages, alerts/notify/messages.py split_name).
  function localName(name) {
    const text = String(name || "");
    const cut = text.indexOf(" ");
    if (cut < 0 || /^[\x00-\x7f]*$/.test(text.slice(0, cut))) return text;
    return window.fwLang() === "en" ? text.slice(cut + 1) : text.slice(0, cut);
  }

  function assetName(id) {
    const asset = state.assets.find((a) => a.id === id);
    return asset ? localName(asset.name) : id;
  }

  // What a ticket is about, in the page's language: its alert's label, else its stored title.
  function ticketTitle(ticket) {
    const alert = state.alerts.find((a) => (ticket.alert_ids || []).includes(a.id));
    const said = alert && alert.label ? alert.label[window.fwLang()] : null;
    return said ? assetName(ticket.asset) + " · " + said : ticket.title;
  }

  function button(label, action, onClick, primary) {
    const node = el("button", primary ? null : "secondary", label);
    node.type = "button";
    node.dataset.action = action;
    node.addEventListener("click", () => onClick(node));
    return node;
  }

  function escalationText(step) {
    // Step 0 is the on-call engineer: shown as level 1 of 3 of the chain.
    const steps = t("escalationSteps");
    const level = Math.min(step, steps.length - 1);
    return t("escalation") + " " + (level + 1) + "/" + steps.length + ": " + steps[level];
  }

  function renderAlerts() {
    const list = $("alerts");
    const alerts = state.alerts
      .filter((a) => a.state === "firing")
      .sort((a, b) => LEVEL_RANK[a.level] - LEVEL_RANK[b.level] || Date.parse(b.opened_at) - Date.parse(a.opened_at));
    const tickets = new Map(state.tickets.map((tk) => [tk.id, tk]));
    list.replaceChildren();
    for (const alert of alerts) {
      const item = el("li", "alert " + alert.level);
      item.dataset.alertId = alert.id;
      item.dataset.asset = alert.asset;
      if (alert.ticket_id) item.dataset.ticketId = alert.ticket_id;
      item.append(el("span", "badge " + alert.level, t(alert.level)));
      const said = (alert.label && alert.label[window.fwLang()]) || alert.summary;
      item.append(el("span", "what", assetName(alert.asset) + " · " + said));
      const ticket = tickets.get(alert.ticket_id);
      if (alert.level === "red") {
        const arrived = ticket && ticket.on_site_at ? t("arrived") : null;
        item.append(countdown(ticket ? ticket.deadlines.on_site : null, t("onSite"), arrived, false));
      } else {
        item.append(el("span", "muted", "×" + alert.count));
      }
      const meta = [alert.kind, t("opened") + " " + timeText(alert.opened_at, alert.site)];
      if (alert.acknowledged_at) meta.push(t("acknowledged") + " " + timeText(alert.acknowledged_at, alert.site));
      item.append(el("span", "meta", meta.join(" · ")));
      const escalation = el("span", "escalation step" + Math.min(alert.escalation_step, 2));
      escalation.textContent = escalationText(alert.escalation_step);
      item.append(escalation);
      const actions = el("div", "actions");
      // Acknowledging the alert also stops its ticket's acknowledge clock: one button, not two.
      const ackable = !alert.acknowledged_at;
      if (ackable) actions.append(button(t("a_acknowledge"), "ack-alert", (b) => ackAlert(alert, b), true));
      if (ticket) {
        for (const node of ticketButtons(ticket)) {
          if (!(ackable && node.dataset.action === "acknowledge")) actions.append(node);
        }
      }
      item.append(actions);
      list.append(item);
    }
    $("alerts-empty").hidden = alerts.length > 0;
    $("alert-count").textContent = alerts.length ? "(" + alerts.length + ")" : "";
  }

  function ticketButtons(ticket) {
    const actions = [];
    const s = ticket.state;
    if (s === "open" || s === "reopened") actions.push("acknowledge");
    if (["open", "reopened", "acknowledged"].includes(s)) actions.push("dispatch");
    if (["open", "reopened", "acknowledged", "dispatched"].includes(s)) actions.push("check_in");
    if (s === "on_site") actions.push("resolve");
    return actions.map((action) =>
      button(t("a_" + action), action, (b) => act(ticket, action, b), action === "acknowledge" || action === "check_in"));
  }

  function ticketCountdown(ticket) {
    const d = ticket.deadlines;
    if (!ticket.acknowledged_at && d.acknowledge) return countdown(d.acknowledge, t("ack"), null, true);
    if (!ticket.on_site_at && d.on_site) return countdown(d.on_site, t("onSite"), null, true);
    if (!ticket.resolved_at && d.fixed) return countdown(d.fixed, t("fix"), null, true);
    return null;
  }

  function renderTickets() {
    const lanes = $("tickets");
    lanes.replaceChildren();
    let shown = 0;
    for (const lane of LANES) {
      const tickets = state.tickets
        .filter((tk) => lane.states.includes(tk.state))
        .sort((a, b) => LEVEL_RANK[a.level] - LEVEL_RANK[b.level] || Date.parse(b.created_at) - Date.parse(a.created_at));
      if (!tickets.length) continue;
      const column = el("div", "lane");
      column.dataset.lane = lane.states[0];
      column.append(el("h3", null, t(lane.label) + " (" + tickets.length + ")"));
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
    card.dataset.state = ticket.state;
    const head = el("div", "actions");
    head.append(el("span", "badge " + ticket.level, t(ticket.level)));
    const clock = ticketCountdown(ticket);
    if (clock) head.append(clock);
    card.append(head);
    card.append(el("span", "title", ticketTitle(ticket)));
    const meta = [assetName(ticket.asset) || ticket.building, t("st_" + ticket.state)];
    if (ticket.assignee) meta.push(t("assignee") + " " + ticket.assignee);
    if (ticket.progress_percent !== null && ticket.progress_percent !== undefined) {
      meta.push(Math.round(ticket.progress_percent) + "%" + (ticket.eta ? " · ETA " + timeText(ticket.eta, ticket.site) : ""));
    }
    card.append(el("span", "meta", meta.join(" · ")));
    const actions = el("div", "actions");
    for (const node of ticketButtons(ticket)) actions.append(node);
    card.append(actions);
    return card;
  }

  function renderAssets() {
    const root = $("assets");
    const firing = new Map();
    for (const a of state.alerts) {
      if (a.state !== "firing") continue;
      const worst = firing.get(a.asset);
      if (!worst || LEVEL_RANK[a.level] < LEVEL_RANK[worst]) firing.set(a.asset, a.level);
    }
    const buildings = new Map();
    for (const asset of state.assets) {
      if (!buildings.has(asset.building)) buildings.set(asset.building, { name: asset.building_name, assets: [] });
      buildings.get(asset.building).assets.push(asset);
    }
    root.replaceChildren();
    for (const [id, building] of buildings) {
      const section = el("div", "building");
      section.dataset.building = id;
      section.append(el("h3", null, localName(building.name)));
      const grid = el("div", "assets");
      for (const asset of building.assets) grid.append(renderAsset(asset, firing.get(asset.id)));
      section.append(grid);
      root.append(section);
    }
    $("assets-updated").textContent = t("updated") + " " + timeText(new Date(serverNow()).toISOString());
  }

  function renderAsset(asset, level) {
    const card = el("div", "asset");
    card.dataset.assetId = asset.id;
    const silentMs = asset.last_seen ? serverNow() - Date.parse(asset.last_seen) : Infinity;
    const offline = silentMs > Math.max(asset.interval_s * 5000, 10000);
    card.classList.toggle("offline", offline);
    if (level) card.classList.add("alerting", level);
    else if (!offline) card.classList.add("normal");
    const head = el("div", "head");
    head.append(el("span", "name", localName(asset.name)));
    head.append(el("span", "kind", t(asset.kind)));
    card.append(head);
    card.append(el("span", "muted", (offline ? t("offline") + " · " : "") + t("last") + " " + ago(asset.last_seen)));
    for (const channel of KEY_CHANNELS[asset.kind] || []) {
      const points = state.history.get(asset.id + "/" + channel) || [];
      const row = el("div", "spark-row");
      const point = asset.latest[channel];
      row.append(el("span", "spark-label", channelLabel(channel, point)));
      row.append(sparkline(points));
      row.append(el("span", "spark-value", point ? formatValue(channel, point.value, point) : "—"));
      card.append(row);
    }
    const values = el("dl", "values");
    for (const [channel, point] of Object.entries(asset.latest)) {
      if ((KEY_CHANNELS[asset.kind] || []).includes(channel) || point.internal) continue;
      values.append(el("dt", null, channelLabel(channel, point)));
      values.append(el("dd", null, formatValue(channel, point.value, point)));
    }
    card.append(values);
    return card;
  }

  function sparkline(points) {
    const ns = "http://www.w3.org/2000/svg";
    const svg = document.createElementNS(ns, "svg");
    svg.setAttribute("class", "spark");
    svg.setAttribute("viewBox", "0 0 100 24");
    svg.setAttribute("preserveAspectRatio", "none");
    if (points.length < 2) return svg;
    const t0 = points[0][0];
    const t1 = points[points.length - 1][0];
    let lo = Infinity;
    let hi = -Infinity;
    for (const [, v] of points) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
    const span = hi - lo || 1;
    const coords = points.map(([ts, v]) => {
      const x = t1 > t0 ? ((ts - t0) / (t1 - t0)) * 100 : 0;
      const y = 22 - ((v - lo) / span) * 20;
      return x.toFixed(1) + "," + y.toFixed(1);
    });
    const line = document.createElementNS(ns, "polyline");
    line.setAttribute("points", coords.join(" "));
    svg.append(line);
    return svg;
  }

  function formatValue(channel, value, point) {
    if (BOOL_CHANNELS.has(channel) || (point && point.boolean)) return value >= 0.5 ? t("on") : t("off");
    const number = Number.isInteger(value) ? String(value) : Math.abs(value) >= 100 ? value.toFixed(1) : value.toFixed(2);
    return point && point.unit ? number + " " + point.unit : number;
  }

  // A channel in people's words: its label in the page's language (from the API's channel registry).
  function channelLabel(channel, point) {
    return (point && point.label && point.label[window.fwLang()]) || channel;
  }

  function renderHealth() {
    const root = $("health");
    root.replaceChildren();
    const h = state.health;
    root.classList.toggle("stale", Boolean(h.stale));
    root.title = h.stale ? t("datapathStale") : "";
    const rows = [
      ["readingsPerS", h.readingsPerS === undefined ? "—" : h.readingsPerS.toFixed(1), "readings"],
      ["deadLetters", h.deadLetters ?? "—", h.deadLetters > 0 ? "warn" : ""],
      ["spool", h.spool ?? "—", h.spool > 0 ? "warn" : ""],
      ["queue", h.queue ?? "—", ""],
      ["streams", h.streams ?? "—", ""],
    ];
    for (const [key, value, cls] of rows) {
      const cell = el("div", "health-item " + cls);
      cell.dataset.metric = key;
      cell.append(el("dt", null, t(key)));
      cell.append(el("dd", null, value));
      root.append(cell);
    }
  }

  function renderAll() {
    window.fwApplyStatic();
    renderHealth();
    renderAlerts();
    renderTickets();
    renderAssets();
    const live = $("live").classList.contains("on");
    $("live-text").textContent = live ? t("live") : t(state.source ? "reconnecting" : "offline");
  }

  // --- actions ----------------------------------------------------------------------------------------

  async function ackAlert(alert, node) {
    node.disabled = true;
    try {
      await api("/alerts/" + encodeURIComponent(alert.id) + "/acknowledge", { method: "POST", body: "{}" });
      toast(t("done") + ": " + t("a_acknowledge"), false);
      await refreshLists();
    } catch (err) {
      if (err.status !== 401) toast(t("failed") + ": " + err.message, true);
    } finally {
      node.disabled = false;
    }
  }

  async function act(ticket, action, node) {
    const body = { action };
    if (action === "check_in") {
      const code = window.prompt(t("promptCode") + " " + assetName(ticket.asset));
      if (code === null) return;
      body.checkin_code = code.trim();
    }
    if (action === "dispatch") {
      const who = window.prompt(t("promptAssignee"), "");
      if (who === null) return;
      if (who.trim()) body.assignee = who.trim();
    }
    if (action === "resolve") {
      const note = window.prompt(t("promptNote"), "");
      if (note === null) return;
      body.note = note;
    }
    node.disabled = true;
    try {
      await api("/tickets/" + encodeURIComponent(ticket.id) + "/actions", {
        method: "POST",
        body: JSON.stringify(body),
      });
      toast(t("done") + ": " + t("a_" + action), false);
      await refreshLists();
    } catch (err) {
      if (err.status !== 401) toast(t("failed") + ": " + err.message, true);
    } finally {
      node.disabled = false;
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

  // --- sites ------------------------------------------------------------------------------------------

  // The site picker: every site the token may see, or one. Lists follow the pick (?site=); the assets and the
  // data path show the picked site, or the first one while all are picked.
  function siteQuery(prefix) {
    return state.site ? prefix + "site=" + encodeURIComponent(state.site) : "";
  }

  function assetSite() {
    return state.site || (state.sites.length ? state.sites[0].id : "");
  }

  function assetQuery(prefix) {
    const site = assetSite();
    return site && state.sites.length > 1 ? prefix + "site=" + encodeURIComponent(site) : "";
  }

  function renderSites() {
    const picker = $("site-picker");
    picker.hidden = state.sites.length < 2;
    picker.replaceChildren();
    const all = document.createElement("option");
    all.value = "";
    all.textContent = t("allSites");
    picker.append(all);
    for (const site of state.sites) {
      const option = document.createElement("option");
      option.value = site.id;
      option.textContent = site.name || site.id;
      picker.append(option);
    }
    picker.value = state.site;
  }

  async function loadSites() {
    const body = await api("/sites?limit=1000");
    state.sites = body.items;
    const kept = sessionStorage.getItem(SITE_KEY) || "";
    state.site = state.sites.some((s) => s.id === kept) ? kept : "";
    renderSites();
  }

  async function pickSite(site) {
    state.site = site;
    sessionStorage.setItem(SITE_KEY, site);
    state.history = new Map();
    await refreshAssets();
    await refreshLists();
    refreshHealth().catch(report);
    loadHistory().then(renderAssets).catch(report);
  }

  async function refreshLists() {
    const [alerts, tickets] = await Promise.all([
      api("/alerts?state=firing&limit=500" + siteQuery("&")),
      api("/tickets?limit=500" + siteQuery("&")),
    ]);
    state.alerts = alerts.items;
    state.tickets = tickets.items.filter((tk) => tk.state !== "closed" && tk.state !== "cancelled");
    renderAlerts();
    renderTickets();
  }

  function remember(assetId, channel, tsMs, value) {
    const key = assetId + "/" + channel;
    const points = state.history.get(key) || [];
    if (points.length && points[points.length - 1][0] >= tsMs) return;
    points.push([tsMs, value]);
    if (points.length > HISTORY_POINTS) points.splice(0, points.length - HISTORY_POINTS);
    state.history.set(key, points);
  }

  async function loadHistory() {
    // The sparklines start from the last five minutes (5 s means), then grow with every poll.
    const end = serverNow();
    const start = end - HISTORY_WINDOW_MS;
    const jobs = [];
    for (const asset of state.assets) {
      for (const channel of KEY_CHANNELS[asset.kind] || []) {
        const query = "?channel=" + channel + "&start=" + Math.floor(start) + "&end=" + Math.ceil(end) + "&every=5s";
        jobs.push(api("/assets/" + encodeURIComponent(asset.id) + "/readings" + query + assetQuery("&")).then((body) => {
          for (const p of body.points) remember(asset.id, channel, Date.parse(p.ts), p.value);
        }));
      }
    }
    await Promise.allSettled(jobs);
  }

  async function refreshAssets() {
    const [assets, health] = await Promise.all([
      api("/assets?limit=1000" + assetQuery("&")),
      fetch("/healthz").then((r) => r.json()),
    ]);
    // The server's clock decides deadlines (the demo may run on simulated time); follow it.
    if (health && health.time) state.offsetMs = Date.parse(health.time) - Date.now();
    const site = assetSite() || (health && health.site);
    if (site) $("site-name").textContent = state.sites.length > 1 ? "" : site;
    state.assets = assets.items;
    for (const asset of state.assets) {
      for (const channel of KEY_CHANNELS[asset.kind] || []) {
        const point = asset.latest[channel];
        if (point) remember(asset.id, channel, Date.parse(point.ts), point.value);
      }
    }
    renderAssets();
  }

  // Planned maintenance windows (engineer scope: a viewer's token keeps the section hidden).
  async function refreshWindows() {
    let body;
    try {
      body = await api("/maintenance/windows");
    } catch (err) {
      if (err instanceof ApiError && err.status === 403) return;
      throw err;
    }
    const now = serverNow();
    const windows = body.items.filter((w) => Date.parse(w.end) > now);
    $("maintenance-panel").hidden = false;
    $("window-count").textContent = windows.length ? String(windows.length) : "";
    $("windows-empty").hidden = windows.length > 0;
    const list = $("windows");
    list.replaceChildren();
    for (const w of windows) {
      const card = el("li", "card" + (Date.parse(w.start) <= now ? " during" : ""));
      card.append(el("strong", "", assetName(w.asset)));
      const span = new Date(w.start).toLocaleString() + " – " + new Date(w.end).toLocaleTimeString();
      card.append(el("div", "muted", span + " · " + w.ref));
      if (w.what) card.append(el("div", "", w.what));
      list.append(card);
    }
  }

  async function refreshHealth() {
    // The gateway's process reports its figures to the state database; this process may be an API
    // replica of its own, so never read them from this process's /metrics (they would be zeros here).
    const body = await api("/health/datapath" + assetQuery("?"));
    const f = body.figures;
    state.health = {
      stale: body.stale,
      readingsPerS: f && !body.stale && f.readings_per_s !== null ? f.readings_per_s : undefined,
      deadLetters: f ? f.dead_letters : undefined,
      spool: f ? f.spool_readings : undefined,
      queue: f ? f.queue_depth : undefined,
      streams: body.streams,
    };
    renderHealth();
  }

  let pending = null;
  function refreshSoon() {
    clearTimeout(pending);
    pending = setTimeout(() => refreshLists().catch(report), 150);
  }

  function report(err) {
    if (!(err instanceof ApiError && err.status === 401)) console.warn("facwatch board:", err);
  }

  // The stream opens with a single-use ticket (valid a minute), never with the token in the URL; after an
  // error the board asks for a new ticket and opens a new stream (EventSource's own retry would reuse one).
  async function connect() {
    const live = (on) => {
      $("live").className = "live " + (on ? "on" : "off");
      $("live-text").textContent = on ? t("live") : t("reconnecting");
    };
    let ticket;
    try {
      ticket = (await api("/events/ticket", { method: "POST" })).ticket;
    } catch (err) {
      report(err);
      live(false);
      if (state.token) state.reconnect = setTimeout(connect, RECONNECT_MS);
      return;
    }
    if (!state.token) return;
    const source = new EventSource(API + "/events?ticket=" + encodeURIComponent(ticket));
    source.onopen = () => { live(true); refreshSoon(); };
    source.onerror = () => {
      live(false);
      source.close();
      if (state.source === source) {
        state.source = null;
        state.reconnect = setTimeout(connect, RECONNECT_MS);
      }
    };
    source.addEventListener("alert", refreshSoon);
    source.addEventListener("ticket", refreshSoon);
    source.addEventListener("health", () => refreshHealth().catch(report));
    state.source = source;
  }

  function stop() {
    if (state.source) state.source.close();
    state.source = null;
    clearTimeout(state.reconnect);
    state.timers.forEach(clearInterval);
    state.timers = [];
  }

  async function start(token) {
    state.token = token;
    $("login").hidden = true;
    $("board").hidden = false;
    $("logout").hidden = false;
    try {
      await loadSites();
      await loadZones().catch(report);  // without the zones, times show in UTC (never the browser's zone)
      await refreshAssets();
      await refreshLists();
    } catch (err) {
      report(err);
      if (!state.token) return;
    }
    connect();
    refreshHealth().catch(report);
    refreshWindows().catch(report);
    loadHistory().then(renderAssets).catch(report);
    state.timers.push(setInterval(() => refreshAssets().catch(report), ASSET_POLL_MS));
    state.timers.push(setInterval(() => refreshHealth().catch(report), ASSET_POLL_MS));
    state.timers.push(setInterval(() => refreshWindows().catch(report), LIST_POLL_MS));
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
  $("site-picker").addEventListener("change", (event) => pickSite(event.target.value).catch(report));
  $("lang").addEventListener("click", () => {
    window.fwSetLang(window.fwLang() === "zh" ? "en" : "zh");
    renderAll();
    renderSites();
  });

  window.fwApplyStatic();
  const token = tokenFromFragment();
  if (token) start(token);
  else askForToken("");
})();
