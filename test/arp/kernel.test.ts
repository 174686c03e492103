/**
 * Real Linux kernels in network namespaces (src/lab DR scenarios): the ARP behaviour comes from
 * the kernel's own arp_ignore / arp_announce handling, not from anything we wrote. For each
 * scenario the offline engine runs over the captures of every point, and the live probe runs
 * from the router's namespace on its LAN leg while the topology is up.
 *
 *   arp-correct   → no ARP finding; the probe lists exactly the director
 *   arp-ignore0   → arp.vip-answered-by-rs naming rs1; the probe lists two MACs
 *   arp-announce0 → arp.vip-announced-by-rs and arp.client-poisoned naming rs1
 *
 * With LVSAUDIT_WRITE_FIXTURES=1 the captures are copied to fixtures/arp/kernel/<scenario>/
 * (kernel-fixtures.test.ts re-checks those copies without root).
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { labUnavailableReason } from '../../src/lab/netns.js';
import { ADDR, MAC, runScenario, type ScenarioResult } from '../../src/lab/scenarios.js';
import type { ArpProbeResult } from '../../src/live/arp-probe.js';
import { capLoads, hasCommand, need, repoRoot } from '../helpers/env.js';
import { analyzeKernel, expectAnnounce0, expectCorrect, expectIgnore0, KERNEL_POINTS, kernelFixtureDir, type KernelPoint } from './kernel-expect.js';

const labReason = labUnavailableReason();
// The DR scenarios build their director with nftables, set sysctls in every namespace and
// capture with tcpdump; the live probe sends and captures through the optional `cap` binding.
const canRun =
  need(labReason === null, labReason ?? '') &&
  need(hasCommand('nft'), 'nftables (nft) not installed') &&
  need(hasCommand('tcpdump'), 'tcpdump not installed') &&
  need(hasCommand('sysctl'), 'sysctl (procps) not installed') &&
  need(capLoads(), "optional module 'cap' does not load (the live ARP probe needs it)");
const work = mkdtempSync(path.join(tmpdir(), 'lvsa-arp-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** Runs the probe in the router namespace (synchronously: onStage is not awaited). */
function probeFromRouter(ns: string, directorMac?: string): ArpProbeResult {
  const viteNode = path.join(repoRoot, 'node_modules', '.bin', 'vite-node');
  const args = ['netns', 'exec', ns, viteNode, path.join(repoRoot, 'test', 'arp', 'probe-runner.ts'), '--', 'eth1', ADDR.drVip, '3'];
  if (directorMac) args.push(directorMac);
  const out = execFileSync('ip', args, { cwd: repoRoot, encoding: 'utf8', timeout: 60_000 });
  return JSON.parse(out) as ArpProbeResult;
}

async function scenario(name: string, directorMac?: string): Promise<{ r: ScenarioResult; files: Record<KernelPoint, string>; probe: ArpProbeResult }> {
  let probe: ArpProbeResult | undefined;
  const r = await runScenario(name, path.join(work, name), {
    onStage: (stage, lab) => {
      // After the client traffic, while every capture still runs: the probe's own ARP lands
      // at the end of the captures and cannot change what the traffic already taught.
      if (stage !== 'traffic') return;
      const router = lab.allNamespaces.find((n) => n.role === 'router');
      if (!router) throw new Error('no router namespace in the DR scenario');
      probe = probeFromRouter(router.name, directorMac);
    },
  });
  if (!probe) throw new Error('the probe did not run');
  const files = Object.fromEntries(KERNEL_POINTS.map((p) => [p, r.captures[p]!])) as Record<KernelPoint, string>;
  if (process.env.LVSAUDIT_WRITE_FIXTURES === '1') {
    const dir = kernelFixtureDir(name);
    mkdirSync(dir, { recursive: true });
    for (const point of KERNEL_POINTS) copyFileSync(files[point], path.join(dir, `${point}.pcap`));
    copyFileSync(r.service, path.join(dir, 'service.conf'));
  }
  return { r, files, probe };
}

describe.skipIf(!canRun)('ARP with real kernels (netns)', () => {
  it('arp-correct: no ARP finding; the live probe lists exactly the director', async () => {
    const { files, probe } = await scenario('arp-correct');
    expectCorrect(await analyzeKernel(files));
    expect(probe.answers.map((a) => a.mac)).toEqual([MAC.directorWan]);
    expect(probe.findings).toEqual([]);
  });

  it('arp-ignore0: arp.vip-answered-by-rs names rs1; the live probe lists two MACs', async () => {
    const { files, probe } = await scenario('arp-ignore0', MAC.directorWan);
    expectIgnore0(await analyzeKernel(files));
    expect(probe.answers.map((a) => a.mac).sort()).toEqual([MAC.directorWan, MAC.rs1].sort());
    expect(probe.answers.find((a) => a.mac === MAC.rs1)!.isDirector).toBe(false);
    expect(probe.findings.map((x) => x.rule)).toEqual(['arp.vip-answered-by-rs']);
    expect(probe.findings[0]!.message).toContain(MAC.rs1);
  });

  it('arp-announce0: arp.vip-announced-by-rs and arp.client-poisoned name rs1', async () => {
    const { files } = await scenario('arp-announce0');
    expectAnnounce0(await analyzeKernel(files));
  });
});
