// `node check-csv.mjs FILE SCHEMA.cjs` — the Node peer of `iys check` for the 1M-row bench:
// the same consent CSV (BOM, `;`, CRLF, IYS header) read as a stream, and for every row what the
// npm ecosystem offers: libphonenumber-js/max (parse with region TR, isValid, region TR, E.164)
// for ARAMA/MESAJ recipients, email-validator for EPOSTA ones, then the ajv standalone consent
// schema (schema.mjs) on the row with its normalised recipient. One line per invalid row goes to
// standard output (as `iys check` reports invalid records), a summary to standard error.
// Not done here (there is no npm package for them): calendar-valid dates, the 2015 floor, the
// future, the 3-business-day window with Turkish holidays, MESAJ to mobiles only, HS_KARAR/RET.
import { createReadStream } from 'node:fs';
import { createRequire } from 'node:module';
import { createInterface } from 'node:readline';
import { parsePhoneNumberFromString } from 'libphonenumber-js/max';
import emailValidator from 'email-validator';

const [file, schemaFile] = process.argv.slice(2);
if (!file || !schemaFile) throw new Error('usage: node check-csv.mjs FILE SCHEMA.cjs');
const validate = createRequire(import.meta.url)(schemaFile);
const started = performance.now();

const rl = createInterface({ input: createReadStream(file, { encoding: 'utf8', highWaterMark: 1 << 20 }), crlfDelay: Infinity });
let header = null;
let rows = 0;
let invalid = 0;
let out = [];
const flush = () => {
  if (out.length) process.stdout.write(`${out.join('\n')}\n`);
  out = [];
};

for await (let line of rl) {
  if (header === null) {
    header = line.replace(/^\uFEFF/, '').split(';');
    continue;
  }
  if (line === '') continue;
  rows++;
  const cells = line.split(';');
  const c = {};
  for (let i = 0; i < header.length; i++) {
    const v = cells[i];
    if (v === undefined || v === '') continue;
    const k = header[i];
    if (k === 'retailerCode') c[k] = Number(v);
    else if (k === 'retailerAccess') c[k] = v.split('|').map(Number);
    else c[k] = v;
  }
  let problem = null;
  const r = c.recipient ?? '';
  if (c.type === 'EPOSTA' || r.includes('@')) {
    if (!emailValidator.validate(r)) problem = 'invalid e-mail';
  } else {
    const n = parsePhoneNumberFromString(r, 'TR');
    if (n !== undefined && n.isValid() && n.country === 'TR') c.recipient = n.number;
    else problem = 'invalid phone';
  }
  if (problem === null && !validate(c)) {
    const e = validate.errors[0];
    problem = `${e.instancePath} ${e.message}`;
  }
  if (problem !== null) {
    invalid++;
    out.push(`${rows + 1}: ${problem}`);
    if (out.length >= 4096) flush();
  }
}
flush();
const secs = (performance.now() - started) / 1000;
process.stderr.write(`${JSON.stringify({ rows, invalid, secs, rowsPerSec: rows / secs })}\n`);
