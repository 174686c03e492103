/**
 * Every committed capture set verify can be run on in-process (capture-sets.ts's sets plus the
 * FullNAT ones), with the profile it was made for and its capture files as verify is given them.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseServiceConfig } from '../../src/verify/service/index.js';
import { verify, type VerifyInput } from '../../src/verify/verify.js';
import type { VerifyResult } from '../../src/verify/model/result.js';
import { captureSets } from './capture-sets.js';
import { repoRoot } from './env.js';

export interface VerifySet {
  name: string;
  dir: string;
  profile: VerifyInput['profile'];
  /** Capture file names: per-interface director files when the set has them, else director.pcap. */
  files: string[];
}

function profileOf(dir: string): VerifyInput['profile'] {
  for (const [file, pick] of [
    ['expected.json', (j: { profile?: string }) => j.profile],
    ['replay.json', (j: { recipe?: { profile?: string } }) => j.recipe?.profile],
  ] as const) {
    const f = path.join(dir, file);
    if (!existsSync(f)) continue;
    const p = (pick as (j: unknown) => string | undefined)(JSON.parse(readFileSync(f, 'utf8')));
    if (p) return p as VerifyInput['profile'];
  }
  return 'linux';
}

function setFiles(dir: string, ext: string): string[] {
  const all = readdirSync(dir).filter((f) => f.endsWith(ext));
  const perIf = all.filter((f) => f.startsWith('director-'));
  return all.filter((f) => (perIf.length > 0 ? f !== `director${ext}` : true)).sort();
}

/** `gzipped` adds the real-kernel sets kept as .pcap.gz (fixtures/offload: IPVS in a VM, netns
 *  with offloads on), for tests that read captures through verify only. */
export function verifySets(gzipped = false): VerifySet[] {
  const out: VerifySet[] = captureSets().map((s) => ({ ...s, profile: profileOf(s.dir), files: setFiles(s.dir, '.pcap') }));
  const fullnat = path.join(repoRoot, 'fixtures', 'fullnat');
  if (existsSync(fullnat)) {
    for (const n of readdirSync(fullnat).sort()) {
      const dir = path.join(fullnat, n);
      if (existsSync(path.join(dir, 'service.conf'))) out.push({ name: `fullnat/${n}`, dir, profile: profileOf(dir), files: setFiles(dir, '.pcap') });
    }
  }
  const offload = path.join(repoRoot, 'fixtures', 'offload');
  if (gzipped && existsSync(offload)) {
    for (const n of readdirSync(offload).sort()) {
      const dir = path.join(offload, n);
      if (existsSync(path.join(dir, 'service.conf'))) out.push({ name: `offload/${n}`, dir, profile: profileOf(dir), files: setFiles(dir, '.pcap.gz') });
    }
  }
  return out;
}

/** The set's points: client, director (every director file), one per rsN.pcap. */
export function pointsOf(dir: string, files: readonly string[]): VerifyInput['points'] {
  const points: VerifyInput['points'] = [];
  for (const f of files.filter((f) => f.startsWith('client.'))) points.push({ kind: 'client', files: [path.join(dir, f)] });
  const director = files.filter((f) => f.startsWith('director'));
  if (director.length > 0) points.push({ kind: 'director', files: director.map((f) => path.join(dir, f)) });
  for (const f of files.filter((f) => /^rs\d+\./.test(f))) points.push({ kind: 'rs', files: [path.join(dir, f)] });
  return points;
}

export function verifyPoints(dir: string, points: VerifyInput['points'], profile: VerifyInput['profile']): Promise<VerifyResult> {
  const conf = path.join(dir, 'service.conf');
  return verify({ services: parseServiceConfig(readFileSync(conf, 'utf8'), conf), points, profile });
}
