/**
 * A pcapng file whose closing Interface Statistics Blocks count packets the capture dropped
 * (isb_ifdrop, isb_osdrop; capture-artifacts.md §3): verify reads those counters before it
 * judges (decode/capture/trailing-stats.ts), and a packet missing at that point is then no
 * evidence. The same drops in a classic pcap file, which cannot count them, are still judged.
 */
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { trailingDrops } from '../../src/decode/capture/trailing-stats.js';
import { asPcapng, dropFrames, readPcap, writePcap, type PcapFile } from '../helpers/capture-transform.js';
import { pointsOf, verifyPoints, verifySets } from '../helpers/verify-sets.js';

const tmpRoot = mkdtempSync(path.join(os.tmpdir(), 'lvsaudit-drops-'));
afterAll(() => rmSync(tmpRoot, { recursive: true, force: true }));

function written(name: string, bytes: Buffer): string {
  const f = path.join(mkdtempSync(path.join(tmpRoot, 'f-')), name);
  writeFileSync(f, bytes);
  return f;
}

describe('the drop counters at the end of a pcapng file', () => {
  const f = readPcap(readFileSync(path.join(verifySets().find((s) => s.name === 'verify/nat-ok')!.dir, 'client.pcap')));

  it('are summed over isb_ifdrop and isb_osdrop', () => {
    expect(trailingDrops(written('a.pcapng', asPcapng(f, { ifdrop: 3 })))).toBe(3);
    expect(trailingDrops(written('b.pcapng', asPcapng(f, { ifdrop: 1, osdrop: 2 })))).toBe(3);
    expect(trailingDrops(written('c.pcapng', asPcapng(f, { ifdrop: 0, osdrop: 0 })))).toBe(0);
  });

  it('are not stated by a file without them, a classic pcap, or a missing file', () => {
    expect(trailingDrops(written('d.pcapng', asPcapng(f)))).toBeNull();
    expect(trailingDrops(written('e.pcap', writePcap(f)))).toBeNull();
    expect(trailingDrops(path.join(tmpRoot, 'nothing-here.pcapng'))).toBeNull();
  });
});

describe('a director capture that missed packets, with no other witness', () => {
  // UDP: no acknowledgement proves a datagram got through; no real server's capture is given.
  const set = verifySets().find((s) => s.name === 'replay/udp-dr-linux')!;
  /** Every 5th director frame missing, counted in pcapng statistics or not. */
  async function run(counted: boolean) {
    const dir = mkdtempSync(path.join(tmpRoot, 'set-'));
    copyFileSync(path.join(set.dir, 'service.conf'), path.join(dir, 'service.conf'));
    const given = set.files.filter((f) => !f.startsWith('rs'));
    for (const name of given) {
      const f: PcapFile = readPcap(readFileSync(path.join(set.dir, name)));
      if (!name.startsWith('director')) {
        writeFileSync(path.join(dir, name), writePcap(f));
        continue;
      }
      const kept = dropFrames(f, (i) => i % 5 === 0);
      writeFileSync(path.join(dir, name), counted ? asPcapng(kept, { ifdrop: f.packets.length - kept.packets.length }) : writePcap(kept));
    }
    return verifyPoints(dir, pointsOf(dir, given), set.profile);
  }

  it('counted: no error, the drops reported as capture.gaps', async () => {
    const r = await run(true);
    expect(r.findings.filter((f) => f.severity === 'error').map((f) => `${f.rule}: ${f.message}`)).toEqual([]);
    expect(r.findings.some((f) => f.rule === 'capture.gaps')).toBe(true);
  });

  it('not counted (classic pcap): the absences are judged', async () => {
    const r = await run(false);
    expect(r.findings.filter((f) => f.severity === 'error').map((f) => f.rule)).toContain('flow.not-forwarded');
  });
});
