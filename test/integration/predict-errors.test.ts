// Every kind of bad input gets a clear 4xx JSON error with a code, and the server keeps
// serving: the shared suite, on an embedded server (gateway and workers in one process).
import { predictErrorsSuite } from '../helpers/predict-errors-suite.js';
import { startServer } from '../helpers/server.js';

predictErrorsSuite('embedded mode', async (repoRoot, limits) => {
  const { server, url } = await startServer({ models: repoRoot, defaultModel: 'tiny', bodyLimit: limits.bodyLimit, maxPixels: limits.maxPixels });
  return {
    url,
    stop: () => server.close(),
    alive: async () => (await fetch(`${url}/health/ready`)).status === 200,
  };
});
