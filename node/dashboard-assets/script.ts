/**
 * The dashboard's script, run in the browser: polls `api/cluster` once a
 * second, turns counter deltas between polls into rates (gets/s, mean
 * load latency) and draws them on canvases, and fills the page's tables.
 * Text from the network is only ever set with textContent or drawn on a
 * canvas. When a poll is refused with 401 it asks for the auth token once,
 * keeps it in sessionStorage and sends it as `authorization: Bearer`.
 *
 * Plain browser JavaScript kept in a string (the build copies only
 * compiled TypeScript): it must contain no backtick and no dollar-brace.
 */
export const DASHBOARD_SCRIPT = String.raw`"use strict";
(() => {
  /** Where the data is: next to this script. */
  const API_URL = new URL("api/cluster", document.currentScript.src).toString();
  const TOKEN_KEY = "burrow.dashboard.token";
  const POLL_MS = 1000;
  const REQUEST_TIMEOUT_MS = 5000;
  /** The span the charts show, and the latency tile averages over. */
  const WINDOW_MS = 60000;
  /** Polls further apart than this are not joined by a line (the page or the node paused). */
  const GAP_MS = 3500;
  const PALETTE = ["#2563eb", "#16a34a", "#ea580c", "#db2777", "#7c3aed", "#0891b2", "#ca8a04", "#dc2626"];
  const STATES = ["up", "suspect", "down", "draining", "joining", "left"];
  const LEVELS = ["info", "warn", "error"];

  const byId = (id) => document.getElementById(id);
  const num = (v) => (typeof v === "number" && Number.isFinite(v) ? v : 0);

  /** An element with a class and text (textContent: never parsed as markup). */
  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function setText(id, text) {
    const node = byId(id);
    if (node.textContent !== text) node.textContent = text;
  }

  // --- formatting ---------------------------------------------------------------

  function fmtCount(n) {
    return Math.round(n).toLocaleString("en-US");
  }
  function fmtRate(n) {
    if (n === null || n === undefined) return "—";
    if (n < 10) return (Math.round(n * 10) / 10).toLocaleString("en-US");
    return fmtCount(n);
  }
  function fmtPct(ratio) {
    if (ratio === null) return "—";
    return (ratio * 100).toFixed(1) + "%";
  }
  function fmtMs(ms) {
    if (ms === null) return "—";
    if (ms < 10) return ms.toFixed(2) + " ms";
    if (ms < 1000) return ms.toFixed(1) + " ms";
    return (ms / 1000).toFixed(2) + " s";
  }
  function fmtBytes(n) {
    const units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let value = n;
    let unit = 0;
    while (value >= 1024 && unit < units.length - 1) {
      value /= 1024;
      unit++;
    }
    return (unit === 0 ? String(Math.round(value)) : value.toFixed(value < 10 ? 1 : 0)) + " " + units[unit];
  }
  function fmtUptime(ms) {
    const s = Math.floor(num(ms) / 1000);
    if (s < 60) return s + "s";
    const m = Math.floor(s / 60);
    if (m < 60) return m + "m " + (s % 60) + "s";
    const h = Math.floor(m / 60);
    if (h < 48) return h + "h " + (m % 60) + "m";
    return Math.floor(h / 24) + "d " + (h % 24) + "h";
  }
  function fmtTime(at) {
    const d = new Date(num(at));
    const two = (v) => String(v).padStart(2, "0");
    return two(d.getHours()) + ":" + two(d.getMinutes()) + ":" + two(d.getSeconds());
  }
  /** Ids are URLs: the scheme adds nothing on a screen of one cluster. */
  function shortId(id) {
    return String(id).replace(/^https?:\/\//, "");
  }
  function ratioOf(hits, lookups) {
    return lookups > 0 ? hits / lookups : null;
  }

  // --- what the polls add up to -------------------------------------------------

  /** One member's counters summed over its namespaces. */
  function totalsOf(stats) {
    const t = { gets: 0, hits: 0, lookups: 0, loads: 0, ended: 0, loadMs: 0, items: 0, bytes: 0, memoryBytes: 0, maxBytes: 0 };
    const namespaces = stats && typeof stats.namespaces === "object" && stats.namespaces ? stats.namespaces : {};
    for (const ns of Object.values(namespaces)) addNamespace(t, ns);
    return t;
  }
  function addNamespace(t, ns) {
    const hits = num(ns.hits) + num(ns.hotHits);
    t.gets += num(ns.gets);
    t.hits += hits;
    t.lookups += hits + num(ns.misses);
    t.loads += num(ns.loads);
    t.ended += num(ns.loadsEnded);
    t.loadMs += num(ns.loadMs);
    t.items += num(ns.items);
    t.bytes += num(ns.bytes);
    t.memoryBytes += num(ns.memoryBytes);
    t.maxBytes += num(ns.maxBytes);
  }

  /** Per member: its counters at the previous poll. */
  const previous = new Map();
  /** One point per poll: { at, members: Map id -> { gets, latency }, gets, loads, loadMs }. */
  const history = [];
  /** Each member keeps its colour for as long as the page is open. */
  const colours = new Map();
  function colourOf(id) {
    if (!colours.has(id)) colours.set(id, PALETTE[colours.size % PALETTE.length]);
    return colours.get(id);
  }

  /** Rates since the previous poll, from each member's counters and uptime (its own clock). */
  function sample(view) {
    const point = { at: num(view.at) || Date.now(), members: new Map(), gets: null, loads: 0, loadMs: 0 };
    let total = 0;
    let measured = false;
    for (const member of view.members) {
      if (!member.stats) {
        previous.delete(member.id);
        continue;
      }
      const now = totalsOf(member.stats);
      now.uptimeMs = num(member.stats.uptimeMs);
      const before = previous.get(member.id);
      previous.set(member.id, now);
      if (!before) continue;
      const seconds = (now.uptimeMs - before.uptimeMs) / 1000;
      const gets = now.gets - before.gets;
      // The same answer again, or a member that restarted (its counters began anew).
      if (seconds <= 0 || gets < 0) continue;
      // Loads that ended and the time they took, counted together (loads still running count in neither).
      const loads = now.ended - before.ended;
      const loadMs = now.loadMs - before.loadMs;
      const timed = loads > 0 && loadMs >= 0;
      point.members.set(member.id, { gets: gets / seconds, latency: timed ? loadMs / loads : null });
      total += gets / seconds;
      measured = true;
      if (timed) {
        point.loads += loads;
        point.loadMs += loadMs;
      }
    }
    if (measured) point.gets = total;
    history.push(point);
    while (history.length > 0 && history[0].at < point.at - WINDOW_MS - GAP_MS) history.shift();
    return point;
  }

  // --- charts -------------------------------------------------------------------

  function cssVar(name) {
    return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  }
  /** A round step (1, 2 or 5 times a power of ten) at least as large as raw. */
  function niceStep(raw) {
    const power = Math.pow(10, Math.floor(Math.log10(raw)));
    const f = raw / power;
    return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * power;
  }
  function tickLabel(value, unit) {
    const text = value >= 1000 ? (value / 1000).toFixed(value % 1000 === 0 ? 0 : 1) + "k" : String(+value.toFixed(2));
    return unit ? text + " " + unit : text;
  }

  /** Draws one line per member over the last WINDOW_MS: pick(rates) is the value of a point. */
  function drawChart(canvas, ids, pick, unit, now) {
    const ratio = window.devicePixelRatio || 1;
    const width = canvas.clientWidth;
    const height = canvas.clientHeight;
    if (width === 0 || height === 0) return;
    if (canvas.width !== Math.round(width * ratio)) canvas.width = Math.round(width * ratio);
    if (canvas.height !== Math.round(height * ratio)) canvas.height = Math.round(height * ratio);
    const ctx = canvas.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, width, height);
    const font = "11px system-ui, sans-serif";
    const left = 56;
    const right = 10;
    const top = 8;
    const bottom = 22;
    const plotW = width - left - right;
    const plotH = height - top - bottom;
    const start = now - WINDOW_MS;

    let max = 0;
    for (const point of history) {
      if (point.at < start) continue;
      for (const id of ids) {
        const rates = point.members.get(id);
        const v = rates ? pick(rates) : null;
        if (v !== null && v > max) max = v;
      }
    }
    const step = max > 0 ? niceStep(max / 4) : 1;
    const yMax = max > 0 ? Math.max(step, Math.ceil((max * 1.08) / step) * step) : 4;
    const y = (v) => top + plotH - (v / yMax) * plotH;
    const x = (at) => left + ((at - start) / WINDOW_MS) * plotW;

    ctx.font = font;
    ctx.lineWidth = 1;
    ctx.strokeStyle = cssVar("--grid");
    ctx.fillStyle = cssVar("--faint");
    ctx.textAlign = "right";
    ctx.textBaseline = "middle";
    for (let v = 0; v <= yMax + step / 2; v += step) {
      const py = Math.round(y(v)) + 0.5;
      ctx.beginPath();
      ctx.moveTo(left, py);
      ctx.lineTo(left + plotW, py);
      ctx.stroke();
      ctx.fillText(tickLabel(v, unit), left - 8, py);
    }
    ctx.textBaseline = "alphabetic";
    for (const s of [60, 45, 30, 15, 0]) {
      const px = x(now - s * 1000);
      ctx.textAlign = s === 0 ? "right" : s === 60 ? "left" : "center";
      ctx.fillText(s === 0 ? "now" : "−" + s + "s", px, height - 6);
    }

    /** Points inside the window on the canvas, as a line's vertex or a dot: read by the page's tests. */
    let pointsDrawn = 0;
    ctx.save();
    ctx.beginPath();
    ctx.rect(left, top - 2, plotW + 2, plotH + 4);
    ctx.clip();
    ctx.lineWidth = 2;
    ctx.lineJoin = "round";
    ctx.lineCap = "round";
    for (const id of ids) {
      ctx.strokeStyle = colourOf(id);
      ctx.fillStyle = colourOf(id);
      // Runs of points a line may join: each has a value, and its poll came within
      // GAP_MS of the one before. A poll without a value (no loads that second, no
      // answer) or a long pause ends a run; one just before the window leads a line in.
      const runs = [];
      let run = null;
      for (const point of history) {
        const rates = point.members.get(id);
        const v = rates ? pick(rates) : null;
        if (v === null || point.at < start - GAP_MS) {
          run = null;
          continue;
        }
        if (run === null || point.at - run[run.length - 1].at > GAP_MS) {
          run = [];
          runs.push(run);
        }
        run.push({ at: point.at, px: x(point.at), py: y(v) });
      }
      for (const points of runs) {
        const shown = points.filter((p) => p.at >= start).length;
        if (shown === 0) continue;
        pointsDrawn += shown;
        ctx.beginPath();
        if (points.length === 1) {
          // A point with no neighbour has no line to be part of: a moveTo alone draws nothing.
          ctx.arc(points[0].px, points[0].py, 3, 0, Math.PI * 2);
          ctx.fill();
          continue;
        }
        ctx.moveTo(points[0].px, points[0].py);
        for (const p of points.slice(1)) ctx.lineTo(p.px, p.py);
        ctx.stroke();
      }
      // The newest value, if it came with the latest poll that had any: a marker where the line ends.
      const newest = run === null ? undefined : run[run.length - 1];
      if (newest && now - newest.at <= GAP_MS) {
        ctx.beginPath();
        ctx.arc(newest.px, newest.py, 3, 0, Math.PI * 2);
        ctx.fill();
      }
    }
    canvas.setAttribute("data-points-drawn", String(pointsDrawn));
    const drawn = pointsDrawn > 0;
    ctx.restore();
    if (!drawn) {
      ctx.fillStyle = cssVar("--faint");
      ctx.textAlign = "center";
      ctx.font = "12px system-ui, sans-serif";
      ctx.fillText(history.length < 2 ? "waiting for a second poll…" : "nothing to show yet", left + plotW / 2, top + plotH / 2);
    }
  }

  function renderLegend(listId, ids) {
    const items = ids.map((id) => {
      const li = el("li");
      const swatch = el("span", "swatch");
      swatch.style.background = colourOf(id);
      li.append(swatch, el("span", "mono", shortId(id)));
      return li;
    });
    byId(listId).replaceChildren(...items);
  }

  // --- tables -------------------------------------------------------------------

  function meter(fraction, text, extraClass) {
    const wrap = el("div", "meter");
    const bar = el("div", "bar");
    const fill = el("div", "fill");
    const clamped = Math.max(0, Math.min(1, num(fraction)));
    fill.style.width = (clamped * 100).toFixed(2) + "%";
    if (extraClass) fill.classList.add(extraClass);
    bar.append(fill);
    wrap.append(bar, el("span", "meter-text" + (extraClass === "budget" ? " budget-text" : ""), text));
    return wrap;
  }
  function cell(content, className) {
    const td = el("td", className);
    if (content instanceof Node) td.append(content);
    else td.textContent = content;
    return td;
  }
  function badge(kind, known, value) {
    return el("span", "badge" + (known.includes(value) ? " " + kind + "-" + value : ""), value);
  }

  function renderMembers(view, point) {
    const rows = view.members.map((member) => {
      const tr = el("tr");
      tr.setAttribute("data-testid", "member");
      tr.setAttribute("data-member-id", String(member.id));
      tr.setAttribute("data-state", String(member.state));
      const name = el("span", "member-id");
      const swatch = el("span", "swatch");
      swatch.style.background = colourOf(member.id);
      name.append(swatch, el("span", "mono", shortId(member.id)));
      if (member.id === view.self) name.append(el("span", "tag", "this node"));
      const state = badge("state", STATES, String(member.state));
      state.setAttribute("data-testid", "member-state");
      const shareCell = cell(meter(member.share, fmtPct(num(member.share))), "share-col");
      shareCell.setAttribute("data-testid", "member-share");
      tr.append(cell(name), cell(state), shareCell);
      if (!member.stats) {
        const none = cell(member.state === "down" ? "not asked: down" : "no answer", "num muted");
        none.colSpan = 5;
        tr.append(none);
        return tr;
      }
      const t = totalsOf(member.stats);
      const rates = point.members.get(member.id);
      tr.append(
        cell(rates ? fmtRate(rates.gets) : "—", "num"),
        cell(fmtPct(ratioOf(t.hits, t.lookups)), "num"),
        cell(fmtCount(t.items), "num"),
        cell(fmtBytes(t.memoryBytes), "num"),
        cell(fmtUptime(member.stats.uptimeMs), "num"),
      );
      return tr;
    });
    if (rows.length === 0) rows.push(emptyRow(8, "no members"));
    byId("members-body").replaceChildren(...rows);
  }

  function emptyRow(span, text) {
    const td = cell(text, "empty");
    td.colSpan = span;
    const tr = el("tr");
    tr.append(td);
    return tr;
  }

  /** Every namespace summed over the members that answered. */
  function namespaceTotals(view) {
    const byName = new Map();
    for (const member of view.members) {
      const namespaces = member.stats && member.stats.namespaces;
      if (!namespaces || typeof namespaces !== "object") continue;
      for (const [name, ns] of Object.entries(namespaces)) {
        if (!byName.has(name)) {
          byName.set(name, { gets: 0, hits: 0, lookups: 0, loads: 0, ended: 0, loadMs: 0, items: 0, bytes: 0, memoryBytes: 0, maxBytes: 0 });
        }
        addNamespace(byName.get(name), ns);
      }
    }
    return [...byName.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  }

  function renderNamespaces(view, answered) {
    const rows = namespaceTotals(view).map(([name, t]) => {
      const tr = el("tr");
      tr.setAttribute("data-testid", "namespace");
      tr.setAttribute("data-namespace", name);
      const ratio = cell(fmtPct(ratioOf(t.hits, t.lookups)), "num");
      ratio.setAttribute("data-testid", "namespace-hit-ratio");
      const used = t.maxBytes > 0 ? t.memoryBytes / t.maxBytes : 0;
      const budget = cell(meter(used, fmtBytes(t.memoryBytes) + " of " + fmtBytes(t.maxBytes), used > 0.9 ? "high" : "budget"));
      budget.setAttribute("data-testid", "namespace-budget");
      tr.append(
        cell(el("span", "mono", name)),
        ratio,
        cell(fmtCount(t.gets), "num"),
        cell(fmtCount(t.loads), "num"),
        cell(fmtCount(t.items), "num"),
        cell(fmtBytes(t.bytes), "num"),
        budget,
      );
      return tr;
    });
    if (rows.length === 0) rows.push(emptyRow(7, "no namespace reported"));
    byId("namespaces-body").replaceChildren(...rows);
    setText("namespaces-note", "summed over " + answered + " of " + view.members.length + " members");
  }

  function renderEvents(events) {
    const items = [];
    for (let i = events.length - 1; i >= 0 && items.length < 100; i--) {
      const event = events[i];
      const li = el("li");
      li.setAttribute("data-testid", "event");
      li.setAttribute("data-event", String(event.event));
      const time = el("time", null, fmtTime(event.at));
      time.dateTime = new Date(num(event.at)).toISOString();
      li.append(time, badge("level", LEVELS, String(event.level)), el("span", "kind mono", event.event), el("span", "msg", event.msg));
      items.push(li);
    }
    if (items.length === 0) items.push(el("li", "empty", "none yet"));
    byId("events").replaceChildren(...items);
  }

  function renderTiles(view, point) {
    const up = view.members.filter((m) => m.state === "up").length;
    setText("members-up", up + " / " + view.members.length);
    const others = view.members.length - up;
    setText("members-note", others === 0 ? "all members up" : others + " not up");
    setText("gets-rate", point.gets === null ? "—" : fmtRate(point.gets));
    const sum = { hits: 0, lookups: 0, items: 0, memoryBytes: 0, maxBytes: 0 };
    for (const member of view.members) {
      if (!member.stats) continue;
      const t = totalsOf(member.stats);
      sum.hits += t.hits;
      sum.lookups += t.lookups;
      sum.items += t.items;
      sum.memoryBytes += t.memoryBytes;
      sum.maxBytes += t.maxBytes;
    }
    setText("hit-ratio", fmtPct(ratioOf(sum.hits, sum.lookups)));
    let loads = 0;
    let loadMs = 0;
    for (const p of history) {
      if (p.at < point.at - WINDOW_MS) continue;
      loads += p.loads;
      loadMs += p.loadMs;
    }
    setText("load-latency", loads > 0 ? fmtMs(loadMs / loads) : "—");
    setText("items", fmtCount(sum.items));
    setText("memory-note", fmtBytes(sum.memoryBytes) + " of " + fmtBytes(sum.maxBytes) + " budget");
  }

  /** The last view shown and its point: a repeated answer (the node shares one view among viewers) adds no point. */
  let shown = null;

  function render(view) {
    const point = shown && shown.view.at === view.at ? shown.point : sample(view);
    const ids = view.members.map((m) => m.id);
    for (const p of history) for (const id of p.members.keys()) if (!ids.includes(id)) ids.push(id);
    shown = { view, point, ids };
    setText("self", shortId(view.self));
    setText("epoch", String(view.epoch));
    renderTiles(view, point);
    renderMembers(view, point);
    renderNamespaces(view, view.members.filter((m) => m.stats).length);
    renderEvents(Array.isArray(view.events) ? view.events : []);
    drawCharts();
    renderLegend("gets-legend", ids);
    renderLegend("latency-legend", ids);
  }

  function drawCharts() {
    if (!shown) return;
    drawChart(byId("gets-chart"), shown.ids, (r) => r.gets, "", shown.point.at);
    drawChart(byId("latency-chart"), shown.ids, (r) => r.latency, "ms", shown.point.at);
  }

  // --- polling and the token ----------------------------------------------------

  function setStatus(kind, text) {
    const node = byId("status");
    node.setAttribute("data-status", kind);
    setText("status", text);
  }

  function storedToken() {
    try {
      return sessionStorage.getItem(TOKEN_KEY);
    } catch {
      return null;
    }
  }

  let timer = 0;
  let polling = false;
  let askingToken = false;
  /** The token, when sessionStorage is off. */
  let fallbackToken = null;

  function schedule(ms) {
    clearTimeout(timer);
    timer = setTimeout(poll, ms);
  }

  function askToken(refused) {
    askingToken = true;
    setStatus("token", "waiting for the auth token");
    const reason = byId("token-reason");
    reason.textContent = refused
      ? "The node refused that token. Type the cluster's auth token again."
      : "This node asks for its auth token before it shows the cluster.";
    reason.classList.toggle("refused", refused);
    byId("token-overlay").hidden = false;
    byId("token-input").focus();
  }

  byId("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const input = byId("token-input");
    const token = input.value.trim();
    if (token === "") return;
    try {
      sessionStorage.setItem(TOKEN_KEY, token);
    } catch {
      // Storage may be off: the token then lasts until the page is closed.
      fallbackToken = token;
    }
    input.value = "";
    byId("token-overlay").hidden = true;
    askingToken = false;
    setStatus("connecting", "connecting…");
    schedule(0);
  });

  async function poll() {
    if (polling || askingToken) return;
    polling = true;
    const token = storedToken() || fallbackToken;
    try {
      const res = await fetch(API_URL, {
        headers: token ? { authorization: "Bearer " + token } : {},
        cache: "no-store",
        credentials: "omit",
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
      if (res.status === 401) {
        try {
          sessionStorage.removeItem(TOKEN_KEY);
        } catch {
          // nothing stored
        }
        fallbackToken = null;
        askToken(Boolean(token));
        return;
      }
      if (!res.ok) throw new Error("HTTP " + res.status);
      const view = await res.json();
      if (!view || !Array.isArray(view.members)) throw new Error("unexpected answer");
      render(view);
      setStatus("live", "live · " + fmtTime(view.at));
    } catch (err) {
      const reason = err && err.name === "TimeoutError" ? "timed out" : err && err.message ? err.message : "failed";
      setStatus("error", "no answer (" + reason + "), retrying");
    } finally {
      polling = false;
      if (!askingToken) schedule(POLL_MS);
    }
  }

  // Canvases are sized in CSS pixels when drawn: a new size needs a redraw, not new data.
  window.addEventListener("resize", drawCharts);
  poll();
})();
`;
