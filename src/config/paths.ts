import { fileURLToPath } from 'node:url';
import { dirname, join, resolve } from 'node:path';
import { existsSync, readFileSync } from 'node:fs';

/** The package root, found from this file whether it runs from src/ (tests) or dist/src/. */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error('package.json not found above ' + fileURLToPath(import.meta.url));
    dir = parent;
  }
  return resolve(dir);
}

export function bundledModelsDir(): string {
  return join(packageRoot(), 'models');
}

let version: string | undefined;

/** The package's version, from its package.json (what `--version` prints and `GET /` names). */
export function packageVersion(): string {
  version ??= (JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version;
  return version;
}

/** The photo the CLI and the experiment send when none is named (darknet sample data, MIT; see its README). */
export function samplePhotoPath(): string {
  return join(packageRoot(), 'test', 'fixtures', 'images', 'dog.jpg');
}
