/**
 * A director capture that shows only part of what the director did, with no real server's
 * capture: what proves a packet got through is paired by byte range or read from the client.
 *  - A first IP fragment the director reassembled (lvs-behavior.md §1.6) and forwarded, its
 *    egress capture showing the datagram in pieces (segmentation offload, capture-artifacts.md
 *    §2): the pieces cover the reassembled bytes.
 *  - DPVS on af_packet: the director's capture holds only what it received, and the client's
 *    capture stopped early: the client's ACKs (sent only once a SYN-ACK reached it) prove the
 *    connection was forwarded.
 *  - NAT, the director captured on its client side only and a real server's capture missing
 *    frames: a reply sent to the MAC the connection's requests came from goes back through the
 *    director, although that MAC is not among those the director's capture shows; a reply
 *    sent to a router is still a bypass.
 */
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cutSpan, dropFrames, readPcap, splitSegments, writePcap } from '../helpers/capture-transform.js';
import { repoRoot } from '../helpers/env.js';
import { verifyPoints } from '../helpers/verify-sets.js';
import type { VerifyInput } from '../../src/verify/verify.js';

const tmpRoot = mkdtempSync(path.join(os.tmpdir(), 'lvsaudit-partial-director-'));
afterAll(() => rmSync(tmpRoot, { recursive: true, force: true }));

const errors = (r: { findings: { severity: string; rule: string; message: string }[] }): string[] =>
  r.findings.filter((f) => f.severity === 'error').map((f) => `${f.rule}: ${f.message}`);

describe('a director capture that shows part of what the director did', () => {
  it('a reassembled datagram forwarded in pieces covers the first fragment', async () => {
    const src = path.join(repoRoot, 'fixtures', 'replay', 'dr-linux');
    const dir = mkdtempSync(path.join(tmpRoot, 'dr-'));
    copyFileSync(path.join(src, 'service.conf'), path.join(dir, 'service.conf'));
    copyFileSync(path.join(src, 'client.pcap'), path.join(dir, 'client.pcap'));
    const director = readPcap(readFileSync(path.join(src, 'director.pcap')));
    // The set holds fragments the director reassembled (an MF frame) before it is cut.
    expect(director.packets.some((p) => p.data.length > 20 && (p.data.readUInt16BE(20) & 0x2000) !== 0)).toBe(true);
    writeFileSync(path.join(dir, 'director.pcap'), writePcap(splitSegments(director, 8)));
    const points: VerifyInput['points'] = [
      { kind: 'client', files: [path.join(dir, 'client.pcap')] },
      { kind: 'director', files: [path.join(dir, 'director.pcap')] },
    ];
    expect(errors(await verifyPoints(dir, points, 'linux'))).toEqual([]);
  });

  it("DPVS's ingress-only capture and a client capture that stopped early", async () => {
    const src = path.join(repoRoot, 'fixtures', 'lab', 'dpvs-fullnat');
    const dir = mkdtempSync(path.join(tmpRoot, 'dpvs-'));
    copyFileSync(path.join(src, 'service.conf'), path.join(dir, 'service.conf'));
    copyFileSync(path.join(src, 'director-eth0.pcap'), path.join(dir, 'director-eth0.pcap'));
    const client = readPcap(readFileSync(path.join(src, 'client.pcap')));
    writeFileSync(path.join(dir, 'client.pcap'), writePcap(cutSpan(client, 0, Math.floor(client.packets.length * 0.6))));
    const points: VerifyInput['points'] = [
      { kind: 'client', files: [path.join(dir, 'client.pcap')] },
      { kind: 'director', files: [path.join(dir, 'director-eth0.pcap')] },
    ];
    expect(errors(await verifyPoints(dir, points, 'dpvs'))).toEqual([]);
  });

  /** Client, the director's client-side file and a real server's capture (missing every 10th
   *  frame, or whole). */
  async function natRs(set: string, rs: string, drop = true) {
    const src = path.join(repoRoot, 'fixtures', 'lab', set);
    const dir = mkdtempSync(path.join(tmpRoot, 'nat-'));
    for (const f of ['service.conf', 'client.pcap', 'director-eth0.pcap']) copyFileSync(path.join(src, f), path.join(dir, f));
    writeFileSync(path.join(dir, rs), writePcap(dropFrames(readPcap(readFileSync(path.join(src, rs))), (i) => drop && i % 10 === 3)));
    const points: VerifyInput['points'] = [
      { kind: 'client', files: [path.join(dir, 'client.pcap')] },
      { kind: 'director', files: [path.join(dir, 'director-eth0.pcap')] },
      { kind: 'rs', files: [path.join(dir, rs)] },
    ];
    return verifyPoints(dir, points, 'linux');
  }

  it('NAT replies sent back the way the requests came, the director captured on one side', async () => {
    expect(errors(await natRs('nat', 'rs2.pcap'))).toEqual([]);
  });

  it('NAT replies sent to a router are still a bypass', async () => {
    // rs1's default route is a router on the real servers' LAN.
    const r = await natRs('nat-reply-bypass', 'rs1.pcap');
    expect(r.findings.filter((f) => f.severity === 'error').map((f) => f.rule)).toContain('nat.reply-bypass');
  });
});
