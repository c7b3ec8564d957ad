//! Hostile inputs that the resource test and the media benchmark both use (included by
//! `#[path]` in each, as they are separate crates).

use std::io::Write;
use std::path::{Path, PathBuf};

/// A gzipped tar of one `size`-byte member of zeros, at the best compression (about
/// size / 1000: a 4 GiB member in 4 MB), made once in `dir` and kept there.
pub fn zeros_tar_gz(size: u64, dir: &Path) -> PathBuf {
    let path = dir.join(format!("zeros-{size}-best.tar.gz"));
    if path.exists() {
        return path;
    }
    let tmp = path.with_extension(format!("part{}", std::process::id()));
    let mut gz = flate2::write::GzEncoder::new(
        std::io::BufWriter::new(std::fs::File::create(&tmp).unwrap()),
        flate2::Compression::best(),
    );
    let mut header = tar::Header::new_gnu();
    header.set_path("zeros.bmp").unwrap();
    header.set_size(size);
    header.set_mode(0o644);
    header.set_cksum();
    gz.write_all(header.as_bytes()).unwrap();
    let block = vec![0u8; 1 << 20];
    let mut left = size;
    while left > 0 {
        let n = left.min(block.len() as u64) as usize;
        gz.write_all(&block[..n]).unwrap();
        left -= n as u64;
    }
    gz.write_all(&[0u8; 1024]).unwrap();
    gz.finish().unwrap().flush().unwrap();
    std::fs::rename(&tmp, &path).unwrap();
    path
}
