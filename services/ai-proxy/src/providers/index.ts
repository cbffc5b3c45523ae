import type { Dispatcher } from 'undici';
import type { ProviderName } from '../routing/schema';
import { createAnthropicProvider } from './anthropic';
import { createGeminiProvider } from './gemini';
import { createMockProvider } from './mock';
import { createOpenAiProvider } from './openai';
import type { Provider } from './types';

export type Providers = Record<ProviderName, Provider>;

export function createProviders(agent: Dispatcher): Providers {
  return {
    openai: createOpenAiProvider(agent),
    anthropic: createAnthropicProvider(agent),
    gemini: createGeminiProvider(agent),
    mock: createMockProvider(),
  };
}
