// The "linked with …" line on the lesson board: polled from this room's own agent, so it needs no
// change to the board's WebSocket protocol and disappears when the linked lesson ends.
(() => {
  const lang = document.body.dataset.lang || "kk";
  const line = document.createElement("div");
  line.id = "linked-line";
  line.setAttribute("role", "status");
  line.style.cssText = "position:fixed;left:1.2vw;bottom:1.2vh;padding:.3em .8em;border-radius:.4em;" +
    "font:600 clamp(12px,1.4vw,22px) system-ui,sans-serif;color:#fff;background:rgba(20,90,160,.85);" +
    "z-index:20;display:none;pointer-events:none";
  document.body.appendChild(line);
  async function poll() {
    try {
      const reply = await fetch("/api/v1/linked", {cache: "no-store"});
      const status = await reply.json();
      const text = status.line ? (status.line[lang] || status.line.en) : "";
      line.textContent = text;
      line.dataset.rooms = (status.rooms || []).join(" ");
      line.style.display = text ? "block" : "none";
    } catch (error) {
      // the board's own status line says when the agent is unreachable
    }
    setTimeout(poll, 2000);
  }
  poll();
})();
