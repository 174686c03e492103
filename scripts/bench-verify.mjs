#!/usr/bin/env node
/**
 * Benchmark of `lvsaudit verify` over a conformant NAT capture set: client, director (two
 * interface files) and two real servers, written by `scripts/make-verify-fixtures.mjs --bulk N`
 * (8 packets per connection, seen at 4 points: 32 records per connection). Prints packets/s over
 * all captures together and the peak RSS of the verify process (/usr/bin/time -v).
 * Target (issue): ≥ 1 M packets/s on a set of ≥ 1 M packets, peak RSS ≤ 512 MB.
 *
 *   node scripts/bench-verify.mjs          (after `npx tsc -p .`)
 *
 * bench.mjs runs it as its `verify` section. Environment: BENCH_VERIFY_PACKETS (default
 * 1 024 000, rounded up to whole connections), BENCH_REPEAT (default 3).
 *
 * A second set is production-shaped (issue 16): written by `scripts/make-production-set.mjs`,
 * NAT at the same 4 points, each connection a 64–300 KiB response that the real server's capture
 * shows as TSO super-segments, the director's as GRO-merged packets in (BENCH_PROD_DIRECTOR_IN:
 * `gro`, default, as fixtures/offload/ipvs-nat measured on a real kernel; `segments`: the wire MSS
 * segments; `super`: the RS's super-segments) and MSS segments out, the client's as GRO-merged
 * packets; every TCP checksum partial (TX offload). Its own section, "verify, production-shaped",
 * prints the same figures; the run must pass with capture.checksum-offload and
 * capture.segmentation-offload among its info findings and no error or warning.
 * Environment: BENCH_PROD_PACKETS (default 1 000 000, whole connections: a few more).
 *
 * The memory soak (issue 21), sections "soak: long-lived connections" and "soak: short
 * connections" (not selected by `verify`: they generate and read millions of packets): verify
 * on SOAK_CONNS keep-alive NAT connections (make-production-set.mjs --long) and on the bulk set
 * of short connections, each at two sizes, printing peak RSS beside the packet count.
 * Environment: BENCH_SOAK_LONG (default 1000000,4000000), BENCH_SOAK_SHORT (default
 * 2500000,10000000): comma-separated packet counts.
 *
 *   node scripts/bench-verify.mjs [WORD…]   runs the sections whose name contains a WORD (all without)
 */
import { spawnSync } from 'node:child_process';
import { existsSync, closeSync, openSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const PER_CONN = 32;
const PACKETS = Number(process.env.BENCH_VERIFY_PACKETS ?? 1_024_000);
const REPEAT = Math.max(1, Number(process.env.BENCH_REPEAT ?? 3));
const GEN_VERSION = 1;
const PROD_PACKETS = Number(process.env.BENCH_PROD_PACKETS ?? 1_000_000);
const PROD_DIRECTOR_IN = process.env.BENCH_PROD_DIRECTOR_IN ?? 'gro';
/** Bump when make-production-set.mjs writes different bytes: the cached set is then regenerated. */
const PROD_GEN_VERSION = 1;
/** The memory soak's sizes (packets): two each, so that growth with capture length shows. */
const sizes = (v, dflt) => (v ?? dflt).split(',').map(Number).filter((n) => n > 0);
const SOAK_LONG = sizes(process.env.BENCH_SOAK_LONG, '1000000,4000000');
const SOAK_SHORT = sizes(process.env.BENCH_SOAK_SHORT, '2500000,10000000');
const SOAK_CONNS = 4;
const LONG_GEN_VERSION = 1;

/** Generates (once, cached in /tmp) the bulk NAT set; returns its directory and packet count. */
export function ensureVerifySet(packets = PACKETS) {
  const conns = Math.ceil(packets / PER_CONN);
  const dir = `/tmp/lvsaudit-bench-verify-v${GEN_VERSION}-${conns}`;
  if (!existsSync(path.join(dir, 'expected.json'))) {
    rmSync(dir, { recursive: true, force: true });
    const t0 = Date.now();
    process.stderr.write(`bench-verify: generating ${conns} NAT connections (${conns * PER_CONN} packets) into ${dir} …\n`);
    const r = spawnSync(process.execPath, [path.join(repoRoot, 'scripts', 'make-verify-fixtures.mjs'), '--bulk', String(conns), dir], { stdio: ['ignore', 'ignore', 'inherit'] });
    if (r.status !== 0) throw new Error('make-verify-fixtures.mjs --bulk failed');
    process.stderr.write(`bench-verify: generated in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
  }
  return { dir, packets: conns * PER_CONN };
}

/** Generates (once, cached in /tmp) the production-shaped NAT set; returns its directory, packet
 *  count and shape (expected.json, written last by the generator: the marker of a complete set). */
export function ensureProductionSet(packets = PROD_PACKETS, directorIn = PROD_DIRECTOR_IN) {
  const dir = `/tmp/lvsaudit-bench-prod-v${PROD_GEN_VERSION}-${directorIn}-${packets}`;
  const marker = path.join(dir, 'expected.json');
  if (!existsSync(marker)) {
    rmSync(dir, { recursive: true, force: true });
    const t0 = Date.now();
    process.stderr.write(`bench-verify: generating a production-shaped NAT set of ~${packets} packets (director ingress: ${directorIn}) into ${dir} …\n`);
    const r = spawnSync(
      process.execPath,
      [path.join(repoRoot, 'scripts', 'make-production-set.mjs'), '--packets', String(packets), '--director-in', directorIn, dir],
      { stdio: ['ignore', 'ignore', 'inherit'] },
    );
    if (r.status !== 0) throw new Error('make-production-set.mjs failed');
    process.stderr.write(`bench-verify: generated in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
  }
  const exp = JSON.parse(readFileSync(marker, 'utf8'));
  const bytes = Object.values(exp.files).reduce((a, f) => a + f.bytes, 0);
  return { dir, packets: exp.packets, connections: exp.connections, bytes, directorIn: exp.generator.directorIngress };
}

/** Generates (once, cached in /tmp) `conns` long-lived keep-alive NAT connections carrying
 *  `packets` between them (make-production-set.mjs --long); returns its directory and count. */
export function ensureLongSet(packets, conns = SOAK_CONNS) {
  const dir = `/tmp/lvsaudit-bench-long-v${LONG_GEN_VERSION}-${conns}-${packets}`;
  const marker = path.join(dir, 'expected.json');
  if (!existsSync(marker)) {
    rmSync(dir, { recursive: true, force: true });
    process.stderr.write(`bench-verify: generating ${conns} long-lived NAT connections of ~${packets} packets into ${dir} …\n`);
    const r = spawnSync(process.execPath, [path.join(repoRoot, 'scripts', 'make-production-set.mjs'), '--long', String(conns), '--packets', String(packets), dir], {
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    if (r.status !== 0) throw new Error('make-production-set.mjs --long failed');
  }
  const exp = JSON.parse(readFileSync(marker, 'utf8'));
  return { dir, packets: exp.packets, connections: exp.connections };
}

function verifyArgs(dir) {
  const f = (n) => path.join(dir, n);
  return [
    path.join(repoRoot, 'bin', 'lvsaudit.js'),
    'verify',
    '--config', f('service.conf'),
    '--client', f('client.pcap'),
    '--director', f('director-eth0.pcap'),
    '--director', f('director-eth1.pcap'),
    '--rs-capture', f('rs1.pcap'),
    '--rs-capture', f('rs2.pcap'),
    '--format', 'json',
  ];
}

/** One verify run: wall seconds, peak RSS (KiB), the parsed report and the threads pass 2 used. */
function runOnce(dir, env) {
  const out = path.join(dir, 'report.json');
  const useTime = existsSync('/usr/bin/time');
  const args = verifyArgs(dir);
  const fd = openSync(out, 'w');
  const t0 = process.hrtime.bigint();
  const r = spawnSync(useTime ? '/usr/bin/time' : process.execPath, useTime ? ['-v', process.execPath, ...args] : args, {
    stdio: ['ignore', fd, 'pipe'],
    encoding: 'utf8',
    env: { ...process.env, LVSAUDIT_REPORT_RSS: '1', LVSAUDIT_PARALLEL_DEBUG: '1', ...env },
  });
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  closeSync(fd);
  const err = r.stderr ?? '';
  const m = /Maximum resident set size \(kbytes\): (\d+)/.exec(err) ?? /maxrss (\d+) KiB/.exec(err);
  const user = /User time \(seconds\): ([\d.]+)/.exec(err);
  const sys = /System time \(seconds\): ([\d.]+)/.exec(err);
  // verify exits 1 on a failing verdict; the set is conformant, so anything but 0 is a problem.
  const exit = useTime ? Number(/Exit status: (\d+)/.exec(err)?.[1] ?? r.status) : r.status;
  if (exit !== 0) throw new Error(`verify failed (exit ${exit}): ${err.split('\n').slice(0, 3).join(' | ')}`);
  const report = JSON.parse(readFileSync(out, 'utf8'));
  const shares = Number(/pass 2 split in (\d+) shares/.exec(err)?.[1] ?? 1);
  const fed = err.includes('pass 2 reads on a feeder thread');
  const how = shares > 1 ? `pass 2 split in ${shares} shares` : fed ? 'pass 2 read on a feeder thread and judged on the main one' : 'pass 2 on one thread';
  return { seconds, rssKiB: m ? Number(m[1]) : null, cpuSeconds: user && sys ? Number(user[1]) + Number(sys[1]) : null, report, how };
}

/** A bench.mjs section: { name, run(ctx) } → { pps, medianPps, seconds, medianSeconds, rssKiB, note }.
 *  `env` adds to the run's environment (LVSAUDIT_THREADS=2: a forced split); `set` makes (or
 *  finds) the capture set, `check` judges the first run's report, `describe` names the set in the
 *  note. `ownData`: bench.mjs needs no decode capture for it. */
function makeSection(name, env, { set = () => ensureVerifySet(), check = () => {}, describe = (s) => `${s.packets.toLocaleString('en-US')} packets over 5 files`, target = '; target ≥ 1,000,000 pkt/s, RSS ≤ 512 MiB' } = {}) {
  const run = () => {
    const s = set();
    const { dir, packets } = s;
    const runs = [];
    for (let i = 0; i < REPEAT; i++) runs.push(runOnce(dir, env));
    const frames = runs[0].report.stats.frames;
    if (frames !== packets) throw new Error(`verify read ${frames} frames, the set has ${packets}`);
    if (runs.some((r) => r.report.verdict !== 'pass')) throw new Error(`${name}: verify did not pass the conformant set ${dir}`);
    check(runs[0].report, dir);
    const secs = runs.map((r) => r.seconds).sort((a, b) => a - b);
    const mid = secs.length >> 1;
    const median = secs.length % 2 ? secs[mid] : (secs[mid - 1] + secs[mid]) / 2;
    const rss = Math.max(...runs.map((r) => r.rssKiB ?? 0)) || null;
    const cpu = Math.min(...runs.map((r) => r.cpuSeconds ?? Infinity));
    return {
      pps: packets / secs[0],
      medianPps: packets / median,
      ...(Number.isFinite(cpu) ? { cpuPps: packets / cpu } : {}),
      seconds: secs[0],
      medianSeconds: median,
      rssKiB: rss,
      note: `${describe(s, secs[0])}, ${runs[0].how}${Number.isFinite(cpu) ? `, ${Math.round(packets / cpu).toLocaleString('en-US')} pkt/s per CPU second` : ''}${target}`,
    };
  };
  return { name, run, ownData: true };
}

/** What users get: with two free cores, pass 2 read on a feeder thread while the main one judges
 *  (src/verify/parallel/feeder.ts); with three or more, split by connection
 *  (src/verify/parallel/plan.ts SPLIT_MIN_CORES). */
export const verifySection = makeSection('verify (NAT, 4 points)', {});
/** Everything on one thread (LVSAUDIT_THREADS=1): what the feeder gains. */
export const verifyOneThreadSection = makeSection('verify on one thread', { LVSAUDIT_THREADS: '1' });
/** Pass 2 split by connection over two threads, forced (automatic only from three free cores). */
export const verifySplitSection = makeSection('verify, split over 2 threads', { LVSAUDIT_THREADS: '2' });
/** The production-shaped set (super-segments, GRO, partial checksums), as users run it. */
export const verifyProductionSection = makeSection('verify, production-shaped', {}, {
  set: () => ensureProductionSet(),
  check: (report, dir) => {
    const bad = report.findings.filter((f) => f.severity === 'error' || f.severity === 'warning').map((f) => `${f.severity} ${f.rule}`);
    if (bad.length > 0) throw new Error(`verify reported ${[...new Set(bad)].join(', ')} on the conformant production-shaped set ${dir}`);
    const info = new Set(report.findings.map((f) => f.rule));
    for (const id of ['capture.checksum-offload', 'capture.segmentation-offload']) {
      if (!info.has(id)) throw new Error(`verify did not report ${id} on the production-shaped set ${dir}`);
    }
  },
  describe: (s, seconds) =>
    `${s.packets.toLocaleString('en-US')} packets over 5 files (${s.connections.toLocaleString('en-US')} connections, ${(s.bytes / 1e9).toFixed(2)} GB, ` +
    `${Math.round(s.bytes / 1e6 / seconds).toLocaleString('en-US')} MB/s; super-segments, GRO, director in: ${s.directorIn}, partial checksums)`,
  target: '',
});

/**
 * The memory soak (issue 21): verify at two capture lengths of the same traffic, peak RSS beside
 * the packet count, so that growth with capture length shows; the records held at once
 * (stats.maxLivePackets) beside it. One run per size (the sets are large). Target: < 512 MiB.
 */
function soakSection(name, list, set, what) {
  const run = () => {
    const rows = [];
    for (const n of list) {
      const s = set(n);
      const r = runOnce(s.dir, {});
      if (r.report.stats.frames !== s.packets) throw new Error(`verify read ${r.report.stats.frames} frames, the set has ${s.packets}`);
      if (r.report.verdict !== 'pass') throw new Error(`${name}: verify did not pass the conformant set ${s.dir}`);
      rows.push({ ...r, packets: s.packets, held: r.report.stats.maxLivePackets, connections: r.report.stats.connections });
    }
    const last = rows[rows.length - 1];
    const fmt = (x) => x.toLocaleString('en-US');
    const mib = (k) => (k ? `${(k / 1024).toFixed(0)} MiB` : 'RSS n/a');
    return {
      pps: last.packets / last.seconds,
      medianPps: last.packets / last.seconds,
      seconds: last.seconds,
      medianSeconds: last.seconds,
      rssKiB: last.rssKiB,
      note: `${what}: ${rows.map((r) => `${fmt(r.packets)} packets (${fmt(r.connections)} connections) → peak RSS ${mib(r.rssKiB)}, ${fmt(r.held)} records held at most`).join('; ')}; target < 512 MiB`,
      rows,
    };
  };
  return { name, run, ownData: true };
}

/** A few long-lived connections (keep-alive): memory must follow their rate, not their length. */
export const soakLongSection = soakSection('soak: long-lived connections', SOAK_LONG, (n) => ensureLongSet(n), `${SOAK_CONNS} keep-alive NAT connections`);
/** Many short connections (the bulk set): what stays per judged connection must stay small. */
export const soakShortSection = soakSection('soak: short connections', SOAK_SHORT, (n) => ensureVerifySet(n), 'short NAT connections (8 packets at 4 points)');

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  const rate = (x) => `${Math.round(x).toLocaleString('en-US')} pkt/s`;
  const words = process.argv.slice(2);
  const all = [verifySection, verifyOneThreadSection, verifySplitSection, verifyProductionSection, soakLongSection, soakShortSection];
  for (const section of all.filter((x) => words.length === 0 || words.some((w) => x.name.includes(w)))) {
    const r = section.run();
    console.log(
      `${section.name}: best ${rate(r.pps)} (${r.seconds.toFixed(2)} s), median ${rate(r.medianPps)} (${r.medianSeconds.toFixed(2)} s)` +
        `${r.rssKiB ? `, peak RSS ${(r.rssKiB / 1024).toFixed(0)} MiB` : ''} — ${r.note}`,
    );
  }
}
