/**
 * A director captured per interface, one file per interface, each started and stopped by hand
 * (capture-artifacts.md §3): where the file toward the real servers did not run, a missing
 * forwarded copy proves nothing; where every file ran, it does. Both found by the artifacts
 * property (production-artifacts.test.ts) with more runs than CI makes.
 */
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cutSpan, dropFrames, packetNs, readPcap, writePcap, type PcapFile } from '../helpers/capture-transform.js';
import { pointsOf, verifyPoints } from '../helpers/verify-sets.js';
import { repoRoot } from '../helpers/env.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'lvsaudit-file-spans-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** `set` with director-eth1.pcap cut to frames [from, to). */
function withEgressCut(set: string, from: number, to?: number): { dir: string; files: string[] } {
  const src = path.join(repoRoot, 'fixtures', set);
  const dir = mkdtempSync(path.join(tmp, 'set-'));
  const files = ['client.pcap', 'director-eth0.pcap', 'director-eth1.pcap', 'rs1.pcap', 'rs2.pcap'];
  for (const f of [...files, 'service.conf']) copyFileSync(path.join(src, f), path.join(dir, f));
  const eth1 = readPcap(readFileSync(path.join(src, 'director-eth1.pcap')));
  writeFileSync(path.join(dir, 'director-eth1.pcap'), writePcap(cutSpan(eth1, from, to ?? eth1.packets.length)));
  return { dir, files };
}

const errors = (r: Awaited<ReturnType<typeof verifyPoints>>): string[] => r.findings.filter((f) => f.severity === 'error').map((f) => f.rule);

describe('director files with different spans', () => {
  it('UDP: the RS-side file started just after a flow\'s first datagram left, which the real server answered: a capture gap, no flow.not-forwarded', async () => {
    // replay/udp-nat-linux: director-eth1's frame 21 is the copy of 198.51.100.21:34020's first
    // datagram (director-eth0 frame 21); its reply is the file's next frame; the flow goes on.
    const { dir, files } = withEgressCut('replay/udp-nat-linux', 21);
    const points = pointsOf(dir, files).filter((p) => p.kind === 'director');
    const r = await verifyPoints(dir, points, 'linux');
    expect(errors(r)).toEqual([]);
    expect(r.findings.filter((f) => f.rule === 'capture.gaps').flatMap((f) => f.evidence.map((e) => `${path.basename(e.capture)}#${e.frame}`))).toContain('director-eth0.pcap#21');
  });

  it('UDP one way: the RS-side file started while a flow was under way: its earlier datagrams are not flow.not-forwarded, the later ones are judged', async () => {
    // replay/udp-nat-linux without its answers (a syslog-like flow): director-eth1 starts just
    // after the first datagram of 198.51.100.21:34020 left; that flow's next two leave later.
    const src = path.join(repoRoot, 'fixtures', 'replay', 'udp-nat-linux');
    const dir = mkdtempSync(path.join(tmp, 'set-'));
    copyFileSync(path.join(src, 'service.conf'), path.join(dir, 'service.conf'));
    const oneWay = (f: PcapFile): PcapFile => dropFrames(f, (i) => { const d = f.packets[i]!.data; return d.readUInt16BE(34) === 53 || d.readUInt16BE(34) === 5353; });
    const eth0 = oneWay(readPcap(readFileSync(path.join(src, 'director-eth0.pcap'))));
    const eth1 = oneWay(readPcap(readFileSync(path.join(src, 'director-eth1.pcap'))));
    const start = packetNs(eth1, eth1.packets[0]!) + 200.1e6;
    const from = eth1.packets.findIndex((p) => packetNs(eth1, p) > start);
    writeFileSync(path.join(dir, 'director-eth0.pcap'), writePcap(eth0));
    writeFileSync(path.join(dir, 'director-eth1.pcap'), writePcap(cutSpan(eth1, from, eth1.packets.length)));
    const r = await verifyPoints(dir, pointsOf(dir, ['director-eth0.pcap', 'director-eth1.pcap']), 'linux');
    expect(errors(r)).toEqual([]);
    expect(r.rules.find((t) => t.rule === 'flow.not-forwarded')!.checked).toBeGreaterThan(0);
    // The same flow with the file running all along: a datagram dropped after it started is found.
    const drop = mkdtempSync(path.join(tmp, 'set-'));
    copyFileSync(path.join(src, 'service.conf'), path.join(drop, 'service.conf'));
    const lastOfFlow = eth1.packets.findIndex((p) => packetNs(eth1, p) > start + 40e6 - 1e6);
    writeFileSync(path.join(drop, 'director-eth0.pcap'), writePcap(eth0));
    writeFileSync(path.join(drop, 'director-eth1.pcap'), writePcap(dropFrames(cutSpan(eth1, from, eth1.packets.length), (i) => i === lastOfFlow - from)));
    const d = await verifyPoints(drop, pointsOf(drop, ['director-eth0.pcap', 'director-eth1.pcap']), 'linux');
    expect(errors(d)).toContain('flow.not-forwarded');
  });

  it('TCP: the RS-side file stopped after the dropped segment but before its retransmission: the drop is still flow.not-forwarded', async () => {
    // verify/fault-dropped-at-director: the director drops a data segment (director-eth0 frame
    // 20) and forwards its retransmission; director-eth1 cut before that retransmission left.
    const { dir, files } = withEgressCut('verify/fault-dropped-at-director', 0, 26);
    const r = await verifyPoints(dir, pointsOf(dir, files), 'linux');
    expect(errors(r)).toEqual(['flow.not-forwarded']);
    expect(r.findings.find((f) => f.rule === 'flow.not-forwarded')!.evidence.map((e) => `${path.basename(e.capture)}#${e.frame}`)).toContain('director-eth0.pcap#20');
  });
});
