// API keys, TLS, gzip bodies (raw and multipart) and GET / on the real CLI: `serve` with the moderation model,
// and one distributed gateway.
import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeMultipart, type MultipartField } from '../../src/loadtest/multipart.js';
import type { LoadRequestBody } from '../../src/loadtest/contract.js';
import { Deployment, predict } from '../helpers/distributed.js';
import { photo, solidPng } from '../helpers/images.js';
import { CLI, ROOT, ensureBuilt, freePort, spawnServe, stopProcess, type ServeProcess } from '../helpers/process.js';
import { writeTestCertificates } from '../helpers/tls-certs.js';

const dir = mkdtempSync(join(tmpdir(), 'swarmserve-auth-'));
const at = (name: string): string => join(dir, name);
const PLAIN = 'k-plain-3f9a1c7e';
const HASHED = 'k-hashed-77b2d04c';
const LATER = 'k-later-0c5e9a11';
const sha = (s: string): string => createHash('sha256').update(s).digest('hex');
const keysFile = at('keys');
const jpeg = photo('dog');

afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Reply {
  status: number;
  headers: Headers;
  body: { success?: boolean; predictions?: Array<{ label: string; probability: number }>; error?: { code: string }; version?: string; service?: string };
}

async function post(url: string, body: Buffer, headers: Record<string, string> = {}): Promise<Reply> {
  const res = await fetch(`${url}/predict`, { method: 'POST', body, headers: { 'content-type': 'image/jpeg', ...headers } });
  return { status: res.status, headers: res.headers, body: (await res.json()) as Reply['body'] };
}

async function waitForLog(proc: ServeProcess, text: string, after: number): Promise<void> {
  const end = Date.now() + 10_000;
  while (!proc.output().slice(after).includes(text)) {
    if (Date.now() > end) throw new Error(`no "${text}" in the log:\n${proc.output().slice(after)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('serve with --api-keys-file', () => {
  let serve: ServeProcess;
  beforeAll(async () => {
    writeFileSync(keysFile, `# test keys\n${PLAIN}\n\nsha256:${sha(HASHED).toUpperCase()}\n`);
    serve = await spawnServe(['--only', 'moderation', '--api-keys-file', keysFile]);
  });
  afterAll(async () => {
    await stopProcess(serve, 'SIGKILL');
  });

  it('no key → 401 UNAUTHORIZED with WWW-Authenticate; wrong key → 401; a plain and a sha256: key → 200', async () => {
    const none = await post(serve.url, jpeg);
    expect(none.status).toBe(401);
    expect(none.body.error?.code).toBe('UNAUTHORIZED');
    expect(none.headers.get('www-authenticate')).toMatch(/^Bearer/);
    const wrong = await post(serve.url, jpeg, { authorization: `Bearer ${PLAIN}x` });
    expect(wrong.status).toBe(401);
    expect(wrong.body.error?.code).toBe('UNAUTHORIZED');
    expect((await post(serve.url, jpeg, { authorization: `Basic ${PLAIN}` })).status).toBe(401);
    const plain = await post(serve.url, jpeg, { authorization: `Bearer ${PLAIN}` });
    expect(plain.status).toBe(200);
    expect(plain.body.predictions?.length).toBeGreaterThan(0);
    expect((await post(serve.url, jpeg, { authorization: `Bearer ${HASHED}` })).status).toBe(200);
    // The digest itself is not a key.
    expect((await post(serve.url, jpeg, { authorization: `Bearer ${sha(HASHED)}` })).status).toBe(401);
  });

  it('health, metrics and GET / stay open; an unknown route is not', async () => {
    for (const path of ['/health/live', '/health/ready', '/metrics', '/']) expect((await fetch(serve.url + path)).status, path).toBe(200);
    expect((await fetch(`${serve.url}/nope`)).status).toBe(401);
    expect((await fetch(`${serve.url}/nope`, { headers: { authorization: `Bearer ${PLAIN}` } })).status).toBe(404);
  });

  it('OIP: infer and metadata need the key (401 as {"error": …}), its health probes stay open', async () => {
    const infer = (headers: Record<string, string>): Promise<Response> =>
      fetch(`${serve.url}/v2/models/moderation/infer`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify({ inputs: [{ name: 'input', shape: [1], datatype: 'BYTES', data: [jpeg.toString('base64')] }] }),
      });
    const none = await infer({});
    expect(none.status).toBe(401);
    expect(((await none.json()) as { error?: unknown }).error).toEqual(expect.any(String));
    expect((await infer({ authorization: `Bearer ${PLAIN}x` })).status).toBe(401);
    expect((await infer({ authorization: `Bearer ${PLAIN}` })).status).toBe(200);
    expect((await fetch(`${serve.url}/v2/models/moderation`)).status).toBe(401);
    for (const path of ['/v2/health/live', '/v2/health/ready']) expect((await fetch(serve.url + path)).status, path).toBe(200);
  });

  it('GET / names the service, its version and links', async () => {
    const body = (await (await fetch(`${serve.url}/`)).json()) as { service: string; version: string; links: Record<string, string> };
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    expect(body.service).toBe('swarmserve');
    expect(body.version).toBe(pkg.version);
    expect(body.links.ready).toBe('/health/ready');
  });

  it('a gzip body gets the same answer as the plain one; a gzip bomb gets 413; corrupt gzip 400', async () => {
    const auth = { authorization: `Bearer ${PLAIN}` };
    const plain = await post(serve.url, jpeg, auth);
    const zipped = await post(serve.url, gzipSync(jpeg), { ...auth, 'content-encoding': 'gzip' });
    expect(zipped.status).toBe(200);
    expect(zipped.body.predictions).toEqual(plain.body.predictions);
    // 64 MiB of zeros is ~64 KiB on the wire, far under the 10 MiB limit until inflated.
    const bomb = gzipSync(Buffer.alloc(64 * 1024 * 1024));
    expect(bomb.length).toBeLessThan(1024 * 1024);
    const big = await post(serve.url, bomb, { ...auth, 'content-encoding': 'gzip' });
    expect(big.status).toBe(413);
    expect(big.body.error?.code).toBe('PAYLOAD_TOO_LARGE');
    const corrupt = Buffer.from(gzipSync(jpeg));
    corrupt.fill(0x55, 20, 200);
    const bad = await post(serve.url, corrupt, { ...auth, 'content-encoding': 'gzip' });
    expect(bad.status).toBe(400);
    expect(bad.body.error?.code).toBe('BAD_ENCODING');
    expect((await post(serve.url, jpeg, { ...auth, 'content-encoding': 'br' })).body.error?.code).toBe('UNSUPPORTED_MEDIA_TYPE');
    // Reservations were all given back.
    const metrics = await (await fetch(`${serve.url}/metrics`)).text();
    expect(metrics).toMatch(/^swarmserve_held_request_bytes 0$/m);
  });

  const sendForm = (form: LoadRequestBody, gzip: boolean): Promise<Reply> =>
    post(serve.url, gzip ? gzipSync(form.body) : Buffer.from(form.body), {
      authorization: `Bearer ${PLAIN}`,
      'content-type': form.contentType,
      ...(gzip ? { 'content-encoding': 'gzip' } : {}),
    });
  const image = (name: string): MultipartField => ({ name, filename: 'dog.jpg', contentType: 'image/jpeg', data: jpeg });

  it('a gzip multipart body gets the same answer as the plain one, its text fields honoured', async () => {
    const form = encodeMultipart([{ name: 'top_k', value: '2' }, image('img_file')]);
    const plain = await sendForm(form, false);
    expect(plain.status).toBe(200);
    expect(plain.body.predictions).toHaveLength(2);
    const zipped = await sendForm(form, true);
    expect(zipped.status).toBe(200);
    expect(zipped.body.predictions).toEqual(plain.body.predictions);
  });

  it('a bad gzip multipart body gets the code the plain one gets', async () => {
    const malformed = 'multipart/form-data; boundary=xyz';
    const cases: Record<string, LoadRequestBody> = {
      'wrong field': encodeMultipart([image('image')]),
      'two images': encodeMultipart([image('img_file'), image('img_file')]),
      'an image and another file': encodeMultipart([image('img_file'), image('other')]),
      'three files (over the files limit)': encodeMultipart([image('a'), image('b'), image('c')]),
      'no file': encodeMultipart([{ name: 'model', value: 'moderation' }]),
      'bad top_k': encodeMultipart([{ name: 'top_k', value: 'many' }, image('img_file')]),
      'over the fields limit': encodeMultipart([...Array.from({ length: 17 }, (_, i) => ({ name: `f${i}`, value: 'x' })), image('img_file')]),
      '__proto__ field': encodeMultipart([{ name: '__proto__', value: 'x' }, image('img_file')]),
      truncated: { body: Buffer.from('--xyz\r\nContent-Disposition: form-data; name="img_file"; filename="a.jpg"\r\n\r\nabc'), contentType: malformed },
      'no boundary': { body: encodeMultipart([image('img_file')]).body, contentType: 'multipart/form-data' },
      'empty body': { body: Buffer.alloc(0), contentType: malformed },
    };
    // One after another on keep-alive connections: a body left unread would stall the next.
    for (const [name, form] of Object.entries(cases)) {
      const plain = await sendForm(form, false);
      const zipped = await sendForm(form, true);
      expect(plain.status, name).toBeGreaterThanOrEqual(400);
      expect([zipped.status, zipped.body.error?.code], name).toEqual([plain.status, plain.body.error?.code]);
    }
    expect((await sendForm(cases['wrong field']!, true)).body.error?.code).toBe('WRONG_FIELD');
    expect((await sendForm(cases['two images']!, true)).body.error?.code).toBe('TOO_MANY_FILES');
    expect((await sendForm(cases['no file']!, true)).body.error?.code).toBe('EMPTY_BODY');
  });

  it('a gzip bomb in a multipart file gets 413 and the next request is served; corrupt gzip multipart 400', async () => {
    // 50 MB of zeros is ~50 KB on the wire, far under the 10 MiB limit until inflated.
    const bomb = encodeMultipart([{ name: 'img_file', filename: 'zeros.jpg', contentType: 'image/jpeg', data: Buffer.alloc(50 * 1024 * 1024) }]);
    const wire = gzipSync(bomb.body);
    expect(wire.length).toBeLessThan(1024 * 1024);
    const big = await post(serve.url, wire, { authorization: `Bearer ${PLAIN}`, 'content-type': bomb.contentType, 'content-encoding': 'gzip' });
    expect(big.status).toBe(413);
    expect(big.body.error?.code).toBe('PAYLOAD_TOO_LARGE');
    const form = encodeMultipart([image('img_file')]);
    expect((await sendForm(form, true)).status).toBe(200);
    const corrupt = Buffer.from(gzipSync(form.body));
    corrupt.fill(0x55, 20, 200);
    const bad = await post(serve.url, corrupt, { authorization: `Bearer ${PLAIN}`, 'content-type': form.contentType, 'content-encoding': 'gzip' });
    expect(bad.status).toBe(400);
    expect(bad.body.error?.code).toBe('BAD_ENCODING');
    const metrics = await (await fetch(`${serve.url}/metrics`)).text();
    expect(metrics).toMatch(/^swarmserve_held_request_bytes 0$/m);
  });

  it('SIGHUP re-reads the file: the new key works, the old one no longer; a bad file keeps the keys', async () => {
    writeFileSync(keysFile, `${LATER}\n`);
    let mark = serve.output().length;
    serve.child.kill('SIGHUP');
    await waitForLog(serve, 'API keys reloaded', mark);
    expect((await post(serve.url, jpeg, { authorization: `Bearer ${LATER}` })).status).toBe(200);
    expect((await post(serve.url, jpeg, { authorization: `Bearer ${PLAIN}` })).status).toBe(401);

    writeFileSync(keysFile, 'sha256:not-hex\n');
    mark = serve.output().length;
    serve.child.kill('SIGHUP');
    await waitForLog(serve, 'API keys not reloaded', mark);
    expect(serve.child.exitCode).toBeNull();
    expect((await post(serve.url, jpeg, { authorization: `Bearer ${LATER}` })).status).toBe(200);
  });

  it('never logs a key or the Authorization header', () => {
    const log = serve.output();
    expect(log).toContain('API keys on: 2 key(s)');
    for (const secret of [PLAIN, HASHED, LATER, sha(HASHED).toUpperCase()]) expect(log).not.toContain(secret);
    expect(log.toLowerCase()).not.toContain('bearer k-');
  });
});

describe('start-up checks', () => {
  const run = async (args: string[]): Promise<{ code: number; stderr: string; stdout: string }> => {
    ensureBuilt();
    try {
      const { stdout, stderr } = await promisify(execFile)(process.execPath, [CLI, ...args], { cwd: ROOT });
      return { code: 0, stdout, stderr };
    } catch (err) {
      const e = err as { code: number; stderr: string; stdout: string };
      return { code: e.code, stderr: e.stderr, stdout: e.stdout };
    }
  };

  it('a missing, empty or malformed key file, or half a TLS pair, stops serve with CONFIG_INVALID (78)', async () => {
    writeFileSync(at('empty'), '# nothing\n\n');
    writeFileSync(at('bad'), `good-key\nsha256:abc\n`);
    const cases: Array<[string[], RegExp]> = [
      [['--api-keys-file', at('missing')], /cannot read/],
      [['--api-keys-file', at('empty')], /holds no key/],
      [['--api-keys-file', at('bad')], /line 2: a "sha256:" line needs 64 hex digits/],
      [['--tls-cert', at('bad')], /go together/],
    ];
    for (const [args, message] of cases) {
      const res = await run(['serve', '--port', '0', '--only', 'moderation', ...args]);
      expect(res.code, args.join(' ')).toBe(78);
      expect(res.stderr).toMatch(/CONFIG_INVALID/);
      expect(res.stderr).toMatch(message);
      expect(res.stderr).not.toContain('good-key');
    }
  });

  it('--version prints the package version', async () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    expect((await run(['--version'])).stdout.trim()).toBe(pkg.version);
  });

  it('without a key file the log says the API is open', async () => {
    const serve = await spawnServe(['--only', 'moderation']);
    try {
      expect(serve.output()).toContain('the API is open');
      expect((await post(serve.url, jpeg)).status).toBe(200);
    } finally {
      await stopProcess(serve, 'SIGKILL');
    }
  });
});

describe('serve over HTTPS (--tls-cert / --tls-key)', () => {
  let child: ReturnType<typeof spawn> | undefined;
  afterAll(() => {
    child?.kill('SIGKILL');
  });

  it('answers over https with the self-signed CA; swarmserve health and predict take --ca-file', async () => {
    writeTestCertificates(dir);

    ensureBuilt();
    const port = await freePort();
    const proc = spawn(
      process.execPath,
      [CLI, 'serve', '--port', String(port), '--host', '127.0.0.1', '--only', 'moderation', '--tls-cert', at('server.crt'), '--tls-key', at('server.key')],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child = proc;
    let log = '';
    proc.stdout?.on('data', (d: Buffer) => (log += d.toString()));
    proc.stderr?.on('data', (d: Buffer) => (log += d.toString()));
    const url = `https://127.0.0.1:${port}`;
    const dispatcher = new Agent({ connect: { ca: readFileSync(at('ca.crt')) } });
    const end = Date.now() + 90_000;
    for (;;) {
      if (proc.exitCode !== null) throw new Error(`serve exited:\n${log}`);
      const status = await request(`${url}/health/ready`, { dispatcher }).then(
        async (r) => (await r.body.dump(), r.statusCode),
        () => 0,
      );
      if (status === 200) break;
      if (Date.now() > end) throw new Error(`not ready over https:\n${log}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(log).toContain(`listening on ${url}`);
    const res = await request(`${url}/predict`, { method: 'POST', body: jpeg, headers: { 'content-type': 'image/jpeg' }, dispatcher });
    expect(res.statusCode).toBe(200);
    expect(((await res.body.json()) as { success: boolean }).success).toBe(true);
    // Plain HTTP on the TLS port gets no answer; nor does a client that does not trust the CA.
    expect(
      await fetch(`http://127.0.0.1:${port}/health/live`).then(
        (r) => r.status,
        () => 0,
      ),
    ).toBe(0);
    expect(
      await fetch(`${url}/health/live`).then(
        (r) => r.status,
        () => 0,
      ),
    ).toBe(0);

    const cli = (args: string[]): Promise<number> =>
      new Promise((resolve) =>
        execFile(process.execPath, [CLI, ...args], { cwd: ROOT }, (err) => resolve(err === null ? 0 : ((err as { code?: number }).code ?? -1))),
      );
    expect(await cli(['health', `${url}/health/live`, '--ca-file', at('ca.crt')])).toBe(0);
    expect(await cli(['health', `${url}/health/live`])).toBe(1);
    expect(await cli(['health', `${url}/health/live`, '--insecure'])).toBe(0);
    expect(await cli(['predict', '--url', url, '--ca-file', at('ca.crt')])).toBe(0);
  });
});

describe('distributed gateway with --api-keys-file', () => {
  let deployment: Deployment | undefined;
  afterAll(async () => {
    await deployment?.stop();
  });

  it('enforces the keys; health stays open', async () => {
    writeFileSync(at('gateway-keys'), `${PLAIN}\n`);
    deployment = await Deployment.start();
    const { gateway } = await deployment.stack(1, [], ['--api-keys-file', at('gateway-keys')]);
    const png = await solidPng(8, 8, [10, 200, 30]);
    const none = await predict(gateway.url, png);
    expect(none.status).toBe(401);
    expect(none.body.error?.code).toBe('UNAUTHORIZED');
    expect((await predict(gateway.url, png, { authorization: 'Bearer wrong' })).status).toBe(401);
    const ok = await predict(gateway.url, png, { authorization: `Bearer ${PLAIN}` });
    expect(ok.status).toBe(200);
    expect(ok.body.success).toBe(true);
    expect((await fetch(`${gateway.url}/health/ready`)).status).toBe(200);
    expect(gateway.output()).not.toContain(PLAIN);
  });
});
