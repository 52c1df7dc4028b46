// facwatch board: the words of the page in Chinese (the default) and English. Plain JS, no build step.
// `data-i18n="key"` on an element of index.html gets its text from here; board.js calls window.fwT(key).
"use strict";

(function () {
  const WORDS = {
    zh: {
      subtitle: "设施监控看板",
      alerts: "告警",
      tickets: "工单",
      assets: "设备",
      health: "数据链路",
      noAlerts: "无告警",
      noTickets: "无进行中的工单",
      maintenance: "维保计划",
      noWindows: "近期无维保窗口",
      signIn: "登录",
      signInHelp: "请输入 API 令牌（演示程序会打印一个）。",
      open: "进入",
      signOut: "退出",
      live: "实时",
      allSites: "全部小区",
      offline: "离线",
      reconnecting: "重连中",
      tokenBad: "令牌无效或已撤销。",
      red: "红色", orange: "橙色", yellow: "黄色", blue: "蓝色",
      elevator: "电梯", pump: "水泵", power: "配电",
      laneOpen: "待确认", laneAck: "已确认 / 已派单", laneOnSite: "已到场", laneResolved: "已修复（观察中）",
      st_open: "待确认", st_reopened: "重开", st_acknowledged: "已确认", st_dispatched: "已派单",
      st_on_site: "已到场", st_resolved: "已修复",
      onSite: "到场", arrived: "已到场 ✓", ack: "确认", fix: "修复",
      opened: "开始", acknowledged: "已确认", escalation: "升级级别", escalationNone: "值班工程师",
      escalationSteps: ["值班工程师", "主管", "项目经理"],
      overdue: "已超时", left: "剩余",
      a_acknowledge: "确认", a_dispatch: "派单", a_check_in: "到场签到", a_resolve: "已修复",
      promptCode: "输入设备现场签到码：",
      promptAssignee: "派给谁？（工程师）",
      promptNote: "处理说明（可选）",
      done: "已提交",
      failed: "失败",
      assignee: "负责人",
      last: "最新",
      never: "从未",
      updated: "更新",
      readingsPerS: "读数/秒",
      deadLetters: "死信",
      spool: "缓存待写",
      queue: "队列",
      streams: "连接",
      datapathStale: "网关近 30 秒未报告数据：下列数字可能已过时",
      on: "是", off: "否",
      language: "English",
    },
    en: {
      subtitle: "Live board",
      alerts: "Alerts",
      tickets: "Tickets",
      assets: "Assets",
      health: "Data path",
      noAlerts: "No open alerts",
      noTickets: "No open tickets",
      maintenance: "Maintenance windows",
      noWindows: "No maintenance planned",
      signIn: "Sign in",
      signInHelp: "Paste an API token (the demo prints one).",
      open: "Open board",
      signOut: "Sign out",
      live: "live",
      allSites: "all sites",
      offline: "offline",
      reconnecting: "reconnecting",
      tokenBad: "The token is invalid or revoked.",
      red: "RED", orange: "ORANGE", yellow: "YELLOW", blue: "BLUE",
      elevator: "elevator", pump: "pump", power: "power",
      laneOpen: "Open", laneAck: "Acknowledged / dispatched", laneOnSite: "On site", laneResolved: "Resolved (holding)",
      st_open: "open", st_reopened: "reopened", st_acknowledged: "acknowledged", st_dispatched: "dispatched",
      st_on_site: "on site", st_resolved: "resolved",
      onSite: "On site", arrived: "On site ✓", ack: "Ack", fix: "Fix",
      opened: "opened", acknowledged: "acknowledged", escalation: "escalation level", escalationNone: "on-call engineer",
      escalationSteps: ["on-call engineer", "supervisor", "project manager"],
      overdue: "Overdue", left: "Time left",
      a_acknowledge: "Acknowledge", a_dispatch: "Dispatch", a_check_in: "Check in", a_resolve: "Resolve",
      promptCode: "Enter the check-in code posted at the asset:",
      promptAssignee: "Dispatch to whom? (engineer)",
      promptNote: "What was done? (optional)",
      done: "Done",
      failed: "Failed",
      assignee: "assignee",
      last: "last",
      never: "never",
      updated: "updated",
      readingsPerS: "readings/s",
      deadLetters: "dead letters",
      spool: "spooled",
      queue: "queue",
      streams: "streams",
      datapathStale: "the gateway has not reported for 30 s: these figures may be out of date",
      on: "on", off: "off",
      language: "中文",
    },
  };
  const KEY = "facwatch.lang";

  function lang() {
    const chosen = localStorage.getItem(KEY);
    return chosen === "en" ? "en" : "zh";
  }

  window.fwT = function (key) {
    const words = WORDS[lang()];
    return key in words ? words[key] : key;
  };
  window.fwLang = lang;
  window.fwSetLang = function (value) {
    localStorage.setItem(KEY, value === "en" ? "en" : "zh");
    window.fwApplyStatic();
  };
  window.fwApplyStatic = function () {
    document.documentElement.lang = lang() === "en" ? "en" : "zh-CN";
    document.querySelectorAll("[data-i18n]").forEach((node) => {
      node.textContent = window.fwT(node.dataset.i18n);
    });
  };
})();
