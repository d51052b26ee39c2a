-- The queue sends at most one row per recipient key (recipientType, type, recipient) per IYS list:
-- IYS refuses a list that holds a key twice (H194) as a whole. `rkey` is that key as sent
-- ("recipientType type recipient"); the consumer claims only a key's oldest open row
-- (crates/iys-worker/src/queue.rs), so a key's rows also reach IYS in the order they were accepted.
ALTER TABLE outbound ADD COLUMN rkey TEXT;
UPDATE outbound SET rkey = json_extract(consent, '$.recipientType') || ' ' || json_extract(consent, '$.type') || ' ' || json_extract(consent, '$.recipient');
CREATE INDEX outbound_key ON outbound(iys_code, brand_code, rkey, state);
