/**
 * A rule's status in the reports follows the severity of its findings: `fail` only with an
 * error finding, `warn` with warnings only, `info` with info only. Checked as a property of
 * reportedRules, and end to end on a capture cut mid-record (capture.truncated-file, a warning,
 * beside a PASS verdict) in the text table, the JSON document and JUnit.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import type { Finding, Severity } from '../../src/verify/model/findings.js';
import type { RuleTally } from '../../src/verify/model/result.js';
import { reportedRules } from '../../src/verify/report/rule-status.js';
import { need, repoRoot } from '../helpers/env.js';

const cli = path.join(repoRoot, 'bin', 'lvsaudit.js');
const built = existsSync(path.join(repoRoot, 'dist', 'cli', 'main.js'));
const tmp = mkdtempSync(path.join(os.tmpdir(), 'lvsa-rule-status-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const SEVERITIES: readonly Severity[] = ['error', 'warning', 'info'];

describe('reportedRules', () => {
  it('status is fail / warn / info by the worst finding of the rule; a rule without findings keeps its tally', () => {
    const rules = ['a.one', 'b.two', 'c.three', 'd.four'];
    const tally = fc.record({
      rule: fc.constantFrom(...rules),
      status: fc.constantFrom<RuleTally['status']>('pass', 'fail', 'not-evaluated'),
      checked: fc.nat(50),
      failed: fc.nat(50),
    });
    const finding = fc.record({ rule: fc.constantFrom(...rules), severity: fc.constantFrom(...SEVERITIES) });
    fc.assert(
      fc.property(fc.uniqueArray(tally, { selector: (t) => t.rule }), fc.array(finding, { maxLength: 12 }), (tallies, fs) => {
        const findings = fs.map((f): Finding => ({ ...f, message: 'm', hint: 'h', evidence: [] }));
        const shown = reportedRules({ rules: tallies, findings });
        expect(shown.map((t) => t.rule)).toEqual(tallies.map((t) => t.rule));
        shown.forEach((t, i) => {
          const given = tallies[i]!;
          const sev = new Set(fs.filter((f) => f.rule === t.rule).map((f) => f.severity));
          const want =
            given.status === 'not-evaluated' || sev.size === 0 ? given.status : sev.has('error') ? 'fail' : sev.has('warning') ? 'warn' : 'info';
          expect(t.status).toBe(want);
          expect([t.checked, t.failed]).toEqual([given.checked, given.failed]);
        });
      }),
    );
  });
});

describe.skipIf(!need(built, 'dist/ not built (npm test builds it)'))('a warning-only rule beside a PASS verdict', () => {
  const d = path.join(repoRoot, 'fixtures', 'verify', 'nat-ok');
  const whole = readFileSync(path.join(d, 'client.pcap'));
  const cut = path.join(tmp, 'client-cut.pcap');
  // Twenty bytes short: the last record's header says more than the file holds.
  writeFileSync(cut, whole.subarray(0, whole.length - 20));
  const args = (...more: string[]): string[] => [
    cli, 'verify', '--config', path.join(d, 'service.conf'), '--client', cut,
    '--director', path.join(d, 'director-eth0.pcap'), '--director', path.join(d, 'director-eth1.pcap'),
    '--rs-capture', path.join(d, 'rs1.pcap'), '--rs-capture', path.join(d, 'rs2.pcap'), ...more,
  ];
  const run = (...more: string[]): { code: number | null; out: string } => {
    const r = spawnSync(process.execPath, args(...more), { encoding: 'utf8' });
    return { code: r.status, out: r.stdout };
  };

  it('text: capture.truncated-file reads "warn", not "fail", and the verdict is PASS', () => {
    const r = run();
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^verdict: PASS/m);
    expect(r.out).toMatch(/^WARNING capture\.truncated-file \(1\)$/m);
    const row = r.out.split('\n').find((l) => l.includes(' capture.truncated-file '));
    expect(row).toMatch(/│ capture\.truncated-file\s+│ warn\s+│/);
    // No row says fail while nothing is an error.
    expect(r.out).not.toMatch(/│ fail\s+│/);
  });

  it('JSON: rules[].status agrees with the findings; JUnit has no failure for a warning', () => {
    const j = run('--format', 'json');
    expect(j.code).toBe(0);
    const doc = JSON.parse(j.out) as { verdict: string; rules: { rule: string; status: string }[]; findings: { rule: string; severity: string }[] };
    expect(doc.verdict).toBe('pass');
    expect(doc.rules.find((t) => t.rule === 'capture.truncated-file')!.status).toBe('warn');
    for (const t of doc.rules) {
      const sev = doc.findings.filter((f) => f.rule === t.rule).map((f) => f.severity);
      if (t.status === 'fail') expect(sev).toContain('error');
      if (sev.includes('error')) expect(t.status).toBe('fail');
    }
    const x = run('--format', 'junit');
    expect(x.code).toBe(0);
    expect(x.out).toMatch(/<testcase classname="[^"]*" name="capture\.truncated-file"\/>/);
    expect(x.out).not.toContain('<failure ');
  });
});
