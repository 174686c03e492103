/**
 * `lvsaudit replay` (cli.md "replay and lab"): crafted scenarios against a director.
 *   --write FILE.pcap / --out DIR : no NIC; run against the in-process reference director
 *   --iface IFACE                 : live, through libpcap, rate limited
 * Prints per scenario what was sent, what came back and whether it is what the scenario
 * expects; exit 1 when any scenario is not.
 */
import type { Command } from 'commander';
import { InputError } from '../errors.js';
import type { CommandRegistrar } from './registrar.js';
import { parseHostPort, type ForwardMethod } from '../verify/service/index.js';
import { FAULTS, UOA_MODES, type DirectorProfile, type UoaMode } from '../replay/director/index.js';
import { SCHEDULERS } from '../replay/director/sched/index.js';
import { checkOutputDirectory, checkOutputFile, parseIntegerOption, parseSchedulerOption } from './options.js';
import { DEFAULT_SCENARIOS, SCENARIOS } from '../replay/scenarios/catalog.js';
import { capturePcap, formatResults, runLive, runWrite, writeCaptureSet } from '../replay/replay.js';

const METHODS = ['nat', 'dr', 'tun', 'fullnat'];
const PROFILES = ['linux', 'linux-legacy', 'alibaba', 'dpvs'];

interface ReplayOpts {
  scenario?: string;
  vip?: string;
  iface?: string;
  write?: string;
  out?: string;
  rate: string;
  capture?: string;
  method?: string;
  mode?: string;
  profile?: string;
  fault: string[];
  seed: string;
  scheduler: string;
  persistence?: string;
  mtu: string;
  clients: string;
  configFormat: string;
  events?: boolean;
  list?: boolean;
  clientIp: string[];
  clientMac?: string;
  directorMac?: string;
  timeout: string;
  uoaMode?: string;
}

const collect = (v: string, prev: string[]): string[] => [...prev, v];

const int = parseIntegerOption;

export const registerReplay: CommandRegistrar = (program: Command, setExit) => {
  program
    .command('replay')
    .description('send crafted scenarios to a director (live via libpcap, or --write against the reference director) and judge what comes back')
    .option('--scenario <names>', `comma-separated scenarios (default: every TCP one: ${DEFAULT_SCENARIOS.join(', ')}); UDP (a -u service, not mixed with TCP): ${Object.keys(SCENARIOS).filter((n) => !DEFAULT_SCENARIOS.includes(n)).join(', ')}`)
    .option('--vip <ip:port>', 'the virtual service (live: required; write: default 192.0.2.10:80)')
    .option('--iface <name>', 'live: send and capture on this interface')
    .option('--write <file.pcap>', 'no NIC: write the client-side capture of a run against the reference director')
    .option('--out <dir>', 'no NIC: write client/director/rs1/rs2 captures and service.conf into DIR')
    .option('--rate <pps>', 'live: at most this many frames per second', '100')
    .option('--capture <file.pcap>', 'live: also write everything sent and received to this capture')
    .option('--method <m>', `forwarding method of the director: ${METHODS.join('|')} (expectations; write: what the reference director does)`)
    .option('--mode <m>', 'alias of --method')
    .option('--profile <p>', `${PROFILES.join('|')} (default linux; fullnat: alibaba)`)
    .option('--fault <name>', `write: reference-director fault switch (repeatable): ${Object.keys(FAULTS).join(', ')}`, collect, [])
    .option('--seed <n>', 'seed of everything crafted (same seed, same bytes)', '1')
    .option('--scheduler <s>', 'write: scheduler of the written service', 'rr')
    .option('--persistence <seconds>', 'write: make the written service persistent')
    .option('--mtu <n>', "write: the director's real-server-side route MTU; live: that MTU for expectations", '1500')
    .option('--uoa-mode <m>', `write, profile dpvs, FullNAT UDP: where the director puts UOA: ${UOA_MODES.join('|')} (default opp, as DPVS)`)
    .option('--clients <n>', 'many-clients: number of client addresses', '8')
    .option('--config-format <f>', 'write --out: service.conf as ipvsadm or keepalived', 'ipvsadm')
    .option('--client-ip <ip>', 'live: a client address the replayer owns (repeatable; first is the main one)', collect, [])
    .option('--client-mac <mac>', 'live: source MAC (default: the interface MAC)')
    .option('--director-mac <mac>', 'live: destination MAC (default: resolved by ARP for the VIP)')
    .option('--timeout <ms>', 'live: wait per scenario', '3000')
    .option('--events', 'also print what the reference director did with each packet')
    .option('--list', 'list scenarios and fault switches')
    .action(async (o: ReplayOpts) => {
      if (o.list) {
        for (const [k, v] of Object.entries(SCENARIOS)) process.stdout.write(`scenario ${k.padEnd(18)} ${v}\n`);
        for (const [k, v] of Object.entries(FAULTS)) process.stdout.write(`fault    ${k.padEnd(22)} ${v}\n`);
        return;
      }
      // Every value is checked before a frame is built or sent (cli.md "Options and usage errors").
      if (o.method !== undefined && o.mode !== undefined && o.method !== o.mode) throw new InputError(`--method ${o.method} and --mode ${o.mode} disagree (--mode is an alias of --method)`);
      const methodText = o.method ?? o.mode ?? 'nat';
      if (!METHODS.includes(methodText)) throw new InputError(`--method '${methodText}': not one of ${METHODS.join(', ')}`);
      const method = methodText as ForwardMethod;
      const profileText = o.profile ?? (method === 'fullnat' ? 'alibaba' : 'linux');
      if (!PROFILES.includes(profileText)) throw new InputError(`--profile '${profileText}': not one of ${PROFILES.join(', ')}`);
      const profile = profileText as DirectorProfile;
      const scenarios = o.scenario ? o.scenario.split(',').map((s) => s.trim()).filter(Boolean) : DEFAULT_SCENARIOS;
      for (const s of scenarios) if (!(s in SCENARIOS)) throw new InputError(`--scenario '${s}': unknown (known: ${Object.keys(SCENARIOS).join(', ')})`);
      const vip = o.vip ? parseHostPort(o.vip) : null;
      if (o.vip && (!vip || vip.family !== 4 || vip.port === null)) throw new InputError(`--vip '${o.vip}': not IPv4:PORT`);
      const seed = int('--seed', o.seed, 0, 0xffffffff);
      const mtu = int('--mtu', o.mtu, 576, 65535, 'bytes');
      const modes = [o.iface, o.write ?? o.out].filter((x) => x !== undefined).length;
      if (modes !== 1) throw new InputError('give exactly one of --iface IFACE (live) or --write FILE / --out DIR (no NIC)');
      if (o.configFormat !== 'ipvsadm' && o.configFormat !== 'keepalived') throw new InputError(`--config-format '${o.configFormat}': ipvsadm or keepalived`);
      if (o.iface) {
        for (const [name, v] of [['--write', o.write], ['--out', o.out], ['--persistence', o.persistence]] as const) {
          if (v !== undefined) throw new InputError(`${name} is for --write/--out runs, not --iface`);
        }
      } else {
        for (const [name, v] of [['--capture', o.capture], ['--client-mac', o.clientMac], ['--director-mac', o.directorMac]] as const) {
          if (v !== undefined) throw new InputError(`${name} is for live runs (--iface), not --write/--out`);
        }
        if (o.clientIp.length > 0) throw new InputError('--client-ip is for live runs (--iface), not --write/--out');
      }
      if (o.uoaMode !== undefined) {
        if (!(UOA_MODES as readonly string[]).includes(o.uoaMode)) throw new InputError(`--uoa-mode '${o.uoaMode}': not one of ${UOA_MODES.join(', ')}`);
        if (o.iface) throw new InputError('--uoa-mode applies to the reference director (--write/--out), not to a live director');
        if (profile !== 'dpvs' || method !== 'fullnat') throw new InputError(`--uoa-mode is for --method fullnat --profile dpvs (DPVS's UOA); got --method ${method} --profile ${profile}`);
      }
      const rate = int('--rate', o.rate, 1, 100000, 'frames per second');
      const timeoutMs = int('--timeout', o.timeout, 10, 600000, 'milliseconds');
      const clients = int('--clients', o.clients, 1, o.iface ? 250 : 200, 'clients');
      const scheduler = parseSchedulerOption('--scheduler', o.scheduler, SCHEDULERS);
      const persistence = o.persistence !== undefined ? int('--persistence', o.persistence, 1, 86400 * 31, 'seconds') : null;
      if (o.write !== undefined) checkOutputFile('--write', o.write);
      if (o.out !== undefined) checkOutputDirectory('--out', o.out);
      if (o.capture !== undefined) checkOutputFile('--capture', o.capture);
      if (o.iface) {
        if (!vip) throw new InputError('--vip IP:PORT is required with --iface');
        if (o.fault.length) throw new InputError('--fault applies to the reference director (--write/--out), not to a live director');
        const results = await runLive({
          iface: o.iface,
          vip: vip.ip,
          vport: vip.port!,
          scenarios,
          method,
          profile,
          mtu,
          seed,
          rate,
          clientIps: o.clientIp,
          clients,
          clientMac: o.clientMac,
          directorMac: o.directorMac,
          timeoutMs,
          capture: o.capture,
        });
        process.stdout.write(formatResults(results));
        setExit(results.every((r) => r.verdict.ok) ? 0 : 1);
        return;
      }
      const run = runWrite({
        scenarios,
        method,
        profile,
        faults: o.fault,
        seed,
        scheduler,
        persistence,
        mtu,
        clients,
        configFormat: o.configFormat,
        ...(o.uoaMode !== undefined ? { uoaMode: o.uoaMode as UoaMode } : {}),
        ...(vip ? { vip: vip.ip, vport: vip.port! } : {}),
      });
      if (o.write) capturePcap(run.captures.get('client') ?? [], o.write);
      if (o.out) writeCaptureSet(o.out, run);
      process.stdout.write(formatResults(run.results, o.events === true));
      setExit(run.results.every((r) => r.verdict.ok) ? 0 : 1);
    });
};
