// The lesson board: shows what the lesson pushes, acknowledges each show once it is on screen,
// reconnects by itself, and draws the teacher's ink on top. No libraries: it must run offline
// on whatever browser the panel has.
"use strict";
(() => {
  const params = new URLSearchParams(location.search);
  const body = document.body;
  const panel = params.get("panel") || body.dataset.panel;
  const langs = ["kk", "ru", "en"];
  const lang = langs.includes(params.get("lang")) ? params.get("lang") : (body.dataset.lang || "kk");
  const TEXT = {
    kk: { eyes: "Тақтаға қараңыз!", waiting: "Сабақ материалын күтудеміз", reconnecting: "Байланыс үзілді, қайта қосылуда…",
          live: "Тікелей", printing: "3D басып шығару", capital: "Астанасы", left: "қалды", min: "мин",
          noMedia: "Сурет жүктелмеді" },
    ru: { eyes: "Смотрим на доску!", waiting: "Ждём материалы урока", reconnecting: "Связь потеряна, переподключение…",
          live: "Прямой эфир", printing: "3D-печать", capital: "Столица", left: "осталось", min: "мин",
          noMedia: "Снимок не загрузился" },
    en: { eyes: "Eyes on the board!", waiting: "Waiting for the lesson", reconnecting: "Connection lost, reconnecting…",
          live: "Live", printing: "3D printing", capital: "Capital", left: "left", min: "min",
          noMedia: "The picture did not load" },
  };
  const T = TEXT[lang] || TEXT.kk;
  document.documentElement.lang = lang;

  const stage = document.getElementById("stage");
  const canvas = document.getElementById("ink");
  const status = document.getElementById("status");
  const notes = document.getElementById("notes");
  let socket = null;
  let attempt = 0;
  let renderSeq = 0;

  // --- helpers -----------------------------------------------------------------------------------
  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }
  function pick(value) {
    if (value && typeof value === "object") return value[lang] || value.en || Object.values(value)[0] || "";
    return value === undefined || value === null ? "" : String(value);
  }
  function flagOf(code) {
    if (!/^[A-Za-z]{2}$/.test(code || "")) return "";
    return String.fromCodePoint(...[...code.toUpperCase()].map((c) => 0x1f1e6 + c.charCodeAt(0) - 65));
  }
  // The flag as the agent's SVG: an emoji flag is an empty box where no colour-emoji font is
  // installed. Resolves once the picture is in (or fell back to the emoji), so the ack means "on screen".
  function flagImage(card, box) {
    const code = card.iso || card.code || "";
    const emoji = card.flag || flagOf(code);
    if (!/^[A-Za-z]{2}$/.test(code)) { box.textContent = emoji; return Promise.resolve(); }
    const img = el("img");
    img.alt = emoji;
    box.append(img);
    return new Promise((resolve) => {
      img.onload = () => resolve();
      img.onerror = () => { box.textContent = emoji; resolve(); };
      setTimeout(resolve, 1500);
      img.src = `/board/flags/${code.toLowerCase()}.svg`;
    });
  }
  // "14:14", and the date too when it is not today: the server formats both in the school's time zone.
  function whenText(when) {
    if (!when || !when.time) return "";
    return when.today ? when.time : `${pick(when.date)}, ${when.time}`;
  }
  function painted() {
    return new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve)));
  }
  function send(message) {
    if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(message));
  }

  // --- the scale bar -----------------------------------------------------------------------------
  // A "nice" length (1, 2 or 5 × 10^n µm) about a fifth of the picture's width on screen.
  function niceLength(maxUm) {
    const power = Math.pow(10, Math.floor(Math.log10(maxUm)));
    for (const step of [5, 2, 1]) if (step * power <= maxUm) return step * power;
    return power;
  }
  function layoutScaleBar(img, bar, umPerPx) {
    if (!img.naturalWidth || !img.clientWidth) return;
    const screenPerPx = img.clientWidth / img.naturalWidth;
    const um = niceLength((img.clientWidth * 0.22 / screenPerPx) * umPerPx);
    const px = (um / umPerPx) * screenPerPx;
    bar.querySelector(".bar").style.width = px + "px";
    bar.querySelector(".label").textContent = um >= 1000 ? `${um / 1000} mm` : `${um} µm`;
    bar.dataset.um = String(um);
    bar.dataset.px = px.toFixed(2);
  }

  // --- content -----------------------------------------------------------------------------------
  function stopStreams() {
    // An MJPEG <img> keeps its HTTP connection open until its src goes away.
    for (const img of stage.querySelectorAll("img.live")) img.src = "";
  }
  function loadImage(url) {
    return new Promise((resolve, reject) => {
      const img = new Image();
      img.onload = () => resolve(img);
      img.onerror = () => reject(new Error(`${T.noMedia}: ${url}`));
      img.src = url;
    });
  }

  async function buildMedia(c) {
    const img = await loadImage(c.url);
    img.className = "still";
    img.alt = c.caption || "";
    const figure = el("figure", "media");
    const frame = el("div", "frame");
    frame.append(img);
    figure.append(frame);
    if (c.um_per_px > 0) {
      const bar = el("div", "scalebar");
      bar.append(el("span", "label"), el("div", "bar"));
      frame.append(bar);
      const layout = () => layoutScaleBar(img, bar, c.um_per_px);
      figure.layout = layout;
    }
    const zoom = typeof c.magnification === "number" ? `×${c.magnification}` : (c.magnification || "");
    const caption = [c.caption, zoom, whenText(c.when)].filter(Boolean).join(" · ");
    if (caption) figure.append(el("figcaption", "", caption));
    return { node: figure, info: { width: img.naturalWidth, height: img.naturalHeight } };
  }

  function buildStream(c) {
    const figure = el("figure", "media");
    const frame = el("div", "frame");
    const img = el("img", "live");
    img.alt = c.name || c.device || "";
    frame.append(img, el("span", "live-badge", `● ${T.live}`));
    figure.append(frame);
    if (c.name) figure.append(el("figcaption", "", c.name));
    // The first frame proves the stream is flowing; a camera that is slow to start must not hold up
    // the acknowledgement, so the board acknowledges after a short wait either way.
    const first = new Promise((resolve) => {
      img.onload = () => resolve(true);
      img.onerror = () => resolve(false);
      setTimeout(() => resolve(false), 1500);
    });
    img.src = c.url;
    return { node: figure, ready: first };
  }

  function buildCard(card) {
    const box = el("section", "card");
    const type = card.type || "text";
    box.dataset.type = type;
    if (type === "print") {
      let pct = Number(card.progress || 0);
      if (pct <= 1) pct *= 100;
      pct = Math.max(0, Math.min(100, pct));
      box.append(el("p", "label", T.printing), el("h1", "", pick(card.name || card.file || "")));
      const bar = el("div", "progress");
      const fill = el("div");
      fill.style.width = pct.toFixed(1) + "%";
      bar.append(fill);
      box.append(bar, el("p", "", `${Math.round(pct)}%` + (card.eta_s > 0 ? ` · ${Math.ceil(card.eta_s / 60)} ${T.min} ${T.left}` : "")));
      if (card.printer) box.append(el("p", "label", pick(card.printer)));
    } else if (type === "country") {
      const flag = el("div", "flag");
      box.ready = flagImage(card, flag);
      box.append(flag);
      box.append(el("h1", "", pick(card.name) || card.code || ""));
      if (card.capital) {
        const p = el("p");
        p.append(el("span", "label", `${T.capital}: `), document.createTextNode(pick(card.capital)));
        box.append(p);
      }
    } else {
      if (card.title) box.append(el("h1", "", pick(card.title)));
      if (card.text) box.append(el("p", "", pick(card.text)));
    }
    return box;
  }

  function waitingScreen() {
    const node = el("div", "waiting", T.waiting);
    node.append(el("small", "", body.dataset.name || panel));
    return node;
  }

  async function render(content) {
    const seq = ++renderSeq;
    let node;
    let info = {};
    let ready = null;
    const kind = content ? content.kind : "none";
    if (kind === "media") ({ node, info } = await buildMedia(content));
    else if (kind === "stream") ({ node, ready } = buildStream(content));
    else if (kind === "card") {
      node = buildCard(content.card || {});
      await node.ready;
    }
    else if (kind === "clear") node = el("div", "eyes", T.eyes);
    else node = waitingScreen();
    if (seq !== renderSeq) return { superseded: true };  // a later show arrived while this one loaded
    stopStreams();
    stage.replaceChildren(node);
    stage.dataset.kind = kind;
    if (node.layout) node.layout();
    clearInk();
    await painted();
    if (ready) info.first_frame = await ready;
    return { kind, ...info };
  }

  // --- ink ---------------------------------------------------------------------------------------
  let strokes = [];
  function sizeCanvas() {
    const ratio = window.devicePixelRatio || 1;
    canvas.width = Math.round(innerWidth * ratio);
    canvas.height = Math.round(innerHeight * ratio);
    redrawInk();
  }
  function drawStroke(stroke) {
    const ctx = canvas.getContext("2d");
    const points = stroke.points || [];
    // Map the tablet's active area (its own aspect ratio) onto the largest centred box of the
    // screen with that shape, so a circle drawn on the tablet is a circle on the board.
    let w = canvas.width, h = canvas.height, ox = 0, oy = 0;
    if (stroke.aspect > 0) {
      if (w / h > stroke.aspect) { const bw = h * stroke.aspect; ox = (w - bw) / 2; w = bw; }
      else { const bh = w / stroke.aspect; oy = (h - bh) / 2; h = bh; }
    }
    const base = (stroke.width || 4) * (window.devicePixelRatio || 1);
    ctx.strokeStyle = stroke.color || "#ff1744";
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
    if (points.length === 1) {
      const [x, y, p = 0.5] = points[0];
      ctx.fillStyle = ctx.strokeStyle;
      ctx.beginPath();
      ctx.arc(ox + x * w, oy + y * h, base * (0.5 + p) / 2, 0, 2 * Math.PI);
      ctx.fill();
      return;
    }
    for (let i = 1; i < points.length; i++) {
      const [x0, y0] = points[i - 1];
      const [x1, y1, p = 0.5] = points[i];
      ctx.lineWidth = base * (0.5 + p);
      ctx.beginPath();
      ctx.moveTo(ox + x0 * w, oy + y0 * h);
      ctx.lineTo(ox + x1 * w, oy + y1 * h);
      ctx.stroke();
    }
  }
  function redrawInk() {
    canvas.getContext("2d").clearRect(0, 0, canvas.width, canvas.height);
    for (const stroke of strokes) drawStroke(stroke);
    canvas.dataset.strokes = String(strokes.length);
  }
  function clearInk() {
    strokes = [];
    redrawInk();
  }
  function ink(message) {
    if (message.clear) clearInk();
    for (const stroke of message.strokes || []) {
      if (stroke.aspect === undefined && message.aspect) stroke.aspect = message.aspect;
      strokes.push(stroke);
      drawStroke(stroke);
    }
    if (strokes.length > 5000) strokes = strokes.slice(-5000);  // bounded: a long lesson must not grow memory
    canvas.dataset.strokes = String(strokes.length);
  }

  // --- notes: a device without the board says what it did, in a corner, and the note goes by itself --
  function note(message) {
    const source = String(message.source || "");
    let node = [...notes.children].find((n) => n.dataset.source === source);
    if (!node) {
      node = el("div", "note");
      node.dataset.source = source;
      notes.append(node);
    }
    node.replaceChildren(el("strong", "", pick(message.title)), document.createTextNode(` ${pick(message.text)}`));
    clearTimeout(node.timer);
    node.timer = setTimeout(() => node.remove(), Math.max(0.5, Number(message.ttl_s) || 4) * 1000);
  }

  // --- the connection ----------------------------------------------------------------------------
  function setConnected(up) {
    body.dataset.connected = up ? "1" : "0";
    status.textContent = up ? "" : T.reconnecting;
  }
  async function onMessage(message) {
    if (message.type === "hello") {
      await render(message.content).catch(() => render(null));
    } else if (message.type === "show") {
      try {
        const info = await render(message.content);
        stage.dataset.showId = String(message.id);
        send({ type: "ack", id: message.id, ...info });
      } catch (err) {
        send({ type: "nack", id: message.id, error: String((err && err.message) || err) });
      }
    } else if (message.type === "ink") {
      ink(message);
    } else if (message.type === "note") {
      note(message);
    }
  }
  function connect() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    socket = new WebSocket(`${scheme}//${location.host}/board/ws?panel=${encodeURIComponent(panel)}`);
    socket.onopen = () => { attempt = 0; setConnected(true); };
    socket.onmessage = (event) => {
      let message;
      try { message = JSON.parse(event.data); } catch (_) { return; }
      onMessage(message);
    };
    socket.onclose = () => {
      setConnected(false);
      // Exponential back-off with jitter, capped, so thirty boards do not hammer a restarting daemon at once.
      const delay = Math.min(8000, 300 * Math.pow(2, attempt++)) * (0.75 + Math.random() * 0.5);
      setTimeout(connect, delay);
    };
    socket.onerror = () => socket.close();
  }

  addEventListener("resize", () => {
    sizeCanvas();
    const figure = stage.querySelector(".media");
    if (figure && figure.layout) figure.layout();
  });
  sizeCanvas();
  setConnected(false);
  connect();
})();
