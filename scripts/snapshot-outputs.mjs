#!/usr/bin/env node
// Writes what `verify` (text, JSON, JUnit, --pcap-out, --show) and `decode` (text, JSON) print
// for every committed capture set into DIR, one file per set and format, so that a refactoring
// can be checked byte for byte against the build before it:
//   node scripts/snapshot-outputs.mjs /tmp/before   (on the old build)
//   node scripts/snapshot-outputs.mjs /tmp/after && diff -r /tmp/before /tmp/after
// Only the fields that depend on the machine (peak memory figures, timings) are not written.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
// LVSAUDIT_BIN runs another build's CLI (an older checkout's bin/lvsaudit.js) over this tree's fixtures.
const cli = process.env.LVSAUDIT_BIN ? path.resolve(process.env.LVSAUDIT_BIN) : path.join(root, 'bin', 'lvsaudit.js');
const out = process.argv[2] ? path.resolve(process.argv[2]) : undefined;
if (!out) {
  process.stderr.write('usage: snapshot-outputs.mjs DIR\n');
  process.exit(2);
}
mkdirSync(out, { recursive: true });

function sets() {
  const found = [];
  for (const group of ['verify', 'lab', 'replay', 'fullnat']) {
    const dir = path.join(root, 'fixtures', group);
    if (!existsSync(dir)) continue;
    for (const name of readdirSync(dir).sort()) {
      const d = path.join(dir, name);
      if (existsSync(path.join(d, 'service.conf')) && existsSync(path.join(d, 'client.pcap'))) found.push({ name: `${group}-${name}`, dir: d });
    }
  }
  return found;
}

function profileOf(dir) {
  for (const [file, pick] of [['expected.json', (j) => j.profile], ['replay.json', (j) => j.recipe?.profile]]) {
    const f = path.join(dir, file);
    if (!existsSync(f)) continue;
    const p = pick(JSON.parse(readFileSync(f, 'utf8')));
    if (typeof p === 'string') return p;
  }
  return null;
}

function pointArgs(dir) {
  const files = readdirSync(dir);
  const perIf = files.filter((f) => /^director-.+\.pcap$/.test(f)).sort();
  const director = perIf.length > 0 ? perIf : files.filter((f) => f === 'director.pcap');
  const rs = files.filter((f) => /^rs\d+\.pcap$/.test(f)).sort();
  return ['--client', path.join(dir, 'client.pcap'), ...director.flatMap((f) => ['--director', path.join(dir, f)]), ...rs.flatMap((f) => ['--rs-capture', path.join(dir, f)])];
}

function run(args, env = {}) {
  // Run in DIR so that the evidence file is named the same, relative, in every snapshot.
  const r = spawnSync(process.execPath, [cli, ...args], { cwd: out, encoding: 'buffer', env: { ...process.env, ...env }, maxBuffer: 1 << 30 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr.toString('utf8') };
}

function withoutPeaks(json) {
  const doc = JSON.parse(json);
  if (doc.stats) {
    delete doc.stats.maxLiveConnections;
    delete doc.stats.maxLivePackets;
  }
  return `${JSON.stringify(doc, null, 1)}\n`;
}

let count = 0;
for (const s of sets()) {
  const profile = profileOf(s.dir);
  const base = ['verify', '--config', path.join(s.dir, 'service.conf'), ...pointArgs(s.dir), ...(profile ? ['--profile', profile] : [])];
  for (const [label, args] of [
    ['configured', base],
    ['inferred', base.filter((_, i) => i !== 1 && i !== 2)],
  ]) {
    for (const format of ['text', 'json', 'junit']) {
      const r = run([...args, '--format', format]);
      const body = format === 'json' && r.stdout.length > 0 ? withoutPeaks(r.stdout.toString('utf8')) : r.stdout.toString('utf8');
      writeFileSync(path.join(out, `${s.name}.${label}.${format}`), `exit ${r.status}\n${r.stderr}${body}`);
      count++;
    }
    const pcap = `${s.name}.${label}.evidence.pcapng`;
    const r = run([...args, '--format', 'text', '--pcap-out', pcap, '--show', ':']);
    writeFileSync(path.join(out, `${s.name}.${label}.show`), `exit ${r.status}\n${r.stderr}${r.stdout.toString('utf8')}`);
    count += 2;
  }
  for (const f of readdirSync(s.dir).filter((f) => f.endsWith('.pcap')).sort()) {
    const t = run(['decode', path.join(s.dir, f)]);
    const j = run(['decode', '--json', path.join(s.dir, f)]);
    writeFileSync(path.join(out, `${s.name}.${f}.decode`), `exit ${t.status}\n${t.stderr}${t.stdout}exit ${j.status}\n${j.stderr}${j.stdout}`);
    count++;
  }
}
const arpDir = path.join(root, 'fixtures', 'arp');
if (existsSync(arpDir)) {
  for (const f of readdirSync(arpDir).filter((f) => f.endsWith('.pcap')).sort()) {
    for (const format of ['text', 'json']) {
      const r = run(['arp', '--format', format, path.join(arpDir, f)]);
      writeFileSync(path.join(out, `arp-${f}.${format}`), `exit ${r.status}\n${r.stderr}${r.stdout}`);
      count++;
    }
  }
}
process.stdout.write(`${count} outputs written to ${out}\n`);
