//! Image classification, probing, decoding to 8-bit RGB, JPEG encoding and task previews.
//!
//! * [`classify_name`] and [`mime_for_name`] look only at a file name's extension, the way
//!   CVAT sorts uploaded files (api-v1 §7.2.1).
//! * [`probe_size`] and [`decode_rgb8`] look only at the content (magic bytes). JPEG goes
//!   straight through zune-jpeg from the input slice into an RGB buffer (grey, CMYK and YCCK
//!   are converted by the decoder itself); every other format goes through the `image`
//!   crate and is converted to RGB in place, so at most one buffer is allocated per image.
//! * Image sizes are checked against [`MAX_SIDE`] and [`MAX_PIXELS`] from the header, before
//!   the pixel buffer is allocated.
//! * [`encode_jpeg`] writes baseline 4:2:0 JPEG with `jpeg-encoder`; [`compress_frame`] is
//!   decode + encode for one frame of a compressed chunk; [`preview_jpeg`] makes the 256×256
//!   task preview.
//!
//! EXIF orientation is ignored on purpose: CVAT does not apply it either.

use std::io::Cursor;
use std::panic::{AssertUnwindSafe, catch_unwind};

use ::image::{ColorType, ImageDecoder, ImageError, ImageFormat, ImageReader};
use fast_image_resize as fr;
use jpeg_encoder::{ChromaSubsamplingMethod, EncodingError, SamplingFactor};
use zune_core::bytestream::ZCursor;
use zune_core::colorspace::ColorSpace;
use zune_core::options::DecoderOptions;
use zune_jpeg::errors::DecodeErrors;

use crate::{MediaError, Result};

/// What a file is, from its name (extension, case-insensitive) as CVAT classifies it (api-v1 §7.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaKind {
    Image,
    Video,
    Archive,
    Zip,
    Pdf,
    Unknown,
}

const IMAGE_EXTENSIONS: &[&str] = &[
    "jpg", "jpeg", "jpe", "png", "bmp", "gif", "tif", "tiff", "webp", "jp2", "pbm", "pgm", "ppm",
    "pnm", "ico", "tga", "dng",
];
const VIDEO_EXTENSIONS: &[&str] = &[
    "mp4", "m4v", "avi", "mov", "mkv", "mpg", "mpeg", "mpe", "webm", "ogv", "flv", "wmv", "ts",
    "mts", "m2ts", "3gp", "vob",
];
/// Single extensions of (possibly compressed) non-zip archives.
const ARCHIVE_EXTENSIONS: &[&str] = &["tar", "tgz", "tbz2", "txz", "7z", "cpio", "gz", "bz2"];
/// Double extensions of compressed tarballs (`tar.gz` and `tar.bz2` are also caught by the
/// single `gz`/`bz2` extension; `tar.xz` is only an archive as a whole).
const ARCHIVE_DOUBLE_EXTENSIONS: &[&str] = &[".tar.gz", ".tar.bz2", ".tar.xz"];

/// The final path component of `name`, accepting both `/` and `\` separators.
fn base_name(name: &str) -> &str {
    name.rsplit(['/', '\\']).next().unwrap_or(name)
}

/// The extension of `name` including its dot, like Python's `os.path.splitext`: taken from the
/// last path component, leading dots do not start an extension (`.png` has none).
pub(crate) fn extension(name: &str) -> &str {
    let base = base_name(name);
    let stem_start = base.len() - base.trim_start_matches('.').len();
    match base[stem_start..].rfind('.') {
        Some(dot) => &base[stem_start + dot..],
        None => "",
    }
}

/// What a file is, from its name (extension, case-insensitive) as CVAT classifies it
/// (api-v1 §7.2.1).
///
/// * Image: jpg jpeg jpe png bmp gif tif tiff webp jp2 pbm pgm ppm pnm ico tga dng (not svg)
/// * Video: mp4 m4v avi mov mkv mpg mpeg mpe webm ogv flv wmv ts mts m2ts 3gp vob
/// * Archive: tar, tar.gz, tgz, tar.bz2, tbz2, tar.xz, txz, 7z, cpio, gz, bz2
/// * Zip: zip; Pdf: pdf; anything else: Unknown.
pub fn classify_name(name: &str) -> MediaKind {
    let lower = base_name(name).to_ascii_lowercase();
    if ARCHIVE_DOUBLE_EXTENSIONS
        .iter()
        .any(|ext| lower.len() > ext.len() && lower.ends_with(ext))
    {
        return MediaKind::Archive;
    }
    let ext = extension(&lower).trim_start_matches('.');
    if ext.is_empty() {
        MediaKind::Unknown
    } else if IMAGE_EXTENSIONS.contains(&ext) {
        MediaKind::Image
    } else if VIDEO_EXTENSIONS.contains(&ext) {
        MediaKind::Video
    } else if ARCHIVE_EXTENSIONS.contains(&ext) {
        MediaKind::Archive
    } else if ext == "zip" {
        MediaKind::Zip
    } else if ext == "pdf" {
        MediaKind::Pdf
    } else {
        MediaKind::Unknown
    }
}

/// MIME type by extension for serving original-chunk members: "image/jpeg", "image/png",
/// "image/bmp", "image/tiff", "image/webp", "image/gif", else "application/octet-stream".
pub fn mime_for_name(name: &str) -> &'static str {
    let ext = extension(name).trim_start_matches('.').to_ascii_lowercase();
    match ext.as_str() {
        "jpg" | "jpeg" | "jpe" => "image/jpeg",
        "png" => "image/png",
        "bmp" => "image/bmp",
        "tif" | "tiff" => "image/tiff",
        "webp" => "image/webp",
        "gif" => "image/gif",
        _ => "application/octet-stream",
    }
}

/// A decoded frame: 8-bit RGB, row-major, `width * height * 3` bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rgb8 {
    pub width: u32,
    pub height: u32,
    pub data: Vec<u8>,
}

impl Rgb8 {
    /// The frame's dimensions.
    pub fn dims(&self) -> Rgb8Dims {
        Rgb8Dims {
            width: self.width,
            height: self.height,
        }
    }
}

/// Width and height of a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rgb8Dims {
    pub width: u32,
    pub height: u32,
}

/// Images with more pixels than this are refused ([`MediaError::TooLarge`]).
pub const MAX_PIXELS: u64 = 200_000_000;
/// Images wider or taller than this are refused ([`MediaError::TooLarge`]).
pub const MAX_SIDE: u32 = 65_535;

/// Checks image dimensions against [`MAX_SIDE`] and [`MAX_PIXELS`]: `TooLarge` when over them,
/// `Corrupt` for an empty (zero-sized) image.
pub fn check_limits(width: u32, height: u32) -> Result<()> {
    if width == 0 || height == 0 {
        return Err(MediaError::Corrupt(format!(
            "image has an empty size {width}×{height}"
        )));
    }
    if width > MAX_SIDE || height > MAX_SIDE {
        return Err(MediaError::TooLarge(format!(
            "image size {width}×{height} exceeds the maximum side of {MAX_SIDE} pixels"
        )));
    }
    if u64::from(width) * u64::from(height) > MAX_PIXELS {
        return Err(MediaError::TooLarge(format!(
            "image size {width}×{height} exceeds the maximum of {MAX_PIXELS} pixels"
        )));
    }
    Ok(())
}

/// Runs a decoder on untrusted data, turning a panic inside a third-party decoder into an error.
fn guard<T>(f: impl FnOnce() -> Result<T>) -> Result<T> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|_| {
        Err(MediaError::Corrupt(
            "image decoder failed on invalid data".into(),
        ))
    })
}

/// The format of an image from its magic bytes.
fn detect_format(bytes: &[u8]) -> Result<ImageFormat> {
    ::image::guess_format(bytes)
        .map_err(|_| MediaError::Unsupported("not a recognized image format".into()))
}

fn image_error(err: ImageError) -> MediaError {
    match err {
        ImageError::Limits(e) => MediaError::TooLarge(format!("image exceeds limits: {e}")),
        ImageError::Unsupported(e) => MediaError::Unsupported(format!("unsupported image: {e}")),
        // Decoding reads from memory, so an I/O error means the data ended too early.
        ImageError::IoError(e) => MediaError::Corrupt(format!("truncated image: {e}")),
        e => MediaError::Corrupt(format!("invalid image: {e}")),
    }
}

fn jpeg_error(err: DecodeErrors) -> MediaError {
    match err {
        DecodeErrors::Unsupported(e) => MediaError::Unsupported(format!("unsupported JPEG: {e:?}")),
        DecodeErrors::LargeDimensions(_) => MediaError::TooLarge(format!("JPEG too large: {err}")),
        e => MediaError::Corrupt(format!("invalid JPEG: {e}")),
    }
}

/// Width and height from the header only (no full decode), for any supported format.
/// Uses magic bytes, not the name. The size is returned as declared: it is not checked against
/// [`MAX_SIDE`]/[`MAX_PIXELS`] (use [`check_limits`]; [`decode_rgb8`] always does).
pub fn probe_size(bytes: &[u8]) -> Result<(u32, u32)> {
    guard(|| match detect_format(bytes)? {
        ImageFormat::Jpeg => {
            let decoder = jpeg_header(bytes, false)?;
            let (w, h) = decoder
                .dimensions()
                .ok_or_else(|| MediaError::Corrupt("JPEG has no frame header".into()))?;
            // JPEG sizes are 16-bit, so these conversions cannot fail on real data.
            let w = u32::try_from(w).map_err(|_| MediaError::Corrupt("bad JPEG width".into()))?;
            let h = u32::try_from(h).map_err(|_| MediaError::Corrupt("bad JPEG height".into()))?;
            Ok((w, h))
        }
        format => {
            let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
            reader.no_limits();
            reader.into_dimensions().map_err(image_error)
        }
    })
}

/// Decodes any supported image to 8-bit RGB: JPEG (incl. CMYK/YCCK and grayscale), PNG
/// (8/16-bit grey/RGB/RGBA/palette), BMP, TIFF (8/16-bit incl. grey and RGBA), WebP, GIF (first
/// frame), PNM and ICO.
///
/// 16-bit samples are scaled with `v >> 8`, alpha is dropped, grey is expanded to RGB and
/// CMYK converted to RGB. No EXIF rotation (CVAT ignores EXIF orientation).
///
/// Errors: unknown format → `Unsupported`; bad or truncated data → `Corrupt`; over
/// [`MAX_SIDE`]/[`MAX_PIXELS`] → `TooLarge`, checked from the header before allocating.
pub fn decode_rgb8(bytes: &[u8]) -> Result<Rgb8> {
    guard(|| match detect_format(bytes)? {
        ImageFormat::Jpeg => decode_jpeg(bytes),
        format => decode_other(bytes, format),
    })
}

/// zune-jpeg's options: JPEG's own size limits, RGB output, strict or tolerant.
fn jpeg_options(strict: bool) -> DecoderOptions {
    DecoderOptions::default()
        .set_max_width(usize::from(u16::MAX))
        .set_max_height(usize::from(u16::MAX))
        .set_strict_mode(strict)
        .jpeg_set_out_colorspace(ColorSpace::RGB)
}

/// A zune-jpeg decoder for `bytes` with its headers parsed, set up to output RGB.
fn jpeg_header(bytes: &[u8], strict: bool) -> Result<zune_jpeg::JpegDecoder<ZCursor<&[u8]>>> {
    let mut decoder =
        zune_jpeg::JpegDecoder::new_with_options(ZCursor::new(bytes), jpeg_options(strict));
    decoder.decode_headers().map_err(jpeg_error)?;
    Ok(decoder)
}

/// Decodes a JPEG straight from `bytes` into an RGB buffer.
///
/// The decoder runs in its tolerant mode (like libjpeg, it accepts stray bytes between markers
/// and minor damage in the entropy-coded data), except when the stream does not reach its end
/// marker: then it may be truncated, and strict mode turns "ran out of data" into an error
/// instead of a grey-padded frame. That matches Pillow, which refuses truncated JPEGs.
fn decode_jpeg(bytes: &[u8]) -> Result<Rgb8> {
    let mut decoder = jpeg_header(bytes, !jpeg_reaches_eoi(bytes))?;
    let (width, height) = jpeg_size(&decoder)?;
    let len = decoder
        .output_buffer_size()
        .ok_or_else(|| MediaError::TooLarge("JPEG output size overflows".into()))?;
    let mut data = vec![0u8; len];
    decoder.decode_into(&mut data).map_err(jpeg_error)?;
    Ok(Rgb8 {
        width,
        height,
        data,
    })
}

/// The frame size from a JPEG's parsed headers, checked against the limits.
fn jpeg_size(decoder: &zune_jpeg::JpegDecoder<ZCursor<&[u8]>>) -> Result<(u32, u32)> {
    let (w, h) = decoder
        .dimensions()
        .ok_or_else(|| MediaError::Corrupt("JPEG has no frame header".into()))?;
    let (width, height) = (
        u32::try_from(w).unwrap_or(u32::MAX),
        u32::try_from(h).unwrap_or(u32::MAX),
    );
    check_limits(width, height)?;
    Ok((width, height))
}

/// Whether a JPEG stream reaches its end-of-image marker by following the marker structure
/// (segment lengths are skipped, so an EOI inside an embedded EXIF thumbnail does not count;
/// in entropy-coded data only real markers are considered).
fn jpeg_reaches_eoi(data: &[u8]) -> bool {
    // Fast path: FF D9 only occurs as a marker (entropy-coded data stuffs FF bytes), so a file
    // ending in it is complete; a truncated file ending inside a header segment on those two
    // bytes has no scan data and fails anyway.
    if data.ends_with(&[0xFF, 0xD9]) {
        return true;
    }
    let mut pos = 2; // after SOI
    loop {
        let Some(skip) = data
            .get(pos..)
            .and_then(|rest| rest.iter().position(|&b| b == 0xFF))
        else {
            return false;
        };
        pos += skip;
        while data.get(pos + 1) == Some(&0xFF) {
            pos += 1; // fill bytes
        }
        let Some(&marker) = data.get(pos + 1) else {
            return false;
        };
        pos += 2;
        match marker {
            0xD9 => return true,
            // Stuffed zero, TEM and restart markers have no length field.
            0x00 | 0x01 | 0xD0..=0xD7 => {}
            _ => {
                let Some(len) = data.get(pos..pos + 2) else {
                    return false;
                };
                pos += usize::from(u16::from_be_bytes([len[0], len[1]]));
            }
        }
    }
}

/// Limits for the `image` decoders: the side limit, and room for the largest raw buffer we
/// accept (16-bit RGBA at [`MAX_PIXELS`]) plus decoder working memory.
fn decoder_limits() -> ::image::Limits {
    let mut limits = ::image::Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_PIXELS * 8 + (512 << 20));
    limits
}

/// Decodes a non-JPEG image with the `image` crate and converts it to RGB in place.
fn decode_other(bytes: &[u8], format: ImageFormat) -> Result<Rgb8> {
    // The BMP decoder refuses oversized images itself with a generic format error.
    if format == ImageFormat::Bmp
        && let Some((width, height)) = bmp_header_size(bytes)
    {
        check_limits(width, height)?;
    }
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    reader.limits(decoder_limits());
    let decoder = reader.into_decoder().map_err(image_error)?;
    let (width, height) = decoder.dimensions();
    check_limits(width, height)?;
    let color = decoder.color_type();
    let pixels = width as usize * height as usize;
    let raw_len = usize::try_from(decoder.total_bytes())
        .map_err(|_| MediaError::TooLarge("image buffer size overflows".into()))?;
    let rgb_len = pixels * 3;
    // One buffer big enough for both the decoded and the RGB layout; conversion is in place.
    let mut data = vec![0u8; raw_len.max(rgb_len)];
    decoder
        .read_image(&mut data[..raw_len])
        .map_err(image_error)?;
    to_rgb8_in_place(&mut data, color, pixels, raw_len)?;
    data.truncate(rgb_len);
    data.shrink_to_fit();
    Ok(Rgb8 {
        width,
        height,
        data,
    })
}

/// The size a BMP file declares in its DIB header (negative heights mean top-down rows).
fn bmp_header_size(bytes: &[u8]) -> Option<(u32, u32)> {
    let field = |at: usize, len: usize| bytes.get(at..at + len);
    let header_size = u32::from_le_bytes(field(14, 4)?.try_into().ok()?);
    if header_size == 12 {
        // OS/2 BITMAPCOREHEADER: unsigned 16-bit sides.
        let w = u16::from_le_bytes(field(18, 2)?.try_into().ok()?);
        let h = u16::from_le_bytes(field(20, 2)?.try_into().ok()?);
        Some((u32::from(w), u32::from(h)))
    } else {
        let w = i32::from_le_bytes(field(18, 4)?.try_into().ok()?);
        let h = i32::from_le_bytes(field(22, 4)?.try_into().ok()?);
        Some((w.unsigned_abs(), h.unsigned_abs()))
    }
}

/// Converts `pixels` pixels of `color` at the start of `buf` to packed RGB8 in place.
fn to_rgb8_in_place(buf: &mut [u8], color: ColorType, pixels: usize, raw_len: usize) -> Result<()> {
    if color.bytes_per_pixel() as usize * pixels != raw_len {
        return Err(MediaError::Corrupt(
            "decoded size does not match the image dimensions".into(),
        ));
    }
    let hi = |b: [u8; 2]| (u16::from_ne_bytes(b) >> 8) as u8;
    let unit = |b: [u8; 4]| (f32::from_ne_bytes(b).clamp(0.0, 1.0) * 255.0).round() as u8;
    match color {
        ColorType::Rgb8 => {}
        ColorType::L8 => expand::<1>(buf, pixels, |[v]| [v, v, v]),
        ColorType::La8 => expand::<2>(buf, pixels, |[v, _]| [v, v, v]),
        ColorType::L16 => expand::<2>(buf, pixels, |p| {
            let v = hi(p);
            [v, v, v]
        }),
        ColorType::Rgba8 => compact::<4>(buf, pixels, |[r, g, b, _]| [r, g, b]),
        ColorType::La16 => compact::<4>(buf, pixels, |[l0, l1, _, _]| {
            let v = hi([l0, l1]);
            [v, v, v]
        }),
        ColorType::Rgb16 => compact::<6>(buf, pixels, |[r0, r1, g0, g1, b0, b1]| {
            [hi([r0, r1]), hi([g0, g1]), hi([b0, b1])]
        }),
        ColorType::Rgba16 => compact::<8>(buf, pixels, |[r0, r1, g0, g1, b0, b1, _, _]| {
            [hi([r0, r1]), hi([g0, g1]), hi([b0, b1])]
        }),
        ColorType::Rgb32F => compact::<12>(buf, pixels, |p| {
            [
                unit([p[0], p[1], p[2], p[3]]),
                unit([p[4], p[5], p[6], p[7]]),
                unit([p[8], p[9], p[10], p[11]]),
            ]
        }),
        ColorType::Rgba32F => compact::<16>(buf, pixels, |p| {
            [
                unit([p[0], p[1], p[2], p[3]]),
                unit([p[4], p[5], p[6], p[7]]),
                unit([p[8], p[9], p[10], p[11]]),
            ]
        }),
        other => {
            return Err(MediaError::Unsupported(format!(
                "unsupported pixel format {other:?}"
            )));
        }
    }
    Ok(())
}

/// In-place conversion of `N`-byte pixels (N ≥ 3) to RGB, front to back: pixel `i` is read
/// from `N*i` and written to `3*i`, never past data that is still to be read.
fn compact<const N: usize>(buf: &mut [u8], pixels: usize, f: impl Fn([u8; N]) -> [u8; 3]) {
    for i in 0..pixels {
        let mut px = [0u8; N];
        px.copy_from_slice(&buf[i * N..i * N + N]);
        buf[i * 3..i * 3 + 3].copy_from_slice(&f(px));
    }
}

/// In-place conversion of `N`-byte pixels (N < 3) to RGB, back to front: pixel `i` is read
/// from `N*i` and written to `3*i`, above all data that is still to be read.
fn expand<const N: usize>(buf: &mut [u8], pixels: usize, f: impl Fn([u8; N]) -> [u8; 3]) {
    for i in (0..pixels).rev() {
        let mut px = [0u8; N];
        px.copy_from_slice(&buf[i * N..i * N + N]);
        buf[i * 3..i * 3 + 3].copy_from_slice(&f(px));
    }
}

fn encoding_error(err: EncodingError) -> MediaError {
    match err {
        EncodingError::IoError(e) => MediaError::Io(e),
        e => MediaError::Corrupt(format!("JPEG encoding failed: {e}")),
    }
}

/// Baseline JPEG at `quality` (clamped to 1..=100; CVAT's 0 means lowest), 4:2:0 sampling.
///
/// Fails with `TooLarge` for sides over 65535 (the JPEG limit) and with `Corrupt` when the
/// image is empty or its buffer does not hold `width * height * 3` bytes.
pub fn encode_jpeg(img: &Rgb8, quality: u8) -> Result<Vec<u8>> {
    let (Ok(width), Ok(height)) = (u16::try_from(img.width), u16::try_from(img.height)) else {
        return Err(MediaError::TooLarge(format!(
            "image size {}×{} exceeds the JPEG maximum of 65535×65535",
            img.width, img.height
        )));
    };
    if width == 0 || height == 0 {
        return Err(MediaError::Corrupt(format!(
            "cannot encode an empty {width}×{height} image"
        )));
    }
    let expected = usize::from(width) * usize::from(height) * 3;
    if img.data.len() != expected {
        return Err(MediaError::Corrupt(format!(
            "RGB buffer holds {} bytes, expected {expected} for {width}×{height}",
            img.data.len()
        )));
    }
    let mut out = Vec::with_capacity(expected / 8 + 1024);
    let mut encoder = jpeg_encoder::Encoder::new(&mut out, quality.clamp(1, 100));
    encoder.set_sampling_factor(SamplingFactor::R_4_2_0);
    // Box-averaged chroma like libjpeg's cjpeg, rather than top-left sampling.
    encoder.set_chroma_subsampling_method(ChromaSubsamplingMethod::Average);
    encoder
        .encode(&img.data, width, height, jpeg_encoder::ColorType::Rgb)
        .map_err(encoding_error)?;
    Ok(out)
}

/// Lossless PNG of `img` (a decoded video frame served at original quality, §7.4), with
/// fast compression: the frame is served once per request, not stored.
pub fn encode_png(img: &Rgb8) -> Result<Vec<u8>> {
    use image::ImageEncoder;
    let mut out = Vec::with_capacity(img.data.len() / 2 + 1024);
    image::codecs::png::PngEncoder::new_with_quality(
        &mut out,
        image::codecs::png::CompressionType::Fast,
        image::codecs::png::FilterType::Adaptive,
    )
    .write_image(
        &img.data,
        img.width,
        img.height,
        image::ExtendedColorType::Rgb8,
    )
    .map_err(|e| MediaError::Corrupt(format!("PNG encoding failed: {e}")))?;
    Ok(out)
}

/// The compressed-chunk member for one source image: [`decode_rgb8`] + [`encode_jpeg`].
/// Returns the frame's size and the JPEG bytes.
///
/// A YCbCr JPEG (nearly every photo) skips both colour conversions: it is decoded to
/// YCbCr and re-encoded from it, with the chroma averaged over 2×2 pixels exactly as
/// [`encode_jpeg`] does, so the result is the same image without two rounding steps.
pub fn compress_frame(bytes: &[u8], quality: u8) -> Result<(Rgb8Dims, Vec<u8>)> {
    guard(|| {
        if detect_format(bytes)? == ImageFormat::Jpeg
            && let Some(done) = transcode_ycbcr_jpeg(bytes, quality)?
        {
            return Ok(done);
        }
        let img = decode_rgb8(bytes)?;
        let jpeg = encode_jpeg(&img, quality)?;
        Ok((img.dims(), jpeg))
    })
}

/// [`compress_frame`] for a JPEG whose components are YCbCr; `None` for any other JPEG
/// (grey, RGB, CMYK, YCCK), which goes through RGB.
fn transcode_ycbcr_jpeg(bytes: &[u8], quality: u8) -> Result<Option<(Rgb8Dims, Vec<u8>)>> {
    let strict = !jpeg_reaches_eoi(bytes);
    let mut decoder = jpeg_header(bytes, strict)?;
    if decoder.input_colorspace() != Some(ColorSpace::YCbCr) {
        return Ok(None);
    }
    // Switching after the headers only turns the final RGB conversion into a copy.
    decoder.set_options(jpeg_options(strict).jpeg_set_out_colorspace(ColorSpace::YCbCr));
    let (width, height) = jpeg_size(&decoder)?;
    let (Ok(w16), Ok(h16)) = (u16::try_from(width), u16::try_from(height)) else {
        return Ok(None);
    };
    let (w, h) = (usize::from(w16), usize::from(h16));
    let len = decoder
        .output_buffer_size()
        .ok_or_else(|| MediaError::TooLarge("JPEG output size overflows".into()))?;
    if len != w * h * 3 {
        return Ok(None);
    }
    let mut data = vec![0u8; len];
    decoder.decode_into(&mut data).map_err(jpeg_error)?;
    let image = Ycbcr420::new(data, w16, h16);
    let mut out = Vec::with_capacity(len / 8 + 1024);
    let mut encoder = jpeg_encoder::Encoder::new(&mut out, quality.clamp(1, 100));
    encoder.set_sampling_factor(SamplingFactor::R_4_2_0);
    // The chroma handed over is already averaged, one value per 2×2 block: the encoder's
    // plain subsampling picks exactly that value.
    encoder.set_chroma_subsampling_method(ChromaSubsamplingMethod::Nearest);
    encoder.encode_image(image).map_err(encoding_error)?;
    Ok(Some((Rgb8Dims { width, height }, out)))
}

/// Interleaved YCbCr pixels with the chroma planes averaged over 2×2 pixels (edges
/// replicated, libjpeg's alternating rounding bias of 1 and 2), fed to the encoder row by
/// row: luma as is, each chroma value repeated over its two columns.
struct Ycbcr420 {
    data: Vec<u8>,
    width: u16,
    height: u16,
    cb: Vec<u8>,
    cr: Vec<u8>,
}

impl Ycbcr420 {
    fn new(data: Vec<u8>, width: u16, height: u16) -> Ycbcr420 {
        let (w, h) = (usize::from(width), usize::from(height));
        let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
        let mut cb = vec![0u8; cw * ch];
        let mut cr = vec![0u8; cw * ch];
        for cy in 0..ch {
            let r0 = &data[2 * cy * w * 3..(2 * cy + 1) * w * 3];
            let y1 = (2 * cy + 1).min(h - 1);
            let r1 = &data[y1 * w * 3..(y1 + 1) * w * 3];
            let (cb_row, cr_row) = (&mut cb[cy * cw..][..cw], &mut cr[cy * cw..][..cw]);
            // Two pixels of two rows per chroma value; an odd last column pairs with itself.
            let average = |a: &[u8], b: &[u8], bias: u16| {
                let sum = |c: usize| {
                    u16::from(a[c]) + u16::from(a[3 + c]) + u16::from(b[c]) + u16::from(b[3 + c])
                };
                (((sum(1) + bias) >> 2) as u8, ((sum(2) + bias) >> 2) as u8)
            };
            let (pairs0, pairs1) = (r0.as_chunks::<6>().0, r1.as_chunks::<6>().0);
            for (cx, (a, b)) in pairs0.iter().zip(pairs1).enumerate() {
                (cb_row[cx], cr_row[cx]) = average(a, b, 1 + (cx as u16 & 1));
            }
            if w % 2 == 1 {
                let (a, b) = (&r0[(w - 1) * 3..], &r1[(w - 1) * 3..]);
                let (a, b) = (
                    [a[0], a[1], a[2], a[0], a[1], a[2]],
                    [b[0], b[1], b[2], b[0], b[1], b[2]],
                );
                (cb_row[cw - 1], cr_row[cw - 1]) = average(&a, &b, 1 + ((cw - 1) as u16 & 1));
            }
        }
        Ycbcr420 {
            data,
            width,
            height,
            cb,
            cr,
        }
    }
}

/// Baseline JPEG at `quality` from a planar YUV 4:2:0 frame of a video (limited range:
/// Y 16–235, Cb/Cr 16–240): Y, then Cb and Cr of `ceil(w/2)×ceil(h/2)`. No colour
/// conversion: the planes are stretched to JPEG's full range by a table and the
/// encoder keeps their 4:2:0 chroma as it is.
pub fn encode_yuv420_jpeg(data: &[u8], width: u32, height: u32, quality: u8) -> Result<Vec<u8>> {
    let (Ok(w16), Ok(h16)) = (u16::try_from(width), u16::try_from(height)) else {
        return Err(MediaError::TooLarge(format!(
            "frame size {width}×{height} exceeds the JPEG maximum of 65535×65535"
        )));
    };
    let (w, h) = (usize::from(w16), usize::from(h16));
    let chroma = w.div_ceil(2) * h.div_ceil(2);
    if w == 0 || h == 0 || data.len() != w * h + 2 * chroma {
        return Err(MediaError::Corrupt(format!(
            "a {width}×{height} 4:2:0 frame needs {} bytes, got {}",
            w * h + 2 * chroma,
            data.len()
        )));
    }
    let image = Planar420 {
        data,
        width: w16,
        height: h16,
    };
    let mut out = Vec::with_capacity(w * h / 6 + 1024);
    let mut encoder = jpeg_encoder::Encoder::new(&mut out, quality.clamp(1, 100));
    encoder.set_sampling_factor(SamplingFactor::R_4_2_0);
    encoder.set_chroma_subsampling_method(ChromaSubsamplingMethod::Nearest);
    encoder.encode_image(image).map_err(encoding_error)?;
    Ok(out)
}

/// Limited-range luma (16–235) and chroma (16–240) to full range, rounded and clamped.
static LUMA_FULL: std::sync::LazyLock<[u8; 256]> = std::sync::LazyLock::new(|| {
    std::array::from_fn(|v| {
        ((v as f32 - 16.0) * 255.0 / 219.0)
            .round()
            .clamp(0.0, 255.0) as u8
    })
});
static CHROMA_FULL: std::sync::LazyLock<[u8; 256]> = std::sync::LazyLock::new(|| {
    std::array::from_fn(|v| {
        ((v as f32 - 128.0) * 255.0 / 224.0 + 128.0)
            .round()
            .clamp(0.0, 255.0) as u8
    })
});

/// A planar 4:2:0 frame fed to the encoder row by row, each chroma value repeated over
/// its two columns (and rows), so that the encoder's nearest subsampling gets it back.
struct Planar420<'a> {
    data: &'a [u8],
    width: u16,
    height: u16,
}

impl jpeg_encoder::ImageBuffer for Planar420<'_> {
    fn get_jpeg_color_type(&self) -> jpeg_encoder::JpegColorType {
        jpeg_encoder::JpegColorType::Ycbcr
    }

    fn width(&self) -> u16 {
        self.width
    }

    fn height(&self) -> u16 {
        self.height
    }

    fn fill_buffers(&self, y: u16, buffers: &mut [Vec<u8>; 4]) {
        let (w, h, y) = (
            usize::from(self.width),
            usize::from(self.height),
            usize::from(y),
        );
        let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
        let (luma, chroma) = (&*LUMA_FULL, &*CHROMA_FULL);
        buffers[0].extend(
            self.data[y * w..][..w]
                .iter()
                .map(|&v| luma[usize::from(v)]),
        );
        for (buffer, plane) in [(1, w * h), (2, w * h + cw * ch)] {
            let src = &self.data[plane + (y / 2) * cw..][..cw];
            let out = &mut buffers[buffer];
            let start = out.len();
            out.resize(start + w, 0);
            let (pairs, odd) = out[start..].as_chunks_mut::<2>();
            for (pair, &v) in pairs.iter_mut().zip(src) {
                let v = chroma[usize::from(v)];
                *pair = [v, v];
            }
            if let Some(last) = odd.first_mut() {
                *last = chroma[usize::from(src[cw - 1])];
            }
        }
    }
}

impl jpeg_encoder::ImageBuffer for Ycbcr420 {
    fn get_jpeg_color_type(&self) -> jpeg_encoder::JpegColorType {
        jpeg_encoder::JpegColorType::Ycbcr
    }

    fn width(&self) -> u16 {
        self.width
    }

    fn height(&self) -> u16 {
        self.height
    }

    fn fill_buffers(&self, y: u16, buffers: &mut [Vec<u8>; 4]) {
        let (w, y) = (usize::from(self.width), usize::from(y));
        let cw = w.div_ceil(2);
        let row = &self.data[y * w * 3..(y + 1) * w * 3];
        buffers[0].extend(row.chunks_exact(3).map(|p| p[0]));
        for (buffer, plane) in [(1, &self.cb), (2, &self.cr)] {
            let src = &plane[(y / 2) * cw..][..cw];
            let out = &mut buffers[buffer];
            let start = out.len();
            out.resize(start + w, 0);
            let (pairs, odd) = out[start..].as_chunks_mut::<2>();
            for (pair, &v) in pairs.iter_mut().zip(src) {
                *pair = [v, v];
            }
            if let Some(last) = odd.first_mut() {
                *last = src[cw - 1];
            }
        }
    }
}

/// Side of the square box the task preview is fitted into.
pub const PREVIEW_SIDE: u32 = 256;
/// JPEG quality of the task preview.
pub const PREVIEW_QUALITY: u8 = 85;

/// Size of the task preview for an image of `width`×`height`: fitted into
/// [`PREVIEW_SIDE`]² keeping the aspect ratio, never upscaled, rounded like Pillow's
/// `Image.thumbnail`.
pub fn preview_size(width: u32, height: u32) -> (u32, u32) {
    let (max_w, max_h) = (PREVIEW_SIDE, PREVIEW_SIDE);
    if width == 0 || height == 0 || (width <= max_w && height <= max_h) {
        return (width, height);
    }
    let aspect = f64::from(width) / f64::from(height);
    // Of floor and ceil, the one whose resulting aspect ratio is closest (at least 1).
    let round_aspect = |number: f64, error: &dyn Fn(f64) -> f64| -> u32 {
        let (lo, hi) = (number.floor(), number.ceil());
        let best = if error(hi) < error(lo) { hi } else { lo };
        (best as u32).max(1)
    };
    if f64::from(max_w) / f64::from(max_h) >= aspect {
        let y = f64::from(max_h);
        (round_aspect(y * aspect, &|n| (aspect - n / y).abs()), max_h)
    } else {
        let x = f64::from(max_w);
        let error = |n: f64| {
            if n == 0.0 {
                0.0
            } else {
                (aspect - x / n).abs()
            }
        };
        (max_w, round_aspect(x / aspect, &error))
    }
}

/// The task preview (api-v1 §7.2.6): `img` fitted into 256×256 keeping the aspect ratio
/// (never upscaled, see [`preview_size`]), resized with a Catmull-Rom (bicubic) filter like
/// Pillow's thumbnail, as an RGB JPEG of quality 85.
pub fn preview_jpeg(img: &Rgb8) -> Result<Vec<u8>> {
    let (width, height) = preview_size(img.width, img.height);
    if (width, height) == (img.width, img.height) {
        return encode_jpeg(img, PREVIEW_QUALITY);
    }
    let src = fr::images::ImageRef::new(img.width, img.height, &img.data, fr::PixelType::U8x3)
        .map_err(|e| MediaError::Corrupt(format!("invalid RGB buffer: {e}")))?;
    let mut dst = fr::images::Image::new(width, height, fr::PixelType::U8x3);
    let options =
        fr::ResizeOptions::new().resize_alg(fr::ResizeAlg::Convolution(fr::FilterType::CatmullRom));
    fr::Resizer::new()
        .resize(&src, &mut dst, &options)
        .map_err(|e| MediaError::Corrupt(format!("resize failed: {e}")))?;
    let thumb = Rgb8 {
        width,
        height,
        data: dst.into_vec(),
    };
    encode_jpeg(&thumb, PREVIEW_QUALITY)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn textured(width: u32, height: u32) -> Rgb8 {
        let mut data = Vec::with_capacity((width * height * 3) as usize);
        let mut s = 0x9e37_79b9u32;
        for y in 0..height {
            for x in 0..width {
                s ^= s << 13;
                s ^= s >> 17;
                s ^= s << 5;
                let n = (s & 31) as u8;
                data.extend([(x * 7) as u8 ^ n, (y * 5) as u8, ((x + y) * 3) as u8 | n]);
            }
        }
        Rgb8 {
            width,
            height,
            data,
        }
    }

    /// Peak signal-to-noise ratio (dB) between two RGB buffers.
    fn psnr(a: &[u8], b: &[u8]) -> f64 {
        let se: f64 = a
            .iter()
            .zip(b)
            .map(|(&p, &q)| (f64::from(p) - f64::from(q)).powi(2))
            .sum();
        10.0 * (255.0f64.powi(2) / (se / a.len() as f64)).log10()
    }

    #[test]
    fn ycbcr_transcode_matches_the_rgb_round_trip() {
        // Even and odd sides (edge replication), several MCU rows.
        for (w, h) in [(64, 48), (33, 17), (1, 1), (250, 3)] {
            let source = encode_jpeg(&textured(w, h), 95).unwrap();
            let (dims, fast) = compress_frame(&source, 70).unwrap();
            assert_eq!((dims.width, dims.height), (w, h));
            let via_rgb = encode_jpeg(&decode_rgb8(&source).unwrap(), 70).unwrap();
            if w * h > 1 {
                assert_ne!(fast, via_rgb, "{w}×{h}: the YCbCr path was not taken");
            }
            let (a, b) = (decode_rgb8(&fast).unwrap(), decode_rgb8(&via_rgb).unwrap());
            assert_eq!((a.width, a.height), (w, h));
            let db = psnr(&a.data, &b.data);
            assert!(db > 38.0, "{w}×{h}: {db:.1} dB apart");
            let to_source = psnr(&a.data, &decode_rgb8(&source).unwrap().data);
            let rgb_to_source = psnr(&b.data, &decode_rgb8(&source).unwrap().data);
            assert!(
                to_source > rgb_to_source - 0.5,
                "{w}×{h}: {to_source:.1} dB vs {rgb_to_source:.1} dB through RGB"
            );
        }
        // A grey JPEG goes through RGB and still comes out right.
        let grey =
            ::image::DynamicImage::ImageLuma8(::image::GrayImage::from_fn(20, 10, |x, _| {
                ::image::Luma([(x * 12) as u8])
            }));
        let mut src = Cursor::new(Vec::new());
        grey.write_to(&mut src, ImageFormat::Jpeg).unwrap();
        let (dims, out) = compress_frame(src.get_ref(), 70).unwrap();
        assert_eq!((dims.width, dims.height), (20, 10));
        assert_eq!(decode_rgb8(&out).unwrap().width, 20);
    }

    #[test]
    fn extension_follows_splitext() {
        assert_eq!(extension("a.PNG"), ".PNG");
        assert_eq!(extension("dir.d/file"), "");
        assert_eq!(extension(".png"), "");
        assert_eq!(extension("..png"), "");
        assert_eq!(extension("x/.hidden.jpg"), ".jpg");
        assert_eq!(extension("a.tar.gz"), ".gz");
        assert_eq!(extension("noext"), "");
        assert_eq!(extension("trailing."), ".");
    }

    #[test]
    fn eoi_walk() {
        // SOI, APP1 whose payload contains FF D9, then SOS with entropy data and EOI.
        let mut jpeg = vec![0xFF, 0xD8, 0xFF, 0xE1, 0x00, 0x06, 0xFF, 0xD9, 0x00, 0x00];
        jpeg.extend_from_slice(&[0xFF, 0xDA, 0x00, 0x02, 0x12, 0xFF, 0x00, 0x34, 0xFF, 0xD0]);
        assert!(!jpeg_reaches_eoi(&jpeg));
        jpeg.extend_from_slice(&[0x56, 0xFF, 0xFF, 0xD9, 0x00]);
        assert!(jpeg_reaches_eoi(&jpeg));
        assert!(!jpeg_reaches_eoi(&[0xFF, 0xD8]));
        assert!(!jpeg_reaches_eoi(&[0xFF, 0xD8, 0xFF, 0xE0, 0xFF]));
    }

    #[test]
    fn in_place_conversions() {
        let mut buf = vec![1, 2, 0, 0, 0, 0];
        to_rgb8_in_place(&mut buf, ColorType::L8, 2, 2).unwrap();
        assert_eq!(buf, [1, 1, 1, 2, 2, 2]);

        let mut buf = vec![1, 2, 3, 9, 4, 5, 6, 9];
        to_rgb8_in_place(&mut buf, ColorType::Rgba8, 2, 8).unwrap();
        assert_eq!(&buf[..6], [1, 2, 3, 4, 5, 6]);

        let px: Vec<u8> = [0x1234u16, 0xABCD, 0xFFFF]
            .iter()
            .flat_map(|v| v.to_ne_bytes())
            .collect();
        let mut buf = px.clone();
        to_rgb8_in_place(&mut buf, ColorType::Rgb16, 1, 6).unwrap();
        assert_eq!(&buf[..3], [0x12, 0xAB, 0xFF]);

        let mut buf = vec![0u8; 6];
        buf[..4].copy_from_slice(&[0x00, 0x00, 0x00, 0x00]);
        buf[..2].copy_from_slice(&0x8000u16.to_ne_bytes());
        buf[2..4].copy_from_slice(&0x4000u16.to_ne_bytes());
        to_rgb8_in_place(&mut buf, ColorType::L16, 2, 4).unwrap();
        assert_eq!(buf, [0x80, 0x80, 0x80, 0x40, 0x40, 0x40]);

        assert!(to_rgb8_in_place(&mut [0u8; 3], ColorType::Rgba8, 1, 3).is_err());
    }

    #[test]
    fn preview_sizes_match_pillow() {
        assert_eq!(preview_size(1920, 1080), (256, 144));
        assert_eq!(preview_size(100, 50), (100, 50));
        assert_eq!(preview_size(100, 300), (85, 256));
        assert_eq!(preview_size(300, 300), (256, 256));
        assert_eq!(preview_size(10_000, 1), (256, 1));
        assert_eq!(preview_size(1, 10_000), (1, 256));
        assert_eq!(preview_size(257, 256), (256, 255));
    }
}
