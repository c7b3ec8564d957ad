//! Zip chunks as CVAT stores them (api-v1 §7.2.5): writing uncompressed ("stored") zip files
//! of frames, naming their members, reading members back, and locating each member's bytes
//! inside the chunk file so a frame can be served as a byte range without copying.

use std::io::{Cursor, Read, Seek, Write};

use zip::result::ZipError;
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipArchive, ZipWriter};

use crate::{MediaError, Result};

fn zip_error(err: ZipError) -> MediaError {
    match err {
        ZipError::Io(e) => MediaError::Io(e),
        ZipError::UnsupportedArchive(msg) => MediaError::Unsupported(format!("zip: {msg}")),
        ZipError::CompressionMethodNotSupported(method) => {
            MediaError::Unsupported(format!("zip: compression method {method} is not supported"))
        }
        e => MediaError::Corrupt(format!("invalid zip: {e}")),
    }
}

/// Writes a zip chunk: members in the given order, stored (no compression), no directory
/// entries, names exactly as given. Returns the writer after the central directory is written.
pub fn write_zip_chunk<W: Write + Seek, B: AsRef<[u8]>>(
    out: W,
    members: impl IntoIterator<Item = (String, B)>,
) -> Result<W> {
    let mut zip = ZipWriter::new(out);
    for (name, data) in members {
        let data = data.as_ref();
        let options = SimpleFileOptions::default()
            .compression_method(CompressionMethod::Stored)
            .large_file(data.len() as u64 >= u64::from(u32::MAX));
        zip.start_file(name, options).map_err(zip_error)?;
        zip.write_all(data)?;
    }
    zip.finish().map_err(zip_error)
}

/// Writes a zip chunk like [`write_zip_chunk`] from files on disk, each copied through a
/// small buffer, so that a chunk of big originals never sits in memory.
pub fn write_zip_chunk_from_files<W: Write + Seek>(
    out: W,
    members: impl IntoIterator<Item = (String, std::path::PathBuf)>,
) -> Result<W> {
    let mut zip = ZipWriter::new(out);
    for (name, path) in members {
        let mut file = std::fs::File::open(&path)?;
        let len = file.metadata()?.len();
        let options = SimpleFileOptions::default()
            .compression_method(CompressionMethod::Stored)
            .large_file(len >= u64::from(u32::MAX));
        zip.start_file(name, options).map_err(zip_error)?;
        std::io::copy(&mut file, &mut zip)?;
    }
    zip.finish().map_err(zip_error)
}

/// Member name in a compressed chunk: `format!("{:06}.jpeg", index_in_chunk)`.
pub fn compressed_member_name(index_in_chunk: usize) -> String {
    format!("{index_in_chunk:06}.jpeg")
}

/// Member name in an original chunk: the index as six digits followed by the source file's
/// extension exactly as written (`".PNG"` stays `".PNG"`), or nothing when it has none.
pub fn original_member_name(index_in_chunk: usize, source_name: &str) -> String {
    format!(
        "{index_in_chunk:06}{}",
        crate::image::extension(source_name)
    )
}

/// Reads member `index` (0-based, in zip directory order) of a zip chunk held in memory,
/// returning its name and bytes. An index past the last member is `Corrupt`.
pub fn read_zip_member(zip_bytes: &[u8], index: usize) -> Result<(String, Vec<u8>)> {
    let mut zip = ZipArchive::new(Cursor::new(zip_bytes)).map_err(zip_error)?;
    if index >= zip.len() {
        return Err(MediaError::Corrupt(format!(
            "zip chunk has {} members, no member {index}",
            zip.len()
        )));
    }
    let mut member = zip.by_index(index).map_err(zip_error)?;
    let name = member.name().map_err(zip_error)?.into_owned();
    // The declared size only sizes the initial allocation, bounded by the input's size.
    let capacity = usize::try_from(member.size())
        .unwrap_or(usize::MAX)
        .min(zip_bytes.len());
    let mut data = Vec::with_capacity(capacity);
    member.read_to_end(&mut data).map_err(|e| {
        MediaError::Corrupt(format!(
            "zip chunk member {index} ({name}) is unreadable: {e}"
        ))
    })?;
    Ok((name, data))
}

/// Where each member's data lies inside a stored (uncompressed) zip chunk:
/// `(name, data_start, data_len)` in directory order, so a frame can be served as a byte range
/// of the chunk file. Only the zip directory and the members' local headers are read. A
/// compressed or encrypted member is `Unsupported`; a range outside the file is `Corrupt`.
pub fn stored_member_ranges<R: Read + Seek>(mut zip_file: R) -> Result<Vec<(String, u64, u64)>> {
    let file_len = zip_file.seek(std::io::SeekFrom::End(0))?;
    let mut zip = ZipArchive::new(zip_file).map_err(zip_error)?;
    let mut ranges = Vec::with_capacity(zip.len());
    for index in 0..zip.len() {
        let member = zip.by_index_raw(index).map_err(zip_error)?;
        let name = member.name().map_err(zip_error)?.into_owned();
        if member.compression() != CompressionMethod::Stored || member.encrypted() {
            return Err(MediaError::Unsupported(format!(
                "zip chunk member {name} is not stored uncompressed"
            )));
        }
        let start = member.data_start().ok_or_else(|| {
            MediaError::Corrupt(format!("zip chunk member {name} has no data offset"))
        })?;
        let len = member.size();
        if start.checked_add(len).is_none_or(|end| end > file_len) {
            return Err(MediaError::Corrupt(format!(
                "zip chunk member {name} lies outside the file"
            )));
        }
        ranges.push((name, start, len));
    }
    Ok(ranges)
}

/// Default chunk size for zip chunks (api-v1 §7.2.5):
/// `max(2, min(72, floor(36 * 1920 * 1080 / (width * height))))`; 72 for an empty size.
pub fn default_chunk_size(width: u32, height: u32) -> u32 {
    let area = u64::from(width) * u64::from(height);
    if area == 0 {
        return 72;
    }
    let size = 36 * 1920 * 1080 / area;
    // Bounded to 2..=72 before narrowing, so the cast is lossless.
    size.clamp(2, 72) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(compressed_member_name(0), "000000.jpeg");
        assert_eq!(compressed_member_name(1234567), "1234567.jpeg");
        assert_eq!(original_member_name(3, "dir/IMG_1.PNG"), "000003.PNG");
        assert_eq!(original_member_name(12, "photo.jpeg"), "000012.jpeg");
        assert_eq!(original_member_name(7, "README"), "000007");
        assert_eq!(original_member_name(7, ".hidden"), "000007");
        assert_eq!(original_member_name(8, "a.tar.gz"), "000008.gz");
    }

    #[test]
    fn chunk_sizes() {
        assert_eq!(default_chunk_size(584, 328), 72);
        assert_eq!(default_chunk_size(1920, 1080), 36);
        assert_eq!(default_chunk_size(4000, 3000), 6);
        assert_eq!(default_chunk_size(20_000, 20_000), 2);
        assert_eq!(default_chunk_size(0, 100), 72);
        assert_eq!(default_chunk_size(u32::MAX, u32::MAX), 2);
    }
}
