/**
 * verify reuses the records of judged connections (verify/read/record.ts RecordPool) instead of
 * allocating a record per packet. A record handed out again while something still referred to
 * it would silently corrupt another connection's evidence, so the whole result (findings with
 * their evidence frames, rule tallies, stats, ladders) must be identical with and without reuse:
 * on a long capture set where thousands of records are reused, on every synthetic fixture set,
 * and on the reference director's fault runs.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runWrite, writeCaptureSet } from '../../src/replay/replay.js';
import { RecordPool } from '../../src/verify/read/record.js';
import { parseServiceConfig } from '../../src/verify/service/index.js';
import { verify, type VerifyInput } from '../../src/verify/verify.js';
import { expectedOf, fixturesDir, repoRoot, setNames } from './fixture-util.js';

let tmp = '';
beforeAll(() => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'verify-reuse-'));
});
afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

/** Runs verify twice (records reused / fresh) and returns both results. */
async function both(input: Omit<VerifyInput, 'reuseRecords'>) {
  const reused = await verify({ ...input, reuseRecords: true });
  const fresh = await verify({ ...input, reuseRecords: false });
  return { reused, fresh };
}

function setPoints(dir: string, rips?: string[]): VerifyInput['points'] {
  const files = readdirSync(dir);
  return [
    { kind: 'client', files: [path.join(dir, 'client.pcap')] },
    { kind: 'director', files: files.filter((f) => f.startsWith('director')).sort().map((f) => path.join(dir, f)) },
    ...files
      .filter((f) => /^rs\d\.pcap$/.test(f))
      .sort()
      .map((f, i) => ({ kind: 'rs' as const, files: [path.join(dir, f)], ...(rips ? { rsIp: rips[i]! } : {}) })),
  ];
}

const services = (dir: string) => parseServiceConfig(readFileSync(path.join(dir, 'service.conf'), 'utf8'), 'service.conf');

describe('record reuse changes nothing', () => {
  it('2000 sequential NAT connections: records are reused, and the result is the same', async () => {
    const dir = path.join(tmp, 'bulk');
    execFileSync(process.execPath, [path.join(repoRoot, 'scripts', 'make-verify-fixtures.mjs'), '--bulk', '2000', dir], { stdio: 'ignore' });
    let taken = 0;
    let reusedCount = 0;
    const take = RecordPool.prototype.take;
    RecordPool.prototype.take = function (this: RecordPool) {
      taken++;
      const r = take.call(this);
      if (r) reusedCount++;
      return r;
    };
    let out;
    try {
      out = await both({ services: services(dir), points: setPoints(dir), profile: 'linux', maxLadders: 50 });
    } finally {
      RecordPool.prototype.take = take;
    }
    // Every record of the reusing run was asked of the pool, and thousands were reused ones
    // (connections are judged two windows after they close, so the first seconds of capture
    // fill the pool): the comparison below would prove nothing otherwise.
    expect(taken).toBe(out.reused.stats.frames);
    expect(reusedCount).toBeGreaterThan(10_000);
    expect(out.reused).toEqual(out.fresh);
    expect(out.reused.verdict).toBe('pass');
  });

  it.each(setNames())('fixture set %s', async (name) => {
    const dir = path.join(fixturesDir, name);
    const { reused, fresh } = await both({ services: services(dir), points: setPoints(dir), profile: expectedOf(name).profile });
    expect(reused).toEqual(fresh);
  });

  const faults: [('nat' | 'dr' | 'tun'), string][] = [
    ['nat', 'drop-every-nth'],
    ['nat', 'nat-reply-src'],
    ['dr', 'drop-every-nth'],
    ['dr', 'ipid-rewrite'],
    ['tun', 'no-frag-needed'],
    ['tun', 'bad-ip-checksum'],
  ];
  it.each(faults)('reference director %s --fault %s', async (method, fault) => {
    const dir = path.join(tmp, `${method}-${fault}`);
    writeCaptureSet(dir, runWrite({ method, profile: 'linux', faults: [fault] }));
    const { reused, fresh } = await both({ services: services(dir), points: setPoints(dir, ['10.0.0.11', '10.0.0.12']), profile: 'linux' });
    expect(reused.findings.length).toBeGreaterThan(0);
    expect(reused).toEqual(fresh);
  });
});
