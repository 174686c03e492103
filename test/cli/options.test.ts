/**
 * The shared option parsers (src/cli/options.ts), commander's error line (main.ts usageLine)
 * and the output-path check, in-process: properties over generated values where the rule is
 * general (every integer of the range is taken back as itself, every other spelling refused).
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import {
  KNOWN_SCHEDULERS,
  checkOutputDirectory,
  checkOutputFile,
  checkRuleIds,
  closestNames,
  editDistance,
  parseIntegerOption,
  parseIpOption,
  parsePositiveDecimalOption,
  parseSchedulerOption,
  parseToaKinds,
} from '../../src/cli/options.js';
import { usageLine } from '../../src/cli/main.js';
import { InputError } from '../../src/errors.js';
import { RULES } from '../../src/verify/model/catalog.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'lvsa-options-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** The message of the InputError `f` throws (fails the test when it throws nothing or something else). */
function refusal(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(InputError);
    return (e as InputError).message;
  }
  throw new Error('accepted');
}

const RULE_IDS: readonly string[] = RULES.map((r) => r.id);

describe('parseIntegerOption', () => {
  it('takes every integer of the range back as itself', () => {
    const rangeAndValue = fc
      .tuple(fc.integer({ min: 0, max: 1000 }), fc.integer({ min: 0, max: 1e9 }))
      .chain(([min, span]) => fc.tuple(fc.constant(min), fc.constant(min + span), fc.integer({ min, max: min + span })));
    fc.assert(
      fc.property(rangeAndValue, ([min, max, n]) => {
        expect(parseIntegerOption('--n', String(n), min, max)).toBe(n);
      }),
    );
  });

  it('refuses every value outside the range, naming option, value and range', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1000 }), fc.integer({ min: 1, max: 1000 }), (max, over) => {
        expect(refusal(() => parseIntegerOption('--n', String(max + over), 1, max))).toBe(`--n '${max + over}': not a whole number in 1..${max}`);
      }),
    );
  });

  it('refuses every spelling Number() would take that is not plain digits (hex, exponent, sign, space, fraction)', () => {
    const spellings = fc.integer({ min: 1, max: 999 }).chain((n) =>
      fc.constantFrom(`0x${n.toString(16)}`, `${n}e0`, `+${n}`, ` ${n}`, `${n} `, `${n}.0`, `0b${n.toString(2)}`, `${n}_0`),
    );
    fc.assert(
      fc.property(spellings, (text) => {
        expect(Number(text) > 0 || Number.isNaN(Number(text))).toBe(true);
        refusal(() => parseIntegerOption('--n', text, 0, 1e9));
      }),
    );
    for (const text of ['', 'Infinity', '-1', 'NaN', '5abc', '1'.repeat(16)]) refusal(() => parseIntegerOption('--n', text, 0, Number.MAX_SAFE_INTEGER));
  });
});

describe('parsePositiveDecimalOption', () => {
  it('takes plain decimals in (0, max] as their value, refuses 0, the range\'s outside and other spellings', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 3_600_000 }), fc.integer({ min: 0, max: 999 }), (whole, frac) => {
        const text = frac === 0 ? String(whole - 1 || 1) : `${whole - 1}.${String(frac).padStart(3, '0')}`;
        expect(parsePositiveDecimalOption('--window', text, 3_600_000)).toBe(Number(text));
      }),
    );
    for (const text of ['0', '0.0', '3600001', 'Infinity', '0x10', ' 5', '1e3', '-5', '', '.5', '5.', 'NaN']) {
      expect(refusal(() => parsePositiveDecimalOption('--window', text, 3_600_000))).toContain(`--window '${text}'`);
    }
  });
});

describe('names: schedulers, rule ids, suggestions', () => {
  it('every known scheduler is taken, in any case; an unknown one is refused with the list', () => {
    for (const s of KNOWN_SCHEDULERS) {
      expect(parseSchedulerOption('--scheduler', s)).toBe(s);
      expect(parseSchedulerOption('--scheduler', s.toUpperCase())).toBe(s);
    }
    expect(refusal(() => parseSchedulerOption('--scheduler', 'foobar'))).toMatch(/^--scheduler 'foobar': unknown scheduler \(known: rr wrr .* conhash\)$/);
  });

  it('a one-character typo of any rule id is answered with that id among the closest', () => {
    const typo = fc
      .record({ id: fc.constantFrom(...RULE_IDS), at: fc.nat(), ch: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0-') })
      .map(({ id, at, ch }) => {
        const i = at % id.length;
        return { id, text: id.slice(0, i) + ch + id.slice(i + 1) };
      })
      .filter(({ text }) => !RULE_IDS.includes(text));
    fc.assert(
      fc.property(typo, ({ id, text }) => {
        expect(closestNames(text, RULE_IDS)).toContain(id);
        expect(refusal(() => checkRuleIds('--ignore', [text], RULE_IDS))).toMatch(new RegExp(`closest: .*${id.replace(/\./g, '\\.')}`));
      }),
    );
  });

  it('edit distance is a metric on the rule ids (zero only for equal, symmetric)', () => {
    fc.assert(
      fc.property(fc.constantFrom(...RULE_IDS), fc.constantFrom(...RULE_IDS), (a, b) => {
        expect(editDistance(a, b)).toBe(editDistance(b, a));
        expect(editDistance(a, b) === 0).toBe(a === b);
      }),
    );
  });

  it('known rule ids pass; an unrelated word lists the families', () => {
    expect(() => checkRuleIds('--ignore', RULE_IDS, RULE_IDS)).not.toThrow();
    expect(refusal(() => checkRuleIds('--ignore', ['zzzz'], RULE_IDS))).toMatch(/rule ids start with capture\. .*sched\./);
  });

  it('addresses: canonical text out, a bad octet or padding refused', () => {
    expect(parseIpOption('--rs-capture', '10.0.0.11')).toBe('10.0.0.11');
    expect(parseIpOption('--rs-capture', '2001:DB8:0::1')).toBe('2001:db8::1');
    for (const bad of ['10.0.0.300', '10.0.0', ' 10.0.0.1', '10.0.0.1 ', 'host', '']) refusal(() => parseIpOption('--rs-capture', bad));
  });

  it('TOA kinds: comma-separated 0..255, nothing else', () => {
    expect(parseToaKinds('254,253,200')).toEqual([254, 253, 200]);
    for (const bad of ['256', '0xfe', '254, 253', '', '254,', '-1']) refusal(() => parseToaKinds(bad));
  });
});

describe('usageLine: commander errors as one lvsaudit line', () => {
  it('any message becomes exactly one line starting "lvsaudit: " without commander\'s "error: "', () => {
    const line = fc.string({ minLength: 1 }).filter((s) => !s.includes('\n') && s.trim() !== '');
    fc.assert(
      fc.property(fc.array(line, { minLength: 1, maxLength: 4 }), (lines) => {
        const out = usageLine(`error: ${lines.join('\n')}\n`);
        expect(out.startsWith('lvsaudit: ')).toBe(true);
        expect(out.endsWith('\n')).toBe(true);
        expect(out.slice(0, -1)).not.toContain('\n');
        expect(out).not.toMatch(/^lvsaudit: error: /);
        for (const l of lines) expect(out).toContain(l.trim());
      }),
    );
    expect(usageLine("error: unknown option '--windw'\n(Did you mean --window?)\n")).toBe("lvsaudit: unknown option '--windw' (Did you mean --window?)\n");
  });
});

describe('output paths', () => {
  it('a new file in a writable directory passes and is not created; an existing file is left as it was', () => {
    const fresh = path.join(tmp, 'fresh.txt');
    checkOutputFile('--output', fresh);
    expect(() => readFileSync(fresh)).toThrow();
    const old = path.join(tmp, 'old.txt');
    writeFileSync(old, 'kept\n');
    checkOutputFile('--output', old);
    expect(readFileSync(old, 'utf8')).toBe('kept\n');
  });

  it('refuses a missing directory, a directory, a path under a file, an input, and names the option', () => {
    const file = path.join(tmp, 'a-file');
    writeFileSync(file, 'x');
    expect(refusal(() => checkOutputFile('--output', path.join(tmp, 'nope', 'x')))).toBe(`--output ${tmp}/nope/x: no such directory`);
    expect(refusal(() => checkOutputFile('--pcap-out', tmp))).toBe(`--pcap-out ${tmp}: is a directory`);
    expect(refusal(() => checkOutputFile('--output', path.join(file, 'x')))).toBe(`--output ${file}/x: ${file} is not a directory`);
    expect(refusal(() => checkOutputFile('--output', path.join(tmp, '.', 'a-file'), [file]))).toMatch(/which this run reads/);
  });

  it('refuses a read-only file and directory (modes as a user; a read-only mount as root, who writes through modes)', () => {
    const asRoot = process.getuid?.() === 0;
    const ro = path.join(tmp, 'ro-dir');
    mkdirSync(ro);
    let roFile = path.join(tmp, 'ro-file');
    if (asRoot) {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', ro]);
      roFile = path.join(ro, 'ro-file');
      writeFileSync(roFile, 'x');
      execFileSync('mount', ['-o', 'remount,ro', ro]);
    } else {
      writeFileSync(roFile, 'x');
      chmodSync(roFile, 0o444);
      chmodSync(ro, 0o555);
    }
    try {
      expect(refusal(() => checkOutputFile('--output', roFile))).toMatch(/not writable/);
      expect(refusal(() => checkOutputFile('--output', path.join(ro, 'x')))).toMatch(/is not writable/);
      expect(refusal(() => checkOutputDirectory('--out', path.join(ro, 'sub')))).toMatch(/is not writable/);
    } finally {
      if (asRoot) execFileSync('umount', [ro]);
    }
  });

  it('an output directory may be new (created later with its parents) but not a file or under one', () => {
    checkOutputDirectory('--out', path.join(tmp, 'new', 'deeper'));
    const file = path.join(tmp, 'b-file');
    writeFileSync(file, 'x');
    expect(refusal(() => checkOutputDirectory('--out', file))).toBe(`--out ${file}: not a directory`);
    expect(refusal(() => checkOutputDirectory('--out', path.join(file, 'sub')))).toBe(`--out ${file}/sub: ${file} is not a directory`);
  });
});
