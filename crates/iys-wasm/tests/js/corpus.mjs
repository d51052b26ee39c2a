// The shared fixture corpus (tests/fixtures/*.json, format in tests/fixtures/README.md) run through
// the npm package's API. Plain ESM with no Node imports: the Node runner (corpus.test.mjs) and the
// browser page (tests/browser/page.html) both use it, so both judge the same way.
//
// A case: { name, kind: 'recipient' | 'consent' | 'batch', input (a JS value) | text (JSON text),
// options?, expect: { ok, value?, diagnostics: [{ code, path, params? }] } }.
// - `value` absent: not checked. Recipient: the wire string. Consent: the payload. Batch: one entry per
//   item (the payload, or null for an invalid item), or null when the input is not an array (or
//   not JSON at all).
// - `diagnostics`: every error and warning in the core's order. The package returns errors and
//   warnings as two lists, so each list is compared, in order, with the expected entries of its
//   severity (the severity of a code is fixed; it is read off the answer).
// - `params`, when given, must all be present with those values; others may be present too.

/** "Now" of every case without `options.now`: 2025-03-12 15:00:00 in Turkey, a Wednesday. */
export const DEFAULT_NOW = '2025-03-12 15:00:00';

function deepEqual(a, b) {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  return ka.every((k) => Object.prototype.hasOwnProperty.call(b, k) && deepEqual(a[k], b[k]));
}

const show = (v) => JSON.stringify(v);

/** Calls the package for one case and returns its raw answer. */
export function answer(api, c) {
  const options = { now: DEFAULT_NOW, ...(c.options || {}) };
  const hasText = Object.prototype.hasOwnProperty.call(c, 'text');
  switch (c.kind) {
    case 'recipient':
      return api.validateRecipient(c.input, options);
    case 'consent':
      return hasText ? api.validateConsentJson(c.text, options) : api.validateConsent(c.input, options);
    case 'batch':
      return hasText ? api.validateBatchJson(c.text, options) : api.validateBatch(c.input, options);
    default:
      throw new Error(`unknown case kind ${show(c.kind)}`);
  }
}

/** The answer in the fixture's terms: { ok, value, errors, warnings }. */
function view(c, r) {
  if (c.kind === 'batch') {
    const errors = [...r.errors];
    const warnings = [...r.warnings];
    for (const item of r.items) {
      errors.push(...item.errors);
      warnings.push(...item.warnings);
    }
    // No items and a batch-level error other than batch/empty: the input was not an array of JSON.
    const notAnArray = r.items.length === 0 && r.errors.some((e) => e.code !== 'batch/empty');
    const value = notAnArray ? null : r.items.map((i) => (i.ok ? i.value : null));
    return { ok: r.ok, value, errors, warnings };
  }
  const value = r.ok ? (c.kind === 'recipient' ? r.value.wire : r.value) : null;
  return { ok: r.ok, value, errors: r.errors, warnings: r.warnings };
}

function matches(want, got) {
  if (want.code !== got.code || want.path !== got.path) return false;
  for (const [k, v] of Object.entries(want.params || {})) {
    if (got.params[k] !== v) return false;
  }
  return true;
}

/** Judges one case: `problems` is empty when the package agrees with the fixture. */
export function judge(api, c) {
  const problems = [];
  let r;
  try {
    r = answer(api, c);
  } catch (e) {
    return { answer: null, problems: [`threw ${e && e.name}: ${e && e.message}`] };
  }
  const got = view(c, r);
  const want = c.expect;
  if (got.ok !== want.ok) problems.push(`ok: expected ${want.ok}, got ${got.ok}`);
  if (Object.prototype.hasOwnProperty.call(want, 'value') && !deepEqual(got.value, want.value)) {
    problems.push(`value: expected ${show(want.value)}, got ${show(got.value)}`);
  }
  const warningCodes = new Set(got.warnings.map((d) => d.code));
  for (const [severity, list] of [['error', got.errors], ['warning', got.warnings]]) {
    const expected = want.diagnostics.filter((d) => (warningCodes.has(d.code) ? 'warning' : 'error') === severity);
    const same = expected.length === list.length && expected.every((d, i) => matches(d, list[i]));
    if (!same) {
      const brief = (d) => ({ code: d.code, path: d.path, ...(d.params && Object.keys(d.params).length ? { params: d.params } : {}) });
      problems.push(`${severity}s: expected ${show(expected)}, got ${show(list.map(brief))}`);
    }
  }
  return { answer: r, problems };
}

/** Judges every case of every fixture file: [{ file, name, answer, problems }]. */
export function judgeAll(api, files) {
  const out = [];
  for (const { file, data } of files) {
    for (const c of data.cases) out.push({ file, name: c.name, ...judge(api, c) });
  }
  return out;
}
