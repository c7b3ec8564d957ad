//! Video through `ffprobe` and `ffmpeg` (child processes, [`crate::tool`]): the probe and
//! packet index, the one-pass transcode into chunks, and frames decoded from a chunk.
//!
//! **One decode.** [`transcode`] runs one `ffmpeg` that decodes the video once, selects the
//! task's frames (`start`, `stop`, `step`), and splits them: the original chunks (H.264 at
//! CRF 17, `ultrafast`, original size) and, for `use_zip_chunks=false`, the compressed
//! chunks (H.264 Constrained Baseline, no deblocking, no weighted prediction, CRF mapped
//! from `image_quality`, downscaled below 1080 lines) are written by ffmpeg's segment
//! muxer, one independent mp4 per chunk, each starting with a keyframe forced at every
//! `chunk_size`-th frame; for `use_zip_chunks=true` the frames also come out on a pipe as
//! YUV4MPEG2 (planar 4:2:0) and the caller encodes them to JPEG without a colour
//! conversion. The pipe is read as fast as the caller takes frames, so memory stays at a
//! few frames whatever the video's length.
//!
//! **The index.** [`probe`] reads the stream header and the packet list (`ffprobe
//! -show_packets`, a demux without decoding): the number of frames (packets the
//! container does not mark as discarded by an edit list), the keyframes, and whether the
//! header's frame count lies. The transcode compares what it decoded with it, so a
//! truncated or broken video fails naming the first frame it could not decode.
//!
//! Chunk frames run at 25 fps (timestamps renumbered), as CVAT 1.1 writes them; the
//! source's own timing (variable frame rate, B-frame reordering) only decides the order
//! of frames, which is presentation order.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::image::{Rgb8, check_limits};
use crate::tool;
use crate::{MediaError, Result};

/// Frame rate of chunks.
pub const CHUNK_FPS: u32 = 25;
/// Deadline of a probe, a preview or one frame from a chunk.
pub const SHORT_TIMEOUT: Duration = Duration::from_secs(120);
/// Default chunk size when compressed chunks are mp4 (§7.2.5).
pub const VIDEO_CHUNK_SIZE: u32 = 36;

/// What the stream header says.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamInfo {
    pub codec: String,
    /// Coded size, before rotation.
    pub coded_width: u32,
    pub coded_height: u32,
    /// Rotation in degrees from the display matrix or the `rotate` tag.
    pub rotation: i32,
    /// The header's frame count, when it has one.
    pub header_frames: Option<u64>,
    /// Duration in seconds (stream, else container).
    pub duration: Option<f64>,
}

impl StreamInfo {
    /// The size of decoded frames: ffmpeg applies the rotation, so a quarter turn swaps
    /// the sides.
    pub fn display_size(&self) -> (u32, u32) {
        if self.rotation.rem_euclid(180) == 90 {
            (self.coded_height, self.coded_width)
        } else {
            (self.coded_width, self.coded_height)
        }
    }
}

/// The container's packet index of the video stream.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PacketIndex {
    /// Frames that decode to a picture (packets not marked discarded).
    pub frames: u64,
    /// Keyframes, as frame numbers in presentation order.
    pub keyframes: Vec<u64>,
    /// What the demuxer complained about while listing packets (a truncated file, a
    /// packet past the end): the video is damaged after `frames` frames.
    pub damage: Option<String>,
}

/// A probed video.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoInfo {
    pub stream: StreamInfo,
    pub index: PacketIndex,
}

impl VideoInfo {
    /// Width and height of the decoded frames.
    pub fn size(&self) -> (u32, u32) {
        self.stream.display_size()
    }
}

fn ffprobe(args: &[&str], path: &Path) -> std::process::Command {
    let mut cmd = tool::command("ffprobe", ["-v", "error", "-hide_banner"]);
    cmd.args(args).arg(tool::file_arg(path));
    cmd
}

/// Reads the header and the packet index of `path`'s first video stream.
pub fn probe(path: &Path) -> Result<VideoInfo> {
    let header = tool::output(
        ffprobe(
            &[
                "-select_streams",
                "v:0",
                "-show_entries",
                "stream=codec_name,width,height,nb_frames,duration:stream_tags=rotate:\
                 stream_side_data=rotation:format=duration",
                "-of",
                "json",
            ],
            path,
        ),
        SHORT_TIMEOUT,
        1 << 20,
    )
    .map_err(not_a_video)?;
    let stream = parse_stream(&header)?;
    let mut run = tool::spawn(
        ffprobe(
            &[
                "-select_streams",
                "v:0",
                "-show_entries",
                "packet=pts,dts,flags",
                "-of",
                "csv=p=0",
            ],
            path,
        ),
        SHORT_TIMEOUT * 5,
    )?;
    let index = read_index(BufReader::new(run.stdout()));
    let stderr = run.finish().map_err(not_a_video)?;
    let mut index = index?;
    let said = tool::last_lines(&stderr, 2);
    index.damage = (!said.is_empty()).then_some(said);
    if index.frames == 0 {
        return Err(MediaError::Corrupt("the video has no frames".into()));
    }
    Ok(VideoInfo { stream, index })
}

fn not_a_video(e: MediaError) -> MediaError {
    match e {
        MediaError::Corrupt(m) => MediaError::Corrupt(format!("not a readable video ({m})")),
        e => e,
    }
}

/// Parses `ffprobe -show_entries stream=…:format=duration -of json`.
pub fn parse_stream(json: &[u8]) -> Result<StreamInfo> {
    let v: serde_json::Value = serde_json::from_slice(json)
        .map_err(|e| MediaError::Corrupt(format!("ffprobe printed no JSON: {e}")))?;
    let Some(s) = v["streams"].get(0) else {
        return Err(MediaError::Unsupported(
            "the file has no video stream".into(),
        ));
    };
    let num = |v: &serde_json::Value| -> Option<f64> {
        v.as_f64()
            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
    };
    let dim = |k: &str| {
        s[k].as_u64()
            .and_then(|d| u32::try_from(d).ok())
            .filter(|&d| d > 0)
            .ok_or_else(|| MediaError::Corrupt(format!("the video stream has no {k}")))
    };
    let rotation = s["side_data_list"]
        .as_array()
        .into_iter()
        .flatten()
        .find_map(|d| num(&d["rotation"]))
        .or_else(|| num(&s["tags"]["rotate"]).map(|r| -r))
        .unwrap_or(0.0);
    let info = StreamInfo {
        codec: s["codec_name"].as_str().unwrap_or("unknown").to_string(),
        coded_width: dim("width")?,
        coded_height: dim("height")?,
        rotation: (rotation.round() as i32).rem_euclid(360),
        header_frames: num(&s["nb_frames"]).map(|n| n as u64).filter(|&n| n > 0),
        duration: num(&s["duration"]).or_else(|| num(&v["format"]["duration"])),
    };
    check_limits(info.coded_width, info.coded_height)?;
    Ok(info)
}

/// Reads `ffprobe -show_entries packet=pts,dts,flags -of csv=p=0` lines: frames are the
/// packets without the discard flag (`D`, edit lists), ordered by presentation time
/// (decode time, then file order, where a packet has none).
pub fn read_index(reader: impl BufRead) -> Result<PacketIndex> {
    // (presentation key, order in the file, keyframe)
    let mut packets: Vec<(i64, u64, bool)> = Vec::new();
    for (order, line) in reader.lines().enumerate() {
        let line = line?;
        let mut parts = line.trim().split(',');
        let (pts, dts, flags) = (parts.next(), parts.next(), parts.next().unwrap_or(""));
        if flags.contains('D') {
            continue;
        }
        let time = |s: Option<&str>| s.and_then(|s| s.parse::<i64>().ok());
        let key = time(pts)
            .or(time(dts))
            .unwrap_or(i64::MAX - (1 << 40) + order as i64);
        packets.push((key, order as u64, flags.starts_with('K')));
    }
    packets.sort_unstable();
    Ok(PacketIndex {
        frames: packets.len() as u64,
        keyframes: packets
            .iter()
            .enumerate()
            .filter(|(_, p)| p.2)
            .map(|(i, _)| i as u64)
            .collect(),
        damage: None,
    })
}

/// The task's choice of source frames (§7.2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Selection {
    pub start: u64,
    /// Last source frame, inclusive; `None` = to the end.
    pub stop: Option<u64>,
    pub step: u64,
}

impl Selection {
    /// How many frames are selected out of `frames` source frames.
    pub fn count(&self, frames: u64) -> u64 {
        let last = match self.stop {
            Some(s) => s.min(frames.saturating_sub(1)),
            None => frames.saturating_sub(1),
        };
        if frames == 0 || self.start > last {
            0
        } else {
            (last - self.start) / self.step.max(1) + 1
        }
    }

    /// Source frame number of the `k`-th selected frame.
    pub fn source_frame(&self, k: u64) -> u64 {
        self.start + k * self.step.max(1)
    }

    fn filter(&self) -> String {
        let mut f = format!(
            "select='gte(n\\,{s})*not(mod(n-{s}\\,{t}))",
            s = self.start,
            t = self.step.max(1)
        );
        if let Some(stop) = self.stop {
            f.push_str(&format!("*lte(n\\,{stop})"));
        }
        f.push('\'');
        f
    }
}

/// `round(51 * (100 - quality) / 99)`, the CRF of compressed chunks (§7.2.4), at most
/// 51 (x264's largest; quality 0 would give 52).
pub fn crf_of_quality(quality: u8) -> u8 {
    let q = u32::from(quality.min(100));
    ((2 * 51 * (100 - q) + 99) / 198).min(51) as u8
}

fn even_up(n: u32) -> u32 {
    n + (n & 1)
}

/// Size of compressed mp4 chunks for frames of `width`×`height`: downscaled by the
/// smallest power of two `f` with `height / f < 1080`, then rounded up to even (§7.2.4).
pub fn compressed_size(width: u32, height: u32) -> (u32, u32) {
    let mut f = 1;
    while height / f >= 1080 {
        f *= 2;
    }
    (even_up(width.div_ceil(f)), even_up(height.div_ceil(f)))
}

/// Size of original mp4 chunks: the frame size rounded up to even.
pub fn original_size(width: u32, height: u32) -> (u32, u32) {
    (even_up(width), even_up(height))
}

/// ffmpeg's encoder arguments for compressed mp4 chunks (§7.2.4): H.264 Constrained
/// Baseline (no CABAC, no weighted prediction), no in-loop deblocking, `ultrafast`, the
/// CRF of `quality`, yuv420p.
pub fn compressed_codec_args(quality: u8) -> Vec<String> {
    [
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-profile:v",
        "baseline",
        "-x264-params",
        "cabac=0:weightp=0:no-deblock=1",
        "-crf",
        &crf_of_quality(quality).to_string(),
        "-pix_fmt",
        "yuv420p",
    ]
    .map(String::from)
    .to_vec()
}

/// What [`transcode`] writes.
#[derive(Debug, Clone)]
pub struct ChunkPlan {
    pub selection: Selection,
    pub chunk_size: u32,
    /// `image_quality`.
    pub quality: u8,
    /// Folder of the original chunks `<n>.mp4`.
    pub original_dir: PathBuf,
    /// Folder of compressed mp4 chunks, or `None` when the compressed chunks are JPEG
    /// zips made by the caller from the frames on the pipe.
    pub compressed_dir: Option<PathBuf>,
    /// Deadline of the whole transcode.
    pub timeout: Duration,
}

/// One decoded frame, planar YUV 4:2:0 (limited range, as the video has it): Y of
/// `width*height` bytes, then Cb and Cr of `ceil(w/2)*ceil(h/2)` each.
pub struct YuvFrame {
    pub width: u32,
    pub height: u32,
    pub data: Vec<u8>,
}

/// How a transcode went.
#[derive(Debug, Clone, PartialEq)]
pub struct Transcoded {
    /// Frames written (selected and decoded).
    pub frames: u64,
    /// ffmpeg's complaints (stderr at level `error`), empty when clean.
    pub warnings: String,
}

fn segment_args(cmd: &mut std::process::Command, label: &str, chunk: u32, dir: &Path) {
    cmd.args(["-map", label, "-fps_mode", "passthrough"]);
    cmd.args([
        "-force_key_frames",
        &format!("expr:eq(mod(n,{chunk}),0)"),
        "-f",
        "segment",
        "-segment_time",
        &format!("{}", f64::from(chunk) / f64::from(CHUNK_FPS)),
        "-reset_timestamps",
        "1",
        "-segment_format",
        "mp4",
        "-segment_format_options",
        "movflags=+faststart",
    ]);
    cmd.arg(dir.join("%d.mp4"));
}

/// Decodes `src` once and writes the chunks of `plan`; for zip compressed chunks, hands
/// every selected frame to `on_frame` in order. `on_progress` gets the number of frames
/// done. Fails when ffmpeg fails or fewer frames decode than `info`'s index promises
/// (naming the first missing source frame).
pub fn transcode(
    src: &Path,
    info: &VideoInfo,
    plan: &ChunkPlan,
    mut on_frame: impl FnMut(YuvFrame) -> Result<()>,
    mut on_progress: impl FnMut(u64),
) -> Result<Transcoded> {
    let (w, h) = info.size();
    let (ow, oh) = original_size(w, h);
    let mut graph = format!(
        "[0:v:0]{},format=yuv420p,setpts=N/({CHUNK_FPS}*TB),split=2[a][b];[a]scale={ow}:{oh}[orig]",
        plan.selection.filter()
    );
    let zip = plan.compressed_dir.is_none();
    if zip {
        graph.push_str(";[b]null[pipe]");
    } else {
        let (cw, ch) = compressed_size(w, h);
        graph.push_str(&format!(";[b]scale={cw}:{ch}[comp]"));
    }
    let mut cmd = tool::command(
        "ffmpeg",
        ["-nostdin", "-hide_banner", "-nostats", "-v", "error"],
    );
    cmd.arg("-i").arg(tool::file_arg(src));
    cmd.args(["-filter_complex", &graph]);
    let expected = plan.selection.count(info.index.frames);
    let chunk = plan.chunk_size.max(1);
    // original chunks
    cmd.args([
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-crf",
        "17",
        "-pix_fmt",
        "yuv420p",
    ]);
    segment_args(&mut cmd, "[orig]", chunk, &plan.original_dir);
    match &plan.compressed_dir {
        Some(dir) => {
            cmd.args(compressed_codec_args(plan.quality));
            segment_args(&mut cmd, "[comp]", chunk, dir);
            cmd.args(["-progress", "pipe:1"]);
        }
        None => {
            cmd.args([
                "-map",
                "[pipe]",
                "-fps_mode",
                "passthrough",
                "-f",
                "yuv4mpegpipe",
                "pipe:1",
            ]);
        }
    }
    let mut run = tool::spawn(cmd, plan.timeout)?;
    let mut frames = 0u64;
    let read = if zip {
        read_y4m(BufReader::with_capacity(1 << 20, run.stdout()), |f| {
            frames += 1;
            on_frame(f)?;
            on_progress(frames);
            Ok(())
        })
    } else {
        read_progress(BufReader::new(run.stdout()), |n| {
            frames = n;
            on_progress(n);
        })
    };
    if let Err(e) = read {
        // the child is killed on drop; its complaint may say why the pipe broke
        drop(run);
        return Err(e);
    }
    let stderr = run.finish()?;
    let warnings = tool::last_lines(&stderr, 4);
    if frames < expected && !warnings.is_empty() || frames == 0 {
        let first_bad = plan.selection.source_frame(frames);
        return Err(MediaError::Corrupt(format!(
            "the video is broken or truncated at frame {first_bad}: {frames} of {expected} \
             frames decoded{}",
            if warnings.is_empty() {
                String::new()
            } else {
                format!(" (ffmpeg: {warnings})")
            }
        )));
    }
    Ok(Transcoded { frames, warnings })
}

/// Reads `-progress` key=value blocks and reports each `frame=` count.
fn read_progress(reader: impl BufRead, mut on: impl FnMut(u64)) -> Result<()> {
    for line in reader.lines() {
        let line = line?;
        if let Some(n) = line.strip_prefix("frame=")
            && let Ok(n) = n.trim().parse()
        {
            on(n);
        }
    }
    Ok(())
}

/// Reads a YUV4MPEG2 stream of 4:2:0 frames.
pub fn read_y4m(
    mut reader: impl BufRead,
    mut on: impl FnMut(YuvFrame) -> Result<()>,
) -> Result<()> {
    let bad = |m: &str| MediaError::Corrupt(format!("YUV4MPEG2 stream: {m}"));
    let mut header = Vec::new();
    (&mut reader).take(4096).read_until(b'\n', &mut header)?;
    if header.is_empty() {
        return Ok(()); // no frame at all: the caller reports it
    }
    let header = String::from_utf8_lossy(&header);
    let mut fields = header.trim_end().split(' ');
    if fields.next() != Some("YUV4MPEG2") {
        return Err(bad("no header"));
    }
    let (mut width, mut height, mut colour) = (0u32, 0u32, "420jpeg".to_string());
    for f in fields {
        match f.split_at_checked(1) {
            Some(("W", v)) => width = v.parse().map_err(|_| bad("bad width"))?,
            Some(("H", v)) => height = v.parse().map_err(|_| bad("bad height"))?,
            Some(("C", v)) => colour = v.to_string(),
            _ => {}
        }
    }
    if !colour.starts_with("420") {
        return Err(bad(&format!("colour space {colour}, expected 4:2:0")));
    }
    check_limits(width, height)?;
    let (w, h) = (width as usize, height as usize);
    let len = w * h + 2 * w.div_ceil(2) * h.div_ceil(2);
    let mut line = Vec::new();
    loop {
        line.clear();
        (&mut reader).take(1024).read_until(b'\n', &mut line)?;
        if line.is_empty() {
            return Ok(());
        }
        if !line.starts_with(b"FRAME") || !line.ends_with(b"\n") {
            return Err(bad("no frame header"));
        }
        let mut data = vec![0u8; len];
        reader.read_exact(&mut data)?;
        on(YuvFrame {
            width,
            height,
            data,
        })?;
    }
}

/// Frames of a video file (a chunk) decoded to RGB by ffmpeg's `ppm` pipe, pulled one
/// at a time: memory holds one frame. Dropping the stream stops ffmpeg.
pub struct FrameStream {
    reader: BufReader<std::process::ChildStdout>,
    run: Option<tool::Running>,
}

impl FrameStream {
    /// Starts decoding `file`; `only` = just that frame (0-based).
    pub fn open(file: &Path, only: Option<u64>) -> Result<FrameStream> {
        let mut cmd = tool::command("ffmpeg", ["-nostdin", "-hide_banner", "-v", "error"]);
        cmd.arg("-i").arg(tool::file_arg(file));
        cmd.args(["-map", "0:v:0", "-fps_mode", "passthrough"]);
        if let Some(k) = only {
            cmd.args(["-vf", &format!("select=eq(n\\,{k})"), "-frames:v", "1"]);
        }
        cmd.args([
            "-f",
            "image2pipe",
            "-c:v",
            "ppm",
            "-pix_fmt",
            "rgb24",
            "pipe:1",
        ]);
        let mut run = tool::spawn(cmd, SHORT_TIMEOUT)?;
        Ok(FrameStream {
            reader: BufReader::with_capacity(1 << 20, run.take_stdout()),
            run: Some(run),
        })
    }

    /// The next frame, or `None` after the last one (then ffmpeg's exit is checked).
    pub fn next_frame(&mut self) -> Result<Option<Rgb8>> {
        match read_ppm(&mut self.reader)? {
            Some(img) => Ok(Some(img)),
            None => {
                if let Some(run) = self.run.take() {
                    run.finish()?;
                }
                Ok(None)
            }
        }
    }
}

/// Frame `index` (0-based) of a video chunk (or any video file).
pub fn frame(file: &Path, index: u64) -> Result<Rgb8> {
    FrameStream::open(file, Some(index))?
        .next_frame()?
        .ok_or_else(|| MediaError::Corrupt(format!("the video has no frame {index}")))
}

/// Reads one binary PPM (`P6`, maxval 255) or `None` at the end of the stream.
fn read_ppm(reader: &mut impl BufRead) -> Result<Option<Rgb8>> {
    let bad = |m: &str| MediaError::Corrupt(format!("ffmpeg's PPM stream: {m}"));
    let mut tokens = Vec::with_capacity(4);
    let mut token = Vec::new();
    let mut byte = [0u8; 1];
    while tokens.len() < 4 {
        if reader.read(&mut byte)? == 0 {
            if tokens.is_empty() && token.is_empty() {
                return Ok(None);
            }
            return Err(bad("truncated header"));
        }
        if byte[0].is_ascii_whitespace() {
            if !token.is_empty() {
                tokens.push(String::from_utf8_lossy(&token).into_owned());
                token.clear();
            }
        } else if token.len() < 16 {
            token.push(byte[0]);
        } else {
            return Err(bad("header token too long"));
        }
    }
    let num = |s: &str| s.parse::<u32>().map_err(|_| bad("bad number"));
    if tokens[0] != "P6" || num(&tokens[3])? != 255 {
        return Err(bad("not an 8-bit P6 image"));
    }
    let (width, height) = (num(&tokens[1])?, num(&tokens[2])?);
    check_limits(width, height)?;
    let mut data = vec![0u8; width as usize * height as usize * 3];
    reader.read_exact(&mut data)?;
    Ok(Some(Rgb8 {
        width,
        height,
        data,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    // Recorded with ffprobe 5.1 (Debian 12) on an mp4 whose stream carries a
    // display matrix of 90° (made with `-metadata:s:v rotate=90`).
    const ROTATED: &str = r#"{
    "programs": [ ],
    "streams": [ { "codec_name": "h264", "width": 640, "height": 360,
        "nb_frames": "100", "duration": "4.000000", "tags": { },
        "side_data_list": [ { "rotation": 90 } ] } ],
    "format": { "duration": "4.000000" } }"#;
    // webm (VP9): no frame count, duration only in the container.
    const WEBM: &str = r#"{ "programs": [ ], "streams": [ { "codec_name": "vp9",
        "width": 320, "height": 240, "tags": { } } ], "format": { "duration": "1.200000" } }"#;
    // 5 packets of H.264 with B-frames (pts, dts, flags), then one discarded by an
    // edit list.
    const PACKETS: &str =
        "0,-1024,K_\n1024,-512,__\n512,0,__\n2048,512,K_\n1536,1024,__\n-512,-1536,_D\n";

    #[test]
    fn stream_headers() {
        let s = parse_stream(ROTATED.as_bytes()).unwrap();
        assert_eq!(s.display_size(), (360, 640));
        assert_eq!(s.header_frames, Some(100));
        assert_eq!(s.rotation, 90);
        let w = parse_stream(WEBM.as_bytes()).unwrap();
        assert_eq!(
            (
                w.codec.as_str(),
                w.display_size(),
                w.header_frames,
                w.duration
            ),
            ("vp9", (320, 240), None, Some(1.2))
        );
        let e = parse_stream(br#"{"streams": []}"#).unwrap_err().to_string();
        assert!(e.contains("no video stream"), "{e}");
        assert!(parse_stream(b"garbage").is_err());
        let huge = r#"{"streams":[{"width":100000,"height":100000}]}"#;
        assert!(parse_stream(huge.as_bytes()).is_err());
    }

    #[test]
    fn packet_index_in_presentation_order() {
        let idx = read_index(PACKETS.as_bytes()).unwrap();
        assert_eq!(idx.frames, 5);
        // presentation order: 0(K) 512 1024 1536 2048(K)
        assert_eq!(idx.keyframes, vec![0, 4]);
    }

    #[test]
    fn selection_and_sizes() {
        let all = Selection {
            start: 0,
            stop: None,
            step: 1,
        };
        assert_eq!(all.count(100), 100);
        let some = Selection {
            start: 3,
            stop: Some(90),
            step: 2,
        };
        assert_eq!(some.count(100), 44);
        assert_eq!(some.count(50), 24);
        assert_eq!(some.source_frame(2), 7);
        assert_eq!(crf_of_quality(100), 0);
        assert_eq!(crf_of_quality(0), 51);
        assert_eq!(crf_of_quality(70), 15);
        assert_eq!(crf_of_quality(50), 26);
        assert_eq!(compressed_size(1920, 1080), (960, 540));
        assert_eq!(compressed_size(1280, 720), (1280, 720));
        assert_eq!(compressed_size(3840, 2160), (960, 540));
        assert_eq!(compressed_size(641, 361), (642, 362));
        assert_eq!(original_size(641, 360), (642, 360));
    }

    #[test]
    fn y4m_and_ppm_streams() {
        let mut s = b"YUV4MPEG2 W3 H2 F25:1 Ip A1:1 C420mpeg2\n".to_vec();
        for v in [1u8, 2] {
            s.extend_from_slice(b"FRAME\n");
            s.extend(std::iter::repeat_n(v, 3 * 2 + 2 * 2));
        }
        let mut got = Vec::new();
        read_y4m(&s[..], |f| {
            got.push((f.width, f.height, f.data));
            Ok(())
        })
        .unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[1], (3, 2, vec![2u8; 10]));
        assert!(read_y4m(&s[..s.len() - 1], |_| Ok(())).is_err());
        let bad = b"YUV4MPEG2 W3 H2 C444\n";
        assert!(read_y4m(&bad[..], |_| Ok(())).is_err());

        let mut p = b"P6\n2 1\n255\n".to_vec();
        p.extend_from_slice(&[1, 2, 3, 4, 5, 6]);
        let mut r = &p[..];
        let img = read_ppm(&mut r).unwrap().unwrap();
        assert_eq!((img.width, img.height, img.data.len()), (2, 1, 6));
        assert!(read_ppm(&mut r).unwrap().is_none());
        assert!(read_ppm(&mut &b"P6\n2 1\n255\n\x01"[..]).is_err());
    }
}
