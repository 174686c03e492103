/**
 * The esbuild bundle the launcher loads (dist/bundle, scripts/bundle.mjs) is the same program
 * as the tsc output: same decode, verify and arp output, same exit codes, the package version
 * found from either location, and the launcher picks the bundle only when it is not stale. The
 * launcher uses the bundle's V8 code cache, and a cache V8 refuses changes nothing but speed.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { need, repoRoot } from '../helpers/env.js';
import { PACKAGE, distFile } from '../../src/package-root.js';

const bundle = path.join(repoRoot, 'dist', 'bundle', 'main.js');
const tscMain = path.join(repoRoot, 'dist', 'cli', 'main.js');
const built = existsSync(bundle) && existsSync(tscMain);

const tmp = mkdtempSync(path.join(os.tmpdir(), 'lvsa-bundle-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Runs main() of one build with `args` (from a script file: `node -e` flags would reach the
 *  summary's worker threads through execArgv): stdout, stderr and the exit code. */
function runWith(entry: string, args: string[], env: NodeJS.ProcessEnv = process.env): { code: number | null; out: string; err: string } {
  const script = path.join(tmp, `run-${path.basename(path.dirname(entry))}.mjs`);
  writeFileSync(script, `const { main } = await import(${JSON.stringify(pathToFileURL(entry).href)});\nprocess.exitCode = await main(process.argv.slice(2));\n`);
  const r = spawnSync(process.execPath, [script, ...args], { encoding: 'utf8', env });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

const fx = (...p: string[]): string => path.join(repoRoot, 'fixtures', ...p);

describe('package root', () => {
  it('finds the package.json named lvsaudit and its version', () => {
    const pkg = JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { version: string };
    expect(PACKAGE.root).toBe(repoRoot);
    expect(PACKAGE.version).toBe(pkg.version);
    expect(distFile('lab', 'x.js')).toBe(path.join(repoRoot, 'dist', 'lab', 'x.js'));
  });
});

describe('bundled CLI', () => {
  it.skipIf(!need(built, 'dist/bundle not built (npm run build)'))('prints what the tsc build prints (decode, verify pass and fault, arp, --version)', () => {
    const verifySet = (name: string): string[] => {
      const d = fx('verify', name);
      const directors = ['director.pcap', 'director-eth0.pcap', 'director-eth1.pcap'].filter((f) => existsSync(path.join(d, f)));
      return ['verify', '--config', path.join(d, 'service.conf'), '--client', path.join(d, 'client.pcap'),
        ...directors.flatMap((f) => ['--director', path.join(d, f)]),
        '--rs-capture', path.join(d, 'rs1.pcap'), '--rs-capture', path.join(d, 'rs2.pcap'), '--format', 'json'];
    };
    const cases: string[][] = [
      ['decode', '-c', '20', fx('verify', 'dr-ok', 'client.pcap')],
      ['decode', '--summary', fx('arp', 'clean.pcap')],
      verifySet('dr-ok'),
      verifySet('fault-ip-id-rewritten'),
      ['arp', fx('arp', 'vip-answered-by-rs.pcap')],
      ['--version'],
      ['decode', '/nonexistent.pcap'],
    ];
    const codes: Array<number | null> = [];
    for (const args of cases) {
      const a = runWith(bundle, args);
      const b = runWith(tscMain, args);
      // verify's JSON carries its own run time; everything else must be byte-identical.
      const clean = (s: string): string => s.replace(/"(seconds|elapsedMs|durationMs)":\s*[\d.]+/g, '"$1":0').replace(/in \d+\.\d+ s \(\d+ packets\/s\)/g, '');
      expect(clean(a.out), args.join(' ')).toBe(clean(b.out));
      expect(clean(a.err), args.join(' ')).toBe(clean(b.err));
      expect(a.code, args.join(' ')).toBe(b.code);
      codes.push(a.code);
    }
    // The cases cover success, a rule failure and an input error.
    expect(codes).toStrictEqual([0, 0, 0, 1, expect.any(Number), 0, 2]);
  });

  it.skipIf(!need(built, 'dist/bundle not built (npm run build)'))('the launcher loads the bundle when it is at least as new as the tsc output', () => {
    expect(statSync(bundle).mtimeMs).toBeGreaterThanOrEqual(statSync(tscMain).mtimeMs);
    // A worker of the parallel summary is found next to the bundle's chunks (forced split of a small file).
    const env = { ...process.env, LVSAUDIT_THREADS: '2', LVSAUDIT_PARALLEL_MIN_BYTES: '0', LVSAUDIT_PARALLEL_DEBUG: '1' };
    const r = spawnSync(process.execPath, [path.join(repoRoot, 'bin', 'lvsaudit.js'), 'decode', '--summary', fx('arp', 'clean.pcap')], { encoding: 'utf8', env });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/2 ranges merged/);
    const viaBundle = runWith(bundle, ['decode', '--summary', fx('arp', 'clean.pcap')], env);
    expect(viaBundle.err).toMatch(/2 ranges merged/);
  });
});

describe('launcher and code cache', () => {
  const launcher = path.join(repoRoot, 'bin', 'lvsaudit.js');
  const cache = `${bundle}.code-cache`;
  const args = ['decode', '-c', '5', fx('verify', 'dr-ok', 'client.pcap')];
  const debugEnv = { ...process.env, LVSAUDIT_CODE_CACHE_DEBUG: '1' };

  it.skipIf(!need(built && existsSync(cache), 'dist/bundle or its code cache not built (npm run build)'))('the build records a cache that V8 accepts, and the output is the tsc build\'s', () => {
    const r = spawnSync(process.execPath, [launcher, ...args], { encoding: 'utf8', env: debugEnv });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toContain('code cache accepted');
    expect(r.stdout).toBe(runWith(tscMain, args).out);
  });

  it.skipIf(!need(built, 'dist/bundle not built (npm run build)'))('--debug stack traces name TypeScript lines (the bundle\'s source map)', () => {
    const r = spawnSync(process.execPath, [launcher, 'decode', '--debug', path.join(tmp, 'missing.pcap')], { encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/at runDecode \(.*src\/cli\/decode\.ts:\d+:\d+\)/);
  });

  it.skipIf(!need(built, 'dist/bundle not built (npm run build)'))('the bundle is strict code, as its ES module sources were, with no dynamic import() left (a vm.Script has no loader for it)', () => {
    for (const f of ['main.js', 'worker.js']) {
      const text = readFileSync(path.join(repoRoot, 'dist', 'bundle', f), 'utf8');
      expect(text.match(/(?<![\w$.])import\s*\(/g), f).toBeNull();
      // A directive only counts as the file's first statement.
      expect(text.startsWith("'use strict';"), f).toBe(true);
    }
    // And it runs strict: a CommonJS file is sloppy unless the directive is really first.
    const probe = path.join(tmp, 'strict-probe.cjs');
    writeFileSync(probe, readFileSync(bundle, 'utf8').replace(/^'use strict';/, "'use strict'; process.stdout.write((function () { return this; })() === undefined ? 'strict' : 'sloppy'); process.exit(0);"));
    const r = spawnSync(process.execPath, [probe], { encoding: 'utf8' });
    expect(r.stdout).toBe('strict');
  });

  it.skipIf(!need(built && existsSync(cache), 'dist/bundle or its code cache not built (npm run build)'))('a damaged cache is refused and the run is the same; a stale bundle is not loaded', () => {
    // A copy of the installed layout: bin/, dist/bundle/ (self-contained but for `cap`), package.json.
    const pkg = path.join(tmp, 'pkg');
    mkdirSync(path.join(pkg, 'dist', 'cli'), { recursive: true });
    cpSync(path.join(repoRoot, 'bin'), path.join(pkg, 'bin'), { recursive: true });
    cpSync(path.join(repoRoot, 'dist', 'bundle'), path.join(pkg, 'dist', 'bundle'), { recursive: true });
    cpSync(path.join(repoRoot, 'package.json'), path.join(pkg, 'package.json'));
    // Older than the bundle: the bundle is current.
    const fakeTsc = path.join(pkg, 'dist', 'cli', 'main.js');
    writeFileSync(fakeTsc, "export async function main() { process.stdout.write('tsc build\\n'); return 0; }\n");
    utimesSync(fakeTsc, new Date(0), new Date(0));
    const copiedCache = path.join(pkg, 'dist', 'bundle', 'main.js.code-cache');
    const bytes = readFileSync(copiedCache);
    for (let i = 64; i < bytes.length; i += 97) bytes[i] ^= 0x5a;
    writeFileSync(copiedCache, bytes);
    const bin = path.join(pkg, 'bin', 'lvsaudit.js');
    const damaged = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', env: debugEnv });
    expect(damaged.status, damaged.stderr).toBe(0);
    expect(damaged.stderr).toContain('code cache rejected');
    expect(damaged.stdout).toBe(runWith(tscMain, args).out);
    // A same-length edit of the bundle after the build, the cache of the old text still there
    // (V8 alone compares lengths and would run the old code): the cache is not used and the
    // edited code runs. "After" as file times tell it: a second later than the cache.
    writeFileSync(copiedCache, readFileSync(cache));
    const copiedBundle = path.join(pkg, 'dist', 'bundle', 'main.js');
    const text = readFileSync(copiedBundle, 'utf8');
    expect(text).toContain('Protocol hierarchy');
    writeFileSync(copiedBundle, text.replace('Protocol hierarchy', 'Protocol HIERARCHY'));
    const later = new Date(statSync(copiedCache).mtimeMs + 1000);
    utimesSync(copiedBundle, later, later);
    const summaryArgs = ['decode', '--summary', fx('arp', 'clean.pcap')];
    const edited = spawnSync(process.execPath, [bin, ...summaryArgs], { encoding: 'utf8', env: debugEnv });
    expect(edited.status, edited.stderr).toBe(0);
    expect(edited.stderr).toContain('code cache stale');
    expect(edited.stdout).toContain('Protocol HIERARCHY');
    // A bundle of another build (its own build id) next to this cache: not used either.
    const otherBuild = text.replace(/lvsaudit-build [0-9a-f]{40}/, `lvsaudit-build ${'1'.repeat(40)}`);
    expect(otherBuild).not.toBe(text);
    writeFileSync(copiedBundle, otherBuild);
    utimesSync(copiedBundle, new Date(0), new Date(0));
    const other = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', env: debugEnv });
    expect(other.stderr).toContain('code cache stale');
    expect(other.stdout).toBe(damaged.stdout);
    writeFileSync(copiedBundle, text);
    rmSync(copiedCache);
    const none = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', env: debugEnv });
    expect(none.stderr).toContain('code cache none');
    expect(none.stdout).toBe(damaged.stdout);
    // tsc output newer than the bundle: the launcher runs it, not the bundle.
    utimesSync(fakeTsc, new Date(), new Date(Date.now() + 60_000));
    const stale = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', env: debugEnv });
    expect(stale.stdout).toBe('tsc build\n');
    expect(stale.stderr).not.toContain('code cache');
  });
});
