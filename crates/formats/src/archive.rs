//! Reading uploaded archives safely, and writing export zips.
//!
//! Every importer reads zips through [`read_entries`]: at most [`MAX_ENTRIES`]
//! entries, at most [`MAX_INFLATED`] bytes inflated in all (zip bombs stop there),
//! and archivers' metadata (`__MACOSX/`, dotfiles) skipped.

use std::io::{self, Read, Seek, Write};

/// Largest inflated size of all wanted files of a zip.
pub const MAX_INFLATED: u64 = 256 << 20;
/// Most entries a zip may have.
pub const MAX_ENTRIES: usize = 10_000;

/// Whether `bytes` start like a zip archive.
pub fn is_zip(bytes: &[u8]) -> bool {
    bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(b"PK\x05\x06")
}

/// Files that archivers add beside the content (`__MACOSX/`, `._name`, dotfiles).
pub fn is_metadata(path: &str) -> bool {
    path.split('/')
        .any(|part| part == "__MACOSX" || part.starts_with('.'))
}

/// The regular files of the zip `bytes` whose path `want` accepts (metadata skipped),
/// in archive order, as `(path, content)`.
pub fn read_entries(
    bytes: &[u8],
    want: impl Fn(&str) -> bool,
) -> Result<Vec<(String, Vec<u8>)>, String> {
    read_entries_from(io::Cursor::new(bytes), want)
}

/// [`read_entries`] from a reader of the zip.
pub fn read_entries_from<R: Read + Seek>(
    r: R,
    want: impl Fn(&str) -> bool,
) -> Result<Vec<(String, Vec<u8>)>, String> {
    let mut zip =
        zip::ZipArchive::new(r).map_err(|e| format!("The file is not a valid zip archive: {e}"))?;
    if zip.len() > MAX_ENTRIES {
        return Err(format!("The archive has more than {MAX_ENTRIES} entries"));
    }
    let mut budget = MAX_INFLATED;
    let mut out = Vec::new();
    for i in 0..zip.len() {
        let mut f = zip
            .by_index(i)
            .map_err(|e| format!("Damaged archive: {e}"))?;
        let name = f.name().map(|n| n.to_string()).unwrap_or_default();
        if !f.is_file() || is_metadata(&name) || !want(&name) {
            continue;
        }
        let mut buf = Vec::new();
        let n = (&mut f)
            .take(budget + 1)
            .read_to_end(&mut buf)
            .map_err(|e| format!("{name}: {e}"))? as u64;
        if n > budget {
            return Err(format!(
                "The archive inflates to more than {} MB",
                MAX_INFLATED >> 20
            ));
        }
        budget -= n;
        out.push((name, buf));
    }
    Ok(out)
}

/// A zip being written by an exporter: deflated entries.
pub struct ZipOut<W: Write + Seek> {
    zip: zip::ZipWriter<W>,
}

fn zip_err(e: zip::result::ZipError) -> io::Error {
    io::Error::other(e.to_string())
}

impl<W: Write + Seek> ZipOut<W> {
    pub fn new(out: W) -> Self {
        ZipOut {
            zip: zip::ZipWriter::new(out),
        }
    }

    /// Starts the entry `path`; write its content through the returned writer.
    pub fn file(&mut self, path: &str) -> io::Result<&mut zip::ZipWriter<W>> {
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .large_file(false);
        self.zip.start_file(path, opts).map_err(zip_err)?;
        Ok(&mut self.zip)
    }

    /// Adds an entry stored as is (for JPEG images, which deflate gains nothing on).
    pub fn stored(&mut self, path: &str, bytes: &[u8]) -> io::Result<()> {
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        self.zip.start_file(path, opts).map_err(zip_err)?;
        self.zip.write_all(bytes)
    }

    /// Adds an empty directory entry.
    pub fn dir(&mut self, path: &str) -> io::Result<()> {
        self.zip
            .add_directory(path, zip::write::SimpleFileOptions::default())
            .map_err(zip_err)
    }

    pub fn finish(self) -> io::Result<W> {
        self.zip.finish().map_err(zip_err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_and_skip_metadata() {
        let mut z = ZipOut::new(io::Cursor::new(Vec::new()));
        z.file("a/b.txt").unwrap().write_all(b"hello").unwrap();
        z.file("__MACOSX/a/._b.txt")
            .unwrap()
            .write_all(b"x")
            .unwrap();
        z.stored("img/c.jpg", b"\xff\xd8").unwrap();
        z.dir("empty/").unwrap();
        let bytes = z.finish().unwrap().into_inner();
        assert!(is_zip(&bytes));
        let got = read_entries(&bytes, |_| true).unwrap();
        assert_eq!(
            got,
            vec![
                ("a/b.txt".to_string(), b"hello".to_vec()),
                ("img/c.jpg".to_string(), b"\xff\xd8".to_vec())
            ]
        );
        assert!(read_entries(b"PK\x03\x04junk", |_| true).is_err());
    }
}
