/**
 * `lab matrix --format html`: the page holds every case of the text table with the same cells,
 * marks the mismatches, says OK only when every case is as expected, and escapes what the
 * cells carry (rule ids, error text from a lab run).
 */
import { describe, expect, it } from 'vitest';
import { MATRIX_CASES, matrixRows, renderMatrix, type MatrixOutcome } from '../../src/lab/matrix.js';
import { renderMatrixHtml } from '../../src/verify/report/html/matrix.js';
import { attrs, markupOnly, unescape } from './html-parse.js';

function outcome(i: number, ok: boolean, error: string | null = null): MatrixOutcome {
  const c = MATRIX_CASES[i]!;
  return { case: c, exitCode: ok ? c.expectExit : 0, errors: ok ? [...c.required] : [], warnings: [], missing: ok ? [] : [...c.required], unrelated: [], answered: '6/6', ok, error, durationMs: 1234 + i };
}

function rowsOf(page: string): Array<{ id: string; ok: string; cells: string[] }> {
  return [...markupOnly(page).matchAll(/<tr ([^>]*data-case=[^>]*)>([\s\S]*?)<\/tr>/g)].map((m) => {
    const a = attrs(m[1]!);
    return { id: a.get('data-case')!, ok: a.get('data-ok')!, cells: [...m[2]!.matchAll(/<td[^>]*>([\s\S]*?)<\/td>/g)].map((c) => unescape(c[1]!)) };
  });
}

describe('lab matrix as HTML', () => {
  it('holds every case with the text table cells; OK only when all are as expected', () => {
    const all = MATRIX_CASES.map((_, i) => outcome(i, true));
    const rows = matrixRows(all, null);
    const page = renderMatrixHtml({ ...rows, captures: '/tmp/m' });
    expect(/data-verdict="(\w+)"/.exec(page)?.[1]).toBe('pass');
    const got = rowsOf(page);
    expect(got.map((r) => r.id)).toEqual(MATRIX_CASES.map((c) => c.id));
    expect(got.map((r) => r.cells)).toEqual(rows.rows.map((r) => r.cells));
    // The text table is made of the same cells.
    const text = renderMatrix(all, null);
    for (const r of rows.rows) expect(text).toContain(r.cells[0]!);
  });

  it('marks a mismatch and escapes what a failed run says', () => {
    const bad = '<script>alert(1)</script> & "x"';
    const all = [outcome(0, true), outcome(1, false, bad)];
    const page = renderMatrixHtml({ ...matrixRows(all, null), captures: `/tmp/${bad}` });
    expect(/data-verdict="(\w+)"/.exec(page)?.[1]).toBe('fail');
    const got = rowsOf(page);
    expect(got.map((r) => r.ok)).toEqual(['true', 'false']);
    expect(got[1]!.cells.join('\n')).toContain('could not run: <script>alert(1)</script> & "x"');
    expect(page).not.toContain('<script');
  });
});
