// A throwaway certificate authority and a server certificate for 127.0.0.1 / localhost
// (2 days), made with the openssl CLI, for the TLS tests of the gateway and of Redis.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface TestCertificates {
  caCert: string;
  serverCert: string;
  serverKey: string;
}

/** Writes ca.{key,crt} and server.{key,csr,crt} into `dir`; returns the paths the servers and clients need. */
export function writeTestCertificates(dir: string): TestCertificates {
  const at = (name: string): string => join(dir, name);
  const openssl = (args: string[]): void => void execFileSync('openssl', args, { stdio: 'ignore' });
  openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', at('ca.key'), '-out', at('ca.crt'), '-days', '2', '-subj', '/CN=swarmserve-test-ca']);
  openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', at('server.key'), '-out', at('server.csr'), '-subj', '/CN=127.0.0.1']);
  writeFileSync(at('ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost');
  openssl([
    'x509',
    '-req',
    '-in',
    at('server.csr'),
    '-CA',
    at('ca.crt'),
    '-CAkey',
    at('ca.key'),
    '-CAcreateserial',
    '-out',
    at('server.crt'),
    '-days',
    '2',
    '-extfile',
    at('ext'),
  ]);
  return { caCert: at('ca.crt'), serverCert: at('server.crt'), serverKey: at('server.key') };
}
