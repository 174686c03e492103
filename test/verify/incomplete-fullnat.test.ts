/**
 * Two ways an incomplete set of a real DPVS's captures (fixtures/lab/dpvs-*) used to give false
 * errors, each with the fact that made it false:
 * - the director captured on its client-side interface only: a connection whose replies never
 *   came back (rs2's route bypasses the director) showed its SYN arriving and nothing leaving, and
 *   was reported not forwarded — although the capture shows no packet of any connection leaving
 *   toward the real servers, while rs1's connections were answered;
 * - the client's capture missed a UDP datagram: the datagram the director sent 4th, without UOA
 *   as it should, was counted 3rd and reported as missing its UOA.
 * Each also checks that with the missing evidence given the rule judges again.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { dropFrames, readPcap, writePcap } from '../helpers/capture-transform.js';
import { pointsOf, verifyPoints } from '../helpers/verify-sets.js';
import { repoRoot } from '../helpers/env.js';
import { reportedRules } from '../../src/verify/report/rule-status.js';

const lab = path.join(repoRoot, 'fixtures', 'lab');
const tmp = mkdtempSync(path.join(os.tmpdir(), 'lvsaudit-incomplete-fnat-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const errors = (r: Awaited<ReturnType<typeof verifyPoints>>): string[] => r.findings.filter((f) => f.severity === 'error').map((f) => f.rule);

describe('incomplete DPVS capture sets', () => {
  it('director captured on its client side only: no connection is reported not forwarded; with both interfaces given the rule judges', async () => {
    const dir = path.join(lab, 'dpvs-fullnat-ipv6-gateway-bypass');
    const oneSide = await verifyPoints(dir, pointsOf(dir, ['client.pcap', 'director-eth0.pcap']), 'dpvs');
    expect(errors(oneSide)).toEqual([]);
    // A set whose director capture shows its sent frames: the rule judges.
    const full = path.join(lab, 'dpvs-fullnat-ipv6');
    const both = await verifyPoints(full, pointsOf(full, ['client.pcap', 'director-eth0.pcap', 'director-eth1.pcap']), 'dpvs');
    expect(reportedRules(both).find((r) => r.rule === 'flow.not-forwarded')!.checked).toBeGreaterThan(0);
  });

  it('a UDP datagram the client capture missed does not shift the UOA trail: no fnat.uoa-missing', async () => {
    const src = path.join(lab, 'dpvs-udp-ipo');
    const client = readPcap(readFileSync(path.join(src, 'client.pcap')));
    // Drop the client's first datagram toward the VIP (ports 40000+): the director still sent it.
    const first = client.packets.findIndex((p) => isUdpToVip(p.data));
    expect(first).toBeGreaterThanOrEqual(0);
    const dir = mkdtempSync(path.join(tmp, 'udp-'));
    writeFileSync(path.join(dir, 'client.pcap'), writePcap(dropFrames(client, (i) => i === first)));
    for (const f of ['service.conf', 'director-eth1.pcap']) writeFileSync(path.join(dir, f), readFileSync(path.join(src, f)));
    const r = await verifyPoints(dir, pointsOf(dir, ['client.pcap', 'director-eth1.pcap']), 'dpvs');
    expect(errors(r)).toEqual([]);
    // The whole client capture: the trail is counted and judged.
    const whole = await verifyPoints(src, pointsOf(src, ['client.pcap', 'director-eth1.pcap']), 'dpvs');
    expect(reportedRules(whole).find((x) => x.rule === 'fnat.uoa-missing')!.checked).toBeGreaterThan(0);
  });
});

/** Ethernet + IPv4 + UDP to port 53 (the lab's UDP VIP port). */
function isUdpToVip(frame: Buffer): boolean {
  if (frame.length < 14 + 20 + 8 || frame.readUInt16BE(12) !== 0x0800) return false;
  const ihl = (frame[14]! & 15) * 4;
  return frame[14 + 9] === 17 && frame.readUInt16BE(14 + ihl + 2) === 53;
}
