// The sign-up form. Every check of the phone number, the e-mail address and the consent payloads is
// the iys-validate package's; this file shows its answers, builds the payloads and posts them to
// the relay's demo route (`POST /demo/consents`; `?relay=http://host:port` points elsewhere).
import init, { normalizeRecipient, validateBatch } from './pkg/index.js';
import { applyStrings, bindLangSwitch, boot, formatPhone, h, initialLang, istanbulTime } from './common.js';

const STRINGS = {
  tr: {
    docTitle: 'Ticari ileti izni · iys-edge',
    brand: 'iys-edge demo',
    title: 'Kampanyalarımızdan haberdar olun',
    lead: "Bilgilerinizi bırakın ve hangi kanallardan ileti almak istediğinizi seçin. İzniniz İleti Yönetim Sistemi'ne (İYS) kaydedilir; dilediğiniz zaman geri alabilirsiniz.",
    loading: 'Doğrulayıcı yükleniyor…',
    loadFailed: 'Doğrulayıcı yüklenemedi; sayfayı yenileyin.',
    nameLabel: 'Ad Soyad',
    phoneLabel: 'Cep telefonu',
    phonePlaceholder: '0532 123 45 67',
    phoneHint: "İYS'ye gidecek biçim:",
    emailLabel: 'E-posta',
    emailPlaceholder: 'ayse@ornek.com',
    consentsLegend: 'Hangi kanallardan ileti almak istersiniz?',
    mesaj: 'SMS',
    arama: 'Telefon araması',
    eposta: 'E-posta',
    submit: 'İzinleri kaydet',
    sending: 'Gönderiliyor…',
    toPlayground: 'Geliştiriciler için: JSON denetleyici',
    nameRequired: 'Adınızı ve soyadınızı yazın.',
    phoneNeeded: 'SMS veya arama izni için telefon numarası gerekli.',
    phoneIsEmail: 'Bu alana e-posta adresi değil, telefon numarası yazın.',
    emailNeeded: 'E-posta izni için e-posta adresi gerekli.',
    emailIncomplete: 'E-posta adresini tam yazın, örneğin ayse@ornek.com.',
    emailIsPhone: 'Bu alana telefon numarası değil, e-posta adresi yazın.',
    consentNeeded: 'En az bir kanal seçin.',
    fix: (n) => `Gönderilmedi: ${n} alanı düzeltin.`,
    invalidPayload: 'Oluşturulan izinler İYS kurallarına uymuyor:',
    saved: 'Kaydedildi',
    queued: 'Sıraya alındı; İYS birazdan kaydedecek',
    rejected: 'Kaydedilmedi',
    allSaved: 'Teşekkürler! İzinleriniz İYS\'ye gönderildi.',
    someFailed: 'Bazı izinler kaydedilemedi.',
    relayError: (s) => `Sunucu isteği kabul etmedi (HTTP ${s}).`,
    relayUnexpected: (s) => `Sunucudan beklenmeyen bir yanıt geldi (HTTP ${s}).`,
    network: 'Sunucuya ulaşılamadı. Bağlantınızı kontrol edip yeniden deneyin.',
  },
  en: {
    docTitle: 'Marketing consent · iys-edge',
    brand: 'iys-edge demo',
    title: 'Hear about our campaigns',
    lead: "Leave your details and choose how we may contact you. Your consent is recorded in Turkey's Message Management System (IYS); you can withdraw it at any time.",
    loading: 'Loading the validator…',
    loadFailed: 'The validator could not be loaded; reload the page.',
    nameLabel: 'Full name',
    phoneLabel: 'Mobile phone',
    phonePlaceholder: '0532 123 45 67',
    phoneHint: 'As sent to IYS:',
    emailLabel: 'E-mail',
    emailPlaceholder: 'ayse@example.com',
    consentsLegend: 'How may we contact you?',
    mesaj: 'SMS',
    arama: 'Phone calls',
    eposta: 'E-mail',
    submit: 'Save my choices',
    sending: 'Sending…',
    toPlayground: 'For developers: JSON checker',
    nameRequired: 'Enter your full name.',
    phoneNeeded: 'SMS and call consent need a phone number.',
    phoneIsEmail: 'Enter a phone number here, not an e-mail address.',
    emailNeeded: 'E-mail consent needs an e-mail address.',
    emailIncomplete: 'Enter the whole e-mail address, for example ayse@example.com.',
    emailIsPhone: 'Enter an e-mail address here, not a phone number.',
    consentNeeded: 'Choose at least one channel.',
    fix: (n) => `Not sent: fix ${n === 1 ? '1 field' : `${n} fields`}.`,
    invalidPayload: 'The consents built do not meet the IYS rules:',
    saved: 'Saved',
    queued: 'Queued; IYS will record it shortly',
    rejected: 'Not saved',
    allSaved: 'Thank you! Your consent was sent to IYS.',
    someFailed: 'Some consents could not be saved.',
    relayError: (s) => `The server did not accept the request (HTTP ${s}).`,
    relayUnexpected: (s) => `The server gave an unexpected answer (HTTP ${s}).`,
    network: 'The server could not be reached. Check your connection and try again.',
  },
};

const TYPES = [
  { type: 'MESAJ', box: 'consent-mesaj', label: 'mesaj', needs: 'phone' },
  { type: 'ARAMA', box: 'consent-arama', label: 'arama', needs: 'phone' },
  { type: 'EPOSTA', box: 'consent-eposta', label: 'eposta', needs: 'email' },
];

const $ = (id) => document.getElementById(id);
const form = $('signup');
const fields = { name: $('name'), phone: $('phone'), email: $('email') };
let lang = initialLang();
let ready = false;
let submitted = false;
const touched = new Set();
let lastOutcome = null;

/**
 * Shows `problems` ([{ message, code, severity }]) in `msgEl` and sets aria-invalid on `control`
 * (null for the consent group). Leaves the DOM alone when nothing changed, so the live region
 * does not announce the same text again.
 */
function show(control, msgEl, problems) {
  const invalid = problems.some((p) => p.severity !== 'warning');
  const key = JSON.stringify(problems.map((p) => [p.code, p.severity, p.message]));
  if (msgEl.dataset.key !== key) {
    msgEl.dataset.key = key;
    msgEl.replaceChildren(
      ...problems.map((p) => h('span', {
        class: p.severity === 'warning' ? 'warn' : 'err',
        'data-code': p.code,
        'data-severity': p.severity,
      }, p.message)),
    );
  }
  if (control) {
    if (invalid) control.setAttribute('aria-invalid', 'true');
    else control.removeAttribute('aria-invalid');
  }
  return !invalid;
}

const page = (key) => ({ code: `page/${key}`, severity: 'error', message: STRINGS[lang][key] });
const checked = (t) => $(t.box).checked;
const needs = (what) => TYPES.some((t) => t.needs === what && checked(t));

/** Shows the package's diagnostics, minus the `recipient/normalized` note the display replaces. */
function fromPackage(result) {
  return [...result.errors, ...result.warnings.filter((w) => w.code !== 'recipient/normalized')];
}

function checkName() {
  const empty = fields.name.value.trim() === '';
  const showIt = empty && (submitted || touched.has('name'));
  return show(fields.name, $('name-msg'), showIt ? [page('nameRequired')] : []) && !empty;
}

/** → the phone's wire form, '' when empty, or null when invalid. */
function checkPhone() {
  const input = fields.phone.value;
  const out = $('phone-normalized');
  out.textContent = '—';
  if (input.trim() === '') {
    const missing = needs('phone') && submitted;
    show(fields.phone, $('phone-msg'), missing ? [page('phoneNeeded')] : []);
    return missing ? null : '';
  }
  if (!ready) return null;
  const r = normalizeRecipient(input, { lang });
  if (r.ok && r.value.kind !== 'phone') {
    show(fields.phone, $('phone-msg'), [page('phoneIsEmail')]);
    return null;
  }
  if (r.ok) out.textContent = formatPhone(r.value.wire);
  return show(fields.phone, $('phone-msg'), fromPackage(r)) ? r.value.wire : null;
}

/** → the address's wire form, '' when empty, or null when invalid. */
function checkEmail() {
  const input = fields.email.value;
  if (input.trim() === '') {
    const missing = needs('email') && submitted;
    show(fields.email, $('email-msg'), missing ? [page('emailNeeded')] : []);
    return missing ? null : '';
  }
  if (!input.includes('@')) {
    // The package reads text without an @ as a phone number; while the address is being typed
    // there is nothing to say yet.
    const showIt = submitted || touched.has('email');
    const looksLikePhone = /^[\s+()\d.-]+$/.test(input);
    show(fields.email, $('email-msg'), showIt ? [page(looksLikePhone ? 'emailIsPhone' : 'emailIncomplete')] : []);
    return null;
  }
  if (!ready) return null;
  const r = normalizeRecipient(input, { lang });
  return show(fields.email, $('email-msg'), fromPackage(r)) ? r.value.wire : null;
}

function checkConsents() {
  const none = !TYPES.some(checked);
  const showIt = none && submitted;
  show(null, $('consents-msg'), showIt ? [page('consentNeeded')] : []);
  $('consents').classList.toggle('invalid', showIt);
  return !none;
}

function checkAll() {
  return { name: checkName(), phone: checkPhone(), email: checkEmail(), consents: checkConsents() };
}

function renderStatic() {
  const s = STRINGS[lang];
  applyStrings(lang, s);
  $('loading').textContent = ready ? '' : s.loading;
  $('loading').hidden = ready;
  if ($('submit').disabled) $('submit').textContent = s.sending;
}

function setLang(next) {
  lang = next;
  renderStatic();
  checkAll();
  // A local check is said again in the new language; the relay's answers stay as it gave them.
  if (lastOutcome && lastOutcome.kind === 'payload') {
    lastOutcome = { ...lastOutcome, check: validateBatch(lastOutcome.consents, { lang }) };
  }
  if (lastOutcome) renderOutcome(lastOutcome);
}

for (const [key, el] of Object.entries(fields)) {
  el.addEventListener('input', () => checkAll());
  el.addEventListener('blur', () => {
    if (el.value !== '') touched.add(key);
    checkAll();
  });
}
for (const t of TYPES) $(t.box).addEventListener('change', () => checkAll());

/** Payloads for the checked channels, as IYS takes them. */
function buildConsents(phone, email) {
  const consentDate = istanbulTime();
  return TYPES.filter(checked).map((t) => ({
    recipient: t.needs === 'phone' ? phone : email,
    recipientType: 'BIREYSEL',
    type: t.type,
    status: 'ONAY',
    source: 'HS_WEB',
    consentDate,
  }));
}

form.addEventListener('submit', async (ev) => {
  ev.preventDefault();
  if (!ready || $('submit').disabled) return;
  submitted = true;
  const ok = checkAll();
  const bad = [
    ['name', !ok.name], ['phone', ok.phone === null], ['email', ok.email === null], ['consent-mesaj', !ok.consents],
  ].filter(([, b]) => b);
  if (bad.length > 0) {
    renderOutcome({ kind: 'invalid', count: bad.length });
    $(bad[0][0]).focus();
    return;
  }
  const consents = buildConsents(ok.phone, ok.email);
  const check = validateBatch(consents, { lang });
  if (!check.ok) {
    renderOutcome({ kind: 'payload', consents, check });
    return;
  }
  await send(consents);
});

function relayBase() {
  const relay = new URLSearchParams(location.search).get('relay');
  return relay ? relay.replace(/\/+$/, '') : '';
}

/** POSTs `consents` to the demo route: `{ res, body }` (`body` null when it is not JSON). */
async function post(consents) {
  const res = await fetch(`${relayBase()}/demo/consents`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'accept-language': lang },
    body: JSON.stringify({ consents }),
  });
  let body = null;
  try {
    body = await res.json();
  } catch {
    body = null;
  }
  return { res, body };
}

/** The relay's own time (`YYYY-MM-DD HH:mm:ss`, Turkey) when `item` was refused only because its
 * consentDate was still in the relay's future, else null. */
function relayNowIfAhead(item) {
  const errors = item.ok ? [] : item.errors || [];
  const future = errors.length > 0 && errors.every((e) => e.iysEdgeCode === 'consent/date-in-future');
  return future && errors[0].params && typeof errors[0].params.now === 'string' ? errors[0].params.now : null;
}

/** The relay judges consentDate by its own clock, and a device clock running ahead dates the
 * consent in the relay's future (`consent/date-in-future`: the visitor could do nothing about it).
 * Those consents go once more, dated at the relay's time from the refusal; the answers replace the
 * refusals. Returns the consents as finally sent and their items. */
async function resendIfAhead(consents, items) {
  const ahead = [];
  const redo = [];
  for (const i of items) {
    const now = relayNowIfAhead(i);
    if (now === null || !consents[i.index]) continue;
    ahead.push(i);
    redo.push({ ...consents[i.index], consentDate: now });
  }
  if (ahead.length === 0) return { consents, items };
  const { res, body } = await post(redo);
  if (!res.ok || !body || !Array.isArray(body.items)) return { consents, items };
  const sent = consents.slice();
  const merged = items.map((item) => {
    const k = ahead.indexOf(item);
    if (k < 0) return item;
    const again = body.items.find((x) => x.index === k);
    if (!again) return item;
    sent[item.index] = redo[k];
    return { ...again, index: item.index };
  });
  return { consents: sent, items: merged };
}

async function send(consents) {
  const button = $('submit');
  button.disabled = true;
  form.setAttribute('aria-busy', 'true');
  button.textContent = STRINGS[lang].sending;
  let outcome;
  try {
    const { res, body } = await post(consents);
    if (res.ok && body && Array.isArray(body.items)) outcome = { kind: 'answer', ...(await resendIfAhead(consents, body.items)) };
    else if (body && Array.isArray(body.errors)) outcome = { kind: 'refused', status: res.status, errors: body.errors };
    else outcome = { kind: 'unexpected', status: res.status };
  } catch {
    outcome = { kind: 'network' };
  } finally {
    button.disabled = false;
    form.removeAttribute('aria-busy');
    button.textContent = STRINGS[lang].submit;
  }
  renderOutcome(outcome);
}

function messages(list) {
  return h('ul', { class: 'problems' }, list.map((d) => h('li', { 'data-code': d.code }, d.message)));
}

function renderOutcome(o) {
  lastOutcome = o;
  const s = STRINGS[lang];
  const box = $('result');
  box.hidden = false;
  box.className = 'result';
  let state;
  let body;
  if (o.kind === 'invalid') {
    state = 'invalid';
    body = [h('p', {}, s.fix(o.count))];
  } else if (o.kind === 'payload') {
    state = 'error';
    body = [h('p', {}, s.invalidPayload), messages([...o.check.errors, ...o.check.items.flatMap((i) => i.errors)])];
  } else if (o.kind === 'answer') {
    const all = o.items.length === o.consents.length && o.items.every((i) => i.ok);
    state = all ? 'ok' : 'partial';
    body = [
      h('p', {}, all ? s.allSaved : s.someFailed),
      h('ul', { class: 'items' }, o.consents.map((c, index) => {
        const item = o.items.find((i) => i.index === index) || { ok: false, errors: [] };
        const t = TYPES.find((x) => x.type === c.type);
        const verdict = item.ok ? (item.queued ? s.queued : s.saved) : s.rejected;
        // (IYS's own refusal is shown by its messages, never as raw JSON.)
        const upstream = item.upstream && Array.isArray(item.upstream.errors) ? item.upstream.errors : [];
        const extra = item.ok ? [] : [...(item.errors || []), ...upstream].map((d) => d && d.message).filter(Boolean);
        return h('li', { 'data-type': c.type, 'data-ok': String(Boolean(item.ok)), class: item.ok ? 'ok' : 'bad' },
          h('strong', {}, `${s[t.label]} `, h('code', {}, c.type)), ` — ${verdict}`,
          extra.length ? h('span', { class: 'why' }, `: ${extra.join(' ')}`) : null);
      })),
    ];
  } else if (o.kind === 'refused') {
    state = 'error';
    body = [h('p', {}, s.relayError(o.status)), messages(o.errors)];
  } else if (o.kind === 'unexpected') {
    state = 'error';
    body = [h('p', {}, s.relayUnexpected(o.status))];
  } else {
    state = 'error';
    body = [h('p', {}, s.network)];
  }
  box.dataset.outcome = state;
  box.classList.add(`result-${state}`);
  box.replaceChildren(...body);
}

bindLangSwitch(setLang);
renderStatic();
await boot(
  init,
  () => {
    ready = true;
    renderStatic();
    checkAll();
  },
  () => STRINGS[lang].loadFailed,
);
