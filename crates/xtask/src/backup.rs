//! `cargo xtask backup` / `cargo xtask restore`: the local D1 database (`iys-edge`) to a SQL file
//! and back, with wrangler offline (the environment of toolchain.md §2).
//!
//! - `backup(root, out, persist_to)`: `wrangler d1 export iys-edge --local --output OUT`. wrangler's
//!   export has no `--persist-to`; it reads `<config dir>/.wrangler/state`. For another state
//!   directory it is run with a throw-away config (only the `[[d1_databases]]` block of the root
//!   `wrangler.toml`) in a temp dir whose `.wrangler/state` is a symlink to that directory.
//! - `restore(root, file, persist_to, force)`: `wrangler d1 execute iys-edge --local --persist-to DIR
//!   --file FILE` into a fresh directory; a directory that already holds anything is refused unless
//!   `force` (then it is emptied first). The export carries the schema and the `d1_migrations` table,
//!   so the restored database needs no `migrations apply`.
//!
//! This file is self-contained (no `crate::` paths) so the e2e test can include it with `#[path]`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const DB: &str = "iys-edge";

/// `wrangler` from `node_modules/.bin` with the offline environment every wrangler call gets
/// ([`crate::worker::command`]: Node 22 first on PATH, telemetry and the cf.json fetch off, no
/// Cloudflare account variables, so nothing can go remote), plain output, no prompts.
fn wrangler(root: &Path) -> Command {
    let mut cmd = crate::worker::command(root, root.join("node_modules").join(".bin").join("wrangler"));
    cmd.env("NO_COLOR", "1").env("CI", "1").current_dir(root).stdin(Stdio::null());
    cmd
}

fn run(mut cmd: Command, what: &str) -> Result<(), String> {
    let out = cmd.output().map_err(|e| format!("cannot start wrangler for {what}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{what} failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// The `[[d1_databases]]` block of the root `wrangler.toml` (the export needs the database id).
fn d1_block(root: &Path) -> Result<String, String> {
    let text = std::fs::read_to_string(root.join("wrangler.toml")).map_err(|e| format!("wrangler.toml: {e}"))?;
    let mut block = String::new();
    let mut inside = false;
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with('[') {
            inside = t == "[[d1_databases]]";
        }
        if inside {
            block.push_str(line);
            block.push('\n');
        }
    }
    if block.contains(&format!("\"{DB}\"")) {
        Ok(block)
    } else {
        Err(format!("wrangler.toml has no [[d1_databases]] block for {DB}"))
    }
}

/// Where `cargo xtask backup` writes without `--out`: `.wrangler/backups/iys-edge-<unix seconds>.sql`
/// (under the git-ignored `.wrangler/`, so a backup is never committed by accident).
pub fn default_out(root: &Path) -> PathBuf {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    root.join(".wrangler").join("backups").join(format!("iys-edge-{secs}.sql"))
}

/// Where `cargo xtask dev` keeps the relay's local D1, Queues and Durable Objects unless told
/// otherwise (relative to the repository root; git-ignored). Defined here, not in dev.rs, because
/// tests/backup.rs compiles this file on its own.
pub const DEV_STATE_DIR: &str = ".wrangler/dev-state";

/// The local state directory: `persist_to` (relative to the repository root unless absolute, as
/// `cargo xtask dev --persist-to` reads it), or the one `cargo xtask dev` uses by default.
fn state_dir(root: &Path, persist_to: Option<&Path>) -> PathBuf {
    root.join(persist_to.unwrap_or(Path::new(DEV_STATE_DIR)))
}

/// Exports the local D1 database to `out` (SQL: schema and rows). `persist_to` is the state
/// directory `cargo xtask dev --persist-to` (or `wrangler dev --persist-to`) used; `None` is
/// `cargo xtask dev`'s default `.wrangler/dev-state`.
pub fn backup(root: &Path, out: &Path, persist_to: Option<&Path>) -> Result<(), String> {
    let out = absolute(out)?;
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let state = state_dir(root, persist_to);
    if !state.join("v3").join("d1").is_dir() {
        return Err(format!(
            "{} holds no local D1 state (v3/d1); pass the --persist-to the relay ran with",
            state.display()
        ));
    }
    // `wrangler d1 export` has no --persist-to: a throwaway config whose `.wrangler/state` is the
    // state directory, kept alive until the export is done.
    let shim = TempDir::new("iys-backup")?;
    std::fs::write(shim.0.join("wrangler.toml"), format!("name = \"iys-backup\"\n\n{}", d1_block(root)?))
        .map_err(|e| format!("shim config: {e}"))?;
    std::fs::create_dir_all(shim.0.join(".wrangler")).map_err(|e| format!("shim: {e}"))?;
    std::os::unix::fs::symlink(&state, shim.0.join(".wrangler").join("state"))
        .map_err(|e| format!("shim link: {e}"))?;
    let mut cmd = wrangler(root);
    cmd.args(["d1", "export", DB, "--local", "--output"]).arg(&out).arg("--config").arg(shim.0.join("wrangler.toml"));
    run(cmd, "wrangler d1 export")?;
    let len = std::fs::metadata(&out).map(|m| m.len()).unwrap_or(0);
    if len == 0 {
        return Err(format!("the export {} is empty", out.display()));
    }
    eprintln!("backup: {} ({len} bytes)", out.display());
    Ok(())
}

/// Loads the SQL export `file` into a fresh local database under `persist_to` (as for [`backup`];
/// `None`: `cargo xtask dev`'s `.wrangler/dev-state`). A target that already holds anything is
/// refused unless `force`, which empties it first.
pub fn restore(root: &Path, file: &Path, persist_to: Option<&Path>, force: bool) -> Result<(), String> {
    let file = absolute(file)?;
    let text = std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
    if !text.contains("CREATE TABLE") {
        return Err(format!("{} is not a D1 export (no CREATE TABLE)", file.display()));
    }
    let state = state_dir(root, persist_to);
    let busy = std::fs::read_dir(&state).map(|mut d| d.next().is_some()).unwrap_or(false);
    if busy {
        if !force {
            return Err(format!(
                "{} is not empty; restore only into a fresh directory (or pass --force to replace it)",
                state.display()
            ));
        }
        std::fs::remove_dir_all(&state).map_err(|e| format!("{}: {e}", state.display()))?;
    }
    std::fs::create_dir_all(&state).map_err(|e| format!("{}: {e}", state.display()))?;
    let mut cmd = wrangler(root);
    cmd.args(["d1", "execute", DB, "--local", "--yes", "--persist-to"]).arg(&state).arg("--file").arg(&file);
    run(cmd, "wrangler d1 execute --file")?;
    eprintln!("restore: {} -> {}", file.display(), state.display());
    Ok(())
}

fn absolute(p: &Path) -> Result<PathBuf, String> {
    if p.is_absolute() {
        Ok(p.to_path_buf())
    } else {
        std::env::current_dir().map(|d| d.join(p)).map_err(|e| format!("current dir: {e}"))
    }
}

/// A temp directory removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(prefix: &str) -> Result<TempDir, String> {
        let nanos =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
        let dir = std::env::temp_dir().join(format!("{prefix}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        Ok(TempDir(dir))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        // The symlink is removed, not followed.
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
