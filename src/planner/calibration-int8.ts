// INT8 versions of generated calibration models, made with the project's own quantizer
// (src/model/quantize: BN folding, QDQ with int8 per-channel weights and uint8 activations)
// on deterministic synthetic inputs — no photos and no bundled model are involved. The
// calibration measures them for the speed of onnxruntime's integer kernels, which the float
// models cannot tell.
import { decodeModel, encodeModel } from '../onnx/proto.js';
import { DEFAULT_QUANTIZE_OPTIONS, quantizeModel } from '../model/quantize/quantize.js';
import type { CalibrationSource } from '../model/quantize/calibrate.js';
import { CALIBRATION_MODELS, type CalibrationModel } from './calibration-models.js';

export interface Int8CalibrationModel {
  name: string;
  describe: string;
  batches: number[];
  /** The float model it quantizes. */
  from: CalibrationModel;
}

function floatModel(name: string): CalibrationModel {
  const m = CALIBRATION_MODELS.find((x) => x.name === name);
  if (m === undefined) throw new Error(`no calibration model ${name}`);
  return m;
}

/** Dense (bottleneck residual) and depthwise-separable networks, quantized: two unknowns, int8 dense and grouped MACs per second. */
export const INT8_CALIBRATION_MODELS: readonly Int8CalibrationModel[] = [
  { name: 'cal-residual-int8', describe: 'cal-residual, quantized (QDQ int8 weights, uint8 activations)', batches: [1, 8], from: floatModel('cal-residual') },
  {
    name: 'cal-depthwise-int8',
    describe: 'cal-depthwise, quantized (QDQ int8 weights, uint8 activations)',
    batches: [1, 8],
    from: floatModel('cal-depthwise'),
  },
];

/** Deterministic inputs in [0, 1) for the quantizer's range statistics. */
function syntheticInputs(itemDims: number[], count: number): CalibrationSource {
  const size = itemDims.reduce((a, b) => a * b, 1);
  return {
    count,
    itemDims,
    fill(index, target, slot) {
      let s = (index + 1) * 2654435761;
      for (let i = 0; i < size; i++) {
        s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
        target[slot * size + i] = s / 2 ** 32;
      }
      return Promise.resolve();
    },
  };
}

/** The quantized model's bytes. */
export async function buildInt8Model(m: Int8CalibrationModel): Promise<Uint8Array> {
  const model = decodeModel(m.from.build().toBytes());
  const dims = model.graph?.input?.[0]?.type?.tensorType?.shape?.dim?.slice(1).map((d) => Number(d.dimValue ?? 0)) ?? [];
  await quantizeModel(model, syntheticInputs(dims, 8), { ...DEFAULT_QUANTIZE_OPTIONS, method: 'minmax' });
  return encodeModel(model);
}
