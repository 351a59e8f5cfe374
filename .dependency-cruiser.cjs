// The layering of src/ (docs/architecture.md, "Layers and imports"), checked by `npm run lint`.
// Type-only imports count: a type import still ties one part to another's contract, and a
// cycle through types alone stops either side from being moved or split on its own.
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-cycles',
      severity: 'error',
      comment: 'No import cycles anywhere in src/ (type-only imports included).',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'nothing-imports-cli',
      severity: 'error',
      comment: 'src/cli is the top: commands use the other parts, never the other way round (its own tests excepted).',
      from: { path: '^src/', pathNot: ['^src/cli/', '\\.test\\.ts$'] },
      to: { path: '^src/cli/' },
    },
    {
      name: 'queue-is-below-its-users',
      severity: 'error',
      comment: 'The queue is the transport between gateway and workers: it knows neither, nor models, nor the CLI.',
      from: { path: '^src/queue/' },
      to: { path: '^src/(gateway|worker|embedded|model|runtime|planner|experiment|loadtest|cli)/' },
    },
    {
      name: 'gateway-meets-worker-only-through-the-queue',
      severity: 'error',
      comment: 'The gateway and the workers meet only through the queue contract.',
      from: { path: '^src/gateway/' },
      to: { path: '^src/(worker|runtime|embedded|planner|experiment|loadtest)/' },
    },
    {
      name: 'worker-does-not-import-gateway',
      severity: 'error',
      comment: 'The worker answers HTTP through src/common/http-errors.ts, not the gateway.',
      from: { path: '^src/worker/' },
      to: { path: '^src/(gateway|embedded|planner|experiment|loadtest)/' },
    },
    {
      name: 'shared-layers-import-no-feature',
      severity: 'error',
      comment: 'common, config, onnx and runtime are shared by several parts: they import no feature folder.',
      from: { path: '^src/(common|onnx|runtime)/' },
      to: {
        path: '^src/(gateway|worker|embedded|model|planner|experiment|loadtest|cli|queue)/',
        pathNot: ['^src/model/repository/', '^src/queue/contract\\.ts$'],
      },
    },
    {
      name: 'scaling-is-shared',
      severity: 'error',
      comment:
        'src/scaling (replica sets: Swarm services, local worker processes) serves the experiment and the autoscaler: it imports nothing of the project but common and config.',
      from: { path: '^src/scaling/' },
      to: { path: '^src/', pathNot: '^src/(scaling|common|config)/' },
    },
    {
      name: 'stats-is-shared',
      severity: 'error',
      comment:
        'src/stats (the samples every process publishes, their histograms, the in-memory store) is shared by gateway, worker, autoscaler and dashboard: it imports nothing of the project but common and config.',
      from: { path: '^src/stats/' },
      to: { path: '^src/', pathNot: '^src/(stats|common|config)/' },
    },
    {
      name: 'dashboard-reads-only-stats',
      severity: 'error',
      comment: 'The dashboard draws from the stats store alone: it knows neither the queue nor the gateway that serves it.',
      from: { path: '^src/dashboard/' },
      to: { path: '^src/', pathNot: '^src/(dashboard|stats|common|config)/' },
    },
    {
      name: 'features-do-not-borrow-from-worker',
      severity: 'error',
      comment: 'What several parts share lives in src/runtime (preprocessing, postprocessing, the session thread, the allocator), not in the worker.',
      from: { path: '^src/(model|planner|experiment|loadtest|queue|gateway)/', pathNot: '\\.test\\.ts$' },
      to: { path: '^src/worker/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(dist|node_modules)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js', '.cjs'] },
  },
};
