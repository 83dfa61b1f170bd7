/**
 * The dashboard's stylesheet. Colours are custom properties, read by the
 * script too so the canvas charts follow the light or dark scheme.
 */
export const DASHBOARD_STYLE = `
:root {
  color-scheme: light dark;
  --bg: #f4f6f9;
  --card: #ffffff;
  --line: #e2e6ec;
  --ink: #17202e;
  --muted: #5d6b7e;
  --faint: #8a96a8;
  --grid: #edf0f4;
  --accent: #1d4ed8;
  --bar: #e7ebf1;
  --up: #15803d;
  --up-bg: #dcfce7;
  --warn: #a16207;
  --warn-bg: #fef3c7;
  --down: #b91c1c;
  --down-bg: #fee2e2;
  --info-bg: #e0e7ff;
  --info: #3730a3;
  --shadow: 0 1px 2px rgba(16, 24, 40, 0.05);
}
@media (prefers-color-scheme: dark) {
  :root {
    --bg: #0f141b;
    --card: #171e28;
    --line: #283241;
    --ink: #e6ebf2;
    --muted: #9aa7b8;
    --faint: #6f7c8e;
    --grid: #222b38;
    --accent: #60a5fa;
    --bar: #263040;
    --up: #4ade80;
    --up-bg: #14351f;
    --warn: #fbbf24;
    --warn-bg: #3b2f10;
    --down: #f87171;
    --down-bg: #3f1717;
    --info-bg: #1e2550;
    --info: #a5b4fc;
    --shadow: none;
  }
}
* { box-sizing: border-box; }
html { background: var(--bg); }
body {
  margin: 0;
  color: var(--ink);
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", "DejaVu Sans", sans-serif;
  -webkit-font-smoothing: antialiased;
}
code, .mono { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, "DejaVu Sans Mono", monospace; font-size: 12.5px; }
h1, h2 { margin: 0; font-weight: 650; }
h1 { font-size: 20px; letter-spacing: -0.01em; }
h2 { font-size: 15px; margin-bottom: 12px; }
.h-note, .chart-note { font-weight: 400; font-size: 12.5px; color: var(--muted); margin-left: 6px; }

.top {
  display: flex; flex-wrap: wrap; align-items: center; justify-content: space-between; gap: 12px 32px;
  padding: 14px 28px; background: var(--card); border-bottom: 1px solid var(--line);
}
.brand { display: flex; align-items: center; gap: 12px; }
.logo { flex: none; }
.subtitle { color: var(--muted); font-size: 12.5px; }
.meta { display: flex; flex-wrap: wrap; gap: 8px 28px; margin: 0; }
.meta div { display: flex; flex-direction: column; }
.meta dt { color: var(--faint); font-size: 11px; text-transform: uppercase; letter-spacing: 0.06em; }
.meta dd { margin: 0; font-weight: 550; }
.status { display: inline-flex; align-items: center; gap: 6px; }
.status::before { content: ""; width: 8px; height: 8px; border-radius: 50%; background: var(--faint); }
.status[data-status="live"]::before { background: var(--up); box-shadow: 0 0 0 3px var(--up-bg); }
.status[data-status="error"] { color: var(--down); }
.status[data-status="error"]::before { background: var(--down); }
.status[data-status="token"]::before { background: var(--warn); }

main { max-width: 1320px; margin: 0 auto; padding: 20px 28px 36px; display: grid; gap: 16px; }
.card {
  background: var(--card); border: 1px solid var(--line); border-radius: 12px; padding: 16px 18px;
  box-shadow: var(--shadow); margin: 0; min-width: 0;
}

.tiles { display: grid; grid-template-columns: repeat(5, minmax(0, 1fr)); gap: 16px; }
.tile { background: var(--card); border: 1px solid var(--line); border-radius: 12px; padding: 14px 16px; box-shadow: var(--shadow); }
.tile-label { color: var(--muted); font-size: 12.5px; font-weight: 550; }
.tile-value { font-size: 26px; font-weight: 650; letter-spacing: -0.02em; margin: 2px 0; font-variant-numeric: tabular-nums; }
.tile-note { color: var(--faint); font-size: 12px; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }

.charts { display: grid; grid-template-columns: repeat(2, minmax(0, 1fr)); gap: 16px; }
.chart figcaption { display: flex; align-items: baseline; }
.chart figcaption h2 { margin-bottom: 8px; }
.chart canvas { display: block; width: 100%; height: 190px; }
.legend { list-style: none; margin: 8px 0 0; padding: 0; display: flex; flex-wrap: wrap; gap: 4px 16px; color: var(--muted); font-size: 12.5px; }
.legend li { display: inline-flex; align-items: center; gap: 6px; }
.swatch { width: 10px; height: 10px; border-radius: 3px; flex: none; background: var(--faint); }

.scroll { overflow-x: auto; }
table.grid { width: 100%; border-collapse: collapse; font-variant-numeric: tabular-nums; }
.grid th {
  text-align: left; font-size: 11.5px; font-weight: 600; color: var(--muted); text-transform: uppercase;
  letter-spacing: 0.05em; padding: 0 12px 8px 0; border-bottom: 1px solid var(--line); white-space: nowrap;
}
.grid td { padding: 9px 12px 9px 0; border-bottom: 1px solid var(--line); vertical-align: middle; white-space: nowrap; }
.grid tbody tr:last-child td { border-bottom: none; }
.grid .num { text-align: right; }
.grid td.empty, .events .empty { color: var(--faint); font-style: italic; }
.member-id { display: inline-flex; align-items: center; gap: 8px; }
.tag { font-size: 11px; color: var(--accent); border: 1px solid currentColor; border-radius: 999px; padding: 0 7px; margin-left: 4px; }
.muted { color: var(--faint); }
tr[data-state="down"] td { color: var(--faint); }
tr[data-state="down"] .badge { color: var(--down); }

.badge {
  display: inline-block; font-size: 11.5px; font-weight: 650; border-radius: 999px; padding: 1px 9px;
  text-transform: uppercase; letter-spacing: 0.04em; background: var(--bar); color: var(--muted);
}
.badge.state-up, .badge.level-info { background: var(--up-bg); color: var(--up); }
.badge.level-info { background: var(--info-bg); color: var(--info); }
.badge.state-suspect, .badge.state-draining, .badge.state-joining, .badge.level-warn { background: var(--warn-bg); color: var(--warn); }
.badge.state-down, .badge.state-left, .badge.level-error { background: var(--down-bg); color: var(--down); }

.share-col { width: 22%; }
.budget-col { width: 28%; }
.meter { display: flex; align-items: center; gap: 10px; }
.bar { flex: 1; min-width: 60px; height: 8px; border-radius: 999px; background: var(--bar); overflow: hidden; }
.fill { height: 100%; width: 0; border-radius: 999px; background: var(--accent); transition: width 0.4s ease; }
.fill.high { background: var(--warn); }
.meter-text { min-width: 3.5em; text-align: right; color: var(--muted); font-size: 12.5px; }
.budget-text { min-width: 11em; }

.events { list-style: none; margin: 0; padding: 0; max-height: 320px; overflow-y: auto; }
.events li { display: grid; grid-template-columns: 72px 64px 150px minmax(0, 1fr); gap: 12px; align-items: baseline; padding: 7px 0; border-bottom: 1px solid var(--line); }
.events li:last-child { border-bottom: none; }
.events li.empty { display: block; }
.events time { color: var(--muted); font-variant-numeric: tabular-nums; }
.events .kind { color: var(--ink); }
.events .msg { overflow-wrap: anywhere; }

.overlay {
  position: fixed; inset: 0; display: flex; align-items: center; justify-content: center;
  background: rgba(15, 20, 27, 0.45); padding: 20px;
}
.overlay[hidden] { display: none; }
.token-card {
  width: min(420px, 100%); background: var(--card); border: 1px solid var(--line); border-radius: 14px;
  padding: 22px; display: grid; gap: 10px; box-shadow: 0 12px 40px rgba(0, 0, 0, 0.2);
}
.token-card h2 { margin: 0; font-size: 17px; }
.token-card p { margin: 0; color: var(--muted); }
.token-card p.refused { color: var(--down); }
.token-card label { font-weight: 600; font-size: 12.5px; }
.token-card input {
  font: inherit; padding: 8px 10px; border-radius: 8px; border: 1px solid var(--line); background: var(--bg); color: var(--ink);
}
.token-card input:focus { outline: 2px solid var(--accent); outline-offset: 1px; }
.token-note { font-size: 12px; }
.token-card button {
  font: inherit; font-weight: 600; padding: 9px 14px; border-radius: 8px; border: none; cursor: pointer;
  background: var(--accent); color: #fff; justify-self: end;
}

@media (max-width: 1000px) {
  .tiles { grid-template-columns: repeat(2, minmax(0, 1fr)); }
  .charts { grid-template-columns: minmax(0, 1fr); }
  .events li { grid-template-columns: 72px 64px minmax(0, 1fr); }
  .events .msg { grid-column: 1 / -1; }
}
`;
