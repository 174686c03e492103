/**
 * The reference director kind (`lvsaudit lab run --director reference`): the userspace reference
 * director (src/replay/director, live mode through libpcap) runs as a child process inside the
 * director namespace of the shared lab (sequence.ts). The director namespace's kernel has no IP
 * address at all: every ARP answer and every forwarded frame comes from the userspace director,
 * so the captures show its behaviour and nothing else.
 */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { LabProcess } from './netns.js';
import type { ChildDirectorSpec } from './reference-director-child.js';
import { ADDR, MAC, REAL_SERVERS, twoArmed, type LabMode } from './plan.js';
import { parseLabFaults, type LabFaults } from './faults.js';
import { caseServiceConfig, labCase, labExitCode, runLabCase, type DirectorDriver, type LabCase, type LabCaseResult, type LabOffloads, type LabStage, type LabTopology } from './sequence.js';
import type { Lab, LabOptions } from './topology.js';
import type { DirectorProfile } from '../replay/director/types.js';
import { EnvironmentError, InputError } from '../errors.js';
import { distFile } from '../package-root.js';

/** InputError when the profile does not belong to the method (FullNAT: alibaba/dpvs; else linux*). */
export function checkProfile(mode: LabMode, profile: string): asserts profile is DirectorProfile {
  const fits = mode === 'fullnat' ? ['alibaba', 'dpvs'] : ['linux', 'linux-legacy'];
  if (!fits.includes(profile)) throw new InputError(`--profile ${profile} does not fit --mode ${mode} (${fits.join(' or ')})`);
}

export function defaultProfile(mode: LabMode): DirectorProfile {
  return mode === 'fullnat' ? 'alibaba' : 'linux';
}

/**
 * argv that runs the director child. From the built CLI (dist/*.js) it is a plain node script;
 * from the TypeScript sources (tests) vite-node runs the .ts file.
 */
export function directorChildArgv(): string[] {
  const here = fileURLToPath(import.meta.url);
  const dir = dirname(here);
  if (here.endsWith('.js')) return [process.execPath, distFile('lab', 'reference-director-child.js')];
  const viteNode = resolve(dir, '..', '..', 'node_modules', 'vite-node', 'vite-node.mjs');
  if (!existsSync(viteNode)) throw new EnvironmentError(`running the lab from TypeScript sources needs vite-node (${viteNode}); build with npm run build`);
  return [process.execPath, viteNode, join(dir, 'reference-director-child.ts'), '--'];
}

async function startDirector(t: LabTopology, c: LabCase): Promise<LabProcess> {
  const spec: ChildDirectorSpec = {
    clientIface: 'eth0',
    rsIface: twoArmed(t.mode) ? 'eth1' : 'eth0',
    serviceText: caseServiceConfig(c),
    config: {
      profile: c.profile,
      macs: {
        director: MAC.directorWan,
        ...(twoArmed(t.mode) ? { directorRs: MAC.directorLan } : {}),
        realServers: Object.fromEntries(REAL_SERVERS.map((r) => [r.rip, r.mac])),
      },
      directorIps: { dip: ADDR.dip },
      faults: c.faults.director,
      seed: 1,
    },
  };
  const p = t.lab.spawn(t.director, [...directorChildArgv(), JSON.stringify(spec)]);
  try {
    await p.waitForOutput(/^ready$/m, 30_000);
  } catch (e) {
    throw new EnvironmentError(`reference director did not start: ${(e as Error).message}`);
  }
  return p;
}

/** The reference director in the shared lab sequence. */
export const referenceDriver: DirectorDriver = {
  kind: 'reference',
  addressed: false,
  directorCapture: 'per-port',
  async configure(t, c) {
    const p = await startDirector(t, c);
    return {
      async finish() {
        await p.stop('SIGTERM', 2000);
        const m = /^stats (.*)$/m.exec(p.stdout());
        const directorStats = m ? (JSON.parse(m[1]!) as { in: number; out: number }) : null;
        return { serviceConfig: caseServiceConfig(c), facts: { directorStats } };
      },
      async remove() {
        await p.stop('SIGTERM', 2000);
      },
    };
  },
};

export interface ReferenceLabOptions {
  mode: LabMode;
  /** Director and verify profile: nat/dr → linux (default), fullnat → alibaba (default) or dpvs. */
  profile?: DirectorProfile;
  faults?: LabFaults;
  outDir: string;
  /** Run verify on the captures (default false). */
  verify?: boolean;
  /** Client connections (default 4: two per real server with round robin). */
  connections?: number;
  /** FullNAT: seconds of persistence (sequence.ts labCase; 0: not persistent, one client address). */
  persistence?: number;
  /** Per-connection client timeout (default 1500 ms). */
  timeoutMs?: number;
  lab?: LabOptions;
  onStage?: (stage: LabStage, lab: Lab) => void;
  /** NIC offloads of the lab (default off; sequence.ts offloadPlan). */
  offloads?: LabOffloads;
}

export interface ReferenceLabResult extends LabCaseResult {
  /** Frames the userspace director took in / sent. */
  directorStats: { in: number; out: number } | null;
  /** cli.md exit code of the verify step: 0 no error finding, 1 an error finding (0 without --verify). */
  exitCode: number;
}

/** The reference case of a mode, profile and faults (`--fault` words, checked). */
export function referenceCase(mode: LabMode, o: { profile?: string; faults?: readonly string[] | LabFaults; connections?: number; persistence?: number } = {}): LabCase {
  const profile = o.profile ?? defaultProfile(mode);
  checkProfile(mode, profile);
  const faults = o.faults === undefined ? undefined : Array.isArray(o.faults) ? parseLabFaults('reference', mode, o.faults as readonly string[]) : (o.faults as LabFaults);
  return labCase(mode, {
    profile,
    ...(faults ? { faults } : {}),
    ...(o.connections !== undefined ? { connections: o.connections } : {}),
    ...(o.persistence !== undefined ? { persistence: o.persistence } : {}),
  });
}

/** Run one reference case through the shared sequence (the lab is always destroyed). */
export async function runReferenceLab(o: ReferenceLabOptions): Promise<ReferenceLabResult> {
  const c = referenceCase(o.mode, {
    ...(o.profile !== undefined ? { profile: o.profile } : {}),
    ...(o.faults !== undefined ? { faults: o.faults } : {}),
    ...(o.connections !== undefined ? { connections: o.connections } : {}),
    ...(o.persistence !== undefined ? { persistence: o.persistence } : {}),
  });
  const r = await runLabCase(referenceDriver, c, o.outDir, {
    verify: o.verify === true,
    ...(o.lab !== undefined ? { lab: o.lab } : {}),
    ...(o.timeoutMs !== undefined ? { timeoutMs: o.timeoutMs } : {}),
    ...(o.onStage !== undefined ? { onStage: o.onStage } : {}),
    ...(o.offloads !== undefined ? { offloads: o.offloads } : {}),
  });
  const directorStats = (r.facts.directorStats as { in: number; out: number } | null | undefined) ?? null;
  return { ...r, directorStats, exitCode: labExitCode([r]) };
}
