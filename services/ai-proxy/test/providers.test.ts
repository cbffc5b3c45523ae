import { identityHeaders, parseSse, startFakeAnthropic, startFakeGemini, type FakeAnthropic, type FakeGemini } from '@tollgate/testkit';
import OpenAI from 'openai';
import { startHarness, type Harness } from './support/harness';
import type { FakeCredits } from '@tollgate/testkit';

/** Anthropic and Gemini translated both ways, streaming and tools included, against fakes in their own wire formats. */
describe('provider translation', () => {
  let h: Harness & { fakeCredits: FakeCredits | undefined };
  let anthropic: FakeAnthropic;
  let gemini: FakeGemini;
  const tenant = 'tenant_prov';
  const client = () => new OpenAI({ apiKey: 'x', baseURL: `${h.url}/v1`, defaultHeaders: identityHeaders(tenant), maxRetries: 0 });
  const weatherTool = {
    type: 'function' as const,
    function: {
      name: 'lookup',
      description: 'Look something up',
      parameters: { type: 'object', properties: { query: { type: 'string' } }, required: ['query'], additionalProperties: false },
    },
  };

  beforeAll(async () => {
    anthropic = await startFakeAnthropic({ apiKey: 'sk-ant-test' });
    gemini = await startFakeGemini({ apiKey: 'gem-test' });
    h = await startHarness({
      label: 'ai_providers',
      routingEnv: { ANTHROPIC_TEST_KEY: 'sk-ant-test', GEMINI_TEST_KEY: 'gem-test' },
      routing: {
        defaults: { retry_base_delay_ms: 5, retry_max_delay_ms: 20 },
        models: {
          claude: {
            price: { input_per_1k: 1_000, output_per_1k: 1_000 },
            max_output_tokens: 300,
            targets: [{ provider: 'anthropic', model: 'claude-test', base_url: anthropic.url, api_key_env: 'ANTHROPIC_TEST_KEY' }],
          },
          gem: {
            price: { input_per_1k: 1_000, output_per_1k: 1_000 },
            max_output_tokens: 300,
            targets: [{ provider: 'gemini', model: 'gemini-test', base_url: gemini.url, api_key_env: 'GEMINI_TEST_KEY' }],
          },
          'gem-embed': {
            type: 'embedding',
            price: { input_per_1k: 10 },
            targets: [{ provider: 'gemini', model: 'text-embedding-004', base_url: gemini.url, api_key_env: 'GEMINI_TEST_KEY' }],
          },
        },
      },
    });
    h.fakeCredits!.topUp(tenant, 100_000_000);
  });

  afterAll(async () => {
    await h.close();
    await anthropic.close();
    await gemini.close();
  });

  beforeEach(() => {
    anthropic.reset();
    gemini.reset();
  });

  describe('anthropic', () => {
    it('translates a completion: system prompt, max_tokens, headers, usage, stop reason', async () => {
      const res = await client().chat.completions.create({
        model: 'claude',
        temperature: 0.5,
        stop: ['END'],
        messages: [
          { role: 'system', content: 'You are terse.' },
          { role: 'user', content: 'Hello Claude' },
        ],
      });
      expect(res.choices[0]!.message.content).toBe('Echo: Hello Claude');
      expect(res.choices[0]!.finish_reason).toBe('stop');
      const sent = anthropic.requests[0]!;
      expect(sent.path).toBe('/v1/messages');
      expect(sent.headers['x-api-key']).toBe('sk-ant-test');
      expect(sent.headers['anthropic-version']).toBe('2023-06-01');
      expect(sent.body).toMatchObject({
        model: 'claude-test',
        max_tokens: 300,
        system: 'You are terse.',
        temperature: 0.5,
        stop_sequences: ['END'],
        messages: [{ role: 'user', content: [{ type: 'text', text: 'Hello Claude' }] }],
      });
      // The fake counts ceil(chars/4) per text: system (4) + user (3); reply "Echo: Hello Claude" = 5.
      expect(res.usage).toMatchObject({ prompt_tokens: 7, completion_tokens: 5, total_tokens: 12 });
    });

    it('translates a stream of message_start/content_block_delta/message_delta/message_stop into OpenAI chunks', async () => {
      const res = await fetch(`${h.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...identityHeaders(tenant) },
        body: JSON.stringify({
          model: 'claude',
          stream: true,
          stream_options: { include_usage: true },
          messages: [{ role: 'user', content: 'stream me please' }],
        }),
      });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
      const events = parseSse(await res.text());
      expect(events[events.length - 1]).toBe('[DONE]');
      const chunks = events
        .slice(0, -1)
        .map((e) => JSON.parse(e) as OpenAI.Chat.Completions.ChatCompletionChunk & { usage?: { cost?: number } });
      expect(chunks[0]!.choices[0]!.delta).toEqual({ role: 'assistant', content: '' });
      expect(chunks.map((c) => c.choices[0]?.delta?.content ?? '').join('')).toBe('Echo: stream me please');
      expect(chunks.find((c) => c.choices[0]?.finish_reason)?.choices[0]?.finish_reason).toBe('stop');
      const usage = chunks[chunks.length - 1]!.usage!;
      expect(usage).toMatchObject({ prompt_tokens: 4, completion_tokens: 6, total_tokens: 10, cost: 10 });
      expect((anthropic.requests[0]!.body as { stream: boolean }).stream).toBe(true);
    });

    it('translates tool definitions, a forced tool call and its streamed arguments', async () => {
      const res = await client().chat.completions.create({
        model: 'claude',
        tools: [weatherTool],
        tool_choice: 'required',
        messages: [{ role: 'user', content: 'weather in Oslo' }],
      });
      const call = res.choices[0]!.message.tool_calls![0]! as OpenAI.Chat.Completions.ChatCompletionMessageFunctionToolCall;
      expect(res.choices[0]!.finish_reason).toBe('tool_calls');
      expect(call.function.name).toBe('lookup');
      expect(JSON.parse(call.function.arguments)).toEqual({ query: 'Echo: weather in Oslo' });
      expect(anthropic.requests[0]!.body).toMatchObject({
        tools: [{ name: 'lookup', description: 'Look something up', input_schema: weatherTool.function.parameters }],
        tool_choice: { type: 'any' },
      });

      const stream = await client().chat.completions.create({
        model: 'claude',
        stream: true,
        tools: [weatherTool],
        tool_choice: { type: 'function', function: { name: 'lookup' } },
        messages: [{ role: 'user', content: 'weather in Bergen' }],
      });
      let args = '';
      let name = '';
      let finish: string | null = null;
      for await (const chunk of stream) {
        for (const tc of chunk.choices[0]?.delta?.tool_calls ?? []) {
          name += tc.function?.name ?? '';
          args += tc.function?.arguments ?? '';
        }
        finish = chunk.choices[0]?.finish_reason ?? finish;
      }
      expect(name).toBe('lookup');
      expect(JSON.parse(args)).toEqual({ query: 'Echo: weather in Bergen' });
      expect(finish).toBe('tool_calls');
    });

    it('sends tool results back as tool_result blocks in alternating turns', async () => {
      await client().chat.completions.create({
        model: 'claude',
        messages: [
          { role: 'user', content: 'weather?' },
          {
            role: 'assistant',
            content: null,
            tool_calls: [
              { id: 'toolu_1', type: 'function', function: { name: 'lookup', arguments: '{"query":"oslo"}' } },
              { id: 'toolu_2', type: 'function', function: { name: 'lookup', arguments: '{"query":"bergen"}' } },
            ],
          },
          { role: 'tool', tool_call_id: 'toolu_1', content: 'sunny' },
          { role: 'tool', tool_call_id: 'toolu_2', content: 'rain' },
          { role: 'user', content: 'thanks' },
        ],
      });
      const body = anthropic.requests[0]!.body as { messages: { role: string; content: unknown[] }[] };
      expect(body.messages.map((m) => m.role)).toEqual(['user', 'assistant', 'user']);
      expect(body.messages[1]!.content).toEqual([
        { type: 'tool_use', id: 'toolu_1', name: 'lookup', input: { query: 'oslo' } },
        { type: 'tool_use', id: 'toolu_2', name: 'lookup', input: { query: 'bergen' } },
      ]);
      expect(body.messages[2]!.content).toEqual([
        { type: 'tool_result', tool_use_id: 'toolu_1', content: 'sunny' },
        { type: 'tool_result', tool_use_id: 'toolu_2', content: 'rain' },
        { type: 'text', text: 'thanks' },
      ]);
    });

    it('retries an overloaded (529) answer', async () => {
      anthropic.behave({ status: 529, times: 1 });
      const res = await client().chat.completions.create({ model: 'claude', messages: [{ role: 'user', content: 'again' }] });
      expect(res.choices[0]!.message.content).toBe('Echo: again');
      expect(anthropic.requests).toHaveLength(2);
    });

    it('turns an Anthropic error event mid-stream into an OpenAI error event without [DONE]', async () => {
      anthropic.behave({ errorEventAfterChunks: 2, times: 1 });
      const res = await fetch(`${h.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...identityHeaders(tenant) },
        body: JSON.stringify({ model: 'claude', stream: true, messages: [{ role: 'user', content: 'a b c d e f' }] }),
      });
      const events = parseSse(await res.text());
      expect(events).not.toContain('[DONE]');
      const last = JSON.parse(events[events.length - 1]!) as { error: { type: string; code: string; message: string } };
      expect(last.error).toMatchObject({ type: 'api_error', code: 'upstream_failed' });
    });
  });

  describe('gemini', () => {
    it('translates a completion: contents, systemInstruction, generationConfig, key header, usage', async () => {
      const res = await client().chat.completions.create({
        model: 'gem',
        max_tokens: 50,
        temperature: 0.2,
        messages: [
          { role: 'system', content: 'Be kind.' },
          { role: 'user', content: 'Hello Gemini' },
        ],
      });
      expect(res.choices[0]!.message.content).toBe('Echo: Hello Gemini');
      expect(res.choices[0]!.finish_reason).toBe('stop');
      const sent = gemini.requests[0]!;
      expect(sent.path).toBe('/v1beta/models/gemini-test:generateContent');
      expect(sent.headers['x-goog-api-key']).toBe('gem-test');
      expect(sent.body).toMatchObject({
        contents: [{ role: 'user', parts: [{ text: 'Hello Gemini' }] }],
        systemInstruction: { parts: [{ text: 'Be kind.' }] },
        generationConfig: { maxOutputTokens: 50, temperature: 0.2, candidateCount: 1 },
      });
      expect(res.usage).toMatchObject({ prompt_tokens: 5, completion_tokens: 5, total_tokens: 10 });
    });

    it('translates streamGenerateContent?alt=sse into OpenAI chunks with usage', async () => {
      const stream = await client().chat.completions.create({
        model: 'gem',
        stream: true,
        stream_options: { include_usage: true },
        messages: [{ role: 'user', content: 'tell me more' }],
      });
      let text = '';
      let usage: (OpenAI.CompletionUsage & { cost?: number }) | null | undefined;
      let finish: string | null = null;
      for await (const chunk of stream) {
        text += chunk.choices[0]?.delta?.content ?? '';
        finish = chunk.choices[0]?.finish_reason ?? finish;
        if (chunk.usage) usage = chunk.usage;
      }
      expect(text).toBe('Echo: tell me more');
      expect(finish).toBe('stop');
      expect(usage).toMatchObject({ prompt_tokens: 3, completion_tokens: 5, cost: 8 });
      expect(gemini.requests[0]!.path).toBe('/v1beta/models/gemini-test:streamGenerateContent?alt=sse');
    });

    it('translates tools to functionDeclarations and a functionCall back to tool_calls', async () => {
      const res = await client().chat.completions.create({
        model: 'gem',
        tools: [weatherTool],
        tool_choice: 'required',
        messages: [{ role: 'user', content: 'look it up' }],
      });
      const call = res.choices[0]!.message.tool_calls![0]! as OpenAI.Chat.Completions.ChatCompletionMessageFunctionToolCall;
      expect(res.choices[0]!.finish_reason).toBe('tool_calls');
      expect(call.function.name).toBe('lookup');
      expect(JSON.parse(call.function.arguments)).toEqual({ query: 'Echo: look it up' });
      const body = gemini.requests[0]!.body as { tools: unknown; toolConfig: unknown };
      // JSON-Schema-only keywords (additionalProperties) are dropped for Gemini.
      expect(body.tools).toEqual([
        {
          functionDeclarations: [
            {
              name: 'lookup',
              description: 'Look something up',
              parameters: { type: 'object', properties: { query: { type: 'string' } }, required: ['query'] },
            },
          ],
        },
      ]);
      expect(body.toolConfig).toEqual({ functionCallingConfig: { mode: 'ANY' } });

      // And the result goes back as a functionResponse named after the call.
      await client().chat.completions.create({
        model: 'gem',
        messages: [
          { role: 'user', content: 'look it up' },
          {
            role: 'assistant',
            content: null,
            tool_calls: [{ id: call.id, type: 'function', function: { name: 'lookup', arguments: call.function.arguments } }],
          },
          { role: 'tool', tool_call_id: call.id, content: '{"answer":42}' },
        ],
      });
      const follow = gemini.requests[1]!.body as { contents: { role: string; parts: unknown[] }[] };
      expect(follow.contents.map((c) => c.role)).toEqual(['user', 'model', 'user']);
      expect(follow.contents[2]!.parts).toEqual([{ functionResponse: { name: 'lookup', response: { answer: 42 } } }]);
    });

    it('streams a function call as tool_call deltas', async () => {
      const stream = await client().chat.completions.create({
        model: 'gem',
        stream: true,
        tools: [weatherTool],
        tool_choice: 'required',
        messages: [{ role: 'user', content: 'stream a call' }],
      });
      const calls: string[] = [];
      let finish: string | null = null;
      for await (const chunk of stream) {
        for (const tc of chunk.choices[0]?.delta?.tool_calls ?? []) calls.push(`${tc.function?.name}:${tc.function?.arguments}`);
        finish = chunk.choices[0]?.finish_reason ?? finish;
      }
      expect(calls).toEqual(['lookup:{"query":"Echo: stream a call"}']);
      expect(finish).toBe('tool_calls');
    });

    it('embeds through batchEmbedContents', async () => {
      const res = await client().embeddings.create({ model: 'gem-embed', input: ['one', 'two'], encoding_format: 'float' });
      expect(res.data.map((d) => d.embedding.length)).toEqual([8, 8]);
      expect(gemini.requests[0]!.path).toBe('/v1beta/models/text-embedding-004:batchEmbedContents');
      expect(gemini.requests[0]!.body).toEqual({
        requests: [
          { model: 'models/text-embedding-004', content: { parts: [{ text: 'one' }] } },
          { model: 'models/text-embedding-004', content: { parts: [{ text: 'two' }] } },
        ],
      });
    });

    it('falls back across a dropped Gemini stream before its first chunk: retried on the same target', async () => {
      gemini.behave({ dropAfterChunks: 0, times: 1 });
      const stream = await client().chat.completions.create({
        model: 'gem',
        stream: true,
        messages: [{ role: 'user', content: 'retry me' }],
      });
      let text = '';
      for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
      expect(text).toBe('Echo: retry me');
      expect(gemini.requests).toHaveLength(2);
    });
  });
});
