// The JS side of the boundary, shared by every entry point (browser, Node ESM and require, Workers).
// It checks the options, turns them into the numbers the wasm exports take, makes one JSON string of
// the payload, and parses the one JSON string that comes back. It validates nothing itself.
// (`cargo xtask npm` also writes this file as api.cjs for `require`: keep to `export function` and
// `export class` at the top level, and no imports.)

const FLAG_NORMALIZE = 1;
const FLAG_EN = 2;
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

export function createApi(raw, isReady) {
  function ready() {
    if (!isReady()) throw misuse('E_NOT_READY', 'call `await init()` once before validating');
  }

  // -> [flags, days, nowSeconds]
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
    if (lang === 'en') flags |= FLAG_EN;
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
      seconds = raw.local_to_unix(now);
      if (Number.isNaN(seconds)) throw misuse('E_OPTIONS', `now must be 'YYYY-MM-DD HH:mm:ss' (a real time in Turkey), got ${describe(now)}`);
    } else throw misuse('E_OPTIONS', `now must be a Date, epoch milliseconds or 'YYYY-MM-DD HH:mm:ss', got ${describe(now)}`);
    return [flags, days, seconds];
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

  function validateRecipient(input, opts) {
    const [flags] = options(opts, false);
    ready();
    return JSON.parse(raw.recipient(text(input, 'the recipient'), flags));
  }

  function normalizeRecipient(input, opts) {
    const [flags] = options(opts, true);
    ready();
    return JSON.parse(raw.recipient(text(input, 'the recipient'), flags));
  }

  function validateConsentJson(json, opts) {
    const [flags, days, now] = options(opts, false);
    ready();
    return JSON.parse(raw.consent(text(json, 'the JSON text'), flags, days, now));
  }

  function validateBatchJson(json, opts) {
    const [flags, days, now] = options(opts, false);
    ready();
    return JSON.parse(raw.batch(text(json, 'the JSON text'), flags, days, now));
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
