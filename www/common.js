// Shared by both pages: the language switch, static strings, phone display, Istanbul time.
// UI only: every check of a phone, an address or a consent comes from the iys-validate package.

/** The page language: `?lang=en` or Turkish. */
export function initialLang() {
  return new URLSearchParams(location.search).get('lang') === 'en' ? 'en' : 'tr';
}

/**
 * Writes `strings` into every `[data-i18n]` element (text) and `[data-i18n-attr="attr:key,..."]`
 * (attributes), sets `<html lang>` and the pressed state of the `[data-lang]` buttons.
 */
export function applyStrings(lang, strings) {
  document.documentElement.lang = lang;
  for (const el of document.querySelectorAll('[data-i18n]')) {
    el.textContent = strings[el.dataset.i18n];
  }
  for (const el of document.querySelectorAll('[data-i18n-attr]')) {
    for (const pair of el.dataset.i18nAttr.split(',')) {
      const [attr, key] = pair.split(':');
      el.setAttribute(attr, strings[key]);
    }
  }
  for (const b of document.querySelectorAll('button[data-lang]')) {
    b.setAttribute('aria-pressed', String(b.dataset.lang === lang));
  }
  if (strings.docTitle) document.title = strings.docTitle;
}

/** Calls `onChange(lang)` when a `[data-lang]` button is pressed; keeps `?lang=` in the address. */
export function bindLangSwitch(onChange) {
  for (const b of document.querySelectorAll('button[data-lang]')) {
    b.addEventListener('click', () => {
      const lang = b.dataset.lang;
      const url = new URL(location.href);
      if (lang === 'tr') url.searchParams.delete('lang');
      else url.searchParams.set('lang', lang);
      history.replaceState(null, '', url);
      onChange(lang);
    });
  }
}

/** `+905321234567` → `+90 532 123 45 67` (display only; anything else is shown as it is). */
export function formatPhone(wire) {
  const m = /^\+90(\d{3})(\d{3})(\d{2})(\d{2})$/.exec(wire);
  return m ? `+90 ${m[1]} ${m[2]} ${m[3]} ${m[4]}` : wire;
}

/** `date` as IYS's consentDate: `YYYY-MM-DD HH:mm:ss`, wall-clock time in Europe/Istanbul. */
export function istanbulTime(date = new Date()) {
  const parts = {};
  const fmt = new Intl.DateTimeFormat('en-GB', {
    timeZone: 'Europe/Istanbul', hourCycle: 'h23',
    year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit',
  });
  for (const p of fmt.formatToParts(date)) parts[p.type] = p.value;
  return `${parts.year}-${parts.month}-${parts.day} ${parts.hour}:${parts.minute}:${parts.second}`;
}

/** Creates an element with attributes and children (strings become text). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k.startsWith('data-')) el.setAttribute(k, v);
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null) continue;
    el.append(typeof c === 'string' ? document.createTextNode(c) : c);
  }
  return el;
}

// Loads the wasm package, marks the page ready (tests wait for body[data-ready]) and runs
// `onReady`; if loading fails, the #loading element says so in the page's language.
export async function boot(init, onReady, failedText) {
  try {
    await init();
    document.body.dataset.ready = 'true';
    onReady();
  } catch (e) {
    const box = document.getElementById('loading');
    box.hidden = false;
    box.textContent = failedText();
    box.dataset.error = String(e && e.message);
  }
}
