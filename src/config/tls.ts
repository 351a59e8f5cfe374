// The gateway's HTTPS material: both files or neither, read once at start-up.
import { readFile } from 'node:fs/promises';
import { ServeError } from '../common/errors.js';

export interface TlsFiles {
  cert: Buffer;
  key: Buffer;
}

export async function loadTls(values: { tlsCert?: string | undefined; tlsKey?: string | undefined }): Promise<TlsFiles | undefined> {
  const { tlsCert, tlsKey } = values;
  if (tlsCert === undefined && tlsKey === undefined) return undefined;
  if (tlsCert === undefined || tlsKey === undefined) {
    throw new ServeError(
      'CONFIG_INVALID',
      '--tls-cert / SWARMSERVE_TLS_CERT and --tls-key / SWARMSERVE_TLS_KEY go together: give both for HTTPS, or neither for HTTP.',
    );
  }
  const read = async (file: string, flag: string): Promise<Buffer> => {
    try {
      const bytes = await readFile(file);
      if (!bytes.toString('latin1').includes('-----BEGIN ')) throw new Error('not a PEM file');
      return bytes;
    } catch (err) {
      throw new ServeError('CONFIG_INVALID', `${flag}: cannot use ${file}: ${(err as Error).message}`);
    }
  };
  return { cert: await read(tlsCert, '--tls-cert / SWARMSERVE_TLS_CERT'), key: await read(tlsKey, '--tls-key / SWARMSERVE_TLS_KEY') };
}
