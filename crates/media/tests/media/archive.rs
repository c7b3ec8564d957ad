//! Archive extraction: nested zip/tar/tar.gz, zip slip and links, bombs and limits.

use std::fs;
use std::io::{Cursor, Write};
use std::path::Path;

use ferrocat_media::MediaError;
use ferrocat_media::archive::{Limits, extract};
use flate2::Compression;
use flate2::write::GzEncoder;
use tar::{EntryType, Header};
use tempfile::TempDir;
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

use crate::noise;

/// Members of the nested test archives: (path, contents).
fn nested_members() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("b.jpg", noise(3000, 1)),
        ("a/z.png", noise(10, 2)),
        ("a/b/c.txt", b"hello".to_vec()),
        ("A.bmp", Vec::new()),
        ("a/b/deep/er/x.gif", noise(70_000, 3)),
    ]
}

const NESTED_SORTED: [&str; 5] = [
    "A.bmp",
    "a/b/c.txt",
    "a/b/deep/er/x.gif",
    "a/z.png",
    "b.jpg",
];

fn zip_bytes(members: &[(&str, Vec<u8>)], dirs: &[&str]) -> Vec<u8> {
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default().compression_method(CompressionMethod::Deflated);
    for dir in dirs {
        zip.add_directory(*dir, options).expect("zip dir");
    }
    for (name, data) in members {
        zip.start_file(*name, options).expect("zip file");
        zip.write_all(data).expect("zip write");
    }
    zip.finish().expect("zip finish").into_inner()
}

/// A tar header for `path` written verbatim (the tar crate refuses unsafe names itself).
fn raw_header(path: &str, kind: EntryType, size: u64) -> Header {
    let mut header = Header::new_gnu();
    header.as_old_mut().name[..path.len()].copy_from_slice(path.as_bytes());
    header.set_entry_type(kind);
    header.set_size(size);
    header.set_mode(0o644);
    header.set_cksum();
    header
}

fn tar_bytes(members: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut tar = tar::Builder::new(Vec::new());
    tar.append(&raw_header("./a/", EntryType::Directory, 0), &[][..])
        .expect("tar dir");
    for (name, data) in members {
        let mut header = Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        tar.append_data(&mut header, name, &data[..])
            .expect("tar file");
    }
    tar.into_inner().expect("tar finish")
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
    gz.write_all(data).expect("gzip");
    gz.finish().expect("gzip")
}

/// Writes `bytes` to a file in a temp dir and extracts it into another.
fn extract_bytes(bytes: &[u8], limits: &Limits) -> (TempDir, Result<Vec<String>, MediaError>) {
    let src = TempDir::new().expect("tempdir");
    let archive = src.path().join("upload.bin");
    fs::write(&archive, bytes).expect("write archive");
    let dest = TempDir::new().expect("tempdir");
    let result = extract(&archive, dest.path(), limits);
    (dest, result)
}

#[track_caller]
fn assert_extracted(dest: &Path, files: &[String], members: &[(&str, Vec<u8>)]) {
    assert_eq!(files, NESTED_SORTED);
    for (name, data) in members {
        let name = name.trim_start_matches("./");
        assert_eq!(
            &fs::read(dest.join(name)).expect("extracted file"),
            data,
            "{name}"
        );
    }
}

#[test]
fn nested_zip_tar_and_tar_gz() {
    let members = nested_members();
    let limits = Limits::default();

    let zip = zip_bytes(&members, &["a/", "a/b/", "empty/"]);
    let (dest, files) = extract_bytes(&zip, &limits);
    assert_extracted(dest.path(), &files.expect("zip"), &members);
    assert!(dest.path().join("empty").is_dir());

    let tar = tar_bytes(&members);
    let (dest, files) = extract_bytes(&tar, &limits);
    assert_extracted(dest.path(), &files.expect("tar"), &members);

    let (dest, files) = extract_bytes(&gzip(&tar), &limits);
    assert_extracted(dest.path(), &files.expect("tar.gz"), &members);
}

#[test]
fn tar_long_names_and_pax_paths() {
    let long = format!("{}/{}.jpg", "d".repeat(120), "f".repeat(150));
    let mut tar = tar::Builder::new(Vec::new());
    // GNU long name (written by the tar crate for a path over 100 bytes).
    let mut header = Header::new_gnu();
    header.set_size(3);
    tar.append_data(&mut header, &long, &b"abc"[..])
        .expect("long");
    // A pax header giving the next member's path.
    // A pax record is "<length> <key>=<value>\n", the length counting its own digits.
    let record_body = " path=pax/dir/named by pax.png\n";
    let mut len = record_body.len() + 1;
    while len.to_string().len() + record_body.len() != len {
        len += 1;
    }
    let record = format!("{len}{record_body}");
    assert_eq!(record.len(), len);
    tar.append(
        &raw_header("PaxHeaders/x", EntryType::XHeader, record.len() as u64),
        record.as_bytes(),
    )
    .expect("pax");
    tar.append(&raw_header("short-name", EntryType::Regular, 2), &b"xy"[..])
        .expect("pax member");
    let tar = tar.into_inner().expect("tar");

    let (dest, files) = extract_bytes(&gzip(&tar), &Limits::default());
    let files = files.expect("extract");
    assert_eq!(
        files,
        [long.clone(), "pax/dir/named by pax.png".to_string()]
    );
    assert_eq!(fs::read(dest.path().join(&long)).expect("long"), b"abc");
    assert_eq!(
        fs::read(dest.path().join("pax/dir/named by pax.png")).expect("pax"),
        b"xy"
    );
}

#[track_caller]
fn assert_unsafe(bytes: &[u8], member: &str) {
    let (dest, result) = extract_bytes(bytes, &Limits::default());
    match result {
        // Messages quote the member name with Rust string escaping.
        Err(MediaError::Unsafe(msg)) => assert!(msg.contains(&format!("{member:?}")), "{msg}"),
        other => panic!("expected Unsafe for {member}, got {other:?}"),
    }
    // Nothing escaped next to the destination.
    let parent = dest.path().parent().expect("parent");
    assert!(!parent.join("evil").exists());
}

#[test]
fn zip_slip_absolute_paths_and_links() {
    let options = SimpleFileOptions::default();
    for name in [
        "../evil",
        "ok/../../evil",
        "/tmp/evil-abs",
        "C:/evil",
        "..\\evil",
    ] {
        let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
        zip.start_file("fine.txt", options).expect("zip");
        zip.write_all(b"ok").expect("zip");
        zip.start_file(name, options).expect("zip");
        zip.write_all(b"pwned").expect("zip");
        let zip = zip.finish().expect("zip").into_inner();
        assert_unsafe(&zip, name);
    }

    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    zip.add_symlink("link", "/etc/passwd", options)
        .expect("symlink");
    assert_unsafe(&zip.finish().expect("zip").into_inner(), "link");

    for (name, kind) in [
        ("../evil", EntryType::Regular),
        ("/etc/evil", EntryType::Regular),
        ("a/../../evil", EntryType::Directory),
        ("sym", EntryType::Symlink),
        ("hard", EntryType::Link),
        ("dev", EntryType::Char),
        ("pipe", EntryType::Fifo),
    ] {
        let mut tar = tar::Builder::new(Vec::new());
        tar.append(&raw_header(name, kind, 0), &[][..])
            .expect("tar");
        let tar = tar.into_inner().expect("tar");
        assert_unsafe(&tar, name);
        assert_unsafe(&gzip(&tar), name);
    }
}

#[test]
fn zip_bomb_stops_at_the_limit() {
    // 200 MB of zeros deflates to about 200 KB.
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .compression_level(Some(1))
        .large_file(false);
    zip.start_file("zeros.bmp", options).expect("zip");
    let block = vec![0u8; 1 << 20];
    for _ in 0..200 {
        zip.write_all(&block).expect("zip");
    }
    let bomb = zip.finish().expect("zip").into_inner();
    assert!(bomb.len() < 2 << 20, "bomb is {} bytes", bomb.len());

    let total = Limits {
        max_total_bytes: 8 << 20,
        ..Limits::default()
    };
    let (dest, result) = extract_bytes(&bomb, &total);
    assert!(matches!(result, Err(MediaError::TooLarge(_))), "{result:?}");
    let written = fs::metadata(dest.path().join("zeros.bmp")).map_or(0, |m| m.len());
    assert!(written <= 8 << 20, "wrote {written} bytes");

    let ratio = Limits {
        max_ratio: 50,
        ..Limits::default()
    };
    let (dest, result) = extract_bytes(&bomb, &ratio);
    assert!(matches!(result, Err(MediaError::TooLarge(_))), "{result:?}");
    let written = fs::metadata(dest.path().join("zeros.bmp")).map_or(0, |m| m.len());
    assert!(written <= (bomb.len() as u64) * 50, "wrote {written} bytes");
}

#[test]
fn file_count_and_tar_gz_size_limits() {
    let members = nested_members();
    let few = Limits {
        max_files: 4,
        ..Limits::default()
    };
    let (_, result) = extract_bytes(&zip_bytes(&members, &[]), &few);
    assert!(matches!(result, Err(MediaError::TooLarge(_))), "{result:?}");
    let (_, result) = extract_bytes(&gzip(&tar_bytes(&members)), &few);
    assert!(matches!(result, Err(MediaError::TooLarge(_))), "{result:?}");

    let small = Limits {
        max_total_bytes: 50_000,
        ..Limits::default()
    };
    let (_, result) = extract_bytes(&gzip(&tar_bytes(&members)), &small);
    assert!(matches!(result, Err(MediaError::TooLarge(_))), "{result:?}");

    // A tar long-name entry too large to buffer.
    let mut tar = tar::Builder::new(Vec::new());
    let huge = vec![b'n'; 2 << 20];
    tar.append(
        &raw_header("././@LongLink", EntryType::GNULongName, huge.len() as u64),
        &huge[..],
    )
    .expect("tar");
    let (_, result) = extract_bytes(&gzip(&tar.into_inner().expect("tar")), &Limits::default());
    assert!(matches!(result, Err(MediaError::TooLarge(_))), "{result:?}");
}

#[test]
fn unsupported_and_corrupt_archives() {
    let limits = Limits::default();
    for bytes in [
        b"BZh91AY&SY".to_vec(),
        b"\xFD7zXZ\x00\x00".to_vec(),
        b"7z\xBC\xAF\x27\x1C\x00\x04".to_vec(),
        b"just some text".to_vec(),
        Vec::new(),
        gzip(b"a gzip file that is not a tar"),
    ] {
        let (_, result) = extract_bytes(&bytes, &limits);
        assert!(
            matches!(result, Err(MediaError::Unsupported(_))),
            "{result:?}"
        );
    }

    let members = nested_members();
    let tar_gz = gzip(&tar_bytes(&members));
    let (_, result) = extract_bytes(&tar_gz[..tar_gz.len() * 3 / 4], &limits);
    assert!(matches!(result, Err(MediaError::Corrupt(_))), "{result:?}");

    let tar = tar_bytes(&members);
    let (_, result) = extract_bytes(&tar[..tar.len() - 2000], &limits);
    assert!(matches!(result, Err(MediaError::Corrupt(_))), "{result:?}");

    let zip = zip_bytes(&members, &[]);
    let (_, result) = extract_bytes(&zip[..zip.len() / 2], &limits);
    assert!(matches!(result, Err(MediaError::Corrupt(_))), "{result:?}");

    // Flipped bytes inside compressed data: an error, never a panic or a silent success.
    let mut damaged = zip.clone();
    for byte in &mut damaged[200..260] {
        *byte ^= 0x5A;
    }
    let (_, result) = extract_bytes(&damaged, &limits);
    assert!(result.is_err());

    // A file where another member needs a directory.
    let clash = zip_bytes(&[("a", b"file".to_vec()), ("a/b.jpg", b"x".to_vec())], &[]);
    let (_, result) = extract_bytes(&clash, &limits);
    assert!(matches!(result, Err(MediaError::Corrupt(_))), "{result:?}");

    let empty = ZipWriter::new(Cursor::new(Vec::new()))
        .finish()
        .expect("zip")
        .into_inner();
    let (_, result) = extract_bytes(&empty, &limits);
    assert_eq!(result.expect("empty zip"), Vec::<String>::new());
}

/// A tar.gz of one member of `size` zero bytes, made by streaming (never whole in memory).
fn zeros_tar_gz(size: u64) -> Vec<u8> {
    let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
    gz.write_all(raw_header("zeros.bmp", EntryType::Regular, size).as_bytes())
        .expect("gz");
    let block = vec![0u8; 1 << 20];
    let mut left = size;
    while left > 0 {
        let n = left.min(block.len() as u64) as usize;
        gz.write_all(&block[..n]).expect("gz");
        left -= n as u64;
    }
    gz.write_all(&vec![0u8; 1024 + (512 - (size % 512) as usize) % 512])
        .expect("gz");
    gz.finish().expect("gz")
}

#[test]
fn tar_gz_has_a_ratio_limit_too() {
    // 64 MB of zeros compress about 1000 times: over the default ratio of 100, and refused
    // when no more than ratio × compressed size was written.
    let bomb = zeros_tar_gz(64 << 20);
    let (dest, result) = extract_bytes(&bomb, &Limits::default());
    assert!(
        matches!(result, Err(MediaError::TooLarge(ref m)) if m.contains("ratio")),
        "{result:?}"
    );
    let written = fs::metadata(dest.path().join("zeros.bmp")).map_or(0, |m| m.len());
    assert!(written <= bomb.len() as u64 * 100, "wrote {written} bytes");
}

#[test]
fn a_member_over_the_size_limit_is_refused_before_it_is_read() {
    // Declares 4 GiB, holds 1 MB: refused from the header, nothing written.
    let mut tar = raw_header("big.jpg", EntryType::Regular, 4 << 30)
        .as_bytes()
        .to_vec();
    tar.extend(vec![0u8; 1 << 20]);
    let (dest, result) = extract_bytes(&tar, &Limits::default());
    assert!(
        matches!(result, Err(MediaError::TooLarge(ref m)) if m.contains("big.jpg")),
        "{result:?}"
    );
    assert!(!dest.path().join("big.jpg").exists());
    // Zip declares sizes too; and a member that is larger than it says stops at the limit.
    let small = Limits {
        max_member_bytes: 100_000,
        ..Limits::default()
    };
    let members = vec![("a.png", noise(200_000, 4))];
    let (_, result) = extract_bytes(&zip_bytes(&members, &[]), &small);
    assert!(matches!(result, Err(MediaError::TooLarge(_))), "{result:?}");
    let (_, result) = extract_bytes(&gzip(&tar_bytes(&members)), &small);
    assert!(matches!(result, Err(MediaError::TooLarge(_))), "{result:?}");
    let ok = Limits {
        max_member_bytes: 200_000,
        ..Limits::default()
    };
    let (_, result) = extract_bytes(&zip_bytes(&members, &[]), &ok);
    assert!(result.is_ok(), "{result:?}");
}
