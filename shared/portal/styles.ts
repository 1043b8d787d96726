/** The portal's one stylesheet, served at /portal.css (the CSP allows styles from 'self' only). */
export const PORTAL_CSS = `
:root { color-scheme: light; --ink: #1b1f24; --muted: #55606e; --line: #d0d7de; --accent: #0b5cad; --bad: #a4161a; --good: #1a7f37; --bg: #ffffff; --soft: #f4f6f8; }
* { box-sizing: border-box; }
body { margin: 0; font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink); background: var(--bg); }
a { color: var(--accent); }
:focus-visible { outline: 3px solid #f59e0b; outline-offset: 2px; border-radius: 2px; }
.skip { position: absolute; left: -9999px; top: 0; background: var(--ink); color: #fff; padding: .5rem 1rem; z-index: 10; }
.skip:focus { left: .5rem; top: .5rem; }
.visually-hidden { position: absolute !important; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
header.top { display: flex; flex-wrap: wrap; gap: 1rem 2rem; align-items: center; padding: .75rem 1.5rem; border-bottom: 1px solid var(--line); background: var(--soft); }
header.top .brand { margin: 0; font-weight: 700; }
header.top .brand a { color: var(--ink); text-decoration: none; }
nav ul { list-style: none; display: flex; flex-wrap: wrap; gap: .25rem 1rem; margin: 0; padding: 0; }
nav a { display: inline-block; padding: .25rem .5rem; text-decoration: none; border-radius: 4px; }
nav a[aria-current="page"] { background: var(--accent); color: #fff; }
.who { margin-left: auto; display: flex; gap: .75rem; align-items: center; color: var(--muted); }
.who form { margin: 0; }
main { max-width: 72rem; margin: 0 auto; padding: 1rem 1.5rem 3rem; overflow-wrap: anywhere; }
.inline .field input { min-width: 14rem; }
main:focus { outline: none; }
footer { max-width: 72rem; margin: 0 auto; padding: 1rem 1.5rem; color: var(--muted); border-top: 1px solid var(--line); }
h1 { font-size: 1.75rem; margin: .5rem 0 1rem; }
h2 { font-size: 1.3rem; margin: 2rem 0 .5rem; }
h3 { font-size: 1.1rem; margin: 1.5rem 0 .5rem; }
table { border-collapse: collapse; width: 100%; margin: .5rem 0 1rem; }
caption { text-align: left; font-weight: 600; padding: .25rem 0; }
th, td { border-bottom: 1px solid var(--line); padding: .4rem .5rem; text-align: left; vertical-align: top; }
th[scope="col"] { background: var(--soft); }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
form.stack { display: grid; gap: .75rem; max-width: 32rem; }
.field { display: grid; gap: .2rem; }
.field label { font-weight: 600; }
.hint { color: var(--muted); font-size: .9rem; margin: 0; }
input[type="text"], input[type="password"], input[type="number"], input[type="datetime-local"], input[type="month"], input[type="url"], select { font: inherit; padding: .45rem .5rem; border: 1px solid #8c959f; border-radius: 4px; min-width: 12rem; }
input[aria-invalid="true"], select[aria-invalid="true"] { border-color: var(--bad); border-width: 2px; }
button { font: inherit; padding: .45rem 1rem; border-radius: 4px; border: 1px solid var(--accent); background: var(--accent); color: #fff; cursor: pointer; }
button.secondary { background: #fff; color: var(--accent); }
button.danger { background: #fff; color: var(--bad); border-color: var(--bad); }
.buttons { display: flex; flex-wrap: wrap; gap: .5rem; }
.inline { display: inline-flex; flex-wrap: wrap; gap: .4rem; align-items: end; margin: 0 .4rem .4rem 0; }
.inline input[type="text"] { min-width: 10rem; }
.alert { border: 2px solid var(--bad); background: #fff5f5; color: var(--bad); padding: .75rem 1rem; border-radius: 6px; margin: 1rem 0; }
.alert ul { margin: .25rem 0 0; padding-left: 1.25rem; }
.banner { border: 2px solid #9a6700; background: #fff8c5; padding: .5rem 1rem; border-radius: 6px; margin: 1rem 0; }
.notice { border: 2px solid var(--good); background: #f3fbf5; padding: .75rem 1rem; border-radius: 6px; margin: 1rem 0; }
.panel { border: 1px solid var(--line); border-radius: 6px; padding: 1rem; margin: 1rem 0; }
.panel > h2:first-child { margin-top: 0; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: .2rem 1rem; margin: .5rem 0; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; }
figure.chart { margin: .5rem 0 1.5rem; }
figure.chart svg { width: 100%; max-width: 48rem; height: auto; display: block; }
figure.chart figcaption { color: var(--muted); font-size: .9rem; }
.status { white-space: nowrap; display: inline-block; padding: 0 .4rem; border-radius: 4px; border: 1px solid var(--line); background: var(--soft); }
.total { font-weight: 700; }
.field-error { color: var(--bad); font-weight: 600; font-size: .9rem; margin: 0; }
.book-grid { display: grid; grid-template-columns: minmax(0, 30rem) minmax(0, 1fr); gap: 0 2.5rem; align-items: start; }
.book-grid form.stack { max-width: none; }
.book-side figure.chart svg { max-width: 100%; }
.table-wrap { overflow-x: auto; max-width: 100%; }
.facts-row { display: flex; flex-wrap: wrap; gap: .5rem 2rem; }
.muted { color: var(--muted); }
.timeline { list-style: none; padding: 0; margin: .5rem 0 1rem; border-left: 3px solid var(--line); }
.timeline li { padding: .25rem 0 .5rem 1rem; position: relative; }
.timeline li::before { content: ""; position: absolute; left: -8px; top: .7rem; width: 13px; height: 13px; border-radius: 50%; background: var(--accent); }
.preview { border: 2px solid var(--accent); border-radius: 6px; padding: 1rem; margin: 1rem 0; background: #f5f9ff; }
.negative { color: var(--good); }
.heat-wrap { overflow-x: auto; max-width: 100%; }
table.heat { width: auto; border-collapse: separate; border-spacing: 2px; font-size: .8rem; }
table.heat th, table.heat td { border: 0; padding: 0; text-align: center; }
table.heat th[scope="row"] { text-align: left; padding-right: .5rem; white-space: nowrap; font-weight: 600; }
table.heat th.heat-day { min-width: 2.1rem; font-weight: 600; }
.heat-wd { display: block; color: var(--muted); font-weight: 400; }
table.heat td a, table.heat td span { display: block; min-width: 2.1rem; padding: .35rem 0; color: inherit; text-decoration: none; }
table.heat td a:hover { outline: 2px solid var(--ink); }
.heat-4 { background: #d1fae5; color: #064e3b; }
.heat-3 { background: #a7f3d0; color: #064e3b; }
.heat-2 { background: #fde68a; color: #713f12; }
.heat-1 { background: #fdba74; color: #7c2d12; }
.heat-0 { background: #991b1b; color: #ffffff; }
.heat-closed { background: #e5e7eb; color: #374151; }
.heat-legend { list-style: none; display: flex; flex-wrap: wrap; gap: .25rem .5rem; padding: 0; margin: .5rem 0; font-size: .85rem; }
.heat-legend span { display: inline-block; padding: .1rem .4rem; border-radius: 3px; }
.month-nav { display: flex; flex-wrap: wrap; gap: .5rem 1rem; align-items: center; }
@media (max-width: 60rem) {
  .book-grid { grid-template-columns: minmax(0, 1fr); }
  main { padding: 1rem .75rem 2rem; }
  header.top { padding: .75rem; }
  table { font-size: .9rem; }
  th, td { padding: .3rem .3rem; }
  input[type="text"], input[type="password"], input[type="number"], input[type="datetime-local"], input[type="month"], input[type="url"], select { min-width: 0; width: 100%; }
  .who { margin-left: 0; flex-wrap: wrap; }
  main table { display: block; overflow-x: auto; }
  dl.facts { grid-template-columns: minmax(0, 1fr); }
}
.heatmap td.heat { text-align: right; font-variant-numeric: tabular-nums; padding: .2rem .3rem; }
.heatmap .heat-0 { background: #fbe9e9; color: #111827; }
.heatmap .heat-1 { background: #e6f0fa; color: #111827; }
.heatmap .heat-2 { background: #bfd7f2; color: #111827; }
.heatmap .heat-3 { background: #7fb0e6; color: #111827; }
.heatmap .heat-4 { background: #0b5cad; color: #fff; }
.heatmap .heat-closed { background: var(--soft); color: var(--muted); font-size: .8rem; }
fieldset { border: 1px solid var(--line); border-radius: 6px; padding: .5rem 1rem; display: grid; gap: .5rem; }
legend { font-weight: 600; }
.check { display: flex; gap: .5rem; align-items: center; }
article.offer h3 { margin-top: 0; }
`;
