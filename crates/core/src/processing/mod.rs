//! Task data processing (api-v1 §7.2), run by the background worker as a queue item.
//!
//! The pipeline: gather the sources into the data folder (`raw/`: uploads are already
//! there, share files are copied), unpack one archive if that is the source, order the
//! image files by name, select frames (`start_frame`, `stop_frame`, `step`), then decode
//! and re-encode the frames (and make the preview) on all cores while one thread writes
//! each compressed and original zip chunk as soon as its frames are done. Only when everything is written does one
//! transaction make the frames, segments and jobs visible; on failure the data record
//! and its folder are removed and the queue item says why.
//!
//! [`collect_frames`] finds the task's one frame source: images (files, folders, the
//! members of one archive, or the pages of one PDF rendered to JPEG by
//! [`ferrocat_media::pdf`]) go through the image pipeline here; one video goes to
//! [`video`], which makes the same chunk files (mp4 or zip) that serving and exports read.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use ferrocat_media::image::{MediaKind, classify_name, compress_frame, decode_rgb8, preview_jpeg};
use ferrocat_media::video::Selection;
use ferrocat_media::{archive, chunk};
use ferrocat_store::queue::QueueItem;
use ferrocat_store::tasks::{DataRow, FrameRow};
use futures_util::TryStreamExt;
use futures_util::future::BoxFuture;
use serde_json::Value;

use crate::Core;
use crate::queue::lease;
use crate::tasks::data_dir;

pub mod video;

/// `step=N` (N ≥ 1) somewhere in the filter; an empty filter means step 1.
pub fn parse_step(filter: &str) -> Option<u32> {
    if filter.trim().is_empty() {
        return Some(1);
    }
    let mut rest = filter;
    while let Some(i) = rest.find("step") {
        let after = rest[i + 4..].trim_start();
        if let Some(after) = after.strip_prefix('=') {
            let digits: String = after
                .trim_start()
                .chars()
                .take_while(|c| c.is_ascii_digit())
                .collect();
            if !digits.starts_with('0')
                && let Ok(n) = digits.parse::<u32>()
                && n >= 1
            {
                return Some(n);
            }
        }
        rest = &rest[i + 4..];
    }
    None
}

/// Segments of §7.2.7: `(start, stop)` pairs and the effective overlap.
pub fn segments(
    size: i64,
    segment_size: i64,
    overlap: Option<i64>,
    interpolation: bool,
) -> (Vec<(i64, i64)>, i64) {
    let seg = if segment_size > 0 { segment_size } else { size };
    let ovl = overlap
        .unwrap_or(if interpolation { 5 } else { 0 })
        .min(seg / 2)
        .max(0);
    let step = if segment_size > 0 {
        segment_size - ovl
    } else {
        i64::MAX
    };
    let mut out = Vec::new();
    let mut start = 0i64;
    while start < size {
        out.push((start, (start + seg - 1).min(size - 1)));
        start = start.saturating_add(step.max(1));
    }
    (out, ovl)
}

/// The `task_data` queue item: processes a task's uploaded data. A failure (or too many
/// interruptions) removes the data again, so that the client can upload anew.
pub(crate) fn run<'a>(core: &'a Core, item: &'a QueueItem) -> BoxFuture<'a, Result<(), String>> {
    Box::pin(async move {
        let payload: Value = serde_json::from_str(&item.payload).unwrap_or(Value::Null);
        let task_id = payload["task_id"].as_i64().unwrap_or(0);
        let data_id = payload["data_id"].as_i64().unwrap_or(0);
        let mut result = process(core, item, task_id, data_id).await;
        if result.is_ok() && !payload["restore"].is_null() {
            result = crate::backups::apply_restore(core, task_id, &payload["restore"]).await;
        }
        match &result {
            Ok(()) => tracing::info!(task_id, data_id, "task data processed"),
            Err(msg) => {
                tracing::warn!(task_id, data_id, error = %msg, "task data processing failed")
            }
        }
        result
    })
}

/// What a failed (or given up) `task_data` item leaves: nothing of the upload.
pub(crate) fn give_up<'a>(core: &'a Core, item: &'a QueueItem) -> BoxFuture<'a, ()> {
    Box::pin(async move {
        let payload: Value = serde_json::from_str(&item.payload).unwrap_or(Value::Null);
        let task_id = payload["task_id"].as_i64().unwrap_or(0);
        let data_id = payload["data_id"].as_i64().unwrap_or(0);
        let _ = tokio::fs::remove_dir_all(data_dir(core, data_id)).await;
        if let Err(e) = core.db().drop_data(task_id, data_id).await {
            tracing::warn!(error = %e, "could not drop failed data");
        }
    })
}

/// One compressed frame: width, height, JPEG bytes.
type Compressed = (u32, u32, Vec<u8>);

/// What the blocking part produced.
struct Built {
    frames: Vec<FrameRow>,
    chunk_size: i64,
    stop_frame: i64,
    /// The task's mode: `annotation` (images, PDF) or `interpolation` (video).
    mode: &'static str,
    compressed_chunk_type: &'static str,
    original_chunk_type: &'static str,
    /// The video's name in the task (the one entry of `data/meta` frames).
    video: Option<String>,
}

async fn process(core: &Core, item: &QueueItem, task_id: i64, data_id: i64) -> Result<(), String> {
    let db = core.db();
    let Some(task) = db.task(task_id).await.map_err(|e| e.to_string())? else {
        return Err("the task was deleted".into());
    };
    let Some(data) = db.data(data_id).await.map_err(|e| e.to_string())? else {
        return Err("the task data was deleted".into());
    };
    if data.ready {
        return Ok(()); // finished before a crash lost the queue update
    }
    let dir = data_dir(core, data_id);
    fetch_remote(core, item, &data, &dir.join("raw")).await?;
    let share = core.config().share_dir.clone();
    let limits = Limits::from_config(core.config());
    let (tx, rx) = mpsc::channel::<String>();
    let params = data.clone();
    let work = tokio::task::spawn_blocking(move || build(&dir, &share, &params, &limits, tx));
    // Forward progress and keep the lease alive while the blocking work runs.
    let mut work = work;
    let mut last = String::new();
    let result = loop {
        tokio::select! {
            r = &mut work => break r,
            _ = tokio::time::sleep(Duration::from_millis(500)) => {
                while let Ok(m) = rx.try_recv() { last = m; }
                let _ = db.queue_progress(item.id, &last, lease(core)).await;
            }
        }
    };
    let built = result.map_err(|e| format!("processing crashed: {e}"))??;
    let _ = db
        .queue_progress(item.id, "Task is being saved in database", lease(core))
        .await;
    let size = built.frames.len() as i64;
    let interpolation = built.mode == "interpolation";
    let (segs, overlap) = segments(size, task.segment_size, task.overlap, interpolation);
    let mut sources = data.sources_json();
    if let (Some(name), Some(map)) = (&built.video, sources.as_object_mut()) {
        map.insert("video".into(), Value::String(name.clone()));
    }
    let done = DataRow {
        chunk_size: Some(built.chunk_size),
        size,
        stop_frame: built.stop_frame,
        compressed_chunk_type: built.compressed_chunk_type.into(),
        original_chunk_type: built.original_chunk_type.into(),
        sources: sources.to_string(),
        ..data
    };
    db.finish_data(task_id, &done, &built.frames, built.mode, overlap, &segs)
        .await
        .map_err(|e| e.to_string())?;
    Ok(())
}

/// Downloads `remote_files` into `raw` (checked again: DNS may have changed since the
/// request).
async fn fetch_remote(
    core: &Core,
    item: &QueueItem,
    data: &DataRow,
    raw: &Path,
) -> Result<(), String> {
    let urls = data.source_list("remote_files");
    if urls.is_empty() {
        return Ok(());
    }
    tokio::fs::create_dir_all(raw)
        .await
        .map_err(|e| e.to_string())?;
    let cfg = core.config();
    let mut checked = Vec::with_capacity(urls.len());
    let mut names = std::collections::HashSet::new();
    for url in &urls {
        let c = crate::remote::check(url, cfg.allow_private_remote).await?;
        let name = crate::remote::file_name(&c.url);
        if !names.insert(name.clone())
            || tokio::fs::try_exists(raw.join(&name))
                .await
                .unwrap_or(false)
        {
            return Err(format!("filename collision: {name}"));
        }
        checked.push((c, raw.join(name)));
    }
    let total = checked.len();
    let done = AtomicUsize::new(0);
    let progress = |n: usize| {
        let msg = format!("{n} of {total} remote files downloaded..");
        async move {
            let _ = core.db().queue_progress(item.id, &msg, lease(core)).await;
        }
    };
    progress(0).await;
    // A few at once: one slow server does not hold the others; the first failure ends
    // the rest (their partial files go with the data folder).
    futures_util::stream::iter(checked.iter().map(Ok))
        .try_for_each_concurrent(cfg.remote.parallel.max(1), |(c, dest)| async {
            crate::remote::download(c, dest, &cfg.remote).await?;
            progress(done.fetch_add(1, Ordering::Relaxed) + 1).await;
            Ok::<(), String>(())
        })
        .await
}

/// What one task's data may hold (README "Limits").
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest source file of one frame, and largest archive member.
    pub max_frame_bytes: u64,
    /// The archive limits (files, total, ratio, member size).
    pub archive: archive::Limits,
    /// The share walk's limits.
    pub share: crate::share::WalkLimits,
    /// Longest run of ffmpeg or pdftoppm.
    pub media_timeout: Duration,
}

impl Limits {
    pub fn from_config(cfg: &crate::CoreConfig) -> Limits {
        Limits {
            max_frame_bytes: cfg.max_frame_bytes,
            archive: archive::Limits {
                max_ratio: cfg.max_archive_ratio,
                max_member_bytes: cfg.max_frame_bytes,
                ..archive::Limits::default()
            },
            share: crate::share::WalkLimits::default(),
            media_timeout: cfg.media_timeout,
        }
    }
}

/// How much of a frame's file is read first to probe it.
const PROBE_PREFIX: u64 = 1 << 20;

/// Reads the source file of frame `name`. It is refused from its size when over the
/// per-frame limit, and from its first MiB when that is no image at all or its header
/// declares more pixels than decoding allows, before the rest is read. (A header that
/// reaches past the first MiB is left to the decoder.)
fn read_frame(name: &str, path: &Path, max: u64) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let cannot = |e: std::io::Error| format!("cannot read {name}: {e}");
    let mut file = std::fs::File::open(path).map_err(cannot)?;
    let len = file.metadata().map_err(cannot)?.len();
    if len > max {
        return Err(format!(
            "{name}: the file has {len} bytes, more than the limit of {max} bytes per frame \
             (--max-frame-bytes)"
        ));
    }
    let mut bytes = Vec::with_capacity(len.min(PROBE_PREFIX) as usize);
    (&mut file)
        .take(PROBE_PREFIX)
        .read_to_end(&mut bytes)
        .map_err(cannot)?;
    if len > PROBE_PREFIX {
        match ferrocat_media::image::probe_size(&bytes) {
            Err(e @ ferrocat_media::MediaError::Unsupported(_)) => {
                return Err(format!("{name}: {e}"));
            }
            Ok((w, h)) => {
                ferrocat_media::image::check_limits(w, h).map_err(|e| format!("{name}: {e}"))?
            }
            Err(_) => {}
        }
        bytes.reserve_exact((len - bytes.len() as u64) as usize);
        // bounded: a file that grows while it is read stops at the limit
        file.take(max + 1 - bytes.len() as u64)
            .read_to_end(&mut bytes)
            .map_err(cannot)?;
        if bytes.len() as u64 > max {
            return Err(format!(
                "{name}: the file grew past the limit of {max} bytes per frame (--max-frame-bytes)"
            ));
        }
    }
    Ok(bytes)
}

/// The blocking pipeline. Errors are messages for the user.
fn build(
    dir: &Path,
    share: &Path,
    data: &DataRow,
    limits: &Limits,
    progress: mpsc::Sender<String>,
) -> Result<Built, String> {
    let raw = dir.join("raw");
    std::fs::create_dir_all(&raw).map_err(|e| format!("cannot create {raw:?}: {e}"))?;
    let server_files = data.source_list("server_files");
    if !server_files.is_empty() {
        let _ = progress.send("Data are being copied from share..".into());
        copy_from_share(share, &server_files, &raw, &limits.share)?;
    }
    // Every run starts from empty output folders: a run that was killed may have left
    // chunks and `.part` files that this one would count or mix with its own.
    for out in ["compressed", "original", "extracted", "pages"] {
        let _ = std::fs::remove_dir_all(dir.join(out));
    }
    let built = match collect_frames(dir, &raw, limits, &progress)? {
        Source::Images(frames) => build_images(dir, data, limits, frames, &progress)?,
        Source::Video(name, path) => video::build(dir, data, (&name, &path), limits, &progress)?,
    };
    // scratch folders: the original chunks hold copies of every frame's file
    for scratch in ["extracted", "pages"] {
        let _ = std::fs::remove_dir_all(dir.join(scratch));
    }
    Ok(built)
}

/// The task's choice among `total` source frames (§7.2.3): `start_frame`, the
/// `stop_frame` the client gave (clamped to the end), `step=N`. A start past the end
/// fails.
/// The `stop_frame` a processed task shows (§7.2.3): a client's own value as sent while
/// it is inside the source (CVAT 1.1 keeps it; the frames selected are the same), the
/// last source frame when it is beyond; without one, the last selected frame.
fn stored_stop_frame(selection: &Selection, total: u64) -> i64 {
    match selection.stop {
        Some(stop) => stop.min(total.saturating_sub(1)) as i64,
        None => selection.source_frame(selection.count(total).saturating_sub(1)) as i64,
    }
}

fn frame_selection(data: &DataRow, total: u64) -> Result<Selection, String> {
    let start = data.start_frame.max(0) as u64;
    if start >= total {
        return Err(format!(
            "start_frame {start} is beyond the last frame ({total} frames)"
        ));
    }
    let stop_given = data.sources_json()["stop_frame_given"]
        .as_bool()
        .unwrap_or(false);
    Ok(Selection {
        start,
        stop: stop_given.then_some(data.stop_frame.max(0) as u64),
        step: u64::from(parse_step(&data.frame_filter).unwrap_or(1)),
    })
}

/// The image pipeline: selects the frames, then compresses them into chunks.
fn build_images(
    dir: &Path,
    data: &DataRow,
    limits: &Limits,
    frames: Vec<(String, PathBuf)>,
    progress: &mpsc::Sender<String>,
) -> Result<Built, String> {
    let selection = frame_selection(data, frames.len() as u64)?;
    let selected: Vec<&(String, PathBuf)> = (0..selection.count(frames.len() as u64))
        .map(|k| &frames[selection.source_frame(k) as usize])
        .collect();
    let stop_frame = stored_stop_frame(&selection, frames.len() as u64);

    let max_frame = limits.max_frame_bytes;
    let chunk_size = match data.chunk_size {
        Some(c) => c.max(1),
        None => {
            let first = read_frame(&selected[0].0, &selected[0].1, max_frame)?;
            let (w, h) = ferrocat_media::image::probe_size(&first)
                .map_err(|e| format!("{}: {e}", selected[0].0))?;
            chunk::default_chunk_size(w, h) as i64
        }
    };
    let quality = data.image_quality.clamp(0, 100) as u8;
    let compressed_dir = dir.join("compressed");
    let original_dir = dir.join("original");
    for d in [&compressed_dir, &original_dir] {
        std::fs::create_dir_all(d).map_err(|e| format!("cannot create {d:?}: {e}"))?;
    }
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2);
    let total = selected.len();
    let chunk_len = chunk_size as usize;
    // One pool over all frames, no pause between chunks: workers take frames in order
    // (item 0 is the preview, from the first source frame, not the first selected one)
    // and this thread writes each chunk as soon as its frames are in, while the workers
    // go on. Frames are taken in order, so at most one chunk and a frame per worker wait
    // here in memory.
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let (done_tx, done_rx) = mpsc::channel::<(usize, Result<Compressed, String>)>();
    let preview_path = dir.join("preview.jpeg");
    let mut out_frames = Vec::with_capacity(total);
    std::thread::scope(|s| -> Result<(), String> {
        for _ in 0..workers.min(total + 1) {
            let done_tx = done_tx.clone();
            let (next, failed, selected, frames, preview_path) =
                (&next, &failed, &selected, &frames, &preview_path);
            s.spawn(move || {
                while !failed.load(Ordering::Relaxed) {
                    let item = next.fetch_add(1, Ordering::Relaxed);
                    if item == 0 {
                        if let Err(e) = write_preview(&frames[0], preview_path, max_frame) {
                            failed.store(true, Ordering::Relaxed);
                            let _ = done_tx.send((usize::MAX, Err(e)));
                        }
                        continue;
                    }
                    let i = item - 1;
                    let Some((name, path)) = selected.get(i) else {
                        break;
                    };
                    // The source bytes are dropped here: the original chunk is copied
                    // from the file, so a chunk of big originals never waits in memory.
                    let r = read_frame(name, path, max_frame).and_then(|bytes| {
                        compress_frame(&bytes, quality)
                            .map(|(dims, jpeg)| (dims.width, dims.height, jpeg))
                            .map_err(|e| format!("{name}: {e}"))
                    });
                    if r.is_err() {
                        failed.store(true, Ordering::Relaxed);
                    }
                    if done_tx.send((i, r)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(done_tx);
        let result = (|| {
            let mut waiting: Vec<Option<Compressed>> = (0..total).map(|_| None).collect();
            for (ci, group) in selected.chunks(chunk_len).enumerate() {
                let first = ci * chunk_len;
                while waiting[first..first + group.len()]
                    .iter()
                    .any(Option::is_none)
                {
                    match done_rx.recv() {
                        Ok((i, r)) => {
                            let c = r?;
                            waiting[i] = Some(c);
                        }
                        Err(_) => return Err(format!("{}: decoding crashed", group[0].0)),
                    }
                }
                let mut compressed = Vec::with_capacity(group.len());
                let mut original = Vec::with_capacity(group.len());
                for (k, slot) in waiting[first..first + group.len()].iter_mut().enumerate() {
                    let Some((w, h, jpeg)) = slot.take() else {
                        return Err(format!("{}: decoding crashed", group[k].0));
                    };
                    out_frames.push(FrameRow {
                        frame: out_frames.len() as i64,
                        name: group[k].0.clone(),
                        width: w as i64,
                        height: h as i64,
                    });
                    compressed.push((chunk::compressed_member_name(k), jpeg));
                    original.push((
                        chunk::original_member_name(k, &group[k].0),
                        group[k].1.clone(),
                    ));
                }
                write_chunk(&compressed_dir.join(format!("{ci}.zip")), |w| {
                    chunk::write_zip_chunk(w, compressed)
                })?;
                write_chunk(&original_dir.join(format!("{ci}.zip")), |w| {
                    chunk::write_zip_chunk_from_files(w, original)
                })?;
                let _ = progress.send(format!(
                    "Images are being compressed {}%",
                    out_frames.len() * 100 / total
                ));
            }
            // The preview's outcome (it may have been the last item to finish).
            for (i, r) in done_rx.iter() {
                if i == usize::MAX {
                    r?;
                }
            }
            Ok(())
        })();
        if result.is_err() {
            failed.store(true, Ordering::Relaxed);
        }
        result
    })?;
    Ok(Built {
        frames: out_frames,
        chunk_size,
        stop_frame,
        mode: "annotation",
        compressed_chunk_type: "imageset",
        original_chunk_type: "imageset",
        video: None,
    })
}

/// The task preview (api-v1 §7.2.6) from the source frame `(name, path)`.
fn write_preview((name, path): &(String, PathBuf), out: &Path, max: u64) -> Result<(), String> {
    let bytes = read_frame(name, path, max)?;
    let img = decode_rgb8(&bytes).map_err(|e| format!("{name}: {e}"))?;
    let preview = preview_jpeg(&img).map_err(|e| format!("preview: {e}"))?;
    std::fs::write(out, preview).map_err(|e| format!("cannot write the preview: {e}"))
}

type ChunkFile = std::io::BufWriter<std::fs::File>;

/// Writes a chunk file with `write` under a temporary name, then moves it in place.
pub(crate) fn write_chunk(
    path: &Path,
    write: impl FnOnce(ChunkFile) -> ferrocat_media::Result<ChunkFile>,
) -> Result<(), String> {
    let tmp = path.with_extension("zip.part");
    let file = std::fs::File::create(&tmp).map_err(|e| format!("cannot create {tmp:?}: {e}"))?;
    let out = write(std::io::BufWriter::new(file)).map_err(|e| format!("chunk: {e}"))?;
    out.into_inner()
        .map_err(|e| format!("chunk: {e}"))?
        .sync_all()
        .ok();
    std::fs::rename(&tmp, path).map_err(|e| format!("cannot store {path:?}: {e}"))
}

fn copy_from_share(
    share: &Path,
    server_files: &[String],
    raw: &Path,
    limits: &crate::share::WalkLimits,
) -> Result<(), String> {
    for sf in server_files {
        let Some(path) = crate::share::resolve(share, sf) else {
            return Err(format!("Bad file path: {sf}"));
        };
        for (rel, abs) in crate::share::files_under(share, &path, limits)? {
            let dest = raw.join(&rel);
            if let Some(parent) = dest.parent() {
                std::fs::create_dir_all(parent)
                    .map_err(|e| format!("cannot create {parent:?}: {e}"))?;
            }
            std::fs::copy(&abs, &dest)
                .map_err(|e| format!("cannot copy {rel} from the share: {e}"))?;
        }
    }
    Ok(())
}

/// Every file under `root` as `(relative name, path)`, sorted by name.
fn walk(root: &Path) -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            let Ok(ft) = e.file_type() else { continue };
            if ft.is_dir() {
                stack.push(p);
            } else if ft.is_file()
                && let Ok(rel) = p.strip_prefix(root)
            {
                out.push((rel.to_string_lossy().replace('\\', "/"), p));
            }
        }
    }
    out.sort();
    out
}

/// The task's one frame source.
enum Source {
    /// Image files in frame order: `(name in the task, path)`.
    Images(Vec<(String, PathBuf)>),
    /// One video: its name in the task and its path.
    Video(String, PathBuf),
}

/// Counts of each kind among `names`, for §7.2.1's one-unique-source rule.
#[derive(Default)]
struct Kinds {
    images: Vec<(String, PathBuf)>,
    archives: Vec<(String, PathBuf)>,
    videos: Vec<(String, PathBuf)>,
    pdfs: Vec<(String, PathBuf)>,
}

impl Kinds {
    fn of(files: impl IntoIterator<Item = (String, PathBuf)>) -> Kinds {
        let mut k = Kinds::default();
        for (name, path) in files {
            match classify_name(&name) {
                MediaKind::Image => k.images.push((name, path)),
                MediaKind::Zip | MediaKind::Archive => k.archives.push((name, path)),
                MediaKind::Video => k.videos.push((name, path)),
                MediaKind::Pdf => k.pdfs.push((name, path)),
                MediaKind::Unknown => {}
            }
        }
        k
    }

    /// §7.2.1: one video, archive or PDF alone, or any number of images.
    fn check(&self) -> Result<(), String> {
        let unique = self.archives.len() + self.videos.len() + self.pdfs.len();
        if unique > 1 || (unique == 1 && !self.images.is_empty()) {
            return Err(format!(
                "Only one video, archive, pdf, zip or many image, directory can be used simultaneously, but {} image(s), {} video(s), {} archive(s), {} pdf(s) found.",
                self.images.len(),
                self.videos.len(),
                self.archives.len(),
                self.pdfs.len()
            ));
        }
        Ok(())
    }
}

/// The frame source: the sorted image files of the task (after unpacking an archive or
/// rendering a PDF), or its one video. A video or PDF inside an archive is taken as if it
/// had been uploaded alone.
fn collect_frames(
    dir: &Path,
    raw: &Path,
    limits: &Limits,
    progress: &mpsc::Sender<String>,
) -> Result<Source, String> {
    let mut kinds = Kinds::of(walk(raw));
    kinds.check()?;
    if let Some((name, path)) = kinds.archives.pop() {
        let _ = progress.send("Media files are being extracted...".into());
        let dest = dir.join("extracted");
        std::fs::create_dir_all(&dest).map_err(|e| format!("cannot create {dest:?}: {e}"))?;
        let members =
            archive::extract(&path, &dest, &limits.archive).map_err(|e| format!("{name}: {e}"))?;
        let prefix = match name.rsplit_once('/') {
            Some((d, _)) => format!("{d}/"),
            None => String::new(),
        };
        kinds = Kinds::of(
            members
                .into_iter()
                .map(|m| (format!("{prefix}{m}"), dest.join(&m))),
        );
        // archives inside the archive are members like any other file: not unpacked
        kinds.archives.clear();
        kinds.check()?;
    }
    if let Some((name, path)) = kinds.videos.pop() {
        return Ok(Source::Video(name, path));
    }
    if let Some((name, path)) = kinds.pdfs.pop() {
        let _ = progress.send("PDF pages are being rendered..".into());
        let (folder, file) = match name.rsplit_once('/') {
            Some((d, f)) => (format!("{d}/"), f),
            None => (String::new(), name.as_str()),
        };
        let base = file.rsplit_once('.').map_or(file, |(b, _)| b);
        let pages =
            ferrocat_media::pdf::render(&path, &dir.join("pages"), base, limits.media_timeout)
                .map_err(|e| format!("{name}: {e}"))?;
        return Ok(Source::Images(
            pages
                .into_iter()
                .map(|(page, path)| (format!("{folder}{page}"), path))
                .collect(),
        ));
    }
    let mut images = kinds.images;
    images.sort();
    if images.is_empty() {
        return Err("No media data found".into());
    }
    Ok(Source::Images(images))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_given_stop_frame_is_kept_inside_the_source() {
        let sel = |stop| Selection {
            start: 1,
            stop,
            step: 2,
        };
        // frames 1, 3 of 10 are selected either way; CVAT 1.1 keeps the 4
        assert_eq!(stored_stop_frame(&sel(Some(4)), 10), 4);
        assert_eq!(
            stored_stop_frame(&sel(Some(40)), 10),
            9,
            "beyond: the last frame"
        );
        assert_eq!(stored_stop_frame(&sel(None), 10), 9);
        assert_eq!(stored_stop_frame(&sel(None), 9), 7, "the last selected");
    }

    /// The error of a read that must fail (without printing megabytes if it does not).
    fn refused(name: &str, path: &Path, max: u64) -> String {
        match read_frame(name, path, max) {
            Ok(b) => panic!("{name}: {} bytes read, expected a refusal", b.len()),
            Err(e) => e,
        }
    }

    #[test]
    fn big_frames_are_refused_from_their_first_mib() {
        let dir = tempfile::tempdir().unwrap();
        // no image at all
        let junk = dir.path().join("junk.jpg");
        std::fs::write(&junk, vec![7u8; 3 << 20]).unwrap();
        let e = refused("junk.jpg", &junk, 512 << 20);
        assert!(e.contains("not a recognized image format"), "{e}");
        // a PNG header of 60000 × 60000 pixels, then 3 MiB
        let mut ihdr = b"IHDR".to_vec();
        ihdr.extend_from_slice(&60000u32.to_be_bytes());
        ihdr.extend_from_slice(&60000u32.to_be_bytes());
        ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
        let crc = ihdr.iter().fold(!0u32, |mut c, &b| {
            c ^= u32::from(b);
            for _ in 0..8 {
                c = if c & 1 == 1 {
                    (c >> 1) ^ 0xEDB8_8320
                } else {
                    c >> 1
                };
            }
            c
        });
        let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\x0d".to_vec();
        png.extend_from_slice(&ihdr);
        png.extend_from_slice(&(!crc).to_be_bytes());
        png.extend_from_slice(&(3u32 << 20).to_be_bytes());
        png.extend_from_slice(b"IDAT");
        png.resize(3 << 20, 0);
        let big = dir.path().join("big.png");
        std::fs::write(&big, &png).unwrap();
        let e = refused("big.png", &big, 512 << 20);
        assert!(e.contains("exceeds"), "{e}");
        // a small file is read whole, whatever it holds
        let small = dir.path().join("small.jpg");
        std::fs::write(&small, b"tiny").unwrap();
        assert_eq!(read_frame("small.jpg", &small, 512 << 20).unwrap(), b"tiny");
        // over the size limit, from the size alone
        let e = refused("junk.jpg", &junk, 1 << 20);
        assert!(e.contains("--max-frame-bytes"), "{e}");
    }

    #[test]
    fn steps() {
        assert_eq!(parse_step(""), Some(1));
        assert_eq!(parse_step("step=3"), Some(3));
        assert_eq!(parse_step("x step = 12 y"), Some(12));
        assert_eq!(parse_step("step=0"), None);
        assert_eq!(parse_step("every 2"), None);
    }

    #[test]
    fn segments_as_the_spec_shows() {
        assert_eq!(segments(8, 0, None, false), (vec![(0, 7)], 0));
        assert_eq!(
            segments(25, 10, None, true),
            (vec![(0, 9), (5, 14), (10, 19), (15, 24), (20, 24)], 5)
        );
        assert_eq!(
            segments(100, 30, None, false),
            (vec![(0, 29), (30, 59), (60, 89), (90, 99)], 0)
        );
        assert_eq!(
            segments(10, 4, Some(3), false),
            (vec![(0, 3), (2, 5), (4, 7), (6, 9), (8, 9)], 2)
        );
    }
}
