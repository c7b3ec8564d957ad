//! Safe extraction of uploaded archives (zip, tar, tar.gz) into a directory.
//!
//! The format is detected from magic bytes, never from the name. Every member path is
//! checked before anything is written: absolute paths, `..` components, links and device
//! nodes are refused as [`MediaError::Unsafe`]; nothing outside the destination can be
//! created. Decompression bombs are stopped by [`Limits`], enforced on the bytes actually
//! written (not on sizes the archive claims) and checked before each write, so an archive over
//! its limits never writes more than the limit. Tar metadata entries (long names, pax headers)
//! are read with a small size cap so they cannot exhaust memory either.
//!
//! On error the destination may hold a partial extraction; the caller removes it.

use std::fs::{self, File};
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
use std::path::Path;

use flate2::read::MultiGzDecoder;
use tar::EntryType;
use zip::ZipArchive;
use zip::result::ZipError;

use crate::{MediaError, Result};

/// Limits against archive bombs.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Maximum number of regular files; directory and metadata entries are limited to the same
    /// number separately.
    pub max_files: usize,
    /// Maximum total size of the extracted files, counted as they are written.
    pub max_total_bytes: u64,
    /// Maximum ratio of extracted to compressed size: per member for zip, for the whole
    /// stream for tar.gz (a plain tar is not compressed, its ratio is 1).
    pub max_ratio: u64,
    /// Largest single member; a member that declares more is refused before any of it is
    /// read, one that turns out larger is stopped at the limit.
    pub max_member_bytes: u64,
}

impl Default for Limits {
    /// 1 000 000 files, 64 GiB, ratio 100, 512 MiB a member.
    fn default() -> Self {
        Limits {
            max_files: 1_000_000,
            max_total_bytes: 64 << 30,
            max_ratio: 100,
            max_member_bytes: 512 << 20,
        }
    }
}

/// Largest tar metadata entry (GNU long name/link, pax header) that is read into memory.
const MAX_TAR_METADATA: u64 = 1 << 20;

/// Archive formats recognized by [`extract`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Zip,
    Tar,
    Gzip,
}

/// What the first bytes of a file say about its archive format.
fn detect(head: &[u8]) -> Result<Format> {
    if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
        Ok(Format::Zip)
    } else if head.starts_with(&[0x1F, 0x8B]) {
        Ok(Format::Gzip)
    } else if is_tar(head) {
        Ok(Format::Tar)
    } else if head.starts_with(b"BZh") {
        Err(MediaError::Unsupported(
            "bzip2 archives are not supported".into(),
        ))
    } else if head.starts_with(&[0xFD, b'7', b'z', b'X', b'Z', 0x00]) {
        Err(MediaError::Unsupported(
            "xz archives are not supported".into(),
        ))
    } else if head.starts_with(&[b'7', b'z', 0xBC, 0xAF, 0x27, 0x1C]) {
        Err(MediaError::Unsupported(
            "7z archives are not supported".into(),
        ))
    } else {
        Err(MediaError::Unsupported(
            "not a zip, tar or tar.gz archive".into(),
        ))
    }
}

/// Whether a 512-byte tar header block carries the POSIX/GNU "ustar" magic.
fn is_tar(head: &[u8]) -> bool {
    head.get(257..262) == Some(b"ustar".as_slice())
}

/// Reads until `buf` is full or the input ends; returns the number of bytes read.
fn read_up_to(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Extracts a zip, tar or tar.gz/tgz archive at `archive` into directory `dest` (which should
/// exist and be empty; it is created if missing). bzip2, xz and 7z archives are `Unsupported`.
///
/// Member paths are sanitized: absolute paths, `..` components, symlinks, hardlinks and
/// devices are refused with [`MediaError::Unsafe`] naming the member; `.` components and
/// empty components are dropped and directories are created as needed. [`Limits`] are
/// enforced on the bytes actually written → [`MediaError::TooLarge`]; zip archives whose
/// members share compressed data (overlapping-file bombs) are refused as `TooLarge` too.
///
/// Returns the relative paths (`/`-separated) of the regular files extracted, sorted in plain
/// string order, without duplicates.
pub fn extract(archive: &Path, dest: &Path, limits: &Limits) -> Result<Vec<String>> {
    let mut file = File::open(archive)?;
    let mut head = [0u8; 512];
    let len = read_up_to(&mut file, &mut head)?;
    let format = detect(&head[..len])?;
    file.seek(SeekFrom::Start(0))?;
    fs::create_dir_all(dest)?;

    let mut out = Extractor::new(dest, limits);
    if format == Format::Gzip {
        // The same ratio limit as zip's, over the whole compressed stream.
        let compressed = file.metadata()?.len().max(1);
        out.ratio_budget = Some(compressed.saturating_mul(limits.max_ratio));
    }
    match format {
        Format::Zip => out.zip(BufReader::new(file))?,
        Format::Tar => out.tar(BufReader::new(file))?,
        Format::Gzip => {
            let mut stream = MultiGzDecoder::new(BufReader::new(file));
            let mut block = [0u8; 512];
            let len =
                read_up_to(&mut stream, &mut block).map_err(|e| read_error("gzip stream", e))?;
            if !is_tar(&block[..len]) {
                return Err(MediaError::Unsupported(
                    "gzip file does not contain a tar archive".into(),
                ));
            }
            out.tar(io::Cursor::new(block).chain(stream))?;
        }
    }
    let mut files = out.files;
    files.sort_unstable();
    files.dedup();
    Ok(files)
}

/// Maps an error while reading archive data: malformed data is `Corrupt` (naming `what`),
/// anything else is a real I/O error.
fn read_error(what: &str, err: io::Error) -> MediaError {
    match err.kind() {
        io::ErrorKind::InvalidData
        | io::ErrorKind::InvalidInput
        | io::ErrorKind::UnexpectedEof
        | io::ErrorKind::Other => MediaError::Corrupt(format!("{what}: {err}")),
        // e.g. a zip member with an unknown compression method, found when it is read.
        io::ErrorKind::Unsupported => MediaError::Unsupported(format!("{what}: {err}")),
        _ => MediaError::Io(err),
    }
}

/// Maps an error while creating member `rel` in the destination: a clash between members
/// (a file where a directory is needed or the other way round) is the archive's fault.
fn place_error(rel: &str, err: io::Error) -> MediaError {
    match err.kind() {
        io::ErrorKind::NotADirectory
        | io::ErrorKind::IsADirectory
        | io::ErrorKind::AlreadyExists => MediaError::Corrupt(format!(
            "archive member {rel:?} clashes with another member: {err}"
        )),
        _ => MediaError::Io(err),
    }
}

fn zip_error(err: ZipError) -> MediaError {
    match err {
        ZipError::Io(e) => read_error("zip archive", e),
        ZipError::UnsupportedArchive(msg) => MediaError::Unsupported(format!("zip archive: {msg}")),
        ZipError::CompressionMethodNotSupported(method) => MediaError::Unsupported(format!(
            "zip archive: compression method {method} is not supported"
        )),
        ZipError::InvalidPassword => {
            MediaError::Unsupported("zip archive: encrypted members are not supported".into())
        }
        e => MediaError::Corrupt(format!("invalid zip archive: {e}")),
    }
}

/// The safe relative form of member path `raw`, with `/` separators, or `None` when it names
/// the destination itself (like `./`). Both `/` and `\` separate components.
fn sanitize(raw: &str) -> Result<Option<String>> {
    if raw.contains('\0') {
        return Err(MediaError::Unsafe(format!(
            "archive member {raw:?} has a NUL byte in its name"
        )));
    }
    if raw.starts_with(['/', '\\']) {
        return Err(MediaError::Unsafe(format!(
            "archive member {raw:?} has an absolute path"
        )));
    }
    let mut parts = Vec::new();
    for part in raw.split(['/', '\\']) {
        match part {
            "" | "." => {}
            ".." => {
                return Err(MediaError::Unsafe(format!(
                    "archive member {raw:?} escapes the destination"
                )));
            }
            _ if parts.is_empty() && is_drive(part) => {
                return Err(MediaError::Unsafe(format!(
                    "archive member {raw:?} has an absolute path"
                )));
            }
            _ => parts.push(part),
        }
    }
    Ok((!parts.is_empty()).then(|| parts.join("/")))
}

/// A Windows drive prefix such as `C:`.
fn is_drive(part: &str) -> bool {
    let bytes = part.as_bytes();
    bytes.len() == 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':'
}

/// Writes members into the destination while enforcing the limits.
struct Extractor<'a> {
    dest: &'a Path,
    limits: &'a Limits,
    files: Vec<String>,
    /// Directory and metadata entries seen.
    other_entries: usize,
    total_bytes: u64,
    /// For a compressed stream (tar.gz): the most bytes its ratio limit lets out.
    ratio_budget: Option<u64>,
}

impl<'a> Extractor<'a> {
    fn new(dest: &'a Path, limits: &'a Limits) -> Self {
        Extractor {
            dest,
            limits,
            files: Vec::new(),
            other_entries: 0,
            total_bytes: 0,
            ratio_budget: None,
        }
    }

    /// Counts a directory or metadata entry.
    fn count_other(&mut self) -> Result<()> {
        self.other_entries += 1;
        if self.other_entries > self.limits.max_files {
            return Err(MediaError::TooLarge(format!(
                "archive has more than {} directory or metadata entries",
                self.limits.max_files
            )));
        }
        Ok(())
    }

    /// Adds `bytes` to the total, failing when it goes over the limit.
    fn add_bytes(&mut self, bytes: u64) -> Result<()> {
        self.total_bytes = self.total_bytes.saturating_add(bytes);
        if self.total_bytes > self.limits.max_total_bytes {
            return Err(MediaError::TooLarge(format!(
                "archive contents exceed {} bytes",
                self.limits.max_total_bytes
            )));
        }
        if let Some(budget) = self.ratio_budget
            && self.total_bytes > budget
        {
            return Err(MediaError::TooLarge(format!(
                "archive expands beyond {budget} bytes (compression ratio over {})",
                self.limits.max_ratio
            )));
        }
        Ok(())
    }

    /// Refuses member `rel` when `size` (declared or written so far) is over the limit.
    fn check_member_size(&self, rel: &str, size: u64) -> Result<()> {
        if size > self.limits.max_member_bytes {
            return Err(MediaError::TooLarge(format!(
                "archive member {rel} is larger than the limit of {} bytes per file",
                self.limits.max_member_bytes
            )));
        }
        Ok(())
    }

    fn make_dir(&mut self, rel: Option<&str>) -> Result<()> {
        self.count_other()?;
        if let Some(rel) = rel {
            fs::create_dir_all(self.dest.join(rel)).map_err(|e| place_error(rel, e))?;
        }
        Ok(())
    }

    /// Streams `reader` into file `rel`. At most `max_bytes` may come out of this member
    /// (the zip ratio limit); every chunk is counted against the limits before it is written.
    /// Returns the number of bytes written.
    fn write_file(&mut self, rel: &str, reader: &mut impl Read, max_bytes: u64) -> Result<u64> {
        self.check_member_size(rel, 0)?;
        if self.files.len() >= self.limits.max_files {
            return Err(MediaError::TooLarge(format!(
                "archive has more than {} files",
                self.limits.max_files
            )));
        }
        let path = self.dest.join(rel);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(|e| place_error(rel, e))?;
        }
        let mut file = File::create(&path).map_err(|e| place_error(rel, e))?;
        let mut buf = vec![0u8; 64 << 10];
        let mut written = 0u64;
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(read_error(&format!("archive member {rel}"), e)),
            };
            written += n as u64;
            self.check_member_size(rel, written)?;
            if written > max_bytes {
                return Err(MediaError::TooLarge(format!(
                    "archive member {rel} expands beyond {max_bytes} bytes \
                     (compression ratio over {})",
                    self.limits.max_ratio
                )));
            }
            self.add_bytes(n as u64)?;
            file.write_all(&buf[..n])?;
        }
        self.files.push(rel.to_owned());
        Ok(written)
    }

    fn zip(&mut self, reader: impl Read + Seek) -> Result<()> {
        let mut zip = ZipArchive::new(reader).map_err(zip_error)?;
        if zip.has_overlapping_files().map_err(zip_error)? {
            return Err(MediaError::TooLarge(
                "zip archive members share compressed data (zip bomb)".into(),
            ));
        }
        for index in 0..zip.len() {
            let mut member = zip.by_index(index).map_err(zip_error)?;
            let name = member.name().map_err(zip_error)?.into_owned();
            if member.is_symlink() {
                return Err(MediaError::Unsafe(format!(
                    "archive member {name:?} is a symbolic link"
                )));
            }
            // File type bits of the Unix mode, when the archive records one.
            let file_type = member.unix_mode().unwrap_or(0) & 0o170_000;
            if !matches!(file_type, 0 | 0o100_000 | 0o040_000) {
                return Err(MediaError::Unsafe(format!(
                    "archive member {name:?} is not a regular file or directory"
                )));
            }
            let rel = sanitize(&name)?;
            if member.is_dir() || file_type == 0o040_000 {
                self.make_dir(rel.as_deref())?;
                continue;
            }
            let Some(rel) = rel else {
                return Err(MediaError::Unsafe(format!(
                    "archive member {name:?} has an empty path"
                )));
            };
            self.check_member_size(&rel, member.size())?;
            let max_bytes = member
                .compressed_size()
                .saturating_mul(self.limits.max_ratio);
            self.write_file(&rel, &mut member, max_bytes)?;
        }
        Ok(())
    }

    /// Extracts a tar stream. Entries are read raw so that GNU long names and pax headers,
    /// which the tar crate would otherwise buffer without bound, are size-checked first.
    fn tar(&mut self, reader: impl Read) -> Result<()> {
        let mut archive = tar::Archive::new(reader);
        let entries = archive
            .entries()
            .map_err(|e| read_error("tar archive", e))?
            .raw(true);
        let mut long_name: Option<Vec<u8>> = None;
        let mut pax_path: Option<Vec<u8>> = None;
        let mut pax_size: Option<u64> = None;
        for entry in entries {
            let mut entry = entry.map_err(|e| read_error("tar archive", e))?;
            let kind = entry.header().entry_type();
            let size = entry.size();

            if matches!(
                kind,
                EntryType::GNULongName
                    | EntryType::GNULongLink
                    | EntryType::XHeader
                    | EntryType::XGlobalHeader
            ) {
                self.count_other()?;
                if size > MAX_TAR_METADATA {
                    return Err(MediaError::TooLarge(format!(
                        "tar metadata entry of {size} bytes exceeds {MAX_TAR_METADATA} bytes"
                    )));
                }
                match kind {
                    EntryType::GNULongName => {
                        let mut name = Vec::new();
                        entry
                            .read_to_end(&mut name)
                            .map_err(|e| read_error("tar long name", e))?;
                        long_name = Some(name);
                    }
                    EntryType::XHeader => {
                        let extensions = entry
                            .pax_extensions()
                            .map_err(|e| read_error("tar pax header", e))?;
                        for extension in extensions.into_iter().flatten() {
                            let extension =
                                extension.map_err(|e| read_error("tar pax header", e))?;
                            match extension.key_bytes() {
                                b"path" => pax_path = Some(extension.value_bytes().to_vec()),
                                b"size" => {
                                    pax_size =
                                        extension.value().ok().and_then(|v| v.trim().parse().ok());
                                }
                                _ => {}
                            }
                        }
                    }
                    // Link targets and global headers are skipped (links are refused anyway).
                    _ => {}
                }
                continue;
            }

            let name_bytes = match (pax_path.take(), long_name.take()) {
                (Some(path), _) | (None, Some(path)) => path,
                (None, None) => entry.header().path_bytes().into_owned(),
            };
            let name_bytes = match name_bytes.iter().position(|&b| b == 0) {
                Some(nul) => &name_bytes[..nul],
                None => &name_bytes[..],
            };
            let name = String::from_utf8_lossy(name_bytes).into_owned();
            if pax_size.take().is_some_and(|declared| declared != size) {
                return Err(MediaError::Unsupported(format!(
                    "tar member {name:?} has its size only in a pax header (over 8 GiB)"
                )));
            }

            match kind {
                EntryType::Regular | EntryType::Continuous if !name.ends_with('/') => {
                    let rel = sanitize(&name)?.ok_or_else(|| {
                        MediaError::Unsafe(format!("archive member {name:?} has an empty path"))
                    })?;
                    self.check_member_size(&rel, size)?;
                    let written = self.write_file(&rel, &mut entry, u64::MAX)?;
                    if written < size {
                        return Err(MediaError::Corrupt(format!(
                            "tar member {name:?} is truncated ({written} of {size} bytes)"
                        )));
                    }
                }
                EntryType::Regular | EntryType::Continuous | EntryType::Directory => {
                    let rel = sanitize(&name)?;
                    // Directory entries carry no data normally; count any so it is bounded.
                    self.add_bytes(size)?;
                    self.make_dir(rel.as_deref())?;
                }
                EntryType::Symlink | EntryType::Link => {
                    return Err(MediaError::Unsafe(format!(
                        "archive member {name:?} is a link"
                    )));
                }
                EntryType::Char | EntryType::Block | EntryType::Fifo => {
                    return Err(MediaError::Unsafe(format!(
                        "archive member {name:?} is a device or pipe"
                    )));
                }
                other => {
                    return Err(MediaError::Unsupported(format!(
                        "tar member {name:?} has unsupported type {other:?}"
                    )));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitize_paths() {
        assert_eq!(sanitize("a/b.jpg").unwrap().as_deref(), Some("a/b.jpg"));
        assert_eq!(sanitize("./a//b.jpg").unwrap().as_deref(), Some("a/b.jpg"));
        assert_eq!(sanitize("a\\b.jpg").unwrap().as_deref(), Some("a/b.jpg"));
        assert_eq!(sanitize("./").unwrap(), None);
        assert_eq!(sanitize("a..b/c").unwrap().as_deref(), Some("a..b/c"));
        for bad in [
            "../evil",
            "a/../../evil",
            "/etc/passwd",
            "\\x",
            "C:/x",
            "c:",
            "a\0b",
        ] {
            assert!(
                matches!(sanitize(bad), Err(MediaError::Unsafe(_))),
                "{bad:?} accepted"
            );
        }
    }

    #[test]
    fn detect_formats() {
        assert_eq!(detect(b"PK\x03\x04rest").unwrap(), Format::Zip);
        assert_eq!(detect(&[0x1F, 0x8B, 8, 0]).unwrap(), Format::Gzip);
        let mut tar = [0u8; 512];
        tar[257..263].copy_from_slice(b"ustar\0");
        assert_eq!(detect(&tar).unwrap(), Format::Tar);
        assert!(matches!(
            detect(b"BZh91AY"),
            Err(MediaError::Unsupported(_))
        ));
        assert!(matches!(detect(b"hello"), Err(MediaError::Unsupported(_))));
        assert!(matches!(detect(b""), Err(MediaError::Unsupported(_))));
    }
}
