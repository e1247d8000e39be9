#include "harness/html_assets.h"

namespace tw {

const char* const kHtmlStyle = R"css(
:root{--fg:#1f2328;--muted:#59636e;--line:#d0d7de;--bg:#ffffff;--panel:#f6f8fa}
*{box-sizing:border-box}
body{margin:0;padding:24px 32px;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;color:var(--fg);background:var(--bg)}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px}h3{font-size:15px;margin:18px 0 6px}
.muted{color:var(--muted)}
.totals span{display:inline-block;margin-right:14px}
table{border-collapse:collapse}
nav.jump a{margin-right:14px}
table.overview{width:100%;table-layout:fixed;margin:4px 0 8px}
table.overview col.c-row{width:105px}table.overview col.c-scenario{width:225px}table.overview col.c-fault{width:135px}
table.overview col.c-healed{width:26%}table.overview col.c-caught{width:19%}
table.overview th,table.overview td{border:1px solid var(--line);padding:5px 6px;vertical-align:top;text-align:left}
table.overview thead th{background:var(--panel);font-weight:600;font-size:13px}
table.overview tbody{border-top:2px solid #8c959f}
table.overview th.article{background:var(--panel);font-weight:600}
table.overview th.scenario{font-weight:600;overflow-wrap:anywhere}
table.overview th.scenario a{color:inherit}
table.overview th.scenario small{display:block;font-weight:400;color:var(--muted)}
table.overview .none{color:#aab}
a.chip{display:inline-block;margin:0 4px 4px 0;padding:1px 7px;border-radius:10px;font-size:12.5px;font-weight:600;
  text-decoration:none;line-height:1.5;overflow-wrap:anywhere}
a.chip small{font-weight:400;font-size:11.5px}
a.chip:hover{text-decoration:underline}
a.chip.v-unexpected{box-shadow:inset 0 0 0 2px #d1242f}
a.chip.v-flaky,a.chip.v-seed-dependent{box-shadow:inset 0 0 0 2px #bc4c00}
a.chip.v-unpinned{outline:1px dashed #8c959f;outline-offset:-1px}
.mark{color:#d1242f;font-weight:600}.mark.v-flaky,.mark.v-seed-dependent{color:#bc4c00}
details.v-unexpected>summary{box-shadow:inset 0 0 0 3px #d1242f}
details.v-flaky>summary,details.v-seed-dependent>summary{box-shadow:inset 0 0 0 3px #bc4c00}
details.scenario{border:1px solid var(--line);border-radius:6px;margin:6px 0;background:#fff}
details.scenario>summary{cursor:pointer;padding:7px 10px}
details.scenario>summary .counts span{margin-left:12px;font-size:12px;color:var(--muted)}
details.scenario[open]>summary{border-bottom:1px solid var(--line);background:var(--panel)}
details.scenario>.body{padding:10px 12px}
p.desc{max-width:110ch;margin:0 0 10px}
.scenario-main{display:flex;flex-wrap:wrap;gap:16px;align-items:flex-start}
.figure-box svg{max-width:100%;height:auto;border:1px solid var(--line);border-radius:4px}
table.remedies{flex:1 1 380px}
table.remedies td,table.remedies th{border:1px solid var(--line);padding:3px 7px;text-align:left;font-size:13px;vertical-align:top}
table.remedies th{background:var(--panel)}
table.remedies tr.v-unexpected td,table.remedies tr.v-seed-dependent td,table.remedies tr.v-flaky td{background:#fff1f0}
h4{font-size:14px;margin:14px 0 4px}
table.seeds td,table.seeds th{border:1px solid var(--line);padding:3px 8px;text-align:left;font-size:13px}
table.seeds th{background:var(--panel)}
.o-healthy{background:#dafbe1;color:#116329}.o-diverged{background:#ffebe9;color:#a40e26}
.o-stalled{background:#fff8c5;color:#7d4e00}.o-slow{background:#fff1e0;color:#8a4b00}.o-oom{background:#fbefff;color:#6e40c9}
.o-leak{background:#ffeff7;color:#99286e}.o-hang{background:#ddf4ff;color:#0a3069}
.o-crash{background:#ffcecb;color:#82071e}.o-error{background:#fff1e5;color:#953800}
.o-detected{background:#d8f0ff;color:#0550ae}.o-unsupported{background:#f6f8fa;color:#59636e}
.badge{display:inline-block;padding:0 6px;border-radius:10px;font-size:12px;font-weight:600}
.legend .badge{margin:0 4px 4px 0}
.changed{font-size:12px;font-weight:600;color:#9a6700}
details.cellpanel{border:1px solid var(--line);border-radius:6px;margin:6px 0;background:#fff}
details.cellpanel>summary{cursor:pointer;padding:6px 10px;list-style-position:inside}
details.cellpanel[open]>summary{border-bottom:1px solid var(--line);background:var(--panel)}
details.cellpanel .body{padding:10px}
.charts{display:flex;flex-wrap:wrap;gap:12px;margin-bottom:8px}
.charts svg{background:#fff;border:1px solid var(--line);border-radius:4px}
.nodata{color:var(--muted);font-style:italic}
table.kv td,table.kv th{border-bottom:1px solid var(--line);padding:3px 10px 3px 0;text-align:left;vertical-align:top;font-size:13px}
table.kv th{font-weight:600;white-space:nowrap;color:var(--muted)}
table.kv td{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;word-break:break-word}
pre{background:var(--panel);border:1px solid var(--line);border-radius:4px;padding:8px;max-height:260px;overflow:auto;font-size:12px;white-space:pre-wrap;word-break:break-all}
button{font:inherit;padding:3px 10px;border:1px solid var(--line);border-radius:6px;background:var(--panel);cursor:pointer}
table.diff td,table.diff th{border:1px solid var(--line);padding:4px 8px;text-align:left;font-size:13px}
table.diff th{background:var(--panel)}
tr.outcome-changed td{background:#fff1f0}
.host-warning{border:2px solid #d1242f;border-radius:6px;background:#fff1f0;color:#82071e;padding:4px 12px;margin:8px 0}
)css";

const char* const kHtmlScript = R"js(
(function () {
  // Opens a details element and every one around it (a cell sits inside its scenario).
  function reveal(el) {
    for (var p = el; p; p = p.parentElement) if (p.tagName === 'DETAILS') p.open = true;
  }
  function openTarget() {
    var id = decodeURIComponent(location.hash.slice(1));
    var el = id && document.getElementById(id);
    if (el) { reveal(el); el.scrollIntoView(); }
  }
  window.addEventListener('hashchange', openTarget);
  var links = document.querySelectorAll('a[href^="#"]');
  var chips = 0;
  for (var i = 0; i < links.length; i++) {
    if (links[i].classList.contains('chip')) chips++;
    links[i].addEventListener('click', function () {
      var el = document.getElementById(decodeURIComponent(this.getAttribute('href').slice(1)));
      if (el) reveal(el);
    });
  }
  var toggle = document.getElementById('toggle-all');
  if (toggle) {
    toggle.hidden = false;
    toggle.addEventListener('click', function () {
      var panels = document.querySelectorAll('details.scenario');
      var open = false;
      for (var k = 0; k < panels.length; k++) if (!panels[k].open) open = true;
      for (var k = 0; k < panels.length; k++) panels[k].open = open;
      toggle.textContent = open ? 'Collapse all scenarios' : 'Expand all scenarios';
    });
  }
  openTarget();
  // The page as laid out, for headless checks: its width, and the figures on screen that drew a
  // curve and a legend (a figure in a closed scenario is not laid out).
  var root = document.documentElement, figures = document.querySelectorAll('svg.figure'), drawn = 0, shown = 0;
  for (var f = 0; f < figures.length; f++) {
    var box = figures[f].getBoundingClientRect();
    if (figures[f].closest('details:not([open])') || box.width < 100 || box.height < 100) continue;
    var paths = figures[f].querySelectorAll('g.curves path'), curve = false;
    for (var p = 0; p < paths.length; p++) if (paths[p].getTotalLength() > 0) curve = true;
    var entries = figures[f].querySelectorAll('g.legend-entry'), legend = 0;
    for (var e = 0; e < entries.length; e++) {
      var b = entries[e].getBoundingClientRect();
      if (b.width > 0 && b.height > 0) legend++;
    }
    if (curve && legend > 0) drawn++;
    shown += legend;
  }
  root.setAttribute('data-figures-drawn', String(drawn));
  root.setAttribute('data-legend-entries-drawn', String(shown));
  root.setAttribute('data-page-width', String(root.scrollWidth));
  root.setAttribute('data-report-ready', String(chips));
})();
)js";

}  // namespace tw
