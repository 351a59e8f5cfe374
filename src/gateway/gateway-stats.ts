// A gateway's part in the dashboard, the same in both modes: it records its requests,
// publishes one sample a second to the stats store, and serves /dashboard from a hub that
// reads every process's samples back from that store.
import type { Logger } from '../common/logger.js';
import { packageVersion } from '../config/paths.js';
import type { Header } from '../dashboard/contract.js';
import { DashboardHub } from '../dashboard/hub.js';
import type { JobProducer } from '../queue/contract.js';
import type { StatsStore } from '../stats/contract.js';
import { StatsPublisher } from '../stats/publisher.js';
import type { GatewayMetrics } from './metrics.js';
import { GatewayStatsRecorder, recordingTimings } from './stats-recorder.js';

export interface GatewayStatsOptions {
  store: StatsStore;
  producer: JobProducer;
  metrics: GatewayMetrics;
  /** This gateway's id (distributed: its reply stream's name). */
  id: string;
  queueKeys: readonly string[];
  mode: Header['mode'];
  redis: () => Header['redis'];
  notReadyReason: () => string | undefined;
  /** The worker ids this gateway counts live (distributed mode). */
  liveWorkerIds?: () => ReadonlySet<string>;
  /** 0: publish nothing (the page still shows what other processes publish). */
  historyS: number;
  logger: Logger;
}

export class GatewayStats {
  private constructor(
    /** The producer for the routes: records each answer's timings. */
    readonly producer: JobProducer,
    readonly hub: DashboardHub,
    private readonly publisher: StatsPublisher | undefined,
  ) {}

  static create(options: GatewayStatsOptions): GatewayStats {
    const { store, producer, metrics, logger } = options;
    // With no history kept, nothing is recorded either: the requests pay nothing for stats.
    const recorder =
      options.historyS > 0
        ? new GatewayStatsRecorder({
            id: options.id,
            queueKeys: options.queueKeys,
            backlog: (key) => producer.backlog(key),
            inFlight: async () => (await metrics.inFlight.get()).values[0]?.value ?? 0,
          })
        : undefined;
    metrics.recorder = recorder;
    const publisher = recorder === undefined ? undefined : StatsPublisher.create({ store, collect: () => recorder.sample(), logger });
    const startedAt = Date.now();
    const version = packageVersion();
    const hub = DashboardHub.create({
      store,
      logger,
      header: () => ({
        version,
        mode: options.mode,
        gateway: options.id,
        uptimeS: Math.round((Date.now() - startedAt) / 1000),
        redis: options.redis(),
        notReady: options.notReadyReason() ?? null,
      }),
      ...(options.liveWorkerIds === undefined ? {} : { liveWorkerIds: options.liveWorkerIds }),
    });
    return new GatewayStats(recorder === undefined ? producer : recordingTimings(producer, recorder), hub, publisher);
  }

  /** Stops publishing (the hub is closed with the HTTP server). */
  async close(): Promise<void> {
    this.hub.close();
    await this.publisher?.close();
  }
}
