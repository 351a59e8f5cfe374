'use strict';
// Runs one onnxruntime session on its own thread: onnxruntime-node's run() is synchronous
// on the calling thread, so running it on the main thread would stall HTTP and decoding
// for the whole batch. Input buffers arrive transferred (no copy) and go back the same way.
const { parentPort } = require('node:worker_threads');
const ort = require('onnxruntime-node');

let session;

function reply(message, transfer) {
  parentPort.postMessage(message, transfer);
}

parentPort.on('message', (msg) => {
  handle(msg).catch((err) => {
    const back = msg.buffer instanceof ArrayBuffer ? [msg.buffer] : [];
    reply({ id: msg.id, ok: false, message: err && err.message ? err.message : String(err), buffer: msg.buffer }, back);
  });
});

async function handle(msg) {
  if (msg.type === 'load') {
    session = await ort.InferenceSession.create(msg.path, msg.options);
    const meta = (list) => list.map((m) => ({ name: m.name, isTensor: m.isTensor, shape: m.isTensor ? [...m.shape] : [] }));
    reply({ id: msg.id, ok: true, inputNames: [...session.inputNames], outputNames: [...session.outputNames], inputMetadata: meta(session.inputMetadata) });
  } else if (msg.type === 'run') {
    const input = new Float32Array(msg.buffer, 0, msg.length);
    const tensor = new ort.Tensor('float32', input, msg.dims);
    const started = performance.now();
    const results = await session.run({ [msg.inputName]: tensor }, [msg.outputName]);
    const inferenceMs = performance.now() - started;
    const output = results[msg.outputName];
    if (!output || !(output.data instanceof Float32Array)) throw new Error(`output "${msg.outputName}" is not a float32 tensor`);
    const data = Float32Array.from(output.data);
    reply({ id: msg.id, ok: true, output: data, dims: [...output.dims], inferenceMs, buffer: msg.buffer }, [msg.buffer, data.buffer]);
  } else if (msg.type === 'release') {
    if (session) await session.release();
    session = undefined;
    reply({ id: msg.id, ok: true });
  } else {
    throw new Error(`unknown message type ${msg.type}`);
  }
}
