/**
 * `--format junit`: one testcase per rule × service, so a CI system shows each LVS rule as a
 * test. Failures carry the findings; rules that could not be evaluated are skipped with the
 * reason (never reported as passed).
 */
import type { Finding } from '../model/findings.js';
import type { VerifyResult } from '../model/result.js';

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function findingText(f: Finding): string {
  const ev = f.evidence.map((e) => `  ${e.capture}#${e.frame} (${e.point})${e.note ? ` ${e.note}` : ''}`).join('\n');
  return `${f.severity} ${f.rule}: ${f.message}\n${ev}\nhint: ${f.hint}`;
}

export function renderJunit(r: VerifyResult, serviceLabel: string): string {
  const byRule = new Map<string, Finding[]>();
  for (const f of r.findings) {
    const list = byRule.get(f.rule) ?? [];
    list.push(f);
    byRule.set(f.rule, list);
  }
  const cases: string[] = [];
  let errors = 0;
  if (r.verdict === 'no-data') {
    // Nothing judged is not a pass: a CI gate must go red, as on an error.
    errors++;
    const why = esc(r.noDataReason ?? 'no data');
    cases.push(`    <testcase classname="${esc(serviceLabel)}" name="no-data"><error message="${why}" type="no-data">${why}</error></testcase>`);
  }
  let failures = 0;
  let skipped = 0;
  for (const t of r.rules) {
    const name = esc(t.rule);
    const cls = esc(serviceLabel);
    if (t.status === 'not-evaluated') {
      skipped++;
      const why = r.notEvaluated.find((n) => n.rule === t.rule)?.reason ?? 'not evaluated';
      cases.push(`    <testcase classname="${cls}" name="${name}"><skipped message="${esc(why)}"/></testcase>`);
      continue;
    }
    const errors = (byRule.get(t.rule) ?? []).filter((f) => f.severity === 'error');
    if (errors.length === 0) {
      cases.push(`    <testcase classname="${cls}" name="${name}"/>`);
      continue;
    }
    failures++;
    const body = esc(errors.map(findingText).join('\n\n'));
    const msg = esc(`${errors.length} finding(s): ${errors[0]!.message}`);
    cases.push(
      `    <testcase classname="${cls}" name="${name}"><failure message="${msg}" type="${name}">${body}</failure></testcase>`,
    );
  }
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="lvsaudit" tests="${r.rules.length + errors}" failures="${failures}"${errors > 0 ? ` errors="${errors}"` : ''} skipped="${skipped}">`,
    `  <testsuite name="lvsaudit verify (${esc(r.profile)})" tests="${r.rules.length + errors}" failures="${failures}"${errors > 0 ? ` errors="${errors}"` : ''} skipped="${skipped}">`,
    ...cases,
    '  </testsuite>',
    '</testsuites>',
    '',
  ].join('\n');
}
