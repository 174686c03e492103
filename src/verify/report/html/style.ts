/** The page's one stylesheet: screen and print (details opened, no filter box, no page break inside a row). */
export const STYLE = `
:root{--fail:#c0392b;--warn:#d9822b;--pass:#2e8b57;--info:#2e6fb7;--muted:#667;--line:#dde}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0 auto;max-width:1200px;padding:0 1.2em 3em;color:#223}
code,.ladder text{font-family:ui-monospace,"DejaVu Sans Mono",monospace}
code{font-size:12.5px;word-break:break-all}
h1{font-size:22px;margin:.2em 0}h2{font-size:18px;border-bottom:1px solid var(--line);padding-bottom:.2em;margin-top:1.6em}
.verdict{padding:.8em 1em;border-radius:6px;margin-top:1em;border:2px solid}
.v-fail{border-color:var(--fail);background:#fdf0ee}.v-pass{border-color:var(--pass);background:#eef8f2}.v-no-data{border-color:var(--warn);background:#fdf5ec}
.badge{display:inline-block;padding:.05em .5em;border-radius:4px;color:#fff;margin-right:.3em}
.v-fail .badge{background:var(--fail)}.v-pass .badge{background:var(--pass)}.v-no-data .badge{background:var(--warn)}
.muted{color:var(--muted)}
table{border-collapse:collapse;width:100%;margin:.5em 0}th,td{border-bottom:1px solid var(--line);padding:.25em .5em;text-align:left;vertical-align:top}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
tr{break-inside:avoid}
.status{font-weight:600}
.st-fail .status{color:var(--fail)}.st-warn .status{color:var(--warn)}.st-pass .status{color:var(--pass)}.st-info .status{color:var(--info)}.st-not-evaluated .status{color:var(--muted)}
details.rule-group{border:1px solid var(--line);border-radius:6px;margin:.6em 0;padding:.3em .8em}
details.rule-group>summary{font-weight:600;cursor:pointer}
.sev{text-transform:uppercase;font-size:12px;padding:.05em .4em;border-radius:3px;color:#fff;background:var(--info)}
.sev-error .sev{background:var(--fail)}.sev-warning .sev{background:var(--warn)}
ul.findings{list-style:none;padding-left:0}
details.finding{margin:.35em 0;padding:.2em .5em;border-left:3px solid var(--line)}
details.finding[data-severity=error]{border-left-color:var(--fail)}details.finding[data-severity=warning]{border-left-color:var(--warn)}
details.finding>summary{cursor:pointer}
.evidence{padding:.2em 0 .2em 1.2em}.evidence h4{margin:.3em 0;font-size:13px}.evidence ul{margin:.2em 0;padding-left:1.2em}
.pt{color:var(--muted)}.hint{background:#f6f7fb;padding:.4em .6em;border-radius:4px}
.ladder-block{margin:1em 0;overflow-x:auto}
svg.ladder{background:#fcfcfe;border:1px solid var(--line);border-radius:4px}
svg.ladder text{font-size:11px;fill:#223}svg.ladder text.lane{font-weight:600;font-size:12px}
svg.ladder line.lane{stroke:#99a;stroke-dasharray:3 3}
svg.ladder .copy line{stroke:#445;stroke-width:1.4}svg.ladder .copy circle{fill:#445}
svg.ladder .copy.bad line{stroke:var(--fail);stroke-width:2.4}svg.ladder .copy.bad circle{fill:var(--fail)}
svg.ladder text.delta{fill:#7a4b00;font-size:10px}svg.ladder text.frame{fill:var(--muted);font-size:9.5px}
svg.defs{position:absolute}
figure.chart{margin:1em 0}figure.chart svg{max-width:100%;height:auto}figcaption{color:var(--muted);font-size:12.5px}
.filter-row input{width:22em;padding:.2em .4em}
.hidden-by-filter{display:none}
footer{margin-top:2em;color:var(--muted);font-size:12px}
@media print{
  body{max-width:none;font-size:11px}
  .filter-row{display:none!important}
  details>summary{list-style:none}
  .ladder-block{overflow:visible;break-inside:avoid}
  svg.ladder{max-width:100%;height:auto}
  a{color:inherit;text-decoration:none}
}
`;
