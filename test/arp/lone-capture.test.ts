/**
 * One capture alone says no more than the whole set it was taken with: for every committed
 * real-kernel capture set (netns lab and real IPVS), `arp` over any single capture of the set
 * finds no rule the whole set does not find. A lone capture is what an engineer usually has;
 * a warning it raises that the full picture refutes is a false alarm (a switch flooding frames
 * for a silent host to every port once looked like a mirror port and made arp.unanswered).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseServiceConfig } from '../../src/verify/service/index.js';
import { repoRoot } from '../helpers/env.js';
import { analyze, rulesOf } from './helpers.js';

function sets(): Array<{ name: string; dir: string; vip: string; captures: string[] }> {
  const out = [];
  for (const parent of ['lab', 'offload', 'arp/kernel', 'arp/kernel-ipv6']) {
    const root = path.join(repoRoot, 'fixtures', parent);
    if (!existsSync(root)) continue;
    for (const name of readdirSync(root).sort()) {
      const dir = path.join(root, name);
      const conf = path.join(dir, 'service.conf');
      if (!existsSync(conf)) continue;
      const vip = parseServiceConfig(readFileSync(conf, 'utf8'), conf).services.find((v) => v.vip !== '')?.vip;
      const captures = readdirSync(dir).filter((f) => /\.pcap(ng)?(\.gz)?$/.test(f)).sort().map((f) => path.join(dir, f));
      if (vip !== undefined && captures.length > 1) out.push({ name: `${parent}/${name}`, dir, vip, captures });
    }
  }
  return out;
}

const pointOf = (file: string): string => path.basename(file).replace(/\.pcap(ng)?(\.gz)?$/, '');

const all = sets();

describe('a lone capture finds nothing its whole set does not', () => {
  it('there are real-kernel sets to check', () => {
    expect(all.length).toBeGreaterThanOrEqual(10);
  });
  it.each(all.map((s) => [s.name, s] as const))('%s', async (_name, s) => {
    const whole = new Set(rulesOf(await analyze(s.captures.map((c) => [c, pointOf(c)] as [string, string]), { vips: [s.vip] })));
    const extra: string[] = [];
    for (const c of s.captures) {
      for (const rule of rulesOf(await analyze([[c, pointOf(c)]], { vips: [s.vip] }))) {
        if (!whole.has(rule)) extra.push(`${path.basename(c)}: ${rule}`);
      }
    }
    expect(extra).toEqual([]);
  });
});
