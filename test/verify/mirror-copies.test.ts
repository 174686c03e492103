/**
 * A port mirror (SPAN/TAP) copying both directions shows each frame twice, the second copy a
 * switch's forwarding time later and maybe truncated (capture-artifacts.md §4). The second copy
 * is the same packet at the same point, not another packet the director failed to forward; a
 * copy cut inside its TCP header carries nothing to match. A drop the director really made is
 * still reported through the duplicates.
 */
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { mirrorDuplicates, readPcap, writePcap } from '../helpers/capture-transform.js';
import { pointsOf, verifyPoints, verifySets } from '../helpers/verify-sets.js';

const tmpRoot = mkdtempSync(path.join(os.tmpdir(), 'lvsaudit-mirror-'));
afterAll(() => rmSync(tmpRoot, { recursive: true, force: true }));

/** The set with every capture taken on a mirror: every third frame twice (a mirror copying
 *  some ports both ways), the copy `delayNs` later and cut to `truncateTo` bytes. */
async function mirrored(name: string, delayNs: number, truncateTo = Infinity) {
  const set = verifySets().find((s) => s.name === name)!;
  const dir = mkdtempSync(path.join(tmpRoot, 'set-'));
  copyFileSync(path.join(set.dir, 'service.conf'), path.join(dir, 'service.conf'));
  for (const f of set.files) {
    const pcap = readPcap(readFileSync(path.join(set.dir, f)));
    writeFileSync(path.join(dir, f), writePcap(mirrorDuplicates(pcap, (i) => i % 3 === 0, delayNs, truncateTo)));
  }
  return verifyPoints(dir, pointsOf(dir, set.files), set.profile);
}

const errors = (r: Awaited<ReturnType<typeof mirrored>>): string[] => r.findings.filter((f) => f.severity === 'error').map((f) => `${f.rule}: ${f.message}`);

describe('a port mirror shows every frame twice', () => {
  it.each([
    ['verify/dr-ok', 7000, Infinity],
    ['verify/nat-ok', 3000, Infinity],
    ['replay/tun-linux', 3000, Infinity],
    // Cut inside the TCP header of an IPv6 packet (14 + 40 + 10 bytes), and after it for IPv4.
    ['verify/nat6-ok', 3000, 64],
    ['lab/dr-ipv6', 3000, 64],
    ['verify/dr-ok', 3000, 64],
  ] as const)('%s (second copy %i ns later, cut to %s bytes): no error', async (set, delay, cut) => {
    expect(errors(await mirrored(set, delay, cut))).toEqual([]);
  });

  it('a segment the director dropped is still reported', async () => {
    const r = await mirrored('verify/fault-dropped-at-director', 3000);
    expect(r.findings.filter((f) => f.severity === 'error').map((f) => f.rule)).toEqual(['flow.not-forwarded']);
  });
});
