/** `lab run` option mapping: which scenario a mode/director/fault selects, and the errors. */
import { describe, expect, it } from 'vitest';
import { EnvironmentError, InputError } from '../../src/errors.js';
import { LAB_FAULTS, SCENARIOS, resolveScenario } from '../../src/lab/scenarios.js';

describe('resolveScenario', () => {
  it('maps modes and faults to scenarios that exist', () => {
    expect(resolveScenario('nat', 'reference')).toBe('nat');
    expect(resolveScenario('dr', 'reference')).toBe('dr');
    expect(resolveScenario('nat', 'reference', ['reply-bypass'])).toBe('nat-reply-bypass');
    expect(resolveScenario('dr', 'reference', ['arp-announce0'])).toBe('arp-announce0');
    const names = new Set(SCENARIOS.map((s) => s.name));
    for (const table of Object.values(LAB_FAULTS)) for (const n of Object.values(table)) expect(names.has(n)).toBe(true);
  });

  it('usage mistakes are InputError (exit 2); what the machine cannot do is EnvironmentError (exit 4)', () => {
    expect(() => resolveScenario('dr', 'reference', ['reply-bypass'])).toThrow(InputError);
    expect(() => resolveScenario('nat', 'reference', ['arp-ignore0', 'arp-announce0'])).toThrow(InputError);
    expect(() => resolveScenario('bogus', 'reference')).toThrow(InputError);
    expect(() => resolveScenario('nat', 'bogus')).toThrow(InputError);
    expect(() => resolveScenario('tun', 'reference')).toThrow(EnvironmentError);
    expect(() => resolveScenario('nat', 'ipvs-vm')).toThrow(EnvironmentError);
  });
});
