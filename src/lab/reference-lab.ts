/**
 * The reference lab: `lvsaudit lab run --director reference`. Network namespaces for a client,
 * the director, two real servers (and a router where the method or a fault needs one); the
 * director is the userspace reference director (src/replay/director, live mode through libpcap)
 * running as a child process inside the director namespace; the real servers are real Linux TCP
 * stacks serving HTTP; a real client connects through the VIP; tcpdump records every point.
 *
 * The director namespace's kernel has no IP address at all: every ARP answer and every forwarded
 * frame comes from the userspace director, so the captures show its behaviour and nothing else.
 *
 * Topologies (all addresses exist only inside the lab):
 *   NAT / FullNAT: client ─ wan bridge ─ director eth0 │ director eth1 ─ lan bridge ─ rs1, rs2
 *     VIP 172.16.0.100 is on the client LAN (the director answers ARP for it); the RS LAN is
 *     10.0.0.0/24 with the DIP 10.0.0.1 (NAT: the RS default gateway). FullNAT: LIP 10.0.1.1,
 *     and the real servers route only 10.0.1.0/24 via the DIP (replies go to the LIP, §2.1).
 *     Fault `rsN:gateway-bypass` adds a router on both LANs and makes it rsN's default route.
 *   DR: client ─ router ─ lan bridge ─ director eth0 (one-armed), rs1, rs2; VIP 10.0.0.100/32 on
 *     each real server's lo with arp_ignore=1, arp_announce=2; RS default route via the router.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Lab, type Bridge, type CapturePoint, type LabOptions, type Namespace } from './topology.js';
import type { LabProcess } from './netns.js';
import { runHttpClient, startHttpServer, type ConnectionResult } from './services.js';
import { parseFaults } from '../replay/director/faults.js';
import type { DirectorProfile } from '../replay/director/types.js';
import type { ChildDirectorSpec } from './reference-director-child.js';
import { parseServiceConfig } from '../verify/service/index.js';
import { verify } from '../verify/verify.js';
import { hasError } from '../verify/findings.js';
import type { VerifyResult } from '../verify/result.js';
import { EnvironmentError, InputError } from '../errors.js';
import { distFile } from '../package-root.js';

export type RefMode = 'nat' | 'dr' | 'fullnat';
export const REF_MODES: readonly RefMode[] = ['nat', 'dr', 'fullnat'];

/** Real-server misconfigurations the lab can make (`--fault rs2:arp_ignore=0`). */
export type RsFaultKind = 'arp_ignore=0' | 'arp_announce=0' | 'gateway-bypass' | 'no-vip';
export const RS_FAULTS: Readonly<Record<RsFaultKind, { modes: readonly RefMode[]; what: string }>> = {
  'arp_ignore=0': { modes: ['dr'], what: 'the real server answers who-has VIP (its VIP on lo) on its LAN port' },
  'arp_announce=0': { modes: ['dr'], what: 'the real server sends ARP requests with the VIP as sender address' },
  'gateway-bypass': { modes: ['nat'], what: "the real server's default route is a router, not the director (replies skip the un-NAT)" },
  'no-vip': { modes: ['dr'], what: 'the real server does not have the VIP at all' },
};

export interface RsFault {
  rs: 'rs1' | 'rs2';
  kind: RsFaultKind;
}

export interface LabFaults {
  /** Reference-director fault switches (src/replay/director/faults.ts). */
  director: string[];
  rs: RsFault[];
}

/** Addresses of the reference lab. */
export const REF_ADDR = {
  client: '172.16.0.2',
  routerWan: '172.16.0.1',
  natVip: '172.16.0.100',
  bypassWan: '172.16.0.254',
  dip: '10.0.0.1',
  drVip: '10.0.0.100',
  routerLan: '10.0.0.254',
  lip: '10.0.1.1',
  lipNet: '10.0.1.0/24',
  rip1: '10.0.0.11',
  rip2: '10.0.0.12',
  vport: 80,
  /** NAT/FullNAT real servers listen on another port, so port translation is exercised. */
  rport: 8080,
  clientBasePort: 41000,
} as const;

/** Fixed MACs per role (02:1e:5a:00:<role>:<if>, the lab's per-role range). */
export const REF_MAC = {
  client: '02:1e:5a:00:11:00',
  routerWan: '02:1e:5a:00:12:00',
  routerLan: '02:1e:5a:00:12:01',
  directorWan: '02:1e:5a:00:13:00',
  directorLan: '02:1e:5a:00:13:01',
  rs1: '02:1e:5a:00:14:00',
  rs2: '02:1e:5a:00:15:00',
} as const;

/**
 * Split `--fault` values into director switches and RS faults. `rsN:<kind>` is an RS fault, the
 * rest must be director switches. Usage errors (unknown name, fault not for this mode) → InputError.
 */
export function parseLabFaults(mode: RefMode, list: readonly string[]): LabFaults {
  const out: LabFaults = { director: [], rs: [] };
  for (const raw of list.flatMap((v) => v.split(',')).map((v) => v.trim()).filter(Boolean)) {
    const m = /^(rs[12]):(.+)$/.exec(raw);
    if (!m) {
      out.director.push(raw);
      continue;
    }
    const kind = m[2] as RsFaultKind;
    const info = RS_FAULTS[kind];
    if (!info) throw new InputError(`--fault ${raw}: unknown real-server fault (known: ${Object.keys(RS_FAULTS).map((k) => `rsN:${k}`).join(', ')})`);
    if (!info.modes.includes(mode)) throw new InputError(`--fault ${raw} applies to --mode ${info.modes.join('/')}, not ${mode}`);
    out.rs.push({ rs: m[1] as 'rs1' | 'rs2', kind });
  }
  parseFaults(out.director); // throws InputError listing the known switches
  return out;
}

/** The ipvsadm-save text of the service the lab's director implements. */
export function referenceServiceConfig(mode: RefMode): string {
  const vip = mode === 'dr' ? REF_ADDR.drVip : REF_ADDR.natVip;
  const rport = mode === 'dr' ? REF_ADDR.vport : REF_ADDR.rport;
  const sw = mode === 'nat' ? '-m' : mode === 'dr' ? '-g' : '-b';
  const svc = `${vip}:${REF_ADDR.vport}`;
  const lines = [
    `-A -t ${svc} -s rr`,
    `-a -t ${svc} -r ${REF_ADDR.rip1}:${rport} ${sw} -w 1`,
    `-a -t ${svc} -r ${REF_ADDR.rip2}:${rport} ${sw} -w 1`,
  ];
  if (mode === 'fullnat') lines.push(`-P -t ${svc} -z ${REF_ADDR.lip}`);
  return lines.join('\n') + '\n';
}

export interface ReferenceLabOptions {
  mode: RefMode;
  /** Director and verify profile: nat/dr → linux (default), fullnat → alibaba (default) or dpvs. */
  profile?: DirectorProfile;
  faults?: LabFaults;
  outDir: string;
  /** Run verify on the captures (default false). */
  verify?: boolean;
  /** Client connections (default 4: two per real server with round robin). */
  connections?: number;
  /** Per-connection client timeout (default 1200 ms). */
  timeoutMs?: number;
  lab?: LabOptions;
  /** Called after each stage; throwing aborts the run (the lab is still destroyed). */
  onStage?: (stage: 'topology' | 'services' | 'director' | 'captures' | 'traffic', lab: Lab) => void;
}

export interface ReferenceLabResult {
  mode: RefMode;
  profile: DirectorProfile;
  faults: LabFaults;
  prefix: string;
  /** Capture files by point (client, director-eth0, director-eth1, rs1, rs2, router). */
  captures: Record<string, string>;
  service: string;
  serviceConfig: string;
  connections: ConnectionResult[];
  /** Frames the userspace director took in / sent. */
  directorStats: { in: number; out: number } | null;
  verify: VerifyResult | null;
  /** cli.md exit code of the verify step: 0 no error finding, 1 an error finding (0 without --verify). */
  exitCode: number;
  durationMs: number;
}

/** InputError when the profile does not belong to the method (FullNAT: alibaba/dpvs; else linux*). */
export function checkProfile(mode: RefMode, profile: string): asserts profile is DirectorProfile {
  const fits = mode === 'fullnat' ? ['alibaba', 'dpvs'] : ['linux', 'linux-legacy'];
  if (!fits.includes(profile)) throw new InputError(`--profile ${profile} does not fit --mode ${mode} (${fits.join(' or ')})`);
}

export function defaultProfile(mode: RefMode): DirectorProfile {
  return mode === 'fullnat' ? 'alibaba' : 'linux';
}

interface Built {
  client: Namespace;
  director: Namespace;
  vip: string;
  rs: Array<{ ns: Namespace; name: 'rs1' | 'rs2'; rip: string }>;
  points: CapturePoint[];
  clientIface: string;
  rsIface: string;
}

function rsFault(faults: LabFaults, rs: string, kind: RsFaultKind): boolean {
  return faults.rs.some((f) => f.rs === rs && f.kind === kind);
}

function buildTwoArmed(lab: Lab, mode: 'nat' | 'fullnat', faults: LabFaults): Built {
  const client = lab.addNamespace('client');
  const director = lab.addNamespace('director');
  const rs1 = lab.addNamespace('rs1');
  const rs2 = lab.addNamespace('rs2');
  const wan: Bridge = lab.addBridge('wan');
  const lan: Bridge = lab.addBridge('lan');
  lab.link(client, wan, { a: { addr: `${REF_ADDR.client}/24`, mac: REF_MAC.client } });
  // No addresses on the director's ports: the userspace director answers ARP and forwards.
  lab.link(director, wan, { a: { ifname: 'eth0', mac: REF_MAC.directorWan } });
  lab.link(director, lan, { a: { ifname: 'eth1', mac: REF_MAC.directorLan } });
  const rs: Built['rs'] = [
    { ns: rs1, name: 'rs1', rip: REF_ADDR.rip1 },
    { ns: rs2, name: 'rs2', rip: REF_ADDR.rip2 },
  ];
  lab.link(rs1, lan, { a: { addr: `${REF_ADDR.rip1}/24`, mac: REF_MAC.rs1 } });
  lab.link(rs2, lan, { a: { addr: `${REF_ADDR.rip2}/24`, mac: REF_MAC.rs2 } });
  const points: Built['points'] = [
    { point: 'client', ns: client, iface: 'eth0' },
    { point: 'director-eth0', ns: director, iface: 'eth0' },
    { point: 'director-eth1', ns: director, iface: 'eth1' },
    { point: 'rs1', ns: rs1, iface: 'eth0' },
    { point: 'rs2', ns: rs2, iface: 'eth0' },
  ];
  const bypass = rs.filter((r) => rsFault(faults, r.name, 'gateway-bypass'));
  if (bypass.length > 0) {
    const router = lab.addNamespace('router');
    lab.link(router, wan, { a: { addr: `${REF_ADDR.bypassWan}/24`, mac: REF_MAC.routerWan } });
    lab.link(router, lan, { a: { addr: `${REF_ADDR.routerLan}/24`, mac: REF_MAC.routerLan } });
    lab.sysctl(router, 'net.ipv4.ip_forward', 1);
    points.push({ point: 'router', ns: router, iface: 'eth1' });
  }
  for (const r of rs) {
    if (mode === 'fullnat') {
      // Replies go to the LIP: only that network is routed, via the director's RS-side address.
      lab.addRoute(r.ns, REF_ADDR.lipNet, REF_ADDR.dip);
    } else {
      lab.addRoute(r.ns, 'default', bypass.includes(r) ? REF_ADDR.routerLan : REF_ADDR.dip);
    }
  }
  return { client, director, vip: REF_ADDR.natVip, rs, points, clientIface: 'eth0', rsIface: 'eth1' };
}

function buildDr(lab: Lab, faults: LabFaults): Built {
  const client = lab.addNamespace('client');
  const router = lab.addNamespace('router');
  const director = lab.addNamespace('director');
  const rs1 = lab.addNamespace('rs1');
  const rs2 = lab.addNamespace('rs2');
  const lan: Bridge = lab.addBridge('lan');
  lab.link(client, router, {
    a: { addr: `${REF_ADDR.client}/24`, mac: REF_MAC.client },
    b: { addr: `${REF_ADDR.routerWan}/24`, mac: REF_MAC.routerWan },
  });
  lab.link(router, lan, { a: { addr: `${REF_ADDR.routerLan}/24`, mac: REF_MAC.routerLan } });
  lab.link(director, lan, { a: { ifname: 'eth0', mac: REF_MAC.directorWan } });
  lab.addRoute(client, 'default', REF_ADDR.routerWan);
  lab.sysctl(router, 'net.ipv4.ip_forward', 1);
  if (faults.rs.some((f) => f.kind === 'arp_announce=0')) {
    // Like many non-Linux routers, accept a changed MAC at once (Linux ignores changes for 1 s
    // after an update, which would hide the poisoning until a later re-resolution).
    lab.sysctl(router, 'net.ipv4.neigh.eth1.locktime', 0);
  }
  const rs: Built['rs'] = [
    { ns: rs1, name: 'rs1', rip: REF_ADDR.rip1 },
    { ns: rs2, name: 'rs2', rip: REF_ADDR.rip2 },
  ];
  for (const r of rs) {
    lab.link(r.ns, lan, { a: { addr: `${r.rip}/24`, mac: r.name === 'rs1' ? REF_MAC.rs1 : REF_MAC.rs2 } });
    const arpIgnore = rsFault(faults, r.name, 'arp_ignore=0') ? 0 : 1;
    const arpAnnounce = rsFault(faults, r.name, 'arp_announce=0') ? 0 : 2;
    for (const scope of ['all', 'eth0']) {
      lab.sysctl(r.ns, `net.ipv4.conf.${scope}.arp_ignore`, arpIgnore);
      lab.sysctl(r.ns, `net.ipv4.conf.${scope}.arp_announce`, arpAnnounce);
      lab.sysctl(r.ns, `net.ipv4.conf.${scope}.rp_filter`, 0);
    }
    if (!rsFault(faults, r.name, 'no-vip')) lab.addAddress(r.ns, 'lo', `${REF_ADDR.drVip}/32`);
    lab.addRoute(r.ns, 'default', REF_ADDR.routerLan);
  }
  return {
    client,
    director,
    vip: REF_ADDR.drVip,
    rs,
    points: [
      { point: 'client', ns: client, iface: 'eth0' },
      { point: 'router', ns: router, iface: 'eth1' },
      { point: 'director-eth0', ns: director, iface: 'eth0' },
      { point: 'rs1', ns: rs1, iface: 'eth0' },
      { point: 'rs2', ns: rs2, iface: 'eth0' },
    ],
    clientIface: 'eth0',
    rsIface: 'eth0',
  };
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

async function startDirector(lab: Lab, b: Built, serviceText: string, profile: DirectorProfile, faults: LabFaults): Promise<LabProcess> {
  const spec: ChildDirectorSpec = {
    clientIface: b.clientIface,
    rsIface: b.rsIface,
    serviceText,
    config: {
      profile,
      macs: {
        director: REF_MAC.directorWan,
        ...(b.rsIface !== b.clientIface ? { directorRs: REF_MAC.directorLan } : {}),
        realServers: { [REF_ADDR.rip1]: REF_MAC.rs1, [REF_ADDR.rip2]: REF_MAC.rs2 },
      },
      directorIps: { dip: REF_ADDR.dip },
      faults: faults.director,
      seed: 1,
    },
  };
  const argv = [...directorChildArgv(), JSON.stringify(spec)];
  const p = lab.spawn(b.director, argv);
  try {
    await p.waitForOutput(/^ready$/m, 30_000);
  } catch (e) {
    throw new EnvironmentError(`reference director did not start: ${(e as Error).message}`);
  }
  return p;
}

/** Build, run, capture, (verify); the lab is always destroyed before this returns or throws. */
export async function runReferenceLab(o: ReferenceLabOptions): Promise<ReferenceLabResult> {
  const started = Date.now();
  const profile = o.profile ?? defaultProfile(o.mode);
  checkProfile(o.mode, profile);
  const faults = o.faults ?? { director: [], rs: [] };
  const dir = resolve(o.outDir);
  mkdirSync(dir, { recursive: true });
  const serviceConfig = referenceServiceConfig(o.mode);
  const service = join(dir, 'service.conf');
  writeFileSync(service, serviceConfig);
  const lab = new Lab(o.lab);
  try {
    const b = o.mode === 'dr' ? buildDr(lab, faults) : buildTwoArmed(lab, o.mode, faults);
    await lab.waitReady();
    o.onStage?.('topology', lab);
    const rport = o.mode === 'dr' ? REF_ADDR.vport : REF_ADDR.rport;
    await Promise.all(b.rs.map((r) => startHttpServer(lab, r.ns, r.name, rport)));
    o.onStage?.('services', lab);
    const director = await startDirector(lab, b, serviceConfig, profile, faults);
    o.onStage?.('director', lab);
    const { files } = await lab.captureEveryPoint(b.points, dir);
    o.onStage?.('captures', lab);
    const connections = await runHttpClient(lab, b.client, {
      host: b.vip,
      port: REF_ADDR.vport,
      basePort: REF_ADDR.clientBasePort,
      count: o.connections ?? 4,
      timeoutMs: o.timeoutMs ?? 1200,
      gapMs: 50,
    });
    o.onStage?.('traffic', lab);
    await lab.settleAndStopCaptures(250);
    await director.stop('SIGTERM', 2000);
    const m = /^stats (.*)$/m.exec(director.stdout());
    const directorStats = m ? (JSON.parse(m[1]!) as { in: number; out: number }) : null;
    let result: VerifyResult | null = null;
    if (o.verify) result = await verifyLab(files, serviceConfig, profile);
    return {
      mode: o.mode,
      profile,
      faults,
      prefix: lab.prefix,
      captures: files,
      service,
      serviceConfig,
      connections,
      directorStats,
      verify: result,
      exitCode: result !== null && hasError(result.findings) ? 1 : 0,
      durationMs: Date.now() - started,
    };
  } finally {
    await lab.destroy();
  }
}

/** Verify the lab's captures: client, director (both ports), each real server by RIP. */
export async function verifyLab(files: Record<string, string>, serviceConfig: string, profile: DirectorProfile): Promise<VerifyResult> {
  const directorFiles = ['director-eth0', 'director-eth1'].map((p) => files[p]).filter((f): f is string => f !== undefined);
  return verify({
    services: parseServiceConfig(serviceConfig, 'service.conf'),
    profile,
    points: [
      { kind: 'client', files: [files.client!] },
      { kind: 'director', files: directorFiles },
      { kind: 'rs', files: [files.rs1!], rsIp: REF_ADDR.rip1 },
      { kind: 'rs', files: [files.rs2!], rsIp: REF_ADDR.rip2 },
    ],
  });
}

/** Error-severity rule ids of a verify result (sorted, unique). */
export function errorRules(r: VerifyResult): string[] {
  return [...new Set(r.findings.filter((f) => f.severity === 'error').map((f) => f.rule))].sort();
}

/** `--mode` text → RefMode; TUN is not in the reference lab (InputError names the modes). */
export function parseRefMode(m: string): RefMode {
  if (!REF_MODES.includes(m as RefMode)) throw new InputError(`--mode ${m}: the reference lab runs ${REF_MODES.join(', ')}`);
  return m as RefMode;
}
