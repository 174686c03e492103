/**
 * verify on the conformant capture sets of the reference director (fixtures/replay/*-linux;
 * README there). The director does what lvs-behavior.md says, so verify must report no error:
 *  - a fragmented request is reassembled before IPVS and forwarded as one packet (§1.6);
 *  - an ACK of no connection is not scheduled and goes to the director's stack, which answers
 *    RST (§1.7);
 *  - TTL 1 is answered with ICMP time-exceeded (§1.2 step 3, R1), a 1500-byte DF packet in TUN
 *    with ICMP frag-needed, MTU 1480 (§1.2 step 5, R8).
 * The negative cases take the director's answer out of the capture (tshark, an independent
 * tool) and expect flow.not-forwarded for exactly that packet: the exceptions hinge on the
 * evidence, not on the packet's shape.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseServiceConfig } from '../../src/verify/service/index.js';
import { verify } from '../../src/verify/verify.js';
import type { VerifyResult } from '../../src/verify/model/result.js';
import { repoRoot } from './fixture-util.js';

const replayDir = path.join(repoRoot, 'fixtures', 'replay');
const need = (cond: boolean, reason: string): boolean => {
  if (!cond && process.env.CI === 'true') throw new Error(reason);
  return cond;
};
const hasTshark = ((): boolean => {
  try {
    execFileSync('tshark', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

type Capture = 'client' | 'director' | 'rs1' | 'rs2';

async function run(set: string, replaced: Partial<Record<Capture, string>> = {}): Promise<VerifyResult> {
  const dir = path.join(replayDir, set);
  const conf = path.join(dir, 'service.conf');
  const file = (c: Capture): string => replaced[c] ?? path.join(dir, `${c}.pcap`);
  return verify({
    services: parseServiceConfig(readFileSync(conf, 'utf8'), conf),
    points: [
      { kind: 'client', files: [file('client')] },
      { kind: 'director', files: [file('director')] },
      { kind: 'rs', files: [file('rs1')] },
      { kind: 'rs', files: [file('rs2')] },
    ],
    profile: 'linux',
  });
}

const errors = (r: VerifyResult): string[] => r.findings.filter((f) => f.severity === 'error').map((f) => `${f.rule}: ${f.message}`);
const tally = (r: VerifyResult, id: string) => r.rules.find((x) => x.rule === id);

/** tshark's view of the director capture: frame numbers of packets matching a display filter. */
function frames(file: string, filter: string): number[] {
  const out = execFileSync('tshark', ['-r', file, '-Y', filter, '-T', 'fields', '-e', 'frame.number'], { encoding: 'utf8' });
  return out.split('\n').filter(Boolean).map(Number);
}

const tmp = mkdtempSync(path.join(os.tmpdir(), 'lvsaudit-replay-conf-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

let copies = 0;
/** A capture of the set without the frames tshark's filter selects. */
function without(set: string, capture: Capture, filter: string): string {
  const out = path.join(tmp, `${set}-${capture}-${++copies}.pcap`);
  execFileSync('tshark', ['-r', path.join(replayDir, set, `${capture}.pcap`), '-Y', `not (${filter})`, '-w', out, '-F', 'pcap'], { stdio: 'ignore' });
  return out;
}

describe('verify: the reference director behaving as specified yields no error', () => {
  for (const set of ['nat-linux', 'dr-linux', 'tun-linux']) {
    it(`${set}: verdict pass, flow.not-forwarded checked and clean`, async () => {
      const r = await run(set);
      expect(errors(r)).toEqual([]);
      expect(r.verdict).toBe('pass');
      const nf = tally(r, 'flow.not-forwarded');
      expect(nf?.status).toBe('pass');
      expect(nf?.checked).toBeGreaterThan(90);
    });
  }
});

describe.skipIf(!need(hasTshark, 'tshark not installed'))('verify: the exceptions need the director\'s evidence', () => {
  it('tun-linux: without the ICMP frag-needed, the 1500-byte DF packet is not-forwarded', async () => {
    const file = path.join(replayDir, 'tun-linux', 'director.pcap');
    // The client's packet as it enters the director (not the tunnelled copy, whose inner header matches too).
    const oversize = frames(file, 'eth.dst == 02:00:00:00:0d:01 && ip.flags.df == 1 && ip.len == 1500 && ip.dst == 192.0.2.10 && !icmp');
    expect(oversize).toHaveLength(1);
    // The ICMP error is evidence wherever it is seen (director or client capture): remove both.
    const icmp = 'icmp.type == 3 && icmp.code == 4';
    const r = await run('tun-linux', { director: without('tun-linux', 'director', icmp), client: without('tun-linux', 'client', icmp) });
    const nf = r.findings.filter((f) => f.rule === 'flow.not-forwarded');
    expect(nf).toHaveLength(1);
    expect(nf[0]!.evidence.some((e) => e.point === 'director' && e.frame === oversize[0])).toBe(true);
  });

  for (const set of ['nat-linux', 'tun-linux']) {
    it(`${set}: without the reassembled forwarded copy, the fragmented request is not-forwarded`, async () => {
      const file = path.join(replayDir, set, 'director.pcap');
      // The first fragment of the client's request at the director (MF set, offset 0).
      const first = frames(file, 'ip.flags.mf == 1 && ip.frag_offset == 0 && ip.dst == 192.0.2.10');
      expect(first).toHaveLength(1);
      const id = execFileSync('tshark', ['-r', file, '-Y', `frame.number == ${first[0]}`, '-T', 'fields', '-e', 'ip.id'], { encoding: 'utf8' }).trim();
      // Its reassembled copy leaves the director with the same IP ID and no fragment flags
      // (TUN: as the inner header of an IPIP packet, so match any IP header carrying the ID), and
      // arrives at a real server: take it out of every capture but the client's.
      const filter = `ip.id == ${id} && ip.flags.mf == 0 && ip.frag_offset == 0 && eth.src == 02:00:00:00:0d:0${set === 'nat-linux' ? 2 : 1}`;
      expect(frames(file, filter).length).toBeGreaterThan(0);
      // And the server's answers to that connection: its acknowledgement of the request would
      // prove the request got through whatever the captures show of it.
      const cport = execFileSync('tshark', ['-r', file, '-o', 'ip.defragment:FALSE', '-Y', `frame.number == ${first[0]}`, '-T', 'fields', '-e', 'tcp.srcport'], { encoding: 'utf8' }).trim();
      expect(cport).toMatch(/^\d+$/);
      const answers = `tcp.dstport == ${cport} && tcp.srcport == 80`;
      const director = without(set, 'director', `(${filter}) || (${answers})`);
      const r = await run(set, { client: without(set, 'client', answers), director, rs1: without(set, 'rs1', filter), rs2: without(set, 'rs2', filter) });
      // Frames were taken out before it: its number in the file verify read.
      const firstNow = frames(director, 'ip.flags.mf == 1 && ip.frag_offset == 0 && ip.dst == 192.0.2.10');
      expect(firstNow).toHaveLength(1);
      const nf = r.findings.filter((f) => f.rule === 'flow.not-forwarded');
      expect(nf.some((f) => f.evidence.some((e) => e.point === 'director' && e.frame === firstNow[0]))).toBe(true);
    });
  }
});
