//! The floor for a durable write: N atomic durable replaces of one file in
//! DIR (write a temporary file, fdatasync it, rename it over the file,
//! fsync the folder), as openworkd does for each file a write changes.
//! Prints the total time in milliseconds. With THREADS > 1, each thread
//! replaces its own file N / THREADS times. With LOGS > 0, each replace is
//! followed by a line appended to each of LOGS files in DIR, each flushed
//! (`fdatasync`): the records a write keeps (its audit line, the decision
//! that let it through).
//!
//! Usage: replace DIR N [THREADS] [BYTES] [LOGS]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

fn replace(dir: &Path, name: &str, times: usize, bytes: &[u8], logs: usize) -> std::io::Result<()> {
    let folder = std::fs::File::open(dir)?;
    let target = dir.join(name);
    let mut records = (0..logs)
        .map(|k| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(dir.join(format!(".{name}.log{k}")))
        })
        .collect::<std::io::Result<Vec<_>>>()?;
    for i in 0..times {
        let temp: PathBuf = dir.join(format!(".{name}.{i}.tmp"));
        let mut file = std::fs::File::create(&temp)?;
        file.write_all(bytes)?;
        file.sync_data()?;
        std::fs::rename(&temp, &target)?;
        folder.sync_all()?;
        for record in &mut records {
            record.write_all(&bytes[..bytes.len().min(300)])?;
            record.write_all(b"\n")?;
            record.sync_data()?;
        }
    }
    Ok(())
}

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().unwrap_or_else(|| ".".into()));
    let count: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(500);
    let threads: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(1).max(1);
    let size: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(200);
    let logs: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(0);
    let bytes = vec![b'x'; size];
    std::fs::create_dir_all(&dir)?;
    let started = Instant::now();
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                let (dir, bytes) = (&dir, &bytes);
                scope.spawn(move || replace(dir, &format!("file{t}"), count / threads, bytes, logs))
            })
            .collect();
        workers
            .into_iter()
            .map(|w| {
                w.join()
                    .unwrap_or_else(|_| Err(std::io::Error::other("worker panicked")))
            })
            .collect::<std::io::Result<Vec<()>>>()
    })?;
    println!("{:.1}", started.elapsed().as_secs_f64() * 1000.0);
    Ok(())
}
