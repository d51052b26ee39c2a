// The playground: paste one consent or a batch as JSON and see every diagnostic the iys-validate
// package finds (path, code, the H-code IYS would answer, message) in Turkish or English.
import init, { validateBatchJson, validateConsentJson } from './pkg/index.js';
import { applyStrings, bindLangSwitch, boot, h, initialLang, istanbulTime } from './common.js';

const STRINGS = {
  tr: {
    docTitle: 'İzin denetleyici · iys-edge',
    brand: 'iys-edge demo',
    title: 'İzin denetleyici',
    lead: "Bir izni (JSON nesnesi) ya da toplu gönderimi (en fazla 1000 izinlik dizi) yapıştırın. İYS'ye gitmeden önce her sorun yolu, kodu, İYS'nin vereceği hata kodu ve açıklamasıyla listelenir.",
    loading: 'Doğrulayıcı yükleniyor…',
    loadFailed: 'Doğrulayıcı yüklenemedi; sayfayı yenileyin.',
    samples: 'Örnekler:',
    sampleConsent: 'Geçerli izin',
    sampleBatch: 'Hatalı toplu gönderim',
    modeLabel: 'Alıcı denetimi',
    modeStrict: 'Katı (İYS gibi)',
    modeNormalize: 'Düzelterek (yazıldığı gibi)',
    jsonLabel: 'JSON',
    jsonPlaceholder: '{ "recipient": "+905321234567", "type": "MESAJ", … }',
    jsonHelp: 'Yazdıkça denetlenir. Dizi ([…]) toplu gönderim, nesne ({…}) tek izin olarak okunur.',
    caption: 'Bulunan sorunlar',
    colPath: 'Yol',
    colCode: 'Kod',
    colIys: 'İYS kodu',
    colSeverity: 'Önem',
    colMessage: 'Açıklama',
    noDiagnostics: 'Sorun yok.',
    root: '(tamamı)',
    none: '—',
    error: 'hata',
    warning: 'uyarı',
    toForm: 'Kayıt formuna dön',
    empty: 'Denetlemek için JSON yapıştırın.',
    consentOk: (w) => `Tek izin: geçerli${w ? `, ${w} uyarı` : ''}.`,
    consentBad: (e, w) => `Tek izin: geçersiz · ${e} hata${w ? `, ${w} uyarı` : ''}.`,
    batch: (n, bad, e, w) => `Toplu gönderim: ${n} izin, ${bad} geçersiz · ${e} hata${w ? `, ${w} uyarı` : ''}.`,
  },
  en: {
    docTitle: 'Consent checker · iys-edge',
    brand: 'iys-edge demo',
    title: 'Consent checker',
    lead: 'Paste one consent (a JSON object) or a batch (an array of up to 1000 consents). Every problem is listed with its path, code, the error code IYS would answer and an explanation, before anything reaches IYS.',
    loading: 'Loading the validator…',
    loadFailed: 'The validator could not be loaded; reload the page.',
    samples: 'Samples:',
    sampleConsent: 'Valid consent',
    sampleBatch: 'Faulty batch',
    modeLabel: 'Recipient check',
    modeStrict: 'Strict (as IYS)',
    modeNormalize: 'Normalising (as people write)',
    jsonLabel: 'JSON',
    jsonPlaceholder: '{ "recipient": "+905321234567", "type": "MESAJ", … }',
    jsonHelp: 'Checked as you type. An array ([…]) is read as a batch, an object ({…}) as one consent.',
    caption: 'Problems found',
    colPath: 'Path',
    colCode: 'Code',
    colIys: 'IYS code',
    colSeverity: 'Severity',
    colMessage: 'Message',
    noDiagnostics: 'No problems.',
    root: '(whole input)',
    none: '—',
    error: 'error',
    warning: 'warning',
    toForm: 'Back to the sign-up form',
    empty: 'Paste JSON to check it.',
    consentOk: (w) => `One consent: valid${w ? `, ${w} warning${w === 1 ? '' : 's'}` : ''}.`,
    consentBad: (e, w) => `One consent: invalid · ${e} error${e === 1 ? '' : 's'}${w ? `, ${w} warning${w === 1 ? '' : 's'}` : ''}.`,
    batch: (n, bad, e, w) => `Batch: ${n} consent${n === 1 ? '' : 's'}, ${bad} invalid · ${e} error${e === 1 ? '' : 's'}${w ? `, ${w} warning${w === 1 ? '' : 's'}` : ''}.`,
  },
};

const $ = (id) => document.getElementById(id);
const text = $('json');
let lang = initialLang();
let ready = false;

function yesterday() {
  return istanbulTime(new Date(Date.now() - 24 * 3600 * 1000));
}

const SAMPLES = {
  'sample-consent': () => ({
    recipient: '+905321234567', recipientType: 'BIREYSEL', type: 'MESAJ', status: 'ONAY',
    source: 'HS_WEB', consentDate: istanbulTime(),
  }),
  'sample-batch': () => [
    { recipient: '+905321234567', recipientType: 'BIREYSEL', type: 'MESAJ', status: 'ONAY', source: 'HS_WEB', consentDate: yesterday() },
    { recipient: 'ayşe@örnek.com', recipientType: 'BIREYSEL', type: 'EPOSTA', status: 'ONAY', source: 'HS_WEB', consentDate: yesterday() },
    { recipient: 'ali@example.com', recipientType: 'BIREYSEL', type: 'MESAJ', status: 'ONAY', source: 'HS_WEB', consentDate: yesterday() },
    { recipient: '+905321234567', recipientType: 'KURUMSAL', type: 'ARAMA', status: 'EVET', source: 'HS_INTERNET', consentDate: '31.12.2024' },
    { recipient: '+905321234567', recipientType: 'BIREYSEL', type: 'MESAJ', status: 'ONAY', source: 'HS_WEB', consentDate: yesterday() },
  ],
};

/** All diagnostics of a result, errors first as the package orders them. */
function rowsOf(result) {
  const items = result.items || [];
  return [
    ...result.errors, ...result.warnings,
    ...items.flatMap((i) => [...i.errors, ...i.warnings]),
  ];
}

function render() {
  const s = STRINGS[lang];
  const tbody = $('diagnostics').querySelector('tbody');
  const summary = $('summary');
  if (!ready) return;
  const input = text.value;
  if (input.trim() === '') {
    tbody.replaceChildren();
    text.removeAttribute('aria-invalid');
    summary.textContent = s.empty;
    summary.dataset.state = 'empty';
    $('diagnostics').hidden = true;
    $('no-diagnostics').hidden = true;
    return;
  }
  const opts = { lang, mode: $('mode').value };
  const isBatch = input.trimStart().startsWith('[');
  const result = isBatch ? validateBatchJson(input, opts) : validateConsentJson(input, opts);
  const rows = rowsOf(result);
  const errors = rows.filter((d) => d.severity === 'error').length;
  const warnings = rows.length - errors;
  if (isBatch) {
    const bad = result.items.filter((i) => !i.ok).length;
    summary.textContent = s.batch(result.items.length, bad, errors, warnings);
  } else {
    summary.textContent = result.ok ? s.consentOk(warnings) : s.consentBad(errors, warnings);
  }
  summary.dataset.state = result.ok ? 'ok' : 'bad';
  if (result.ok) text.removeAttribute('aria-invalid');
  else text.setAttribute('aria-invalid', 'true');
  tbody.replaceChildren(...rows.map((d) => h('tr', { 'data-code': d.code, 'data-path': d.path, 'data-severity': d.severity },
    h('td', { class: 'path' }, d.path === '' ? s.root : d.path),
    h('td', { class: 'code' }, d.code),
    h('td', { class: 'iys' }, d.iysCode || s.none),
    h('td', { class: 'sev' }, h('span', {}, s[d.severity])),
    h('td', { class: 'message' }, d.message))));
  $('diagnostics').hidden = rows.length === 0;
  $('no-diagnostics').hidden = rows.length !== 0;
}

function renderStatic() {
  applyStrings(lang, STRINGS[lang]);
  $('loading').hidden = ready;
}

bindLangSwitch((next) => {
  lang = next;
  renderStatic();
  render();
});
text.addEventListener('input', render);
$('mode').addEventListener('change', render);
for (const [id, make] of Object.entries(SAMPLES)) {
  $(id).addEventListener('click', () => {
    text.value = JSON.stringify(make(), null, 2);
    render();
    text.focus();
  });
}

renderStatic();
await boot(
  init,
  () => {
    ready = true;
    renderStatic();
    render();
  },
  () => STRINGS[lang].loadFailed,
);
