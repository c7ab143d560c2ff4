// The review page: the excerpt's audio, its lines as inputs, keyboard first; every change saved at once.
(function () {
  "use strict";
  const state = JSON.parse(document.getElementById("review-state").textContent);
  const token = document.querySelector("meta[name=review-token]").content;
  const player = document.getElementById("player");
  const list = document.getElementById("lines");
  const shown = document.getElementById("state");
  let lines = state.lines.map((l) => ({ ...l }));
  let verified = state.verified;
  let pending = null, saving = Promise.resolve(), current = 0;

  const clock = (t) => {
    const s = Math.max(0, t);
    return `${String(Math.floor(s / 60)).padStart(2, "0")}:${(s % 60).toFixed(1).padStart(4, "0")}`;
  };

  function render(focus) {
    list.textContent = "";
    lines.forEach((line, i) => {
      const li = document.createElement("li");
      li.className = "line";
      li.dataset.i = i;
      const ts = document.createElement("button");
      ts.type = "button"; ts.className = "ts"; ts.textContent = clock(line.start); ts.title = "play from here";
      ts.addEventListener("click", () => seek(line.start, true));
      const who = document.createElement("input");
      who.className = "who"; who.value = line.speaker || ""; who.setAttribute("list", "speakers");
      who.setAttribute("aria-label", "speaker"); who.size = 9;
      who.addEventListener("change", () => { line.speaker = who.value.trim() || null; save(0); });
      const text = document.createElement("textarea");  // wraps a long line; Enter moves on (below)
      text.className = "text"; text.rows = 1; text.value = line.text; text.setAttribute("aria-label", "what was said");
      text.addEventListener("input", () => { line.text = text.value.replace(/\s*\n\s*/g, " "); fit(text); save(600); });
      text.addEventListener("focus", () => { current = i; mark(); });
      who.addEventListener("focus", () => { current = i; mark(); });
      li.append(ts, who, text);
      list.append(li);
      fit(text);
    });
    const options = document.getElementById("speakers") || document.body.appendChild(document.createElement("datalist"));
    options.id = "speakers";
    options.textContent = "";
    speakers().forEach((s) => { const o = document.createElement("option"); o.value = s; options.append(o); });
    if (focus !== undefined && lines.length) {
      current = Math.max(0, Math.min(focus, lines.length - 1));
      list.children[current].querySelector(".text").focus();
    }
    mark();
  }

  function fit(area) {
    area.style.height = "auto";
    area.style.height = area.scrollHeight + 2 + "px";
  }

  function speakers() {
    return Array.from(new Set([...state.speakers, ...lines.map((l) => l.speaker).filter(Boolean)]));
  }

  function mark() {
    Array.from(list.children).forEach((li, i) => li.classList.toggle("current", i === current));
  }

  function seek(t, play) {
    player.currentTime = Math.max(state.start, Math.min(t, state.end));
    if (play) player.play().catch(() => {});
  }

  function toggle() {
    if (player.paused) {
      if (player.currentTime < state.start || player.currentTime >= state.end - 0.05) player.currentTime = state.start;
      player.play().catch(() => {});
    } else player.pause();
  }

  function show(text, cls) {
    shown.textContent = text;
    shown.className = "saved " + (cls || "");
  }

  // Saves one after another (never two at once), the newest state each time.
  function save(delay) {
    clearTimeout(pending);
    show("saving…", "busy");
    return new Promise((done) => {
      pending = setTimeout(() => { saving = saving.then(send).then(done, done); }, delay);
    });
  }

  async function send() {
    const body = JSON.stringify({ excerpt: state.excerpt, verified, lines });
    try {
      const r = await fetch("/review/label", {
        method: "POST", body, credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-Review-Token": token },
      });
      if (!r.ok) throw new Error((await r.text()) || r.statusText);
      const out = await r.json();
      document.getElementById("progress").textContent =
        `${out.progress.reviewed} of ${out.progress.total} reviewed · ${out.progress.minutes} min labelled`;
      show(verified ? "verified" : "saved", verified ? "verified" : "");
    } catch (e) {
      show("not saved: " + e.message, "error");
      throw e;
    }
  }

  function addLine() {
    const at = Math.max(state.start, Math.min(player.currentTime || state.start, state.end));
    const prev = lines[current];
    lines.push({ start: +at.toFixed(2), end: +Math.min(at + 2, state.end).toFixed(2), speaker: prev ? prev.speaker : null, text: "" });
    lines.sort((a, b) => a.start - b.start);
    render(lines.findIndex((l) => l.text === "" && Math.abs(l.start - at) < 0.01));
    save(0);
  }

  function removeLine() {
    if (!lines.length) return;
    lines.splice(current, 1);
    render(current);
    save(0);
  }

  function nextSpeaker() {
    const line = lines[current];
    if (!line) return;
    const all = speakers();
    line.speaker = all[(all.indexOf(line.speaker) + 1) % all.length];
    list.children[current].querySelector(".who").value = line.speaker;
    save(0);
  }

  async function go(n) {
    clearTimeout(pending);
    await saving.catch(() => {});
    if (shown.classList.contains("busy")) await send().catch(() => {});
    if (n >= 0 && n < state.total) location.href = `/review?n=${n}`;
  }

  async function verify() {
    verified = true;
    await save(0).catch(() => {});
    if (!shown.classList.contains("error")) go(state.n + 1 < state.total ? state.n + 1 : state.n);
  }

  document.addEventListener("keydown", (e) => {
    const typing = e.target.tagName === "INPUT" || e.target.tagName === "TEXTAREA";
    const k = e.key;
    let handled = true;
    if (e.ctrlKey && k === " ") toggle();
    else if (!typing && k === " ") toggle();
    else if (e.ctrlKey && (k === "b" || k === "B")) seek(player.currentTime - 3, true);
    else if (e.ctrlKey && k === "Enter") verify();
    else if (e.ctrlKey && (k === "i" || k === "I")) addLine();
    else if (e.ctrlKey && k === "Delete") removeLine();
    else if (e.ctrlKey && k === ".") nextSpeaker();
    else if (k === "PageDown") go(state.n + 1);
    else if (k === "PageUp") go(state.n - 1);
    else if ((k === "Enter" || k === "ArrowDown") && !e.ctrlKey) render(current + 1 < lines.length ? current + 1 : current);
    else if (k === "ArrowUp" && !e.ctrlKey) render(current - 1);
    else handled = false;
    if (handled) e.preventDefault();
  });
  document.getElementById("add").addEventListener("click", addLine);
  document.getElementById("verify").addEventListener("click", verify);

  // The excerpt only: start at its start, stop at its end; the line being heard is marked.
  player.addEventListener("loadedmetadata", () => { player.currentTime = state.start; }, { once: true });
  player.addEventListener("timeupdate", () => {
    if (player.currentTime >= state.end) { player.pause(); player.currentTime = state.end; }
    Array.from(list.children).forEach((li, i) => {
      const l = lines[i];
      li.classList.toggle("playing", !!l && player.currentTime >= l.start - 0.05 && player.currentTime <= l.end + 0.3);
    });
  });
  render(0);
})();
