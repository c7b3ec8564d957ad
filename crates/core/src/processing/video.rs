//! The video frame source (api-v1 §7.2, "video" rows): one video file becomes an
//! `interpolation` task whose frames are the video's decoded frames.
//!
//! One ffmpeg process decodes the video once ([`ferrocat_media::video::transcode`]) and
//! writes the mp4 chunks itself; with `use_zip_chunks` the selected frames also come back
//! on a pipe as planar YUV, and the encoder threads here turn them into the JPEG members
//! of the compressed zip chunks while this thread writes each zip as soon as its frames
//! are in. The pipe is bounded (two frames per encoder), so a two-hour video needs the
//! memory of a few frames and one chunk of JPEGs.

use std::path::Path;
use std::sync::{Mutex, mpsc};

use ferrocat_media::MediaError;
use ferrocat_media::chunk;
use ferrocat_media::image::{encode_yuv420_jpeg, preview_jpeg};
use ferrocat_media::video::{self, ChunkPlan, YuvFrame};
use ferrocat_store::tasks::{DataRow, FrameRow};

use super::{Built, Limits, frame_selection, stored_stop_frame, write_chunk};

/// Name of task frame `abs` of a video in exports and frame rows (§10.4).
pub fn frame_name(abs: u64) -> String {
    format!("frame_{abs:06}")
}

/// Builds the chunks, preview and frame rows of the video `path` (`name` in the task).
pub(super) fn build(
    dir: &Path,
    data: &DataRow,
    (name, path): (&str, &Path),
    limits: &Limits,
    progress: &mpsc::Sender<String>,
) -> Result<Built, String> {
    let named = |e: MediaError| format!("{name}: {e}");
    let _ = progress.send("Video is being read..".into());
    let info = video::probe(path).map_err(named)?;
    let (width, height) = info.size();
    let total = info.index.frames;
    if let Some(damage) = &info.index.damage {
        return Err(format!(
            "{name}: the video is broken or truncated at frame {total} (ffprobe: {damage})"
        ));
    }
    let selection = frame_selection(data, total)?;
    let expected = selection.count(total).max(1);
    let zip = data.use_zip_chunks;
    let chunk_size = match data.chunk_size {
        Some(c) => c.clamp(1, i64::from(u32::MAX)) as u32,
        None if zip => chunk::default_chunk_size(width, height),
        None => video::VIDEO_CHUNK_SIZE,
    };
    // the preview is the first frame of the video, not of the selection (§7.2.6)
    let first = video::frame(path, 0).map_err(named)?;
    let preview = preview_jpeg(&first).map_err(|e| format!("preview: {e}"))?;
    drop(first);
    std::fs::write(dir.join("preview.jpeg"), preview)
        .map_err(|e| format!("cannot write the preview: {e}"))?;
    let (original_dir, compressed_dir) = (dir.join("original"), dir.join("compressed"));
    for d in [&original_dir, &compressed_dir] {
        std::fs::create_dir_all(d).map_err(|e| format!("cannot create {d:?}: {e}"))?;
    }
    let plan = ChunkPlan {
        selection,
        chunk_size,
        quality: data.image_quality.clamp(0, 100) as u8,
        original_dir: original_dir.clone(),
        compressed_dir: (!zip).then(|| compressed_dir.clone()),
        timeout: limits.media_timeout,
    };
    let report = |n: u64| {
        let _ = progress.send(format!(
            "Video frames are being compressed {}%",
            (n * 100 / expected).min(100)
        ));
    };
    let frames = if zip {
        transcode_with_zips(path, &info, &plan, &compressed_dir, report).map_err(named)?
    } else {
        video::transcode(path, &info, &plan, |_| Ok(()), report)
            .map_err(named)?
            .frames
    };
    let chunks = frames.div_ceil(u64::from(chunk_size));
    for d in [&original_dir, &compressed_dir] {
        let written = std::fs::read_dir(d).map(|r| r.count() as u64).unwrap_or(0);
        if written != chunks {
            return Err(format!(
                "{name}: {written} chunks were written for {frames} frames, expected {chunks}"
            ));
        }
    }
    let rows = (0..frames)
        .map(|k| FrameRow {
            frame: k as i64,
            name: frame_name(selection.source_frame(k)),
            width: i64::from(width),
            height: i64::from(height),
        })
        .collect();
    Ok(Built {
        frames: rows,
        chunk_size: i64::from(chunk_size),
        stop_frame: stored_stop_frame(&selection, total),
        mode: "interpolation",
        compressed_chunk_type: if zip { "imageset" } else { "video" },
        original_chunk_type: "video",
        video: Some(name.to_string()),
    })
}

/// The transcode of `use_zip_chunks=true`: ffmpeg writes the original mp4 chunks, and
/// the frames on its pipe become the zip chunks of JPEGs here. Returns the frame count.
fn transcode_with_zips(
    path: &Path,
    info: &video::VideoInfo,
    plan: &ChunkPlan,
    compressed_dir: &Path,
    report: impl FnMut(u64),
) -> Result<u64, MediaError> {
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2);
    let chunk_len = plan.chunk_size as usize;
    let quality = plan.quality;
    let (frame_tx, frame_rx) = mpsc::sync_channel::<(usize, YuvFrame)>(workers * 2);
    let frame_rx = Mutex::new(frame_rx);
    std::thread::scope(|s| {
        let (done_tx, done_rx) = mpsc::channel::<(usize, ferrocat_media::Result<Vec<u8>>)>();
        for _ in 0..workers {
            let (frame_rx, done_tx) = (&frame_rx, done_tx.clone());
            s.spawn(move || {
                loop {
                    let next = frame_rx.lock().unwrap_or_else(|e| e.into_inner()).recv();
                    let Ok((i, f)) = next else { break };
                    let jpeg = encode_yuv420_jpeg(&f.data, f.width, f.height, quality);
                    if done_tx.send((i, jpeg)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(done_tx);
        // Writes each chunk once all its members are in; the last one at the end.
        let writer = s.spawn(move || -> Result<(), MediaError> {
            let mut pending: std::collections::BTreeMap<usize, Vec<u8>> = Default::default();
            let mut next_chunk = 0usize;
            let write = |ci: usize, members: Vec<Vec<u8>>| {
                let named: Vec<(String, Vec<u8>)> = members
                    .into_iter()
                    .enumerate()
                    .map(|(k, jpeg)| (chunk::compressed_member_name(k), jpeg))
                    .collect();
                write_chunk(&compressed_dir.join(format!("{ci}.zip")), |w| {
                    chunk::write_zip_chunk(w, named)
                })
                .map_err(MediaError::Corrupt)
            };
            for (i, jpeg) in done_rx {
                pending.insert(i, jpeg?);
                let first = next_chunk * chunk_len;
                if (first..first + chunk_len).all(|k| pending.contains_key(&k)) {
                    let members = (first..first + chunk_len)
                        .filter_map(|k| pending.remove(&k))
                        .collect();
                    write(next_chunk, members)?;
                    next_chunk += 1;
                }
            }
            if !pending.is_empty() {
                let first = next_chunk * chunk_len;
                let members: Vec<Vec<u8>> = (first..first + pending.len())
                    .map_while(|k| pending.remove(&k))
                    .collect();
                if !pending.is_empty() {
                    return Err(MediaError::Corrupt(
                        "a frame was lost while encoding".into(),
                    ));
                }
                write(next_chunk, members)?;
            }
            Ok(())
        });
        let mut sent = 0usize;
        let decoded = video::transcode(
            path,
            info,
            plan,
            |frame| {
                frame_tx
                    .send((sent, frame))
                    .map_err(|_| MediaError::Corrupt("the JPEG encoders stopped".into()))?;
                sent += 1;
                Ok(())
            },
            report,
        );
        drop(frame_tx);
        let written = writer
            .join()
            .unwrap_or_else(|_| Err(MediaError::Corrupt("the chunk writer crashed".into())));
        // an encoder's error explains a broken pipe better than the pipe does
        written?;
        Ok(decoded?.frames)
    })
}
