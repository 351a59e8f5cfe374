// Main-thread side of session-thread.cjs: request/response over postMessage.
import { Worker } from 'node:worker_threads';

export interface ThreadMeta {
  name: string;
  isTensor: boolean;
  shape: Array<number | string>;
}

export interface LoadReply {
  inputNames: string[];
  outputNames: string[];
  inputMetadata: ThreadMeta[];
}

export interface RunReply {
  output: Float32Array;
  dims: number[];
  inferenceMs: number;
  /** The input buffer, handed back after the run. */
  buffer: ArrayBuffer;
}

interface Reply {
  id: number;
  ok: boolean;
  message?: string;
  buffer?: ArrayBuffer;
}

interface Pending {
  resolve: (value: Reply) => void;
  reject: (err: Error) => void;
}

export class SessionThread {
  private readonly worker: Worker;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private exited = false;

  constructor() {
    this.worker = new Worker(new URL('./session-thread.cjs', import.meta.url));
    this.worker.on('message', (reply: Reply) => {
      const waiter = this.pending.get(reply.id);
      if (waiter === undefined) return;
      this.pending.delete(reply.id);
      waiter.resolve(reply);
    });
    const failAll = (err: Error): void => {
      this.exited = true;
      for (const waiter of this.pending.values()) waiter.reject(err);
      this.pending.clear();
    };
    this.worker.on('error', failAll);
    this.worker.on('exit', (code) => failAll(new Error(`session thread exited with code ${code}`)));
  }

  async load(path: string, options: Record<string, unknown>): Promise<LoadReply> {
    return (await this.call({ type: 'load', path, options })) as unknown as LoadReply;
  }

  /** Runs the model on the first `length` floats of `buffer`, which is transferred to the thread and back. */
  async run(buffer: ArrayBuffer, length: number, dims: number[], inputName: string, outputName: string): Promise<RunReply> {
    return (await this.call({ type: 'run', buffer, length, dims, inputName, outputName }, [buffer])) as unknown as RunReply;
  }

  async close(): Promise<void> {
    if (this.exited) return;
    await this.call({ type: 'release' }).catch(() => undefined);
    await this.worker.terminate();
  }

  private call(message: Record<string, unknown>, transfer: ArrayBuffer[] = []): Promise<Reply> {
    if (this.exited) return Promise.reject(new Error('session thread has exited'));
    const id = this.nextId++;
    return new Promise<Reply>((resolve, reject) => {
      this.pending.set(id, {
        resolve: (reply) => {
          if (reply.ok) resolve(reply);
          else reject(Object.assign(new Error(reply.message ?? 'session thread failed'), { buffer: reply.buffer }));
        },
        reject,
      });
      this.worker.postMessage({ ...message, id }, transfer);
    });
  }
}
