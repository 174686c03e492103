/**
 * IPv6 FullNAT legs linked by the flow label (correlate/fnat-tracker.ts synMark). An IPv6 SYN
 * has no IP ID; DPVS copies the client's flow label onto the LIP leg, so a real server's leg is
 * tied to its client connection even when no SYN-ACK reaches the client — the case of a real
 * server whose replies to the LIP go around the director (fixtures/lab/dpvs-fullnat-ipv6-gateway-bypass,
 * captured from DPVS; its README has the tshark facts).
 *
 * Metamorphic: the flow labels are random per connection, so mapping every label to another,
 * the same on every capture, is another run of the same traffic and must give the same verdict.
 * A director that does not keep the label (the RS leg's labels changed alone) loses the link:
 * the fault then goes unreported, and no false error comes in its place.
 */
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { copy, readPcap, writePcap, type PcapFile } from '../helpers/capture-transform.js';
import { pointsOf, verifyPoints } from '../helpers/verify-sets.js';
import { repoRoot } from '../helpers/env.js';

const src = path.join(repoRoot, 'fixtures', 'lab', 'dpvs-fullnat-ipv6-gateway-bypass');
const tmp = mkdtempSync(path.join(os.tmpdir(), 'lvsaudit-fnat6-link-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const FILES = ['client.pcap', 'director-eth0.pcap', 'director-eth1.pcap', 'rs1.pcap', 'rs2.pcap'];
const ETHERTYPE_IPV6 = 0x86dd;

/** Every IPv6 frame's flow label passed through `map` (Ethernet captures; the label is in no checksum). */
function relabel(f: PcapFile, map: (label: number) => number): PcapFile {
  const out = copy(f);
  for (const p of out.packets) {
    const d = p.data;
    if (d.length < 14 + 40 || d.readUInt16BE(12) !== ETHERTYPE_IPV6) continue;
    const label = ((d[15]! & 15) << 16) | (d[16]! << 8) | d[17]!;
    const to = map(label) & 0xfffff;
    d[15] = (d[15]! & 0xf0) | (to >> 16);
    d[16] = (to >> 8) & 0xff;
    d[17] = to & 0xff;
  }
  return out;
}

/** The labels the captures carry. */
const labels = new Set<number>();
for (const file of FILES) relabel(readPcap(readFileSync(path.join(src, file))), (l) => (labels.add(l), l));

let n = 0;
function writeSet(change: (f: PcapFile, file: string) => PcapFile): string {
  const dir = path.join(tmp, `set-${n++}`);
  mkdirSync(dir);
  for (const file of readdirSync(src)) {
    const bytes = readFileSync(path.join(src, file));
    writeFileSync(path.join(dir, file), FILES.includes(file) ? writePcap(change(readPcap(bytes), file)) : bytes);
  }
  return dir;
}

async function errorsOf(dir: string): Promise<{ verdict: string; errors: string[] }> {
  const r = await verifyPoints(dir, pointsOf(dir, FILES), 'dpvs');
  return { verdict: r.verdict, errors: [...new Set(r.findings.filter((f) => f.severity === 'error').map((f) => f.rule))].sort() };
}

describe('IPv6 FullNAT: a real server leg is linked to its client by the flow label DPVS keeps', () => {
  it('the captures as taken: rs2 replying around the director is nat.reply-bypass', async () => {
    expect(await errorsOf(src)).toEqual({ verdict: 'fail', errors: ['nat.reply-bypass'] });
  });

  it('every flow label mapped to another, alike on every capture: the same verdict', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 0xfffff }).filter((x) => !labels.has(x)), async (x) => {
        // XOR with a constant that is no label: one-to-one, and no label becomes 0 (none).
        const dir = writeSet((f) => relabel(f, (l) => (l === 0 ? 0 : l ^ x)));
        expect(await errorsOf(dir)).toEqual({ verdict: 'fail', errors: ['nat.reply-bypass'] });
      }),
      { numRuns: 4 },
    );
  });

  it('a director that changes the label on the real-server leg: no link by SYN, and no false error', async () => {
    const dir = writeSet((f, file) => (file.startsWith('rs') || file === 'director-eth1.pcap' ? relabel(f, (l) => (l === 0 ? 0 : l ^ 0x5a5a5)) : f));
    const r = await errorsOf(dir);
    expect(r.errors).toEqual([]);
  });
});
