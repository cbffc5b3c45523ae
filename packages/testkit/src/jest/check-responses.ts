/**
 * Jest setup file (every project, jest.preset.js): each response a service app sends during a
 * test must match that service's OpenAPI document, or the test fails naming the operation, the
 * status and what did not match. See ../response-hook.ts.
 */
import { checkResponsesAgainstOpenApi } from '../response-hook';

const violations: string[] = [];
checkResponsesAgainstOpenApi((violation) => violations.push(violation));

afterEach(() => {
  const found = violations.splice(0);
  if (found.length > 0) {
    throw new Error(`${found.length} response(s) do not match the OpenAPI document:\n${[...new Set(found)].join('\n')}`);
  }
});
