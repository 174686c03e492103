/**
 * Every bad option value and every unwritable output path, through the built CLI: exit 2, one
 * stderr line starting `lvsaudit:` that names the option (not a capture, not "internal error"),
 * and no capture read. The captures given are a FIFO nobody writes to: opening it for reading
 * blocks until the run is killed, so a run that reached the captures cannot exit 2 in time.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { hasCommand, need, repoRoot } from '../helpers/env.js';

const cli = path.join(repoRoot, 'bin', 'lvsaudit.js');
const built = existsSync(path.join(repoRoot, 'dist', 'cli', 'main.js'));
const tmp = mkdtempSync(path.join(os.tmpdir(), 'lvsa-bad-options-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** A capture that can never be read: a FIFO without a writer. */
const fifo = path.join(tmp, 'never-written.pcap');
const haveFifo = hasCommand('mkfifo') && spawnSync('mkfifo', [fifo]).status === 0;
const conf = path.join(repoRoot, 'fixtures', 'verify', 'nat-ok', 'service.conf');
const aFile = path.join(tmp, 'plain-file');
writeFileSync(aFile, 'not a directory\n');
const existingReport = path.join(tmp, 'report.txt');
writeFileSync(existingReport, 'previous report\n');
const missingDir = path.join(tmp, 'no-such-dir', 'x');
/** Files and directories nobody may write, root included (sysctl files are 0444, their directories 0555). */
const unwritableFile = '/proc/sys/kernel/osrelease';
const unwritableDir = '/proc/sys/kernel';
const haveProcSys = existsSync(unwritableFile);

const caps = ['--client', fifo];
const flags = ['--vip', '192.0.2.10:80', '--mode', 'nat', '--rs', '10.0.0.11:8080'];

function escapeRe(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** [what, argv, the message it must say]: the message is the option's, so no capture was its cause. */
type Row = [string, string[], RegExp];

const verifyRows: Row[] = [
  ['unknown scheduler', ['verify', ...caps, ...flags, '--scheduler', 'foobar'], /^--scheduler 'foobar': unknown scheduler .*\bwlc\b/],
  ['scheduler typo names the closest', ['verify', ...caps, ...flags, '--scheduler', 'wrrr'], /closest: wrr/],
  ['scheduler without the flags service', ['verify', ...caps, '--config', conf, '--scheduler', 'rr'], /^--scheduler describes the service given by --vip/],
  ['persistence without the flags service', ['verify', ...caps, '--persistence', '60'], /^--persistence describes/],
  ['unknown rule id', ['verify', ...caps, '--ignore', 'no.such-rule'], /^--ignore 'no\.such-rule': not a rule id; rule ids start with .*sched\./],
  ['rule id typo names the closest', ['verify', ...caps, '--ignore', 'rewrite.tll'], /^--ignore 'rewrite\.tll': not a rule id; closest: rewrite\.ttl/],
  ['rule id of a known family', ['verify', ...caps, '--ignore', 'sched.nope'], /rules of that family: sched\.unknown-rs/],
  ['RS address that does not parse', ['verify', ...caps, '--rs-capture', `10.0.0.300=${fifo}`], /^--rs-capture '10\.0\.0\.300': not an IP address/],
  ['RS address that is no real server', ['verify', ...caps, '--config', conf, '--rs-capture', `10.0.0.99=${fifo}`], /10\.0\.0\.99 is not a real server of the service \(real servers: 10\.0\.0\.11, 10\.0\.0\.12\)/],
  ['toa kind over 255', ['verify', ...caps, '--toa-kind', '256'], /^--toa-kind '256'/],
  ['toa kind in hex', ['verify', ...caps, '--toa-kind', '0xfe'], /^--toa-kind '0xfe'/],
  ['unknown format (commander choice)', ['verify', ...caps, '--format', 'xml'], /--format.*'xml' is invalid/],
  ['unknown mode (commander choice)', ['verify', ...caps, '--mode', 'snat'], /--mode.*'snat' is invalid/],
  ['unknown profile (commander choice)', ['verify', ...caps, '--profile', 'bsd'], /--profile.*'bsd' is invalid/],
  ['unknown option (commander)', ['verify', ...caps, '--windw', '5'], /^unknown option '--windw' \(Did you mean --window\?\)$/],
  ['a later capture that does not exist, said before the FIFO is read', ['verify', ...caps, '--director', path.join(tmp, 'nope.pcap')], /^--director .*nope\.pcap: no such file$/],
  ['a capture that is a directory', ['verify', ...caps, '--rs-capture', tmp], /^--rs-capture .*: is a directory$/],
  ['missing option argument (commander)', ['verify', ...caps, '--output'], /--output <file>' argument missing/],
];
for (const v of ['Infinity', '0x10', ' 5', '1e3', '-5', '', '0', 'NaN', '5ms', '3600001']) {
  verifyRows.push([`--window ${JSON.stringify(v)}`, ['verify', ...caps, '--window', v], new RegExp(`^--window '${escapeRe(v)}': not a decimal number of milliseconds above 0 and at most 3600000$`)]);
}
for (const v of ['0', '0x10', ' 5', '1e3', '-1', '2678401', '1.5']) {
  verifyRows.push([`--persistence ${JSON.stringify(v)}`, ['verify', ...caps, ...flags, '--persistence', v], new RegExp(`^--persistence '${escapeRe(v)}': not a whole number of seconds in 1\\.\\.2678400$`)]);
}

/** Output files of verify: each is refused before the FIFO would be opened. */
const outputRows: Row[] = [];
for (const option of ['--output', '--pcap-out']) {
  outputRows.push(
    [`${option} into a missing directory`, ['verify', ...caps, option, missingDir], new RegExp(`^${option} ${missingDir}: no such directory$`)],
    [`${option} onto a directory`, ['verify', ...caps, option, tmp], new RegExp(`^${option} ${tmp}: is a directory$`)],
    [`${option} under a plain file`, ['verify', ...caps, option, path.join(aFile, 'x')], new RegExp(`^${option} ${aFile}/x: .*not a directory$`)],
    [`${option} onto a capture the run reads`, ['verify', ...caps, option, fifo], /which this run reads \(inputs are never overwritten\)$/],
  );
  if (haveProcSys) {
    outputRows.push(
      [`${option} onto an unwritable file`, ['verify', ...caps, option, unwritableFile], new RegExp(`^${option} ${unwritableFile}: not writable`)],
      [`${option} into an unwritable directory`, ['verify', ...caps, option, `${unwritableDir}/x`], new RegExp(`^${option} ${unwritableDir}/x: directory ${unwritableDir} is not writable`)],
    );
  }
}
outputRows.push(['--pcap-out the same file as --output', ['verify', ...caps, '--output', existingReport, '--pcap-out', existingReport], /^--pcap-out .*: the same file as --output$/]);

const arpRows: Row[] = [
  ['unknown capture point', ['arp', `martian=${fifo}`], /^unknown capture point 'martian' \(client, router, director, rs:IP, rsN\)$/],
  ['rs:IP that does not parse', ['arp', `rs:10.0.0.300=${fifo}`], /^capture point 'rs:10\.0\.0\.300': '10\.0\.0\.300' is not an IPv4 address/],
  ['unknown ARP rule id', ['arp', '--ignore', 'arp.vip-answerd-by-rs', fifo], /^--ignore 'arp\.vip-answerd-by-rs': not an ARP rule id; closest: arp\.vip-answered-by-rs/],
  ['--count in hex', ['arp', '--count', '0x2', fifo], /^--count '0x2': not a whole number of probes in 1\.\.10/],
  ['--count with a space', ['arp', '--count', ' 3', fifo], /^--count ' 3'/],
  ['--vip that does not parse', ['arp', '--vip', '10.0.0.300', fifo], /^--vip '10\.0\.0\.300': not an IPv4 or IPv6 address/],
  ['--vip with a bad port', ['arp', '--vip', '10.0.0.1:http', fifo], /^--vip '10\.0\.0\.1:http'/],
  ['a later capture that does not exist, said before the FIFO is read', ['arp', fifo, `director=${tmp}/nope.pcap`], /^director=.*nope\.pcap: no such file$/],
  ['unknown option (commander)', ['arp', '--bogus', fifo], /^unknown option '--bogus'$/],
];

const write = path.join(tmp, 'replay.pcap');
const replayRows: Row[] = [
  ['--clients in hex', ['replay', '--write', write, '--clients', '0x10'], /^--clients '0x10': not a whole number of clients in 1\.\.200/],
  ['--seed negative', ['replay', '--write', write, '--seed', '-1'], /^--seed '-1'/],
  ['--mtu in exponent form', ['replay', '--write', write, '--mtu', '1e3'], /^--mtu '1e3': not a whole number of bytes in 576\.\.65535/],
  ['--rate Infinity', ['replay', '--write', write, '--rate', 'Infinity'], /^--rate 'Infinity'/],
  ['--timeout with a space', ['replay', '--write', write, '--timeout', ' 50'], /^--timeout ' 50'/],
  ['--persistence 0', ['replay', '--write', write, '--persistence', '0'], /^--persistence '0'/],
  ['--scheduler the reference director lacks', ['replay', '--write', write, '--scheduler', 'lblc'], /^--scheduler 'lblc': unknown scheduler \(closest: lc, wlc\) \(known: rr wrr lc wlc sh dh\)$/],
  ['--capture without --iface', ['replay', '--write', write, '--capture', path.join(tmp, 'c.pcap')], /^--capture is for live runs/],
  ['--write into a missing directory', ['replay', '--write', missingDir], new RegExp(`^--write ${missingDir}: no such directory$`)],
  ['--write onto a directory', ['replay', '--write', tmp], /^--write .*: is a directory$/],
  ['--out onto a plain file', ['replay', '--out', aFile], /^--out .*: not a directory$/],
  ['--out under a plain file', ['replay', '--out', path.join(aFile, 'sub')], /^--out .*plain-file is not a directory$/],
];
if (haveProcSys) {
  replayRows.push(
    ['--write onto an unwritable file', ['replay', '--write', unwritableFile], /^--write .*: not writable/],
    ['--out in an unwritable directory', ['replay', '--out', `${unwritableDir}/lvsa-out`], /^--out .*: directory \/proc\/sys\/kernel is not writable/],
  );
}

const lab = ['lab', 'run', '--director', 'reference', '--mode', 'nat'];
const labRows: Row[] = [
  ['--connections in hex', [...lab, '--connections', '0x10'], /^--connections '0x10': not a whole number of connections in 1\.\.50/],
  ['--connections with a suffix', [...lab, '--connections', '5abc'], /^--connections '5abc'/],
  ['--connections over the range', [...lab, '--connections', '51'], /^--connections '51'/],
  ['--timeout in exponent form', ['lab', 'run', '--director', 'ipvs', '--mode', 'nat', '--timeout', '1e3'], /^--timeout '1e3': not a whole number of seconds/],
  ['--scheduler IPVS lacks', ['lab', 'run', '--director', 'ipvs', '--mode', 'nat', '--scheduler', 'conhash'], /^--scheduler 'conhash': unknown scheduler/],
  ['--out onto a plain file', [...lab, '--out', aFile], /^--out .*: not a directory$/],
  ['matrix --out onto a plain file', ['lab', 'matrix', '--out', aFile], /^--out .*: not a directory$/],
  ['--offloads not on or off', [...lab, '--offloads', 'maybe'], /^--offloads 'maybe': expected off or on$/],
];
if (haveProcSys) labRows.push(['--out in an unwritable directory', [...lab, '--out', `${unwritableDir}/lvsa-lab`], /^--out .*: directory \/proc\/sys\/kernel is not writable/]);

const commanderRows: Row[] = [
  ['unknown subcommand', ['verfy'], /^unknown command 'verfy'/],
  ['missing argument', ['decode'], /^missing required argument 'args'$/],
  ['unknown option of decode', ['decode', '--jsn', fifo], /^unknown option '--jsn' \(Did you mean --json\?\)$/],
];

function run(argv: string[]): { code: number | null; signal: NodeJS.Signals | null; err: string } {
  // A run that opened the FIFO waits forever: the timeout turns that into a failed row.
  const r = spawnSync(process.execPath, [cli, ...argv], { encoding: 'utf8', timeout: 20_000, stdio: ['ignore', 'pipe', 'pipe'] });
  return { code: r.status, signal: r.signal, err: r.stderr };
}

describe.skipIf(!need(built, 'dist/ not built (npm test builds it)') || !need(haveFifo, 'mkfifo not available'))('bad options and unwritable outputs: exit 2, one line, before any capture is read', () => {
  const tables: Array<[string, Row[]]> = [
    ['verify options', verifyRows],
    ['verify output files', outputRows],
    ['arp', arpRows],
    ['replay', replayRows],
    ['lab', labRows],
    ['commander usage errors', commanderRows],
  ];
  for (const [name, rows] of tables) {
    describe(name, () => {
      it.each(rows)('%s', (_what, argv, message) => {
        const r = run(argv);
        expect(r.signal, `killed: the run read a capture or did work (${argv.join(' ')})`).toBeNull();
        expect(r.code, r.err).toBe(2);
        const lines = r.err.split('\n').filter((l) => l !== '');
        expect(lines, r.err).toHaveLength(1);
        expect(lines[0]!.startsWith('lvsaudit: ')).toBe(true);
        expect(lines[0]).not.toMatch(/internal error/);
        expect(lines[0]!.slice('lvsaudit: '.length)).toMatch(message);
      });
    });
  }

  it('a refused run leaves an existing output file as it was and creates no new one', () => {
    const before = statSync(existingReport).mtimeMs;
    const r = run(['verify', ...caps, '--output', existingReport, '--window', '0x10']);
    expect(r.code).toBe(2);
    expect(statSync(existingReport).mtimeMs).toBe(before);
    const fresh = path.join(tmp, 'fresh', 'report.txt');
    mkdirSync(path.dirname(fresh));
    expect(run(['verify', ...caps, '--output', fresh, '--ignore', 'nope']).code).toBe(2);
    expect(existsSync(fresh)).toBe(false);
    for (const [, argv] of replayRows) {
      const i = argv.indexOf('--write');
      if (i >= 0 && argv[i + 1] === write) expect(existsSync(write), argv.join(' ')).toBe(false);
    }
  });
});
