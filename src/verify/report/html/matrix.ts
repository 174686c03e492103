/**
 * `lab matrix --format html`: the lab matrix (every method × fault case, the verdict expected,
 * the reference director's and the IPVS VM's) as one self-contained page, from the same rows
 * as the text table. Cells are text (several lines kept); everything is escaped.
 */
import { VERSION } from '../../../version.js';
import { html, trusted } from './markup.js';
import { STYLE } from './style.js';

export interface MatrixPage {
  head: readonly string[];
  rows: ReadonlyArray<{ id: string; ok: boolean; cells: readonly string[] }>;
  notes: readonly string[];
  /** Where the cases' captures are. */
  captures: string;
}

const MATRIX_STYLE = `td.cell{white-space:pre-line}tr.mismatch td{background:#fdf0ee}tr.ok td.result{color:var(--pass)}tr.mismatch td.result{color:var(--fail);font-weight:600}`;

export function renderMatrixHtml(m: MatrixPage): string {
  const ok = m.rows.every((r) => r.ok);
  const verdict = ok ? 'pass' : 'fail';
  // No script at all: the policy allows none.
  const csp = "default-src 'none'; style-src 'unsafe-inline'";
  return html`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<title>lvsaudit lab matrix: ${ok ? 'all cases as expected' : 'MISMATCH'}</title>
<style>${trusted(STYLE)}${trusted(MATRIX_STYLE)}</style>
</head><body>
<header class="verdict v-${verdict}" data-verdict="${verdict}"><h1><span class="badge">${ok ? 'OK' : 'MISMATCH'}</span> lvsaudit lab matrix</h1>
<p>${m.rows.filter((r) => r.ok).length} of ${m.rows.length} case(s) as expected. Captures in <code>${m.captures}</code>.</p></header>
<section id="matrix"><h2>Cases</h2><table><thead><tr>${m.head.map((h) => html`<th>${h}</th>`)}</tr></thead><tbody>
${m.rows.map((r) => html`<tr class="${r.ok ? 'ok' : 'mismatch'}" data-case="${r.id}" data-ok="${String(r.ok)}">${r.cells.map((c, i) => html`<td class="cell${i === r.cells.length - 1 ? ' result' : ''}">${c}</td>`)}</tr>`)}
</tbody></table>
${m.notes.length > 0 ? html`<h3>Notes</h3><ul>${m.notes.map((n) => html`<li>${n}</li>`)}</ul>` : ''}
</section>
<footer>lvsaudit ${VERSION}</footer>
</body></html>
`.text;
}
