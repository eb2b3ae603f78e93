// How a failed local write is reported: a full disk (or quota) is ERR_DISK_FULL, anything else
// ERR_LOG_PRODUCE, both retryable because the embedded log cuts a failed write back before it
// answers, so a retry after space is freed writes the records exactly once.

import { errorMessage, PmfError } from '../../core/errors.js';

const DISK_FULL = new Set(['ENOSPC', 'EDQUOT', 'EFBIG']);

export function diskError(path: string, what: string, err: unknown, detail = ''): PmfError {
  if (err instanceof PmfError) return err;
  const code = (err as NodeJS.ErrnoException)?.code ?? '';
  if (DISK_FULL.has(code)) {
    return new PmfError('ERR_DISK_FULL', `${path}: ${what} refused, disk full (${code})${detail}; nothing was acknowledged`, {
      retryable: true,
      cause: err,
    });
  }
  return new PmfError('ERR_LOG_PRODUCE', `${path}: ${what} failed${detail}: ${errorMessage(err)}`, { retryable: true, cause: err });
}
