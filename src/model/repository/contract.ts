import type { ModelConfig } from './config-schema.js';

/** One servable version of a model in the repository. */
export interface ModelVersion {
  version: string;
  onnxPath: string;
}

/** A model as declared in models/<name>/: its validated config, labels and versions. */
export interface ModelEntry {
  name: string;
  dir: string;
  config: ModelConfig;
  labels: string[];
  /** Sorted ascending by version number. */
  versions: ModelVersion[];
  defaultVersion: string;
}

export interface ModelRepository {
  root: string;
  models: ReadonlyMap<string, ModelEntry>;
}
