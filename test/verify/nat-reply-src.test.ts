/**
 * NAT reply-source fault (lvs-behavior.md §1.3 "RS -> client ... IP src RIP -> VIP"): the
 * reference director (src/replay/director, an independent implementation of the spec) run
 * in-process with `nat-reply-src` forwards every RS→client reply through itself but leaves the
 * source RIP:rport. `verify` must name exactly that — nat.reply-src, plus nat.rip-leak (the client
 * really sees a RIP) — and not call the reply a bypass (it is in both director captures) nor
 * mis-pair copies into a TCP-options difference. Without the fault: no error at all.
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runWrite, writeCaptureSet } from '../../src/replay/replay.js';
import { parseServiceConfig } from '../../src/verify/service/index.js';
import { verify, type VerifyInput } from '../../src/verify/verify.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'nat-reply-src-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** `directorFiles`: the merged director capture, or its two interfaces as one point. */
async function run(fault: string | null, directorFiles: 'merged' | 'per-interface' = 'merged') {
  const dir = path.join(tmp, `${fault ?? 'ok'}-${directorFiles}`);
  writeCaptureSet(dir, runWrite({ method: 'nat', faults: fault ? [fault] : [] }));
  const dfiles =
    directorFiles === 'merged'
      ? [path.join(dir, 'director.pcap')]
      : [path.join(dir, 'director-eth0.pcap'), path.join(dir, 'director-eth1.pcap')];
  const points: VerifyInput['points'] = [
    { kind: 'client', files: [path.join(dir, 'client.pcap')] },
    { kind: 'director', files: dfiles },
    ...readdirSync(dir)
      .filter((f) => /^rs\d\.pcap$/.test(f))
      .sort()
      .map((f) => ({ kind: 'rs' as const, files: [path.join(dir, f)] })),
  ];
  const conf = path.join(dir, 'service.conf');
  const r = await verify({ services: parseServiceConfig(readFileSync(conf, 'utf8'), conf), points, profile: 'linux' });
  const errors = [...new Set(r.findings.filter((f) => f.severity === 'error').map((f) => f.rule))].sort();
  return { r, errors };
}

describe('NAT --fault nat-reply-src (reference director, in-process)', () => {
  it('conformant NAT run: no error', async () => {
    const { r, errors } = await run(null);
    expect(errors).toEqual([]);
    expect(r.verdict).toBe('pass');
  });

  for (const layout of ['merged', 'per-interface'] as const) {
    it(`fault, director capture ${layout}: exactly nat.reply-src and nat.rip-leak`, async () => {
      const { r, errors } = await run('nat-reply-src', layout);
      expect(errors).toEqual(['nat.reply-src', 'nat.rip-leak'].sort());
      // The reply-src evidence is the director's own egress copy, still from a RIP port.
      const f = r.findings.find((x) => x.rule === 'nat.reply-src')!;
      expect(f.message).toMatch(/left the director from 10\.0\.0\.1[12]:8080 instead of 192\.0\.2\.10:80/);
      expect(f.evidence.map((e) => e.note)).toContain('director egress copy');
    });
  }
});
