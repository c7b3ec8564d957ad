//! Times `compress_frame` (decode + JPEG encode) on the given image files, for comparison with
//! `djpeg FILE | cjpeg -quality Q`.
//!
//! Usage: `cargo run --release -p ferrocat-media --example compress_bench -- [-q QUALITY] FILE...`

use std::time::Instant;

use ferrocat_media::image::{compress_frame, decode_rgb8, encode_jpeg};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1).peekable();
    let mut quality = 70;
    if args.peek().is_some_and(|a| a == "-q") {
        args.next();
        quality = args.next().ok_or("-q needs a value")?.parse()?;
    }
    for path in args {
        let bytes = std::fs::read(&path)?;
        let rounds = 20;
        let (dims, jpeg) = compress_frame(&bytes, quality)?;
        let start = Instant::now();
        for _ in 0..rounds {
            std::hint::black_box(compress_frame(std::hint::black_box(&bytes), quality)?);
        }
        let total = start.elapsed() / rounds;
        let start = Instant::now();
        let mut img = None;
        for _ in 0..rounds {
            img = Some(decode_rgb8(std::hint::black_box(&bytes))?);
        }
        let decode = start.elapsed() / rounds;
        let img = img.ok_or("no rounds")?;
        let start = Instant::now();
        for _ in 0..rounds {
            std::hint::black_box(encode_jpeg(&img, quality)?);
        }
        let encode = start.elapsed() / rounds;
        println!(
            "{path}: {}x{} -> {} bytes; compress_frame {total:?} (decode {decode:?}, encode {encode:?})",
            dims.width,
            dims.height,
            jpeg.len()
        );
    }
    Ok(())
}
