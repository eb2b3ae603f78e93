// Turns zod issues into one line per problem, each naming where it is, so a user can fix them all
// in one pass instead of one per restart.

import type { z } from 'zod';

export function describeIssues(error: z.ZodError, root = ''): string[] {
  return error.issues.map((issue) => {
    const path = issue.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('');
    const where = `${root}${path}`.replace(/^\./, '') || '(top level)';
    let message = issue.message;
    if (issue.code === 'unrecognized_keys') {
      message = `unknown key(s) ${issue.keys.map((k) => `"${k}"`).join(', ')}: remove them or check the spelling`;
    }
    return `${where}: ${message}`;
  });
}
