/**
 * Every fault switch of the reference director (src/replay/director, an independent
 * implementation of lvs-behavior.md) that applies to FullNAT, run in-process for both profiles:
 * `verify` must fail the set with exactly the rule the fault breaks — and pass the conformant run.
 * Warnings allowed besides: fnat.toa-no-room (the options-full-syn and df-oversize scenarios),
 * capture.malformed (a TOA with a broken length byte is malformed), sched.distribution (a fault
 * that drops or refuses a packet shifts the round-robin order).
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runWrite, writeCaptureSet } from '../../src/replay/replay.js';
import { parseServiceConfig } from '../../src/verify/service/index.js';
import { verify, type VerifyInput } from '../../src/verify/verify.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'fnat-director-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

async function runFault(profile: 'alibaba' | 'dpvs', fault: string | null) {
  const dir = path.join(tmp, `${profile}-${fault ?? 'ok'}`);
  writeCaptureSet(dir, runWrite({ method: 'fullnat', profile, faults: fault ? [fault] : [] }));
  const points: VerifyInput['points'] = [
    { kind: 'client', files: [path.join(dir, 'client.pcap')] },
    { kind: 'director', files: [path.join(dir, 'director.pcap')] },
    ...readdirSync(dir)
      .filter((f) => /^rs\d\.pcap$/.test(f))
      .sort()
      .map((f) => ({ kind: 'rs' as const, files: [path.join(dir, f)] })),
  ];
  const conf = path.join(dir, 'service.conf');
  const r = await verify({ services: parseServiceConfig(readFileSync(conf, 'utf8'), conf), points, profile });
  const errors = [...new Set(r.findings.filter((f) => f.severity === 'error').map((f) => f.rule))].sort();
  const warnings = [...new Set(r.findings.filter((f) => f.severity === 'warning').map((f) => f.rule))];
  return { r, errors, warnings };
}

const ALLOWED_WARNINGS = ['fnat.toa-no-room', 'capture.malformed', 'sched.distribution'];

const FAULTS: [string, string[], string[]][] = [
  // fault, errors under alibaba, errors under dpvs
  ['toa-wrong-addr', ['fnat.toa-mismatch'], ['fnat.toa-mismatch']],
  ['toa-wrong-port', ['fnat.toa-mismatch'], ['fnat.toa-mismatch']],
  ['toa-bad-len', ['fnat.toa-format'], ['fnat.toa-format']],
  // Under dpvs every TOA-carrying packet of these scenarios has no option left beside it
  // (dpvs prunes the NOP/SACK-only ones): appended or first is the same bytes.
  ['toa-not-first', ['fnat.toa-placement'], []],
  // alibaba inserts TOA into SYNs itself: the switch changes nothing there.
  ['toa-in-syn', [], ['fnat.toa-placement']],
  // The switch also drops the SYN TOA alibaba puts there (a SYN-only connection shows it).
  ['toa-missing', ['fnat.toa-missing', 'fnat.toa-placement'], ['fnat.toa-missing']],
  ['seq-drift', ['fnat.seq-delta'], ['fnat.seq-delta']],
  ['ack-not-shifted', ['fnat.seq-delta'], ['fnat.seq-delta']],
  ['sack-not-shifted', ['fnat.seq-delta'], ['fnat.seq-delta']],
  ['mss-not-adjusted', ['fnat.mss-adjust'], ['fnat.mss-adjust']],
  ['lport-reuse', ['fnat.src'], ['fnat.src']],
  ['nat-wrong-port', ['fnat.src'], ['fnat.src']],
  ['ttl-decrement-fullnat', ['rewrite.ttl'], ['rewrite.ttl']],
  ['ipid-rewrite', ['rewrite.ip-fields'], ['rewrite.ip-fields']],
  ['tos-rewrite', ['rewrite.ip-fields'], ['rewrite.ip-fields']],
  ['bad-ip-checksum', ['checksum.ip'], ['checksum.ip']],
  ['bad-l4-checksum', ['checksum.l4'], ['checksum.l4']],
  ['drop-every-nth', ['flow.not-forwarded'], ['flow.not-forwarded']],
];

describe('FullNAT: reference director fault switches, exactly their rule', () => {
  for (const profile of ['alibaba', 'dpvs'] as const) {
    it(`${profile}: conformant run passes`, async () => {
      const { r, errors, warnings } = await runFault(profile, null);
      expect(errors).toEqual([]);
      for (const w of warnings) expect(ALLOWED_WARNINGS).toContain(w);
      expect(r.verdict).toBe('pass');
    });
    for (const [fault, ali, dpvs] of FAULTS) {
      const want = profile === 'alibaba' ? ali : dpvs;
      it(`${profile} --fault ${fault}: ${want.join(', ') || 'pass'}`, async () => {
        const { errors, warnings } = await runFault(profile, fault);
        expect(errors).toEqual(want);
        for (const w of warnings) expect([...ALLOWED_WARNINGS, 'fnat.ts-not-removed']).toContain(w);
      });
    }
    it(`${profile} --fault ts-not-removed: the warning, no error`, async () => {
      const { errors, warnings } = await runFault(profile, 'ts-not-removed');
      expect(errors).toEqual([]);
      expect(warnings).toContain('fnat.ts-not-removed');
    });
  }
});
