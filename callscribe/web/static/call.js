// The call page: start the player at the hit's time, follow the line being heard, seek by clicking a line.
(function () {
  "use strict";
  const player = document.getElementById("player");
  const lines = Array.from(document.querySelectorAll("#transcript .line"));
  if (!player) return;
  const starts = lines.map((li) => parseFloat(li.dataset.start));
  const ends = lines.map((li) => parseFloat(li.dataset.end));
  const wanted = parseFloat(player.dataset.start || "0");
  let current = null;

  function seek(t, play) {
    player.currentTime = t;
    if (play) player.play().catch(() => {}); // a browser may refuse to play before a click: the time is set anyway
  }

  // The line at time t: the last one started by then, if it has not ended long before.
  function lineAt(t) {
    let lo = 0, hi = starts.length - 1, found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (starts[mid] <= t + 0.05) { found = mid; lo = mid + 1; } else { hi = mid - 1; }
    }
    return found >= 0 && t <= ends[found] + 0.5 ? lines[found] : null;
  }

  function follow() {
    const li = lineAt(player.currentTime);
    if (li === current) return;
    if (current) current.classList.remove("playing");
    current = li;
    if (li) {
      li.classList.add("playing");
      const r = li.getBoundingClientRect();
      if (r.top < 120 || r.bottom > window.innerHeight) li.scrollIntoView({ block: "center", behavior: "smooth" });
    }
  }

  if (wanted > 0) {
    if (player.readyState >= 1) seek(wanted, true);
    else player.addEventListener("loadedmetadata", () => seek(wanted, true), { once: true });
  }
  player.addEventListener("timeupdate", follow);
  player.addEventListener("seeked", follow);
  lines.forEach((li, i) => {
    li.addEventListener("click", (e) => {
      if (window.getSelection().toString()) return; // selecting text is not a click to play
      seek(starts[i], true);
      e.preventDefault();
    });
  });
  const hit = document.querySelector("#transcript .line.hit");
  if (hit) hit.scrollIntoView({ block: "center" });
})();
