// The stats option every long-lived process shares: how much history of its one-a-second
// samples it keeps for the dashboard (in Redis in distributed mode, in memory in embedded).
import { DEFAULT_STATS_HISTORY_S } from '../stats/contract.js';
import { intFrom } from './option-schemas.js';
import type { OptionTable } from './options.js';

export const STATS_OPTIONS = {
  statsHistoryS: {
    flag: '--stats-history-s <seconds>',
    env: 'SWARMSERVE_STATS_HISTORY_S',
    description:
      'seconds of one-a-second stats samples this process keeps for /dashboard (0: publishes none, and the dashboard lacks this process); in Redis each sample costs a few hundred bytes',
    schema: intFrom(0, 86_400, DEFAULT_STATS_HISTORY_S),
  },
} satisfies OptionTable;
