// The status page: one HTML file, script and styles inline, so it works on a
// network with no internet. It polls /api/status every 2 s and redraws.
// Element ids the headless-browser test reads: #node, #job-step,
// #job-samples-per-second, #job-eta, #job-loss, #job-accuracy, #peers (a
// row per member, data-state), #loss-chart / #accuracy-chart (an SVG
// path.series with data-points), #balances, #ledger, #updated.

#include "ops/status_server.hpp"

namespace hydra::ops {

const std::string& status_page_html() {
  static const std::string page = R"HTML(<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Hydra node</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:0;background:#f4f5f7;color:#1d232b}
header{background:#1d3557;color:#fff;padding:10px 18px;display:flex;gap:24px;align-items:baseline;flex-wrap:wrap}
header h1{font-size:18px;margin:0}
main{display:grid;grid-template-columns:repeat(auto-fit,minmax(420px,1fr));gap:14px;padding:14px}
section{background:#fff;border-radius:6px;padding:10px 14px;box-shadow:0 1px 2px #0002}
h2{font-size:15px;margin:2px 0 8px}
table{border-collapse:collapse;width:100%}td,th{padding:3px 6px;text-align:left;border-bottom:1px solid #eee;font-variant-numeric:tabular-nums}
.kv{display:grid;grid-template-columns:auto 1fr;gap:2px 12px}.kv b{font-weight:600}
.alive{color:#137333}.suspect{color:#b06000}.dead{color:#c5221f}
.bar{height:8px;background:#e3e7ee;border-radius:4px;overflow:hidden}.bar div{height:100%;background:#2a9d8f}
svg{width:100%;height:200px}svg .axis{stroke:#888;stroke-width:1}svg text{font-size:11px;fill:#555}
svg .series{fill:none;stroke-width:2}.err{color:#c5221f}
</style></head><body>
<header><h1>Hydra</h1><span id="node">node …</span><span id="site"></span><span id="version"></span>
<span id="updated">waiting for the node…</span></header>
<main>
<section id="job"><h2>Job</h2>
<div class="kv"><b>State</b><span id="job-state">–</span><b>Step</b><span id="job-step">–</span>
<b>Samples/s</b><span id="job-samples-per-second">–</span><b>ETA</b><span id="job-eta">–</span>
<b>Loss</b><span id="job-loss">–</span><b>Test accuracy</b><span id="job-accuracy">–</span>
<b>Group</b><span id="job-world">–</span><b>Round</b><span id="job-round">–</span></div>
<div class="bar" style="margin-top:8px"><div id="job-progress" style="width:0"></div></div></section>
<section><h2>Loss</h2><svg id="loss-chart" viewBox="0 0 420 200"></svg></section>
<section><h2>Test accuracy</h2><svg id="accuracy-chart" viewBox="0 0 420 200"></svg></section>
<section style="grid-column:1/-1"><h2>Peers</h2><table><thead><tr><th>Node</th><th>Site</th><th>State</th>
<th>CPU limit</th><th>Speed</th><th>Roles</th><th>RTT</th><th>Address</th></tr></thead><tbody id="peers"></tbody></table></section>
<section><h2>Contributors and balances</h2><table><thead><tr><th>Account</th><th>Credits</th><th>Scorer trust</th></tr></thead>
<tbody id="balances"></tbody></table><div id="contributions"></div></section>
<section><h2>Ledger</h2><div class="kv" id="ledger"></div></section>
</main>
<script>
"use strict";
const $ = id => document.getElementById(id);
const esc = s => String(s).replace(/[&<>"']/g, c => ({"&":"&amp;","<":"&lt;",">":"&gt;",'"':"&quot;","'":"&#39;"}[c]));
const fmt = (v, d) => v === null || v === undefined ? "–" : Number(v).toFixed(d);
const dur = s => s === null || s === undefined ? "–" : s < 90 ? Math.round(s) + " s" : s < 5400 ? Math.round(s / 60) + " min" : (s / 3600).toFixed(1) + " h";
function chart(svg, points, label, color, lo, hi) {
  const W = 420, H = 200, L = 44, R = 8, T = 8, B = 26;
  if (!points.length) { svg.innerHTML = '<text x="150" y="100">no data yet</text>'; return; }
  const xs = points.map(p => p[2]), ys = points.map(p => p[3]);
  const x0 = Math.min(...xs), x1 = Math.max(...xs, x0 + 1);
  let y0 = lo !== undefined ? lo : Math.min(...ys), y1 = hi !== undefined ? hi : Math.max(...ys);
  if (y1 - y0 < 1e-9) { y0 -= 0.5; y1 += 0.5; }
  const X = v => L + (v - x0) / (x1 - x0) * (W - L - R), Y = v => T + (1 - (v - y0) / (y1 - y0)) * (H - T - B);
  let s = `<line class="axis" x1="${L}" y1="${H-B}" x2="${W-R}" y2="${H-B}"/><line class="axis" x1="${L}" y1="${T}" x2="${L}" y2="${H-B}"/>`;
  for (let i = 0; i <= 4; i++) {
    const v = y0 + (y1 - y0) * i / 4;
    s += `<text x="2" y="${Y(v) + 4}">${v.toFixed(3)}</text>`;
  }
  s += `<text x="${L}" y="${H - 6}">${Math.round(x0)}</text><text x="${W - R - 60}" y="${H - 6}">${Math.round(x1)} samples</text>`;
  const d = points.map((p, i) => (i ? "L" : "M") + X(p[2]).toFixed(1) + " " + Y(p[3]).toFixed(1)).join(" ");
  s += `<path class="series" data-series="${label}" data-points="${points.length}" stroke="${color}" d="${d}"/>`;
  if (points.length === 1) s += `<circle cx="${X(xs[0])}" cy="${Y(ys[0])}" r="3" fill="${color}"/>`;
  svg.innerHTML = s;
}
function render(d) {
  const v = d.view || {peers: []};
  $("node").textContent = "node " + (v.node || "?").slice(0, 16) + " · " + (v.address || "");
  $("site").textContent = d.site ? "site " + d.site : "";
  $("version").textContent = "hydra " + d.version;
  const t = d.train;
  if (t) {
    $("job-state").textContent = t.active ? "training" : t.done ? "done" : "waiting for the group";
    $("job-step").textContent = t.step + " / " + t.total_steps;
    $("job-samples-per-second").textContent = fmt(t.samples_per_second, 0);
    $("job-eta").textContent = t.done ? "done" : dur(t.eta_seconds);
    $("job-loss").textContent = fmt(t.loss, 4);
    $("job-accuracy").textContent = t.test_accuracy === null ? "–" : (100 * t.test_accuracy).toFixed(2) + " %";
    $("job-world").textContent = t.world + " trainers (rank " + t.rank + ", " + t.backend + ")";
    $("job-round").textContent = t.rounds + " rounds, last " + fmt(1000 * t.round_seconds, 1) + " ms, " + t.failed_rounds + " failed";
    $("job-progress").style.width = (t.total_steps ? 100 * t.step / t.total_steps : 0) + "%";
    chart($("loss-chart"), t.loss_curve, "loss", "#e76f51");
    chart($("accuracy-chart"), t.accuracy_curve, "test accuracy", "#2a9d8f", 0, 1);
  } else {
    $("job-state").textContent = "this node does not train";
  }
  const caps = p => p.capabilities || {};
  const me = v.peers.find(p => p.self);
  if (t && me && caps(me).paused) $("job-state").textContent = "paused: " + caps(me).paused;
  $("peers").innerHTML = v.peers.map(p => `<tr data-state="${esc(p.state)}" data-self="${p.self}"><td title="${esc(p.id)}">${esc(p.id.slice(0, 12))}${p.self ? " (this node)" : ""}</td>` +
    `<td>${esc(p.site || "–")}</td><td class="${esc(p.state)}">${esc(p.state)}${caps(p).paused ? " · paused: " + esc(caps(p).paused) : ""}</td><td>${fmt(caps(p).cpu_limit, 0)} %</td>` +
    `<td>${fmt(caps(p).gflops, 1)} GFLOP/s</td><td>${esc(p.roles || "")}</td><td>${p.rtt_ms == null ? "–" : fmt(p.rtt_ms, 2) + " ms"}</td><td>${esc(p.address)}</td></tr>`).join("");
  const trust = (d.contributions && d.contributions.trust) || {};
  const bal = d.balances || {};
  const accounts = [...new Set([...Object.keys(bal), ...Object.keys(trust)])].sort((a, b) => (bal[b] || 0) - (bal[a] || 0));
  $("balances").innerHTML = accounts.length ? accounts.map(a => `<tr><td title="${esc(a)}">${esc(a.slice(0, 16))}</td><td>${bal[a] === undefined ? "–" : esc(bal[a])}</td><td>${trust[a] === undefined ? "–" : fmt(trust[a], 2)}</td></tr>`).join("")
    : '<tr><td colspan="3">no credits yet</td></tr>';
  const c = d.contributions;
  $("contributions").textContent = c ? `contributions: ${c.accepted} accepted, ${c.rejected} rejected, ${c.pending} pending, ${c.pool} pooled samples` : "";
  const l = d.ledger;
  $("ledger").innerHTML = l ? `<b>Entries</b><span>${l.entries}</span><b>Authors</b><span>${l.authors}</span>` +
    `<b>Refused</b><span>${l.rejected}</span><b>Awaiting replicas</b><span>${l.pending_acks} (target ${d.ledger_replicas})</span>` : "<span>no ledger replica</span>";
  $("updated").textContent = "updated " + new Date().toLocaleTimeString();
  $("updated").className = "";
}
async function poll() {
  try {
    const r = await fetch("/api/status", {cache: "no-store"});
    render(await r.json());
  } catch (e) {
    $("updated").textContent = "node unreachable: " + e;
    $("updated").className = "err";
  }
  setTimeout(poll, 2000);
}
poll();
</script></body></html>
)HTML";
  return page;
}

}  // namespace hydra::ops
