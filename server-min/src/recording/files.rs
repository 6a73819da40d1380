//! Recording files under `<data-dir>/recordings/<id>/`: chunks `<n>.chunk`, written first to
//! `<n>.<random>.part` and renamed once whole and synced (a crash leaves no half chunk under
//! a final name), and on completion the assembled `media` (the same way).

use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::time::Duration;

use axum::body::Body;
use http_body_util::BodyExt as _;
use sha2::{Digest as _, Sha256};
use tokio::io::AsyncWriteExt as _;

/// The directory name under `--data-dir`.
pub(crate) const DIR: &str = "recordings";

/// A chunk received into its temporary file.
#[derive(Debug)]
pub(crate) struct Received {
    pub(crate) temp: PathBuf,
    pub(crate) bytes: u64,
    /// SHA-256, lower-case hex.
    pub(crate) sha256: String,
}

/// Why a chunk body could not be received.
#[derive(Debug)]
pub(crate) enum ReceiveError {
    /// More than the limit arrived (the rest is not read).
    TooLarge,
    /// The body did not arrive within the timeout.
    Timeout,
    /// The client broke off.
    Body,
    /// The disk failed.
    Io(io::Error),
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn random_suffix() -> io::Result<String> {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).map_err(io::Error::other)?;
    Ok(hex(&bytes))
}

/// The recording files of one server.
#[derive(Debug, Clone)]
pub(crate) struct RecordingFiles {
    root: PathBuf,
}

impl RecordingFiles {
    pub(crate) fn new(data_dir: &Path) -> Self {
        Self {
            root: data_dir.join(DIR),
        }
    }

    fn dir(&self, id: &str) -> PathBuf {
        self.root.join(id)
    }

    pub(crate) fn chunk(&self, id: &str, n: u32) -> PathBuf {
        self.dir(id).join(format!("{n}.chunk"))
    }

    pub(crate) fn media(&self, id: &str) -> PathBuf {
        self.dir(id).join("media")
    }

    /// Streams `body` into a fresh temporary file of recording `id`, hashing as it goes; at
    /// most `limit` bytes, within `timeout`. The file is synced before this returns.
    pub(crate) async fn receive(
        &self,
        id: &str,
        n: u32,
        body: Body,
        limit: u64,
        timeout: Duration,
    ) -> Result<Received, ReceiveError> {
        let dir = self.dir(id);
        tokio::fs::create_dir_all(&dir)
            .await
            .map_err(ReceiveError::Io)?;
        let temp = dir.join(format!(
            "{n}.{}.part",
            random_suffix().map_err(ReceiveError::Io)?
        ));
        let file = tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp)
            .await
            .map_err(ReceiveError::Io)?;
        let result = match tokio::time::timeout(timeout, write_body(file, body, limit)).await {
            Ok(r) => r,
            Err(_) => Err(ReceiveError::Timeout),
        };
        match result {
            Ok((bytes, sha256)) => Ok(Received {
                temp,
                bytes,
                sha256,
            }),
            Err(e) => {
                let _ = tokio::fs::remove_file(&temp).await;
                Err(e)
            }
        }
    }

    /// Moves a received chunk to its final name (replacing a file nobody acknowledged).
    pub(crate) fn place(&self, temp: &Path, id: &str, n: u32) -> io::Result<()> {
        std::fs::rename(temp, self.chunk(id, n))?;
        sync_dir(&self.dir(id))
    }

    /// Concatenates chunks `0..count` into `media`; returns its size. Blocking.
    pub(crate) fn assemble(&self, id: &str, count: u32) -> io::Result<u64> {
        let dir = self.dir(id);
        std::fs::create_dir_all(&dir)?;
        let temp = dir.join(format!("media.{}.part", random_suffix()?));
        let write = || -> io::Result<u64> {
            let mut out = std::fs::File::create_new(&temp)?;
            let mut total = 0;
            for n in 0..count {
                let mut chunk = std::fs::File::open(self.chunk(id, n))?;
                total += io::copy(&mut chunk, &mut out)?;
            }
            out.flush()?;
            out.sync_all()?;
            Ok(total)
        };
        match write() {
            Ok(total) => {
                std::fs::rename(&temp, self.media(id))?;
                sync_dir(&dir)?;
                Ok(total)
            }
            Err(e) => {
                let _ = std::fs::remove_file(&temp);
                Err(e)
            }
        }
    }

    /// Removes chunks `0..count` once `media` holds them. Blocking; best effort.
    pub(crate) fn remove_chunks(&self, id: &str, count: u32) {
        for n in 0..count {
            let _ = std::fs::remove_file(self.chunk(id, n));
        }
    }

    /// Removes the temporary files a crash left behind. Blocking; best effort.
    pub(crate) fn clean_partials(&self) -> usize {
        let mut removed = 0;
        let Ok(dirs) = std::fs::read_dir(&self.root) else {
            return 0;
        };
        for dir in dirs.flatten() {
            let Ok(files) = std::fs::read_dir(dir.path()) else {
                continue;
            };
            for file in files.flatten() {
                let name = file.file_name();
                if name.to_string_lossy().ends_with(".part")
                    && std::fs::remove_file(file.path()).is_ok()
                {
                    removed += 1;
                }
            }
        }
        removed
    }
}

async fn write_body(
    mut file: tokio::fs::File,
    mut body: Body,
    limit: u64,
) -> Result<(u64, String), ReceiveError> {
    let mut hasher = Sha256::new();
    let mut total: u64 = 0;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| ReceiveError::Body)?;
        let Ok(data) = frame.into_data() else {
            continue; // trailers
        };
        total = total.saturating_add(data.len() as u64);
        if total > limit {
            return Err(ReceiveError::TooLarge);
        }
        hasher.update(&data);
        file.write_all(&data).await.map_err(ReceiveError::Io)?;
    }
    file.flush().await.map_err(ReceiveError::Io)?;
    file.sync_all().await.map_err(ReceiveError::Io)?;
    Ok((total, hex(&hasher.finalize())))
}

/// Makes a rename in `dir` durable (a no-op where directories cannot be opened).
fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    std::fs::File::open(dir)?.sync_all()?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}
