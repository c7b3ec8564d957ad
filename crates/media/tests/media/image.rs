//! Decoding, probing, encoding and previews on images written by the `image` crate's encoders
//! (and hand-made headers for the cases those encoders cannot produce).

use std::io::{Cursor, Write};
use std::time::{Duration, Instant};

use ::image::{
    DynamicImage, ImageBuffer, ImageFormat, Luma, LumaA, Rgb, RgbImage, Rgba, RgbaImage,
};
use ferrocat_media::MediaError;
use ferrocat_media::image::{
    MAX_PIXELS, MediaKind, Rgb8, Rgb8Dims, check_limits, classify_name, compress_frame,
    decode_rgb8, encode_jpeg, mime_for_name, preview_jpeg, probe_size,
};

use crate::noise;

const W: u32 = 70;
const H: u32 = 46;
const RED: [u8; 3] = [255, 0, 0];
const BLUE: [u8; 3] = [0, 0, 255];

/// Left half `left`, right half `right`.
fn halves<P: ::image::Pixel>(left: P, right: P) -> ImageBuffer<P, Vec<P::Subpixel>> {
    ImageBuffer::from_fn(W, H, |x, _| if x < W / 2 { left } else { right })
}

fn write(img: impl Into<DynamicImage>, format: ImageFormat) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    img.into()
        .write_to(&mut out, format)
        .expect("encode test image");
    out.into_inner()
}

fn pixel(img: &Rgb8, x: u32, y: u32) -> [u8; 3] {
    let i = (y as usize * img.width as usize + x as usize) * 3;
    [img.data[i], img.data[i + 1], img.data[i + 2]]
}

/// Decodes `bytes` and checks size, probe and both halves' colors within `tolerance`.
#[track_caller]
fn check_halves(bytes: &[u8], left: [u8; 3], right: [u8; 3], tolerance: u8) {
    let img = decode_rgb8(bytes).expect("decode");
    assert_eq!((img.width, img.height), (W, H));
    assert_eq!(img.data.len(), (W * H * 3) as usize);
    assert_eq!(probe_size(bytes).expect("probe"), (W, H));
    for y in [0, H / 2, H - 1] {
        for (x, want) in [(W / 4, left), (3 * W / 4, right), (2, left), (W - 3, right)] {
            let got = pixel(&img, x, y);
            let close = got
                .iter()
                .zip(want)
                .all(|(&g, w)| g.abs_diff(w) <= tolerance);
            assert!(close, "pixel ({x},{y}) is {got:?}, expected about {want:?}");
        }
    }
}

#[test]
fn jpeg_rgb_and_grey() {
    let rgb = write(
        RgbImage::from(halves(Rgb(RED), Rgb(BLUE))),
        ImageFormat::Jpeg,
    );
    check_halves(&rgb, RED, BLUE, 40);
    let grey = write(halves(Luma([200u8]), Luma([50u8])), ImageFormat::Jpeg);
    check_halves(&grey, [200; 3], [50; 3], 12);
}

/// Real-world JPEG quirks: progressive scans, a missing end marker, data after the end marker.
#[test]
fn jpeg_progressive_and_end_marker_quirks() {
    let rgb = RgbImage::from(halves(Rgb(RED), Rgb(BLUE))).into_raw();
    let mut progressive = Vec::new();
    let mut encoder = jpeg_encoder::Encoder::new(&mut progressive, 90);
    encoder.set_progressive(true);
    encoder
        .encode(&rgb, W as u16, H as u16, jpeg_encoder::ColorType::Rgb)
        .expect("encode progressive");
    assert!(progressive.windows(2).any(|w| w == [0xFF, 0xC2]));
    check_halves(&progressive, RED, BLUE, 40);
    let cut = &progressive[..progressive.len() * 2 / 3];
    assert!(matches!(decode_rgb8(cut), Err(MediaError::Corrupt(_))));

    let baseline = write(
        RgbImage::from(halves(Rgb(RED), Rgb(BLUE))),
        ImageFormat::Jpeg,
    );
    assert!(baseline.ends_with(&[0xFF, 0xD9]));
    // Complete scan data without the final EOI marker, as some cameras write it.
    check_halves(&baseline[..baseline.len() - 2], RED, BLUE, 40);
    // Trailing data after EOI (padding, maker trailers, a second MPF image).
    let mut trailer = baseline.clone();
    trailer.extend_from_slice(&[0; 100]);
    trailer.extend_from_slice(&baseline[..baseline.len() / 2]);
    check_halves(&trailer, RED, BLUE, 40);
}

/// CMYK and YCCK JPEGs (Adobe APP14), written by jpeg-encoder.
#[test]
fn jpeg_cmyk_and_ycck() {
    // Red is C=0 M=255 Y=255 K=0, blue is C=255 M=255 Y=0 K=0.
    let data: Vec<u8> = (0..W * H)
        .flat_map(|i| {
            if i % W < W / 2 {
                [0, 255, 255, 0]
            } else {
                [255, 255, 0, 0]
            }
        })
        .collect();
    for color in [
        jpeg_encoder::ColorType::Cmyk,
        jpeg_encoder::ColorType::CmykAsYcck,
    ] {
        let mut jpeg = Vec::new();
        jpeg_encoder::Encoder::new(&mut jpeg, 95)
            .encode(&data, W as u16, H as u16, color)
            .expect("encode CMYK");
        check_halves(&jpeg, RED, BLUE, 40);
    }
}

#[test]
fn png_variants() {
    let rgb = write(
        RgbImage::from(halves(Rgb(RED), Rgb(BLUE))),
        ImageFormat::Png,
    );
    check_halves(&rgb, RED, BLUE, 0);

    // Alpha is dropped, not composited: fully transparent red stays red.
    let rgba = RgbaImage::from(halves(Rgba([255u8, 0, 0, 0]), Rgba([0, 0, 255, 128])));
    check_halves(&write(rgba, ImageFormat::Png), RED, BLUE, 0);

    let grey16 = halves(Luma([0xC8FFu16]), Luma([0x3200u16]));
    check_halves(&write(grey16, ImageFormat::Png), [0xC8; 3], [0x32; 3], 0);

    let grey_alpha = halves(LumaA([10u8, 255]), LumaA([250u8, 0]));
    check_halves(&write(grey_alpha, ImageFormat::Png), [10; 3], [250; 3], 0);

    let rgb16 = halves(Rgb([0xFFFFu16, 0x00FF, 0x0100]), Rgb([0, 0x1234, 0xFF00]));
    check_halves(
        &write(rgb16, ImageFormat::Png),
        [0xFF, 0, 1],
        [0, 0x12, 0xFF],
        0,
    );

    let rgba16 = halves(Rgba([0xFF00u16, 0, 0, 0]), Rgba([0, 0, 0xFF00, 0xFFFF]));
    check_halves(&write(rgba16, ImageFormat::Png), RED, BLUE, 0);

    check_halves(&palette_png(W, H), RED, BLUE, 0);
}

#[test]
fn bmp_tiff_webp_gif() {
    let rgb = RgbImage::from(halves(Rgb(RED), Rgb(BLUE)));
    check_halves(&write(rgb.clone(), ImageFormat::Bmp), RED, BLUE, 0);
    check_halves(&write(rgb.clone(), ImageFormat::Tiff), RED, BLUE, 0);
    check_halves(&write(rgb.clone(), ImageFormat::WebP), RED, BLUE, 0);
    // GIF quantizes to a palette; flat colors survive closely.
    check_halves(&write(rgb, ImageFormat::Gif), RED, BLUE, 8);

    let tiff_rgb16 = halves(Rgb([0xFF80u16, 0, 0]), Rgb([0, 0, 0xFFFF]));
    check_halves(&write(tiff_rgb16, ImageFormat::Tiff), RED, BLUE, 0);
    let tiff_grey = halves(Luma([200u8]), Luma([50u8]));
    check_halves(&write(tiff_grey, ImageFormat::Tiff), [200; 3], [50; 3], 0);
    let tiff_grey16 = halves(Luma([0xC800u16]), Luma([0x32FFu16]));
    check_halves(&write(tiff_grey16, ImageFormat::Tiff), [200; 3], [50; 3], 0);
    let tiff_rgba = RgbaImage::from(halves(Rgba([255u8, 0, 0, 10]), Rgba([0, 0, 255, 255])));
    check_halves(&write(tiff_rgba, ImageFormat::Tiff), RED, BLUE, 0);

    let webp_rgba = RgbaImage::from(halves(Rgba([255u8, 0, 0, 255]), Rgba([0, 0, 255, 200])));
    check_halves(&write(webp_rgba, ImageFormat::WebP), RED, BLUE, 0);
}

/// One PNG chunk: length, type, data, CRC.
fn png_chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    let mut crc = flate2::Crc::new();
    crc.update(kind);
    crc.update(data);
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    out.extend_from_slice(&crc.sum().to_be_bytes());
}

/// A PNG with the given IHDR fields and pixel rows (filter byte included).
fn png_with(
    width: u32,
    height: u32,
    depth: u8,
    color: u8,
    plte: Option<&[u8]>,
    raw: &[u8],
) -> Vec<u8> {
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[depth, color, 0, 0, 0]);
    png_chunk(&mut png, b"IHDR", &ihdr);
    if let Some(plte) = plte {
        png_chunk(&mut png, b"PLTE", plte);
    }
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
    z.write_all(raw).expect("deflate");
    png_chunk(&mut png, b"IDAT", &z.finish().expect("deflate"));
    png_chunk(&mut png, b"IEND", &[]);
    png
}

/// A palette PNG (color type 3), left half index 0 = red, right half index 1 = blue.
fn palette_png(width: u32, height: u32) -> Vec<u8> {
    let mut raw = Vec::new();
    for _ in 0..height {
        raw.push(0);
        raw.extend((0..width).map(|x| u8::from(x >= width / 2)));
    }
    png_with(width, height, 8, 3, Some(&[255, 0, 0, 0, 0, 255]), &raw)
}

#[track_caller]
fn assert_too_large(bytes: &[u8]) {
    let start = Instant::now();
    let result = decode_rgb8(bytes);
    assert!(
        matches!(result, Err(MediaError::TooLarge(_))),
        "expected TooLarge, got {:?}",
        result.map(|img| (img.width, img.height))
    );
    assert!(
        start.elapsed() < Duration::from_millis(500),
        "limit check was slow"
    );
}

#[test]
fn bombs_are_refused_from_the_header() {
    // PNG claiming 100000×100000 (over the side limit) and 60000×60000 (over the pixel limit).
    let huge = png_with(100_000, 100_000, 8, 2, None, &[0; 16]);
    assert_too_large(&huge);
    assert_eq!(probe_size(&huge).expect("probe"), (100_000, 100_000));
    assert!(matches!(
        check_limits(100_000, 100_000),
        Err(MediaError::TooLarge(_))
    ));
    assert!(check_limits(20_000, 10_000).is_ok());
    assert_eq!(20_000 * 10_000, MAX_PIXELS);
    assert!(matches!(
        check_limits(20_000, 10_001),
        Err(MediaError::TooLarge(_))
    ));
    assert!(matches!(
        check_limits(65_536, 1),
        Err(MediaError::TooLarge(_))
    ));
    assert!(matches!(check_limits(0, 1), Err(MediaError::Corrupt(_))));
    assert_too_large(&png_with(60_000, 60_000, 16, 6, None, &[0; 16]));

    // A real JPEG whose frame header is patched to 65535×65535.
    let mut jpeg = write(RgbImage::new(16, 16), ImageFormat::Jpeg);
    let sof = jpeg
        .windows(2)
        .position(|w| w == [0xFF, 0xC0])
        .expect("SOF0 marker");
    jpeg[sof + 5..sof + 9].copy_from_slice(&[0xFF; 4]);
    assert_eq!(probe_size(&jpeg).expect("probe"), (65_535, 65_535));
    assert_too_large(&jpeg);

    // BMP header claiming 100000×100000, 24 bits per pixel.
    let mut bmp = b"BM".to_vec();
    bmp.extend_from_slice(&[0; 8]);
    bmp.extend_from_slice(&54u32.to_le_bytes());
    bmp.extend_from_slice(&40u32.to_le_bytes());
    bmp.extend_from_slice(&100_000i32.to_le_bytes());
    bmp.extend_from_slice(&100_000i32.to_le_bytes());
    bmp.extend_from_slice(&1u16.to_le_bytes());
    bmp.extend_from_slice(&24u16.to_le_bytes());
    bmp.extend_from_slice(&[0; 24]);
    bmp.extend_from_slice(&[0; 64]);
    assert_too_large(&bmp);

    // GIF with a 65535×65535 logical screen and a 1×1 frame.
    let mut gif = b"GIF89a\xFF\xFF\xFF\xFF\x00\x00\x00".to_vec();
    gif.extend_from_slice(b"\x2C\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02\x44\x01\x00\x3B");
    assert_too_large(&gif);
}

#[test]
fn truncated_and_corrupt_data() {
    let rgb = RgbImage::from_raw(W, H, noise((W * H * 3) as usize, 1)).expect("noise image");
    let grey16 =
        ImageBuffer::<Luma<u16>, _>::from_fn(W, H, |x, y| Luma([(x * 1000 + y * 7) as u16]));
    let samples = [
        ("jpeg", write(rgb.clone(), ImageFormat::Jpeg)),
        ("png", write(rgb.clone(), ImageFormat::Png)),
        ("png16", write(grey16, ImageFormat::Png)),
        ("bmp", write(rgb.clone(), ImageFormat::Bmp)),
        ("tiff", write(rgb.clone(), ImageFormat::Tiff)),
        ("webp", write(rgb.clone(), ImageFormat::WebP)),
        ("gif", write(rgb, ImageFormat::Gif)),
    ];
    for (name, bytes) in &samples {
        decode_rgb8(bytes).unwrap_or_else(|e| panic!("{name} does not decode: {e}"));
        for percent in [10, 50, 90] {
            let cut = &bytes[..bytes.len() * percent / 100];
            let result = decode_rgb8(cut);
            assert!(
                matches!(result, Err(MediaError::Corrupt(_))),
                "{name} cut to {percent}%: {:?}",
                result.map(|_| ())
            );
        }
        // Damage in the middle must never panic; it may or may not be detected.
        let mut damaged = bytes.clone();
        let mid = damaged.len() / 2;
        let junk = noise(64.min(damaged.len() - mid), 7);
        damaged[mid..mid + junk.len()].copy_from_slice(&junk);
        let _ = decode_rgb8(&damaged);
        let _ = probe_size(&damaged);
    }
}

#[test]
fn garbage_is_refused_without_panicking() {
    for seed in 0..200 {
        let len = (seed as usize * 37) % 3000;
        let garbage = noise(len, seed);
        let result = decode_rgb8(&garbage);
        assert!(
            matches!(
                result,
                Err(MediaError::Unsupported(_) | MediaError::Corrupt(_))
            ),
            "garbage {seed} decoded"
        );
        // Garbage behind each known magic number reaches the decoders themselves.
        for magic in [
            &b"\xFF\xD8\xFF"[..],
            b"\x89PNG\r\n\x1a\n",
            b"GIF89a",
            b"BM",
            b"II*\x00",
            b"MM\x00*",
            b"RIFF\x10\x00\x00\x00WEBPVP8L",
            b"P6\n",
            b"\x00\x00\x01\x00",
        ] {
            let mut bytes = magic.to_vec();
            bytes.extend_from_slice(&garbage);
            let _ = decode_rgb8(&bytes);
            let _ = probe_size(&bytes);
        }
    }
    assert!(matches!(decode_rgb8(b""), Err(MediaError::Unsupported(_))));
    assert!(matches!(
        decode_rgb8(b"<svg/>"),
        Err(MediaError::Unsupported(_))
    ));
    assert!(matches!(
        probe_size(b"hello world"),
        Err(MediaError::Unsupported(_))
    ));
}

#[test]
fn jpeg_encoding() {
    let img = Rgb8 {
        width: W,
        height: H,
        data: RgbImage::from(halves(Rgb(RED), Rgb(BLUE))).into_raw(),
    };
    for quality in [0, 1, 50, 95, 100, 255] {
        let jpeg = encode_jpeg(&img, quality).expect("encode");
        check_halves(&jpeg, RED, BLUE, 40);
        // Baseline (SOF0), 3 components, luma sampled 2×2 (4:2:0), chroma 1×1.
        let sof = jpeg
            .windows(2)
            .position(|w| w == [0xFF, 0xC0])
            .expect("baseline SOF0");
        assert!(!jpeg.windows(2).any(|w| w == [0xFF, 0xC2]), "progressive");
        assert_eq!(jpeg[sof + 9], 3);
        assert_eq!(jpeg[sof + 11], 0x22);
        assert_eq!(jpeg[sof + 14], 0x11);
    }
    // Higher quality is bigger on a noisy image.
    let noisy = Rgb8 {
        width: W,
        height: H,
        data: noise((W * H * 3) as usize, 3),
    };
    let small = encode_jpeg(&noisy, 10).expect("encode");
    let large = encode_jpeg(&noisy, 95).expect("encode");
    assert!(small.len() < large.len());

    let bad = Rgb8 {
        width: 10,
        height: 10,
        data: vec![0; 299],
    };
    assert!(matches!(encode_jpeg(&bad, 80), Err(MediaError::Corrupt(_))));
    let empty = Rgb8 {
        width: 0,
        height: 10,
        data: Vec::new(),
    };
    assert!(encode_jpeg(&empty, 80).is_err());
    let wide = Rgb8 {
        width: 70_000,
        height: 1,
        data: vec![0; 210_000],
    };
    assert!(matches!(
        encode_jpeg(&wide, 80),
        Err(MediaError::TooLarge(_))
    ));
}

#[test]
fn compress_frame_from_each_format() {
    let rgb = RgbImage::from(halves(Rgb(RED), Rgb(BLUE)));
    for format in [
        ImageFormat::Jpeg,
        ImageFormat::Png,
        ImageFormat::Bmp,
        ImageFormat::Tiff,
        ImageFormat::WebP,
        ImageFormat::Gif,
    ] {
        let source = write(rgb.clone(), format);
        let (dims, jpeg) = compress_frame(&source, 70).expect("compress");
        assert_eq!(
            dims,
            Rgb8Dims {
                width: W,
                height: H
            }
        );
        assert!(jpeg.starts_with(&[0xFF, 0xD8, 0xFF]));
        check_halves(&jpeg, RED, BLUE, 48);
    }
    assert!(matches!(
        compress_frame(b"not an image", 70),
        Err(MediaError::Unsupported(_))
    ));
}

#[test]
fn previews() {
    let full_hd = Rgb8 {
        width: 1920,
        height: 1080,
        data: [0u8, 128, 255].repeat(1920 * 1080),
    };
    let preview = decode_rgb8(&preview_jpeg(&full_hd).expect("preview")).expect("decode");
    assert_eq!((preview.width, preview.height), (256, 144));
    let [r, g, b] = pixel(&preview, 128, 72);
    assert!(r < 20 && g.abs_diff(128) < 20 && b > 235, "{r} {g} {b}");

    let small = Rgb8 {
        width: 100,
        height: 50,
        data: vec![200; 100 * 50 * 3],
    };
    let preview = decode_rgb8(&preview_jpeg(&small).expect("preview")).expect("decode");
    assert_eq!((preview.width, preview.height), (100, 50));

    let tall = Rgb8 {
        width: 300,
        height: 1000,
        data: noise(300 * 1000 * 3, 5),
    };
    let preview = decode_rgb8(&preview_jpeg(&tall).expect("preview")).expect("decode");
    assert_eq!((preview.width, preview.height), (77, 256));
}

#[test]
fn names() {
    for (name, kind) in [
        ("a.jpg", MediaKind::Image),
        ("DIR/B.JPEG", MediaKind::Image),
        ("c.Tiff", MediaKind::Image),
        ("scan.dng", MediaKind::Image),
        ("logo.svg", MediaKind::Unknown),
        ("clip.MP4", MediaKind::Video),
        ("x.m2ts", MediaKind::Video),
        ("data.tar", MediaKind::Archive),
        ("data.tar.gz", MediaKind::Archive),
        ("data.TGZ", MediaKind::Archive),
        ("data.tar.bz2", MediaKind::Archive),
        ("data.tar.xz", MediaKind::Archive),
        ("data.xz", MediaKind::Unknown),
        ("data.7z", MediaKind::Archive),
        ("file.gz", MediaKind::Archive),
        ("images.zip", MediaKind::Zip),
        ("doc.PDF", MediaKind::Pdf),
        ("README", MediaKind::Unknown),
        (".jpg", MediaKind::Unknown),
        ("", MediaKind::Unknown),
    ] {
        assert_eq!(classify_name(name), kind, "{name}");
    }
    for (name, mime) in [
        ("a.JPG", "image/jpeg"),
        ("a.jpe", "image/jpeg"),
        ("000001.png", "image/png"),
        ("b.bmp", "image/bmp"),
        ("c.tif", "image/tiff"),
        ("d.webp", "image/webp"),
        ("e.gif", "image/gif"),
        ("f.pgm", "application/octet-stream"),
        ("noext", "application/octet-stream"),
    ] {
        assert_eq!(mime_for_name(name), mime, "{name}");
    }
}
