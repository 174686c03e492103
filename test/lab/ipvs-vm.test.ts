/**
 * A real kernel's IPVS in the director's seat: one QEMU boot runs the cases the CLI makes for
 * NAT, DR and TUN with rr, wrr and sh (conformant → exit 0) and for the real-server faults
 * (→ exit 1 with the expected rules). Oracles independent of our code: the
 * kernel's own connection table (`ipvsadm -Lnc`) and counters, tshark on the captures,
 * `modprobe --show-depends` for module order, `cpio -t` for the initramfs.
 *
 * Needs root, qemu-system-x86, a kernel with IPVS modules (linux-image-amd64), busybox-static,
 * ipvsadm, tcpdump, tshark: skipped with a reason outside CI, a failure under CI=true.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ipvsMatrixPath, loadIpvsResults, renderMatrix, type MatrixOutcome } from '../../src/lab/matrix.js';
import { hasCommand, isRoot, need } from '../helpers/env.js';
import { casesFromOptions, renderIpvsJson, renderIpvsText, runLab, type LabRunOptions } from '../../src/cli/lab.js';
import { labExitCode } from '../../src/lab/sequence.js';
import { EnvironmentError, InputError } from '../../src/errors.js';
import { ipvsCase, kernelConnections } from '../../src/lab/ipvs-director.js';
import { buildInitramfs, findStaticBusybox, isStaticElf } from '../../src/lab/vm/initramfs.js';
import { bzImageRelease, findInstalledKernel } from '../../src/lab/vm/kernel.js';
import { loadOrder, readModuleIndex } from '../../src/lab/vm/kmod.js';
import { ipvsLabUnavailableReason, parseStatsConns, runIpvsLab, type IpvsLabResult } from '../../src/lab/vm/run.js';

/** Whether the initramfs builder finds its busybox (the same lookup, every place it accepts). */
function staticBusyboxFound(): boolean {
  try {
    findStaticBusybox();
    return true;
  } catch {
    return false;
  }
}

const kernel = findInstalledKernel();
const haveKernel = need(kernel !== null, 'no kernel with IPVS modules installed (apt-get install linux-image-amd64)');

describe('VM pieces (no boot)', () => {
  it.skipIf(!haveKernel)('reads the release from the bzImage header (matches the file name)', () => {
    expect(bzImageRelease(kernel!.kernel)).toBe(kernel!.kernel.replace(/^.*vmlinuz-/, ''));
    expect(bzImageRelease('/etc/hostname')).toBeNull();
  });

  it.skipIf(!haveKernel || !need(hasCommand('modprobe'), 'kmod (modprobe) not installed'))(
    'orders modules like modprobe --show-depends',
    () => {
      const index = readModuleIndex(kernel!.modulesDir);
      const showDeps = (mod: string): string[] => {
        const text = execFileSync('modprobe', ['-S', kernel!.release, '-d', '/', '--show-depends', mod], { encoding: 'utf8' });
        return [...text.matchAll(/^insmod \S*\/([^/\s]+?)\.ko\S*/gm)].map((m) => m[1]!.replace(/-/g, '_'));
      };
      for (const mod of ['ip_vs_rr', 'ip_vs_sh', '9p', 'ipip', 'virtio_pci']) {
        const ours = loadOrder(index, [mod]).order;
        expect(ours[ours.length - 1]).toBe(mod);
        // modprobe adds soft dependencies (crc32c); every hard dependency it loads must be in ours…
        const theirs = showDeps(mod);
        expect(ours.every((m) => theirs.includes(m)), `${mod}: ${ours} vs ${theirs}`).toBe(true);
        // …and each module must come after everything modprobe says it needs.
        ours.forEach((m, i) => {
          for (const dep of showDeps(m).filter((d) => d !== m && ours.includes(d))) {
            expect(ours.indexOf(dep), `${dep} before ${m}`).toBeLessThan(i);
          }
        });
      }
    },
  );

  it.skipIf(!haveKernel || !need(hasCommand('cpio'), 'cpio not installed') || !need(staticBusyboxFound(), 'no statically linked busybox (busybox-static not installed)'))(
    'builds a cached initramfs with a static busybox, /init and the 9p modules',
    () => {
      const cache = mkdtempSync(join(tmpdir(), 'lvsa-h9-initramfs-'));
      try {
        const first = buildInitramfs(kernel!.modulesDir, cache);
        const second = buildInitramfs(kernel!.modulesDir, cache);
        expect(first.built).toBe(true);
        expect(second.built).toBe(false);
        expect(second.path).toBe(first.path);
        const list = execFileSync('sh', ['-c', `zcat "$1" | cpio -t --quiet`, 'sh', first.path], { encoding: 'utf8' }).split('\n');
        for (const f of ['init', 'bin/busybox', 'modules/order', 'modules/9p.ko', 'modules/9pnet_virtio.ko', 'modules/virtio_pci.ko']) {
          expect(list, f).toContain(f);
        }
        // `file` is the oracle for "statically linked" where it exists; our ELF check must agree.
        if (hasCommand('file')) {
          expect(execFileSync('file', ['-L', '/bin/busybox'], { encoding: 'utf8' })).toMatch(/statically linked|static-pie/);
        }
        expect(isStaticElf('/bin/busybox')).toBe(true);
        expect(isStaticElf(process.execPath)).toBe(false);
      } finally {
        rmSync(cache, { recursive: true, force: true });
      }
    },
  );

  it('parses the kernel connection table and stats counters', () => {
    const conns = [
      'IPVS connection entries',
      'pro expire state       source             virtual            destination',
      'TCP 01:57  TIME_WAIT   172.16.0.2:40100   172.16.0.100:80    10.0.0.12:80',
      'TCP 01:58  TIME_WAIT   172.16.0.2:40101   172.16.0.100:80    10.0.0.11:80',
      'TCP 01:10  TIME_WAIT   172.16.0.2:40000   172.16.0.100:80    10.0.0.11:80',
    ].join('\n');
    expect(kernelConnections(conns, '172.16.0.2', 40100, 4)).toEqual({ 40100: '10.0.0.12:80', 40101: '10.0.0.11:80' });
    const stats = [
      'IP Virtual Server version 1.2.1 (size=4096)',
      'Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes',
      '  -> RemoteAddress:Port',
      'TCP  172.16.0.100:80                     8       28       26     1694     1795',
      '  -> 10.0.0.11:80                        6       17       16     1030     1101',
      '  -> 10.0.0.12:80                        2       11       10      664      694',
    ].join('\n');
    expect(parseStatsConns(stats)).toEqual({ '10.0.0.11:80': 6, '10.0.0.12:80': 2 });
  });

  it('turns options into cases and rejects bad ones with exit 2', () => {
    const ipvs = (o: Omit<LabRunOptions, 'director'>): string[] => casesFromOptions('ipvs', { director: 'ipvs', ...o }).map((c) => c.id);
    expect(ipvs({ mode: ['nat,dr'], scheduler: ['rr', 'wrr'] })).toEqual(['nat-rr', 'nat-wrr', 'dr-rr', 'dr-wrr']);
    expect(ipvs({ mode: ['dr', 'tun'], fault: ['rs2:arp_ignore=0'] })).toEqual(['dr-rr-rs2-arp_ignore0', 'tun-rr-rs2-arp_ignore0']);
    // The older spelling is an alias of the rs1 fault.
    expect(ipvs({ mode: ['dr'], fault: ['arp-ignore0'] })).toEqual(['dr-rr-rs1-arp_ignore0']);
    expect(ipvsCase('dr', 'wrr').weights).toEqual([3, 1]);
    const bads: Array<Omit<LabRunOptions, 'director'>> = [
      { mode: ['fullnat'] },
      { mode: [] },
      { mode: ['dr'], fault: ['nat-reply-bypass'] },
      { mode: ['nat'], fault: ['nope'] },
      { mode: ['dr'], fault: ['no-ttl-decrement'] },
    ];
    for (const bad of bads) {
      let err: unknown = null;
      try {
        casesFromOptions('ipvs', { director: 'ipvs', ...bad });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(InputError);
      expect((err as InputError).exitCode).toBe(2);
    }
  });

  it('exits 4 with what to install when qemu is missing', async () => {
    const saved = process.env.PATH;
    process.env.PATH = '/nonexistent';
    try {
      await expect(runLab({ director: 'ipvs', mode: ['nat'] }, () => undefined)).rejects.toSatisfy(
        (e: unknown) => e instanceof EnvironmentError && e.exitCode === 4 && /apt-get install qemu-system-x86/.test(e.message),
      );
    } finally {
      process.env.PATH = saved;
    }
  });
});

// ---- the VM runs ----------------------------------------------------------------------------

const vmReason = isRoot ? ipvsLabUnavailableReason() : 'VM lab needs root (namespaces inside the VM use the host tools)';
const canBoot = need(vmReason === null, vmReason ?? '') && need(hasCommand('tshark'), 'tshark not installed');

type CaseResult = IpvsLabResult['cases'][number];
function tshark(file: string, filter: string, fields: string[]): string[][] {
  const r = spawnSync('tshark', ['-r', file, '-n', '-Y', filter, '-T', 'fields', '-E', 'occurrence=a', '-E', 'aggregator=|', ...fields.flatMap((f) => ['-e', f])], {
    encoding: 'utf8',
  });
  return r.stdout
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => l.split('\t'));
}

describe.skipIf(!canBoot)('real IPVS in a VM', () => {
  const root = canBoot ? mkdtempSync(join(tmpdir(), 'lvsa-h9-ipvs-')) : '';
  let run: IpvsLabResult;
  let wallMs = 0;
  let good: CaseResult[] = [];
  let bad: CaseResult[] = [];

  // One boot for everything (CI time): the cases the CLI makes for
  // `--mode nat,dr,tun --scheduler rr,wrr,sh` and for `--mode nat,dr --fault …`.
  const conformantCases = casesFromOptions('ipvs', { director: 'ipvs', mode: ['nat,dr,tun'], scheduler: ['rr,wrr,sh'] });
  // The fault cases of the lab matrix's ipvs column (same rsN:<kind> words as the reference lab).
  const faultCases = ['nat:rs2:gateway-bypass', 'dr:rs2:arp_ignore=0', 'dr:rs2:arp_announce=0'].map((w) => {
    const [mode, ...fault] = w.split(':');
    return casesFromOptions('ipvs', { director: 'ipvs', mode: [mode!], fault: [fault.join(':')] })[0]!;
  });

  beforeAll(async () => {
    const t0 = Date.now();
    run = await runIpvsLab({ cases: [...conformantCases, ...faultCases], outDir: root });
    wallMs = Date.now() - t0;
    good = run.cases.filter((c) => c.case.faults.rs.length === 0);
    bad = run.cases.filter((c) => c.case.faults.rs.length > 0);
    console.log(
      `kernel ${run.guestKernel}, accel ${run.accel}${run.kvmNote ? ` (${run.kvmNote})` : ''}, boot ${((run.bootMs ?? 0) / 1000).toFixed(1)} s, run ${((run.runMs ?? 0) / 1000).toFixed(1)} s, wall ${(wallMs / 1000).toFixed(1)} s, ${run.cases.length} cases`,
    );
    console.log(renderIpvsText(run));
    // The lab matrix (reference vs ipvs column): when the reference matrix test already ran in this
    // test run, print the comparison here; otherwise that test reads this file and prints it.
    writeFileSync(ipvsMatrixPath(), renderIpvsJson(run));
    const refFile = `${ipvsMatrixPath()}.reference.json`;
    if (existsSync(refFile)) console.log(renderMatrix(JSON.parse(readFileSync(refFile, 'utf8')) as MatrixOutcome[], loadIpvsResults()));
  }, 400_000);

  afterAll(() => {
    if (root) rmSync(root, { recursive: true, force: true });
  });

  const find = (id: string): CaseResult => {
    const c = run.cases.find((x) => x.case.id === id);
    if (!c) throw new Error(`case ${id} missing`);
    return c;
  };
  const rsOf = (c: CaseResult): string[] =>
    Object.keys(c.kernelSchedule)
      .map(Number)
      .sort((a, b) => a - b)
      .map((p) => c.kernelSchedule[p]!.replace(/:\d+$/, ''));

  it('conformant NAT, DR and TUN with rr, wrr and sh → verify pass, exit 0', () => {
    expect(good.map((c) => c.case.id)).toEqual(['nat-rr', 'nat-wrr', 'nat-sh', 'dr-rr', 'dr-wrr', 'dr-sh', 'tun-rr', 'tun-wrr', 'tun-sh']);
    for (const c of good) {
      const id = c.case.id;
      expect(c.error, id).toBeNull();
      expect(c.connections.every((x) => x.ok), `${id}: every connection answered`).toBe(true);
      const errors = c.verify!.findings.filter((f) => f.severity === 'error');
      expect(c.verify!.verdict, `${id}: ${errors.map((f) => `${f.rule}: ${f.message}`).join('; ')}`).toBe('pass');
      expect(c.mismatches, id).toEqual([]);
    }
    expect(labExitCode(good)).toBe(0);
  });

  it('the rules were evaluated against the real kernel, not skipped', () => {
    const modeRules: Record<string, string[]> = {
      nat: ['nat.dst', 'nat.reply-src', 'nat.rip-leak'],
      dr: ['dr.l3-modified', 'dr.dst-mac', 'dr.reply-src'],
      tun: ['tun.outer', 'tun.inner'],
    };
    for (const c of good) {
      const id = c.case.id;
      for (const rule of ['rewrite.ttl', 'rewrite.ip-fields', 'checksum.ip', 'flow.not-forwarded', 'sched.distribution', ...modeRules[c.case.mode]!]) {
        const t = c.verify!.rules.find((r) => r.rule === rule);
        expect(t?.status, `${id} ${rule}`).toBe('pass');
        expect(t!.checked, `${id} ${rule} checked`).toBeGreaterThan(0);
      }
    }
  });

  it('schedules as the kernel says: rr alternates, wrr 3:1, sh keeps one client on one server', () => {
    for (const mode of ['nat', 'dr', 'tun']) {
      const rr = rsOf(find(`${mode}-rr`));
      expect(rr).toHaveLength(4);
      for (let i = 1; i < rr.length; i++) expect(rr[i], `${mode}-rr ${rr}`).not.toBe(rr[i - 1]);
      const wrr = rsOf(find(`${mode}-wrr`));
      expect(wrr.filter((r) => r === '10.0.0.11')).toHaveLength(6);
      expect(wrr.filter((r) => r === '10.0.0.12')).toHaveLength(2);
      const sh = rsOf(find(`${mode}-sh`));
      expect(sh).toHaveLength(4);
      expect(new Set(sh).size).toBe(1);
      // The client saw the same servers the kernel picked (bodies name the server).
      const c = find(`${mode}-wrr`);
      expect(c.connections.map((x) => (x.body === 'rs1' ? '10.0.0.11' : '10.0.0.12'))).toEqual(wrr);
    }
  });

  it('brings back captures, service.conf and ipvsadm -Ln --stats', () => {
    for (const c of good) {
      const id = c.case.id;
      const points = c.case.mode === 'nat' ? ['client', 'director', 'rs1', 'rs2'] : ['client', 'router', 'director', 'rs1', 'rs2'];
      for (const p of points) expect(statSync(join(c.dir, `${p}.pcap`)).size, `${id}/${p}`).toBeGreaterThan(24);
      const stats = readFileSync(join(c.dir, 'ipvsadm-stats.txt'), 'utf8');
      expect(stats).toMatch(/Conns\s+InPkts\s+OutPkts/);
      const total = Object.values(c.kernelConns).reduce((a, b) => a + b, 0);
      expect(total, id).toBe(c.case.connections);
      expect(readFileSync(join(c.dir, 'service.conf'), 'utf8')).toMatch(new RegExp(`-s ${c.case.scheduler}\\b`));
    }
  });

  it('tshark sees what mainline IPVS does: TTL −1 in DR, IPIP with outer TTL = inner TTL in TUN', () => {
    const dr = find('dr-rr');
    const syns = tshark(join(dr.dir, 'director.pcap'), 'tcp.flags.syn==1 && tcp.flags.ack==0', ['eth.dst', 'ip.ttl', 'ip.id']);
    const inbound = syns.filter((s) => s[0] === '02:1e:5a:00:03:00');
    const outbound = syns.filter((s) => s[0] !== '02:1e:5a:00:03:00');
    expect(inbound.length).toBe(4);
    expect(outbound.length).toBe(4);
    for (const o of outbound) {
      const i = inbound.find((x) => x[2] === o[2]);
      expect(Number(o[1])).toBe(Number(i![1]) - 1);
    }
    const tun = find('tun-rr');
    const outer = tshark(join(tun.dir, 'director.pcap'), 'ip.proto==4', ['ip.src', 'ip.dst', 'ip.ttl']);
    expect(outer.length).toBeGreaterThan(0);
    for (const [src, dst, ttl] of outer) {
      expect(src!.split('|')[0]).toBe('10.0.0.1');
      expect(['10.0.0.11', '10.0.0.12']).toContain(dst!.split('|')[0]);
      const [o, inner] = ttl!.split('|');
      expect(o).toBe(inner);
    }
  });

  it('real-server faults → exit 1 with the expected rules', () => {
    expect(bad.map((c) => c.case.id)).toEqual(['nat-rr-rs2-gateway-bypass', 'dr-rr-rs2-arp_ignore0', 'dr-rr-rs2-arp_announce0']);
    const expected: Record<string, string[]> = {
      'nat-rr-rs2-gateway-bypass': ['nat.reply-bypass', 'nat.rip-leak'],
      'dr-rr-rs2-arp_ignore0': ['arp.vip-answered-by-rs'],
      'dr-rr-rs2-arp_announce0': ['arp.vip-announced-by-rs', 'arp.client-poisoned', 'flow.bypassed-director'],
    };
    for (const c of bad) {
      const id = c.case.id;
      expect(c.error, id).toBeNull();
      expect(c.verify!.verdict, id).toBe('fail');
      const rules = new Set(c.verify!.findings.filter((f) => f.severity === 'error').map((f) => f.rule));
      for (const r of expected[id]!) expect(rules.has(r), `${id}: ${r} in ${[...rules]}`).toBe(true);
      expect(c.mismatches, id).toEqual([]);
    }
    // The bypass: connections IPVS sent to rs2 never complete; those to rs1 do.
    const nat = find('nat-rr-rs2-gateway-bypass');
    expect(nat.connections.filter((x) => x.ok).map((x) => x.body)).toEqual(['rs1', 'rs1']);
    expect(rsOf(nat)).toEqual(['10.0.0.12', '10.0.0.11', '10.0.0.12', '10.0.0.11']);
    expect(labExitCode(bad)).toBe(1);
    expect(labExitCode(run.cases)).toBe(1);
  });

  it('renders the run as text and JSON', () => {
    const text = renderIpvsText(run);
    for (const c of run.cases) expect(text).toMatch(new RegExp(`^${c.case.id}\\s.*(as expected)`, 'm'));
    expect(text).toMatch(/boot \d+\.\d s, run \d+\.\d s/);
    const doc = JSON.parse(renderIpvsJson(run)) as { cases: Array<{ id: string; verdict: string; kernelSchedule: object }> };
    expect(doc.cases.map((c) => c.id)).toEqual(run.cases.map((c) => c.case.id));
    expect(doc.cases.find((c) => c.id === 'dr-rr-rs2-arp_ignore0')!.verdict).toBe('fail');
  });

  it('leaves no qemu process behind and fits the CI time budget', () => {
    const procs = execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' }).split('\n');
    expect(procs.filter((p) => p.includes('qemu-system') && p.includes(root))).toEqual([]);
    expect(wallMs).toBeLessThan(360_000);
  });

});
