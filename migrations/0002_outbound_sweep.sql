-- The cron's sweep (crates/iys-worker/src/sweep.rs) finds stranded outbound rows by state and age
-- without scanning the finished ones.
CREATE INDEX outbound_sweep ON outbound(state, updated_at);
