/**
 * What the IPv6 DR segment of ndp-kernel.ts must show from the client's capture alone (only the
 * VIP given), shared by ndp-kernel.test.ts (runs the kernels now) and ndp-fixtures.test.ts
 * (re-reads the captures kept from such a run).
 */
import path from 'node:path';
import { expect } from 'vitest';
import type { ArpReport } from '../../src/verify/arp/index.js';
import { repoRoot } from '../helpers/env.js';
import { runArpCli } from './cli-harness.js';
import { V6, V6_MAC } from './ndp-kernel.js';

export const ndpFixtureDir = (scenario: string): string => path.join(repoRoot, 'fixtures', 'arp', 'kernel-ipv6', scenario);

export async function arpOnClient(file: string): Promise<{ code: number; r: ArpReport; text: string }> {
  const json = await runArpCli(['--vip', V6.vip, '--format', 'json', file]);
  const text = await runArpCli(['--vip', V6.vip, file]);
  expect(text.code).toBe(json.code);
  return { code: json.code, r: JSON.parse(json.out) as ArpReport, text: text.out };
}

const errorRules = (r: ArpReport): string[] => [...new Set(r.findings.filter((f) => f.severity === 'error').map((f) => f.rule))].sort();

export function expectNdpCorrect(run: { code: number; r: ArpReport }): void {
  expect(errorRules(run.r)).toEqual([]);
  expect(run.code).toBe(0);
  expect(run.r.stats.ndpPackets).toBeGreaterThan(0);
  expect(run.r.directors[0]).toMatchObject({ vip: V6.vip, macs: [V6_MAC.director], method: 'not-the-server' });
  const roles = Object.fromEntries(run.r.roles.map((x) => [x.mac, x.role]));
  expect(roles).toEqual({ [V6_MAC.director]: 'director', [V6_MAC.rs1]: 'real-server', [V6_MAC.rs2]: 'real-server' });
}

export function expectNdpVipOnEth0(run: { code: number; r: ArpReport; text: string }): void {
  expect(run.code).toBe(1);
  expect(errorRules(run.r)).toEqual(expect.arrayContaining(['arp.vip-answered-by-rs', 'arp.vip-conflict']));
  const answered = run.r.findings.find((f) => f.rule === 'arp.vip-answered-by-rs')!;
  expect(answered.message).toContain(`real server ${V6_MAC.rs1}`);
  expect(answered.message).toContain(`answered neighbor solicitations for ${V6.vip}`);
  expect(answered.hint).toContain(`ip -6 addr add ${V6.vip}/128 dev lo`);
  const conflict = run.r.findings.find((f) => f.rule === 'arp.vip-conflict')!;
  expect(conflict.message).toContain('solicitation answered by more than one MAC');
  expect(conflict.message).toContain(V6_MAC.rs1);
  expect(conflict.message).toContain(`director ${V6_MAC.director}`);
  expect(run.r.directors[0]!.macs).toEqual([V6_MAC.director]);
  expect(run.text).toContain('neighbor discovery');
}
