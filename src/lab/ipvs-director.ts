/**
 * The ipvs director kind: the kernel's own ip_vs, configured with `ipvsadm -R`, in the shared
 * lab sequence (sequence.ts). Runs where the kernel has IPVS — in practice inside the lab VM
 * (src/lab/vm/), whose guest runner opens one LabSession per mode and runs its cases in it.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { LabFamily, LabMode } from './plan.js';
import { RS_FAULTS, parseLabFaults } from './faults.js';
import { caseServiceConfig, labCase, type DirectorDriver, type LabCase } from './sequence.js';
import type { Lab, Namespace } from './topology.js';
import { parseServiceConfig, toIpvsadmSave } from '../verify/service/index.js';

/** A case with the lab's defaults for the ipvs director (profile linux). `faults` are `--fault` words. */
export function ipvsCase(mode: LabMode, scheduler = 'rr', faults: readonly string[] = [], connections?: number, family: LabFamily = 4): LabCase {
  return labCase(mode, { scheduler, faults: parseLabFaults('ipvs', mode, faults), profile: 'linux', family, ...(connections !== undefined ? { connections } : {}) });
}

export interface ExpectedOutcome {
  verdict: 'pass' | 'fail';
  /** Error rules a correct checker must report (others may appear, e.g. consequences of a race). */
  rules: readonly string[];
}

/**
 * What verify (profile linux) must conclude for a case run through real IPVS. With
 * arp_announce=0 the router (locktime 0) maps the VIP to the real server at once, so the
 * poisoning and the bypass are certain there, unlike with arp_ignore=0 where they are a race.
 */
export function expectedFor(c: LabCase): ExpectedOutcome {
  if (c.faults.rs.length === 0 && c.faults.director.length === 0) return { verdict: 'pass', rules: [] };
  const rules = new Set<string>();
  for (const f of c.faults.rs) {
    for (const r of RS_FAULTS[f.kind].rules) rules.add(r);
    if (f.kind === 'arp_announce=0') for (const r of ['arp.client-poisoned', 'flow.bypassed-director']) rules.add(r);
  }
  return { verdict: 'fail', rules: [...rules] };
}

/**
 * The kernel's scheduling decisions from `ipvsadm -Lnc`: client port -> `RIP:port`, for the
 * client ports [basePort, basePort+count) of `client`. Entries look like
 * `TCP 01:57  TIME_WAIT   172.16.0.2:40100   172.16.0.100:80    10.0.0.11:80`, IPv6 addresses
 * in brackets (`[2001:db8:1::2]:40100`).
 */
export function kernelConnections(text: string, client: string, basePort: number, count: number): Record<number, string> {
  const out: Record<number, string> = {};
  for (const line of text.split('\n')) {
    const m = /^(TCP|UDP)\s+\S+\s+\S+\s+\[?([\d.a-fA-F:]+?)\]?:(\d+)\s+\S+\s+(\S+)/.exec(line.trim());
    if (!m || m[2] !== client) continue;
    const port = Number(m[3]);
    if (port >= basePort && port < basePort + count) out[port] = m[4]!;
  }
  return out;
}

/**
 * `ipvsadm -Ln --stats`, read once the counters have caught up: kernels with the estimator
 * kthread (6.x) fold the per-CPU counters into what ipvsadm reads only every 2 s.
 */
async function settledStats(lab: Lab, director: Namespace, expectedConns: number): Promise<string> {
  let text = '';
  for (let i = 0; i < 8; i++) {
    text = lab.exec(director, ['ipvsadm', '-L', '-n', '--stats']);
    const m = /^(TCP|UDP)\s+\S+\s+(\d+)/m.exec(text);
    if (m && Number(m[2]) >= expectedConns) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  return text;
}

/** IPVS facts of one case, as the guest writes them into case.json. */
export interface IpvsFacts {
  /** `ipvsadm -Sn` of the configured director (what the kernel accepted). */
  ipvsadmSave: string;
  /** `ipvsadm -Ln --stats` after the traffic. */
  ipvsadmStats: string;
  /** `ipvsadm -Ln` after the traffic. */
  ipvsadmList: string;
  /** `ipvsadm -Lnc`: the kernel's connection table (client port -> real server), all cases so far. */
  ipvsadmConns: string;
}

/** The kernel's IPVS in the shared lab sequence. */
export const ipvsDriver: DirectorDriver = {
  kind: 'ipvs',
  addressed: true,
  directorCapture: 'any',
  async configure(t, c) {
    const { lab, director } = t;
    const rules = toIpvsadmSave(parseServiceConfig(caseServiceConfig(c), `${c.id}/service.rules`), { mainline: true });
    // One shell in the director namespace (a spawn per command costs seconds under the VM's
    // emulated CPU): clear, restore the rules from stdin, save what the kernel accepted.
    const ipvsadmSave = lab.exec(director, ['sh', '-ec', 'ipvsadm -C; ipvsadm -R; ipvsadm -S -n'], { input: rules });
    return {
      async finish(dir, traffic) {
        const [ipvsadmConns = '', ipvsadmList = ''] = lab.exec(director, ['sh', '-ec', 'ipvsadm -L -n -c; echo @@; ipvsadm -L -n']).split('@@\n');
        const scheduled = Object.keys(kernelConnections(ipvsadmConns, t.addr.client, traffic.clientBasePort, traffic.connections)).length;
        const ipvsadmStats = await settledStats(lab, director, scheduled);
        writeFileSync(join(dir, 'ipvsadm-conns.txt'), ipvsadmConns);
        writeFileSync(join(dir, 'ipvsadm-stats.txt'), ipvsadmStats);
        writeFileSync(join(dir, 'ipvsadm-list.txt'), ipvsadmList);
        const facts: IpvsFacts = { ipvsadmSave, ipvsadmStats, ipvsadmList, ipvsadmConns };
        return { serviceConfig: ipvsadmSave, facts: { ...facts } };
      },
      async remove() {
        lab.exec(director, ['ipvsadm', '-C']);
      },
    };
  },
};
