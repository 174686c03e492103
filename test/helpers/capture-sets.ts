/**
 * The committed verify capture sets (fixtures/verify, fixtures/lab, fixtures/replay: each a
 * directory with service.conf, client.pcap, director captures and rsN.pcap) and the CLI point
 * options for one, for the tests that run `verify` over every set.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { repoRoot } from './env.js';

export interface CaptureSet {
  /** group/name, e.g. verify/nat-ok. */
  name: string;
  dir: string;
}

export function captureSets(): CaptureSet[] {
  const out: CaptureSet[] = [];
  for (const group of ['verify', 'lab', 'replay']) {
    const root = path.join(repoRoot, 'fixtures', group);
    if (!existsSync(root)) continue;
    for (const name of readdirSync(root).sort()) {
      const dir = path.join(root, name);
      if (!existsSync(path.join(dir, 'service.conf')) || !existsSync(path.join(dir, 'client.pcap'))) continue;
      out.push({ name: `${group}/${name}`, dir });
    }
  }
  return out;
}

/** --client, --director (one per interface file, else director.pcap) and --rs-capture options. */
export function pointArgs(dir: string): string[] {
  const files = readdirSync(dir);
  const perIf = files.filter((f) => /^director-.+\.pcap$/.test(f)).sort();
  const director = perIf.length > 0 ? perIf : files.filter((f) => f === 'director.pcap');
  const rs = files.filter((f) => /^rs\d+\.pcap$/.test(f)).sort();
  return [
    '--client', path.join(dir, 'client.pcap'),
    ...director.flatMap((f) => ['--director', path.join(dir, f)]),
    ...rs.flatMap((f) => ['--rs-capture', path.join(dir, f)]),
  ];
}

/** Writes a capture set with scripts/make-verify-fixtures.mjs (`--bulk N`, `--rs-client`, …)
 *  into `dir`; throws with the generator's stderr when it fails. */
export function makeVerifySet(dir: string, ...options: string[]): void {
  const gen = spawnSync(process.execPath, [path.join(repoRoot, 'scripts', 'make-verify-fixtures.mjs'), ...options, dir], { encoding: 'utf8' });
  if (gen.status !== 0) throw new Error(`make-verify-fixtures.mjs ${options.join(' ')} failed (${gen.status}): ${gen.stderr}`);
}
