//! Stable diagnostic codes, their IYS equivalents, and their Turkish and English messages.
//!
//! Every code the project can report lives in the one `codes!` table below. A code's string
//! (`area/reason`) is permanent: codes are never renamed or reused; new ones are added.
//! Messages are built from the code and its params, never the other way round.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use core::str::FromStr;

/// How bad a diagnostic is. Warnings never make a value invalid.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Severity {
    /// The value is rejected (IYS would refuse it).
    Error,
    /// The value is accepted; the caller may want to look (e.g. an extension was dropped).
    Warning,
}

impl Severity {
    /// `"error"` or `"warning"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

/// The language of a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Lang {
    /// Türkçe (the default: IYS's own language).
    #[default]
    Tr,
    /// English.
    En,
}

impl FromStr for Lang {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "tr" | "TR" | "tr-TR" => Ok(Lang::Tr),
            "en" | "EN" | "en-US" | "en-GB" => Ok(Lang::En),
            _ => Err(()),
        }
    }
}

macro_rules! codes {
    ($(
        $(#[$doc:meta])*
        $variant:ident = $s:literal, $iys:expr, $sev:ident,
            en: $en:literal,
            tr: $tr:literal;
    )*) => {
        /// A stable machine code. See `ERRORS.md` for the table.
        #[non_exhaustive]
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Code {
            $( $(#[$doc])* $variant, )*
        }

        impl Code {
            /// Every code, in table order.
            pub const ALL: &'static [Code] = &[$(Code::$variant),*];

            /// The permanent `area/reason` string.
            pub const fn as_str(self) -> &'static str {
                match self { $(Code::$variant => $s,)* }
            }

            /// The H-code IYS itself answers for the same problem, where there is one.
            pub const fn iys_code(self) -> Option<&'static str> {
                match self { $(Code::$variant => $iys,)* }
            }

            /// Error or warning.
            pub const fn severity(self) -> Severity {
                match self { $(Code::$variant => Severity::$sev,)* }
            }

            /// The message template in `lang`; `{name}` stands for a param.
            pub const fn template(self, lang: Lang) -> &'static str {
                match lang {
                    Lang::En => match self { $(Code::$variant => $en,)* },
                    Lang::Tr => match self { $(Code::$variant => $tr,)* },
                }
            }
        }

        impl FromStr for Code {
            type Err = UnknownCode;
            fn from_str(s: &str) -> Result<Self, UnknownCode> {
                match s {
                    $($s => Ok(Code::$variant),)*
                    _ => Err(UnknownCode),
                }
            }
        }
    };
}

codes! {
    // ---- recipient: phone -------------------------------------------------------------
    /// Nothing but blanks was given.
    RecipientEmpty = "recipient/empty", Some("H114"), Error,
        en: "The recipient is empty.",
        tr: "Alıcı boş.";
    /// Letters inside a phone number (we never turn letters into keypad digits).
    PhoneLetters = "recipient/phone-letters", Some("H121"), Error,
        en: "The phone number contains letters: {input}.",
        tr: "Telefon numarası harf içeriyor: {input}.";
    /// A character that cannot be part of a written phone number.
    PhoneInvalidChar = "recipient/phone-invalid-char", Some("H121"), Error,
        en: "The phone number contains a character that is not allowed: {char}.",
        tr: "Telefon numarasında izin verilmeyen bir karakter var: {char}.";
    /// Fewer than the 10 national digits, and more digits could still make a valid number
    /// (444 xxxx service numbers included: they are not full subscriber numbers).
    PhoneTooShort = "recipient/phone-too-short", Some("H121"), Error,
        en: "The phone number is too short ({digits} digits; IYS needs 10 after +90).",
        tr: "Telefon numarası çok kısa ({digits} hane; IYS +90 ardından 10 hane ister).";
    /// More digits than a valid number: its first 10 national digits already are one.
    PhoneTooLong = "recipient/phone-too-long", Some("H121"), Error,
        en: "The phone number is too long ({digits} digits).",
        tr: "Telefon numarası çok uzun ({digits} hane).";
    /// Not in a range IYS takes: geographic 2xx–4xx, mobile 5xx, 850 or 800 (e.g. 0123 …, 0900 …).
    PhoneNotAssigned = "recipient/phone-not-assigned", Some("H121"), Error,
        en: "{number} is not in a range IYS takes (geographic 2xx–4xx, mobile 5xx, 850, 800).",
        tr: "{number} IYS tarafından kabul edilen aralıklarda değil (coğrafi 2xx–4xx, mobil 5xx, 850, 800).";
    /// A country code other than +90 in the Turkish profile.
    PhoneNotTurkish = "recipient/phone-not-turkish", Some("H121"), Error,
        en: "Only Turkish (+90) numbers can be recorded; this one has country code +{country}.",
        tr: "Yalnızca Türkiye (+90) numaraları kaydedilebilir; bu numaranın ülke kodu +{country}.";
    /// A valid number that is not in the exact wire form IYS accepts (`+90XXXXXXXXXX`).
    PhoneNotWireForm = "recipient/phone-not-wire-form", Some("H121"), Error,
        en: "IYS only accepts phone numbers written as {wire} (E.164, no spaces).",
        tr: "IYS telefon numarasını yalnızca {wire} biçiminde (E.164, boşluksuz) kabul eder.";
    /// The extension after the number was dropped (IYS records the line, not the extension).
    PhoneExtensionDropped = "recipient/phone-extension-dropped", None, Warning,
        en: "The extension {extension} was dropped; IYS records the line {wire}.",
        tr: "{extension} dahili numarası çıkarıldı; IYS {wire} hattını kaydeder.";
    /// The input was rewritten into the wire form.
    RecipientNormalized = "recipient/normalized", None, Warning,
        en: "Written as {input}; the IYS form is {wire}.",
        tr: "{input} olarak yazılmış; IYS biçimi {wire}.";
    /// A message (MESAJ) consent for a number that is not a mobile number.
    PhoneNotMobile = "recipient/phone-not-mobile", None, Warning,
        en: "{number} is a {kind} number, not a mobile number; SMS may not reach it.",
        tr: "{number} bir {kind} numarası, cep telefonu değil; SMS ulaşmayabilir.";
    /// A valid 850 (non-geographic) or 800 (toll-free) number: it may not reach one person.
    PhoneNonGeographic = "recipient/phone-non-geographic", None, Warning,
        en: "{wire} is a non-geographic 850 or toll-free 800 number; make sure it reaches the person who gave consent.",
        tr: "{wire} coğrafi olmayan bir 850 veya ücretsiz 800 numarası; izni veren kişiye ulaştığından emin olun.";

    // ---- recipient: e-mail -------------------------------------------------------------
    /// No `@`, or more than one outside quotes.
    EmailMissingAt = "recipient/email-missing-at", Some("H120"), Error,
        en: "The e-mail address needs exactly one @.",
        tr: "E-posta adresinde tam olarak bir @ olmalı.";
    /// Turkish letters (ç ğ ı İ ö ş ü) or other non-ASCII characters.
    EmailNonAscii = "recipient/email-non-ascii", Some("H120"), Error,
        en: "IYS does not accept e-mail addresses with Turkish or other non-English letters ({char}).",
        tr: "IYS Türkçe karakter veya İngilizce dışı harf içeren e-posta adreslerini kabul etmez ({char}).";
    /// A space or other blank inside the address.
    EmailWhitespace = "recipient/email-whitespace", Some("H120"), Error,
        en: "The e-mail address contains a space.",
        tr: "E-posta adresi boşluk içeriyor.";
    /// A special character IYS does not allow (anything but letters, digits, `.`, `_`, `+`, `-`).
    EmailInvalidChar = "recipient/email-invalid-char", Some("H120"), Error,
        en: "The e-mail address contains a character that is not allowed: {char}.",
        tr: "E-posta adresinde izin verilmeyen bir karakter var: {char}.";
    /// Empty local part, or a local part that starts or ends with a dot.
    EmailLocalInvalid = "recipient/email-local-invalid", Some("H120"), Error,
        en: "The part before @ must not be empty or start or end with a dot.",
        tr: "@ işaretinden önceki kısım boş olamaz, nokta ile başlayamaz veya bitemez.";
    /// Two dots in a row.
    EmailConsecutiveDots = "recipient/email-consecutive-dots", Some("H120"), Error,
        en: "The e-mail address has two dots in a row.",
        tr: "E-posta adresinde art arda iki nokta var.";
    /// Local part over 64 characters.
    EmailLocalTooLong = "recipient/email-local-too-long", Some("H120"), Error,
        en: "The part before @ is {length} characters long; at most 64 are allowed.",
        tr: "@ işaretinden önceki kısım {length} karakter; en fazla 64 olabilir.";
    /// Whole address over 254 characters.
    EmailTooLong = "recipient/email-too-long", Some("H120"), Error,
        en: "The e-mail address is {length} characters long; at most 254 are allowed.",
        tr: "E-posta adresi {length} karakter; en fazla 254 olabilir.";
    /// A domain label that is empty, over 63 characters, or starts or ends with a hyphen.
    EmailDomainLabel = "recipient/email-domain-label", Some("H120"), Error,
        en: "The domain part {label} is not valid.",
        tr: "Alan adı kısmı {label} geçerli değil.";
    /// No dot in the domain, or a top-level domain that is not 2+ letters.
    EmailTld = "recipient/email-tld", Some("H120"), Error,
        en: "The domain must end in a top-level domain of at least two letters (like .com or .tr).",
        tr: "Alan adı en az iki harfli bir uzantıyla bitmeli (.com veya .tr gibi).";
    /// Blanks around the address (wire form only).
    EmailNotWireForm = "recipient/email-not-wire-form", Some("H120"), Error,
        en: "IYS only accepts the address without surrounding blanks: {wire}.",
        tr: "IYS adresi yalnızca çevresinde boşluk olmadan kabul eder: {wire}.";
    /// Neither a phone number nor an e-mail address.
    RecipientUnknownKind = "recipient/unknown-kind", Some("H122"), Error,
        en: "The recipient is neither a phone number nor an e-mail address.",
        tr: "Alıcı ne telefon numarası ne de e-posta adresi.";

    // ---- consent -----------------------------------------------------------------------
    /// A consent that is not a JSON object.
    ConsentNotObject = "consent/not-object", Some("H085"), Error,
        en: "A consent must be a JSON object.",
        tr: "İzin bir JSON nesnesi olmalı.";
    /// A key other than the 8 IYS allows.
    ConsentUnknownField = "consent/unknown-field", Some("H118"), Error,
        en: "Unknown field {field}; allowed fields are recipientType, retailerAccess, recipient, retailerCode, source, type, consentDate, status.",
        tr: "Bilinmeyen alan {field}; izin verilen alanlar recipientType, retailerAccess, recipient, retailerCode, source, type, consentDate, status.";
    /// The same key twice in one object.
    ConsentDuplicateField = "consent/duplicate-field", Some("H085"), Error,
        en: "The field {field} appears more than once.",
        tr: "{field} alanı birden fazla kez yazılmış.";
    /// A field of the wrong JSON type (e.g. a number where a string belongs).
    ConsentWrongFieldType = "consent/wrong-field-type", Some("H085"), Error,
        en: "The field {field} must be {expected}.",
        tr: "{field} alanı {expected} olmalı.";
    /// `recipient` missing.
    RecipientMissing = "consent/recipient-missing", Some("H114"), Error,
        en: "recipient is missing.",
        tr: "recipient (alıcı) eksik.";
    /// `type` missing.
    TypeMissing = "consent/type-missing", Some("H111"), Error,
        en: "type is missing.",
        tr: "type (izin tipi) eksik.";
    /// `status` missing.
    StatusMissing = "consent/status-missing", Some("H110"), Error,
        en: "status is missing.",
        tr: "status (izin durumu) eksik.";
    /// `recipientType` missing.
    RecipientTypeMissing = "consent/recipient-type-missing", Some("H170"), Error,
        en: "recipientType is missing.",
        tr: "recipientType (alıcı tipi) eksik.";
    /// `source` missing on a BIREYSEL consent.
    SourceMissing = "consent/source-missing", Some("H113"), Error,
        en: "source is missing; it is required for BIREYSEL consents.",
        tr: "source (izin kaynağı) eksik; BIREYSEL izinlerde zorunludur.";
    /// `consentDate` missing on a BIREYSEL consent.
    DateMissing = "consent/date-missing", Some("H112"), Error,
        en: "consentDate is missing; it is required for BIREYSEL consents.",
        tr: "consentDate (izin tarihi) eksik; BIREYSEL izinlerde zorunludur.";
    /// `type` not ARAMA, MESAJ or EPOSTA.
    InvalidType = "consent/invalid-type", Some("H117"), Error,
        en: "type must be ARAMA, MESAJ or EPOSTA, not {value}.",
        tr: "type ARAMA, MESAJ veya EPOSTA olmalı, {value} değil.";
    /// `status` not ONAY or RET.
    InvalidStatus = "consent/invalid-status", Some("H115"), Error,
        en: "status must be ONAY or RET, not {value}.",
        tr: "status ONAY veya RET olmalı, {value} değil.";
    /// `recipientType` not BIREYSEL or TACIR.
    InvalidRecipientType = "consent/invalid-recipient-type", Some("H116"), Error,
        en: "recipientType must be BIREYSEL or TACIR, not {value}.",
        tr: "recipientType BIREYSEL veya TACIR olmalı, {value} değil.";
    /// `source` not one of the 13 HS_* values.
    InvalidSource = "consent/invalid-source", Some("H119"), Error,
        en: "source {value} is not one of the 13 HS_* sources.",
        tr: "source {value}, 13 HS_* kaynağından biri değil.";
    /// An IYS_* source, which only IYS itself may set.
    IysSource = "consent/iys-source", Some("H119"), Error,
        en: "source {value} is set only by IYS itself; a service provider must use an HS_* source.",
        tr: "{value} kaynağını yalnızca IYS kullanır; hizmet sağlayıcı HS_* kaynaklarından birini kullanmalı.";
    /// A phone recipient with type EPOSTA.
    PhoneNeedsCallOrMessage = "consent/phone-needs-arama-or-mesaj", Some("H459"), Error,
        en: "A phone number takes type ARAMA or MESAJ, not EPOSTA.",
        tr: "Telefon numarası için izin tipi ARAMA veya MESAJ olmalı, EPOSTA değil.";
    /// An e-mail recipient with type ARAMA or MESAJ.
    EmailNeedsEposta = "consent/email-needs-eposta", Some("H464"), Error,
        en: "Type {type} needs a phone number; an e-mail address takes type EPOSTA.",
        tr: "{type} tipi telefon numarası gerektirir; e-posta adresi için tip EPOSTA olmalı.";
    /// consentDate not exactly `YYYY-MM-DD HH:mm:ss`.
    DateFormat = "consent/date-format", Some("H158"), Error,
        en: "consentDate must be written as YYYY-MM-DD HH:mm:ss, not {value}.",
        tr: "consentDate YYYY-AA-GG SS:dd:ss biçiminde olmalı, {value} değil.";
    /// consentDate is not a real time in Turkey (e.g. 31 February, or a clock-change gap).
    DateInvalid = "consent/date-invalid", Some("H157"), Error,
        en: "consentDate {value} is not a real date and time in Turkey.",
        tr: "consentDate {value} Türkiye saatinde gerçek bir tarih ve saat değil.";
    /// consentDate later than now.
    DateInFuture = "consent/date-in-future", Some("H162"), Error,
        en: "consentDate {value} is in the future (now is {now} in Turkey).",
        tr: "consentDate {value} gelecekte (Türkiye saatiyle şu an {now}).";
    /// consentDate before 2015-05-01 00:00:00.
    DateBefore2015 = "consent/date-before-2015", Some("H156"), Error,
        en: "consentDate may not be before 2015-05-01 00:00:00.",
        tr: "consentDate 2015-05-01 00:00:00 tarihinden önce olamaz.";
    /// HS_2015 with a date other than 2015-05-01 00:00:00.
    Hs2015Date = "consent/hs2015-date", Some("H155"), Error,
        en: "With source HS_2015 the consentDate must be exactly 2015-05-01 00:00:00.",
        tr: "HS_2015 kaynağında consentDate tam olarak 2015-05-01 00:00:00 olmalı.";
    /// consentDate older than the business-day window allows.
    DateTooOld = "consent/date-too-old", None, Error,
        en: "consentDate {value} is more than {days} business days before now; the oldest accepted is {cutoff}.",
        tr: "consentDate {value} şu andan {days} iş gününden daha eski; kabul edilen en eski tarih {cutoff}.";
    /// HS_KARAR with status ONAY.
    KararNeedsRet = "consent/karar-needs-ret", Some("H408"), Error,
        en: "Source HS_KARAR can only be used with status RET.",
        tr: "HS_KARAR kaynağı yalnızca RET durumuyla kullanılabilir.";
    /// retailerCode not a positive integer.
    RetailerCodeInvalid = "consent/retailer-code-invalid", Some("H085"), Error,
        en: "retailerCode must be a positive whole number.",
        tr: "retailerCode pozitif bir tam sayı olmalı.";
    /// retailerAccess is an empty list.
    RetailerAccessEmpty = "consent/retailer-access-empty", Some("H163"), Error,
        en: "retailerAccess must not be an empty list.",
        tr: "retailerAccess boş bir liste olamaz.";
    /// An item of retailerAccess is not a positive integer.
    RetailerAccessInvalid = "consent/retailer-access-invalid", Some("H085"), Error,
        en: "Each retailerAccess item must be a positive whole number.",
        tr: "retailerAccess listesindeki her değer pozitif bir tam sayı olmalı.";
    /// The same retailer code twice in retailerAccess.
    RetailerAccessDuplicate = "consent/retailer-access-duplicate", Some("H193"), Error,
        en: "Retailer {value} appears more than once in retailerAccess.",
        tr: "{value} bayi kodu retailerAccess listesinde birden fazla kez geçiyor.";
    /// `recipients` missing from a status query of many recipients.
    RecipientsMissing = "consent/recipients-missing", Some("H168"), Error,
        en: "recipients is missing.",
        tr: "recipients (alıcı listesi) eksik.";
    /// `recipients` is an empty list.
    RecipientsEmpty = "consent/recipients-empty", Some("H164"), Error,
        en: "recipients must not be an empty list.",
        tr: "recipients boş bir liste olamaz.";
    /// More than 1000 recipients in one status query.
    RecipientsTooMany = "consent/recipients-too-many", Some("H127"), Error,
        en: "recipients may hold at most {limit} recipients; this list holds {count}.",
        tr: "recipients listesinde en fazla {limit} alıcı olabilir; bu listede {count} var.";

    // ---- batch -------------------------------------------------------------------------
    /// A batch that is not a JSON array.
    BatchNotArray = "batch/not-array", Some("H092"), Error,
        en: "A batch must be a JSON array of consents.",
        tr: "Toplu istek, izinlerden oluşan bir JSON dizisi olmalı.";
    /// An empty batch.
    BatchEmpty = "batch/empty", Some("H092"), Error,
        en: "A batch must hold at least one consent.",
        tr: "Toplu istek en az bir izin içermeli.";
    /// More than 1000 consents.
    BatchTooLarge = "batch/too-large", Some("H125"), Error,
        en: "A batch may hold at most 1000 consents; this one holds {count}.",
        tr: "Bir istekte en fazla 1000 izin olabilir; bu istekte {count} var.";
    /// The same (recipientType, type, recipient) twice in one batch.
    BatchDuplicate = "batch/duplicate", Some("H194"), Error,
        en: "The same consent (recipientType, type, recipient) already appears at index {first}.",
        tr: "Aynı izin (recipientType, type, recipient) {first} sırasında zaten var.";

    // ---- request (shells) --------------------------------------------------------------
    /// The body is not valid JSON.
    InvalidJson = "request/invalid-json", Some("H014"), Error,
        en: "The body is not valid JSON: {reason} at byte {offset}.",
        tr: "Gövde geçerli bir JSON değil: {offset}. baytta {reason}.";
    /// JSON nested deeper than allowed.
    JsonTooDeep = "request/json-too-deep", Some("H014"), Error,
        en: "The JSON is nested more than {limit} levels deep.",
        tr: "JSON {limit} seviyeden daha derin iç içe geçmiş.";
    /// The body is larger than allowed.
    BodyTooLarge = "request/body-too-large", None, Error,
        en: "The request body is larger than {limit} bytes.",
        tr: "İstek gövdesi {limit} bayttan büyük.";
    /// A string value longer than allowed.
    StringTooLong = "request/string-too-long", Some("H085"), Error,
        en: "The value of {field} is longer than {limit} characters.",
        tr: "{field} değeri {limit} karakterden uzun.";
    /// Wrong or missing Content-Type.
    UnsupportedMediaType = "request/unsupported-media-type", None, Error,
        en: "The request must be sent as application/json.",
        tr: "İstek application/json olarak gönderilmeli.";
    /// The body is not UTF-8.
    InvalidUtf8 = "request/invalid-utf8", Some("H014"), Error,
        en: "The body is not valid UTF-8.",
        tr: "Gövde geçerli UTF-8 değil.";
    /// A path parameter that must be an integer is not.
    InvalidPathParam = "request/invalid-path-param", Some("H190"), Error,
        en: "{param} in the path must be a whole number.",
        tr: "Yoldaki {param} bir tam sayı olmalı.";
    /// A query parameter whose value is not one the route takes.
    InvalidQueryParam = "request/invalid-query-param", Some("H098"), Error,
        en: "The query parameter {param} has an invalid value.",
        tr: "{param} sorgu parametresinin değeri geçersiz.";
    /// Too many requests.
    RateLimited = "request/rate-limited", Some("H124"), Error,
        en: "Too many requests; try again in {retry_after} seconds.",
        tr: "Çok fazla istek; {retry_after} saniye sonra tekrar deneyin.";
    /// No such route.
    NotFound = "request/not-found", None, Error,
        en: "There is no such route.",
        tr: "Böyle bir yol yok.";
    /// Wrong HTTP method for the route.
    MethodNotAllowed = "request/method-not-allowed", None, Error,
        en: "This route does not accept that method.",
        tr: "Bu yol bu yöntemi kabul etmiyor.";
    /// An `Idempotency-Key` that is malformed, was used with another request, or is in use.
    IdempotencyKey = "request/idempotency-key", None, Error,
        en: "Idempotency-Key cannot be used: {reason}.",
        tr: "Idempotency-Key kullanılamaz: {reason}.";

    // ---- auth (shells) -----------------------------------------------------------------
    /// No bearer token.
    MissingToken = "auth/missing-token", Some("H351"), Error,
        en: "A bearer token is required.",
        tr: "Bearer jetonu gerekli.";
    /// A token that is malformed, unknown or expired.
    InvalidToken = "auth/invalid-token", Some("H351"), Error,
        en: "The token is invalid or has expired.",
        tr: "Jeton geçersiz veya süresi dolmuş.";
    /// Wrong username or password.
    BadCredentials = "auth/bad-credentials", Some("H251"), Error,
        en: "The username or password is wrong.",
        tr: "Kullanıcı adı veya şifre hatalı.";
    /// Token request body missing fields or with an unknown grant type.
    BadGrant = "auth/bad-grant", Some("H250"), Error,
        en: "The token request needs grant_type password (with username and password) or refresh_token (with refresh_token).",
        tr: "Jeton isteği grant_type password (username ve password ile) veya refresh_token (refresh_token ile) içermeli.";
    /// Credentials revoked by the integrator.
    Revoked = "auth/revoked", Some("H351"), Error,
        en: "These credentials have been revoked.",
        tr: "Bu kimlik bilgileri iptal edilmiş.";
    /// The token does not cover this iysCode, brand or consent type.
    OutOfScope = "auth/out-of-scope", Some("H353"), Error,
        en: "Your credentials do not cover {scope}.",
        tr: "Kimlik bilgileriniz {scope} için yetkili değil.";
    /// Admin route without the admin secret.
    AdminRequired = "auth/admin-required", None, Error,
        en: "This route needs the admin secret.",
        tr: "Bu yol yönetici anahtarı gerektirir.";
    /// Too many token requests.
    TokenRateLimited = "auth/token-rate-limited", Some("H084"), Error,
        en: "Too many token requests this hour.",
        tr: "Bu saat içinde çok fazla jeton isteği yapıldı.";

    // ---- upstream (relay to IYS) -------------------------------------------------------
    /// IYS did not answer in time.
    UpstreamTimeout = "upstream/timeout", Some("H192"), Error,
        en: "IYS did not answer in time; the request was queued and will be retried.",
        tr: "IYS zamanında yanıt vermedi; istek kuyruğa alındı ve yeniden denenecek.";
    /// IYS is unavailable (5xx, network error, breaker open).
    UpstreamUnavailable = "upstream/unavailable", Some("H123"), Error,
        en: "IYS is not available right now.",
        tr: "IYS şu anda kullanılamıyor.";
    /// A queued consent with no consentDate window of its own (HS_2015, an undated TACIR record)
    /// that IYS did not take within the business-day window counted from the relay's acceptance:
    /// the relay stopped sending it.
    UpstreamExpired = "upstream/expired", None, Error,
        en: "IYS did not take this consent within {days} business days of its acceptance; it was not recorded and is no longer sent.",
        tr: "IYS bu izni kabul edildiği andan itibaren {days} iş günü içinde almadı; izin kaydedilmedi ve artık gönderilmiyor.";
    /// IYS refused the request; its own errors are in `upstream`.
    UpstreamRejected = "upstream/rejected", None, Error,
        en: "IYS refused the request with {iys_code}.",
        tr: "IYS isteği {iys_code} ile reddetti.";
}

impl Code {
    /// Whether iys-core's validation can report this code: every recipient, consent and batch code
    /// but the `recipients` list's (the relay's many-recipient status query alone reads that list),
    /// and the request codes of reading JSON text. The others (auth, upstream, HTTP, the list) are
    /// the relay's.
    pub fn from_validation(self) -> bool {
        let area = self.as_str().split('/').next().unwrap_or("");
        (matches!(area, "recipient" | "consent" | "batch")
            && !matches!(self, Code::RecipientsMissing | Code::RecipientsEmpty | Code::RecipientsTooMany))
            || matches!(self, Code::InvalidJson | Code::JsonTooDeep | Code::StringTooLong | Code::InvalidUtf8)
    }
}

/// The error of `Code::from_str` for a string that names no code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnknownCode;

impl fmt::Display for UnknownCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("unknown diagnostic code")
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One problem found in a value: a code, where (a JSON Pointer), and the params its message uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// What went wrong.
    pub code: Code,
    /// Where, as a JSON Pointer into the input (`""` for the whole input, `/3/recipient` in a batch).
    pub path: String,
    /// Named values for the message, in a fixed order.
    pub params: Vec<(&'static str, String)>,
}

impl Diagnostic {
    /// A diagnostic at `path` with no params.
    pub fn new(code: Code, path: impl Into<String>) -> Self {
        Diagnostic { code, path: path.into(), params: Vec::new() }
    }

    /// Adds a param (builder style).
    #[must_use]
    pub fn with(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.params.push((name, value.into()));
        self
    }

    /// Adds a param that is a whole number, written in decimal (builder style).
    #[must_use]
    pub fn with_number(self, name: &'static str, value: u64) -> Self {
        let mut text = String::new();
        crate::json::write_u64(&mut text, value);
        self.with(name, text)
    }

    /// The value of a param, if set.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str())
    }

    /// Error or warning.
    pub fn severity(&self) -> Severity {
        self.code.severity()
    }

    /// Whether this diagnostic rejects the value.
    pub fn is_error(&self) -> bool {
        self.code.severity() == Severity::Error
    }

    /// The message in `lang`, with params filled in. An unknown placeholder is left as written.
    pub fn message(&self, lang: Lang) -> String {
        let template = self.code.template(lang);
        let mut out = String::with_capacity(template.len() + 16);
        let mut rest = template;
        while let Some((before, after)) = crate::split_once_byte(rest, b'{') {
            out.push_str(before);
            let Some((name, tail)) = crate::split_once_byte(after, b'}') else {
                out.push('{');
                rest = after;
                break;
            };
            match self.param(name) {
                Some(v) => out.push_str(v),
                None => {
                    out.push('{');
                    out.push_str(name);
                    out.push('}');
                }
            }
            rest = tail;
        }
        out.push_str(rest);
        out
    }

    /// Prefixes the path with `prefix` (a JSON Pointer such as `/3`).
    #[must_use]
    pub fn under(mut self, prefix: &str) -> Self {
        if !prefix.is_empty() {
            self.path.insert_str(0, prefix);
        }
        self
    }
}

/// A value (when valid) plus everything found on the way, in input order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report<T> {
    /// The parsed, normalised value; `None` when any error was found.
    pub value: Option<T>,
    /// Errors and warnings, in the order they were found.
    pub diagnostics: Vec<Diagnostic>,
}

impl<T> Report<T> {
    /// True when there is a value and no error.
    pub fn is_ok(&self) -> bool {
        self.value.is_some() && !self.diagnostics.iter().any(Diagnostic::is_error)
    }

    /// The errors only.
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics.iter().filter(|d| d.is_error())
    }

    /// Builds a report: the value is kept only if no diagnostic is an error.
    pub fn from_parts(value: Option<T>, diagnostics: Vec<Diagnostic>) -> Self {
        let value = if diagnostics.iter().any(Diagnostic::is_error) { None } else { value };
        Report { value, diagnostics }
    }
}

/// Whether `s` has the shape of an IYS error code: `H` and three digits (`H121`).
pub fn is_iys_code(s: &str) -> bool {
    s.len() == 4 && s.starts_with('H') && s[1..].bytes().all(|b| b.is_ascii_digit())
}

/// Escapes one JSON Pointer reference token (`~` → `~0`, `/` → `~1`).
pub fn pointer_token(token: &str) -> String {
    let mut out = String::with_capacity(token.len());
    push_pointer_token(&mut out, token);
    out
}

/// Appends `token` to `out`, escaped as by [`pointer_token`].
pub(crate) fn push_pointer_token(out: &mut String, token: &str) {
    for c in token.chars() {
        match c {
            '~' => out.push_str("~0"),
            '/' => out.push_str("~1"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_well_formed_and_round_trip() {
        let mut seen = std::collections::HashSet::new();
        for &code in Code::ALL {
            let s = code.as_str();
            assert!(seen.insert(s), "duplicate code {s}");
            let (area, reason) = s.split_once('/').expect("area/reason");
            assert!(["recipient", "consent", "batch", "request", "auth", "upstream"].contains(&area), "{s}");
            assert!(
                !reason.is_empty() && reason.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
                "{s}"
            );
            assert_eq!(s.parse::<Code>(), Ok(code));
            if let Some(h) = code.iys_code() {
                assert!(is_iys_code(h), "{s}: {h}");
            }
        }
        assert_eq!("recipient/nope".parse::<Code>(), Err(UnknownCode));
    }

    #[test]
    fn every_placeholder_is_the_same_in_both_languages() {
        fn names(t: &str) -> Vec<&str> {
            let mut v: Vec<&str> = t.split('{').skip(1).filter_map(|p| p.split_once('}').map(|(n, _)| n)).collect();
            v.sort_unstable();
            v
        }
        for &code in Code::ALL {
            assert_eq!(names(code.template(Lang::En)), names(code.template(Lang::Tr)), "{code}");
        }
    }

    #[test]
    fn message_fills_params_and_keeps_unknown_placeholders() {
        let d = Diagnostic::new(Code::BatchTooLarge, "").with("count", "1001");
        assert_eq!(d.message(Lang::En), "A batch may hold at most 1000 consents; this one holds 1001.");
        assert_eq!(d.message(Lang::Tr), "Bir istekte en fazla 1000 izin olabilir; bu istekte 1001 var.");
        let d = Diagnostic::new(Code::BatchTooLarge, "");
        assert!(d.message(Lang::En).contains("{count}"));
    }

    #[test]
    fn report_drops_value_on_error_keeps_it_on_warning() {
        let warn = Diagnostic::new(Code::RecipientNormalized, "");
        assert!(Report::from_parts(Some(1), vec![warn.clone()]).is_ok());
        let err = Diagnostic::new(Code::RecipientEmpty, "");
        let r = Report::from_parts(Some(1), vec![warn, err]);
        assert!(!r.is_ok());
        assert_eq!(r.value, None);
        assert_eq!(r.errors().count(), 1);
    }
}
