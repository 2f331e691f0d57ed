//! Byte transfers between a [`Stream`] and a file on the host: volume upload and download (`virStorageVolUpload`,
//! `virStorageVolDownload`, with offset, length and sparse holes) and any driver that streams a file it made (a
//! screenshot). Works on a path or an open file, so every storage backend with file-like volumes can use it.
//!
//! Each transfer runs its file I/O on one blocking thread that moves one packet at a time between the file and
//! the stream's bounded queues, so memory stays at a few packets whatever the size, and a stalled peer stalls
//! the file reader instead of filling memory.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{fallocate, FallocateFlags};
use nix::unistd::{lseek, Whence};

use super::stream::{Packet, Stream, STREAM_CHUNK};
use crate::error::{Error, ErrorCode, ErrorDomain, Result};

/// `VIR_STORAGE_VOL_UPLOAD_SPARSE_STREAM` and `VIR_STORAGE_VOL_DOWNLOAD_SPARSE_STREAM`.
pub const SPARSE_STREAM: u32 = 1;

fn sys(context: String, err: &std::io::Error) -> Error {
    Error::system(ErrorDomain::STORAGE, context, err)
}

fn errno_error(context: String, errno: Errno) -> Error {
    sys(context, &std::io::Error::from_raw_os_error(errno as i32))
}

fn to_off(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// Opens `path` for a download of `length` bytes (0: to the end) from `offset`.
pub fn download(path: &Path, offset: u64, length: u64, flags: u32) -> Result<Stream> {
    let file = File::open(path).map_err(|err| {
        sys(
            format!("Unable to open stream for '{}'", path.display()),
            &err,
        )
    })?;
    Ok(download_file(
        file,
        path.display().to_string(),
        offset,
        length,
        flags & SPARSE_STREAM != 0,
    ))
}

/// Streams an open file from `offset`, `length` bytes (0: to its end); `sparse` sends its holes as holes.
pub fn download_file(file: File, name: String, offset: u64, length: u64, sparse: bool) -> Stream {
    let (user, mut driver) = Stream::pair();
    tokio::task::spawn_blocking(move || {
        let end = if length == 0 {
            u64::MAX
        } else {
            offset.saturating_add(length)
        };
        match send_file(&file, &name, &driver, offset, end, sparse) {
            Ok(true) => {
                if driver.blocking_send(Packet::Eof).is_ok() {
                    blocking_await_finish(&mut driver);
                }
            }
            Ok(false) => {} // the user went away
            Err(err) => {
                let _ = driver.blocking_send(Packet::Error(err));
            }
        }
    });
    user
}

/// [`await_finish`] from the blocking thread: a `Finish` is confirmed; anything else ends the stream.
fn blocking_await_finish(driver: &mut Stream) {
    if let Some(Packet::Finish) = driver.blocking_recv() {
        let _ = driver.blocking_send(Packet::Done);
    }
}

/// Sends `[pos, end)` of the file (or up to its end of file); false when the user went away.
fn send_file(
    file: &File,
    name: &str,
    driver: &Stream,
    mut pos: u64,
    end: u64,
    sparse: bool,
) -> Result<bool> {
    let size = file
        .metadata()
        .map_err(|err| sys(format!("Unable to stat '{name}'"), &err))?
        .len();
    let end = end.min(size.max(pos));
    let mut buf = vec![0u8; STREAM_CHUNK];
    while pos < end {
        // How much data follows before the next hole (all of it when not sparse).
        let mut data_end = end;
        if sparse {
            let data = match lseek(file, to_off(pos), Whence::SeekData) {
                Ok(data) => u64::try_from(data).unwrap_or(end).min(end),
                Err(Errno::ENXIO) => end, // only a hole is left
                Err(errno) => {
                    return Err(errno_error(format!("unable to seek in '{name}'"), errno))
                }
            };
            if data > pos {
                if driver.blocking_send(Packet::Hole(data - pos)).is_err() {
                    return Ok(false);
                }
                pos = data;
                continue;
            }
            data_end = match lseek(file, to_off(pos), Whence::SeekHole) {
                Ok(hole) => u64::try_from(hole).unwrap_or(end).min(end),
                Err(errno) => {
                    return Err(errno_error(format!("unable to seek in '{name}'"), errno))
                }
            };
        }
        while pos < data_end {
            let want = usize::try_from(data_end - pos)
                .unwrap_or(usize::MAX)
                .min(STREAM_CHUNK);
            let got = file
                .read_at(&mut buf[..want], pos)
                .map_err(|err| sys(format!("Unable to read {name}"), &err))?;
            if got == 0 {
                return Ok(true); // the file shrank under us: its end is the end
            }
            if driver
                .blocking_send(Packet::Data(buf[..got].to_vec()))
                .is_err()
            {
                return Ok(false);
            }
            pos += got as u64;
        }
    }
    Ok(true)
}

/// Opens `path` (which must exist) for an upload of at most `length` bytes (0: no limit) written from `offset`.
pub fn upload(path: &Path, offset: u64, length: u64, flags: u32) -> Result<Stream> {
    let file = OpenOptions::new().write(true).open(path).map_err(|err| {
        sys(
            format!("Unable to open stream for '{}'", path.display()),
            &err,
        )
    })?;
    let name = path.display().to_string();
    let sparse = flags & SPARSE_STREAM != 0;
    let (user, mut driver) = Stream::pair();
    tokio::task::spawn_blocking(move || {
        let mut sink = Upload {
            file: &file,
            name: &name,
            pos: offset,
            end: if length == 0 {
                u64::MAX
            } else {
                offset.saturating_add(length)
            },
            sparse,
        };
        loop {
            let step = match driver.blocking_recv() {
                Some(Packet::Data(bytes)) => sink.write(&bytes),
                Some(Packet::Hole(len)) => sink.hole(len),
                Some(Packet::Eof) => Ok(()),
                Some(Packet::Finish) => {
                    let verdict = match sink.commit() {
                        Ok(()) => Packet::Done,
                        Err(err) => Packet::Error(err),
                    };
                    let _ = driver.blocking_send(verdict);
                    return;
                }
                // Abort, an error from the user, or the user gone: what was written stays, as with libvirt.
                Some(Packet::Abort | Packet::Error(_) | Packet::Done) | None => return,
            };
            if let Err(err) = step {
                let _ = driver.blocking_send(Packet::Error(err));
                return;
            }
        }
    });
    Ok(user)
}

struct Upload<'a> {
    file: &'a File,
    name: &'a str,
    pos: u64,
    end: u64,
    sparse: bool,
}

impl Upload<'_> {
    fn room(&self, len: u64) -> Result<()> {
        if self.pos.saturating_add(len) > self.end {
            return Err(sys(
                "cannot write to stream".into(),
                &std::io::Error::from_raw_os_error(libc::ENOSPC),
            ));
        }
        Ok(())
    }

    fn write(&mut self, bytes: &[u8]) -> Result<()> {
        self.room(bytes.len() as u64)?;
        self.file
            .write_all_at(bytes, self.pos)
            .map_err(|err| sys(format!("Unable to write {}", self.name), &err))?;
        self.pos += bytes.len() as u64;
        Ok(())
    }

    /// A hole reads as zeros afterwards: inside the file its blocks are punched out, past the end the file is
    /// extended at commit.
    fn hole(&mut self, len: u64) -> Result<()> {
        if !self.sparse {
            return Err(Error::new(
                ErrorCode::RPC,
                ErrorDomain::RPC,
                "Unexpected stream hole",
            ));
        }
        self.room(len)?;
        let size = self
            .file
            .metadata()
            .map_err(|err| sys(format!("Unable to stat '{}'", self.name), &err))?
            .len();
        let inside = size.saturating_sub(self.pos).min(len);
        if inside > 0 {
            fallocate(
                self.file,
                FallocateFlags::FALLOC_FL_PUNCH_HOLE | FallocateFlags::FALLOC_FL_KEEP_SIZE,
                to_off(self.pos),
                to_off(inside),
            )
            .map_err(|errno| {
                errno_error(format!("unable to punch a hole in '{}'", self.name), errno)
            })?;
        }
        self.pos += len;
        Ok(())
    }

    fn commit(&mut self) -> Result<()> {
        let size = self
            .file
            .metadata()
            .map_err(|err| sys(format!("Unable to stat '{}'", self.name), &err))?
            .len();
        if self.pos > size {
            self.file
                .set_len(self.pos)
                .map_err(|err| sys(format!("Unable to extend '{}'", self.name), &err))?;
        }
        self.file
            .sync_data()
            .map_err(|err| sys(format!("Unable to sync '{}'", self.name), &err))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    fn temp(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("virtcim-volio-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    async fn collect(mut user: Stream) -> Vec<Packet> {
        let mut packets = Vec::new();
        loop {
            let packet = user.recv().await.unwrap();
            let last = matches!(packet, Packet::Eof | Packet::Error(_));
            packets.push(packet);
            if last {
                break;
            }
        }
        user.finish().await.unwrap();
        packets
    }

    #[tokio::test]
    async fn sparse_files_round_trip_with_their_holes() {
        let dir = temp("sparse");
        let src = dir.join("src");
        let file = File::create(&src).unwrap();
        file.set_len(8 << 20).unwrap();
        file.write_all_at(b"head", 0).unwrap();
        file.write_all_at(b"tail", (8 << 20) - 4).unwrap();
        drop(file);
        let packets = collect(download(&src, 0, 0, SPARSE_STREAM).unwrap()).await;
        assert!(packets
            .iter()
            .any(|p| matches!(p, Packet::Hole(n) if *n > 1 << 20)));
        let dst = dir.join("dst");
        File::create(&dst).unwrap();
        let mut up = upload(&dst, 0, 0, SPARSE_STREAM).unwrap();
        for packet in packets {
            if packet != Packet::Eof {
                up.send(packet).await.unwrap();
            }
        }
        up.finish().await.unwrap();
        assert_eq!(std::fs::read(&src).unwrap(), std::fs::read(&dst).unwrap());
        assert!(
            std::fs::metadata(&dst).unwrap().blocks() < 1024,
            "holes kept"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test]
    async fn offset_and_length_bound_both_directions() {
        let dir = temp("range");
        let path = dir.join("vol");
        std::fs::write(&path, b"0123456789").unwrap();
        let packets = collect(download(&path, 2, 3, 0).unwrap()).await;
        assert_eq!(packets, vec![Packet::Data(b"234".to_vec()), Packet::Eof]);
        let mut up = upload(&path, 4, 2, 0).unwrap();
        up.send(Packet::Data(b"ab".to_vec())).await.unwrap();
        up.finish().await.unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"0123ab6789");
        let mut up = upload(&path, 8, 1, 0).unwrap();
        up.send(Packet::Data(b"xyz".to_vec())).await.unwrap();
        let err = up.finish().await.unwrap_err();
        assert!(err.message.contains("No space left"), "{err:?}");
        let mut up = upload(&path, 0, 0, 0).unwrap();
        up.send(Packet::Hole(2)).await.unwrap();
        assert_eq!(
            up.finish().await.unwrap_err().message,
            "Unexpected stream hole"
        );
        assert!(upload(&dir.join("missing"), 0, 0, 0).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
