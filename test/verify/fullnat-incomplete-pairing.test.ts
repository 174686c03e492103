/**
 * FullNAT copies paired across legs on incomplete production captures, two false errors the
 * partial-points property (partial-points-artifacts.test.ts) found with more runs than CI makes:
 * - duplicate ACKs share the client→server key (ack, flags, length): with the client's copy of
 *   one missing (tcpdump dropped it) its real-server copy was paired with the next duplicate ACK
 *   and the differing SACK blocks read as "the director removed SACK" (rewrite.tcp-fields);
 *   SACK blocks name the server's sequence space, the same on both legs, so they tell the ACKs
 *   apart;
 * - a real server's GRO joined two segments whose first one the client's capture dropped: the
 *   client's second segment, paired with the joined one, read as a changed sequence delta and IP
 *   ID; a leg whose pieces do not add up to the other leg's segment is not compared;
 * - a port mirror's second copy of a UDP datagram, cut inside the payload, has no payload hash,
 *   so the FullNAT UDP grouping (keyed on the payload) did not see it as the copy it repeats and
 *   reported it never forwarded.
 */
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cutSpan, dropFrames, mirrorDuplicates, readPcap, writePcap, type PcapFile } from '../helpers/capture-transform.js';
import { pointsOf, verifyPoints } from '../helpers/verify-sets.js';
import { repoRoot } from '../helpers/env.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'lvsaudit-fnat-pairing-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function setOf(name: string, files: string[], change: Record<string, (f: PcapFile) => PcapFile>): string {
  const src = path.join(repoRoot, 'fixtures', name);
  const dir = mkdtempSync(path.join(tmp, 'set-'));
  copyFileSync(path.join(src, 'service.conf'), path.join(dir, 'service.conf'));
  for (const f of files) {
    const op = change[f];
    if (op) writeFileSync(path.join(dir, f), writePcap(op(readPcap(readFileSync(path.join(src, f))))));
    else copyFileSync(path.join(src, f), path.join(dir, f));
  }
  return dir;
}

const errors = (r: Awaited<ReturnType<typeof verifyPoints>>): string[] => r.findings.filter((f) => f.severity === 'error').map((f) => `${f.rule}: ${f.message}`);

describe('FullNAT pairing on incomplete captures', () => {
  it('duplicate ACKs whose client copies tcpdump partly dropped: paired by their SACK blocks, no rewrite.tcp-fields', async () => {
    // fullnat/alibaba-options-full: the client ACKs out-of-order data with growing SACK lists.
    const files = ['client.pcap', 'rs1.pcap'];
    const dir = setOf('fullnat/alibaba-options-full', files, { 'client.pcap': (f) => dropFrames(f, (i) => i % 5 === 0) });
    const r = await verifyPoints(dir, pointsOf(dir, files), 'alibaba');
    expect(errors(r)).toEqual([]);
    // Still judged: the ACKs whose both copies are there are compared.
    expect(r.rules.find((t) => t.rule === 'rewrite.tcp-fields')!.checked).toBeGreaterThan(0);
  });

  it('a joined segment at the real server whose first piece the client capture dropped: not compared with the second piece, no fnat.seq-delta', async () => {
    // replay/fullnat-dpvs-keepalived: rs2 received two client segments GRO-merged (rs2.pcap#4).
    const files = ['client.pcap', 'rs2.pcap'];
    const dir = setOf('replay/fullnat-dpvs-keepalived', files, {
      'client.pcap': (f) => dropFrames(f, (i) => i % 10 === 1),
      'rs2.pcap': (f) => cutSpan(f, 1, f.packets.length),
    });
    const r = await verifyPoints(dir, pointsOf(dir, files), 'dpvs');
    expect(errors(r)).toEqual([]);
    // With the whole client capture the same segment is compared, and agrees.
    const whole = setOf('replay/fullnat-dpvs-keepalived', files, { 'rs2.pcap': (f) => cutSpan(f, 1, f.packets.length) });
    const w = await verifyPoints(whole, pointsOf(whole, files), 'dpvs');
    expect(errors(w)).toEqual([]);
    expect(w.rules.find((t) => t.rule === 'fnat.seq-delta')!.checked).toBeGreaterThan(r.rules.find((t) => t.rule === 'fnat.seq-delta')!.checked);
  });

  it('a mirror\'s second copy of UDP datagrams, cut to 64 bytes: the same datagram, no flow.not-forwarded', async () => {
    const files = ['client.pcap', 'director-eth0.pcap', 'director-eth1.pcap'];
    const dir = setOf('fullnat/dpvs-udp-uoa-ipo', files, { 'director-eth0.pcap': (f) => mirrorDuplicates(f, (i) => i % 3 === 2, 7000, 64) });
    const r = await verifyPoints(dir, pointsOf(dir, files), 'dpvs');
    expect(errors(r)).toEqual([]);
    expect(r.rules.find((t) => t.rule === 'flow.not-forwarded')!.checked).toBeGreaterThan(0);
  });
});
