// The IYS consent payload as a JSON Schema: what a schema-only validator can say about a consent.
// Shape, enums, the wire forms of the recipient by `type` (+90 and 10 digits / an ASCII e-mail
// address), the consentDate pattern, source and consentDate required for BIREYSEL. What it cannot
// say (and iys-validate does): whether the number is allocated, MESAJ to a mobile only, real
// calendar dates, not before 2015, not in the future, the 3-business-day window with holidays,
// HS_KARAR with RET only, HS_2015's fixed date, e-mail lengths and label rules.
//
// `compileStandalone(file)` writes the ajv standalone (precompiled, no eval at run time) module, as
// CommonJS (`file` should end in .cjs): its output `require`s ajv's small runtime helpers.
import { writeFileSync } from 'node:fs';
import Ajv from 'ajv';
import standalone from 'ajv/dist/standalone/index.js';

const SOURCES = [
  'HS_FIZIKSEL_ORTAM', 'HS_ISLAK_IMZA', 'HS_WEB', 'HS_CAGRI_MERKEZI', 'HS_SOSYAL_MEDYA', 'HS_EPOSTA',
  'HS_MESAJ', 'HS_MOBIL', 'HS_EORTAM', 'HS_ETKINLIK', 'HS_ATM', 'HS_2015', 'HS_KARAR',
];

export const schema = {
  $id: 'iys-consent',
  type: 'object',
  additionalProperties: false,
  required: ['recipient', 'recipientType', 'type', 'status'],
  properties: {
    recipient: { type: 'string', minLength: 3, maxLength: 254 },
    recipientType: { enum: ['BIREYSEL', 'TACIR'] },
    type: { enum: ['ARAMA', 'MESAJ', 'EPOSTA'] },
    status: { enum: ['ONAY', 'RET'] },
    source: { enum: SOURCES },
    consentDate: { type: 'string', pattern: '^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}$' },
    retailerCode: { type: 'integer', minimum: 0 },
    retailerAccess: { type: 'array', items: { type: 'integer', minimum: 0 } },
  },
  allOf: [
    {
      if: { properties: { type: { const: 'EPOSTA' } } },
      then: { properties: { recipient: { type: 'string', pattern: '^[A-Za-z0-9._+-]+@[A-Za-z0-9-]+(\\.[A-Za-z0-9-]+)*\\.[A-Za-z]{2,}$' } } },
      else: { properties: { recipient: { type: 'string', pattern: '^\\+90[0-9]{10}$' } } },
    },
    {
      if: { properties: { recipientType: { const: 'BIREYSEL' } } },
      then: { required: ['source', 'consentDate'] },
    },
  ],
};

export function compileStandalone(file) {
  const ajv = new Ajv({ code: { source: true } });
  const validate = ajv.compile(schema);
  const toCode = typeof standalone === 'function' ? standalone : standalone.default;
  writeFileSync(file, toCode(ajv, validate));
}
