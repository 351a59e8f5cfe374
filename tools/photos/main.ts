#!/usr/bin/env node
// Entry point of scripts/fetch-photos.sh once the packages are extracted:
//   node dist/tools/photos/main.js --extracted DIR --out DIR [--fixtures DIR]
// <extracted>/<package>/ is a `dpkg -x` tree, <extracted>/<package>.version its version.
import { existsSync, readFileSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { licenceFor, parseDebianCopyright, UNKNOWN_LICENCE } from './debian-copyright.js';
import type { PhotoManifest } from './manifest.js';
import { selectPhotos, type PhotoSource } from './photos.js';

/** The project's test photos: darknet's sample data, used under MIT (test/fixtures/images/README.md). */
const FIXTURES = { package: 'darknet', licence: 'MIT', dir: 'test/fixtures/images' } as const;

export async function packageSources(extractedDir: string): Promise<PhotoSource[]> {
  const entries = await readdir(extractedDir, { withFileTypes: true });
  const sources: PhotoSource[] = [];
  for (const entry of entries.filter((e) => e.isDirectory()).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const root = join(extractedDir, entry.name);
    const versionFile = join(extractedDir, `${entry.name}.version`);
    const copyrightFile = join(root, 'usr/share/doc', entry.name, 'copyright');
    const copyright = existsSync(copyrightFile) ? parseDebianCopyright(readFileSync(copyrightFile, 'utf8')) : undefined;
    sources.push({
      package: entry.name,
      version: existsSync(versionFile) ? readFileSync(versionFile, 'utf8').trim() : null,
      root,
      pathPrefix: '/',
      licenceFor: (path) => (copyright ? licenceFor(copyright, path) : UNKNOWN_LICENCE),
    });
  }
  return sources;
}

export function fixtureSource(repoRoot: string): PhotoSource {
  return {
    package: FIXTURES.package,
    version: null,
    root: join(repoRoot, FIXTURES.dir),
    pathPrefix: `${FIXTURES.dir}/`,
    licenceFor: () => FIXTURES.licence,
  };
}

export function formatCounts(manifest: PhotoManifest): string {
  const c = manifest.counts;
  const reasons = Object.entries(c.rejected)
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([reason, n]) => `${reason} ${n}`)
    .join(', ');
  return [
    `candidates ${c.candidates} raster images (${c.vectorSkipped} vector files skipped)`,
    `rejected ${c.candidates - c.duplicates - c.kept}: ${reasons}`,
    `duplicates ${c.duplicates}`,
    `kept ${c.kept} distinct photos: calibration ${c.calibration}, evaluation ${c.evaluation}`,
    `augmented ${c.augmented} extra calibration samples (a flip and a centre crop of each calibration photo)`,
  ].join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      extracted: { type: 'string' },
      out: { type: 'string', default: '.cache/photos' },
      fixtures: { type: 'string', default: '.' },
    },
  });
  if (values.extracted === undefined) throw new Error('--extracted DIR is required (run scripts/fetch-photos.sh)');
  const out = resolve(values.out);
  const sources = [...(await packageSources(resolve(values.extracted))), fixtureSource(resolve(values.fixtures))];
  const manifest = await selectPhotos({ sources, outDir: out, log: (line) => console.error(line) });
  console.log(formatCounts(manifest));
  console.log(`written to ${out} (manifest.json, calibration/, evaluation/, calibration-augmented/)`);
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === resolve(new URL(import.meta.url).pathname)) {
  main().catch((err: unknown) => {
    console.error(`photos: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
  });
}
