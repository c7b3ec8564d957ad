//! Task-level documents (api-v1 §9.6): slicing a document to jobs and merging the jobs'
//! documents back, with optimal matching of the objects that overlapping segments hold
//! twice.
//!
//! Similarity, where CVAT 1.1 differs: two shapes with identical points are always
//! similar (1); rectangles compare by IoU; other shapes of the same type and label compare
//! by the IoU of their bounding boxes (CVAT compared a polygon with itself and so
//! matched any two polygons of a label on a frame).

use std::collections::BTreeMap;

use ferrocat_wire::annotations::{LabeledData, Shape, Track, TrackedShape};
use pathfinding::kuhn_munkres::kuhn_munkres;
use pathfinding::matrix::Matrix;

use super::geometry::{FrameShape, bbox, interpolate, iou};

/// Matched when `1 − similarity` is at most this (tags and shapes).
const SHAPE_MAX_COST: f64 = 0.25;
/// Matched when `1 − similarity` is at most this (tracks).
const TRACK_MAX_COST: f64 = 0.5;

/// Whether `track` is visible somewhere in `[start, stop]` (§9.6.2).
fn visible_in(track: &Track, start: i64, stop: i64) -> bool {
    let mut keys: Vec<&TrackedShape> = track.shapes.iter().collect();
    keys.sort_by_key(|s| s.frame);
    for w in keys.windows(2) {
        if !w[0].outside && w[0].frame <= stop && w[1].frame >= start {
            return true;
        }
    }
    keys.last().is_some_and(|l| !l.outside && l.frame <= stop)
}

/// Keyframes in `[start, stop]` without leading outside ones (at least one kept).
fn in_range(shapes: Vec<TrackedShape>, start: i64, stop: i64) -> Vec<TrackedShape> {
    let inside: Vec<TrackedShape> = shapes
        .into_iter()
        .filter(|s| s.frame >= start && s.frame <= stop)
        .collect();
    let mut drop = inside.iter().take_while(|s| s.outside).count();
    if drop == inside.len() {
        drop = drop.saturating_sub(1);
    }
    inside.into_iter().skip(drop).collect()
}

/// The part of `track` a job with frames `[start, stop]` stores, or `None`.
pub fn slice_track(track: &Track, start: i64, stop: i64) -> Option<Track> {
    if !visible_in(track, start, stop) {
        return None;
    }
    let mut keys = track.shapes.clone();
    keys.sort_by_key(|s| s.frame);
    let mut kept = in_range(keys.clone(), start, stop);
    if kept.len() < keys.len() {
        let generated: Vec<FrameShape> = interpolate(track, stop + 1);
        // keyframes as interpolation sees them: with the mutable attribute values they
        // inherit from keyframes that were cut away
        kept = in_range(
            generated
                .iter()
                .filter(|f| f.keyframe)
                .map(|f| f.shape.clone())
                .collect(),
            start,
            stop,
        );
        let scoped: Vec<FrameShape> = {
            let inside: Vec<FrameShape> = generated
                .into_iter()
                .filter(|f| f.shape.frame >= start && f.shape.frame <= stop)
                .collect();
            let mut drop = inside.iter().take_while(|f| f.shape.outside).count();
            if drop == inside.len() {
                drop = drop.saturating_sub(1);
            }
            inside.into_iter().skip(drop).collect()
        };
        if let Some(first) = scoped.first()
            && !first.keyframe
        {
            kept.insert(0, first.shape.clone());
        }
        if let Some(last) = scoped.last()
            && !last.keyframe
            && scoped.len() > 1
        {
            kept.push(last.shape.clone());
        }
    }
    let first = kept.first()?.frame;
    Some(Track {
        frame: first,
        shapes: kept,
        ..track.clone()
    })
}

/// The objects of `doc` a job with frames `[start, stop]` stores.
pub fn slice(doc: &LabeledData, start: i64, stop: i64) -> LabeledData {
    let within = |f: i64| f >= start && f <= stop;
    LabeledData {
        version: doc.version,
        tags: doc
            .tags
            .iter()
            .filter(|t| within(t.frame))
            .cloned()
            .collect(),
        shapes: doc
            .shapes
            .iter()
            .filter(|s| within(s.frame))
            .cloned()
            .collect(),
        tracks: doc
            .tracks
            .iter()
            .filter_map(|t| slice_track(t, start, stop))
            .collect(),
    }
}

/// Similarity of two shapes of one frame.
fn shape_similarity(a: &Shape, b: &Shape) -> f64 {
    if a.label_id != b.label_id || a.kind != b.kind {
        return 0.0;
    }
    if a.points == b.points {
        return 1.0;
    }
    // a rectangle's bounding box is itself
    iou(bbox(&a.points), bbox(&b.points))
}

fn tracked_similarity(a: &TrackedShape, b: &TrackedShape) -> f64 {
    if a.kind != b.kind {
        return 0.0;
    }
    if a.points == b.points {
        return 1.0;
    }
    iou(bbox(&a.points), bbox(&b.points))
}

/// Optimal one-to-one matching maximizing total similarity: `(row, column)` pairs whose
/// cost `1 − similarity` is at most `max_cost`.
fn assign(sim: &[Vec<f64>], max_cost: f64) -> Vec<(usize, usize)> {
    let rows = sim.len();
    let cols = sim.first().map_or(0, Vec::len);
    if rows == 0 || cols == 0 {
        return vec![];
    }
    let scale = |s: f64| (s * 1e9).round() as i64;
    let transposed = rows > cols;
    let m = if transposed {
        Matrix::from_fn(cols, rows, |(c, r)| scale(sim[r][c]))
    } else {
        Matrix::from_fn(rows, cols, |(r, c)| scale(sim[r][c]))
    };
    let (_, assignment) = kuhn_munkres(&m);
    assignment
        .into_iter()
        .enumerate()
        .map(|(i, j)| if transposed { (j, i) } else { (i, j) })
        .filter(|&(r, c)| 1.0 - sim[r][c] <= max_cost + 1e-12)
        .collect()
}

/// Merges per-job documents, given in ascending job id with their segment's start
/// frame (§9.6.3). `end` is the number of task frames; `version` the result's.
pub fn merge(jobs: Vec<(i64, LabeledData)>, overlap: i64, end: i64) -> LabeledData {
    let mut acc = LabeledData::default();
    for (n, (start, doc)) in jobs.into_iter().enumerate() {
        acc.version = acc.version.max(doc.version);
        if overlap <= 0 || n == 0 {
            acc.tags.extend(doc.tags);
            acc.shapes.extend(doc.shapes);
            acc.tracks.extend(doc.tracks);
            continue;
        }
        let zone_end = start + overlap;
        merge_frame_objects(
            &mut acc.tags,
            doc.tags,
            start,
            zone_end,
            |t| t.frame,
            |a, b| f64::from(u8::from(a.label_id == b.label_id)),
        );
        merge_frame_objects(
            &mut acc.shapes,
            doc.shapes,
            start,
            zone_end,
            |s| s.frame,
            shape_similarity,
        );
        merge_tracks(&mut acc.tracks, doc.tracks, start, zone_end, end);
    }
    acc
}

/// Merges the tags or shapes of a job into `acc` (§9.6.3): objects beyond the overlap
/// are appended; in the overlap, each frame's objects are matched against the
/// accumulated ones of that frame and only the unmatched are appended.
fn merge_frame_objects<T>(
    acc: &mut Vec<T>,
    new: Vec<T>,
    start: i64,
    zone_end: i64,
    frame: impl Fn(&T) -> i64,
    similarity: impl Fn(&T, &T) -> f64,
) {
    let mut by_frame: BTreeMap<i64, Vec<T>> = BTreeMap::new();
    let mut appended = Vec::new();
    for o in new {
        if frame(&o) >= zone_end {
            appended.push(o);
        } else {
            by_frame.entry(frame(&o)).or_default().push(o);
        }
    }
    for (f, items) in by_frame {
        let cands: Vec<usize> = (0..acc.len())
            .filter(|&i| frame(&acc[i]) == f && f >= start)
            .collect();
        let sim: Vec<Vec<f64>> = items
            .iter()
            .map(|o| cands.iter().map(|&c| similarity(&acc[c], o)).collect())
            .collect();
        let matched: Vec<usize> = assign(&sim, SHAPE_MAX_COST)
            .into_iter()
            .map(|(r, _)| r)
            .collect();
        for (i, o) in items.into_iter().enumerate() {
            if !matched.contains(&i) {
                appended.push(o);
            }
        }
    }
    acc.extend(appended);
}

/// Similarity of two tracks over `[start, zone_end)`: one minus the mean error per frame
/// where at least one of them has a shape.
fn track_similarity(a: &Track, b: &Track, start: i64, zone_end: i64) -> f64 {
    if a.label_id != b.label_id {
        return 0.0;
    }
    let frames = |t: &Track| -> BTreeMap<i64, TrackedShape> {
        interpolate(t, zone_end)
            .into_iter()
            .filter(|f| f.shape.frame >= start && f.shape.frame < zone_end)
            .map(|f| (f.shape.frame, f.shape))
            .collect()
    };
    let (fa, fb) = (frames(a), frames(b));
    let (mut count, mut error) = (0u32, 0.0);
    for frame in start..zone_end {
        match (fa.get(&frame), fb.get(&frame)) {
            (Some(x), Some(y)) => {
                error += if x.outside != y.outside {
                    1.0
                } else {
                    1.0 - tracked_similarity(x, y)
                };
                count += 1;
            }
            (None, None) => {}
            _ => {
                error += 1.0;
                count += 1;
            }
        }
    }
    if count == 0 {
        0.0
    } else {
        1.0 - error / f64::from(count)
    }
}

fn merge_tracks(acc: &mut Vec<Track>, new: Vec<Track>, start: i64, zone_end: i64, end: i64) {
    let _ = end;
    let (candidates, rest): (Vec<Track>, Vec<Track>) =
        new.into_iter().partition(|t| t.frame < zone_end);
    let olds: Vec<usize> = (0..acc.len())
        .filter(|&i| {
            acc[i]
                .shapes
                .iter()
                .max_by_key(|s| s.frame)
                .is_some_and(|l| l.frame >= start || !l.outside)
        })
        .collect();
    let sim: Vec<Vec<f64>> = candidates
        .iter()
        .map(|t| {
            olds.iter()
                .map(|&o| track_similarity(&acc[o], t, start, zone_end))
                .collect()
        })
        .collect();
    let pairs = assign(&sim, TRACK_MAX_COST);
    let mut matched_new = vec![false; candidates.len()];
    let mut matched_old = vec![false; olds.len()];
    for &(r, c) in &pairs {
        matched_new[r] = true;
        matched_old[c] = true;
        let old = &mut acc[olds[c]];
        let new = &candidates[r];
        for s in &new.shapes {
            if !old.shapes.iter().any(|k| k.frame == s.frame) {
                old.shapes.push(s.clone());
            }
        }
        old.shapes.sort_by_key(|s| s.frame);
        if new.frame < old.frame {
            old.id = new.id;
            old.frame = new.frame;
        }
    }
    for (k, &o) in olds.iter().enumerate() {
        if matched_old[k] {
            continue;
        }
        let t = &mut acc[o];
        if let Some(last) = t.shapes.iter().max_by_key(|s| s.frame).cloned()
            && !last.outside
            && last.frame < zone_end
        {
            t.shapes.push(TrackedShape {
                id: None,
                frame: zone_end,
                outside: true,
                ..last
            });
        }
    }
    for (i, t) in candidates.into_iter().enumerate() {
        if !matched_new[i] {
            acc.push(t);
        }
    }
    acc.extend(rest);
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrocat_wire::annotations::{ShapeType, Tag};

    fn rect(id: i64, frame: i64, x: f64) -> Shape {
        Shape {
            kind: ShapeType::Rectangle,
            occluded: false,
            z_order: 0,
            points: vec![x, 0.0, x + 10.0, 10.0],
            id: Some(id),
            frame,
            label_id: 1,
            group: Some(0),
            attributes: vec![],
        }
    }

    fn key(frame: i64, x: f64, outside: bool) -> TrackedShape {
        TrackedShape {
            kind: ShapeType::Rectangle,
            occluded: false,
            z_order: 0,
            points: vec![x, 0.0, x + 10.0, 10.0],
            id: None,
            frame,
            outside,
            attributes: vec![],
        }
    }

    fn track(id: i64, shapes: Vec<TrackedShape>) -> Track {
        Track {
            id: Some(id),
            frame: shapes[0].frame,
            label_id: 1,
            group: Some(0),
            shapes,
            attributes: vec![],
        }
    }

    #[test]
    fn overlap_zero_concatenates() {
        let a = LabeledData {
            version: 2,
            shapes: vec![rect(1, 0, 0.0)],
            ..Default::default()
        };
        let b = LabeledData {
            version: 3,
            shapes: vec![rect(2, 5, 0.0)],
            ..Default::default()
        };
        let m = merge(vec![(0, a), (5, b)], 0, 10);
        assert_eq!(m.version, 3);
        assert_eq!(
            m.shapes.iter().map(|s| s.id).collect::<Vec<_>>(),
            vec![Some(1), Some(2)]
        );
    }

    #[test]
    fn overlap_copies_merge_and_new_objects_stay() {
        // segments [0, 5] and [4, 9], overlap 2: frames 4 and 5 are in both jobs
        let a = LabeledData {
            shapes: vec![rect(1, 4, 0.0), rect(2, 5, 50.0)],
            tags: vec![Tag {
                id: Some(7),
                frame: 5,
                label_id: 1,
                group: None,
                attributes: vec![],
            }],
            ..Default::default()
        };
        let b = LabeledData {
            shapes: vec![rect(3, 4, 1.0), rect(4, 5, 200.0), rect(5, 8, 0.0)],
            tags: vec![Tag {
                id: Some(8),
                frame: 5,
                label_id: 1,
                group: None,
                attributes: vec![],
            }],
            ..Default::default()
        };
        let m = merge(vec![(0, a), (4, b)], 2, 10);
        let ids: Vec<_> = m.shapes.iter().filter_map(|s| s.id).collect();
        // 3 is a near copy of 1 (IoU 0.82); 4 is elsewhere on frame 5, so it stays.
        // As in CVAT, objects beyond the overlap come first, then unmatched ones.
        assert_eq!(ids, vec![1, 2, 5, 4]);
        assert_eq!(m.tags.len(), 1);
    }

    #[test]
    fn slicing_cuts_tracks_with_interpolated_ends() {
        let t = track(9, vec![key(0, 0.0, false), key(10, 100.0, false)]);
        let doc = LabeledData {
            tracks: vec![t.clone()],
            ..Default::default()
        };
        let s = slice(&doc, 4, 6);
        let kt = &s.tracks[0];
        assert_eq!(kt.frame, 4);
        assert_eq!(
            kt.shapes
                .iter()
                .map(|k| (k.frame, k.points[0]))
                .collect::<Vec<_>>(),
            vec![(4, 40.0), (6, 60.0)]
        );
        // gone after an outside keyframe
        let gone = track(9, vec![key(0, 0.0, false), key(2, 0.0, true)]);
        assert!(slice_track(&gone, 4, 6).is_none());
        // the same track sliced into two overlapping jobs merges back into one
        let a = slice(&doc, 0, 5);
        let b = slice(&doc, 4, 10);
        let m = merge(vec![(0, a), (4, b)], 2, 11);
        assert_eq!(m.tracks.len(), 1);
        let frames: Vec<i64> = m.tracks[0].shapes.iter().map(|k| k.frame).collect();
        assert_eq!(frames, vec![0, 4, 5, 10]);
    }

    #[test]
    fn unmatched_old_track_gets_an_outside_keyframe() {
        let a = LabeledData {
            tracks: vec![track(1, vec![key(0, 0.0, false), key(5, 0.0, false)])],
            ..Default::default()
        };
        let b = LabeledData {
            tracks: vec![track(2, vec![key(4, 500.0, false)])],
            ..Default::default()
        };
        let m = merge(vec![(0, a), (4, b)], 2, 10);
        assert_eq!(m.tracks.len(), 2);
        let last = m.tracks[0].shapes.last().unwrap();
        assert_eq!((last.frame, last.outside), (6, true));
    }
}
