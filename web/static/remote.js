// The teacher's remote: every tap is one request the agent already answers (see web/remote.py).
"use strict";

const TEXT = {
  kk: {
    title: "Сынып пульті", unlock: "PIN енгізу", lesson: "Сабақ", no_lesson: "Сабақ басталмаған",
    subject: "Пән", teacher_name: "Мұғалімнің аты", start_lesson: "Сабақты бастау", end_lesson: "Сабақты аяқтау",
    microscope: "Микроскоп", device: "Құрылғы", magnification: "Үлкейту", capture: "Түсіру",
    capture_show: "Түсіріп, тақтаға шығару", gallery: "Сабақтың суреттері",
    gallery_hint: "Суретті басыңыз — ол тақтада қайта көрсетіледі", nothing_yet: "Әзірге ештеңе жоқ",
    panel: "Интерактивті панель", power_on: "Қосу", standby: "Күту режимі", input: "Кіріс",
    volume: "Дыбыс деңгейі", mute: "Дыбысты өшіру", unmute: "Дыбысты қосу", clear_board: "Тақтаны тазалау",
    printer: "3D принтер", eta: "Қалған уақыт", temperatures: "Температура", pause: "Кідірту",
    resume: "Жалғастыру", cancel: "Тоқтату", gcode_file: "G-code файлы", upload_print: "Жүктеп, басып шығару",
    start_next: "Келесі жұмысты бастау", print_history: "Сабақтың басып шығарулары",
    other_devices: "Басқа құрылғылар", pin_title: "Сыныптың PIN-коды", ok: "Жарайды", close: "Жабу",
    bed_title: "Үстел бос па?",
    bed_text: "Басып шығару алдында принтердің үстелінде ештеңе жоқ екенін тексеріңіз.",
    bed_checked: "Мен үстелдің бос екенін тексердім", start_print: "Басып шығаруды бастау",
    step_capture: "Түсіру", step_wake: "Панельді ояту", step_input: "Кірісті ауыстыру", step_shown: "Тақтада көрсетілді",
    working: "Орындалуда…", failed_step: "Қате қадам", saved_as: "Сурет сақталды",
    wrong_pin: "PIN қате", locked: "Тым көп қате әрекет. Күте тұрыңыз, секунд:", need_pin: "Алдымен PIN енгізіңіз",
    started: "Басталды", ended: "Аяқталды", done: "Дайын", uploading: "Жүктелуде…", printing: "басылуда",
    paused: "кідіртілді", queued: "кезекте", finished: "дайын", failed: "сәтсіз", cancelled: "тоқтатылды",
    interrupted: "үзілді", waiting_bed: "Үстел тексерілуін күтуде", on: "қосулы", off: "өшірулі",
    ready: "дайын", busy: "бос емес", fault: "ақау", lost: "ажыратылған", offline: "желіде жоқ", init: "іске қосылуда",
    unidentified: "анықталмаған", last_country: "Соңғы ел", touches: "Түртулер", no_panel: "Панель жоқ",
    hotend: "сопло", bed: "үстел", min: "мин", error: "Қате",
    linked: "Байланыстағы сабақ", linked_hub: "Сіз жүргізесіз. Байланыстағы сыныптар:",
    linked_from: "Сабақты жүргізетін мектеп:", offer_from: "Ұсыныс:", accept_offer: "Менің панелімде көрсету",
    dismiss_offer: "Қабылдамау", offer_to_hub: "Негізгі мектепке ұсыну", my_offer: "Сіздің ұсынысыңыз:",
    offer_waiting: "күтуде", offer_shown: "негізгі мектептің панелінде көрсетілді", offer_dismissed: "қабылданбады",
    no_offers: "Ұсыныс жоқ",
  },
  ru: {
    title: "Пульт класса", unlock: "Ввести PIN", lesson: "Урок", no_lesson: "Урок не начат",
    subject: "Предмет", teacher_name: "Имя учителя", start_lesson: "Начать урок", end_lesson: "Закончить урок",
    microscope: "Микроскоп", device: "Устройство", magnification: "Увеличение", capture: "Снимок",
    capture_show: "Снять и показать на доске", gallery: "Снимки урока",
    gallery_hint: "Нажмите на снимок — он снова появится на доске", nothing_yet: "Пока ничего нет",
    panel: "Интерактивная панель", power_on: "Включить", standby: "Ждущий режим", input: "Вход",
    volume: "Громкость", mute: "Выключить звук", unmute: "Включить звук", clear_board: "Очистить доску",
    printer: "3D-принтер", eta: "Осталось", temperatures: "Температура", pause: "Пауза",
    resume: "Продолжить", cancel: "Отменить", gcode_file: "Файл G-code", upload_print: "Загрузить и печатать",
    start_next: "Начать следующее задание", print_history: "Печать на этом уроке",
    other_devices: "Другие устройства", pin_title: "PIN-код класса", ok: "Готово", close: "Закрыть",
    bed_title: "Стол пуст?",
    bed_text: "Перед печатью проверьте, что на столе принтера ничего нет.",
    bed_checked: "Я проверил(а), что стол пуст", start_print: "Начать печать",
    step_capture: "Снимок", step_wake: "Включение панели", step_input: "Переключение входа", step_shown: "Показано на доске",
    working: "Выполняется…", failed_step: "Ошибка на шаге", saved_as: "Снимок сохранён",
    wrong_pin: "Неверный PIN", locked: "Слишком много попыток. Подождите, секунд:", need_pin: "Сначала введите PIN",
    started: "Начат", ended: "Закончен", done: "Готово", uploading: "Загрузка…", printing: "печатается",
    paused: "на паузе", queued: "в очереди", finished: "готово", failed: "ошибка", cancelled: "отменено",
    interrupted: "прервано", waiting_bed: "Ждёт проверки стола", on: "вкл.", off: "выкл.",
    ready: "готов", busy: "занят", fault: "неисправность", lost: "отключён", offline: "не в сети", init: "запуск",
    unidentified: "не определён", last_country: "Последняя страна", touches: "Касания", no_panel: "Нет панели",
    hotend: "сопло", bed: "стол", min: "мин", error: "Ошибка",
    linked: "Связанный урок", linked_hub: "Вы ведёте. Связанные классы:",
    linked_from: "Урок ведёт школа:", offer_from: "Предлагает:", accept_offer: "Показать на моей панели",
    dismiss_offer: "Отклонить", offer_to_hub: "Предложить опорной школе", my_offer: "Ваше предложение:",
    offer_waiting: "ожидает", offer_shown: "показано на панели опорной школы", offer_dismissed: "отклонено",
    no_offers: "Предложений нет",
  },
  en: {
    title: "Classroom remote", unlock: "Enter PIN", lesson: "Lesson", no_lesson: "No lesson running",
    subject: "Subject", teacher_name: "Teacher's name", start_lesson: "Start lesson", end_lesson: "End lesson",
    microscope: "Microscope", device: "Device", magnification: "Magnification", capture: "Capture",
    capture_show: "Capture & show on the panel", gallery: "This lesson's captures",
    gallery_hint: "Tap a capture to show it on the board again", nothing_yet: "Nothing yet",
    panel: "Interactive panel", power_on: "Switch on", standby: "Standby", input: "Input",
    volume: "Volume", mute: "Mute", unmute: "Unmute", clear_board: "Clear the board",
    printer: "3D printer", eta: "Time left", temperatures: "Temperatures", pause: "Pause",
    resume: "Resume", cancel: "Cancel", gcode_file: "G-code file", upload_print: "Upload and print",
    start_next: "Start the next job", print_history: "This lesson's prints",
    other_devices: "Other devices", pin_title: "Classroom PIN", ok: "OK", close: "Close",
    bed_title: "Is the bed clear?",
    bed_text: "Before printing, check that nothing is left on the printer's bed.",
    bed_checked: "I checked that the bed is empty", start_print: "Start printing",
    step_capture: "Capture", step_wake: "Waking the panel", step_input: "Switching input", step_shown: "Shown on the board",
    working: "Working…", failed_step: "Failed at step", saved_as: "The capture was saved",
    wrong_pin: "Wrong PIN", locked: "Too many wrong attempts. Wait, seconds:", need_pin: "Enter the PIN first",
    started: "Started", ended: "Ended", done: "Done", uploading: "Uploading…", printing: "printing",
    paused: "paused", queued: "queued", finished: "finished", failed: "failed", cancelled: "cancelled",
    interrupted: "interrupted", waiting_bed: "Waiting for the bed check", on: "on", off: "off",
    ready: "ready", busy: "busy", fault: "fault", lost: "unplugged", offline: "offline", init: "starting",
    unidentified: "unidentified", last_country: "Last country", touches: "Touches", no_panel: "No panel",
    hotend: "hotend", bed: "bed", min: "min", error: "Error",
    linked: "Linked lesson", linked_hub: "You teach. Linked with:",
    linked_from: "Taught from:", offer_from: "Offered by", accept_offer: "Show on my panel",
    dismiss_offer: "Dismiss", offer_to_hub: "Offer to the hub", my_offer: "Your offer:",
    offer_waiting: "waiting", offer_shown: "shown on the hub's panel", offer_dismissed: "dismissed",
    no_offers: "No offers",
  },
};

const $ = (id) => document.getElementById(id);
let lang = localStorage.getItem("classroomd.lang") || document.body.dataset.lang || "kk";
let state = { devices: [], lesson: null, teacher: false, pin_required: false, linked: null };
let afterPin = null;  // the action a PIN prompt interrupted, run once the PIN is accepted
let pendingUpload = null;

function t(key) { return (TEXT[lang] && TEXT[lang][key]) || TEXT.en[key] || key; }

function applyLanguage() {
  document.documentElement.lang = lang;
  document.body.dataset.lang = lang;
  for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const b of document.querySelectorAll("[data-lang-set]")) b.setAttribute("aria-pressed", String(b.dataset.langSet === lang));
  render();
}

function toast(text, isError) {
  const el = $("toast");
  el.textContent = text;
  el.className = isError ? "error" : "";
  el.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { el.hidden = true; }, 6000);
}

async function api(path, options) {
  const response = await fetch(path, { credentials: "same-origin", ...options });
  let body = {};
  try { body = await response.json(); } catch (e) { body = {}; }
  return { http: response.status, body };
}

// One request to a device or the agent; asks for the PIN (then retries) when the session is missing.
async function ask(target, action, args) {
  const reply = await api(`/api/v1/remote/request/${target}/${action}`, {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(args || {}),
  });
  if (reply.http === 401) {
    return new Promise((resolve) => { afterPin = async () => resolve(await ask(target, action, args)); openPin(); });
  }
  if (reply.body.status !== "ok") {
    const err = (reply.body.error) || { code: String(reply.http), message: "" };
    return { ok: false, error: err };
  }
  return { ok: true, data: reply.body.data };
}

function showError(err) { toast(`${t("error")}: ${err.message || err.code}`, true); }

function devicesOf(kind) { return state.devices.filter((d) => d.kind === kind); }
function selected(kind) {
  const select = $(`${kind === "microscope" ? "scope" : kind}-select`);
  return state.devices.find((d) => d.id === select.value) || devicesOf(kind)[0];
}

function fillSelect(select, devices) {
  const ids = devices.map((d) => d.id).join(",");
  if (select.dataset.ids === ids) return;
  const keep = select.value;
  select.dataset.ids = ids;
  select.replaceChildren(...devices.map((d) => new Option(d.name || d.id, d.id)));
  if (devices.some((d) => d.id === keep)) select.value = keep;
}

function statusText(d) { return `${d.name || d.id}: ${t(d.status)}${d.reason ? " — " + d.reason : ""}`; }

function minutes(seconds) { return seconds == null ? "—" : `${Math.max(1, Math.round(seconds / 60))} ${t("min")}`; }

function render() {
  const lesson = state.lesson;
  $("lesson-now").textContent = lesson ? `${t("started")}: ${lesson.subject}${lesson.teacher ? " · " + lesson.teacher : ""}` : t("no_lesson");
  $("lesson-end").disabled = !lesson;
  $("unlock").hidden = !state.pin_required || state.teacher;

  renderLinked();

  const scopes = devicesOf("microscope");
  $("scope-card").hidden = scopes.length === 0;
  if (scopes.length) {
    fillSelect($("scope-select"), scopes);
    const scope = selected("microscope");
    const presets = scope.presets || [];
    if ($("preset").dataset.ids !== presets.join(",")) {
      $("preset").dataset.ids = presets.join(",");
      $("preset").replaceChildren(...presets.map((p) => new Option(p, p)));
    }
    if (scope.magnification) $("preset").value = scope.magnification;
    // A phone needs a small picture at a low rate; the panel gets the full stream from the board.
    const wanted = `/devices/${scope.id}/stream?width=480&fps=8&quality=70`;
    if ($("live").dataset.src !== wanted) { $("live").dataset.src = wanted; $("live").src = wanted; }
  }

  const panels = devicesOf("panel");
  $("panel-card").hidden = panels.length === 0;
  if (panels.length) {
    fillSelect($("panel-select"), panels);
    const panel = selected("panel");
    const power = panel.power ? t(panel.power) : "—";
    $("panel-now").textContent = `${statusText(panel)} · ${power} · ${panel.input || "—"} · ${panel.volume ?? "—"}% ${panel.mute ? "🔇" : ""}`;
    if (document.activeElement !== $("volume") && panel.volume != null) $("volume").value = panel.volume;
    $("mute").textContent = panel.mute ? t("unmute") : t("mute");
  }
  $("capture-show").disabled = panels.length === 0;

  const printers = devicesOf("printer");
  $("printer-card").hidden = printers.length === 0;
  if (printers.length) {
    fillSelect($("printer-select"), printers);
    const p = selected("printer");
    $("printer-now").textContent = statusText(p) + (p.paused ? ` · ${t("paused")}` : "") + (p.waiting_for_bed_clear ? ` · ${t("waiting_bed")}` : "");
    $("job").hidden = !p.job;
    if (p.job) {
      $("job-name").textContent = p.job.file_name || p.job.id;
      $("job-bar").style.width = `${p.progress || 0}%`;
      $("eta").textContent = `${minutes(p.eta_s)} (${Math.round(p.progress || 0)}%)`;
    }
    const temps = p.temperatures || {};
    const part = (name, v) => v ? `${t(name)} ${Math.round(v.actual ?? v[0] ?? 0)}/${Math.round(v.target ?? v[1] ?? 0)} °C` : "";
    $("temps").textContent = [part("hotend", temps.hotend), part("bed", temps.bed)].filter(Boolean).join(", ") || "—";
    $("pause").disabled = !p.job || p.paused;
    $("resume").disabled = !p.paused;
    $("cancel").disabled = !p.job;
    $("start-next").hidden = !p.waiting_for_bed_clear;
  }

  const others = state.devices.filter((d) => ["globe", "touch_table", "tablet"].includes(d.kind));
  $("others-card").hidden = others.length === 0;
  $("others").replaceChildren(...others.map((d) => {
    const li = document.createElement("li");
    li.className = `status-${d.status}`;
    let extra = "";
    if (d.kind === "globe" && d.last_touch) {
      const name = d.last_touch.name ? (d.last_touch.name[lang] || d.last_touch.name.en) : d.last_touch.country;
      extra = ` · ${t("last_country")}: ${name || "—"}`;
    }
    if (d.touches != null) extra += ` · ${t("touches")}: ${d.touches}`;
    li.textContent = statusText(d) + extra;
    return li;
  }));
}

// --- linked lesson: the hub's teacher decides on offers; a linked room offers and sees the answer ---
function renderLinked() {
  const linked = state.linked;
  $("linked-card").hidden = !linked;
  if (!linked) return;
  $("linked-now").textContent = linked.role === "hub"
    ? `${t("linked_hub")} ${(linked.rooms || []).join(", ")}` : `${t("linked_from")} ${linked.hub}`;
  const offers = linked.role === "hub" ? (linked.offers || []) : [];
  const key = JSON.stringify([lang, offers.map((o) => [o.room, o.seq])]);
  if ($("offers").dataset.key !== key) {
    $("offers").dataset.key = key;
    $("offers").replaceChildren(...offers.map((o) => {
      const row = document.createElement("div");
      row.className = "offer";
      row.dataset.room = o.room;
      if (o.thumb) { const img = document.createElement("img"); img.src = o.thumb; img.alt = o.caption || o.room; row.append(img); }
      const from = document.createElement("span");
      from.className = "from";
      from.textContent = `${t("offer_from")} ${o.room}${o.caption ? " · " + o.caption : ""}`;
      const accept = document.createElement("button");
      accept.type = "button"; accept.className = "primary accept"; accept.textContent = t("accept_offer");
      accept.addEventListener("click", () => answerOffer("linked_accept", o.room, accept));
      const dismiss = document.createElement("button");
      dismiss.type = "button"; dismiss.className = "dismiss"; dismiss.textContent = t("dismiss_offer");
      dismiss.addEventListener("click", () => answerOffer("linked_dismiss", o.room, dismiss));
      row.append(from, accept, dismiss);
      return row;
    }));
  }
  const mine = linked.role === "linked" ? linked.offer : null;
  $("my-offer").hidden = !mine;
  if (mine) {
    $("my-offer").dataset.state = mine.state;
    $("my-offer").textContent = `${t("my_offer")} ${t("offer_" + mine.state)}`;
  }
}

async function answerOffer(action, room, button) {
  button.disabled = true;
  const reply = await ask("agent", action, { room });
  button.disabled = false;
  if (!reply.ok) showError(reply.error); else { toast(t("done")); await refresh(); }
}

async function offerToHub(mediaId) {
  const reply = await ask("agent", "linked_offer", { media: mediaId });
  if (!reply.ok) showError(reply.error); else { toast(`${t("my_offer")} ${t("offer_waiting")}`); await refresh(); }
}

async function refresh() {
  const reply = await api("/api/v1/remote/state");
  if (reply.http !== 200) return;
  const lessonChanged = (reply.body.lesson && reply.body.lesson.id) !== (state.lesson && state.lesson.id)
    || ((reply.body.linked && reply.body.linked.role) || null) !== ((state.linked && state.linked.role) || null);
  state = reply.body;
  render();
  if (lessonChanged || !refresh.galleryAt || Date.now() - refresh.galleryAt > 10000) await loadGallery();
}

async function loadGallery() {
  refresh.galleryAt = Date.now();
  const lesson = state.lesson;
  let media = [], prints = [];
  if (lesson) {
    const reply = await api("/api/v1/remote/gallery");
    if (reply.http === 200) { media = reply.body.media || []; prints = reply.body.prints || []; }
  }
  $("gallery-empty").hidden = media.length > 0;
  $("gallery").replaceChildren(...media.map((m) => {
    const b = document.createElement("button");
    b.type = "button";
    b.dataset.media = m.id;
    const img = document.createElement("img");
    img.loading = "lazy"; img.src = m.thumb_url; img.alt = m.caption || m.id;
    b.append(img);
    const notes = (m.annotations || 0);
    if (notes) { const s = document.createElement("span"); s.className = "notes"; s.textContent = `✎ ${notes}`; b.append(s); }
    b.addEventListener("click", () => showAgain(m.id));
    if (!(state.linked && state.linked.role === "linked")) return b;
    // A linked room's capture can go to the hub's panel: the hub's teacher decides on her remote.
    const item = document.createElement("div");
    item.className = "item";
    const offer = document.createElement("button");
    offer.type = "button"; offer.className = "offer"; offer.dataset.offer = m.id; offer.textContent = t("offer_to_hub");
    offer.addEventListener("click", () => offerToHub(m.id));
    item.append(b, offer);
    return item;
  }));
  $("prints").replaceChildren(...prints.map((j) => {
    const li = document.createElement("li");
    li.textContent = `${j.file_name || j.id} — ${t(j.outcome || j.state || "")}`;
    return li;
  }));
}

async function showAgain(mediaId) {
  const panel = selected("panel");
  if (!panel) { toast(t("no_panel"), true); return; }
  const reply = await ask(panel.id, "show", { media: mediaId });
  if (reply.ok) toast(t("done")); else showError(reply.error);
}

// --- lesson -----------------------------------------------------------------------------------------
$("subject").value = localStorage.getItem("classroomd.subject") || "";
$("teacher").value = localStorage.getItem("classroomd.teacher") || "";
$("lesson-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  localStorage.setItem("classroomd.subject", $("subject").value);
  localStorage.setItem("classroomd.teacher", $("teacher").value);
  const reply = await ask("agent", "lesson_start", { subject: $("subject").value, teacher: $("teacher").value });
  if (!reply.ok) showError(reply.error); else { toast(t("started")); await refresh(); }
});
$("lesson-end").addEventListener("click", async () => {
  const reply = await ask("agent", "lesson_end", {});
  if (!reply.ok) showError(reply.error); else { toast(t("ended")); await refresh(); }
});

// --- microscope -------------------------------------------------------------------------------------
// The steps the agent reports, in the words a teacher reads; the reply's own text is kept beside them.
const STEP_KEYS = { capture: "step_capture", power: "step_wake", input: "step_input", board: "step_shown", show: "step_shown" };
function stepKey(step) { return STEP_KEYS[step] || "step_shown"; }

function showSteps(items) {
  $("steps").replaceChildren(...items.map(([key, cls, detail]) => {
    const li = document.createElement("li");
    li.className = cls;
    li.dataset.step = key;
    li.textContent = `${t(key)}${detail ? " — " + detail : ""}${cls === "done" ? " ✓" : cls === "failed" ? " ✗" : " …"}`;
    return li;
  }));
}

$("capture").addEventListener("click", async () => {
  const scope = selected("microscope");
  showSteps([["step_capture", "working", ""]]);
  $("show-error").hidden = true;
  const reply = await ask(scope.id, "capture", {});
  if (!reply.ok) { showSteps([["step_capture", "failed", reply.error.message]]); return; }
  showSteps([["step_capture", "done", ""]]);
  await loadGallery();
});

$("capture-show").addEventListener("click", async () => {
  const scope = selected("microscope"), panel = selected("panel");
  if (!panel) { toast(t("no_panel"), true); return; }
  $("capture-show").disabled = true;
  $("show-error").hidden = true;
  showSteps([["step_capture", "working", ""], ["step_wake", "working", ""], ["step_input", "working", ""], ["step_shown", "working", ""]]);
  const reply = await ask("agent", "capture_and_show", { microscope: scope.id, panel: panel.id });
  $("capture-show").disabled = false;
  if (reply.ok) {
    const steps = [["step_capture", "done", ""]].concat((reply.data.steps || []).map((s) => [stepKey(s.step), "done", s.done || ""]));
    showSteps(steps);
    await loadGallery();
    return;
  }
  const details = reply.error.details || {};
  const failed = stepKey(String(details.step || "show"));
  const order = ["step_capture", "step_wake", "step_input", "step_shown"];
  showSteps(order.slice(0, order.indexOf(failed) + 1).map((k) => [k, k === failed ? "failed" : "done", ""]));
  const saved = details.media_id ? ` ${t("saved_as")}: ${details.media_id}.` : "";
  $("show-error").textContent = `${t("failed_step")}: ${t(failed)} — ${reply.error.message}.${saved}`;
  $("show-error").hidden = false;
  if (details.media_id) await loadGallery();
});

$("preset").addEventListener("change", async () => {
  const reply = await ask(selected("microscope").id, "set", { magnification: $("preset").value });
  if (!reply.ok) showError(reply.error);
});

// --- panel ------------------------------------------------------------------------------------------
async function panelDo(action, args) {
  const reply = await ask(selected("panel").id, action, args);
  if (!reply.ok) showError(reply.error); else { toast(t("done")); await refresh(); }
}
for (const b of document.querySelectorAll("[data-panel=power]")) b.addEventListener("click", () => panelDo("power", { state: b.dataset.value }));
$("panel-input").addEventListener("change", () => panelDo("input", { name: $("panel-input").value }));
$("volume").addEventListener("change", () => panelDo("volume", { level: Number($("volume").value) }));
$("mute").addEventListener("click", () => panelDo("mute", { on: !selected("panel").mute }));
$("clear-board").addEventListener("click", () => panelDo("show", { clear: true }));

// --- printer ----------------------------------------------------------------------------------------
$("gcode").addEventListener("change", () => { $("gcode-name").textContent = $("gcode").files[0]?.name || ""; });
$("print-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  if (!$("gcode").files.length) { toast(t("gcode_file"), true); return; }
  pendingUpload = "print";
  $("bed-checked").checked = false;
  $("bed-dialog").showModal();
});
$("start-next").addEventListener("click", () => {
  pendingUpload = "start_next";
  $("bed-checked").checked = false;
  $("bed-dialog").showModal();
});
$("bed-cancel").addEventListener("click", () => { pendingUpload = null; $("bed-dialog").close(); });
$("bed-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  if (!$("bed-checked").checked) return;
  $("bed-dialog").close();
  const printer = selected("printer");
  if (pendingUpload === "start_next") {
    const reply = await ask(printer.id, "start_next", { confirm_bed_clear: true });
    if (!reply.ok) showError(reply.error); else toast(t("started"));
    return;
  }
  toast(t("uploading"));
  const form = new FormData();
  form.append("file", $("gcode").files[0]);
  let upload = await api("/api/v1/remote/upload", { method: "POST", body: form });
  if (upload.http === 401) {
    await new Promise((resolve) => { afterPin = resolve; openPin(); });
    upload = await api("/api/v1/remote/upload", { method: "POST", body: form });
  }
  if (upload.http !== 201) { showError((upload.body.error) || { code: String(upload.http) }); return; }
  const reply = await ask(printer.id, "print", { file_id: upload.body.file.id, confirm_bed_clear: true });
  if (!reply.ok) { showError(reply.error); return; }
  toast(`${t("started")}: ${upload.body.file.name}`);
  await refresh();
});
for (const [id, action] of [["pause", "pause"], ["resume", "resume"], ["cancel", "cancel"]]) {
  $(id).addEventListener("click", async () => {
    const reply = await ask(selected("printer").id, action, {});
    if (!reply.ok) showError(reply.error); else await refresh();
  });
}

// --- PIN --------------------------------------------------------------------------------------------
function openPin() {
  $("pin").value = "";
  $("pin-error").hidden = true;
  if (!$("pin-dialog").open) $("pin-dialog").showModal();
}
$("unlock").addEventListener("click", openPin);
$("pin-cancel").addEventListener("click", () => { afterPin = null; $("pin-dialog").close(); });
$("pin-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const reply = await api("/api/v1/remote/pin", {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ pin: $("pin").value }),
  });
  if (reply.http === 200) {
    $("pin-dialog").close();
    state.teacher = true;
    render();
    const next = afterPin; afterPin = null;
    if (next) await next();
    return;
  }
  const retry = reply.http === 429 ? (reply.body.error && reply.body.error.retry_after) : null;
  $("pin-error").textContent = reply.http === 429 ? `${t("locked")} ${retry || 60}` : t("wrong_pin");
  $("pin-error").dataset.code = reply.http === 429 ? "locked" : "wrong";
  $("pin-error").hidden = false;
});

for (const b of document.querySelectorAll("[data-lang-set]")) {
  b.addEventListener("click", () => { lang = b.dataset.langSet; localStorage.setItem("classroomd.lang", lang); applyLanguage(); });
}
for (const id of ["scope-select", "panel-select", "printer-select"]) $(id).addEventListener("change", render);

// A hidden tab must not keep pulling video over the school's weak link.
document.addEventListener("visibilitychange", () => {
  const live = $("live");
  if (document.hidden) { live.removeAttribute("src"); live.dataset.src = ""; } else { render(); }
});

applyLanguage();
refresh();
setInterval(() => { if (!document.hidden) refresh(); }, 2000);
