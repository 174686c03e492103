/**
 * A segment the director refused with ICMP fragmentation-needed (lvs-behavior.md §1.2 step 5,
 * R8: a DF packet above the IPIP tunnel's MTU), where the client's and the director's captures
 * both show it in pieces (segmentation offload, capture-artifacts.md §2): the error quotes the
 * segment whole, so no point holds a copy matching the quote. The pieces inside the quoted byte
 * range were refused as specified, not dropped (pairing by sequence ranges, not packet to
 * packet).
 */
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ipOffset, readPcap, splitSegments, writePcap, type PcapFile } from '../helpers/capture-transform.js';
import { pointsOf, verifyPoints } from '../helpers/verify-sets.js';
import { repoRoot } from '../helpers/env.js';
import { answerKey, DirectorAnswers, type IcmpAnswer } from '../../src/verify/read/director-answers.js';

const SET = path.join(repoRoot, 'fixtures', 'replay', 'tun-linux');
const tmpRoot = mkdtempSync(path.join(os.tmpdir(), 'lvsaudit-refused-'));
afterAll(() => rmSync(tmpRoot, { recursive: true, force: true }));

/** True for an ICMPv4 destination-unreachable / fragmentation-needed frame. */
function isFragNeeded(f: PcapFile, d: Buffer): boolean {
  const ip = ipOffset(f.linkType, d);
  if (ip < 0 || d[ip]! >> 4 !== 4 || d[ip + 9] !== 1) return false;
  const icmp = ip + (d[ip]! & 15) * 4;
  return d[icmp] === 3 && d[icmp + 1] === 4;
}

async function verifyCut(clientMss: number, directorMss: number) {
  const dir = mkdtempSync(path.join(tmpRoot, 'set-'));
  copyFileSync(path.join(SET, 'service.conf'), path.join(dir, 'service.conf'));
  const client = splitSegments(readPcap(readFileSync(path.join(SET, 'client.pcap'))), clientMss, undefined, 8);
  const director = splitSegments(readPcap(readFileSync(path.join(SET, 'director.pcap'))), directorMss, undefined, 8);
  writeFileSync(path.join(dir, 'client.pcap'), writePcap(client));
  writeFileSync(path.join(dir, 'director.pcap'), writePcap(director));
  return verifyPoints(dir, pointsOf(dir, ['client.pcap', 'director.pcap']), 'linux');
}

describe('a refused segment seen only in pieces', () => {
  it('the fixture has the director refuse a segment with frag-needed', () => {
    const f = readPcap(readFileSync(path.join(SET, 'director.pcap')));
    expect(f.packets.filter((p) => isFragNeeded(f, p.data)).length).toBeGreaterThan(0);
  });

  it.each([
    [8, 8],
    [8, 16],
    [24, 8],
  ])('client cut at %i bytes, director at %i: no error and no capture gap', async (clientMss, directorMss) => {
    const r = await verifyCut(clientMss, directorMss);
    expect(r.findings.filter((f) => f.severity !== 'info').map((f) => `${f.rule}: ${f.message}`)).toEqual([]);
  });

  it('only pieces inside the quoted byte range, numbered from its IP ID, captured before the answer are refused', () => {
    const answers = new DirectorAnswers();
    const answer: IcmpAnswer = { family: 4, type: 3, code: 4, mtu: 1480, from: '192.0.2.10', capture: 'director.pcap', frame: 9, ts: 1e9, quotedId: 100, quotedSeq: 0xfffffff0, quotedPayload: 1448 };
    answers.replay([{ icmp: answerKey('198.51.100.7', 40000, 100, 0xfffffff0), answer }]);
    const covering = (id: number, seq: number, len: number, ts: number, port = 40000): IcmpAnswer | undefined =>
      answers.tooBigCovering('198.51.100.7', port, id, seq, len, ts, 1e9);
    // Sequence numbers wrap inside the quoted range.
    expect(covering(100, 0xfffffff0, 8, 1e9 - 1000)).toBe(answer);
    expect(covering(150, (0xfffffff0 + 400) >>> 0, 8, 1e9 - 1000)).toBe(answer);
    expect(covering(150, (0xfffffff0 + 1440) >>> 0, 8, 1e9)).toBe(answer);
    // Past the quoted bytes, before them, from another port, after the answer, long before it.
    expect(covering(150, (0xfffffff0 + 1444) >>> 0, 8, 1e9 - 1000)).toBeUndefined();
    expect(covering(150, 0xffffffe8, 8, 1e9 - 1000)).toBeUndefined();
    expect(covering(150, 0xfffffff0, 8, 1e9 - 1000, 40001)).toBeUndefined();
    expect(covering(150, 0xfffffff0, 8, 1e9 + 1)).toBeUndefined();
    expect(covering(150, 0xfffffff0, 8, 1e9 - 2e9)).toBeUndefined();
    // An IP ID the segment's pieces cannot have (a later send numbered after the whole).
    expect(covering(99, 0xfffffff0, 8, 1e9 - 1000)).toBeUndefined();
    expect(covering(100 + 1448, 0xfffffff0, 8, 1e9 - 1000)).toBeUndefined();
  });
});
