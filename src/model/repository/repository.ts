// Reads a Triton-like model repository: models/<name>/config.json, labels, <version>/model.onnx.
import { readFile, readdir, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { ServeError } from '../../common/errors.js';
import { parseOrThrow } from '../../config/validation.js';
import { modelConfigSchema } from './config-schema.js';
import type { ModelEntry, ModelRepository, ModelVersion } from './contract.js';

export const MODEL_FILE = 'model.onnx';
const NAME_PATTERN = /^[a-z0-9][a-z0-9._-]{0,63}$/i;

/**
 * Loads the repository. `only` selects what to load: model names (every version) or
 * `name:version` pairs (that version; a worker replica may serve one version).
 */
export async function loadRepository(root: string, selection?: readonly string[]): Promise<ModelRepository> {
  const absRoot = resolve(root);
  const wanted = selection === undefined ? undefined : parseSelection(selection);
  const only = wanted === undefined ? undefined : [...wanted.keys()];
  const entries = await readdir(absRoot, { withFileTypes: true }).catch((err: unknown) => {
    throw new ServeError('CONFIG_INVALID', `Model repository ${absRoot} cannot be read: ${String(err)}`);
  });
  const models = new Map<string, ModelEntry>();
  for (const entry of entries) {
    if (!entry.isDirectory() || (only !== undefined && !only.includes(entry.name))) continue;
    const dir = join(absRoot, entry.name);
    if (!(await exists(join(dir, 'config.json')))) continue;
    models.set(entry.name, selectVersions(await loadModel(entry.name, dir), wanted?.get(entry.name)));
  }
  for (const name of only ?? []) {
    if (!models.has(name)) throw new ServeError('CONFIG_INVALID', `Model "${name}" has no config.json in ${absRoot}`);
  }
  if (models.size === 0) throw new ServeError('CONFIG_INVALID', `Model repository ${absRoot} holds no model (expected <name>/config.json)`);
  return { root: absRoot, models };
}

/** name → the versions asked for (undefined: all). */
function parseSelection(selection: readonly string[]): Map<string, Set<string> | undefined> {
  const wanted = new Map<string, Set<string> | undefined>();
  for (const item of selection) {
    const [name = '', version, extra] = item.split(':');
    if (name === '' || extra !== undefined || (version !== undefined && !/^\d+$/.test(version))) {
      throw new ServeError('CONFIG_INVALID', `"${item}" in --only is neither a model name nor a model:version pair (e.g. resnet50 or resnet50:1)`);
    }
    if (version === undefined) wanted.set(name, undefined);
    else if (!wanted.has(name) || wanted.get(name) !== undefined) wanted.set(name, new Set([...(wanted.get(name) ?? []), version]));
  }
  return wanted;
}

function selectVersions(entry: ModelEntry, versions: Set<string> | undefined): ModelEntry {
  if (versions === undefined) return entry;
  for (const v of versions) {
    if (!entry.versions.some((mv) => mv.version === v)) {
      throw new ServeError('CONFIG_INVALID', `Model "${entry.name}" has no version ${v} (versions: ${entry.versions.map((mv) => mv.version).join(', ')})`);
    }
  }
  const kept = entry.versions.filter((mv) => versions.has(mv.version));
  const defaultVersion = kept.some((mv) => mv.version === entry.defaultVersion) ? entry.defaultVersion : (kept.at(-1) as ModelVersion).version;
  return { ...entry, versions: kept, defaultVersion };
}

export async function loadModel(name: string, dir: string): Promise<ModelEntry> {
  if (!NAME_PATTERN.test(name)) throw new ServeError('CONFIG_INVALID', `Model directory name "${name}" must match ${NAME_PATTERN.source}`);
  const configPath = join(dir, 'config.json');
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(configPath, 'utf8'));
  } catch (err) {
    throw new ServeError('CONFIG_INVALID', `${configPath} is not valid JSON: ${(err as Error).message}`);
  }
  const config = parseOrThrow(modelConfigSchema, raw, configPath);
  const labelsPath = join(dir, config.postprocess.labels);
  const labels = (
    await readFile(labelsPath, 'utf8').catch(() => {
      throw new ServeError('CONFIG_INVALID', `${configPath}: postprocess.labels: cannot read ${labelsPath}`);
    })
  )
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.length > 0);
  if (labels.length === 0) throw new ServeError('CONFIG_INVALID', `${labelsPath} has no labels`);
  if (config.postprocess.topK > labels.length) {
    throw new ServeError('CONFIG_INVALID', `${configPath}: postprocess.topK (${config.postprocess.topK}) exceeds the ${labels.length} labels`);
  }
  const versions = await findVersions(dir);
  if (versions.length === 0) {
    throw new ServeError(
      'CONFIG_INVALID',
      `${dir} has no version (expected ${dir}/<version>/${MODEL_FILE}; run "swarmserve models prepare" for the bundled models)`,
    );
  }
  const defaultVersion = config.defaultVersion ?? (versions.at(-1) as ModelVersion).version;
  if (!versions.some((v) => v.version === defaultVersion)) {
    throw new ServeError('CONFIG_INVALID', `${configPath}: defaultVersion: version ${defaultVersion} has no ${MODEL_FILE}`);
  }
  return { name, dir, config, labels, versions, defaultVersion };
}

async function findVersions(dir: string): Promise<ModelVersion[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const versions: ModelVersion[] = [];
  for (const entry of entries) {
    if (!entry.isDirectory() || !/^\d+$/.test(entry.name)) continue;
    const onnxPath = join(dir, entry.name, MODEL_FILE);
    if (await exists(onnxPath)) versions.push({ version: entry.name, onnxPath });
  }
  return versions.sort((a, b) => Number(a.version) - Number(b.version));
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}
