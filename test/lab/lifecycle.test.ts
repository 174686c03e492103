/**
 * The lab toolkit itself: names, MACs, offloads, sysctls, captures, and above all cleanup —
 * after destroy(), after a scenario that throws midway, after SIGINT/SIGTERM or a crash of a
 * process running a lab, and through labDown(prefix). Facts are read back from the kernel
 * (ip, ethtool, the process table) and the captures with tcpdump.
 */
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasCommand, need, repoRoot } from '../helpers/env.js';
import { labDown, labUnavailableReason } from '../../src/lab/netns.js';
import { Lab, labMac } from '../../src/lab/topology.js';
import { runScenario } from '../../src/lab/scenarios.js';
import { startHttpServer } from '../../src/lab/services.js';
import { alive, eventually, hostLinkNames, netnsNames, pidsIn } from './oracle.js';

const labReason = labUnavailableReason();
const canRun =
  need(labReason === null, labReason ?? '') &&
  need(hasCommand('tcpdump'), 'tcpdump not installed') &&
  need(hasCommand('sysctl'), 'sysctl (procps) not installed') &&
  need(hasCommand('nft'), 'nftables (nft) not installed') &&
  need(hasCommand('ethtool'), 'ethtool not installed');

const tag = process.pid.toString(36);
const workDir = mkdtempSync(join(tmpdir(), 'lvsa-lifecycle-'));
afterAll(() => rmSync(workDir, { recursive: true, force: true }));

function ours(prefix: string): string[] {
  return netnsNames().filter((n) => n.startsWith(prefix));
}

describe.skipIf(!canRun)('Lab toolkit', () => {
  it('builds namespaces and links with deterministic names/MACs, offloads off, sysctls, and a working capture', async () => {
    const prefix = `lvsa-l${tag}-kit-`;
    const lab = new Lab({ prefix });
    try {
      const a = lab.addNamespace('a');
      const b = lab.addNamespace('b');
      const lan = lab.addBridge('lan');
      expect(a.name).toBe(`${prefix}a`);
      const ab = lab.link(a, b, { a: { addr: '10.99.0.1/24' }, b: { addr: '10.99.0.2/24', mac: '02:00:00:aa:bb:cc' } });
      const alan = lab.link(a, lan, { a: { addr: '10.98.0.1/24' } });
      expect(ab.a.ifname).toBe('eth0');
      expect(alan.a.ifname).toBe('eth1');
      expect(ab.a.mac).toBe(labMac(a.index, 0));
      // Read back from the kernel, not from our return values.
      const linkA = JSON.parse(execFileSync('ip', ['-n', a.name, '-j', 'link', 'show', 'eth0'], { encoding: 'utf8' })) as Array<{ address: string }>;
      const linkB = JSON.parse(execFileSync('ip', ['-n', b.name, '-j', 'link', 'show', 'eth0'], { encoding: 'utf8' })) as Array<{ address: string }>;
      expect(linkA[0]?.address).toBe(ab.a.mac);
      expect(linkB[0]?.address).toBe('02:00:00:aa:bb:cc');
      const port = execFileSync('ip', ['-n', lan.ns.name, '-o', 'link', 'show', 'master', 'br0'], { encoding: 'utf8' });
      expect(port).toMatch(/p0@/);
      const features = execFileSync('ip', ['netns', 'exec', a.name, 'ethtool', '-k', 'eth0'], { encoding: 'utf8' });
      for (const f of ['tx-checksumming', 'rx-checksumming', 'generic-receive-offload', 'generic-segmentation-offload', 'tcp-segmentation-offload']) {
        expect(features).toMatch(new RegExp(`^${f}: off`, 'm'));
      }
      lab.sysctl(b, 'net.ipv4.conf.all.arp_ignore', 1);
      expect(execFileSync('ip', ['netns', 'exec', b.name, 'sysctl', '-n', 'net.ipv4.conf.all.arp_ignore'], { encoding: 'utf8' }).trim()).toBe('1');
      await lab.waitReady();

      await startHttpServer(lab, b, 'b', 8080);
      const file = join(workDir, 'kit.pcap');
      const cap = await lab.startCapture(a, 'eth0', file);
      const body = lab.exec(a, [process.execPath, '-e', "require('http').get('http://10.99.0.2:8080/',r=>{r.setEncoding('utf8');r.on('data',d=>process.stdout.write(d))})"]);
      expect(body.trim()).toBe('b');
      await cap.stop();
      const text = execFileSync('tcpdump', ['-n', '-r', file], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
      // The whole exchange is in the file: first SYN and the closing FINs were flushed on stop.
      expect(text).toMatch(/10\.99\.0\.1\.\d+ > 10\.99\.0\.2\.8080: Flags \[S\]/);
      expect(text).toMatch(/10\.99\.0\.2\.8080 > 10\.99\.0\.1\.\d+: Flags \[F\.\]/);
      expect(text).not.toMatch(/IP6/);
    } finally {
      await lab.destroy();
    }
    expect(ours(prefix)).toEqual([]);
    expect(lab.isDestroyed).toBe(true);
    await lab.destroy(); // idempotent
    expect(() => lab.addNamespace('late')).toThrow(/destroyed/);
  });

  it('refuses names outside the lvsa- space', () => {
    expect(() => new Lab({ prefix: 'other-' })).toThrow(/lvsa-/);
    expect(() => labDown('other-')).toThrow(/lvsa-/);
  });

  it('labDown(prefix) removes leftover namespaces and their processes, and nothing else', () => {
    const prefix = `lvsa-l${tag}-down-`;
    const keep = `h8keep-${tag}`;
    execFileSync('ip', ['netns', 'add', `${prefix}x`]);
    execFileSync('ip', ['netns', 'add', `${prefix}y`]);
    execFileSync('ip', ['netns', 'add', keep]);
    const sleeper = spawn('ip', ['netns', 'exec', `${prefix}x`, 'sleep', '60'], { stdio: 'ignore' });
    try {
      const start = Date.now();
      while (pidsIn(`${prefix}x`).length === 0 && Date.now() - start < 3000) execFileSync('sleep', ['0.05']);
      expect(pidsIn(`${prefix}x`).length).toBe(1);
      const removed = labDown(prefix);
      expect(removed.namespaces.sort()).toEqual([`${prefix}x`, `${prefix}y`]);
      expect(ours(prefix)).toEqual([]);
      expect(netnsNames()).toContain(keep);
      expect(sleeper.pid !== undefined && alive(sleeper.pid)).toBe(false);
      expect(labDown(prefix)).toEqual({ namespaces: [], links: [] });
    } finally {
      sleeper.kill('SIGKILL');
      execFileSync('ip', ['netns', 'del', keep]);
    }
  });

  it('a scenario that throws midway (captures and services running) leaves nothing behind', async () => {
    const prefix = `lvsa-l${tag}-throw-`;
    const linksBefore = hostLinkNames();
    const pids: number[] = [];
    await expect(
      runScenario('dr', join(workDir, 'throw'), {
        lab: { prefix },
        onStage: (stage, lab) => {
          if (stage !== 'captures') return;
          for (const ns of lab.allNamespaces) pids.push(...pidsIn(ns.name));
          throw new Error('injected failure');
        },
      }),
    ).rejects.toThrow('injected failure');
    // 2 HTTP servers + 5 tcpdumps were running.
    expect(pids.length).toBeGreaterThanOrEqual(7);
    expect(ours(prefix)).toEqual([]);
    expect(pids.filter(alive)).toEqual([]);
    expect(hostLinkNames().filter((l) => !linksBefore.includes(l) && l.startsWith('lvsa-'))).toEqual([]);
  });
});

describe.skipIf(!canRun)('cleanup when the process running a lab dies', () => {
  const built = join(workDir, 'dist');
  let script = '';

  beforeAll(() => {
    // Compile the lab modules on their own so this does not depend on the state of dist/.
    execFileSync(
      join(repoRoot, 'node_modules/.bin/tsc'),
      ['--module', 'NodeNext', '--moduleResolution', 'NodeNext', '--target', 'ES2022', '--skipLibCheck', '--types', 'node',
        '--outDir', built, '--rootDir', join(repoRoot, 'src'), join(repoRoot, 'src/lab/scenarios.ts')],
      { cwd: repoRoot, stdio: 'pipe' },
    );
    script = join(workDir, 'child.mjs');
    writeFileSync(
      script,
      [
        `import { runScenario } from ${JSON.stringify(join(built, 'lab/scenarios.js'))};`,
        `import { execFileSync } from 'node:child_process';`,
        `const [prefix, how] = process.argv.slice(2);`,
        `await runScenario('nat', ${JSON.stringify(join(workDir, 'child'))} + how, {`,
        `  lab: { prefix }, connections: 200, timeoutMs: 1500,`,
        `  onStage: (stage, lab) => {`,
        `    if (stage !== 'captures') return;`,
        `    const pids = lab.allNamespaces.flatMap((n) => execFileSync('ip', ['netns', 'pids', n.name], { encoding: 'utf8' }).split('\\n').filter(Boolean));`,
        `    console.log('READY ' + pids.join(','));`,
        `    if (how === 'crash') setTimeout(() => { throw new Error('child crashed'); }, 300);`,
        `  },`,
        `});`,
      ].join('\n'),
    );
  });

  for (const how of ['SIGINT', 'SIGTERM', 'crash'] as const) {
    it(`${how}: namespaces, links and processes are gone`, async () => {
      const prefix = `lvsa-l${tag}-${how.toLowerCase()}-`;
      const linksBefore = hostLinkNames();
      const child = spawn(process.execPath, [script, prefix, how], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
      child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
      const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
        child.on('close', (code, signal) => resolve({ code, signal })),
      );
      const ready = await eventually(() => out.includes('READY '), 60_000);
      expect(ready, err).toBe(true);
      const pids = (/READY (\S+)/.exec(out)?.[1] ?? '').split(',').map(Number).filter((n) => n > 0);
      expect(pids.length).toBeGreaterThanOrEqual(6);
      expect(ours(prefix).length).toBeGreaterThan(0);
      if (how !== 'crash') child.kill(how);
      const { code, signal } = await exit;
      if (how === 'crash') {
        expect(code).toBe(1);
        expect(err).toContain('child crashed');
      } else {
        // The handler cleans up and re-raises, so the parent sees death by that signal.
        expect(signal).toBe(how);
      }
      expect(ours(prefix)).toEqual([]);
      expect(pids.filter(alive)).toEqual([]);
      expect(hostLinkNames().filter((l) => !linksBefore.includes(l) && l.startsWith('lvsa-'))).toEqual([]);
    });
  }

  it('a non-root user gets EnvironmentError (exit code 4)', () => {
    need(hasCommand('setpriv'), 'setpriv not installed');
    const probe = join(workDir, 'nonroot.mjs');
    writeFileSync(
      probe,
      [
        `import { Lab } from ${JSON.stringify(join(built, 'lab/topology.js'))};`,
        `try { new Lab(); console.log('no error'); } catch (e) { console.log(e.name + ' ' + e.exitCode + ' ' + e.message); }`,
      ].join('\n'),
    );
    chmodSync(workDir, 0o755);
    const out = execFileSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, probe], {
      encoding: 'utf8',
    });
    expect(out).toMatch(/^EnvironmentError 4 .*root/);
  });
});
