// The mock upstream every contender ends at: an OpenAI-compatible /v1/chat/completions that
// answers at once with a fixed reply, as JSON or as SSE chunks (OpenAI's framing, usage at the
// end when asked). Deliberately minimal, so the figures measure what sits in front of it.
import http from 'node:http';

const [port] = process.argv.slice(2).map(Number);
const WORDS = 'Hello from the mock upstream, a fixed reply of about twenty tokens for every single request.'.split(' ');
const REPLY = WORDS.join(' ');
const usage = { prompt_tokens: 12, completion_tokens: 20, total_tokens: 32 };

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    if (req.method !== 'POST' || !req.url.endsWith('/chat/completions')) {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end('{"error":{"message":"not found","type":"invalid_request_error"}}');
      return;
    }
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
    const base = { id: 'chatcmpl-mock', created: 1700000000, model: body.model ?? 'mock' };
    if (!body.stream) {
      const payload = JSON.stringify({ ...base, object: 'chat.completion', choices: [{ index: 0, message: { role: 'assistant', content: REPLY }, logprobs: null, finish_reason: 'stop' }], usage });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) });
      res.end(payload);
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    const send = (choices, extra = {}) => res.write(`data: ${JSON.stringify({ ...base, object: 'chat.completion.chunk', choices, ...extra })}\n\n`);
    send([{ index: 0, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }]);
    for (const word of WORDS) send([{ index: 0, delta: { content: `${word} ` }, logprobs: null, finish_reason: null }]);
    send([{ index: 0, delta: {}, logprobs: null, finish_reason: 'stop' }]);
    if (body.stream_options?.include_usage) send([], { usage });
    res.end('data: [DONE]\n\n');
  });
});
server.keepAliveTimeout = 65_000;
server.listen(port, '127.0.0.1', () => process.send?.({ port: server.address().port }));
