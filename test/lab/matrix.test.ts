/**
 * Lab matrix (reference director): NAT, DR, FullNAT alibaba and dpvs, each without a fault
 * (verify exit 0) and with director and real-server faults (exit 1 with the fault's rule and
 * nothing unrelated). The oracle for "conformant" is the real Linux TCP stacks: the client's
 * connections are answered by the real servers; the faulty cases are judged against the rule
 * each fault is about (src/lab/matrix.ts lists them with the reason).
 * Needs root, ip netns, tcpdump and the `cap` module: skips with a reason, fails under CI=true.
 */
import { describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MATRIX_CASES, judge, renderMatrix, runMatrix, type MatrixCase } from '../../src/lab/matrix.js';
import { labUnavailableReason, listNamespaces } from '../../src/lab/netns.js';
import { hasCommand, isCI } from '../helpers/env.js';

const need = (cond: boolean, reason: string): boolean => {
  if (!cond && isCI) throw new Error(reason);
  if (!cond) console.log(`skip: ${reason}`);
  return cond;
};

let capLoads = false;
try {
  await import('cap' as string);
  capLoads = true;
} catch {
  capLoads = false;
}
const labReason = labUnavailableReason();
const ready = labReason === null && hasCommand('tcpdump') && capLoads;
const reason = labReason ?? (!capLoads ? "optional module 'cap' does not load" : 'tcpdump not installed');

describe('matrix judgement (pure)', () => {
  const c: MatrixCase = { id: 'x/f', method: 'NAT', mode: 'nat', profile: 'linux', fault: 'f', expectExit: 1, required: ['a'], allowed: ['b'], why: '' };
  it('accepts the required rule plus listed consequences', () => {
    expect(judge(c, 1, ['a'], ['b']).ok).toBe(true);
  });
  it('rejects a missing required rule, an unrelated rule, and a wrong exit code', () => {
    expect(judge(c, 1, ['b'], [])).toMatchObject({ ok: false, missing: ['a'] });
    expect(judge(c, 1, ['a', 'z'], [])).toMatchObject({ ok: false, unrelated: ['z'] });
    expect(judge(c, 1, ['a'], ['w'])).toMatchObject({ ok: false, unrelated: ['w'] });
    expect(judge(c, 0, ['a'], []).ok).toBe(false);
  });
  it('every method has a conformant case and at least one director and one RS fault where the method has RS faults', () => {
    for (const m of ['NAT', 'DR', 'FullNAT alibaba', 'FullNAT dpvs']) {
      const cs = MATRIX_CASES.filter((x) => x.method === m);
      expect(cs.some((x) => x.fault === null && x.expectExit === 0)).toBe(true);
      expect(cs.some((x) => x.fault !== null && !x.fault.includes(':'))).toBe(true);
    }
    expect(MATRIX_CASES.filter((x) => x.fault?.startsWith('rs2:')).map((x) => x.fault)).toEqual(
      expect.arrayContaining(['rs2:gateway-bypass', 'rs2:arp_ignore=0', 'rs2:arp_announce=0', 'rs2:no-vip']),
    );
  });
});

describe('lab matrix, reference director (netns)', () => {
  it.skipIf(!need(ready, reason))(
    'no fault → exit 0; each fault → exit 1 with its rule(s) and nothing unrelated',
    async () => {
      const before = listNamespaces().filter((n) => n.startsWith('lvsa-'));
      const root = mkdtempSync(join(tmpdir(), 'lvsa-h13-matrix-'));
      const t0 = Date.now();
      try {
        const outcomes = await runMatrix(root, MATRIX_CASES, (o) =>
          console.log(`${o.case.id}: ${o.ok ? 'ok' : 'MISMATCH'} exit ${o.exitCode} [${o.errors.join(', ')}] warn [${o.warnings.join(', ')}] ${o.answered} ${(o.durationMs / 1000).toFixed(1)} s${o.error ? ` error ${o.error}` : ''}`),
        );
        console.log(renderMatrix(outcomes));
        console.log(`matrix: ${outcomes.length} cases in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
        const bad = outcomes
          .filter((o) => !o.ok)
          .map((o) => `${o.case.id}: exit ${o.exitCode}, errors [${o.errors.join(', ')}], warnings [${o.warnings.join(', ')}], missing [${o.missing.join(', ')}], unrelated [${o.unrelated.join(', ')}]${o.error ? `, ${o.error}` : ''}`);
        expect(bad).toEqual([]);
        // Conformant runs: every client connection was answered by a real server.
        for (const o of outcomes.filter((x) => x.case.fault === null)) expect(o.answered).toBe('4/4');
      } finally {
        rmSync(root, { recursive: true, force: true });
      }
      expect(listNamespaces().filter((n) => n.startsWith('lvsa-'))).toEqual(before);
    },
    400_000,
  );
});
