// The docker client the offline stack-file tests need: `docker stack config` merges,
// interpolates and validates stack files without a daemon. It came with Docker CLI 23;
// Debian bookworm's docker.io (20.10) lacks it, so its presence is probed, not assumed.
import { spawnSync } from 'node:child_process';

export type StackConfigClient = { docker: string } | { missing: string };

export function probeStackConfigClient(): StackConfigClient {
  const version = spawnSync('docker', ['--version'], { encoding: 'utf8' });
  if (version.error !== undefined || version.status !== 0) {
    return { missing: 'the docker client is not installed: scripts/ensure-test-deps.sh installs docker.io; no daemon is needed' };
  }
  const help = spawnSync('docker', ['stack', 'config', '--help'], { encoding: 'utf8' });
  if (help.status === 0 && help.stdout.includes('docker stack config')) return { docker: 'docker' };
  return {
    missing: `the docker client (${version.stdout.trim()}) has no \`docker stack config\` (Docker CLI 23 or later has it): put a newer docker CLI first on PATH`,
  };
}

/**
 * The client's name, or null (with a warning) when it cannot validate stack files.
 * Under CI=true that is a failure, never a skip.
 */
export function stackConfigClientOrSkip(what: string): string | null {
  const probe = probeStackConfigClient();
  if ('docker' in probe) return probe.docker;
  if (process.env.CI === 'true') throw new Error(`${what}: ${probe.missing} (CI=true: this is a failure, not a skip)`);
  console.warn(`${what} skipped: ${probe.missing}`);
  return null;
}
