/**
 * The committed capture sets under fixtures/replay/: each is `replay --out` of one recipe.
 * `UPDATE_REPLAY_FIXTURES=1 npx vitest run test/replay/replay-cli.test.ts` rewrites them; the
 * test otherwise checks that a fresh run reproduces every committed byte.
 */
import type { ReplayWriteOptions } from '../../src/replay/replay.js';

export interface FixtureRecipe {
  dir: string;
  opts: ReplayWriteOptions;
}

/** Smaller scenario list for fault sets: the ones that exercise the FullNAT rules. */
const FNAT_FAULT_SCENARIOS = ['handshake', 'syn-only', 'options-full-syn', 'sack', 'many-clients'];

export const FIXTURE_RECIPES: FixtureRecipe[] = [
  { dir: 'nat-linux', opts: { method: 'nat', profile: 'linux' } },
  { dir: 'dr-linux', opts: { method: 'dr', profile: 'linux' } },
  { dir: 'tun-linux', opts: { method: 'tun', profile: 'linux' } },
  // UDP service (-u VIP:53): DNS-like queries, several from one port and from fresh ports.
  ...(['nat', 'dr', 'tun'] as const).map((method) => ({ dir: `udp-${method}-linux`, opts: { method, profile: 'linux' as const, scenarios: ['udp-dns', 'udp-burst'] } })),
  { dir: 'fullnat-alibaba', opts: { method: 'fullnat', profile: 'alibaba' } },
  { dir: 'fullnat-dpvs', opts: { method: 'fullnat', profile: 'dpvs' } },
  { dir: 'fullnat-dpvs-keepalived', opts: { method: 'fullnat', profile: 'dpvs', configFormat: 'keepalived', scenarios: ['handshake', 'sack'] } },
  ...(
    [
      ['alibaba', 'toa-missing'],
      ['alibaba', 'toa-wrong-port'],
      ['alibaba', 'toa-not-first'],
      ['alibaba', 'seq-drift'],
      ['alibaba', 'sack-not-shifted'],
      ['alibaba', 'mss-not-adjusted'],
      ['alibaba', 'ts-not-removed'],
      ['dpvs', 'toa-in-syn'],
      ['dpvs', 'lport-reuse'],
    ] as const
  ).map(([profile, fault]) => ({
    dir: `fullnat-${profile}-${fault}`,
    opts: { method: 'fullnat' as const, profile, faults: [fault], scenarios: FNAT_FAULT_SCENARIOS },
  })),
];
