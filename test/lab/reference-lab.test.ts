/**
 * Reference lab lifecycle and behaviour: a run through the userspace reference director leaves no
 * namespace, host link or process behind — after a normal run, after a run that fails midway
 * (an error thrown once the director and captures are running), and after Ctrl-C (SIGINT) of the
 * `lvsaudit lab run` process. Also: the real Linux servers answered through the director, the
 * captures exist at every point, service.conf is written. Faults parsing is checked without root.
 * Needs root, ip netns, tcpdump and the `cap` module: skips with a reason, fails under CI=true.
 */
import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runReferenceLab } from '../../src/lab/reference-lab.js';
import { parseLabFaults } from '../../src/lab/faults.js';
import { serviceConfig } from '../../src/lab/plan.js';
import { listHostLinks, listNamespaces, namespacePids } from '../../src/lab/netns.js';
import { parseServiceConfig } from '../../src/verify/service/index.js';
import { InputError } from '../../src/errors.js';
import { need, repoRoot } from '../helpers/env.js';
import { referenceLabReady, referenceLabReason } from '../helpers/lab.js';

const ready = referenceLabReady;
const reason = referenceLabReason;
const cli = join(repoRoot, 'bin', 'lvsaudit.js');
const built = existsSync(join(repoRoot, 'dist', 'lab', 'reference-director-child.js'));

const labNamespaces = (): string[] => listNamespaces().filter((n) => n.startsWith('lvsa-'));
/** A process that still runs: exists and is not a zombie (an exited child nobody reaped yet;
 *  in a container whose PID 1 does not reap, orphans stay zombies, which hold no resources). */
const alive = (pid: number): string | null => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    if (state === 'Z') return null;
    return `${pid} ${state} ${readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ').slice(0, 120)}`;
  } catch {
    return null;
  }
};
const running = (pids: Iterable<number>): string[] => [...pids].map(alive).filter((x): x is string => x !== null);
/**
 * The processes still running after up to `ms`. A SIGKILLed process finishes dying in the kernel
 * (state D while it closes its files or leaves a namespace being deleted) a moment after the
 * signal, so an immediate look can catch it on its way out.
 */
async function runningAfter(pids: Iterable<number>, ms = 3000): Promise<string[]> {
  const list = [...pids];
  const deadline = Date.now() + ms;
  let left = running(list);
  while (left.length > 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
    left = running(list);
  }
  return left;
}

describe('reference lab options (no root)', () => {
  it('splits director switches from rsN: faults and rejects faults for the wrong mode', () => {
    expect(parseLabFaults('reference', 'dr', ['no-ttl-decrement', 'rs2:arp_ignore=0,rs1:no-vip'])).toEqual({
      director: ['no-ttl-decrement'],
      rs: [
        { rs: 'rs2', kind: 'arp_ignore=0' },
        { rs: 'rs1', kind: 'no-vip' },
      ],
    });
    expect(() => parseLabFaults('reference', 'nat', ['rs2:arp_ignore=0'])).toThrow(InputError);
    expect(() => parseLabFaults('reference', 'dr', ['rs2:gateway-bypass'])).toThrow(InputError);
    expect(() => parseLabFaults('reference', 'nat', ['rs3:gateway-bypass'])).toThrow(InputError);
    expect(() => parseLabFaults('reference', 'nat', ['not-a-fault'])).toThrow(InputError);
  });
  it('writes service configs the service parser reads as the method asked for', () => {
    const methods = { nat: 'nat', dr: 'dr', fullnat: 'fullnat' } as const;
    for (const [mode, method] of Object.entries(methods)) {
      const set = parseServiceConfig(serviceConfig(mode as 'nat'), 'service.conf');
      expect(set.services).toHaveLength(1);
      expect(set.services[0]!.realServers.map((r) => r.method)).toEqual([method, method]);
    }
    expect(parseServiceConfig(serviceConfig('fullnat'), 's').services[0]!.localAddresses).toEqual(['10.0.1.1']);
  });
});

describe('reference lab (netns)', () => {
  it.skipIf(!need(ready, reason))('a normal run: real servers answer through the director; nothing left behind', async () => {
    const linksBefore = listHostLinks();
    const out = mkdtempSync(join(tmpdir(), 'lvsa-h13-ok-'));
    const pids: number[] = [];
    let prefix = '';
    try {
      const r = await runReferenceLab({
        mode: 'nat',
        outDir: out,
        verify: true,
        onStage: (stage, lab) => {
          prefix = lab.prefix;
          if (stage === 'captures') for (const ns of lab.allNamespaces) pids.push(...namespacePids(ns.name));
        },
      });
      // The oracle: real Linux TCP stacks answered every connection, alternating (round robin).
      expect(r.connections.map((c) => (c.ok ? c.body : 'fail'))).toEqual(['rs1', 'rs2', 'rs1', 'rs2']);
      expect(r.directorStats!.out).toBeGreaterThan(20);
      for (const p of ['client', 'director-eth0', 'director-eth1', 'rs1', 'rs2']) expect(statSync(r.captures[p]!).size).toBeGreaterThan(24 + 10 * 16);
      expect(readFileSync(join(out, 'service.conf'), 'utf8')).toContain('-m -w 1');
      expect(r.exitCode).toBe(0);
      // director child, 2 HTTP servers, 5 tcpdumps at least
      expect(pids.length).toBeGreaterThanOrEqual(8);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
    // This lab's own namespaces are gone (other test files may run labs of their own meanwhile).
    expect(prefix).toMatch(/^lvsa-/);
    expect(labNamespaces().filter((n) => n.startsWith(prefix))).toEqual([]);
    expect(listHostLinks()).toEqual(linksBefore);
    expect(await runningAfter(pids)).toEqual([]);
  }, 60_000);

  it.skipIf(!need(ready, reason))('rs2:weight0-not-applied means on the reference director what it means on DPVS: rs2 still served, verify fails on sched.weight0 naming rs2', async () => {
    const out = mkdtempSync(join(tmpdir(), 'lvsa-weight0-drift-'));
    try {
      // Not persistent: one client address, so round robin alone decides every connection.
      const r = await runReferenceLab({ mode: 'fullnat', profile: 'dpvs', faults: parseLabFaults('reference', 'fullnat', ['rs2:weight0-not-applied']), persistence: 0, outDir: out, verify: true });
      expect(r.connections.map((c) => (c.ok ? c.body : 'fail'))).toEqual(['rs1', 'rs2', 'rs1', 'rs2']);
      expect(readFileSync(join(out, 'service.conf'), 'utf8')).toContain('-r 10.0.0.12:8080 -b -w 0');
      const errors = r.verify!.findings.filter((f) => f.severity === 'error');
      expect(new Set(errors.map((f) => f.rule))).toEqual(new Set(['sched.weight0']));
      expect(errors.every((f) => f.message.includes('10.0.0.12'))).toBe(true);
      expect(r.exitCode).toBe(1);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });

  it.skipIf(!need(ready, reason))('a run that fails midway leaves nothing behind either', async () => {
    const linksBefore = listHostLinks();
    const out = mkdtempSync(join(tmpdir(), 'lvsa-h13-fail-'));
    const pids: number[] = [];
    let prefix = '';
    try {
      await expect(
        runReferenceLab({
          mode: 'dr',
          outDir: out,
          onStage: (stage, lab) => {
            prefix = lab.prefix;
            if (stage !== 'captures') return;
            for (const ns of lab.allNamespaces) pids.push(...namespacePids(ns.name));
            throw new Error('injected failure after the director and captures started');
          },
        }),
      ).rejects.toThrow(/injected failure/);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
    expect(prefix).toMatch(/^lvsa-/);
    expect(pids.length).toBeGreaterThanOrEqual(7);
    expect(labNamespaces().filter((n) => n.startsWith(prefix))).toEqual([]);
    expect(listHostLinks()).toEqual(linksBefore);
    expect(await runningAfter(pids)).toEqual([]);
  }, 60_000);

  it.skipIf(!need(ready && built, ready ? 'dist/ not built (npm run build)' : reason))('Ctrl-C (SIGINT) of `lvsaudit lab run` removes the lab and its processes', async () => {
    const nsBefore = labNamespaces();
    const linksBefore = listHostLinks();
    const out = mkdtempSync(join(tmpdir(), 'lvsa-h13-int-'));
    const child = spawn(process.execPath, [cli, 'lab', 'run', '--director', 'reference', '--mode', 'fullnat', '--connections', '40', '--out', out], { stdio: 'ignore' });
    const exited = new Promise<number | string>((res) => child.on('close', (code, sig) => res(code ?? sig ?? 'unknown')));
    const pids = new Set<number>();
    let ours: string[] = [];
    try {
      // Wait until the director child runs (its namespace holds a process), then interrupt.
      const deadline = Date.now() + 30_000;
      for (;;) {
        ours = labNamespaces().filter((n) => !nsBefore.includes(n));
        for (const n of ours) for (const p of namespacePids(n)) pids.add(p);
        const director = ours.find((n) => n.endsWith('-director'));
        if (director && namespacePids(director).length > 0 && existsSync(join(out, 'client.pcap'))) break;
        if (Date.now() > deadline) throw new Error('lab did not come up');
        await new Promise((r) => setTimeout(r, 100));
      }
      for (const n of ours) for (const p of namespacePids(n)) pids.add(p);
      child.kill('SIGINT');
      const code = await exited;
      expect(code === 'SIGINT' || code === 130).toBe(true);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      rmSync(out, { recursive: true, force: true });
    }
    expect(ours.length).toBeGreaterThanOrEqual(6);
    expect(labNamespaces().filter((n) => ours.includes(n))).toEqual([]);
    expect(listHostLinks()).toEqual(linksBefore);
    expect(await runningAfter(pids)).toEqual([]);
  }, 60_000);
});
