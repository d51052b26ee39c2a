//! The processes of this machine, from `/proc/<pid>/stat` (Linux; elsewhere none are listed).

/// One process: its id, its command name and the fields of its `stat` line after the name
/// (`fields[0]` the state, `[1]` the parent id, `[2]` the process group, `[11]`/`[12]` user and
/// system CPU in clock ticks).
#[derive(Debug)]
pub struct Proc {
    pub pid: u32,
    pub comm: String,
    pub fields: Vec<String>,
}

impl Proc {
    /// Field `i` (numbering as in [`Proc::fields`]) as a number; 0 when absent or not one.
    pub fn num(&self, i: usize) -> u64 {
        self.fields.get(i).and_then(|v| v.parse().ok()).unwrap_or(0)
    }
}

/// Every process whose `stat` could be read.
pub fn all() -> Vec<Proc> {
    let Ok(dir) = std::fs::read_dir("/proc") else { return Vec::new() };
    dir.flatten()
        .filter_map(|e| {
            let pid = e.file_name().to_str()?.parse::<u32>().ok()?;
            let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
            // `pid (comm) state ppid pgrp …`; comm may hold spaces and parentheses, so split at
            // the first '(' and the last ')'.
            let (head, rest) = stat.rsplit_once(')')?;
            let comm = head.split_once('(')?.1.to_owned();
            Some(Proc { pid, comm, fields: rest.split_whitespace().map(str::to_owned).collect() })
        })
        .collect()
}
