// The `require` side of the exports map (index.d.cts), compiled with `tsc --noEmit`.
import iys = require('iys-validate');

const r: iys.RecipientResult = iys.validateRecipient('+905321234567', { lang: 'en' });
const codes: iys.Code[] = r.errors.map((e) => e.code);
console.log(codes, iys.validateBatch([]).items.length);
