/**
 * `lab run` option mapping: one fault vocabulary for every director kind, which scenario faults
 * exist, and the usage errors (exit 2) for what a kind or a mode cannot do.
 */
import { describe, expect, it } from 'vitest';
import { InputError } from '../../src/errors.js';
import { SCENARIOS, nftablesCase } from '../../src/lab/scenarios.js';
import { checkKindMode, parseLabFaults, DIRECTOR_KINDS, KIND_MODES, RS_FAULTS } from '../../src/lab/faults.js';
import { casesFromOptions, directorKind } from '../../src/cli/lab.js';

describe('lab faults', () => {
  it('maps modes and faults to cases; every scenario parses in the vocabulary', () => {
    expect(nftablesCase('nat').id).toBe('nat-rr');
    expect(nftablesCase('dr', ['rs2:arp_ignore=0']).faults.rs).toEqual([{ rs: 'rs2', kind: 'arp_ignore=0' }]);
    expect(nftablesCase('dr', ['routed']).profile).toBe('linux');
    expect(nftablesCase('dr').profile).toBe('linux-legacy');
    for (const s of SCENARIOS) expect(() => nftablesCase(s.mode, s.faults)).not.toThrow();
  });

  it('rs2:arp_ignore=0 in DR is one spelling for every director kind that runs DR', () => {
    for (const kind of DIRECTOR_KINDS.filter((k) => KIND_MODES[k].includes('dr'))) expect(parseLabFaults(kind, 'dr', ['rs2:arp_ignore=0'])).toEqual({ director: [], rs: [{ rs: 'rs2', kind: 'arp_ignore=0' }] });
    for (const info of Object.values(RS_FAULTS)) expect(info.kinds.length).toBeGreaterThan(0);
  });

  it('keeps the older spellings as aliases of rs1 faults', () => {
    expect(parseLabFaults('ipvs', 'dr', ['arp-ignore0']).rs).toEqual([{ rs: 'rs1', kind: 'arp_ignore=0' }]);
    expect(parseLabFaults('nftables', 'nat', ['nat-reply-bypass']).rs).toEqual([{ rs: 'rs1', kind: 'gateway-bypass' }]);
    expect(parseLabFaults('reference', 'dr', ['vip-not-bound']).rs).toEqual([{ rs: 'rs1', kind: 'no-vip' }]);
  });

  it('usage mistakes are one-line InputError (exit 2) naming the kinds that can', () => {
    const message = (f: () => unknown): string => {
      try {
        f();
      } catch (e) {
        expect(e).toBeInstanceOf(InputError);
        expect((e as InputError).exitCode).toBe(2);
        return (e as Error).message;
      }
      throw new Error('no error');
    };
    expect(message(() => parseLabFaults('ipvs', 'dr', ['no-ttl-decrement']))).toMatch(/--director ipvs cannot produce it \(reference can\)/);
    expect(message(() => parseLabFaults('ipvs', 'dr', ['rs2:reply-from-rip']))).toMatch(/reference, nftables can/);
    expect(message(() => parseLabFaults('nftables', 'nat', ['routed']))).toMatch(/--mode dr/);
    expect(() => parseLabFaults('reference', 'nat', ['rs2:arp_ignore=0'])).toThrow(InputError);
    expect(() => parseLabFaults('reference', 'nat', ['rs3:gateway-bypass'])).toThrow(InputError);
    expect(() => parseLabFaults('nftables', 'dr', ['bogus'])).toThrow(InputError);
    expect(message(() => checkKindMode('reference', 'tun'))).toMatch(/tun: ipvs/);
    expect(() => checkKindMode('nftables', 'fullnat')).toThrow(InputError);
    expect(() => checkKindMode('ipvs', 'bogus')).toThrow(InputError);
    expect(() => directorKind('bogus')).toThrow(InputError);
    expect(directorKind('ipvs-vm')).toBe('ipvs');
    expect(() => casesFromOptions('nftables', { director: 'nftables', mode: ['nat,dr'] })).toThrow(InputError);
  });
});
