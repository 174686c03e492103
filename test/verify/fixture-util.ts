/**
 * Helpers for the verify tests: run `verify` on one generated fixture set
 * (fixtures/verify/<name>: client.pcap, director*.pcap, rs1.pcap, rs2.pcap, service.conf,
 * expected.json written by scripts/make-verify-fixtures.mjs).
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseServiceConfig } from '../../src/verify/service/index.js';
import { verify, type VerifyInput } from '../../src/verify/verify.js';
import type { VerifyResult } from '../../src/verify/model/result.js';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const fixturesDir = path.join(repoRoot, 'fixtures', 'verify');

export interface Expected {
  description: string;
  method: 'nat' | 'dr' | 'tun';
  profile: 'linux' | 'linux-legacy';
  expectedRules: string[];
  clockOffsetMs: { director: number; rs1: number; rs2: number };
  addresses: { client: string; vip: string; dip: string; rips: string[] };
}

export function expectedOf(name: string): Expected {
  return JSON.parse(readFileSync(path.join(fixturesDir, name, 'expected.json'), 'utf8')) as Expected;
}

export function setNames(): string[] {
  return existsSync(fixturesDir) ? readdirSync(fixturesDir).filter((n) => existsSync(path.join(fixturesDir, n, 'expected.json'))).sort() : [];
}

export interface RunOpts {
  points?: Array<'client' | 'director' | 'rs1' | 'rs2'>;
  /** Pass the RS address with the capture (IP=FILE) instead of letting verify recognise it. */
  rsIp?: boolean;
  config?: boolean;
  profile?: VerifyInput['profile'];
}

export async function runSet(name: string, opts: RunOpts = {}): Promise<VerifyResult> {
  const dir = path.join(fixturesDir, name);
  const exp = expectedOf(name);
  const want = new Set(opts.points ?? ['client', 'director', 'rs1', 'rs2']);
  const points: VerifyInput['points'] = [];
  if (want.has('client')) points.push({ kind: 'client', files: [path.join(dir, 'client.pcap')] });
  if (want.has('director')) {
    const files = readdirSync(dir).filter((f) => f.startsWith('director')).sort().map((f) => path.join(dir, f));
    points.push({ kind: 'director', files });
  }
  for (const [k, n] of (['rs1', 'rs2'] as const).entries()) {
    if (!want.has(n)) continue;
    const p: VerifyInput['points'][number] = { kind: 'rs', files: [path.join(dir, `${n}.pcap`)] };
    if (opts.rsIp) p.rsIp = exp.addresses.rips[k]!;
    points.push(p);
  }
  const confPath = path.join(dir, 'service.conf');
  const services = opts.config === false ? null : parseServiceConfig(readFileSync(confPath, 'utf8'), confPath);
  return verify({ services, points, profile: opts.profile ?? exp.profile });
}

/** Distinct rule ids of error/warning findings. */
export function problemRules(r: VerifyResult): string[] {
  return [...new Set(r.findings.filter((f) => f.severity !== 'info').map((f) => f.rule))].sort();
}
