// What a gateway knows of the models it routes to, read from the model repository's
// configs (a gateway never loads a model).
import { ServeError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import type { ModelEntry, ModelRepository } from '../model/repository/contract.js';
import { queueKey } from '../queue/contract.js';
import type { CatalogModel } from './contract.js';

export function catalogOf(repository: ModelRepository): Map<string, CatalogModel> {
  return new Map([...repository.models.values()].map((entry: ModelEntry) => [entry.name, catalogModel(entry)]));
}

export function catalogModel(entry: ModelEntry): CatalogModel {
  const pre = entry.config.preprocess;
  const model: CatalogModel = {
    name: entry.name,
    versions: entry.versions.map((v) => v.version),
    defaultVersion: entry.defaultVersion,
    labelCount: entry.labels.length,
    labels: entry.labels,
    // A gateway loads no model, so it knows the names the config declares; a config without
    // them gets the conventional names (the worker uses the graph's first input and output).
    inputName: entry.config.inputName ?? 'input',
    outputName: entry.config.outputName ?? 'output',
    itemDims: pre.layout === 'NCHW' ? [3, pre.height, pre.width] : [pre.height, pre.width, 3],
    defaultTopK: entry.config.postprocess.topK,
    queueBound: entry.config.batching.queueBound,
    timeoutMs: entry.config.batching.timeoutMs,
  };
  if (entry.config.notice !== undefined) model.notice = entry.config.notice;
  return model;
}

/** Every queue key (model:version) a catalog routes to. */
export function catalogKeys(catalog: ReadonlyMap<string, CatalogModel>): Array<{ model: string; version: string; key: string }> {
  return [...catalog.values()].flatMap((m) => m.versions.map((version) => ({ model: m.name, version, key: queueKey(m.name, version) })));
}

export function pickDefaultModel(repository: ModelRepository, wanted: string, logger: Logger): string {
  if (repository.models.has(wanted)) return wanted;
  const first = [...repository.models.keys()].sort()[0];
  if (first === undefined) throw new ServeError('CONFIG_INVALID', 'no model loaded');
  logger.warn(`default model "${wanted}" is not loaded; requests without "model" go to "${first}"`);
  return first;
}
