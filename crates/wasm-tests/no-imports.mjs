// Checks the import-free module over gptproto's core (crates/wasm-tests/src/lib.rs): its wasm
// imports nothing, and it decodes a stream with nothing given to it.
// Usage: node no-imports.mjs path/to/gptproto_wasm_tests.wasm
import { readFile } from "node:fs/promises";

const path = process.argv[2];
const module = await WebAssembly.compile(await readFile(path));
const imports = WebAssembly.Module.imports(module);
console.log(`${path}: ${imports.length} imports, ${WebAssembly.Module.exports(module).length} exports`);
if (imports.length !== 0) {
  console.error("imports:", imports.map((i) => `${i.module}.${i.name} (${i.kind})`).join(", "));
  process.exit(1);
}
const instance = await WebAssembly.instantiate(module, {});
const { memory, gptproto_alloc, gptproto_decode, gptproto_free } = instance.exports;

function decode(sse) {
  const bytes = new TextEncoder().encode(sse);
  const input = gptproto_alloc(bytes.length);
  new Uint8Array(memory.buffer, input, bytes.length).set(bytes);
  const output = gptproto_decode(input, bytes.length);
  const length = new DataView(memory.buffer).getUint32(output, true);
  const json = new TextDecoder().decode(new Uint8Array(memory.buffer, output + 4, length));
  gptproto_free(output, length + 4);
  return JSON.parse(json);
}

const chunk = (content, finish) =>
  `data: ${JSON.stringify({ id: "c", object: "chat.completion.chunk", created: 1, model: "m",
    choices: [{ index: 0, delta: { content }, finish_reason: finish }] })}\n\n`;
const checks = [
  [chunk("Hello, ", null) + chunk("wasm", null) + chunk("", "stop") + "data: [DONE]\n\n",
    (r) => r.text === "Hello, wasm" && r.finish_reason === "stop"],
  // Cut in the middle of an event: an error, not a shorter answer.
  [chunk("Hello", null) + 'data: {"id":"c","obj', (r) => typeof r.error === "string"],
  ['data: {"error":{"message":"quota exceeded","type":"insufficient_quota"}}\n\n',
    (r) => typeof r.error === "string" && r.error.includes("quota exceeded")],
];
for (const [sse, ok] of checks) {
  const result = decode(sse);
  console.log("decoded:", JSON.stringify(result));
  if (!ok(result)) {
    console.error("unexpected result");
    process.exit(1);
  }
}
