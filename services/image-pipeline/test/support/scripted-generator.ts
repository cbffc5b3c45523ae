import { createBuiltinGenerator } from '../../src/generation/builtin-generator';
import { GeneratorError, type ImageGenerator } from '../../src/generation/generator';

/**
 * The built-in generator with scripted provider trouble, chosen by a marker in the prompt:
 * `[refuse]` is a permanent refusal (content policy), `[flaky]` fails once with a retryable
 * error and then works, `[down]` always fails retryably.
 */
export function scriptedGenerator(): ImageGenerator & { calls: string[] } {
  const inner = createBuiltinGenerator();
  const calls: string[] = [];
  const flakySeen = new Set<string>();
  return {
    name: 'scripted',
    models: inner.models,
    defaultModel: inner.defaultModel,
    calls,
    async generate(request) {
      calls.push(request.idempotencyKey);
      if (request.prompt.includes('[refuse]'))
        throw new GeneratorError('The prompt was refused by the content policy', false, 'GENERATION_REFUSED');
      if (request.prompt.includes('[down]')) throw new GeneratorError('The provider answered 503', true);
      if (request.prompt.includes('[flaky]') && !flakySeen.has(request.idempotencyKey)) {
        flakySeen.add(request.idempotencyKey);
        throw new GeneratorError('The provider answered 503', true);
      }
      return inner.generate(request);
    },
  };
}
