// The Vercel AI SDK's core calls against the router, through one provider package:
// PROVIDER = openai (the chat model) | openai-compatible | anthropic, MODEL = what to ask for.
// Prints one JSON object with what each call gave back (or the error it threw).
import { generateObject, generateText, stepCountIs, streamText, tool } from 'ai';
import { createAnthropic } from '@ai-sdk/anthropic';
import { createOpenAI } from '@ai-sdk/openai';
import { createOpenAICompatible } from '@ai-sdk/openai-compatible';
import { z } from 'zod';

const url = process.env.ROUTER_URL;
const providers = {
  openai: (m) => createOpenAI({ baseURL: `${url}/v1`, apiKey: 'demo' }).chat(m),
  'openai-compatible': (m) => createOpenAICompatible({
    name: 'freerouter', baseURL: `${url}/v1`, apiKey: 'demo',
    includeUsage: true, supportsStructuredOutputs: true,
  })(m),
  anthropic: (m) => createAnthropic({ baseURL: `${url}/v1`, apiKey: 'demo' })(m),
};
const model = providers[process.env.PROVIDER](process.env.MODEL);

const weather = tool({
  description: 'The weather in a city',
  inputSchema: z.object({ city: z.string() }),
  execute: async ({ city }) => `sunny and 21C in ${city}`,
});

const report = z.object({
  level: z.enum(['low', 'high']),
  place: z.object({ city: z.string(), country: z.string() }),
  tags: z.array(z.string()).min(1),
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
  return { text: r.text, finishReason: r.finishReason, usage: r.usage, modelId: r.response.modelId };
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
out.generateObject = await attempt(async () => {
  const r = await generateObject({ model, schema: report, prompt: 'Report on Rome.', maxRetries: 0 });
  return { object: r.object, finishReason: r.finishReason };
});
console.log(JSON.stringify(out));
