import { describe, expect, it } from 'vitest';
import { PmfError } from '../../../src/core/errors.js';
import { quoteIdent, toStoreError } from '../../../src/store/sql-client.js';

const withCode = (code: string, message = 'boom') => Object.assign(new Error(message), { code });

describe('toStoreError', () => {
  it('marks connection, conflict and resource SQLSTATEs retryable', () => {
    expect(toStoreError(withCode('08006'), 'q')).toMatchObject({ code: 'ERR_STORE_UNAVAILABLE', retryable: true });
    expect(toStoreError(withCode('57P01'), 'q')).toMatchObject({ code: 'ERR_STORE_UNAVAILABLE', retryable: true });
    expect(toStoreError(withCode('53300'), 'q')).toMatchObject({ code: 'ERR_STORE_UNAVAILABLE', retryable: true });
    expect(toStoreError(withCode('40001'), 'q')).toMatchObject({ code: 'ERR_STORE_CONFLICT', retryable: true });
    expect(toStoreError(withCode('40P01'), 'q')).toMatchObject({ code: 'ERR_STORE_CONFLICT', retryable: true });
  });

  it('marks a lock wait or a statement cut short by its timeout retryable', () => {
    expect(toStoreError(withCode('55P03'), 'q')).toMatchObject({ code: 'ERR_STORE_CONFLICT', retryable: true });
    expect(toStoreError(withCode('57014'), 'q')).toMatchObject({ code: 'ERR_STORE_UNAVAILABLE', retryable: true });
    // The rest of class 55 (an object in use by a DDL, say) is no lock wait a retry outlasts.
    expect(toStoreError(withCode('55006'), 'q')).toMatchObject({ code: 'ERR_INTERNAL', retryable: false });
  });

  it('marks socket failures retryable', () => {
    expect(toStoreError(withCode('ECONNREFUSED'), 'q')).toMatchObject({ code: 'ERR_STORE_UNAVAILABLE', retryable: true });
    expect(toStoreError(new Error('Connection terminated unexpectedly'), 'q')).toMatchObject({ retryable: true });
  });

  it('treats SQL mistakes as permanent and keeps the cause', () => {
    const cause = withCode('42601', 'syntax error at or near "SELEC"');
    const err = toStoreError(cause, 'query failed');
    expect(err).toMatchObject({ code: 'ERR_INTERNAL', retryable: false });
    expect(err.message).toBe('query failed: syntax error at or near "SELEC" (42601)');
    expect(err.cause).toBe(cause);
  });

  it('passes a PmfError through unchanged', () => {
    const original = new PmfError('ERR_EVENT_DECODE', 'bad');
    expect(toStoreError(original, 'q')).toBe(original);
  });
});

describe('quoteIdent', () => {
  it('quotes and escapes identifiers', () => {
    expect(quoteIdent('pmf')).toBe('"pmf"');
    expect(quoteIdent('we"ird')).toBe('"we""ird"');
  });

  it('refuses empty and over-long names', () => {
    expect(() => quoteIdent('')).toThrow(PmfError);
    expect(() => quoteIdent('x'.repeat(64))).toThrow(/1-63 characters/);
  });
});
