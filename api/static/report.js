// The owners' report page (docs/owners.md): #t=<building token> shows the form, #r=<report id> the status
// of that one report. No login, no third party: the token in the QR code is the key, and it stays in the
// fragment (never sent in a URL a server could log). Chinese by default, English by the toggle.
"use strict";

const API = "/api/v1/report";
const TEXT = {
  zh: {
    title: "报事报修", language: "English", category: "问题类型", text: "发生了什么？",
    textHint: "例如：地下车库B2入口顶棚漏水", unit: "房号", unitHint: "例如 1502", location: "位置",
    locationHint: "例如 2单元电梯厅", photos: "照片（最多3张，JPEG/PNG）",
    consent: "允许保留照片的拍摄位置（默认删除）", phone: "手机号（选填，用于回电和积分）",
    phoneHint: "138 1234 5678", updates: "短信通知我处理进度", send: "提交", sending: "正在提交…", statusTitle: "我的报修",
    reference: "编号", where: "位置", callback: "回电号码", points: "积分",
    keepLink: "收藏此页面即可随时查看进度：", none: "—", notJudged: "待确认",
    cats: { leak: "漏水", elevator: "电梯", power: "停电", noise: "噪音", cleaning: "保洁", security: "安全", other: "其他" },
    states: {
      open: "已受理，等待处理", acknowledged: "物业已确认", dispatched: "工程师正在赶来", on_site: "工程师已到场",
      resolved: "已处理完毕", closed: "已办结", cancelled: "已撤销", reopened: "重新处理中",
    },
    steps: {
      received: "已收到报修", acknowledged: "物业已确认", dispatched: "已派工程师", on_site: "工程师到场",
      progress: "维修进展", plan_b: "临时方案", resolved: "已修复", closed: "已办结", reopened: "重新处理",
      cancelled: "已撤销",
    },
    errors: {
      chooseCategory: "请选择问题类型", noText: "请说明发生了什么", tooMany: "最多只能上传3张照片",
      notImage: "只能上传 JPEG 或 PNG 格式的照片", tooLarge: (mb) => `照片太大了，每张不能超过 ${mb} MB`,
      rate: (min) => `提交太频繁了，请 ${min} 分钟后再试`, token: "二维码无效或已过期，请重新扫描楼内张贴的二维码",
      noLink: "请扫描楼内张贴的二维码打开本页面", network: "网络不通，请稍后再试", missing: "找不到这条报修",
      phone: "手机号格式不对，请填写11位手机号或带区号的座机号",
      generic: "提交失败，请稍后再试",
    },
  },
  en: {
    title: "Report a problem", language: "中文", category: "What kind of problem", text: "What happened?",
    textHint: "e.g. water dripping from the ceiling at the B2 garage entrance", unit: "Unit", unitHint: "e.g. 1502",
    location: "Where", locationHint: "e.g. unit 2 lift lobby", photos: "Photos (up to 3, JPEG/PNG)",
    consent: "Keep where the photos were taken (removed otherwise)",
    phone: "Phone (optional: for a callback and points)", phoneHint: "138 1234 5678",
    updates: "Text me as it moves", send: "Send",
    sending: "Sending…", statusTitle: "My report", reference: "Reference", where: "Where",
    callback: "Callback number", points: "Points", keepLink: "Bookmark this page to follow your report:",
    none: "—", notJudged: "not judged yet",
    cats: { leak: "Leak", elevator: "Elevator", power: "Power", noise: "Noise", cleaning: "Cleaning", security: "Security", other: "Other" },
    states: {
      open: "Received, waiting for the desk", acknowledged: "The desk has it", dispatched: "An engineer is on the way",
      on_site: "An engineer is on site", resolved: "Fixed", closed: "Closed", cancelled: "Cancelled",
      reopened: "Being handled again",
    },
    steps: {
      received: "Report received", acknowledged: "Acknowledged by the desk", dispatched: "Engineer dispatched",
      on_site: "Engineer on site", progress: "Progress", plan_b: "Meanwhile", resolved: "Fixed", closed: "Closed",
      reopened: "Reopened", cancelled: "Cancelled",
    },
    errors: {
      chooseCategory: "Please choose what kind of problem it is", noText: "Please say what happened",
      tooMany: "At most 3 photos", notImage: "Only JPEG or PNG photos can be sent",
      tooLarge: (mb) => `That photo is too large: at most ${mb} MB each`,
      rate: (min) => `Too many reports: please try again in ${min} min`,
      token: "This QR code is not valid or has expired: please scan the code posted in your building",
      noLink: "Please open this page by scanning the QR code posted in your building",
      network: "No connection: please try again later", missing: "This report cannot be found",
      phone: "That phone number does not look right: a mobile or a landline with its area code",
      generic: "Sending failed: please try again later",
    },
  },
};

const state = { lang: localStorage.getItem("fw-report-lang") || "zh", token: null, building: null, status: null };
const $ = (id) => document.getElementById(id);
const t = () => TEXT[state.lang];

function fragment() {
  const params = new URLSearchParams(location.hash.slice(1));
  return { token: params.get("t"), report: params.get("r") };
}

function translate() {
  document.documentElement.lang = state.lang === "zh" ? "zh-CN" : "en";
  document.title = t().title;
  $("lang").textContent = t().language;
  for (const node of document.querySelectorAll("[data-i18n]")) node.textContent = t()[node.dataset.i18n];
  for (const node of document.querySelectorAll("[data-i18n-placeholder]")) {
    node.placeholder = t()[node.dataset.i18nPlaceholder];
  }
  for (const node of document.querySelectorAll("#categories span")) node.textContent = t().cats[node.dataset.cat];
  if (state.building) $("where").textContent = state.building.building_name;
  if (state.status) showStatus(state.status);
}

function fail(where, message) {
  const node = $(where);
  node.textContent = message;
  node.hidden = false;
}

function clearErrors() {
  $("problem").hidden = true;
  $("form-error").hidden = true;
}

function refusal(response, detail) {
  if (response.status === 403) return t().errors.token;
  if (response.status === 413) return t().errors.tooLarge(megabytes());
  if (response.status === 415) return t().errors.notImage;
  if (response.status === 429) {
    const seconds = Number(response.headers.get("Retry-After") || "60");
    return t().errors.rate(Math.max(1, Math.ceil(seconds / 60)));
  }
  if (response.status === 404) return t().errors.missing;
  if (response.status === 422 && typeof detail === "string" && detail.includes("phone")) return t().errors.phone;
  return typeof detail === "string" ? detail : t().errors.generic;
}

async function call(path, options = {}) {
  const headers = { ...(options.headers || {}) };
  if (state.token) headers["X-Building-Token"] = state.token;
  const response = await fetch(API + path, { ...options, headers, credentials: "same-origin" });
  let body = null;
  try { body = await response.json(); } catch { body = null; }
  if (!response.ok) {
    const error = new Error(refusal(response, body && body.detail));
    error.status = response.status;
    throw error;
  }
  return body;
}

function megabytes() {
  const bytes = state.building ? state.building.photo_max_bytes : 8 * 1024 * 1024;
  return Number((bytes / (1024 * 1024)).toFixed(1));
}

// --- the form ----------------------------------------------------------------------------------------

async function openForm(token) {
  state.token = token;
  try {
    state.building = await call("/building");
  } catch (error) {
    fail("problem", error.message);
    return;
  }
  const chips = $("categories");
  chips.replaceChildren();
  for (const cat of state.building.categories) {
    const label = document.createElement("label");
    const input = document.createElement("input");
    input.type = "radio";
    input.name = "category";
    input.value = cat;
    const span = document.createElement("span");
    span.dataset.cat = cat;
    label.append(input, span);
    chips.append(label);
  }
  $("updates-box").hidden = !state.building.updates;
  $("report").hidden = false;
  translate();
}

function chosenPhotos() {
  return Array.from($("photos").files || []);
}

function checkPhotos(files) {
  if (files.length > state.building.max_photos) return t().errors.tooMany;
  for (const file of files) {
    if (!["image/jpeg", "image/png"].includes(file.type)) return t().errors.notImage;
    if (file.size > state.building.photo_max_bytes) return t().errors.tooLarge(megabytes());
  }
  return null;
}

function previewPhotos() {
  clearErrors();
  const box = $("previews");
  box.replaceChildren();
  const files = chosenPhotos();
  const problem = checkPhotos(files);
  if (problem) {
    fail("form-error", problem);
    return;
  }
  for (const file of files) {
    const reader = new FileReader();
    reader.onload = () => {
      const img = document.createElement("img");
      img.src = reader.result;
      img.alt = file.name;
      box.append(img);
    };
    reader.readAsDataURL(file);
  }
}

async function send(event) {
  event.preventDefault();
  clearErrors();
  const category = document.querySelector('input[name="category"]:checked');
  const text = $("text").value.trim();
  const files = chosenPhotos();
  const problem = !category ? t().errors.chooseCategory : !text ? t().errors.noText : checkPhotos(files);
  if (problem) {
    fail("form-error", problem);
    return;
  }
  const button = $("send");
  button.disabled = true;
  button.textContent = t().sending;
  try {
    const photos = [];
    const consent = $("consent").checked ? "true" : "false";
    for (const file of files) {
      const uploaded = await call(`/photos?location=${consent}`, {
        method: "POST", headers: { "Content-Type": file.type }, body: file,
      });
      photos.push(uploaded.id);
    }
    const report = await call("", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({
        category: category.value,
        text,
        unit: $("unit").value.trim() || null,
        location: $("location").value.trim() || null,
        phone: $("phone").value.trim() || null,
        updates: $("updates").checked && Boolean($("phone").value.trim()),
        photos,
      }),
    });
    state.token = null;
    location.hash = `r=${report.id}`;  // the status page: hashchange shows it
  } catch (error) {
    fail("form-error", error.status ? error.message : t().errors.network);
  } finally {
    button.disabled = false;
    button.textContent = t().send;
  }
}

// --- the status of one report ----------------------------------------------------------------------------

function when(iso) {
  return new Date(iso).toLocaleString(state.lang === "zh" ? "zh-CN" : "en-GB", {
    month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit",
  });
}

function showStatus(s) {
  $("s-ticket").textContent = s.ticket;
  $("s-state").textContent = t().states[s.state] || s.state;
  $("s-state").dataset.state = s.state;
  $("s-category").textContent = t().cats[s.category] || s.category;
  $("s-text").textContent = s.text;
  $("s-where").textContent = [s.unit, s.location].filter(Boolean).join(" · ") || t().none;
  $("s-phone").textContent = s.phone || t().none;
  $("s-points").textContent = s.points === null ? t().notJudged : String(s.points);
  const steps = $("s-steps");
  steps.replaceChildren();
  for (const step of s.steps) {
    const li = document.createElement("li");
    const time = document.createElement("time");
    time.dateTime = step.at;
    time.textContent = when(step.at);
    li.append(time, document.createTextNode(t().steps[step.step] || step.step));
    if (step.note) li.append(document.createTextNode(`: ${step.note}`));
    steps.append(li);
  }
  const photos = $("s-photos");
  if (photos.childElementCount !== s.photos) {
    photos.replaceChildren();
    for (let n = 1; n <= s.photos; n += 1) {
      const img = document.createElement("img");
      img.src = `${API}/status/${encodeURIComponent(s.id)}/photos/${n}`;
      img.alt = `${t().photos} ${n}`;
      photos.append(img);
    }
  }
  const link = `${location.origin}${location.pathname}#r=${s.id}`;
  $("s-link").href = link;
  $("s-link").textContent = link;
}

async function openStatus(id) {
  $("report").hidden = true;
  try {
    state.status = await call(`/status/${encodeURIComponent(id)}`);
  } catch (error) {
    fail("problem", error.status ? error.message : t().errors.network);
    return;
  }
  $("status").hidden = false;
  showStatus(state.status);
}

let refresh = null;

function route() {
  clearErrors();
  $("status").hidden = true;
  clearInterval(refresh);
  const { token, report } = fragment();
  if (report) {
    openStatus(report);
    refresh = setInterval(() => openStatus(report), 30_000);
  } else if (token) {
    openForm(token);
  } else {
    fail("problem", t().errors.noLink);
  }
}

$("lang").addEventListener("click", () => {
  state.lang = state.lang === "zh" ? "en" : "zh";
  localStorage.setItem("fw-report-lang", state.lang);
  translate();
});
$("photos").addEventListener("change", previewPhotos);
$("report").addEventListener("submit", send);
window.addEventListener("hashchange", route);
translate();
route();
