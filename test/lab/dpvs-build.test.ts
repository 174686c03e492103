/**
 * Where the DPVS lab's programs come from (src/lab/dpvs/build.ts), without DPVS itself: a tiny
 * stand-in release (a tarball whose config.mk and Makefiles make three scripts, and a patch)
 * goes through the real build steps (unpack, patch, make -C src, make -C tools, rename into
 * the cache). Two builds at once end with one complete cache entry and nothing else; a second
 * call reuses it without building; missing build tools exit 4 naming the packages; --dpvs-bin
 * takes the flat and the built-tree layouts. (A DPVS that does not start: dpvs-lab.test.ts.)
 */
import { afterAll, describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { DPVS_PATCH, DPVS_TARBALL, cacheKey, compareVersions, dpvsBinaries, findBinaries, missingBuildTools, processAlive } from '../../src/lab/dpvs/build.js';
import { EnvironmentError, InputError } from '../../src/errors.js';
import { need, repoRoot } from '../helpers/env.js';

const scratch = mkdtempSync(join(tmpdir(), 'lvsa-dpvs-build-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function write(file: string, text: string, mode = 0o644): void {
  mkdirSync(join(file, '..'), { recursive: true });
  writeFileSync(file, text);
  chmodSync(file, mode);
}

/** A stand-in DPVS release: its make steps write the three programs (after a pause, so two builds overlap). */
function fakeRelease(dir: string): void {
  const tree = join(dir, 'dpvs-0.0.0');
  write(join(tree, 'config.mk'), 'export CONFIG_FAKE=1\n');
  write(join(tree, 'VERSION'), 'unpatched\n');
  // The programs print CONFIG_FAKE as make saw it: proof that config.mk was sourced first.
  const prog = (name: string, file: string): string => `\tprintf '#!/bin/sh\\necho ${name} %s\\n' "$$CONFIG_FAKE" > ${file}\n\tchmod +x ${file}\n`;
  write(join(tree, 'src', 'Makefile'), `all:\n\tsleep 1\n${prog('dpvs', 'dpvs')}`);
  write(join(tree, 'tools', 'Makefile'), `all:\n\tmkdir -p ipvsadm dpip/build\n${prog('ipvsadm', 'ipvsadm/ipvsadm')}${prog('dpip', 'dpip/build/dpip')}`);
  execFileSync('tar', ['-czf', join(dir, DPVS_TARBALL), '-C', dir, 'dpvs-0.0.0']);
  writeFileSync(join(dir, DPVS_PATCH), '--- a/VERSION\n+++ b/VERSION\n@@ -1 +1 @@\n-unpatched\n+patched\n');
  rmSync(tree, { recursive: true });
}

const canBuild = missingBuildTools().length === 0;

describe('DPVS build cache', () => {
  it.skipIf(!need(canBuild, `DPVS build tools missing: ${missingBuildTools().join(', ')}`))(
    'two builds at once leave one complete entry keyed by tarball+patch (a killed build\'s work removed), reused afterwards',
    async () => {
      const share = join(scratch, 'share');
      const cache = join(scratch, 'cache');
      mkdirSync(share);
      fakeRelease(share);
      const env = { LVSAUDIT_DPVS_DIR: process.env.LVSAUDIT_DPVS_DIR, XDG_CACHE_HOME: process.env.XDG_CACHE_HOME };
      process.env.LVSAUDIT_DPVS_DIR = share;
      process.env.XDG_CACHE_HOME = cache;
      try {
        const { readFileSync } = await import('node:fs');
        const key = cacheKey(readFileSync(join(share, DPVS_TARBALL)), readFileSync(join(share, DPVS_PATCH)));
        // What a build killed half-way leaves: its work directory, named by its (gone) pid.
        let deadPid = 4_000_000;
        while (processAlive(deadPid)) deadPid++;
        mkdirSync(join(cache, 'lvsaudit', `${key}.tmp-${deadPid}`, 'tree'), { recursive: true });
        const steps: string[] = [];
        const [a, b] = await Promise.all([dpvsBinaries({ onStep: (l) => steps.push(l) }), dpvsBinaries({ onStep: (l) => steps.push(l) })]);
        expect(a.dpvs).toBe(b.dpvs);
        const entries = readdirSync(join(cache, 'lvsaudit'));
        // One entry, no work directory (neither theirs nor the abandoned one), no lock left.
        expect(entries).toEqual([key]);
        expect(readdirSync(join(cache, 'lvsaudit', key)).sort()).toEqual(['bin', 'build.log', 'source.json']);
        expect(execFileSync(a.dpvs, { encoding: 'utf8' }).trim()).toBe('dpvs 1');
        expect(readFileSync(join(cache, 'lvsaudit', key, 'build.log'), 'utf8')).toMatch(/==== patch/);
        // One line per step on the way: unpack, patch, both makes, done.
        for (const s of ['unpack', 'patch', 'make -C src', 'make -C tools', 'done']) expect(steps.some((l) => l.includes(s))).toBe(true);
        const mtime = statSync(a.dpvs).mtimeMs;
        const later: string[] = [];
        const c = await dpvsBinaries({ onStep: (l) => later.push(l) });
        expect([c.dpvs, statSync(c.dpvs).mtimeMs, later]).toEqual([a.dpvs, mtime, []]);
      } finally {
        for (const [k, v] of Object.entries(env)) {
          if (v === undefined) delete process.env[k];
          else process.env[k] = v;
        }
      }
    },
    60_000,
  );

  it('missing build tools exit 4 naming what to install', () => {
    const cli = join(repoRoot, 'bin', 'lvsaudit.js');
    const emptyPath = mkdtempSync(join(scratch, 'path-'));
    const share = mkdtempSync(join(scratch, 'share-'));
    fakeRelease(share);
    const r = spawnSync(process.execPath, [cli, 'lab', 'dpvs-build'], {
      encoding: 'utf8',
      env: { ...process.env, PATH: emptyPath, XDG_CACHE_HOME: join(scratch, 'empty-cache'), LVSAUDIT_DPVS_DIR: share },
    });
    expect(r.status).toBe(4);
    expect(r.stderr).toMatch(/^lvsaudit: cannot build DPVS: missing make \(build-essential\).*apt-get install .*libdpdk-dev/);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('--dpvs-bin takes the flat, bin/ and built-tree layouts and refuses a directory without the three programs', async () => {
    const layouts = {
      flat: ['dpvs', 'ipvsadm', 'dpip'],
      bin: ['bin/dpvs', 'bin/ipvsadm', 'bin/dpip'],
      tree: ['src/dpvs', 'tools/ipvsadm/ipvsadm', 'tools/dpip/build/dpip'],
    };
    for (const [name, files] of Object.entries(layouts)) {
      const dir = join(scratch, `layout-${name}`);
      for (const f of files) write(join(dir, f), '#!/bin/sh\n', 0o755);
      const b = await dpvsBinaries({ bin: dir });
      expect([b.dpvs, b.ipvsadm, b.dpip]).toEqual(files.map((f) => join(dir, f)));
      // Not executable: not a build.
      chmodSync(join(dir, files[2]!), 0o644);
      expect(findBinaries(dir)).toBeNull();
      await expect(dpvsBinaries({ bin: dir })).rejects.toThrow(InputError);
    }
    await expect(dpvsBinaries({ bin: scratch, src: scratch })).rejects.toThrow(InputError);
    await expect(dpvsBinaries({ src: scratch })).rejects.toThrow(/not a DPVS source tree/);
    expect(new EnvironmentError('x').exitCode).toBe(4);
  });

  it('cache key: changes with any byte of tarball or patch, and with where the two are split', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 64 }), fc.uint8Array({ maxLength: 64 }), fc.nat(), (t, p, at) => {
        const tb = Buffer.from(t);
        const pb = Buffer.from(p);
        const key = cacheKey(tb, pb);
        expect(key).toMatch(/^dpvs-[0-9a-f]{16}$/);
        const flipped = Buffer.from(tb);
        flipped[at % tb.length] ^= 1;
        expect(cacheKey(flipped, pb)).not.toBe(key);
        // The same bytes cut elsewhere between the two files are another input.
        const all = Buffer.concat([tb, pb]);
        const cut = (at % all.length) + 1;
        if (cut !== tb.length) expect(cacheKey(all.subarray(0, cut), all.subarray(cut))).not.toBe(key);
      }),
    );
  });

  it('compares DPDK versions numerically', () => {
    expect(compareVersions('22.11.4', '22.11')).toBeGreaterThan(0);
    expect(compareVersions('22.11', '22.11')).toBe(0);
    expect(compareVersions('21.11.2', '22.11')).toBeLessThan(0);
    expect(compareVersions('23.03', '22.11')).toBeGreaterThan(0);
  });
});
