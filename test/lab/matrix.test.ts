/**
 * Lab matrix (reference director): NAT, DR, FullNAT alibaba and dpvs, each without a fault
 * (verify exit 0) and with director and real-server faults (exit 1 with the fault's rule and
 * nothing unrelated). The oracle for "conformant" is the real Linux TCP stacks: the client's
 * connections are answered by the real servers; the faulty cases are judged against the rule
 * each fault is about (src/lab/matrix.ts lists them with the reason).
 * Needs root, ip netns, tcpdump and the `cap` module: skips with a reason, fails under CI=true.
 */
import { describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MATRIX_CASES, ipvsMatrixPath, judge, loadIpvsResults, renderMatrix, runMatrix, type MatrixCase, type MatrixOutcome } from '../../src/lab/matrix.js';
import { listNamespaces } from '../../src/lab/netns.js';
import { need } from '../helpers/env.js';
import { referenceLabReady, referenceLabReason } from '../helpers/lab.js';

const ready = referenceLabReady;
const reason = referenceLabReason;

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

describe('matrix table (pure)', () => {
  const outcome = (id: string, exitCode: number, errors: string[]): MatrixOutcome => {
    const c = MATRIX_CASES.find((x) => x.id === id)!;
    return { case: c, exitCode, errors, warnings: [], ...judge(c, exitCode, errors, []), answered: '4/4', error: null, durationMs: 1234 };
  };
  it('has a reference and an ipvs column; the ipvs column comes from the VM lab JSON when present', () => {
    const dir = mkdtempSync(join(tmpdir(), 'lvsa-h13-ipvsjson-'));
    try {
      const file = join(dir, 'ipvs.json');
      // Shape of `lvsaudit lab run --director ipvs --format json` (renderIpvsJson).
      writeFileSync(file, JSON.stringify({ tool: 'lvsaudit', director: 'ipvs', cases: [
        { id: 'nat-rr', verdict: 'pass', error: null, findings: [] },
        { id: 'nat-rr-rs2-gateway-bypass', verdict: 'fail', error: null, findings: [{ rule: 'nat.reply-bypass', severity: 'error' }, { rule: 'flow.syn-retransmit', severity: 'warning' }] },
      ] }));
      const ipvs = loadIpvsResults(file);
      expect(ipvs?.get('nat-rr-rs2-gateway-bypass')).toEqual({ verdict: 'fail', rules: ['nat.reply-bypass'], error: null });
      const text = renderMatrix([outcome('nat/none', 0, []), outcome('nat/rs2:gateway-bypass', 1, ['nat.reply-bypass', 'nat.rip-leak']), outcome('dr/none', 0, [])], ipvs);
      const head = text.split('\n').find((l) => l.includes('method'))!;
      expect(head.indexOf('reference')).toBeGreaterThan(0);
      expect(head.indexOf('ipvs')).toBeGreaterThan(head.indexOf('reference'));
      expect(text).toContain('nat-rr: exit 0');
      expect(text).toContain('nat-rr-rs2-gateway-bypass: exit 1');
      expect(text).toContain('dr-rr not run');
      expect(renderMatrix([outcome('nat/none', 0, [])], null)).toContain('--director ipvs');
      expect(loadIpvsResults(join(dir, 'absent.json'))).toBeNull();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
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
        const outcomes = await runMatrix(root, MATRIX_CASES, {}, (o) =>
          console.log(`${o.case.id}: ${o.ok ? 'ok' : 'MISMATCH'} exit ${o.exitCode} [${o.errors.join(', ')}] warn [${o.warnings.join(', ')}] ${o.answered} ${(o.durationMs / 1000).toFixed(1)} s${o.error ? ` error ${o.error}` : ''}`),
        );
        console.log(renderMatrix(outcomes));
        // The IPVS VM test prints the two-column matrix when it finishes after this one.
        writeFileSync(`${ipvsMatrixPath()}.reference.json`, JSON.stringify(outcomes));
        console.log(`matrix: ${outcomes.length} cases in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
        const bad = outcomes
          .filter((o) => !o.ok)
          .map((o) => `${o.case.id}: exit ${o.exitCode}, errors [${o.errors.join(', ')}], warnings [${o.warnings.join(', ')}], missing [${o.missing.join(', ')}], unrelated [${o.unrelated.join(', ')}]${o.error ? `, ${o.error}` : ''}`);
        expect(bad).toEqual([]);
        // Conformant runs: every client connection was answered by a real server.
        // (Cases only DPVS runs have no reference run: test/lab/dpvs-ipv6.test.ts.)
        for (const o of outcomes.filter((x) => x.case.fault === null && x.notRun === undefined)) expect(o.answered).toMatch(/^(\d+)\/\1$/);
      } finally {
        rmSync(root, { recursive: true, force: true });
      }
      // No namespace left by the matrix's labs (one another process removed meanwhile is fine).
      expect(listNamespaces().filter((n) => n.startsWith('lvsa-') && !before.includes(n))).toEqual([]);
    },
    400_000,
  );
});
