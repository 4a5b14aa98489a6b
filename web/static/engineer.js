// The engineer's console: inventory, tests, doctor, logs and the config file (see web/engineer.py).
"use strict";

const TEXT = {
  kk: {
    title: "Инженер консолі", devices: "Құрылғылар", classroom_pin: "Сынып PIN-коды", device: "Құрылғы",
    status: "Күйі", why_kind: "Неге осы түр деп танылды", test: "Тексеру", not_driven: "Көрінген, бірақ басқарылмайтын құрылғылар",
    doctor: "Тексеру (doctor)", run_doctor: "Қайта тексеру", doctor_ok: "Ақау табылмады", logs: "Журнал",
    filter_device: "Құрылғы бойынша сүзу", all_devices: "Барлық құрылғылар", refresh: "Жаңарту",
    config: "Баптаулар файлы", config_file: "Файл", download: "Жүктеп алу", upload_config: "Файлды таңдау",
    save_config: "Тексеріп, сақтау", sign_in: "Кіру", secret: "Токен немесе инженер құпиясөзі",
    wrong_secret: "Қате токен немесе құпиясөз", locked: "Тым көп қате әрекет. Күте тұрыңыз, секунд:",
    why: "Неліктен маңызды", fix: "Түзету", saved: "Сақталды. Қолдану үшін:", backup: "Көшірме",
    not_saved: "Сақталмады: қателерді түзетіңіз", line: "жол", none: "жоқ", shown_on_board: "Тақтада сынақ картасы көрсетілді",
    ready: "дайын", busy: "бос емес", fault: "ақау", lost: "ажыратылған", offline: "желіде жоқ", init: "іске қосылуда",
    unidentified: "анықталмаған", error: "Қате", no_file: "Демон --config-сыз іске қосылған",
  },
  ru: {
    title: "Консоль инженера", devices: "Устройства", classroom_pin: "PIN-код класса", device: "Устройство",
    status: "Состояние", why_kind: "Почему распознано так", test: "Проверка", not_driven: "Видны, но не управляются",
    doctor: "Диагностика (doctor)", run_doctor: "Проверить снова", doctor_ok: "Проблем не найдено", logs: "Журнал",
    filter_device: "Фильтр по устройству", all_devices: "Все устройства", refresh: "Обновить",
    config: "Файл настроек", config_file: "Файл", download: "Скачать", upload_config: "Выбрать файл",
    save_config: "Проверить и сохранить", sign_in: "Войти", secret: "Токен или пароль инженера",
    wrong_secret: "Неверный токен или пароль", locked: "Слишком много попыток. Подождите, секунд:",
    why: "Почему это важно", fix: "Исправление", saved: "Сохранено. Чтобы применить:", backup: "Копия",
    not_saved: "Не сохранено: исправьте ошибки", line: "строка", none: "нет", shown_on_board: "Тестовая карточка на доске",
    ready: "готов", busy: "занят", fault: "неисправность", lost: "отключён", offline: "не в сети", init: "запуск",
    unidentified: "не определён", error: "Ошибка", no_file: "Демон запущен без --config",
  },
  en: {
    title: "Engineer's console", devices: "Devices", classroom_pin: "Classroom PIN", device: "Device",
    status: "Status", why_kind: "Why it was recognised as this kind", test: "Test", not_driven: "Seen but not driven",
    doctor: "Doctor", run_doctor: "Check again", doctor_ok: "No problems found", logs: "Log",
    filter_device: "Filter by device", all_devices: "All devices", refresh: "Refresh",
    config: "Config file", config_file: "File", download: "Download", upload_config: "Choose a file",
    save_config: "Check and save", sign_in: "Sign in", secret: "Token or engineer password",
    wrong_secret: "Wrong token or password", locked: "Too many wrong attempts. Wait, seconds:",
    why: "Why it matters", fix: "Fix", saved: "Saved. To apply it:", backup: "Backup",
    not_saved: "Not saved: fix the errors", line: "line", none: "none", shown_on_board: "A test card is on the board",
    ready: "ready", busy: "busy", fault: "fault", lost: "unplugged", offline: "offline", init: "starting",
    unidentified: "unidentified", error: "Error", no_file: "The daemon was started without --config",
  },
};

const $ = (id) => document.getElementById(id);
let lang = localStorage.getItem("classroomd.lang") || "kk";
let overview = { devices: [], seen_not_driven: [] };
let findings = [];

function t(key) { return (TEXT[lang] && TEXT[lang][key]) || TEXT.en[key] || key; }
function local(text) { return typeof text === "object" && text ? (text[lang] || text.en || "") : String(text || ""); }

function el(tag, props, ...children) {
  const node = document.createElement(tag);
  Object.assign(node, props || {});
  node.append(...children);
  return node;
}

function toast(text, isError) {
  const box = $("toast");
  box.textContent = text;
  box.className = isError ? "error" : "";
  box.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { box.hidden = true; }, 6000);
}

async function api(path, options) {
  const response = await fetch(path, { credentials: "same-origin", ...options });
  let body = {};
  try { body = await response.json(); } catch (e) { body = {}; }
  if (response.status === 401) $("login-dialog").open || $("login-dialog").showModal();
  return { http: response.status, body };
}

function applyLanguage() {
  document.documentElement.lang = lang;
  document.body.dataset.lang = lang;
  for (const node of document.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
  for (const b of document.querySelectorAll("[data-lang-set]")) b.setAttribute("aria-pressed", String(b.dataset.langSet === lang));
  renderDevices();
  renderFindings();
}

function renderDevices() {
  $("pin-value").textContent = overview.pin || t("none");
  $("devices").tBodies[0].replaceChildren(...overview.devices.map((d) => {
    const button = el("button", { type: "button", textContent: t("test") });
    button.dataset.test = d.id;
    button.addEventListener("click", () => testDevice(d.id));
    const row = el("tr", {},
      el("td", {}, el("b", { textContent: d.id }), el("br"), `${d.kind} · ${d.name || ""}`),
      el("td", { className: `state status-${d.status}` }, t(d.status), d.reason ? el("div", { textContent: d.reason }) : ""),
      el("td", { className: "why" }, d.matched_by || "—", el("div", { className: "hint", textContent: [d.transport, d.usb, ...(d.paths || [])].filter(Boolean).join(" · ") })),
      el("td", {}, button));
    row.dataset.device = d.id;
    return row;
  }));
  $("not-driven").replaceChildren(...(overview.seen_not_driven.length ? overview.seen_not_driven : [null]).map((u) =>
    u ? el("li", {}, el("b", { textContent: u.name || "?" }), ` ${u.usb || ""} ${(u.paths || []).join(" ")} — ${u.reason || ""}`)
      : el("li", { textContent: t("none") })));
  const select = $("log-device");
  const ids = overview.devices.map((d) => d.id);
  if (select.dataset.ids !== ids.join(",")) {
    select.dataset.ids = ids.join(",");
    const keep = select.value;
    select.replaceChildren(el("option", { value: "", textContent: t("all_devices") }), ...ids.map((id) => el("option", { value: id, textContent: id })));
    select.value = keep;
  } else if (select.options[0]) {
    select.options[0].textContent = t("all_devices");
  }
}

function renderFindings() {
  $("doctor-ok").hidden = findings.length > 0;
  $("findings").replaceChildren(...findings.map((f) => {
    const item = el("li", { className: "finding" },
      el("b", { className: "error", textContent: local(f.message) }),
      el("div", {}, `${t("why")}: ${local(f.why)}`),
      el("div", {}, `${t("fix")}: `, el("code", { textContent: f.fix })));
    item.dataset.check = f.check;
    return item;
  }));
}

async function loadOverview() {
  const reply = await api("/api/v1/engineer/overview");
  if (reply.http !== 200) return false;
  overview = reply.body;
  renderDevices();
  return true;
}

async function loadDoctor() {
  const reply = await api("/api/v1/engineer/doctor");
  if (reply.http === 200) { findings = reply.body.findings || []; renderFindings(); }
}

async function loadLogs() {
  const device = $("log-device").value;
  const reply = await api(`/api/v1/engineer/logs?device=${encodeURIComponent(device)}`);
  if (reply.http !== 200) return;
  $("log-lines").textContent = reply.body.lines.map((l) => `${l.ts} ${l.level} ${l.device} ${l.msg}`).join("\n");
  $("log-lines").scrollTop = $("log-lines").scrollHeight;
}

async function loadConfig() {
  const reply = await api("/api/v1/engineer/config");
  if (reply.http !== 200) return;
  $("config-path").textContent = reply.body.path || t("no_file");
  $("config-text").value = reply.body.text || "";
}

async function testDevice(id) {
  const reply = await api(`/api/v1/engineer/test/${encodeURIComponent(id)}`, { method: "POST" });
  const box = $("test-result");
  box.replaceChildren();
  if (reply.body.status !== "ok") { box.append(el("p", { className: "error", textContent: `${t("error")}: ${(reply.body.error || {}).message || reply.http}` })); return; }
  const data = reply.body.data || {};
  if (data.snapshot_url) box.append(el("img", { src: data.snapshot_url, alt: id, style: "max-width:100%" }));
  if (data.board || data.steps) box.append(el("p", { textContent: t("shown_on_board") }));
  const out = el("pre", { id: "test-live", textContent: JSON.stringify(data, null, 1) });
  box.append(out);
  // Pens, fingers and the globe are tested by using them: follow the device's state live for a minute.
  clearInterval(testDevice.timer);
  if (["tablet", "touch_table", "globe"].includes(data.kind)) {
    const keys = ["status", "contacts", "peak_contacts", "touches", "touching", "in_proximity", "pressure", "tool", "last_touch"];
    const until = Date.now() + 60000;
    testDevice.timer = setInterval(async () => {
      if (Date.now() > until || !out.isConnected) { clearInterval(testDevice.timer); return; }
      const reply = await api(`/api/v1/devices/${encodeURIComponent(id)}`);
      if (reply.http !== 200) return;
      const live = Object.fromEntries(keys.filter((k) => k in reply.body).map((k) => [k, reply.body[k]]));
      out.textContent = JSON.stringify(live, null, 1);
      out.dataset.updated = String(Date.now());
    }, 500);
  }
}

async function saveConfig() {
  $("config-issues").replaceChildren();
  $("config-saved").hidden = true;
  const reply = await api("/api/v1/engineer/config", { method: "PUT", headers: { "Content-Type": "application/toml" }, body: $("config-text").value });
  if (reply.body.saved) {
    $("config-saved").textContent = `${t("saved")} ${reply.body.apply} · ${t("backup")}: ${reply.body.backup}`;
    $("config-saved").hidden = false;
    return;
  }
  toast(t("not_saved"), true);
  $("config-issues").replaceChildren(...(reply.body.issues || []).map((i) => {
    const item = el("li", { textContent: `${i.line ? t("line") + " " + i.line + ": " : ""}${i.key ? i.key + ": " : ""}${i.message}` });
    if (i.line) item.dataset.line = i.line;
    if (i.key) item.dataset.key = i.key;
    return item;
  }));
}

$("config-file").addEventListener("change", async () => {
  const file = $("config-file").files[0];
  if (file) $("config-text").value = await file.text();
});
$("config-save").addEventListener("click", saveConfig);
$("doctor-run").addEventListener("click", loadDoctor);
$("log-refresh").addEventListener("click", loadLogs);
$("log-device").addEventListener("change", loadLogs);
$("login-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const reply = await fetch("/api/v1/engineer/login", {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ secret: $("secret").value }),
  });
  if (reply.status === 200) { $("login-dialog").close(); await start(); return; }
  const body = await reply.json().catch(() => ({}));
  $("login-error").textContent = reply.status === 429 ? `${t("locked")} ${(body.error || {}).retry_after || 60}` : t("wrong_secret");
  $("login-error").hidden = false;
});
for (const b of document.querySelectorAll("[data-lang-set]")) {
  b.addEventListener("click", () => { lang = b.dataset.langSet; localStorage.setItem("classroomd.lang", lang); applyLanguage(); });
}

async function start() {
  if (!(await loadOverview())) return;
  await Promise.all([loadDoctor(), loadLogs(), loadConfig()]);
  document.body.dataset.ready = "1";
}

applyLanguage();
start();
setInterval(() => { if (document.body.dataset.ready) loadOverview(); }, 3000);
