// A throw-away redis-server for the local experiment: from PATH, on a free loopback port, in a
// temporary directory of its own, no persistence, noeviction (a full Redis refuses jobs, the
// gateway answers 503, nothing is dropped silently). close() stops it and removes the directory.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ServeError } from '../common/errors.js';
import { ManagedProcess, findOnPath, forgetTempDir, freePort, removeOnExit } from '../scaling/processes.js';

const READY_TIMEOUT_MS = 15_000;

export class LocalRedis {
  private constructor(
    readonly url: string,
    readonly dir: string,
    readonly process: ManagedProcess,
  ) {}

  static async create(): Promise<LocalRedis> {
    const binary = findOnPath('redis-server');
    if (binary === undefined)
      throw new ServeError('PROCESS_FAILED', 'redis-server is not on PATH; the local experiment needs it (Debian/Ubuntu: apt-get install redis-server)');
    const dir = await mkdtemp(join(tmpdir(), 'swarmserve-experiment-'));
    removeOnExit(dir);
    try {
      const port = await freePort();
      const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no', '--maxmemory-policy', 'noeviction'];
      const proc = ManagedProcess.spawn('redis-server', binary, args);
      try {
        await proc.waitForLine(/Ready to accept connections/, READY_TIMEOUT_MS);
      } catch (err) {
        await proc.stop(2_000);
        throw err;
      }
      return new LocalRedis(`redis://127.0.0.1:${port}`, dir, proc);
    } catch (err) {
      await rm(dir, { recursive: true, force: true });
      forgetTempDir(dir);
      throw err;
    }
  }

  async close(): Promise<void> {
    await this.process.stop(5_000);
    await rm(this.dir, { recursive: true, force: true });
    forgetTempDir(this.dir);
  }
}
