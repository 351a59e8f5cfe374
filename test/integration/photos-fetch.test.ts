// scripts/fetch-photos.sh for real: Debian packages from the configured mirror, the
// selection, the sets and the manifest (docs/photos.md). Without apt-get the test is
// skipped with a message, except under CI=true, where that is a failure.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { PhotoManifest } from '../../tools/photos/manifest.js';
import { manifestProblems } from '../../tools/photos/manifest.js';
import { isSamePicture, pictureHash } from '../../tools/photos/picture-hash.js';
import { ROOT } from '../helpers/process.js';

const hasApt = ['apt-get', 'dpkg-deb'].every((tool) => spawnSync(tool, ['--version'], { stdio: 'ignore' }).status === 0);
const required = process.env.CI === 'true';
const OUT = join(ROOT, '.cache/photos');
const MAIN = join(ROOT, 'dist/tools/photos/main.js');

function fetchPhotos(): { stdout: string; stderr: string } {
  const run = spawnSync('bash', ['scripts/fetch-photos.sh', OUT], { cwd: ROOT, encoding: 'utf8', timeout: 300_000 });
  if (run.status !== 0) throw new Error(`fetch-photos.sh exited ${run.status}:\n${run.stderr}`);
  return { stdout: run.stdout, stderr: run.stderr };
}

if (!hasApt && !required) console.warn('photos-fetch: apt-get/dpkg-deb not found, skipping the Debian photo fetch (it runs under CI=true)');

describe.skipIf(!hasApt && !required)('scripts/fetch-photos.sh (Debian packages)', () => {
  let first: { stdout: string; stderr: string };
  let manifest: PhotoManifest;

  beforeAll(() => {
    if (!hasApt) throw new Error('apt-get and dpkg-deb are required under CI=true (a Debian or Ubuntu runner)');
    if (!existsSync(MAIN)) execFileSync('npm', ['run', 'build', '--silent'], { cwd: ROOT, stdio: 'inherit' });
    first = fetchPhotos();
    manifest = JSON.parse(readFileSync(join(OUT, 'manifest.json'), 'utf8')) as PhotoManifest;
  }, 300_000);

  it('keeps at least 50 distinct photos, at least 25 held out for evaluation', () => {
    expect(manifestProblems(manifest)).toEqual([]);
    expect(manifest.counts.kept).toBeGreaterThanOrEqual(50);
    expect(manifest.counts.evaluation).toBeGreaterThanOrEqual(25);
    expect(first.stdout).toContain(
      `kept ${manifest.counts.kept} distinct photos: calibration ${manifest.counts.calibration}, evaluation ${manifest.counts.evaluation}`,
    );
  });

  it('lists every photo with its package, version and licence', () => {
    for (const photo of manifest.photos) {
      expect(photo.package, photo.file).not.toBe('');
      expect(photo.licence, photo.file).not.toMatch(/^(|UNKNOWN)$/);
      if (photo.package !== 'darknet') expect(photo.version, photo.file).toMatch(/^\S+$/);
      expect(existsSync(join(OUT, photo.file)), photo.file).toBe(true);
    }
  });

  it('holds no picture in both sets (checked again on the written copies)', async () => {
    const hashes = await Promise.all(manifest.photos.map(async (p) => ({ set: p.set, file: p.file, hash: await pictureHash(join(OUT, p.file)) })));
    const calibration = hashes.filter((h) => h.set === 'calibration');
    for (const e of hashes.filter((h) => h.set === 'evaluation')) {
      for (const c of calibration) expect(isSamePicture(e.hash, c.hash), `${e.file} ~ ${c.file}`).toBe(false);
    }
  });

  it('adds flips and crops to calibration only', () => {
    const calibration = new Set(manifest.photos.filter((p) => p.set === 'calibration').map((p) => p.file));
    expect(manifest.augmented.length).toBe(2 * calibration.size);
    for (const extra of manifest.augmented) {
      expect(calibration.has(extra.from), extra.file).toBe(true);
      expect(existsSync(join(OUT, extra.file)), extra.file).toBe(true);
    }
  });

  it('reuses the downloaded packages and makes the same sets on a second run', () => {
    const second = fetchPhotos();
    expect(second.stderr).not.toContain('downloading');
    const again = JSON.parse(readFileSync(join(OUT, 'manifest.json'), 'utf8')) as PhotoManifest;
    expect(again).toEqual(manifest);
  }, 300_000);
});
