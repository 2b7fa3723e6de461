// The Vercel AI SDK's default OpenAI provider, `openai(id)`, which speaks the Responses API,
// against the router (MODEL = what to ask for). Every request body the SDK sends is recorded,
// so the test can see the item_reference its default `store: true` makes it send.
// Prints one JSON object with what each call gave back (or the error it threw).
import { generateObject, generateText, stepCountIs, streamText, tool } from 'ai';
import { createOpenAI } from '@ai-sdk/openai';
import { z } from 'zod';

const sent = [];
const recording = async (url, init) => {
  if (init?.body) sent.push({ url: String(url), body: JSON.parse(init.body) });
  return fetch(url, init);
};
const provider = createOpenAI({ baseURL: `${process.env.ROUTER_URL}/v1`, apiKey: 'demo', fetch: recording });
const model = provider(process.env.MODEL);

const weather = tool({
  description: 'The weather in a city',
  inputSchema: z.object({ city: z.string() }),
  execute: async ({ city }) => `sunny and 21C in ${city}`,
});

async function attempt(fn) {
  try {
    return await fn();
  } catch (error) {
    return { error: String(error), cause: String(error?.cause ?? ''), body: error?.responseBody };
  }
}

const out = {};
out.generateText = await attempt(async () => {
  const r = await generateText({ model, prompt: 'hello there', maxRetries: 0 });
  return { text: r.text, finishReason: r.finishReason, usage: r.usage, modelId: r.response.modelId,
           id: r.response.id, messages: r.response.messages };
});
out.followUp = await attempt(async () => {
  const first = out.generateText;
  const before = sent.length;
  const r = await generateText({
    model, maxRetries: 0,
    messages: [{ role: 'user', content: 'hello there' }, ...first.messages,
               { role: 'user', content: 'and once more' }],
  });
  return { text: r.text, input: sent.slice(before).map((s) => s.body.input) };
});
out.streamText = await attempt(async () => {
  const r = streamText({ model, prompt: 'stream this', maxRetries: 0 });
  const parts = [];
  for await (const part of r.textStream) parts.push(part);
  return { parts, text: await r.text, usage: await r.usage, finishReason: await r.finishReason };
});
out.tools = await attempt(async () => {
  const r = await generateText({
    model, tools: { weather }, stopWhen: stepCountIs(3), maxRetries: 0,
    prompt: 'What is the weather in Oslo?',
  });
  return {
    text: r.text, steps: r.steps.length,
    calls: r.steps.flatMap((s) => s.toolCalls.map((c) => ({ name: c.toolName, input: c.input }))),
    results: r.steps.flatMap((s) => s.toolResults.map((t) => t.output)),
  };
});
out.streamTools = await attempt(async () => {
  const r = streamText({
    model, tools: { weather }, stopWhen: stepCountIs(3), maxRetries: 0,
    prompt: 'What is the weather in Lima?',
  });
  const kinds = new Set();
  for await (const part of r.fullStream) kinds.add(part.type);
  return { text: await r.text, kinds: [...kinds], steps: (await r.steps).length };
});
out.generateObject = await attempt(async () => {
  const report = z.object({ level: z.enum(['low', 'high']), tags: z.array(z.string()).min(1) });
  const r = await generateObject({ model, schema: report, prompt: 'Report on Rome.', maxRetries: 0 });
  return { object: r.object, finishReason: r.finishReason };
});
out.paths = [...new Set(sent.map((s) => new URL(s.url).pathname))];
console.log(JSON.stringify(out));
