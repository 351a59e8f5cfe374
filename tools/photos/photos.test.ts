// The whole selection on a small tree shaped like extracted packages: no apt needed.
import { mkdtemp, mkdir, readFile, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PhotoManifest } from './manifest.js';
import { selectPhotos, type PhotoSource } from './photos.js';

const FIXTURES = 'test/fixtures/images';

describe('selectPhotos', () => {
  let dir = '';
  let manifest: PhotoManifest;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'photos-'));
    const pkg = join(dir, 'pkg/usr/share/backgrounds');
    await mkdir(pkg, { recursive: true });
    // The same photo as a fixture: a smaller copy, re-encoded, must collapse into it.
    await sharp(join(FIXTURES, 'dog.jpg')).resize(400).webp().toFile(join(pkg, 'dog-small.webp'));
    await sharp(join(FIXTURES, 'eagle.jpg')).flop().png().toFile(join(pkg, 'eagle-mirrored.png'));
    await sharp({ create: { width: 800, height: 600, channels: 3, background: '#e95420' } })
      .png()
      .toFile(join(pkg, 'logo.png'));
    await sharp(join(FIXTURES, 'horses.jpg')).resize(100).jpeg().toFile(join(pkg, 'icon.jpg'));
    await writeFile(join(pkg, 'broken.jpg'), Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 0]));
    await writeFile(join(pkg, 'vector.svg'), '<svg xmlns="http://www.w3.org/2000/svg"/>');
    await symlink('eagle-mirrored.png', join(pkg, 'eagle-link.png'));
    const sources: PhotoSource[] = [
      { package: 'pkg', version: '1.0-1', root: join(dir, 'pkg'), pathPrefix: '/', licenceFor: () => 'CC0-1.0' },
      { package: 'darknet', version: null, root: FIXTURES, pathPrefix: `${FIXTURES}/`, licenceFor: () => 'MIT' },
    ];
    manifest = await selectPhotos({ sources, outDir: join(dir, 'out'), maxSide: 256 });
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reports the true counts', () => {
    expect(manifest.counts).toEqual({
      candidates: 10, // 5 raster files in the package (not the link, not the SVG) + 5 fixtures
      vectorSkipped: 1,
      rejected: { 'few-colours': 1, 'too-small': 1, undecodable: 1 },
      duplicates: 1,
      kept: 6,
      calibration: 3,
      evaluation: 3,
      augmented: 6,
    });
  });

  it('keeps the larger file of a picture and lists the other as its duplicate', () => {
    const dog = manifest.photos.find((p) => p.originalPath === `${FIXTURES}/dog.jpg`);
    expect(dog?.duplicates).toEqual(['/usr/share/backgrounds/dog-small.webp']);
    expect(manifest.photos.some((p) => p.originalPath.endsWith('eagle-mirrored.png'))).toBe(true);
  });

  it('writes every photo once, as a JPEG in its set, with package and licence', async () => {
    const written = [
      ...(await readdir(join(dir, 'out/calibration'))).map((f) => `calibration/${f}`),
      ...(await readdir(join(dir, 'out/evaluation'))).map((f) => `evaluation/${f}`),
    ];
    expect(written.sort()).toEqual(manifest.photos.map((p) => p.file).sort());
    for (const photo of manifest.photos) {
      const meta = await sharp(join(dir, 'out', photo.file)).metadata();
      expect(meta.format).toBe('jpeg');
      expect(Math.max(meta.width, meta.height)).toBeLessThanOrEqual(256);
      expect(photo.licence).toBe(photo.package === 'pkg' ? 'CC0-1.0' : 'MIT');
    }
    const onDisk = JSON.parse(await readFile(join(dir, 'out/manifest.json'), 'utf8')) as PhotoManifest;
    expect(onDisk).toEqual(manifest);
  });

  it('adds a flip and a crop of each calibration photo, of no evaluation photo', async () => {
    const calibration = manifest.photos.filter((p) => p.set === 'calibration').map((p) => p.file);
    expect(manifest.augmented.map((a) => a.from).sort()).toEqual([...calibration, ...calibration].sort());
    expect((await readdir(join(dir, 'out/calibration-augmented'))).sort()).toEqual(manifest.augmented.map((a) => a.file.split('/')[1]).sort());
    const flip = manifest.augmented.find((a) => a.transform === 'flip');
    const source = await sharp(join(dir, 'out', flip?.from ?? '')).metadata();
    const flipped = await sharp(join(dir, 'out', flip?.file ?? '')).metadata();
    expect([flipped.width, flipped.height]).toEqual([source.width, source.height]);
  });

  it('makes the same sets again on a second run', async () => {
    const sources: PhotoSource[] = [{ package: 'darknet', version: null, root: FIXTURES, pathPrefix: `${FIXTURES}/`, licenceFor: () => 'MIT' }];
    const a = await selectPhotos({ sources, outDir: join(dir, 'again'), maxSide: 64 });
    const b = await selectPhotos({ sources, outDir: join(dir, 'again'), maxSide: 64 });
    expect(b.photos).toEqual(a.photos);
    expect((await readdir(join(dir, 'again/evaluation'))).length).toBe(a.counts.evaluation);
  });
});
