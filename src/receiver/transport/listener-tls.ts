// TLS material for the listeners: certificate, key and, for mTLS, the CA that client certificates
// must chain to. Loaded once at start-up from files (secrets never sit in config values), and
// turned into grpc-js credentials or node:https options. TLS 1.2 is the floor on both (Node's
// default minimum, which grpc-js keeps; the HTTP listener states it explicitly), as in the
// Collector's configtls.

import { readFileSync } from 'node:fs';
import type { TlsOptions } from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { PmfError } from '../../core/errors.js';

export interface TlsFiles {
  certFile: string;
  keyFile: string;
  /** Set for mTLS: clients must present a certificate signed by this CA. */
  clientCaFile?: string;
}

export interface TlsMaterial {
  cert: Buffer;
  key: Buffer;
  clientCa?: Buffer;
}

function read(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new PmfError('ERR_CONFIG_INVALID', `cannot read tls.${what} ${path}: ${(err as Error).message}`);
  }
}

export function loadTlsMaterial(files: TlsFiles): TlsMaterial {
  return {
    cert: read(files.certFile, 'certFile'),
    key: read(files.keyFile, 'keyFile'),
    ...(files.clientCaFile ? { clientCa: read(files.clientCaFile, 'clientCaFile') } : {}),
  };
}

export function grpcServerCredentials(tls: TlsMaterial | undefined): grpc.ServerCredentials {
  if (!tls) return grpc.ServerCredentials.createInsecure();
  return grpc.ServerCredentials.createSsl(tls.clientCa ?? null, [{ cert_chain: tls.cert, private_key: tls.key }], tls.clientCa !== undefined);
}

/** Options for node:https.createServer (the OTLP/HTTP listener; the admin API can use the same). */
export function httpsServerOptions(tls: TlsMaterial): TlsOptions {
  return {
    cert: tls.cert,
    key: tls.key,
    minVersion: 'TLSv1.2',
    ...(tls.clientCa ? { ca: tls.clientCa, requestCert: true, rejectUnauthorized: true } : {}),
  };
}
