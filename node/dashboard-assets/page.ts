/**
 * The dashboard's HTML: a fixed skeleton with no data in it. The script
 * fills it in from `api/cluster` with textContent only, so nothing a member
 * sends (ids, namespace names, event messages) is ever parsed as markup,
 * and the page carries no inline script or style (its policy forbids them).
 */
import { ICON_SHAPES } from "./icon.js";

/** The page, naming its assets by absolute paths below `base` (e.g. `/_burrow/_ui`). */
export function dashboardPage(base: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>Burrow dashboard</title>
<link rel="icon" type="image/svg+xml" href="${base}/favicon.svg">
<link rel="stylesheet" href="${base}/style.css">
<script src="${base}/app.js" defer></script>
</head>
<body>
<header class="top">
  <div class="brand">
    <svg class="logo" viewBox="0 0 32 32" width="32" height="32" aria-hidden="true">${ICON_SHAPES}</svg>
    <div>
      <h1>Burrow</h1>
      <div class="subtitle">cluster dashboard</div>
    </div>
  </div>
  <dl class="meta">
    <div><dt>served by</dt><dd><code data-testid="self" id="self">…</code></dd></div>
    <div><dt>epoch</dt><dd data-testid="epoch" id="epoch">…</dd></div>
    <div><dt>status</dt><dd><span class="status" data-testid="status" id="status" data-status="connecting">connecting…</span></dd></div>
  </dl>
</header>
<main>
  <noscript><p class="card">This dashboard needs JavaScript to read the cluster's state.</p></noscript>
  <section class="tiles" aria-label="Summary">
    <div class="tile"><div class="tile-label">Members up</div><div class="tile-value" data-testid="members-up" id="members-up">—</div><div class="tile-note" id="members-note">&nbsp;</div></div>
    <div class="tile"><div class="tile-label">Gets / s</div><div class="tile-value" data-testid="gets-rate" id="gets-rate">—</div><div class="tile-note">all members, last second</div></div>
    <div class="tile"><div class="tile-label">Hit ratio</div><div class="tile-value" data-testid="hit-ratio" id="hit-ratio">—</div><div class="tile-note">hits ÷ lookups, since start</div></div>
    <div class="tile"><div class="tile-label">Load latency</div><div class="tile-value" data-testid="load-latency" id="load-latency">—</div><div class="tile-note">mean loader call, last 60 s</div></div>
    <div class="tile"><div class="tile-label">Items</div><div class="tile-value" data-testid="items" id="items">—</div><div class="tile-note" id="memory-note">&nbsp;</div></div>
  </section>
  <section class="charts">
    <figure class="card chart">
      <figcaption><h2>Gets per second</h2><span class="chart-note">per member, last 60 s</span></figcaption>
      <canvas id="gets-chart" data-testid="gets-chart" role="img" aria-label="Gets per second of each member over the last minute"></canvas>
      <ul class="legend" id="gets-legend"></ul>
    </figure>
    <figure class="card chart">
      <figcaption><h2>Load latency</h2><span class="chart-note">mean ms per loader call, per member</span></figcaption>
      <canvas id="latency-chart" data-testid="latency-chart" role="img" aria-label="Mean load latency of each member over the last minute"></canvas>
      <ul class="legend" id="latency-legend"></ul>
    </figure>
  </section>
  <section class="card">
    <h2>Members</h2>
    <div class="scroll">
      <table class="grid" data-testid="members">
        <thead><tr><th>Member</th><th>State</th><th class="share-col">Ring share</th><th class="num">Gets / s</th><th class="num">Hit ratio</th><th class="num">Items</th><th class="num">Memory</th><th class="num">Uptime</th></tr></thead>
        <tbody id="members-body"><tr><td colspan="8" class="empty">waiting for the first answer…</td></tr></tbody>
      </table>
    </div>
  </section>
  <section class="card">
    <h2>Namespaces <span class="h-note" id="namespaces-note"></span></h2>
    <div class="scroll">
      <table class="grid" data-testid="namespaces">
        <thead><tr><th>Namespace</th><th class="num">Hit ratio</th><th class="num">Gets</th><th class="num">Loads</th><th class="num">Items</th><th class="num">Bytes</th><th class="budget-col">Memory of budget</th></tr></thead>
        <tbody id="namespaces-body"><tr><td colspan="7" class="empty">waiting for the first answer…</td></tr></tbody>
      </table>
    </div>
  </section>
  <section class="card">
    <h2>Recent events <span class="h-note">as this node saw them, newest first</span></h2>
    <ol class="events" data-testid="events" id="events"><li class="empty">none yet</li></ol>
  </section>
</main>
<div class="overlay" id="token-overlay" hidden>
  <form class="token-card" id="token-form" data-testid="token-form" autocomplete="off">
    <h2>Auth token</h2>
    <p id="token-reason">This node asks for its auth token before it shows the cluster.</p>
    <label for="token-input">Token</label>
    <input id="token-input" data-testid="token-input" name="token" type="password" required spellcheck="false" autocomplete="off">
    <p class="token-note">Kept in this browser tab only (session storage) and sent as <code>authorization: Bearer …</code></p>
    <button type="submit" data-testid="token-submit">Show the cluster</button>
  </form>
</div>
</body>
</html>
`;
}
