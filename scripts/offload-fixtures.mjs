#!/usr/bin/env node
// Regenerate fixtures/offload/<name>/ (src/lab/offload-fixtures.ts): lab runs with --offloads on,
// the nftables ones on the host kernel, the ipvs ones in one boot of the lab VM.
// Needs root, iproute2, nftables, tcpdump, ethtool, tshark (ipvs: qemu-system-x86,
// linux-image-amd64, busybox-static, ipvsadm) and a build: `npm run build` first.
// Usage: node scripts/offload-fixtures.mjs [--out DIR] [--keep DIR] [NAME...|nftables|ipvs]   (default: all)
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const fx = await import(join(repoRoot, 'dist/lab/offload-fixtures.js'));
const { runLabCase } = await import(join(repoRoot, 'dist/lab/sequence.js'));
const { nftablesDriver } = await import(join(repoRoot, 'dist/lab/scenarios.js'));

const args = process.argv.slice(2);
let out = join(repoRoot, 'fixtures/offload');
let keep = null;
const names = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--out') out = resolve(args[++i] ?? '');
  else if (args[i] === '--keep') keep = resolve(args[++i] ?? '');
  else names.push(args[i]);
}
const selected =
  names.length === 0
    ? fx.OFFLOAD_FIXTURES
    : fx.OFFLOAD_FIXTURES.filter((f) => names.includes(f.name) || names.includes(f.director));
if (selected.length === 0) {
  console.error(`nothing selected; known: ${fx.OFFLOAD_FIXTURES.map((f) => f.name).join(', ')}, nftables, ipvs`);
  process.exit(2);
}
mkdirSync(out, { recursive: true });
const work = keep ?? mkdtempSync(join(tmpdir(), 'lvsaudit-offload-fixtures-'));
let failed = 0;

const report = (f, doc, t0) => {
  const ok = doc.run.connections.filter((c) => c.ok).length;
  const obs = Object.values(doc.observed);
  const sum = (k) => obs.reduce((a, o) => a + o[k], 0);
  console.log(
    `${f.name}: ${Date.now() - t0} ms, ${ok}/${doc.run.connections.length} answered, expected ${doc.expected.verdict} ${doc.expected.rules.join(' ')}; ` +
      `big sent ${sum('bigSent')}, big received ${sum('bigReceived')}, partial ${sum('partialChecksum')}/${sum('badChecksum')} bad`,
  );
};

// A failed attempt (e.g. tcpdump dropped packets under load) is retried once: a fixture must be a
// complete capture, and a second run is cheaper than a hole.
for (const f of selected.filter((x) => x.director === 'nftables')) {
  for (let attempt = 1; attempt <= 2; attempt++) {
    const t0 = Date.now();
    const dir = join(work, f.name);
    try {
      rmSync(dir, { recursive: true, force: true });
      await runLabCase(nftablesDriver, fx.offloadFixtureCase(f), dir, { offloads: 'on' });
      report(f, fx.writeOffloadFixture(f, dir, out), t0);
      break;
    } catch (err) {
      console.error(`${f.name}: attempt ${attempt} FAILED: ${err instanceof Error ? err.message : String(err)}`);
      if (attempt === 2) failed++;
    }
  }
}

const vmFixtures = selected.filter((x) => x.director === 'ipvs');
if (vmFixtures.length > 0) {
  const { runIpvsLab } = await import(join(repoRoot, 'dist/lab/vm/run.js'));
  let todo = vmFixtures;
  for (let attempt = 1; attempt <= 2 && todo.length > 0; attempt++) {
    const t0 = Date.now();
    const vmDir = join(work, `ipvs-${attempt}`);
    rmSync(vmDir, { recursive: true, force: true });
    try {
      const r = await runIpvsLab({
        cases: todo.map((f) => fx.offloadFixtureCase(f)),
        outDir: vmDir,
        offloads: 'on',
        verify: false,
        onProgress: (line) => console.error(`[vm ${((Date.now() - t0) / 1000).toFixed(0)} s] ${line}`),
      });
      const next = [];
      for (const f of todo) {
        const c = r.cases.find((x) => x.case.id === fx.offloadFixtureCase(f).id);
        if (!c || c.error) {
          console.error(`${f.name}: attempt ${attempt} FAILED: ${c?.error ?? 'missing'}`);
          next.push(f);
          continue;
        }
        report(f, fx.writeOffloadFixture(f, c.dir, out, r.guestKernel), t0);
      }
      todo = next;
    } catch (err) {
      console.error(`ipvs: attempt ${attempt} FAILED: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  failed += todo.length;
}

writeFileSync(join(out, 'README.md'), fx.offloadFixturesIndex(out));
if (keep === null) rmSync(work, { recursive: true, force: true });
process.exitCode = failed > 0 ? 1 : 0;
