//! PDF documents through poppler's `pdfinfo` and `pdftoppm` (child processes,
//! [`crate::tool`]): every page becomes a JPEG file that then goes through the image
//! pipeline like any uploaded image.
//!
//! Pages are rendered at [`DPI`] (200, the default of `pdf2image`, which CVAT uses), as
//! baseline JPEG at quality [`QUALITY`] — the "original" of a page frame. Their sizes
//! are read first with `pdfinfo`, so a page that would render past the decoder's pixel
//! limit is refused before anything is drawn.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::image::check_limits;
use crate::tool;
use crate::{MediaError, Result};

/// Resolution pages are rendered at.
pub const DPI: u32 = 200;
/// JPEG quality of rendered pages.
pub const QUALITY: u8 = 95;
/// Deadline of reading a document's page sizes.
const INFO_TIMEOUT: Duration = Duration::from_secs(120);

/// Page sizes in points (1/72 inch), as `pdfinfo -f 1 -l N` prints them, rotation applied.
pub fn parse_page_sizes(text: &str) -> Vec<(f64, f64)> {
    let mut sizes: Vec<(f64, f64)> = Vec::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("Page") else {
            continue;
        };
        let Some((_, value)) = rest.split_once(':') else {
            continue;
        };
        if rest.trim_start().split(' ').nth(1) == Some("size:") {
            let mut nums = value
                .split_whitespace()
                .filter_map(|t| t.parse::<f64>().ok());
            if let (Some(w), Some(h)) = (nums.next(), nums.next()) {
                sizes.push((w, h));
            }
        } else if rest.trim_start().split(' ').nth(1) == Some("rot:")
            && let Some(last) = sizes.last_mut()
            && value
                .trim()
                .parse::<i64>()
                .is_ok_and(|r| r.rem_euclid(180) == 90)
        {
            *last = (last.1, last.0);
        }
    }
    sizes
}

/// Pixels of a page of `points` at [`DPI`], as pdftoppm rounds them.
pub fn pixels(points: f64) -> u32 {
    (points * f64::from(DPI) / 72.0).ceil().max(1.0) as u32
}

/// Renders every page of `pdf` into `out_dir` as `<base><page, 9 digits>.jpeg` (0-based,
/// CVAT's names, §7.2.2) and returns them in page order with their paths. `timeout`
/// bounds the rendering of the whole document.
pub fn render(
    pdf: &Path,
    out_dir: &Path,
    base: &str,
    timeout: Duration,
) -> Result<Vec<(String, PathBuf)>> {
    let mut info = tool::command("pdfinfo", ["-f", "1", "-l", "1000000000"]);
    info.arg(tool::path_arg(pdf));
    let text = tool::output(info, INFO_TIMEOUT, 64 << 20).map_err(|e| match e {
        MediaError::Corrupt(m) => MediaError::Corrupt(format!("not a readable PDF ({m})")),
        e => e,
    })?;
    let sizes = parse_page_sizes(&String::from_utf8_lossy(&text));
    if sizes.is_empty() {
        return Err(MediaError::Corrupt("the PDF has no pages".into()));
    }
    for (i, &(w, h)) in sizes.iter().enumerate() {
        check_limits(pixels(w), pixels(h))
            .map_err(|e| MediaError::TooLarge(format!("page {} at {DPI} dpi: {e}", i + 1)))?;
    }
    std::fs::create_dir_all(out_dir)?;
    let prefix = out_dir.join("page");
    let mut cmd = tool::command(
        "pdftoppm",
        [
            "-r".to_string(),
            DPI.to_string(),
            "-jpeg".into(),
            "-jpegopt".into(),
            format!("quality={QUALITY}"),
        ],
    );
    cmd.arg(tool::path_arg(pdf)).arg(tool::path_arg(&prefix));
    tool::output(cmd, timeout, 1 << 20)?;
    // pdftoppm names pages `page-1.jpg` … with as many digits as the last page needs
    let mut pages: Vec<(u64, PathBuf)> = std::fs::read_dir(out_dir)?
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let n = name
                .strip_prefix("page-")?
                .strip_suffix(".jpg")?
                .parse()
                .ok()?;
            Some((n, e.path()))
        })
        .collect();
    pages.sort();
    if pages.len() != sizes.len() {
        return Err(MediaError::Corrupt(format!(
            "pdftoppm rendered {} of the {} pages",
            pages.len(),
            sizes.len()
        )));
    }
    let mut out = Vec::with_capacity(pages.len());
    for (i, (_, path)) in pages.into_iter().enumerate() {
        let name = format!("{base}{i:09}.jpeg");
        let dest = out_dir.join(&name);
        std::fs::rename(&path, &dest)?;
        out.push((name, dest));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Recorded with pdfinfo 22.12 (Debian 12): two pages, the second turned.
    const INFO: &str = "Producer:        x\nPages:           2\nPage    1 size:  144 x 72 pts\n\
        Page    1 rot:   0\nPage    2 size:  612 x 792 pts (letter)\nPage    2 rot:   90\n\
        File size:       853 bytes\n";

    #[test]
    fn page_sizes() {
        assert_eq!(parse_page_sizes(INFO), vec![(144.0, 72.0), (792.0, 612.0)]);
        assert_eq!(pixels(612.0), 1700);
        assert_eq!(pixels(72.0), 200);
        assert!(parse_page_sizes("Syntax Error: Couldn't read xref table").is_empty());
    }
}
