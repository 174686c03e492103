/**
 * Roles from the traffic, on the one capture an engineer usually has: the router's (it is the
 * client of the DR segment; the client behind it sees no ARP for the VIP). Real kernels made
 * these captures (fixtures/arp/kernel: the netns lab; fixtures/offload: also Debian's IPVS under
 * QEMU). Only the VIP is given: no director MAC, no configuration.
 *
 * Metamorphic: a production capture misses frames. Whatever non-ARP frames are dropped, a
 * real server answering who-has VIP is still a conflict, and the director is never blamed; on a
 * healthy segment no subset of frames, ARP included, makes an error.
 */
import { gunzipSync } from 'node:zlib';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { ADDR, MAC } from '../../src/lab/scenarios.js';
import type { ArpReport } from '../../src/verify/arp/index.js';
import { dropFrames, readPcap, writePcap, type PcapFile } from '../helpers/capture-transform.js';
import { repoRoot } from '../helpers/env.js';
import { runArpCli } from './cli-harness.js';

const work = mkdtempSync(path.join(tmpdir(), 'lvsa-roles-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const kernel = (scenario: string): string => path.join(repoRoot, 'fixtures', 'arp', 'kernel', scenario, 'router.pcap');
const offload = (set: string): string => path.join(repoRoot, 'fixtures', 'offload', set, 'router.pcap.gz');

async function arpJson(file: string): Promise<{ code: number; r: ArpReport }> {
  const run = await runArpCli(['--vip', ADDR.drVip, '--format', 'json', file]);
  return { code: run.code, r: JSON.parse(run.out) as ArpReport };
}

const errors = (r: ArpReport): string[] => [...new Set(r.findings.filter((f) => f.severity === 'error').map((f) => f.rule))].sort();

describe('roles inferred from one router capture, only --vip given', () => {
  for (const [label, file] of [
    ['netns lab', kernel('arp-ignore0')],
    ['IPVS kernel, offloads on', offload('ipvs-dr-rs1-arp_ignore0')],
    ['nftables director, offloads on', offload('nftables-dr-rs1-arp_ignore0')],
  ] as const) {
    it(`arp_ignore=0 (${label}): exit 1, rs1 named as the real server answering who-has VIP, the director inferred`, async () => {
      const { code, r } = await arpJson(file);
      expect(code).toBe(1);
      expect(errors(r)).toEqual(expect.arrayContaining(['arp.vip-answered-by-rs', 'arp.vip-conflict']));
      const answered = r.findings.find((f) => f.rule === 'arp.vip-answered-by-rs')!;
      expect(answered.message).toContain(`real server ${MAC.rs1}`);
      expect(answered.hint).toContain('arp_ignore=1');
      expect(r.directors[0]).toMatchObject({ macs: [MAC.directorWan], method: 'not-the-server' });
      const rs1 = r.roles.find((x) => x.mac === MAC.rs1)!;
      expect(rs1).toMatchObject({ role: 'real-server', how: 'inferred', confidence: 'likely' });
      expect(rs1.evidence[0]!.frame).toBeGreaterThan(0);
      const conflict = r.findings.find((f) => f.rule === 'arp.vip-conflict')!;
      expect(conflict.message).toContain(MAC.rs1);
      expect(conflict.message).toContain(`director ${MAC.directorWan}`);
    });
  }

  it('arp_announce=0: exit 1, rs1 named as announcing the VIP, the router named as poisoned', async () => {
    const { code, r } = await arpJson(kernel('arp-announce0'));
    expect(code).toBe(1);
    expect(errors(r)).toEqual(expect.arrayContaining(['arp.vip-announced-by-rs', 'arp.client-poisoned']));
    expect(r.findings.find((f) => f.rule === 'arp.vip-announced-by-rs')!.hint).toContain('arp_announce=2');
    expect(r.findings.find((f) => f.rule === 'arp.client-poisoned')!.message).toContain(`router ${ADDR.routerLan}`);
  });

  it('healthy: pass; director, both real servers and the router each found, with the frames that show it', async () => {
    const { code, r } = await arpJson(kernel('arp-correct'));
    expect(code).toBe(0);
    const roles = Object.fromEntries(r.roles.map((x) => [x.mac, x.role]));
    expect(roles).toMatchObject({ [MAC.directorWan]: 'director', [MAC.rs1]: 'real-server', [MAC.rs2]: 'real-server' });
    expect(r.roles.filter((x) => x.role === 'router').map((x) => x.ips)).toEqual([[ADDR.routerLan]]);
  });

  it('--director-mac still overrides the inference', async () => {
    const run = await runArpCli(['--vip', ADDR.drVip, '--director-mac', MAC.rs1, '--format', 'json', kernel('arp-correct')]);
    const r = JSON.parse(run.out) as ArpReport;
    expect(r.directors[0]).toMatchObject({ macs: [MAC.rs1], method: 'given' });
  });

  it('a capture behind the router (no ARP for the VIP) does not name its gateway the director', async () => {
    const { r } = await arpJson(path.join(repoRoot, 'fixtures', 'arp', 'kernel', 'arp-correct', 'client.pcap'));
    expect(r.directors[0]!.method).toBe('none');
    expect(r.directors[0]!.reason).toContain('never claims it in ARP');
    expect(r.roles).toEqual([]);
  });
});

function load(file: string): PcapFile {
  const bytes = readFileSync(file);
  return readPcap(file.endsWith('.gz') ? gunzipSync(bytes) : bytes);
}

/** EtherType of an untagged Ethernet frame (the lab's captures are untagged). */
const etherType = (d: Buffer): number => d.readUInt16BE(12);

describe('metamorphic: frames missing', () => {
  const poisoned = load(offload('ipvs-dr-rs1-arp_ignore0'));
  const healthy = load(kernel('arp-correct'));
  let n = 0;
  const write = (f: PcapFile): string => {
    const file = path.join(work, `t${n++}.pcap`);
    writeFileSync(file, writePcap(f));
    return file;
  };

  it('poisoned: any non-ARP frames dropped → still a conflict, rs1 blamed whenever its replies remain, the director never', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.boolean(), { minLength: poisoned.packets.length, maxLength: poisoned.packets.length }), async (keep) => {
        const t = dropFrames(poisoned, (i) => etherType(poisoned.packets[i]!.data) !== 0x0806 && !keep[i]);
        const { code, r } = await arpJson(write(t));
        expect(code).toBe(1);
        expect(errors(r)).toContain('arp.vip-conflict');
        for (const f of r.findings.filter((x) => x.severity === 'error' && x.rule !== 'arp.vip-conflict')) {
          expect(f.message).not.toContain(`real server ${MAC.directorWan}`);
          expect(f.message).not.toContain(`host ${MAC.directorWan}`);
        }
        // rs1's replies from the VIP: the frames after the ARP exchange that rs1's MAC sent.
        const rs1Sent = t.packets.some((p) => etherType(p.data) === 0x0800 && p.data.subarray(6, 12).equals(Buffer.from(MAC.rs1.split(':').map((h) => parseInt(h, 16)))));
        if (rs1Sent) expect(errors(r)).toContain('arp.vip-answered-by-rs');
      }),
      { numRuns: 25 },
    );
  });

  it('healthy: any frames dropped, ARP included → never an error', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.boolean(), { minLength: healthy.packets.length, maxLength: healthy.packets.length }), async (keep) => {
        const { code, r } = await arpJson(write(dropFrames(healthy, (i) => !keep[i])));
        expect(errors(r)).toEqual([]);
        expect(code).toBe(0);
      }),
      { numRuns: 25 },
    );
  });
});
