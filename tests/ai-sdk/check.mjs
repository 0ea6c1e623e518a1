// The AI SDK compatibility check: drives a running Alleato server with the real `ai` package's
// chat client (AbstractChat + DefaultChatTransport), as `useChat` would, and checks what it sees
// against the API design (api.md: "Sending a message", "Drop-in endpoint for the AI SDK's useChat", "Streams").
//
//   ALLEATO_BASE_URL=http://127.0.0.1:8787 node check.mjs
//
// The server must run the built-in echo model (answers `Echo: <last user message>`) with
// ALLEATO_ECHO_DELAY_MS=20, so that a 150-word answer takes about 3 s (the resume check needs a
// generation that is still running). run.sh starts such a server.
//
// The last line is `N passed, M failed`; the exit code is 0 only when nothing failed.

import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { AbstractChat, DefaultChatTransport } from "ai";

const BASE = (process.env.ALLEATO_BASE_URL ?? "").replace(/\/+$/, "");
const HARD_TIMEOUT_MS = Number(process.env.ALLEATO_CHECK_TIMEOUT_MS ?? 60_000);
const API = `${BASE}/api/v1`;

// ---------------------------------------------------------------------------------------------
// A minimal in-memory ChatState, shaped like @ai-sdk/react's ReactChatState: the messages array
// is replaced (never mutated in place) on every change, replaceMessage stores a deep copy, and
// subscribers are told about every change of messages, status and error.

class MemoryChatState {
  #messages;
  #status = "ready";
  #error = undefined;
  #callbacks = { messages: new Set(), status: new Set(), error: new Set() };

  constructor(messages = []) {
    this.#messages = messages;
  }

  get status() {
    return this.#status;
  }
  set status(status) {
    this.#status = status;
    this.#emit("status");
  }

  get error() {
    return this.#error;
  }
  set error(error) {
    this.#error = error;
    this.#emit("error");
  }

  get messages() {
    return this.#messages;
  }
  set messages(messages) {
    this.#messages = [...messages];
    this.#emit("messages");
  }

  pushMessage = (message) => {
    this.#messages = this.#messages.concat(message);
    this.#emit("messages");
  };

  popMessage = () => {
    this.#messages = this.#messages.slice(0, -1);
    this.#emit("messages");
  };

  replaceMessage = (index, message) => {
    this.#messages = [...this.#messages.slice(0, index), this.snapshot(message), ...this.#messages.slice(index + 1)];
    this.#emit("messages");
  };

  snapshot = (thing) => structuredClone(thing);

  /** `kind` is "messages", "status" or "error"; returns the unsubscribe function. */
  subscribe(kind, callback) {
    this.#callbacks[kind].add(callback);
    return () => this.#callbacks[kind].delete(callback);
  }

  #emit(kind) {
    for (const callback of this.#callbacks[kind]) callback();
  }
}

/** What a framework's `Chat` class is: AbstractChat over a state store. */
class NodeChat extends AbstractChat {
  constructor({ messages, ...init }) {
    const state = new MemoryChatState(messages);
    super({ ...init, state });
    this.store = state;
    this.statuses = [];
    state.subscribe("status", () => this.statuses.push(state.status));
  }
}

// ---------------------------------------------------------------------------------------------
// HTTP helpers. Every request the transport makes goes through `recordingFetch`, which keeps the
// method, URL, status and (bounded) raw body of each response, so a failure can show exactly what
// the server sent.

const exchanges = [];
const RAW_LIMIT = 64 * 1024;

async function recordingFetch(input, init = {}) {
  const entry = {
    method: init.method ?? "GET",
    url: String(input),
    requestBody: typeof init.body === "string" ? init.body : undefined,
    status: undefined,
    headers: undefined,
    raw: "",
  };
  exchanges.push(entry);
  const response = await fetch(input, init);
  entry.status = response.status;
  entry.headers = Object.fromEntries(response.headers);
  if (!response.body) return response;
  const [mine, theirs] = response.body.tee();
  (async () => {
    const decoder = new TextDecoder();
    const reader = mine.getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        if (entry.raw.length < RAW_LIMIT) entry.raw += decoder.decode(value, { stream: true });
      }
    } catch {
      // the consumer aborted; what was read is kept
    }
  })();
  return new Response(theirs, { status: response.status, statusText: response.statusText, headers: response.headers });
}

function describe(entry) {
  if (!entry) return "(no request made)";
  const raw = entry.raw.length > 1500 ? `${entry.raw.slice(0, 1500)}…[${entry.raw.length} chars]` : entry.raw;
  return `${entry.method} ${entry.url}${entry.requestBody ? ` body=${entry.requestBody.slice(0, 300)}` : ""} → ${entry.status}\n${raw}`;
}

/** A plain JSON request to the API; returns {status, body, text}. */
async function api(method, path, { token, body } = {}) {
  const headers = { accept: "application/json" };
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers["content-type"] = "application/json";
  const response = await fetch(`${API}${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  let json;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: response.status, body: json, text };
}

function expectStatus(res, status, what) {
  assert.equal(res.status, status, `${what}: expected HTTP ${status}, got ${res.status}: ${res.text.slice(0, 600)}`);
}

async function getChat(token, id) {
  const res = await api("GET", `/chats/${id}`, { token });
  expectStatus(res, 200, `GET /api/v1/chats/${id}`);
  assert.ok(Array.isArray(res.body?.messages), `GET /api/v1/chats/${id}: no messages array in ${res.text.slice(0, 300)}`);
  return res.body;
}

function textOf(message) {
  return (message?.parts ?? [])
    .filter((p) => p.type === "text")
    .map((p) => p.text)
    .join("");
}

/** A stored message (api.md's `message`) as the AI SDK's UIMessage, the way a client loads a chat. */
function toUIMessage(m) {
  return { id: m.id, role: m.role, parts: m.parts, metadata: m.model || m.usage ? { model: m.model, usage: m.usage } : undefined };
}

/** Checks that the stored message is there now; if it is not, says what a short wait shows too. */
async function storedMessageCheck(token, chatId, check) {
  const now = await getChat(token, chatId);
  try {
    check(now);
  } catch (err) {
    await new Promise((r) => setTimeout(r, 1000));
    const later = await getChat(token, chatId);
    const summary = (chat) =>
      JSON.stringify(chat.messages.map((m) => ({ id: m.id, role: m.role, status: m.status, text: textOf(m).slice(0, 80) })));
    err.message += `\n  right after the stream ended the server held: ${summary(now)}\n  one second later: ${summary(later)}`;
    throw err;
  }
  return now;
}

// ---------------------------------------------------------------------------------------------
// A tiny runner: named checks, run in order; a check whose prerequisite failed is not run and
// counts as failed, with the reason.

const results = [];
let current = "(starting)";

async function check(name, needs, fn) {
  const missing = needs.filter((n) => !results.some((r) => r.name === n && r.ok));
  if (missing.length > 0) {
    results.push({ name, ok: false });
    console.log(`not ok - ${name}\n  not run: needs ${missing.map((m) => `"${m}"`).join(", ")}, which failed`);
    return;
  }
  current = name;
  try {
    await fn();
    results.push({ name, ok: true });
    console.log(`ok - ${name}`);
  } catch (err) {
    results.push({ name, ok: false });
    let detail = err?.stack && !(err instanceof assert.AssertionError) ? err.stack : (err?.message ?? String(err));
    if (err?.cause) detail += `\ncaused by: ${err.cause?.message ?? err.cause}`;
    console.log(`not ok - ${name}\n  ${String(detail).replaceAll("\n", "\n  ")}`);
  }
}

function summary() {
  const passed = results.filter((r) => r.ok).length;
  return { passed, failed: results.length - passed };
}

const hardTimeout = setTimeout(() => {
  const { passed, failed } = summary();
  console.log(`not ok - ${current}\n  the whole check timed out after ${HARD_TIMEOUT_MS} ms`);
  console.log(`${passed} passed, ${failed + 1} failed`);
  process.exit(1);
}, HARD_TIMEOUT_MS);
hardTimeout.unref();

// ---------------------------------------------------------------------------------------------

const FIRST_TEXT = "hello from the ai sdk";
const WORDS = [
  "the", "quick", "brown", "fox", "jumps", "over", "a", "lazy", "dog", "while", "seven", "wizards",
  "quietly", "hex", "jolly", "boxing", "frogs", "near", "bright", "rivers",
];
const LONG_TEXT = Array.from({ length: 150 }, (_, i) => `${WORDS[i % WORDS.length]}${i}`).join(" ");

const ctx = {};

function transport(token) {
  return new DefaultChatTransport({
    api: `${API}/chat`,
    headers: { Authorization: `Bearer ${token}` },
    fetch: recordingFetch,
  });
}

async function main() {
  if (!BASE) {
    console.log("ALLEATO_BASE_URL is not set (e.g. http://127.0.0.1:8787)");
    console.log("0 passed, 1 failed");
    process.exit(1);
  }
  console.log(`# AI SDK (ai package) check against ${BASE}`);

  await check("auth: register a fresh user", [], async () => {
    const email = `ai-sdk-${randomUUID()}@example.com`;
    const res = await api("POST", "/auth/register", { body: { email, password: "correct horse battery" } });
    expectStatus(res, 201, "POST /api/v1/auth/register");
    assert.equal(typeof res.body?.accessToken, "string", `no accessToken in ${res.text.slice(0, 300)}`);
    ctx.token = res.body.accessToken;
  });

  const sent = "sendMessage: the chat ends ready with the question and an answer";
  await check(sent, ["auth: register a fresh user"], async () => {
    ctx.chatId = randomUUID();
    const errors = [];
    ctx.chat = new NodeChat({ id: ctx.chatId, transport: transport(ctx.token), onError: (e) => errors.push(e) });
    const before = exchanges.length;
    await ctx.chat.sendMessage({ text: FIRST_TEXT });
    const post = exchanges.slice(before).find((e) => e.method === "POST");
    ctx.firstExchange = post;
    const chat = ctx.chat;
    const where = `\n  the exchange: ${describe(post)}`;
    assert.equal(chat.error, undefined, `chat.error: ${chat.error?.message}${where}`);
    assert.deepEqual(errors, [], `onError was called: ${errors.map((e) => e.message).join("; ")}${where}`);
    assert.equal(chat.status, "ready", `status ${chat.status}${where}`);
    assert.equal(chat.messages.length, 2, `expected 2 messages, got ${JSON.stringify(chat.messages)}${where}`);
    assert.equal(chat.messages[0].role, "user");
    assert.equal(textOf(chat.messages[0]), FIRST_TEXT);
    assert.equal(chat.messages[1].role, "assistant", `second message: ${JSON.stringify(chat.messages[1])}`);
    assert.ok(chat.statuses.includes("streaming"), `status never went through "streaming": ${chat.statuses.join(" → ")}`);
  });

  await check("sendMessage: the answer is the echo of the question", [sent], async () => {
    assert.equal(textOf(ctx.chat.messages[1]), `Echo: ${FIRST_TEXT}`, `assistant text\n  the exchange: ${describe(ctx.firstExchange)}`);
  });


  await check("sendMessage: the response is the UI message stream (status, headers, [DONE])", [sent], async () => {
    const e = ctx.firstExchange;
    const where = `\n  the exchange: ${describe(e)}`;
    assert.equal(e.status, 200, where);
    assert.match(e.headers["content-type"] ?? "", /^text\/event-stream/, `Content-Type${where}`);
    assert.equal(e.headers["x-vercel-ai-ui-message-stream"], "v1", `x-vercel-ai-ui-message-stream${where}`);
    assert.ok(/\ndata: \[DONE\]\n|^data: \[DONE\]\n/m.test(e.raw), `the stream does not end with data: [DONE]${where}`);
  });

  await check("sendMessage: the assistant id is the one the server stored", [sent], async () => {
    await storedMessageCheck(ctx.token, ctx.chatId, (stored) => {
      assert.equal(stored.messages.length, 2, `the server holds ${stored.messages.length} messages`);
      assert.equal(stored.messages[1].role, "assistant");
      assert.equal(
        ctx.chat.messages[1].id,
        stored.messages[1].id,
        `the client's assistant message id differs from GET /api/v1/chats/${ctx.chatId} messages[1].id`,
      );
      assert.equal(textOf(stored.messages[1]), `Echo: ${FIRST_TEXT}`, "stored assistant text");
      assert.equal(stored.messages[1].status, "complete", "stored assistant status");
    });
  });

  await check("sendMessage: message-metadata gives model and token usage", [sent], async () => {
    const raw = ctx.firstExchange.raw;
    assert.match(raw, /"type":"message-metadata"/, `no message-metadata chunk in the stream:\n${raw}`);
    const metadata = ctx.chat.messages[1].metadata;
    assert.equal(typeof metadata?.model, "string", `metadata: ${JSON.stringify(metadata)}`);
    assert.ok(metadata.model.length > 0, "metadata.model is empty");
    assert.equal(typeof metadata.usage?.inputTokens, "number", `metadata: ${JSON.stringify(metadata)}`);
    assert.equal(typeof metadata.usage?.outputTokens, "number", `metadata: ${JSON.stringify(metadata)}`);
  });

  await check("regenerate: a new answer replaces the old one, here and on the server", [sent], async () => {
    const chat = ctx.chat;
    const oldId = chat.messages[1].id;
    const before = exchanges.length;
    await chat.regenerate();
    const post = exchanges.slice(before).find((e) => e.method === "POST");
    const where = `\n  the exchange: ${describe(post)}`;
    assert.equal(chat.error, undefined, `chat.error: ${chat.error?.message}${where}`);
    assert.equal(chat.status, "ready", `status ${chat.status}${where}`);
    assert.equal(chat.messages.length, 2, `expected 2 messages, got ${JSON.stringify(chat.messages)}${where}`);
    assert.equal(chat.messages[1].role, "assistant");
    assert.equal(textOf(chat.messages[1]), `Echo: ${FIRST_TEXT}`, `assistant text${where}`);
    assert.notEqual(chat.messages[1].id, oldId, `the regenerated answer kept the old id ${oldId}${where}`);
    await storedMessageCheck(ctx.token, ctx.chatId, (stored) => {
      assert.equal(
        stored.messages.length,
        2,
        `after regenerate-message the server holds ${stored.messages.length} messages (the old answer should be replaced)`,
      );
      assert.ok(!stored.messages.some((m) => m.id === oldId), `the server still holds the old answer ${oldId}`);
      assert.equal(stored.messages[1].id, chat.messages[1].id, "the stored answer's id differs from the client's");
      assert.equal(textOf(stored.messages[1]), `Echo: ${FIRST_TEXT}`, "stored assistant text");
    });
  });

  await check("resumeStream: with nothing running the server answers 204 and nothing changes", [sent], async () => {
    const chat = ctx.chat;
    const before = structuredClone(chat.messages);
    const count = exchanges.length;
    await chat.resumeStream();
    const get = exchanges.slice(count).find((e) => e.method === "GET");
    assert.ok(get, "resumeStream() made no request");
    assert.equal(get.url, `${API}/chat/${ctx.chatId}/stream`, "the AI SDK's resume URL");
    assert.equal(get.status, 204, `expected 204 from the resume URL\n  the exchange: ${describe(get)}`);
    assert.equal(chat.error, undefined, `chat.error: ${chat.error?.message}`);
    assert.equal(chat.status, "ready");
    assert.deepEqual(chat.messages, before, "resumeStream() with nothing running changed the messages");
  });

  await check("resumeStream: a second client picks up a running generation to its end", [sent], async () => {
    // Start a ~3 s generation with a plain fetch, read its first bytes, then walk away.
    const aborter = new AbortController();
    const sentAt = Date.now();
    const response = await fetch(`${API}/chats/${ctx.chatId}/messages`, {
      method: "POST",
      headers: { authorization: `Bearer ${ctx.token}`, "content-type": "application/json" },
      body: JSON.stringify({ message: { role: "user", parts: [{ type: "text", text: LONG_TEXT }] } }),
      signal: aborter.signal,
    });
    if (response.status !== 200) {
      throw new assert.AssertionError({
        message: `POST /api/v1/chats/${ctx.chatId}/messages {message}: expected 200, got ${response.status}: ${(await response.text()).slice(0, 600)}`,
      });
    }
    assert.match(response.headers.get("content-type") ?? "", /^text\/event-stream/, "Content-Type of the send");
    const reader = response.body.getReader();
    const first = await reader.read();
    const firstBytes = new TextDecoder().decode(first.value ?? new Uint8Array());
    aborter.abort();
    await reader.cancel().catch(() => {});
    assert.ok(firstBytes.length > 0, "the send's stream gave no bytes");

    // Come back a second later, while the ~3 s answer is still being written.
    await new Promise((r) => setTimeout(r, 1000));

    // A second client: the same chat id, the messages as the server has them now.
    const stored = await getChat(ctx.token, ctx.chatId);
    const loaded = stored.messages.map(toUIMessage);
    const errors = [];
    const chat2 = new NodeChat({
      id: ctx.chatId,
      messages: loaded,
      transport: transport(ctx.token),
      onError: (e) => errors.push(e),
    });
    const partial = stored.messages.at(-1);
    console.log(
      `# resuming ${Date.now() - sentAt} ms after the send; the server held the answer as ` +
        (partial?.role === "assistant" ? `"${partial.status}" with ${textOf(partial).length} of ${LONG_TEXT.length + 6} chars` : "not yet stored"),
    );
    const count = exchanges.length;
    await chat2.resumeStream();
    const get = exchanges.slice(count).find((e) => e.method === "GET");
    const where = `\n  the chat when loaded: ${JSON.stringify(stored.messages.map((m) => ({ id: m.id, role: m.role, status: m.status, chars: textOf(m).length })))}\n  the exchange: ${describe(get)}`;
    assert.ok(get, "resumeStream() made no request");
    assert.equal(get.status, 200, `the resume URL should stream the running generation${where}`);
    assert.equal(chat2.error, undefined, `chat.error: ${chat2.error?.message}${where}`);
    assert.deepEqual(errors.map((e) => e.message), [], `onError was called${where}`);
    assert.equal(chat2.status, "ready", `status ${chat2.status}${where}`);
    assert.equal(chat2.messages.length, 4, `expected 4 messages (2 earlier, the long question, its answer), got ${chat2.messages.length}: ${JSON.stringify(chat2.messages.map((m) => ({ id: m.id, role: m.role, chars: textOf(m).length })))}${where}`);
    const answer = chat2.messages[3];
    assert.equal(answer.role, "assistant");
    assert.equal(textOf(chat2.messages[2]), LONG_TEXT, "the long question");
    assert.equal(textOf(answer), `Echo: ${LONG_TEXT}`, `the resumed answer's text${where}`);

    await storedMessageCheck(ctx.token, ctx.chatId, (after) => {
      assert.equal(after.messages.length, 4, `the server holds ${after.messages.length} messages`);
      const last = after.messages[3];
      assert.equal(last.role, "assistant");
      assert.equal(last.id, answer.id, "the resumed answer's id differs from the stored one");
      assert.equal(last.status, "complete", "the stored answer's status");
      assert.equal(textOf(last), `Echo: ${LONG_TEXT}`, "the stored answer's text");
    });
  });

  const { passed, failed } = summary();
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed === 0 ? 0 : 1);
}

main().catch((err) => {
  const { passed, failed } = summary();
  console.log(`not ok - ${current}\n  ${err?.stack ?? err}`);
  console.log(`${passed} passed, ${failed + 1} failed`);
  process.exit(1);
});
