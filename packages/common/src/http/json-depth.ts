import { AppError } from '../errors';

/**
 * Throws VALIDATION_FAILED when a JSON text nests objects/arrays deeper than `max`. One pass over
 * the bytes, skipping strings; run before JSON.parse so deeply nested input never reaches
 * recursive validators (which would overflow the stack and answer 500).
 */
export function assertJsonDepth(buf: Buffer, max: number): void {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < buf.length; i++) {
    const c = buf[i];
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
      continue;
    }
    if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > max) throw new AppError('VALIDATION_FAILED', `The JSON body nests deeper than ${max} levels`, { details: { max_depth: max } });
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
}
