//! Track interpolation (api-v1 §9.8) and the similarity measures of overlap merging.
//!
//! Follows CVAT 1.1's `TrackManager.get_interpolated_shapes`: between two keyframes the
//! shape moves linearly; polygons, polylines and shapes whose point counts differ are
//! first resampled to 100 points along their outline and the result is simplified
//! (Douglas–Peucker, 0.05 px); CVAT simplified linear moves too, which could drop
//! coordinates of `points` and cuboid shapes, so ferrocat does not. One deliberate difference: the end of the
//! range is exclusive everywhere (`end = stop + 1` when slicing), where CVAT passed an
//! inclusive stop and so lost the last frame of a segment.

use ferrocat_wire::annotations::{AttributeValue, ShapeType, Track, TrackedShape};

/// Points along an outline when shapes of different layouts are interpolated.
const RESAMPLE_POINTS: usize = 100;
/// Douglas–Peucker tolerance in pixels.
const SIMPLIFY_TOLERANCE: f64 = 0.05;

/// A shape of a track on one frame: a keyframe or an interpolated one.
#[derive(Debug, Clone, PartialEq)]
pub struct FrameShape {
    pub shape: TrackedShape,
    pub keyframe: bool,
}

/// Every shape of `track` from its first keyframe up to `end` (exclusive) for
/// rectangle/points/cuboid tracks whose last keyframe is not outside; other tracks end at
/// their last keyframe. Outside keyframes are included (with `outside: true`); no shapes
/// are generated after an outside keyframe until the next keyframe. Keyframes inherit
/// missing mutable attributes from the previous keyframe.
pub fn interpolate(track: &Track, end: i64) -> Vec<FrameShape> {
    let mut keys: Vec<TrackedShape> = track.shapes.clone();
    keys.sort_by_key(|s| s.frame);
    let mut out: Vec<FrameShape> = Vec::new();
    let mut prev: Option<TrackedShape> = None;
    for mut key in keys {
        if let Some(p) = &prev {
            inherit(&mut key.attributes, &p.attributes);
            if !p.outside {
                between(p, &key, &mut out);
            }
        }
        out.push(FrameShape {
            shape: key.clone(),
            keyframe: true,
        });
        prev = Some(key);
    }
    if let Some(p) = prev
        && !p.outside
        && matches!(
            p.kind,
            ShapeType::Rectangle | ShapeType::Points | ShapeType::Cuboid
        )
    {
        let mut last = p.clone();
        last.frame = end;
        between(&p, &last, &mut out);
    }
    out
}

fn inherit(attrs: &mut Vec<AttributeValue>, from: &[AttributeValue]) {
    for a in from {
        if !attrs.iter().any(|x| x.spec_id == a.spec_id) {
            attrs.push(a.clone());
        }
    }
}

/// The shapes strictly between keyframes `a` (not outside) and `b`.
fn between(a: &TrackedShape, b: &TrackedShape, out: &mut Vec<FrameShape>) {
    let distance = b.frame - a.frame;
    if distance <= 1 {
        return;
    }
    let linear = a.kind == b.kind
        && !matches!(a.kind, ShapeType::Polygon | ShapeType::Polyline)
        && a.points.len() == b.points.len();
    let (p0, p1) = if linear {
        (a.points.clone(), b.points.clone())
    } else {
        (resample(&a.points), resample(&b.points))
    };
    for frame in a.frame + 1..b.frame {
        let points: Vec<f64> = if b.outside {
            // before an outside keyframe the shape stays as it was
            a.points.clone()
        } else {
            let t = (frame - a.frame) as f64 / distance as f64;
            let moved: Vec<f64> = p0
                .iter()
                .zip(&p1)
                .map(|(x0, x1)| x0 + (x1 - x0) * t)
                .collect();
            // only resampled outlines are simplified: rectangles, points and cuboids
            // keep every coordinate
            if linear || moved.len() <= 2 {
                moved
            } else {
                simplify(&moved, SIMPLIFY_TOLERANCE)
            }
        };
        let mut shape = a.clone();
        shape.id = None;
        shape.frame = frame;
        shape.points = points;
        out.push(FrameShape {
            shape,
            keyframe: false,
        });
    }
}

/// `RESAMPLE_POINTS` points equally spaced along the open polyline through `points`.
pub fn resample(points: &[f64]) -> Vec<f64> {
    let pts: Vec<(f64, f64)> = points.chunks_exact(2).map(|c| (c[0], c[1])).collect();
    let Some(&first) = pts.first() else {
        return vec![];
    };
    let mut cum = Vec::with_capacity(pts.len());
    let mut total = 0.0;
    cum.push(0.0);
    for w in pts.windows(2) {
        total += ((w[1].0 - w[0].0).powi(2) + (w[1].1 - w[0].1).powi(2)).sqrt();
        cum.push(total);
    }
    let mut out = Vec::with_capacity(RESAMPLE_POINTS * 2);
    if total == 0.0 {
        for _ in 0..RESAMPLE_POINTS {
            out.extend([first.0, first.1]);
        }
        return out;
    }
    let mut seg = 0;
    for i in 0..RESAMPLE_POINTS {
        let d = total * i as f64 / (RESAMPLE_POINTS - 1) as f64;
        while seg + 2 < pts.len() && cum[seg + 1] < d {
            seg += 1;
        }
        let len = cum[seg + 1] - cum[seg];
        let t = if len > 0.0 {
            ((d - cum[seg]) / len).clamp(0.0, 1.0)
        } else {
            0.0
        };
        let (a, b) = (pts[seg], pts[seg + 1]);
        out.extend([a.0 + (b.0 - a.0) * t, a.1 + (b.1 - a.1) * t]);
    }
    out
}

/// Douglas–Peucker simplification of an open polyline (flat `[x, y, …]`).
pub fn simplify(points: &[f64], tolerance: f64) -> Vec<f64> {
    let pts: Vec<(f64, f64)> = points.chunks_exact(2).map(|c| (c[0], c[1])).collect();
    if pts.len() < 3 {
        return points.to_vec();
    }
    let mut keep = vec![false; pts.len()];
    keep[0] = true;
    keep[pts.len() - 1] = true;
    let mut stack = vec![(0usize, pts.len() - 1)];
    while let Some((s, e)) = stack.pop() {
        let (mut worst, mut at) = (0.0f64, 0usize);
        for i in s + 1..e {
            let d = segment_distance(pts[i], pts[s], pts[e]);
            if d > worst {
                worst = d;
                at = i;
            }
        }
        if worst > tolerance {
            keep[at] = true;
            stack.push((s, at));
            stack.push((at, e));
        }
    }
    pts.iter()
        .zip(keep)
        .filter(|(_, k)| *k)
        .flat_map(|(p, _)| [p.0, p.1])
        .collect()
}

fn segment_distance(p: (f64, f64), a: (f64, f64), b: (f64, f64)) -> f64 {
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let len2 = dx * dx + dy * dy;
    if len2 == 0.0 {
        return ((p.0 - a.0).powi(2) + (p.1 - a.1).powi(2)).sqrt();
    }
    let t = (((p.0 - a.0) * dx + (p.1 - a.1) * dy) / len2).clamp(0.0, 1.0);
    let (x, y) = (a.0 + t * dx, a.1 + t * dy);
    ((p.0 - x).powi(2) + (p.1 - y).powi(2)).sqrt()
}

/// The bounding box `[x1, y1, x2, y2]` of flat points.
pub fn bbox(points: &[f64]) -> [f64; 4] {
    let mut b = [f64::MAX, f64::MAX, f64::MIN, f64::MIN];
    for c in points.chunks_exact(2) {
        b[0] = b[0].min(c[0]);
        b[1] = b[1].min(c[1]);
        b[2] = b[2].max(c[0]);
        b[3] = b[3].max(c[1]);
    }
    b
}

/// Intersection over union of two boxes.
pub fn iou(a: [f64; 4], b: [f64; 4]) -> f64 {
    let iw = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let ih = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = iw * ih;
    let area = |r: [f64; 4]| (r[2] - r[0]).max(0.0) * (r[3] - r[1]).max(0.0);
    let union = area(a) + area(b) - inter;
    if union <= 0.0 { 0.0 } else { inter / union }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(frame: i64, kind: ShapeType, points: Vec<f64>, outside: bool) -> TrackedShape {
        TrackedShape {
            kind,
            occluded: false,
            z_order: 0,
            points,
            id: Some(frame),
            frame,
            outside,
            attributes: vec![],
        }
    }

    fn track(shapes: Vec<TrackedShape>) -> Track {
        Track {
            id: Some(1),
            frame: shapes[0].frame,
            label_id: 1,
            group: None,
            shapes,
            attributes: vec![],
        }
    }

    #[test]
    fn rectangles_move_linearly_and_continue_to_the_end() {
        let t = track(vec![
            key(0, ShapeType::Rectangle, vec![0.0, 0.0, 10.0, 10.0], false),
            key(4, ShapeType::Rectangle, vec![4.0, 8.0, 14.0, 18.0], false),
        ]);
        let s = interpolate(&t, 7);
        let frames: Vec<i64> = s.iter().map(|f| f.shape.frame).collect();
        assert_eq!(frames, vec![0, 1, 2, 3, 4, 5, 6]);
        assert_eq!(s[1].shape.points, vec![1.0, 2.0, 11.0, 12.0]);
        assert!(!s[1].keyframe && s[4].keyframe);
        assert_eq!(s[6].shape.points, vec![4.0, 8.0, 14.0, 18.0]);
    }

    #[test]
    fn outside_stops_generation_and_polygons_end_at_the_last_keyframe() {
        let t = track(vec![
            key(0, ShapeType::Rectangle, vec![0.0, 0.0, 10.0, 10.0], false),
            key(3, ShapeType::Rectangle, vec![9.0, 9.0, 19.0, 19.0], true),
            key(6, ShapeType::Rectangle, vec![0.0, 0.0, 1.0, 1.0], true),
        ]);
        let s = interpolate(&t, 10);
        let frames: Vec<i64> = s.iter().map(|f| f.shape.frame).collect();
        assert_eq!(frames, vec![0, 1, 2, 3, 6]);
        // before an outside keyframe the shape stays where it was
        assert_eq!(s[2].shape.points, vec![0.0, 0.0, 10.0, 10.0]);

        let p = track(vec![
            key(
                0,
                ShapeType::Polygon,
                vec![0.0, 0.0, 10.0, 0.0, 10.0, 10.0],
                false,
            ),
            key(
                2,
                ShapeType::Polygon,
                vec![2.0, 0.0, 12.0, 0.0, 12.0, 10.0],
                false,
            ),
        ]);
        let s = interpolate(&p, 10);
        assert_eq!(s.len(), 3);
        // the midway polygon is the resampled outline moved by one, simplified: it
        // starts and ends where the moved outline does and keeps only corner points
        let mid = &s[1].shape.points;
        assert_eq!(&mid[..2], &[1.0, 0.0]);
        assert_eq!(&mid[mid.len() - 2..], &[11.0, 10.0]);
        assert!(mid.len() <= 8, "{mid:?}");
        assert!(
            mid.chunks(2)
                .all(|c| (c[1] == 0.0 || (c[0] - 11.0).abs() < 0.2) && c[0] >= 1.0 - 1e-9)
        );
    }

    #[test]
    fn points_and_cuboids_keep_every_coordinate() {
        let t = track(vec![
            key(
                0,
                ShapeType::Points,
                vec![0.0, 0.0, 5.0, 0.0, 10.0, 0.0],
                false,
            ),
            key(
                10,
                ShapeType::Points,
                vec![0.0, 0.0, 5.0, 0.0, 10.0, 0.0],
                false,
            ),
        ]);
        let s = interpolate(&t, 11);
        assert!(s.iter().all(|f| f.shape.points.len() == 6));
        let c: Vec<f64> = (0..16).map(f64::from).collect();
        let t = track(vec![
            key(0, ShapeType::Cuboid, c.clone(), false),
            key(
                4,
                ShapeType::Cuboid,
                c.iter().map(|x| x + 4.0).collect(),
                false,
            ),
        ]);
        let s = interpolate(&t, 5);
        assert!(s.iter().all(|f| f.shape.points.len() == 16));
        assert_eq!(s[1].shape.points[0], 1.0);
    }

    #[test]
    fn resampling_and_iou() {
        let r = resample(&[0.0, 0.0, 99.0, 0.0]);
        assert_eq!(r.len(), 200);
        assert_eq!(&r[2..4], &[1.0, 0.0]);
        assert_eq!(resample(&[5.0, 5.0]).len(), 200);
        assert!((iou([0.0, 0.0, 2.0, 2.0], [1.0, 0.0, 3.0, 2.0]) - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!(iou([0.0, 0.0, 1.0, 1.0], [2.0, 2.0, 3.0, 3.0]), 0.0);
    }
}
