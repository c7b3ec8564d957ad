//! Real images for tests, made with the `image` crate: noise and shapes so that they
//! compress like photos.

use std::io::Cursor;

use image::{DynamicImage, ImageFormat, Rgb, RgbImage};

/// A photo-like RGB image.
pub fn photo(w: u32, h: u32, seed: u32) -> RgbImage {
    let mut img = RgbImage::new(w, h);
    let mut s = seed.wrapping_mul(2654435761).wrapping_add(1);
    for (x, y, p) in img.enumerate_pixels_mut() {
        s ^= s << 13;
        s ^= s >> 17;
        s ^= s << 5;
        let noise = (s & 31) as i32 - 16;
        let base = [
            (x * 255 / w.max(1)) as i32,
            (y * 255 / h.max(1)) as i32,
            ((x + y + seed) % 256) as i32,
        ];
        let inside = (x as i32 - w as i32 / 2).pow(2) + (y as i32 - h as i32 / 2).pow(2)
            < (h as i32 / 3).pow(2);
        let c = |v: i32| (if inside { 255 - v } else { v } + noise).clamp(0, 255) as u8;
        *p = Rgb([c(base[0]), c(base[1]), c(base[2])]);
    }
    img
}

pub fn encode(img: &DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, format).unwrap();
    out.into_inner()
}

pub fn jpeg(w: u32, h: u32, seed: u32) -> Vec<u8> {
    encode(
        &DynamicImage::ImageRgb8(photo(w, h, seed)),
        ImageFormat::Jpeg,
    )
}

/// A zip archive of `(name, bytes)` members (deflated).
pub fn zip(members: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for (name, bytes) in members {
        w.start_file(*name, zip::write::SimpleFileOptions::default())
            .unwrap();
        std::io::Write::write_all(&mut w, bytes).unwrap();
    }
    w.finish().unwrap().into_inner()
}

/// The members of a zip, in directory order.
pub fn unzip(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut z = zip::ZipArchive::new(Cursor::new(bytes)).unwrap();
    (0..z.len())
        .map(|i| {
            let mut f = z.by_index(i).unwrap();
            let mut v = Vec::new();
            std::io::Read::read_to_end(&mut f, &mut v).unwrap();
            (f.name().unwrap().to_string(), v)
        })
        .collect()
}
