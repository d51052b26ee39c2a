//! Read → validate in parallel → write in order, in constant memory.
//!
//! One thread splits the input into records and sends them in chunks of [`CHUNK`] over a channel
//! that holds at most [`IN_FLIGHT`] chunks; the calling thread takes each chunk, has rayon process
//! its records on every core, and hands the results, in input order, to the sink. Memory is thus
//! bounded by (IN_FLIGHT + 2) chunks whatever the size of the input.

use std::sync::mpsc;

use rayon::prelude::*;

use crate::error::CliError;

/// Records per chunk.
pub const CHUNK: usize = 4096;
/// Chunks read ahead of the one being processed.
pub const IN_FLIGHT: usize = 2;

/// Runs `work` on every item of `source` in parallel and feeds the results to `sink`, chunk by
/// chunk, in input order. An error from the source ends the run after the items before it were
/// processed; an error from the sink stops the reader. The sink's error wins.
pub fn run<T, O, I, F, S>(source: I, work: F, sink: S) -> Result<(), CliError>
where
    I: Iterator<Item = Result<T, CliError>> + Send,
    T: Send,
    O: Send,
    F: Fn(T) -> O + Sync,
    S: FnMut(Vec<O>) -> Result<(), CliError>,
{
    run_chunks(source, |chunk: Vec<T>| chunk.into_par_iter().map(&work).collect(), sink)
}

/// Records per group in [`run_grouped`].
pub const SLICE: usize = 256;

/// As [`run`], for a source whose items are already groups of [`SLICE`] records: `work` takes one
/// group and returns one result; a chunk is [`CHUNK`] / [`SLICE`] groups.
pub fn run_grouped<T, O, I, F, S>(source: I, work: F, sink: S) -> Result<(), CliError>
where
    I: Iterator<Item = Result<T, CliError>> + Send,
    T: Send + Sync,
    O: Send,
    F: Fn(&T) -> O + Sync,
    S: FnMut(Vec<O>) -> Result<(), CliError>,
{
    run_chunks_of(CHUNK / SLICE, source, |chunk: Vec<T>| chunk.par_iter().map(&work).collect(), sink)
}

fn run_chunks<T, O, I, P, S>(source: I, process: P, sink: S) -> Result<(), CliError>
where
    I: Iterator<Item = Result<T, CliError>> + Send,
    T: Send,
    P: Fn(Vec<T>) -> Vec<O>,
    S: FnMut(Vec<O>) -> Result<(), CliError>,
{
    run_chunks_of(CHUNK, source, process, sink)
}

fn run_chunks_of<T, O, I, P, S>(per_chunk: usize, source: I, process: P, mut sink: S) -> Result<(), CliError>
where
    I: Iterator<Item = Result<T, CliError>> + Send,
    T: Send,
    P: Fn(Vec<T>) -> Vec<O>,
    S: FnMut(Vec<O>) -> Result<(), CliError>,
{
    std::thread::scope(|scope| {
        let (tx, rx) = mpsc::sync_channel::<Vec<T>>(IN_FLIGHT);
        let reader = scope.spawn(move || -> Result<(), CliError> {
            let mut buf = Vec::with_capacity(per_chunk);
            for item in source {
                match item {
                    Ok(t) => {
                        buf.push(t);
                        if buf.len() == per_chunk {
                            let full = std::mem::replace(&mut buf, Vec::with_capacity(per_chunk));
                            if tx.send(full).is_err() {
                                return Ok(()); // the sink stopped
                            }
                        }
                    }
                    Err(e) => {
                        if !buf.is_empty() {
                            let _ = tx.send(buf);
                        }
                        return Err(e);
                    }
                }
            }
            if !buf.is_empty() {
                let _ = tx.send(buf);
            }
            Ok(())
        });
        let mut written = Ok(());
        for chunk in &rx {
            let results = process(chunk);
            if let Err(e) = sink(results) {
                written = Err(e);
                break;
            }
        }
        drop(rx);
        let read = reader.join().unwrap_or_else(|_| Err(CliError::usage("the input reader failed")));
        written.and(read)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_order_across_chunks_and_reports_source_errors_after_earlier_items() {
        let n = CHUNK * 3 + 7;
        let mut seen = Vec::new();
        let source = (0..n).map(Ok::<usize, CliError>);
        run(
            source,
            |i| i * 2,
            |v| {
                seen.extend(v);
                Ok(())
            },
        )
        .expect("no error");
        assert_eq!(seen, (0..n).map(|i| i * 2).collect::<Vec<_>>());

        let mut seen = Vec::new();
        let source = (0..10).map(|i| if i == 5 { Err(CliError::usage("bad")) } else { Ok(i) });
        let r = run(
            source,
            |i| i,
            |v| {
                seen.extend(v);
                Ok(())
            },
        );
        assert!(r.is_err());
        assert_eq!(seen, vec![0, 1, 2, 3, 4]);
    }

    #[test]
    fn groups_keep_order_and_cover_every_item() {
        let n = CHUNK * 2 + SLICE + 3;
        let items: Vec<usize> = (0..n).collect();
        let mut seen = Vec::new();
        run_grouped(
            items.chunks(SLICE).map(|g| Ok::<Vec<usize>, CliError>(g.to_vec())),
            |s: &Vec<usize>| s.iter().map(|i| i * 2).collect::<Vec<_>>(),
            |v| {
                assert!(v.iter().all(|s| s.len() <= SLICE));
                seen.extend(v.into_iter().flatten());
                Ok(())
            },
        )
        .expect("no error");
        assert_eq!(seen, (0..n).map(|i| i * 2).collect::<Vec<_>>());
    }
}
