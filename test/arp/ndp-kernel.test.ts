/**
 * IPv6 neighbor discovery from real kernels in network namespaces (ndp-kernel.ts): whether a real
 * server advertises the VIP is the kernel's ndisc deciding, not anything we wrote.
 *
 *   correct      → no error; director and both real servers inferred from the client capture
 *   vip-on-eth0  → rs1 holds the VIP on its service interface and answers the client's
 *                  neighbor solicitation beside the director: arp.vip-answered-by-rs naming rs1
 *                  and arp.vip-conflict, from the client capture alone
 *
 * With LVSAUDIT_WRITE_FIXTURES=1 the captures are copied to fixtures/arp/kernel-ipv6/<scenario>/.
 */
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { labUnavailableReason } from '../../src/lab/netns.js';
import { hasCommand, need } from '../helpers/env.js';
import { arpOnClient, expectNdpCorrect, expectNdpVipOnEth0, ndpFixtureDir } from './ndp-expect.js';
import { NDP_POINTS, runNdpScenario, type NdpScenario } from './ndp-kernel.js';

const labReason = labUnavailableReason();
const canRun =
  need(labReason === null, labReason ?? '') &&
  need(hasCommand('nft'), 'nftables (nft) not installed') &&
  need(hasCommand('tcpdump'), 'tcpdump not installed') &&
  need(hasCommand('sysctl'), 'sysctl (procps) not installed');
const work = mkdtempSync(path.join(tmpdir(), 'lvsa-ndp-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

async function scenario(name: NdpScenario) {
  const run = await runNdpScenario(name, path.join(work, name));
  if (process.env.LVSAUDIT_WRITE_FIXTURES === '1') {
    const dir = ndpFixtureDir(name);
    mkdirSync(dir, { recursive: true });
    for (const p of NDP_POINTS) copyFileSync(run.captures[p], path.join(dir, `${p}.pcap`));
  }
  return run;
}

describe.skipIf(!canRun)('IPv6 neighbor discovery with real kernels (netns)', () => {
  it('correct: every connection served, no error from the client capture', async () => {
    const run = await scenario('correct');
    expect(run.served.filter((l) => /served by rs[12]$/.test(l))).toHaveLength(run.served.length);
    expectNdpCorrect(await arpOnClient(run.captures.client));
  }, 60_000);

  it('vip-on-eth0: rs1 advertises the VIP; the client capture alone names it', async () => {
    const run = await scenario('vip-on-eth0');
    expectNdpVipOnEth0(await arpOnClient(run.captures.client));
  }, 60_000);
});
