/**
 * Captures from real kernels with the offloads a host has by default (fixtures/offload: the
 * nftables director in network namespaces and IPVS in the Debian kernel under QEMU, made by
 * `lvsaudit lab run --offloads on`, checked with tshark): super-segments at the senders,
 * GRO-merged packets at the receivers, partial checksums everywhere. Healthy services pass with
 * no error and no warning; a fault gives exactly its rules. The director's capture alone (what
 * most audits start with) passes the healthy services and fails the NAT service whose real
 * server answers around the director.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseServiceConfig } from '../../src/verify/service/index.js';
import { verify, type VerifyInput } from '../../src/verify/verify.js';
import type { VerifyResult } from '../../src/verify/model/result.js';
import { repoRoot } from '../helpers/env.js';

interface OffloadExpected {
  mode: 'nat' | 'dr' | 'tun';
  profile: VerifyInput['profile'];
  verdict: 'pass' | 'fail';
  rules: string[];
  allowed: string[];
  captures: Record<string, string>;
}

const root = path.join(repoRoot, 'fixtures', 'offload');
const sets = existsSync(root) ? readdirSync(root).filter((d) => existsSync(path.join(root, d, 'expected.json'))).sort() : [];
const expectedOf = (name: string): OffloadExpected => JSON.parse(readFileSync(path.join(root, name, 'expected.json'), 'utf8')) as OffloadExpected;

function run(name: string, only?: 'director'): Promise<VerifyResult> {
  const dir = path.join(root, name);
  const exp = expectedOf(name);
  const points: VerifyInput['points'] = [];
  for (const [point, file] of Object.entries(exp.captures)) {
    if (only !== undefined && point !== only) continue;
    const f = path.join(dir, file);
    if (point === 'client' || point === 'director') points.push({ kind: point, files: [f] });
    else if (/^rs\d$/.test(point)) points.push({ kind: 'rs', files: [f] });
  }
  const conf = path.join(dir, 'service.conf');
  return verify({ services: parseServiceConfig(readFileSync(conf, 'utf8'), conf), points, profile: exp.profile });
}

const problems = (r: VerifyResult, severity: 'error' | 'warning'): string[] => [...new Set(r.findings.filter((f) => f.severity === severity).map((f) => f.rule))].sort();

describe('real-kernel captures with default offloads', () => {
  it('has the committed sets', () => {
    expect(sets.length).toBeGreaterThanOrEqual(9);
  });

  it.each(sets)('%s: the expected verdict and exactly the fault\'s rules', async (name) => {
    const exp = expectedOf(name);
    const r = await run(name);
    expect(r.verdict).toBe(exp.verdict);
    expect(problems(r, 'error')).toEqual([...exp.rules].sort());
    const warnings = problems(r, 'warning').filter((w) => !exp.allowed.includes(w));
    expect(warnings).toEqual([]);
    // The artifacts are there and said so, as information.
    const info = new Set(r.findings.filter((f) => f.severity === 'info').map((f) => f.rule));
    expect(info.has('capture.checksum-offload')).toBe(true);
    expect(info.has('capture.segmentation-offload')).toBe(true);
    expect(r.rules.find((t) => t.rule === 'checksum.l4')!.status).toBe('pass');
  });

  it.each(sets)('%s: the director\'s capture alone', async (name) => {
    const exp = expectedOf(name);
    const r = await run(name, 'director');
    if (exp.verdict === 'pass') {
      expect(problems(r, 'error')).toEqual([]);
      expect(r.verdict).toBe('pass');
    } else if (exp.rules.includes('nat.reply-bypass')) {
      expect(r.verdict).toBe('fail');
      expect(problems(r, 'error')).toEqual(['nat.reply-bypass']);
      expect(r.findings.find((f) => f.rule === 'nat.reply-bypass')!.hint).toMatch(/default route/);
    }
  });
});
