/**
 * What the real-kernel DR scenarios must show, shared by kernel.test.ts (runs the kernels now)
 * and kernel-fixtures.test.ts (re-reads the captures kept from such a run, no root needed).
 */
import path from 'node:path';
import { expect } from 'vitest';
import { ADDR, MAC } from '../../src/lab/scenarios.js';
import type { ArpReport } from '../../src/verify/arp/index.js';
import { fixtureDir } from './fixture-gen.js';
import { analyze, only } from './helpers.js';

/** Capture points of the DR lab scenarios that the ARP tests read (see src/lab/scenarios.ts). */
export const KERNEL_POINTS = ['client', 'router', 'director', 'rs1', 'rs2'] as const;
export type KernelPoint = (typeof KERNEL_POINTS)[number];

/** Evidence point names: rs captures are named rs:RIP as verify names them (that also tells the
 *  engine which MAC owns the RIP). */
export const POINT_NAME: Record<KernelPoint, string> = {
  client: 'client',
  router: 'router',
  director: 'director',
  rs1: `rs:${ADDR.rip1}`,
  rs2: `rs:${ADDR.rip2}`,
};

export const kernelFixtureDir = (scenario: string): string => path.join(fixtureDir, 'kernel', scenario);

/** The offline engine over every point, VIP and RIPs as the service config gives them; the
 *  director is NOT given: it must be inferred. */
export function analyzeKernel(files: Record<KernelPoint, string>): Promise<ArpReport> {
  return analyze(
    KERNEL_POINTS.map((p): [string, string] => [files[p], POINT_NAME[p]]),
    { vips: [ADDR.drVip], realServers: [ADDR.rip1, ADDR.rip2] },
  );
}

const RS1 = `real server ${ADDR.rip1} (${MAC.rs1})`;

export function expectCorrect(r: ArpReport): void {
  expect(r.directors.map((d) => [d.macs, d.method])).toEqual([[[MAC.directorWan], 'director-capture']]);
  expect(r.findings.filter((f) => f.severity !== 'info')).toEqual([]);
  expect(r.notEvaluated).toEqual([]);
}

export function expectIgnore0(r: ArpReport): void {
  expect(r.directors.map((d) => d.macs)).toEqual([[MAC.directorWan]]);
  const f = only(r, 'arp.vip-answered-by-rs');
  expect(f).toHaveLength(1);
  expect(f[0]!.message).toContain(`${RS1} answered who-has ${ADDR.drVip}`);
  expect(f[0]!.hint).toContain('net.ipv4.conf.all.arp_ignore=1');
  expect(f[0]!.hint).toContain(ADDR.rip1);
  // only rs1 is faulty
  expect(r.findings.filter((x) => x.severity === 'error').every((x) => x.message.includes(MAC.rs1))).toBe(true);
}

export function expectAnnounce0(r: ArpReport): void {
  expect(r.directors.map((d) => d.macs)).toEqual([[MAC.directorWan]]);
  const ann = only(r, 'arp.vip-announced-by-rs');
  expect(ann).toHaveLength(1);
  expect(ann[0]!.message).toContain(`${RS1} sent who-has ${ADDR.routerLan} with sender address ${ADDR.drVip}`);
  expect(ann[0]!.hint).toContain('net.ipv4.conf.all.arp_announce=2');
  const poisoned = only(r, 'arp.client-poisoned');
  expect(poisoned).toHaveLength(1);
  const p = poisoned[0]!;
  expect(p.message).toContain(`router ${ADDR.routerLan} (${MAC.routerLan}) forwarding for ${ADDR.client} sends traffic for ${ADDR.drVip} to ${RS1}, not to the director`);
  expect(p.message).toMatch(/in [1-9]\d* connections? bypassed the director/);
  // the first evidence is the poisoning ARP request: rs1's who-has router tell VIP
  expect(p.evidence[0]!.note).toContain(`ARP request that taught ${ADDR.drVip} → ${MAC.rs1}`);
  expect(ann[0]!.evidence.some((e) => e.capture === p.evidence[0]!.capture && e.frame === p.evidence[0]!.frame)).toBe(true);
}
