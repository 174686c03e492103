/**
 * fnat.uoa-rejected on real captures (fixtures/lab/dpvs-udp-opp: DPVS with uoa_mode opp, real
 * servers without DPVS's uoa module, which answer each protocol-248 datagram with ICMP protocol
 * unreachable). The finding rests on those ICMP errors and on nothing else:
 * - every subset of the captures on the real-server leg that still holds a real server's error
 *   finds the datagram refused (the error reaches the real server's capture and the director's
 *   on that leg alike);
 * - with the errors taken out of every capture, the same datagrams pass.
 */
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { dropFrames, ipOffset, readPcap, writePcap, type PcapFile } from '../helpers/capture-transform.js';
import { pointsOf, verifyPoints } from '../helpers/verify-sets.js';
import { repoRoot } from '../helpers/env.js';
import { reportedRules } from '../../src/verify/report/rule-status.js';

const src = path.join(repoRoot, 'fixtures', 'lab', 'dpvs-udp-opp');
const tmp = mkdtempSync(path.join(os.tmpdir(), 'lvsaudit-uoa-rejected-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const FILES = ['client.pcap', 'director-eth0.pcap', 'director-eth1.pcap', 'rs1.pcap', 'rs2.pcap'];
/** Where a real server's ICMP error can be captured: its own interface, the director's toward it. */
const RS_LEG = ['director-eth1.pcap', 'rs1.pcap', 'rs2.pcap'];

function isIcmp(f: PcapFile, d: Buffer): boolean {
  const ip = ipOffset(f.linkType, d);
  return ip >= 0 && d[ip]! >> 4 === 4 && d[ip + 9] === 1;
}

let n = 0;
/** The set with the ICMP errors removed from the files `without`. */
function writeSet(without: readonly string[]): string {
  const dir = path.join(tmp, `set-${n++}`);
  mkdirSync(dir);
  for (const file of readdirSync(src)) {
    const bytes = readFileSync(path.join(src, file));
    if (!without.includes(file)) writeFileSync(path.join(dir, file), bytes);
    else {
      const f = readPcap(bytes);
      writeFileSync(path.join(dir, file), writePcap(dropFrames(f, (i) => isIcmp(f, f.packets[i]!.data))));
    }
  }
  return dir;
}

async function rejected(dir: string): Promise<{ status: string; failed: number }> {
  const r = await verifyPoints(dir, pointsOf(dir, FILES), 'dpvs');
  const t = reportedRules(r).find((x) => x.rule === 'fnat.uoa-rejected')!;
  return { status: t.status, failed: t.failed };
}

describe('fnat.uoa-rejected rests on the real servers\' ICMP errors', () => {
  it('the captures as taken: each of the 12 datagrams sent with UOA in protocol 248 was refused', async () => {
    expect(await rejected(src)).toEqual({ status: 'fail', failed: 12 });
  });

  it('any capture on the real-server leg that keeps an error finds the refusal', async () => {
    await fc.assert(
      fc.asyncProperty(fc.subarray(RS_LEG, { minLength: 0, maxLength: RS_LEG.length - 1 }), async (without) => {
        // The director's capture holds every error; a real server's only its own (each served
        // two of the four flows, 3 datagrams with UOA each).
        const r = await rejected(writeSet(without));
        const rsKept = ['rs1.pcap', 'rs2.pcap'].filter((f) => !without.includes(f)).length;
        expect(r.status).toBe('fail');
        expect(r.failed).toBe(without.includes('director-eth1.pcap') ? 6 * rsKept : 12);
      }),
      { numRuns: 6 },
    );
  });

  it('no error in any capture: the same datagrams are judged and pass', async () => {
    expect(await rejected(writeSet(RS_LEG))).toEqual({ status: 'pass', failed: 0 });
  });
});
