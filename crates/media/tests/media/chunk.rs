//! Zip chunks: member order and names, reading back, byte ranges of stored members.

use std::io::{Cursor, Read};

use ::image::{ImageFormat, RgbImage};
use ferrocat_media::MediaError;
use ferrocat_media::chunk::{
    compressed_member_name, default_chunk_size, original_member_name, read_zip_member,
    stored_member_ranges, write_zip_chunk,
};
use ferrocat_media::image::{compress_frame, decode_rgb8};
use zip::{CompressionMethod, ZipArchive};

use crate::noise;

fn sample_members() -> Vec<(String, Vec<u8>)> {
    vec![
        (original_member_name(0, "dir/z_last.PNG"), noise(1000, 1)),
        (original_member_name(1, "a.jpeg"), noise(5, 2)),
        (original_member_name(2, "no_extension"), Vec::new()),
        (original_member_name(3, "b.tiff"), noise(100_000, 3)),
    ]
}

#[test]
fn chunk_members_in_order_and_read_back() {
    let members = sample_members();
    let zip = write_zip_chunk(Cursor::new(Vec::new()), members.clone())
        .expect("write chunk")
        .into_inner();

    let mut archive = ZipArchive::new(Cursor::new(&zip[..])).expect("valid zip");
    assert_eq!(archive.len(), members.len());
    for (index, (name, data)) in members.iter().enumerate() {
        let mut member = archive.by_index(index).expect("member");
        assert_eq!(member.name().expect("name"), name.as_str());
        assert_eq!(member.compression(), CompressionMethod::Stored);
        assert!(!member.is_dir());
        let mut read = Vec::new();
        member.read_to_end(&mut read).expect("read");
        assert_eq!(&read, data);
    }
    let names: Vec<_> = members.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(
        names,
        ["000000.PNG", "000001.jpeg", "000002", "000003.tiff"]
    );

    for (index, (name, data)) in members.iter().enumerate() {
        let (read_name, read_data) = read_zip_member(&zip, index).expect("read member");
        assert_eq!(&read_name, name);
        assert_eq!(&read_data, data);
    }
    assert!(matches!(
        read_zip_member(&zip, 4),
        Err(MediaError::Corrupt(_))
    ));
    assert!(read_zip_member(b"not a zip", 0).is_err());

    let ranges = stored_member_ranges(Cursor::new(&zip)).expect("ranges");
    assert_eq!(ranges.len(), members.len());
    for ((name, start, len), (want_name, data)) in ranges.iter().zip(&members) {
        assert_eq!(name, want_name);
        assert_eq!(*len, data.len() as u64);
        let start = *start as usize;
        assert_eq!(&zip[start..start + data.len()], &data[..]);
    }
}

#[test]
fn chunk_of_compressed_frames_in_a_file() {
    let source = {
        let mut out = Cursor::new(Vec::new());
        RgbImage::from_fn(64, 40, |x, y| ::image::Rgb([x as u8 * 4, y as u8 * 6, 128]))
            .write_to(&mut out, ImageFormat::Png)
            .expect("png");
        out.into_inner()
    };
    let frames: Vec<_> = (0..3)
        .map(|index| {
            let (dims, jpeg) = compress_frame(&source, 50 + index as u8 * 20).expect("compress");
            assert_eq!((dims.width, dims.height), (64, 40));
            (compressed_member_name(index), jpeg)
        })
        .collect();
    let file = tempfile::tempfile().expect("tempfile");
    let mut file = write_zip_chunk(file, frames.iter().map(|(n, d)| (n.clone(), d.as_slice())))
        .expect("write chunk");
    let mut zip = Vec::new();
    std::io::Seek::rewind(&mut file).expect("rewind");
    file.read_to_end(&mut zip).expect("read chunk");

    let ranges = stored_member_ranges(Cursor::new(&zip)).expect("ranges");
    let names: Vec<_> = ranges.iter().map(|(name, _, _)| name.as_str()).collect();
    assert_eq!(names, ["000000.jpeg", "000001.jpeg", "000002.jpeg"]);
    for (name, start, len) in ranges {
        let frame = &zip[start as usize..(start + len) as usize];
        let img = decode_rgb8(frame).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!((img.width, img.height), (64, 40));
    }
}

#[test]
fn empty_chunk_and_compressed_zip() {
    let empty = write_zip_chunk(Cursor::new(Vec::new()), Vec::<(String, Vec<u8>)>::new())
        .expect("empty chunk")
        .into_inner();
    assert_eq!(
        stored_member_ranges(Cursor::new(&empty)).expect("ranges"),
        Vec::new()
    );

    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options =
        zip::write::SimpleFileOptions::default().compression_method(CompressionMethod::Deflated);
    zip.start_file("000000.jpeg", options).expect("zip");
    std::io::Write::write_all(&mut zip, &[0u8; 1000]).expect("zip");
    let deflated = zip.finish().expect("zip").into_inner();
    assert!(matches!(
        stored_member_ranges(Cursor::new(&deflated)),
        Err(MediaError::Unsupported(_))
    ));
    // Reading works for any compression.
    assert_eq!(
        read_zip_member(&deflated, 0).expect("read").1,
        vec![0u8; 1000]
    );
}

#[test]
fn chunk_sizes() {
    assert_eq!(default_chunk_size(584, 328), 72);
    assert_eq!(default_chunk_size(1920, 1080), 36);
    assert_eq!(default_chunk_size(4000, 3000), 6);
}
