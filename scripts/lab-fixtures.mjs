#!/usr/bin/env node
// Regenerate fixtures/lab/<scenario>/ from the real-kernel lab (src/lab/scenarios.ts).
// Needs root, iproute2, nftables, tcpdump, ethtool, and a build: `npx tsc -p .` first.
// Usage: node scripts/lab-fixtures.mjs [--out DIR] [SCENARIO...]   (default: all scenarios)
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeFileSync, mkdirSync } from 'node:fs';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { SCENARIOS } = await import(join(repoRoot, 'dist/lab/scenarios.js'));
const { writeScenarioFixture, fixturesIndex } = await import(join(repoRoot, 'dist/lab/fixtures.js'));

const args = process.argv.slice(2);
let out = join(repoRoot, 'fixtures/lab');
const names = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--out') out = resolve(args[++i] ?? '');
  else names.push(args[i]);
}
const selected = names.length > 0 ? names : SCENARIOS.map((s) => s.name);
mkdirSync(out, { recursive: true });
let failed = 0;
for (const name of selected) {
  const t0 = Date.now();
  try {
    const r = await writeScenarioFixture(name, out);
    const ok = r.connections.filter((c) => c.ok).length;
    console.log(`${name}: ${Date.now() - t0} ms, ${ok}/${r.connections.length} connections ok, ${Object.keys(r.captures).length} captures`);
  } catch (err) {
    failed++;
    console.error(`${name}: FAILED: ${err instanceof Error ? err.message : String(err)}`);
  }
}
if (names.length === 0) writeFileSync(join(out, 'README.md'), fixturesIndex());
process.exitCode = failed > 0 ? 1 : 0;
