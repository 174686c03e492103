/**
 * The captures kept from the real-kernel run (fixtures/arp/kernel/<scenario>/, written by
 * kernel.test.ts with LVSAUDIT_WRITE_FIXTURES=1) must keep giving the same conclusions.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'vitest';
import { analyzeKernel, expectAnnounce0, expectCorrect, expectIgnore0, KERNEL_POINTS, kernelFixtureDir, type KernelPoint } from './kernel-expect.js';

const files = (scenario: string): Record<KernelPoint, string> =>
  Object.fromEntries(KERNEL_POINTS.map((p) => [p, path.join(kernelFixtureDir(scenario), `${p}.pcap`)])) as Record<KernelPoint, string>;

describe('ARP: captures kept from real kernels', () => {
  it('fixtures are present', () => {
    for (const s of ['arp-correct', 'arp-ignore0', 'arp-announce0']) {
      for (const f of Object.values(files(s))) if (!existsSync(f)) throw new Error(`missing ${f}`);
    }
  });
  it('arp-correct: no ARP finding', async () => expectCorrect(await analyzeKernel(files('arp-correct'))));
  it('arp-ignore0: vip-answered-by-rs names rs1', async () => expectIgnore0(await analyzeKernel(files('arp-ignore0'))));
  it('arp-announce0: vip-announced-by-rs and client-poisoned name rs1', async () => expectAnnounce0(await analyzeKernel(files('arp-announce0'))));
});
