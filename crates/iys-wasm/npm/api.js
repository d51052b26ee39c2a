// The JS side of the boundary, shared by every entry point (browser, Node ESM and require, Workers).
// It checks the options, turns them into the numbers the wasm exports take, writes the input string
// into wasm memory with `TextEncoder.encodeInto` (a payload first becomes JSON text with
// `JSON.stringify`), and reads the wasm's compact answer (32-bit words and one string table, laid
// out as crates/iys-wasm/src/encode.rs describes) into plain objects, with codes and messages from
// the generated tables.js. It validates nothing itself.
// (`cargo xtask npm` puts tables.js in place of its import, and also writes the result as api.cjs for
// `require`: keep to `export function` and `export class` at the top level, and no other import.)
import { CODES, IYS_CODES, WARNINGS, RECIPIENT_TYPES, TYPES, STATUSES, SOURCES, PHONE_TYPES, PARAM_NAMES, MESSAGES_TR, MESSAGES_EN } from './tables.js';

const FLAG_NORMALIZE = 1;
const FLAG_WINDOW = 4;
const FLAG_HOLIDAYS = 8;
const OPTION_KEYS = ['mode', 'now', 'lang', 'window'];
const MAX_DAYS = 3660;

/** Thrown only for misuse, never for invalid data; `code` says which. */
export class IysValidateError extends Error {
  constructor(code, message, cause) {
    super(`iys-validate: ${message}`, cause === undefined ? undefined : { cause });
    this.name = 'IysValidateError';
    this.code = code;
  }
}

function misuse(code, message, cause) {
  return new IysValidateError(code, message, cause);
}

function describe(v) {
  if (v === null) return 'null';
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
  if (typeof v === 'object') return Array.isArray(v) ? 'an array' : 'an object';
  return `${typeof v} ${String(v)}`;
}

/** The code table, in iys-core's order. */
export function codes() {
  return Object.freeze(CODES);
}

// Each template split once into text and param names: ['Written as ', 'input', '; the IYS form is ', 'wire', '.'].
const PARTS_TR = [];
const PARTS_EN = [];

/** The message of code `c` in `messages`, `{name}` filled from `params` (left as written when absent). */
function fill(messages, c, params) {
  const cache = messages === MESSAGES_TR ? PARTS_TR : PARTS_EN;
  let parts = cache[c];
  if (parts === undefined) parts = cache[c] = (messages[c] || CODES[c]).split(/\{([^}]*)\}/);
  let out = parts[0];
  for (let i = 1; i < parts.length; i += 2) {
    const v = params[parts[i]];
    out += (typeof v === 'string' ? v : `{${parts[i]}}`) + parts[i + 1];
  }
  return out;
}

// `wasm()` is the instance's exports (memory, input, recipient, consent, batch, local_to_unix), or
// null before the browser build's `init()`.
export function createApi(wasm, isReady) {
  const encoder = new TextEncoder();
  const decoder = new TextDecoder();
  // The answer being read: its words, its string table, and the next word.
  let w = null;
  let s = '';
  let at = 0;

  // Writes `text` into the input buffer; returns the number of bytes written.
  function write(x, text) {
    const capacity = text.length * 3;
    const p = x.input(capacity);
    if (p === 0) throw new RangeError('iys-validate: out of wasm memory');
    return encoder.encodeInto(text, new Uint8Array(x.memory.buffer, p, capacity)).written;
  }

  // Writes `text` into the input buffer, calls the export and starts reading its answer.
  function send(text, call) {
    const x = wasm();
    const a = call(x, write(x, text));
    const buffer = x.memory.buffer;
    const head = new Uint32Array(buffer, a, 3);
    s = head[1] === 0 ? '' : decoder.decode(new Uint8Array(buffer, head[0], head[1]));
    w = new Uint32Array(buffer, a, head[2]);
    at = 3;
  }

  function localToUnix(text) {
    const x = wasm();
    return x.local_to_unix(write(x, text));
  }

  function str() {
    const start = w[at];
    const end = start + w[at + 1];
    at += 2;
    return s.slice(start, end);
  }

  // A param's name: its index + 1 in PARAM_NAMES, or 0 and a *string*.
  function name() {
    const i = w[at++];
    return i === 0 ? str() : PARAM_NAMES[i - 1];
  }

  function u64() {
    const n = w[at] * 4294967296 + w[at + 1];
    at += 2;
    return n;
  }

  // The errors and the warnings `diagnostics` read. A list starts as the literal of its first
  // diagnostic (an empty array given its first element by `push` makes room for 17).
  let errors;
  let warnings;

  function diagnostics(messages) {
    errors = warnings = undefined;
    for (let n = w[at++]; n > 0; n--) {
      const c = w[at++];
      const path = str();
      let k = w[at++];
      let params;
      // (A literal with computed keys is built much faster than an empty object given the same keys
      // one by one: most diagnostics have two params.)
      if (k === 2) {
        const a = name();
        const x = str();
        const b = name();
        params = { [a]: x, [b]: str() };
      } else for (params = {}; k > 0; k--) params[name()] = str();
      const warning = WARNINGS.charCodeAt(c) === 49;
      const d = {
        code: CODES[c],
        iysCode: IYS_CODES[c] || null,
        severity: warning ? 'warning' : 'error',
        path,
        message: fill(messages, c, params),
        params,
      };
      if (warning) warnings ? warnings.push(d) : (warnings = [d]);
      else errors ? errors.push(d) : (errors = [d]);
    }
    if (!errors) errors = [];
    if (!warnings) warnings = [];
  }

  function outcome(flags, value, messages) {
    diagnostics(messages);
    const ok = (flags & 1) === 1;
    return value === undefined ? { ok, errors, warnings } : { ok, value, errors, warnings };
  }

  function recipientAnswer(messages) {
    const f = w[at++];
    let value;
    if (f & 2) {
      value = { kind: f & 4 ? 'email' : 'phone', wire: str() };
      // (Only a phone has a type.)
      if (f >> 4) value.phoneType = PHONE_TYPES[(f >> 4) - 1];
    }
    return outcome(f, value, messages);
  }

  function consent() {
    const x = w[at++];
    const v = { recipient: str(), recipientType: RECIPIENT_TYPES[x & 15], type: TYPES[(x >> 4) & 15], status: STATUSES[(x >> 8) & 15] };
    if ((x >> 12) & 15) v.source = SOURCES[((x >> 12) & 15) - 1];
    if (x & 0x10000) v.consentDate = str();
    if (x & 0x20000) v.retailerCode = u64();
    if (x & 0x40000) {
      const list = [];
      for (let n = w[at++]; n > 0; n--) list.push(u64());
      v.retailerAccess = list;
    }
    return v;
  }

  function consentAnswer(messages) {
    const f = w[at++];
    return outcome(f, f & 2 ? consent() : undefined, messages);
  }

  function batchAnswer(messages) {
    const ok = w[at++] === 1;
    diagnostics(messages);
    const batchErrors = errors;
    const batchWarnings = warnings;
    const n = w[at++];
    const items = new Array(n);
    for (let index = 0; index < n; index++) {
      const f = w[at++];
      const value = f & 2 ? consent() : undefined;
      diagnostics(messages);
      const itemOk = (f & 1) === 1;
      items[index] = value === undefined ? { index, ok: itemOk, errors, warnings } : { index, ok: itemOk, value, errors, warnings };
    }
    return { ok, errors: batchErrors, warnings: batchWarnings, items };
  }

  function ready() {
    if (!isReady()) throw misuse('E_NOT_READY', 'call `await init()` once before validating');
  }

  // -> [flags, days, nowSeconds, message templates]
  function options(o, forceNormalize) {
    if (o === undefined || o === null) o = {};
    else if (typeof o !== 'object' || Array.isArray(o)) throw misuse('E_OPTIONS', `options must be an object, got ${describe(o)}`);
    for (const k of Object.keys(o)) {
      if (!OPTION_KEYS.includes(k)) throw misuse('E_OPTIONS', `unknown option ${JSON.stringify(k)}; known: ${OPTION_KEYS.join(', ')}`);
    }
    let flags = 0;
    const { mode, lang, window: win, now } = o;
    if (forceNormalize || mode === 'normalize') flags |= FLAG_NORMALIZE;
    else if (mode !== undefined && mode !== 'strict') throw misuse('E_OPTIONS', `mode must be 'strict' or 'normalize', got ${describe(mode)}`);
    let messages = MESSAGES_TR;
    if (lang === 'en') messages = MESSAGES_EN;
    else if (lang !== undefined && lang !== 'tr') throw misuse('E_OPTIONS', `lang must be 'tr' or 'en', got ${describe(lang)}`);
    let days = 3;
    if (win === undefined) flags |= FLAG_WINDOW | FLAG_HOLIDAYS;
    else if (win !== false) {
      if (typeof win !== 'object' || win === null || Array.isArray(win)) throw misuse('E_OPTIONS', `window must be false or { days, countHolidays }, got ${describe(win)}`);
      for (const k of Object.keys(win)) {
        if (k !== 'days' && k !== 'countHolidays') throw misuse('E_OPTIONS', `unknown window option ${JSON.stringify(k)}`);
      }
      if (!Number.isInteger(win.days) || win.days < 0 || win.days > MAX_DAYS) throw misuse('E_OPTIONS', `window.days must be a whole number from 0 to ${MAX_DAYS}, got ${describe(win.days)}`);
      days = win.days;
      const ch = win.countHolidays;
      if (ch !== undefined && typeof ch !== 'boolean') throw misuse('E_OPTIONS', `window.countHolidays must be a boolean, got ${describe(ch)}`);
      flags |= FLAG_WINDOW | (ch === false ? 0 : FLAG_HOLIDAYS);
    }
    let seconds;
    if (now === undefined) seconds = Math.floor(Date.now() / 1000);
    else if (now instanceof Date || typeof now === 'number') {
      const ms = typeof now === 'number' ? now : now.getTime();
      if (!Number.isFinite(ms) || Math.abs(ms) > 8.64e15) throw misuse('E_OPTIONS', `now is not a valid time: ${describe(now)}`);
      seconds = Math.floor(ms / 1000);
    } else if (typeof now === 'string') {
      ready();
      seconds = localToUnix(now);
      if (Number.isNaN(seconds)) throw misuse('E_OPTIONS', `now must be 'YYYY-MM-DD HH:mm:ss' (a real time in Turkey), got ${describe(now)}`);
    } else throw misuse('E_OPTIONS', `now must be a Date, epoch milliseconds or 'YYYY-MM-DD HH:mm:ss', got ${describe(now)}`);
    return [flags, days, seconds, messages];
  }

  function text(json, what) {
    if (typeof json !== 'string') throw misuse('E_ARGUMENT', `${what} must be a string, got ${describe(json)}`);
    return json;
  }

  function stringify(payload) {
    let json;
    try {
      json = JSON.stringify(payload);
    } catch (e) {
      throw misuse('E_NOT_JSON', `the payload cannot be written as JSON (${e && e.message})`, e);
    }
    if (json === undefined) throw misuse('E_NOT_JSON', `the payload cannot be written as JSON: ${describe(payload)}`);
    return json;
  }

  function recipient(input, opts, normalize) {
    const [flags, , , messages] = options(opts, normalize);
    ready();
    send(text(input, 'the recipient'), (x, len) => x.recipient(len, flags));
    return recipientAnswer(messages);
  }

  function validateRecipient(input, opts) {
    return recipient(input, opts, false);
  }

  function normalizeRecipient(input, opts) {
    return recipient(input, opts, true);
  }

  function validateConsentJson(json, opts) {
    const [flags, days, now, messages] = options(opts, false);
    ready();
    send(text(json, 'the JSON text'), (x, len) => x.consent(len, flags, days, now));
    return consentAnswer(messages);
  }

  function validateBatchJson(json, opts) {
    const [flags, days, now, messages] = options(opts, false);
    ready();
    send(text(json, 'the JSON text'), (x, len) => x.batch(len, flags, days, now));
    return batchAnswer(messages);
  }

  return {
    normalizeRecipient,
    validateRecipient,
    validateConsent: (payload, opts) => validateConsentJson(stringify(payload), opts),
    validateConsentJson,
    validateBatch: (payloads, opts) => validateBatchJson(stringify(payloads), opts),
    validateBatchJson,
  };
}
