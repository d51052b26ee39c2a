//! `--state FILE`: the store as JSON, written to a temporary file, synced, then renamed over the
//! old one (and the directory synced), so a crash mid-write leaves the previous state intact.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use crate::store::Store;

/// The state file.
#[derive(Debug)]
pub struct Persist {
    path: PathBuf,
    written: AtomicU64,
    write_lock: Mutex<()>,
}

impl Persist {
    /// A state file at `path` (not read or written yet).
    pub fn new(path: PathBuf) -> Persist {
        Persist { path, written: AtomicU64::new(0), write_lock: Mutex::new(()) }
    }

    /// The generation last written.
    pub fn written(&self) -> u64 {
        self.written.load(Ordering::Acquire)
    }

    /// Reads the state; a missing file is an empty store, an unreadable one an error (never overwritten silently).
    pub fn load(&self) -> Result<Store, String> {
        match fs::read(&self.path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| format!("state file {} is not a sim state: {e}", self.path.display())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Store::default()),
            Err(e) => Err(format!("cannot read state file {}: {e}", self.path.display())),
        }
    }

    /// Writes `bytes` as generation `generation`, unless a newer one is already on disk.
    pub fn write(&self, generation: u64, bytes: &[u8]) -> io::Result<()> {
        let _guard = self.write_lock.lock().unwrap_or_else(|e| e.into_inner());
        if generation <= self.written() {
            return Ok(());
        }
        write_atomically(&self.path, bytes)?;
        self.written.store(generation, Ordering::Release);
        Ok(())
    }
}

/// temp file in the same directory → fsync → rename → fsync the directory.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "state".into());
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    {
        let mut f = OpenOptions::new().write(true).create(true).truncate(true).open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    if let Err(e) = fs::rename(&tmp, path) {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    if let Ok(d) = File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(())
}
