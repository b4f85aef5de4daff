// llama.cpp for the tests that let it judge our GGUF: node-llama-cpp's prebuilt CPU build (never
// built or downloaded here), or the reason it cannot load on this machine (the tests then skip).
import type { Llama } from 'node-llama-cpp';

/** getLlama with the prebuilt CPU binary, or why it does not load. */
export async function llamaCpp(): Promise<{ llama?: Llama; skip?: string }> {
  try {
    const { getLlama } = await import('node-llama-cpp');
    return { llama: await getLlama({ gpu: false, build: 'never', logLevel: 'error' as never }) };
  } catch (e) {
    return { skip: `node-llama-cpp's prebuilt llama.cpp does not load here: ${(e as Error).message}` };
  }
}
