/**
 * Memory is bounded by the live connections: on a long generated NAT capture set (thousands of
 * short connections one after another), verify judges each connection once it has closed (plus
 * twice the correlation window) and drops its packets, so the connections and packets held at
 * once stay bounded however long the captures are. The set is generated into a temp dir (not committed).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseServiceConfig } from '../../src/verify/service/index.js';
import { verify } from '../../src/verify/verify.js';
import { repoRoot } from './fixture-util.js';

const CONNS = 3000;
let dir = '';

beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'verify-bulk-'));
  execFileSync(process.execPath, [path.join(repoRoot, 'scripts', 'make-verify-fixtures.mjs'), '--bulk', String(CONNS), dir], { stdio: 'ignore' });
});
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('streaming verify', () => {
  it(`judges ${CONNS} sequential connections holding only a few at a time`, async () => {
    const f = (n: string): string => path.join(dir, n);
    const t0 = performance.now();
    const r = await verify({
      services: parseServiceConfig(readFileSync(f('service.conf'), 'utf8'), 'service.conf'),
      profile: 'linux',
      points: [
        { kind: 'client', files: [f('client.pcap')] },
        { kind: 'director', files: [f('director-eth0.pcap'), f('director-eth1.pcap')] },
        { kind: 'rs', files: [f('rs1.pcap')] },
        { kind: 'rs', files: [f('rs2.pcap')] },
      ],
      maxLadders: 5,
      // A closed connection is judged 2 windows after its last packet: with 50 ms, the
      // connections alive at once are those started in the last ~100 ms (one every 2 ms).
      windowMs: 50,
    });
    const ms = performance.now() - t0;
    expect(r.verdict).toBe('pass');
    expect(r.stats.connections).toBe(CONNS);
    // 32 copies per connection (8 packets × 4 points) are all correlated.
    expect(r.stats.packetsCorrelated).toBe(CONNS * 32);
    // Connections start 2 ms apart and last ~3 ms: about 100 ms / 2 ms live at once, not thousands.
    expect(r.stats.maxLiveConnections).toBeLessThan(100);
    expect(r.stats.maxLivePackets).toBeLessThan(100 * 32);
    expect(r.connections).toHaveLength(5);
    console.log(`[bench] ${r.stats.frames} frames in ${ms.toFixed(0)} ms = ${Math.round((r.stats.frames! / ms) * 1000)} packets/s`);
  });
});
