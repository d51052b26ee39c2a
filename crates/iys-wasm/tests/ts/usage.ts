// Compiled with `tsc --noEmit` (never run): the package's generated types, used as an app would.
import init, {
  normalizeRecipient,
  validateRecipient,
  validateConsent,
  validateBatch,
  validateBatchJson,
  IysValidateError,
  type Code,
  type ConsentPayload,
  type Diagnostic,
  type Options,
  type RecipientResult,
  type BatchResult,
} from 'iys-validate';

await init();

const options: Options = { mode: 'normalize', lang: 'en', now: '2026-11-28 12:00:00', window: { days: 3, countHolidays: true } };
const r: RecipientResult = validateRecipient('0532 123 45 67', options);
if (r.ok && r.value) {
  const wire: string = r.value.wire;
  const kind: 'phone' | 'email' = r.value.kind;
  console.log(wire, kind, r.value.phoneType ?? 'email');
}
for (const d of r.errors) {
  const code: Code = d.code;
  const where: string = d.path;
  const wireForm: string | undefined = d.params['wire'];
  const h: string | null = d.iysCode;
  console.log(code, where, wireForm, h, d.message, d.severity === 'error');
}

function explain(d: Diagnostic): string {
  switch (d.code) {
    case 'recipient/phone-not-wire-form':
      return `write it as ${d.params['wire']}`;
    case 'consent/date-in-future':
      return 'check the clock';
    default:
      return d.message;
  }
}

const payload: ConsentPayload = {
  recipient: '+905321234567',
  recipientType: 'BIREYSEL',
  type: 'MESAJ',
  status: 'ONAY',
  source: 'HS_WEB',
  consentDate: '2026-11-27 10:00:00',
};
const c = validateConsent(payload, { now: new Date() });
if (c.ok) console.log(c.value?.type satisfies 'ARAMA' | 'MESAJ' | 'EPOSTA' | undefined);
validateConsent({ anything: 'goes' }, { now: Date.now(), window: false });
console.log(normalizeRecipient('ali@example.com').warnings.map(explain));

const b: BatchResult = validateBatch([payload, payload], { lang: 'tr' });
for (const item of b.items) {
  const i: number = item.index;
  if (!item.ok) console.log(i, item.errors.map((e) => e.code));
}
validateBatchJson('[]');

try {
  validateRecipient('x', { mode: 'strict' });
} catch (e) {
  if (e instanceof IysValidateError) {
    const code: 'E_ARGUMENT' | 'E_NOT_JSON' | 'E_OPTIONS' | 'E_NOT_READY' = e.code;
    console.log(code);
  }
}

// These must not type-check.
// @ts-expect-error: not a mode
validateRecipient('x', { mode: 'lenient' });
// @ts-expect-error: not a language
validateRecipient('x', { lang: 'de' });
// @ts-expect-error: unknown option
validateRecipient('x', { normalize: true });
// @ts-expect-error: not a code
const notACode: Code = 'recipient/nope';
// @ts-expect-error: window: true is not an option
validateConsent(payload, { window: true });
void notACode;
