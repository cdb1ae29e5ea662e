#!/usr/bin/env node
// A stand-in for an Ollama server, for brickbench's ollama_client tests: Ollama's REST API as its
// documentation gives it (docs.ollama.com/api, i.e. docs/api.md of Ollama v0.12.x: /api/generate,
// /api/chat, /api/tags, /api/show, /api/ps, /api/version; field names, nanosecond durations, NDJSON
// streaming, {"error": "..."} bodies and status codes), doing real llama.cpp inference on the CPU
// through node-llama-cpp's native bindings on the GGUF it is given.
//
// usage: node server.mjs [--port N] [--model TAG=PATH]... [--models-dir DIR] [--threads N] [--fail MODE]
//   --port N          loopback port to bind; 0 (default) = a free one. Prints "listening on URL" when ready.
//   --model TAG=PATH  serve PATH under TAG ("name:tag"; ":latest" when the tag is left out). Repeatable.
//   --models-dir DIR  also serve every model of an Ollama models directory (manifests/ + blobs/), like
//                     Ollama itself; default $OLLAMA_MODELS when set.
//   --threads N       llama.cpp threads (default 1: on a small shared machine a spinning thread pool
//                     loses more than it gains). A request's options.num_thread overrides it.
//   --fail MODE       misbehave on every generate/chat request that has a prompt (load requests with an
//                     empty prompt still succeed, as they would on a server whose runner dies later):
//                       404             the model is not found (as if never pulled)
//                       500             HTTP 500 with an {"error": ...} body
//                       error-mid-stream  two tokens, then an {"error": ...} line (status stays 200)
//                       drop-mid-stream   two tokens, then the connection is cut
//                       stall           two tokens, then nothing more (the connection stays open)
//                       stall-start     headers are never sent
//                       malformed       two tokens, then a line that is not JSON
//                       deep            two tokens, then a line of 500,000 '[' (a parser without a
//                                       depth limit overflows its stack on it)
//                       endless-line    two tokens, then 3 MiB without a newline (the connection stays open)
//                       huge-version    GET /api/version answers a 65 MiB body
//                       absent-fields   a normal stream whose final line lacks every count and duration
//                                       (and /api/ps lacks size_vram, /api/show lacks details)
//   Each switch also reads from the environment: STANDIN_PORT, STANDIN_MODELS ("TAG=PATH,TAG=PATH"),
//   STANDIN_THREADS, STANDIN_FAIL. "Nothing listening" needs no switch: do not start the server.
//
// Models without a tokenizer (brickbench's synthetic GGUFs: tokenizer.ggml.model "none" or no vocabulary)
// use this text <-> token mapping (docs/OLLAMA.md):
//   prompt: split on whitespace; a piece that is a decimal integer in [0, n_vocab) is that token id; any
//           other piece contributes one token per UTF-8 byte, id = byte % n_vocab.
//   output: token id t is the text " t" (a space, then the decimal id), so a response re-reads as ids.
import crypto from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import {getLlama, readGgufFileInfo} from "node-llama-cpp";

const STANDIN_VERSION = "0.12.6-brickbench-standin";
const FAIL_MODES = ["404", "500", "error-mid-stream", "drop-mid-stream", "stall", "stall-start", "malformed",
  "absent-fields", "deep", "endless-line", "huge-version"];
const MODEL_MEDIA_TYPE = "application/vnd.ollama.image.model";
const DEFAULT_NUM_CTX = 4096;               // Ollama's default context since 0.6
const DEFAULT_KEEP_ALIVE_NS = 5 * 60 * 1e9;  // "5m"

// ---- command line ----------------------------------------------------------------------------------
function parseArgs(argv) {
  const o = {
    port: Number(process.env.STANDIN_PORT ?? 0),
    models: (process.env.STANDIN_MODELS ?? "").split(",").filter(Boolean),
    modelsDir: process.env.OLLAMA_MODELS ?? "",
    threads: Number(process.env.STANDIN_THREADS ?? 1),
    fail: process.env.STANDIN_FAIL ?? "",
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i], v = () => {
      if (i + 1 >= argv.length) die(`${a} needs a value`);
      return argv[++i];
    };
    if (a === "--port") o.port = Number(v());
    else if (a === "--model") o.models.push(v());
    else if (a === "--models-dir") o.modelsDir = v();
    else if (a === "--threads") o.threads = Number(v());
    else if (a === "--fail") o.fail = v();
    else if (a === "--help" || a === "-h") {
      process.stdout.write(fs.readFileSync(new URL(import.meta.url), "utf8").split("\n").slice(1, 30)
        .map((l) => l.replace(/^\/\/ ?/, "")).join("\n") + "\n");
      process.exit(0);
    } else die(`unknown argument '${a}' (--help lists them)`);
  }
  if (!Number.isInteger(o.port) || o.port < 0 || o.port > 65535) die(`--port: not a port: ${o.port}`);
  if (!(o.threads >= 1)) die(`--threads: expected an integer >= 1, got ${o.threads}`);
  if (o.fail && !FAIL_MODES.includes(o.fail)) die(`--fail: unknown mode '${o.fail}'; known: ${FAIL_MODES.join(", ")}`);
  return o;
}

function die(msg) {
  process.stderr.write(`ollama-standin: ${msg}\n`);
  process.exit(2);
}

// "qwen2.5-coder" -> "qwen2.5-coder:latest"; "library/x:y" and "registry.ollama.ai/library/x:y" -> "x:y"
function canonicalTag(name) {
  let n = String(name ?? "").trim();
  n = n.replace(/^registry\.ollama\.ai\//, "").replace(/^library\//, "");
  if (!n) return "";
  const lastSlash = n.lastIndexOf("/");
  if (n.indexOf(":", lastSlash + 1) < 0) n += ":latest";
  return n;
}

// ---- the model catalogue -------------------------------------------------------------------------
const catalogue = new Map();  // tag -> {tag, path, digest, size, modifiedAt, info (lazy)}

function addModel(tag, file, digest) {
  const st = fs.statSync(file);
  catalogue.set(canonicalTag(tag), {tag: canonicalTag(tag), path: file, digest, size: st.size,
    modifiedAt: st.mtime.toISOString(), info: null});
}

// Ollama's layout: manifests/<host>/<namespace>/<name>/<tag> (JSON), its model layer's digest names
// blobs/sha256-<hex>.
function scanModelsDir(dir) {
  const root = path.join(dir, "manifests");
  if (!fs.existsSync(root)) return;
  const walk = (d, parts) => {
    for (const e of fs.readdirSync(d, {withFileTypes: true})) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p, [...parts, e.name]);
      else if (parts.length === 3) {
        try {
          const m = JSON.parse(fs.readFileSync(p, "utf8"));
          const layer = (m.layers ?? []).find((l) => l.mediaType === MODEL_MEDIA_TYPE);
          if (!layer) continue;
          const blob = path.join(dir, "blobs", layer.digest.replace(":", "-"));
          const [host, ns, name] = parts;
          const tag = (host === "registry.ollama.ai" && ns === "library" ? "" : `${host}/${ns}/`) + `${name}:${e.name}`;
          addModel(tag, blob, layer.digest.replace(/^sha256:/, ""));
        } catch (err) {
          process.stderr.write(`ollama-standin: skipping manifest ${p}: ${err.message}\n`);
        }
      }
    }
  };
  walk(root, []);
}

// The sha256 of a model given by path, as Ollama names its blobs (a manifest's digest is taken as is).
async function fileDigest(file) {
  const h = crypto.createHash("sha256");
  for await (const chunk of fs.createReadStream(file, {highWaterMark: 1 << 22})) h.update(chunk);
  return h.digest("hex");
}

const FILE_TYPES = {0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 7: "Q8_0", 8: "Q5_0", 9: "Q5_1", 10: "Q2_K",
  11: "Q3_K_S", 12: "Q3_K_M", 13: "Q3_K_L", 14: "Q4_K_S", 15: "Q4_K_M", 16: "Q5_K_S", 17: "Q5_K_M", 18: "Q6_K",
  32: "BF16"};

// "494.03M", "1.5B", as Ollama's format.HumanNumber prints parameter counts.
function humanParameters(n) {
  const units = [[1e12, "T"], [1e9, "B"], [1e6, "M"], [1e3, "K"]];
  for (const [div, u] of units) {
    if (n >= div) {
      const v = n / div;
      const s = Number.isInteger(v) ? String(v) : v.toFixed(v >= 100 ? 0 : (v >= 10 ? 1 : 2));
      return `${s.replace(/\.0+$/, "").replace(/(\.\d*?)0+$/, "$1")}${u}`;
    }
  }
  return String(n);
}

async function modelInfo(entry) {
  if (entry.info) return entry.info;
  const gguf = await readGgufFileInfo(entry.path, {readTensorInfo: true, ignoreKeys: ["tokenizer.ggml.tokens",
    "tokenizer.ggml.scores", "tokenizer.ggml.token_type", "tokenizer.ggml.merges"]});
  const md = gguf.metadata ?? {};
  const arch = md.general?.architecture ?? "unknown";
  let params = Number(md.general?.parameter_count ?? 0);
  if (!params && gguf.fullTensorInfo)
    for (const t of gguf.fullTensorInfo) params += t.dimensions.reduce((a, d) => a * Number(d), 1);
  const archMd = md[arch] ?? {};
  const tokModel = md.tokenizer?.ggml?.model;
  const nVocab = Number(archMd.vocab_size ?? 0) ||
    Number(gguf.fullTensorInfo?.find((t) => t.name === "token_embd.weight")?.dimensions?.[1] ?? 0);
  const modelInfoKv = {"general.architecture": arch, "general.parameter_count": params,
    "general.file_type": md.general?.file_type ?? null};
  if (md.general?.name) modelInfoKv["general.name"] = md.general.name;
  for (const [k, v] of Object.entries(archMd))
    if (typeof v !== "object") modelInfoKv[`${arch}.${k}`] = v;
  if (tokModel && tokModel !== "none") modelInfoKv["tokenizer.ggml.model"] = tokModel;
  entry.info = {
    arch, params, nVocab,
    tokenizerless: !tokModel || tokModel === "none",
    details: {parent_model: "", format: "gguf", family: arch, families: [arch],
      parameter_size: humanParameters(params), quantization_level: FILE_TYPES[md.general?.file_type] ?? "unknown"},
    modelInfo: modelInfoKv,
    contextLength: Number(archMd.context_length ?? 0) || DEFAULT_NUM_CTX,
  };
  return entry.info;
}

// ---- llama.cpp through node-llama-cpp's native bindings --------------------------------------------
// The high-level LlamaModel refuses GGUFs without a tokenizer; AddonModel/AddonContext/AddonSampler are
// the bindings under it and work on token ids directly.
let llama = null;
const loaded = new Map();  // tag -> {model, ctx, numCtx, cached: number[], expiresAt, timer, sizeBytes}
let queue = Promise.resolve();  // one evaluation at a time (OLLAMA_NUM_PARALLEL=1)

function serialized(fn) {
  const run = queue.then(fn, fn);
  queue = run.catch(() => {});
  return run;
}

async function bindings() {
  if (!llama) llama = await getLlama({gpu: false, build: "never", logLevel: "error", progressLogs: false});
  return llama._bindings;
}

async function unload(tag) {
  const l = loaded.get(tag);
  if (!l) return;
  loaded.delete(tag);
  clearTimeout(l.timer);
  await l.ctx.dispose();
  await l.model.dispose();
}

function keepAliveNs(v) {
  if (v === undefined || v === null || v === "") return DEFAULT_KEEP_ALIVE_NS;
  if (typeof v === "number") return v < 0 ? Infinity : v * 1e9;  // a number is seconds
  const m = /^(-?\d+(?:\.\d+)?)(ns|us|ms|s|m|h)?$/.exec(String(v).trim());
  if (!m) throw new HttpError(400, `time: invalid duration "${v}"`);
  const n = Number(m[1]);
  if (n < 0) return Infinity;
  const unit = {ns: 1, us: 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9}[m[2] ?? "s"];
  return n * unit;
}

function scheduleExpiry(tag, l, ns) {
  clearTimeout(l.timer);
  if (ns === Infinity) {
    l.expiresAt = new Date(Date.UTC(2318, 0, 1));  // Ollama prints a far-future date for "forever"
    return;
  }
  l.expiresAt = new Date(Date.now() + ns / 1e6);
  l.timer = setTimeout(() => serialized(() => unload(tag)), Math.max(0, ns / 1e6));
  l.timer.unref();
}

// Loads (or reuses) the model with a context of numCtx positions; returns [loaded, load_duration_ns].
async function ensureLoaded(entry, numCtx, threads) {
  const t0 = process.hrtime.bigint();
  let l = loaded.get(entry.tag);
  if (l && l.numCtx !== numCtx) {  // Ollama reloads the runner when num_ctx changes
    await unload(entry.tag);
    l = null;
  }
  if (!l) {
    const b = await bindings();
    const model = new b.AddonModel(entry.path, {addonExports: b, gpuLayers: 0, useMmap: true});
    if (!(await model.init())) throw new HttpError(500, `llama runner process has terminated: cannot load ${entry.path}`);
    const ctx = new b.AddonContext(model, {contextSize: numCtx, batchSize: 512, sequences: 1, threads,
      flashAttention: false});
    if (!(await ctx.init())) {
      await model.dispose();
      throw new HttpError(500, `llama runner process has terminated: cannot create a context of ${numCtx}`);
    }
    l = {model, ctx, numCtx, cached: [], threads, sizeBytes: entry.size, expiresAt: null, timer: null};
    loaded.set(entry.tag, l);
  }
  if (l.threads !== threads) {
    l.ctx.setThreads(threads);
    l.threads = threads;
  }
  return [l, Number(process.hrtime.bigint() - t0)];
}

function tokenize(info, l, text) {
  if (!info.tokenizerless) return Array.from(l.model.tokenize(text, true));
  const out = [];
  for (const piece of text.split(/\s+/)) {
    if (!piece) continue;
    if (/^\d+$/.test(piece) && Number(piece) < info.nVocab) out.push(Number(piece));
    else for (const byte of Buffer.from(piece, "utf8")) out.push(byte % info.nVocab);
  }
  return out;
}

function detokenize(info, l, token) {
  if (info.tokenizerless) return ` ${token}`;
  return l.model.detokenize(Uint32Array.of(token), false);
}

// Runs prompt + generation, calling onToken(text) per token; returns Ollama's final counters.
// Like Ollama's runner it keeps the last request's tokens in the KV cache and evaluates only the part of
// the new prompt past the common prefix (at least one token).
async function evaluate(entry, info, l, prompt, opts, onToken, aborted) {
  const b = await bindings();
  let tokens = tokenize(info, l, prompt);
  if (tokens.length === 0) tokens = [0];
  const maxPrompt = l.numCtx - 1;
  if (tokens.length > maxPrompt) tokens = tokens.slice(tokens.length - maxPrompt);  // Ollama truncates the front
  let keep = 0;
  while (keep < l.cached.length && keep < tokens.length - 1 && l.cached[keep] === tokens[keep]) keep++;
  l.ctx.removeTokenCellsFromSequence(0, keep, -1);
  l.cached = tokens.slice(0, keep);

  const sampler = new b.AddonSampler(l.model);
  const temperature = opts.temperature ?? 0.8;
  sampler.applyConfig(temperature <= 0 ? {temperature: 0} : {temperature, topK: opts.top_k ?? 40,
    topP: opts.top_p ?? 0.9, minP: opts.min_p ?? 0, seed: opts.seed ?? Math.floor(Math.random() * 2 ** 31)});

  const tp0 = process.hrtime.bigint();
  const fresh = tokens.slice(keep);
  let pos = keep;
  let logitIndex = 0;
  for (let i = 0; i < fresh.length; i += 512) {
    const chunk = Uint32Array.from(fresh.slice(i, i + 512));
    l.ctx.initBatch(chunk.length);
    const last = i + 512 >= fresh.length;
    const idx = l.ctx.addToBatch(0, pos, chunk, last ? Uint32Array.of(chunk.length - 1) : new Uint32Array(0));
    await l.ctx.decodeBatch();
    if (last) logitIndex = idx[0];
    pos += chunk.length;
  }
  l.cached = tokens.slice();
  const promptNs = Number(process.hrtime.bigint() - tp0);

  const numPredict = opts.num_predict === undefined || opts.num_predict < 0 ? Infinity : opts.num_predict;
  const te0 = process.hrtime.bigint();
  let evalCount = 0, doneReason = "stop";
  while (true) {
    if (evalCount >= numPredict) {
      doneReason = "length";
      break;
    }
    if (aborted()) break;
    const tok = await l.ctx.sampleToken(logitIndex, sampler);
    if (tok === -1 || l.model.isEogToken(tok)) break;
    evalCount++;
    await onToken(detokenize(info, l, tok), evalCount);
    if (pos >= l.numCtx) {
      doneReason = "length";
      break;
    }
    if (evalCount >= numPredict) {  // the last token is sampled, not decoded, as Ollama's runner does
      doneReason = "length";
      break;
    }
    l.ctx.initBatch(1);
    const idx = l.ctx.addToBatch(0, pos, Uint32Array.of(tok), Uint32Array.of(0));
    await l.ctx.decodeBatch();
    l.cached.push(tok);
    logitIndex = idx[0];
    pos++;
  }
  const evalNs = Number(process.hrtime.bigint() - te0);
  sampler.dispose();
  return {prompt_eval_count: fresh.length, prompt_eval_duration: promptNs, eval_count: evalCount,
    eval_duration: evalNs, done_reason: doneReason};
}

// ---- HTTP --------------------------------------------------------------------------------------------
class HttpError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

function sendJson(res, status, obj) {
  const body = JSON.stringify(obj);
  res.writeHead(status, {"Content-Type": "application/json; charset=utf-8", "Content-Length": Buffer.byteLength(body)});
  res.end(body);
}

async function readBody(req) {
  const chunks = [];
  for await (const c of req) chunks.push(c);
  const text = Buffer.concat(chunks).toString("utf8");
  if (!text.trim()) return {};
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new HttpError(400, `invalid character in request body: ${err.message}`);
  }
}

function notFound(tag) {
  return new HttpError(404, `model '${tag}' not found`);
}

function lookup(name) {
  if (!name) throw new HttpError(400, "model is required");
  const tag = canonicalTag(name);
  const e = catalogue.get(tag);
  if (!e || options.fail === "404") throw notFound(tag);
  return e;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// /api/generate and /api/chat share everything but the prompt and the shape of each chunk.
async function generateLike(req, res, body, kind) {
  const entry = lookup(body.model);
  const info = await modelInfo(entry);
  const opts = body.options ?? {};
  const numCtx = Math.max(16, Number(opts.num_ctx ?? DEFAULT_NUM_CTX));
  const threads = Math.max(1, Number(opts.num_thread ?? options.threads));
  const keepNs = keepAliveNs(body.keep_alive);
  const stream = body.stream !== false;
  const prompt = kind === "chat"
    ? (body.messages ?? []).map((m) => String(m.content ?? "")).join(" ")
    : String(body.prompt ?? "");
  const isLoad = kind === "chat" ? (body.messages ?? []).length === 0 : !body.prompt;
  const tag = entry.tag;
  const created = () => new Date().toISOString();
  const chunk = (text) => kind === "chat"
    ? {model: tag, created_at: created(), message: {role: "assistant", content: text}, done: false}
    : {model: tag, created_at: created(), response: text, done: false};

  if (isLoad) {  // "Load a model" / "Unload a model" (empty prompt or messages)
    const out = await serialized(async () => {
      if (keepNs === 0) {
        await unload(tag);
        return {done_reason: "unload"};
      }
      const [l] = await ensureLoaded(entry, numCtx, threads);
      scheduleExpiry(tag, l, keepNs);
      return {done_reason: "load"};
    });
    const final = {...chunk(""), done: true, done_reason: out.done_reason};
    return sendJson(res, 200, final);
  }

  const fail = options.fail;
  if (fail === "500") throw new HttpError(500, "llama runner process has terminated: exit status 2");
  if (fail === "stall-start") {
    await new Promise((resolve) => req.socket.once("close", resolve));
    return;
  }

  let closed = false;
  res.on("close", () => { closed = true; });
  const t0 = process.hrtime.bigint();
  let started = false;
  const start = () => {
    if (started) return;
    started = true;
    if (stream) res.writeHead(200, {"Content-Type": "application/x-ndjson", "Transfer-Encoding": "chunked"});
  };
  let text = "";
  const misbehaveAfter =
    ["error-mid-stream", "drop-mid-stream", "stall", "malformed", "deep", "endless-line"].includes(fail) ? 2 : Infinity;
  let misbehaved = false;

  const result = await serialized(async () => {
    const [l, loadNs] = await ensureLoaded(entry, numCtx, threads);
    const counters = await evaluate(entry, info, l, prompt, opts, async (piece, n) => {
      text += piece;
      if (!stream) return;
      start();
      res.write(JSON.stringify(chunk(piece)) + "\n");
      if (n >= misbehaveAfter) misbehaved = true;
    }, () => closed || misbehaved);
    scheduleExpiry(tag, l, keepNs);
    return {...counters, load_duration: loadNs};
  });
  if (closed) return;
  if (misbehaved) {
    if (fail === "error-mid-stream") {
      res.end(JSON.stringify({error: "an error was encountered while running the model: unexpected EOF"}) + "\n");
    } else if (fail === "drop-mid-stream") {
      res.socket.destroy();
    } else if (fail === "malformed") {
      res.end(`{"model":"${tag}","created_at":"${created()}","response":"\u0007,"done":fal\n`);
    } else if (fail === "stall") {
      await new Promise((resolve) => req.socket.once("close", resolve));
    } else if (fail === "deep") {
      res.end("[".repeat(500000) + "\n");
    } else if (fail === "endless-line") {
      const piece = "x".repeat(64 << 10);
      for (let i = 0; i < 48 && !closed; ++i) res.write(piece);
      await new Promise((resolve) => req.socket.once("close", resolve));
    }
    return;
  }
  const total = Number(process.hrtime.bigint() - t0);
  const final = {...chunk(""), done: true, done_reason: result.done_reason};
  if (!stream) {
    if (kind === "chat") final.message.content = text;
    else final.response = text;
  }
  if (fail !== "absent-fields") {
    Object.assign(final, {total_duration: total, load_duration: result.load_duration,
      prompt_eval_count: result.prompt_eval_count, prompt_eval_duration: result.prompt_eval_duration,
      eval_count: result.eval_count, eval_duration: result.eval_duration});
  }
  if (stream) {
    start();
    res.end(JSON.stringify(final) + "\n");
  } else {
    sendJson(res, 200, final);
  }
}

async function show(res, body) {
  const entry = lookup(body.model ?? body.name);
  const info = await modelInfo(entry);
  const out = {license: "", modelfile: `# Modelfile generated by the brickbench stand-in\nFROM ${entry.path}\n`,
    parameters: "", template: "{{ .Prompt }}", details: info.details, model_info: info.modelInfo,
    capabilities: ["completion"], modified_at: entry.modifiedAt};
  if (options.fail === "absent-fields") delete out.details;
  sendJson(res, 200, out);
}

async function tags(res) {
  const models = [];
  for (const e of catalogue.values()) {
    let details = {format: "gguf"};
    try {
      details = (await modelInfo(e)).details;
    } catch { /* listed with what is known */ }
    models.push({name: e.tag, model: e.tag, modified_at: e.modifiedAt, size: e.size, digest: e.digest, details});
  }
  sendJson(res, 200, {models});
}

async function ps(res) {
  const models = [];
  for (const [tag, l] of loaded) {
    const e = catalogue.get(tag);
    const m = {name: tag, model: tag, size: l.sizeBytes, digest: e.digest, details: (await modelInfo(e)).details,
      expires_at: l.expiresAt?.toISOString() ?? new Date().toISOString(), size_vram: 0, context_length: l.numCtx};
    if (options.fail === "absent-fields") delete m.size_vram;
    models.push(m);
  }
  sendJson(res, 200, {models});
}

async function handle(req, res) {
  const url = new URL(req.url, "http://localhost");
  const route = `${req.method} ${url.pathname}`;
  try {
    if (req.method === "HEAD" && url.pathname === "/") return res.writeHead(200).end();
    if (route === "GET /") return res.writeHead(200, {"Content-Type": "text/plain"}).end("Ollama is running");
    if (route === "GET /api/version") {
      if (options.fail === "huge-version") return sendJson(res, 200, {version: "9".repeat(65 << 20)});
      return sendJson(res, 200, {version: STANDIN_VERSION});
    }
    if (route === "GET /api/tags") return await tags(res);
    if (route === "GET /api/ps") return await ps(res);
    if (route === "POST /api/show") return await show(res, await readBody(req));
    if (route === "POST /api/generate") return await generateLike(req, res, await readBody(req), "generate");
    if (route === "POST /api/chat") return await generateLike(req, res, await readBody(req), "chat");
    const known = ["/api/version", "/api/tags", "/api/ps", "/api/show", "/api/generate", "/api/chat"];
    if (known.includes(url.pathname)) return res.writeHead(405, {"Content-Type": "text/plain"}).end("405 method not allowed");
    return res.writeHead(404, {"Content-Type": "text/plain"}).end("404 page not found");
  } catch (err) {
    const status = err instanceof HttpError ? err.status : 500;
    if (!(err instanceof HttpError)) process.stderr.write(`ollama-standin: ${route}: ${err.stack ?? err}\n`);
    if (res.headersSent) {  // mid-stream: an error line, the status stays (Ollama's docs/api/errors)
      res.end(JSON.stringify({error: err.message}) + "\n");
    } else {
      sendJson(res, status, {error: err.message});
    }
  }
}

// ---- main --------------------------------------------------------------------------------------------
const options = parseArgs(process.argv.slice(2));
for (const spec of options.models) {
  const eq = spec.indexOf("=");
  if (eq <= 0) die(`--model: expected TAG=PATH, got '${spec}'`);
  const file = path.resolve(spec.slice(eq + 1));
  if (!fs.existsSync(file)) die(`--model: no such file: ${file}`);
  addModel(spec.slice(0, eq), file, await fileDigest(file));
}
if (options.modelsDir) scanModelsDir(options.modelsDir.replace(/^~(?=\/)/, os.homedir()));
await bindings();  // load llama.cpp before saying "listening", so the first request does not pay for it

const server = http.createServer((req, res) => { handle(req, res); });
server.keepAliveTimeout = 5000;
server.listen(options.port, "127.0.0.1", () => {
  const {port} = server.address();
  process.stdout.write(`listening on http://127.0.0.1:${port}\n`);
  process.stderr.write(`ollama-standin ${STANDIN_VERSION}: serving ${[...catalogue.keys()].join(", ") || "no models"}` +
    `${options.fail ? `; failure mode ${options.fail}` : ""}\n`);
});
const stop = () => process.exit(0);  // open streams (a stall) must not hold the exit
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
