//! "MOT 1.1" (api-v1 §10.9), as CVAT 1.1 wrote it with Datumaro's `mot_seq_gt`
//! converter and read it with Datumaro's `mot_seq` importer.
//!
//! Export: `gt/gt.txt`, header-less CSV rows
//! `frame_id,track_id,x,y,w,h,confidence,class_id,visibility`, one per rectangle
//! (standalone and track-derived) in frame order; `gt/labels.txt` with the task's label
//! names; for dataset exports `img1/<frame_id, 6 digits>.jpg`.
//! * `frame_id` is always the 1-based task frame position `k + 1` (Datumaro takes the
//!   item name when it is numeric; we never do, so that the import's `frame_id - 1`
//!   gives back exactly the task frame).
//! * Track ids are renumbered 1, 2, … in order of first appearance; standalone boxes get
//!   `-1`. `confidence` is `1`; `class_id` is the label's position in the task labels
//!   plus 1 (`-1` for a label the task does not have); `visibility` is `0.0` for
//!   occluded boxes, else `1.0`. Numbers are written as Python writes floats (`10.0`).
//!
//! Import: every `gt/gt.txt` in the zip (any depth), with the `labels.txt` beside it
//! (Datumaro's default MOT label list when there is none).
//! * boxes with a track id > 0 form tracks: each box is a keyframe on
//!   `ItemRef::Frame(frame_id - 1)`, sorted by frame; the track's label is its first
//!   box's (later boxes' class ids are ignored);
//! * where a track skips frames, and after its last box, an outside copy of the box
//!   marks that the object left (as later CVATs do). CVAT 1.1 flipped the last box itself
//!   to outside, which lost that box, so a round trip shortened every track by a frame;
//! * boxes with track id `-1`/`0` (detections, as our export writes standalone boxes)
//!   come in as standalone rectangles (CVAT 1.1 dropped them; later CVATs keep them);
//! * `occluded` is `visibility <= 0`; confidence is ignored.
//!
//! A row that cannot be read fails the import with the file and line, and so do more
//! than [`crate::MAX_SHAPES`] boxes.

use std::collections::HashMap;
use std::io::{self, Seek, Write};

use ferrocat_wire::annotations::ShapeType;

use crate::archive::{ZipOut, is_zip, read_entries};
use crate::{Budget, Dataset, Export, FrameObjects, ImportTrack, ItemObjects, ItemRef, OutShape};

/// The labels Datumaro assumes for a MOT sequence without `labels.txt`.
pub const DEFAULT_LABELS: [&str; 12] = [
    "pedestrian",
    "person on vehicle",
    "car",
    "bicycle",
    "motorbike",
    "non motorized vehicle",
    "static person",
    "distractor",
    "occluder",
    "occluder on the ground",
    "occluder full",
    "reflection",
];

/// A float as Python's `str(float)` writes it (`1.0`, `2.5`).
fn py_float(v: f64) -> String {
    if v.is_finite() && v.fract() == 0.0 && v.abs() < 1e16 {
        format!("{v:.1}")
    } else {
        format!("{v}")
    }
}

/// Writes `gt/gt.txt`, `gt/labels.txt` and, when `e.images` is given, `img1/NNNNNN.jpg`.
pub fn write<W: Write + Seek>(zip: &mut ZipOut<W>, e: Export<'_>) -> io::Result<()> {
    let labels = &e.meta.labels;
    let objects = e.objects;
    let mut images = e.images;
    let mut gt = String::new();
    let mut tracks: HashMap<i64, i64> = HashMap::new();
    for k in 0..e.frames.len() {
        let frame_id = k + 1;
        for s in objects(k).shapes {
            if s.kind != ShapeType::Rectangle || s.points.len() != 4 {
                continue;
            }
            let track = match s.track_id {
                Some(t) => {
                    let next = tracks.len() as i64 + 1;
                    *tracks.entry(t).or_insert(next)
                }
                None => -1,
            };
            let class = labels
                .iter()
                .position(|l| l.name == s.label)
                .map_or(-1, |i| i as i64 + 1);
            let p = &s.points;
            let (x1, y1) = (p[0].min(p[2]), p[1].min(p[3]));
            let (x2, y2) = (p[0].max(p[2]), p[1].max(p[3]));
            gt.push_str(&format!(
                "{frame_id},{track},{},{},{},{},1,{class},{}\n",
                py_float(x1),
                py_float(y1),
                py_float(x2 - x1),
                py_float(y2 - y1),
                if s.occluded { "0.0" } else { "1.0" },
            ));
        }
        if let Some(image) = images.as_mut() {
            let bytes = image(k)?;
            zip.stored(&format!("img1/{frame_id:06}.jpg"), &bytes)?;
        }
    }
    zip.file("gt/gt.txt")?.write_all(gt.as_bytes())?;
    let names: Vec<&str> = labels.iter().map(|l| l.name.as_str()).collect();
    zip.file("gt/labels.txt")?
        .write_all(names.join("\n").as_bytes())?;
    Ok(())
}

fn is_gt(path: &str) -> bool {
    path == "gt/gt.txt" || path.ends_with("/gt/gt.txt")
}

fn is_labels(path: &str) -> bool {
    path == "gt/labels.txt" || path.ends_with("/gt/labels.txt")
}

/// Reads a MOT zip: the tracks of every `gt/gt.txt` (see the module doc).
pub fn read(bytes: &[u8]) -> Result<Dataset, String> {
    read_with(bytes, &mut Budget::default())
}

/// [`read`] within `budget`.
fn read_with(bytes: &[u8], budget: &mut Budget) -> Result<Dataset, String> {
    if !is_zip(bytes) {
        return Err("A MOT 1.1 annotation file must be a zip archive".into());
    }
    let entries = read_entries(bytes, |p| is_gt(p) || is_labels(p))?;
    let mut out = Dataset::default();
    let mut found = false;
    for (path, body) in entries.iter().filter(|(p, _)| is_gt(p)) {
        found = true;
        let dir = &path[..path.len() - "gt.txt".len()];
        let labels: Vec<String> = match entries
            .iter()
            .find(|(p, _)| is_labels(p) && p[..p.len() - "labels.txt".len()] == *dir)
        {
            Some((_, l)) => String::from_utf8_lossy(l)
                .lines()
                .map(|s| s.trim().to_string())
                .collect(),
            None => DEFAULT_LABELS.iter().map(|s| s.to_string()).collect(),
        };
        read_gt(path, body, &labels, &mut out, budget)?;
    }
    if !found {
        return Err("The archive has no gt/gt.txt".into());
    }
    Ok(out)
}

/// One row's fields, trimmed; `None` for a missing or empty field.
fn field<'a>(fields: &[&'a str], i: usize) -> Option<&'a str> {
    fields.get(i).copied().filter(|f| !f.is_empty())
}

fn read_gt(
    path: &str,
    body: &[u8],
    labels: &[String],
    out: &mut Dataset,
    budget: &mut Budget,
) -> Result<(), String> {
    let text = std::str::from_utf8(body).map_err(|_| format!("{path} is not UTF-8 text"))?;
    // track id -> position in `tracks`
    let mut index: HashMap<i64, usize> = HashMap::new();
    let mut tracks: Vec<ImportTrack> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let err = |what: &str| format!("{path}, line {}: {what}: \"{line}\"", n + 1);
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        if fields.len() < 6 {
            return Err(err(
                "expected \"frame_id,track_id,x,y,w,h,confidence,class_id,visibility\"",
            ));
        }
        let frame_id: i64 = fields[0]
            .parse()
            .map_err(|_| err("the frame id is not an integer"))?;
        if frame_id < 1 {
            return Err(err("frame ids start at 1"));
        }
        let track_id: i64 = fields[1]
            .parse()
            .map_err(|_| err("the track id is not an integer"))?;
        let mut v = [0.0; 4];
        for (slot, f) in v.iter_mut().zip(&fields[2..6]) {
            *slot = f
                .parse::<f64>()
                .ok()
                .filter(|x| x.is_finite() && x.abs() < 1e9)
                .ok_or_else(|| err("a coordinate is not a usable number"))?;
        }
        let label = match field(&fields, 7).filter(|c| *c != "-1") {
            None => None,
            Some(c) => {
                let c: usize = c
                    .parse()
                    .ok()
                    .filter(|c| *c >= 1)
                    .ok_or_else(|| err("the class id is not a positive integer"))?;
                Some(
                    labels
                        .get(c - 1)
                        .ok_or_else(|| err(&format!("class {c} is not in labels.txt")))?,
                )
            }
        };
        let visibility = field(&fields, 8)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(1.0);
        let label = label.ok_or_else(|| err("a box has no class id"))?;
        budget.take(4).map_err(|e| format!("{path}: {e}"))?;
        let mut shape = OutShape {
            kind: ShapeType::Rectangle,
            label: label.clone(),
            occluded: visibility <= 0.0,
            z_order: 0,
            points: vec![v[0], v[1], v[0] + v[2], v[1] + v[3]],
            group: 0,
            attributes: vec![],
            track_id: None,
        };
        if track_id <= 0 {
            // a detection, not part of a track
            out.items.push(ItemObjects {
                item: ItemRef::Frame(frame_id - 1),
                objects: FrameObjects {
                    shapes: vec![shape],
                    tags: vec![],
                },
            });
            continue;
        }
        let slot = *index.entry(track_id).or_insert_with(|| {
            tracks.push(ImportTrack {
                label: label.clone(),
                group: 0,
                shapes: vec![],
            });
            tracks.len() - 1
        });
        // a track has one label: its first box's
        shape.label.clone_from(&tracks[slot].label);
        tracks[slot]
            .shapes
            .push((ItemRef::Frame(frame_id - 1), shape, false));
    }
    for mut t in tracks {
        // this reader makes only `ItemRef::Frame`s
        let frame = |item: &ItemRef| match item {
            ItemRef::Frame(f) => *f,
            _ => 0,
        };
        t.shapes.sort_by_key(|(item, _, _)| frame(item));
        let mut shapes = Vec::with_capacity(t.shapes.len() + 1);
        let mut boxes = t.shapes.into_iter().peekable();
        while let Some((item, shape, _)) = boxes.next() {
            let f = frame(&item);
            let next = boxes.peek().map(|(i, _, _)| frame(i));
            let gap = next.is_none_or(|n| n > f + 1);
            shapes.push((item, shape.clone(), false));
            if gap {
                shapes.push((ItemRef::Frame(f + 1), shape, true));
            }
        }
        t.shapes = shapes;
        out.tracks.push(t);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::meta;
    use crate::{FrameMeta, FrameObjects};

    fn rect(label: &str, p: [f64; 4], occluded: bool, track: Option<i64>) -> OutShape {
        OutShape {
            kind: ShapeType::Rectangle,
            label: label.into(),
            occluded,
            z_order: 0,
            points: p.to_vec(),
            group: 0,
            attributes: vec![],
            track_id: track,
        }
    }

    fn frames(n: usize) -> Vec<FrameMeta> {
        (0..n)
            .map(|k| FrameMeta {
                abs: k as i64,
                name: format!("f{k}.png"),
                width: 100,
                height: 100,
            })
            .collect()
    }

    fn export(images: bool) -> Vec<u8> {
        let m = meta(&["car", "person"]);
        let fr = frames(3);
        let mut objects = |k: usize| {
            let mut shapes = vec![];
            if k == 0 {
                shapes.push(rect("car", [10.0, 20.0, 30.5, 60.0], false, None));
                let mut poly = rect("car", [1.0, 1.0, 2.0, 2.0], false, None);
                poly.kind = ShapeType::Polygon;
                poly.points = vec![1.0, 1.0, 5.0, 1.0, 5.0, 5.0];
                shapes.push(poly);
            }
            if k < 2 {
                shapes.push(rect("person", [1.0, 2.0, 3.0, 4.0], k == 1, Some(7)));
            }
            shapes.push(rect("car", [5.0, 5.0, 6.0, 6.0], false, Some(3)));
            FrameObjects {
                shapes,
                tags: vec![],
            }
        };
        let mut img = |k: usize| Ok(vec![0xff, 0xd8, k as u8]);
        let mut zip = ZipOut::new(std::io::Cursor::new(Vec::new()));
        write(
            &mut zip,
            Export {
                meta: &m,
                frames: &fr,
                objects: &mut objects,
                images: if images { Some(&mut img) } else { None },
            },
        )
        .unwrap();
        zip.finish().unwrap().into_inner()
    }

    #[test]
    fn layout() {
        let bytes = export(true);
        let entries = read_entries(&bytes, |_| true).unwrap();
        let names: Vec<&str> = entries.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(
            names,
            [
                "img1/000001.jpg",
                "img1/000002.jpg",
                "img1/000003.jpg",
                "gt/gt.txt",
                "gt/labels.txt"
            ]
        );
        assert_eq!(
            String::from_utf8_lossy(&entries[3].1),
            "1,-1,10.0,20.0,20.5,40.0,1,1,1.0\n\
             1,1,1.0,2.0,2.0,2.0,1,2,1.0\n\
             1,2,5.0,5.0,1.0,1.0,1,1,1.0\n\
             2,1,1.0,2.0,2.0,2.0,1,2,0.0\n\
             2,2,5.0,5.0,1.0,1.0,1,1,1.0\n\
             3,2,5.0,5.0,1.0,1.0,1,1,1.0\n"
        );
        assert_eq!(entries[4].1, b"car\nperson");
        assert_eq!(entries[1].1, vec![0xff, 0xd8, 1]);
    }

    #[test]
    fn round_trip_keeps_tracks_and_ends_them() {
        let got = read(&export(false)).unwrap();
        assert!(
            !got.items.is_empty() && got.items.iter().all(|i| i.objects.shapes.len() == 1),
            "standalone boxes come back standalone"
        );
        assert_eq!(got.tracks.len(), 2);
        let person = &got.tracks[0];
        assert_eq!(person.label, "person");
        assert_eq!(
            person.shapes,
            vec![
                (
                    ItemRef::Frame(0),
                    rect("person", [1.0, 2.0, 3.0, 4.0], false, None),
                    false
                ),
                (
                    ItemRef::Frame(1),
                    rect("person", [1.0, 2.0, 3.0, 4.0], true, None),
                    false
                ),
                (
                    ItemRef::Frame(2),
                    rect("person", [1.0, 2.0, 3.0, 4.0], true, None),
                    true
                ),
            ]
        );
        let car = &got.tracks[1];
        assert_eq!(car.label, "car");
        let frames: Vec<_> = car.shapes.iter().map(|s| (s.0.clone(), s.2)).collect();
        assert_eq!(
            frames,
            [
                (ItemRef::Frame(0), false),
                (ItemRef::Frame(1), false),
                (ItemRef::Frame(2), false),
                (ItemRef::Frame(3), true)
            ]
        );
    }

    fn zip_of(files: &[(&str, &str)]) -> Vec<u8> {
        let mut zip = ZipOut::new(std::io::Cursor::new(Vec::new()));
        for (p, body) in files {
            zip.file(p).unwrap().write_all(body.as_bytes()).unwrap();
        }
        zip.finish().unwrap().into_inner()
    }

    #[test]
    fn reads_nested_unsorted_and_default_labels() {
        let z = zip_of(&[(
            "seq/gt/gt.txt",
            "3,5,1,1,2,2,1,3,1\n\n1,5,0,0,2,2,1,3,0.4\n2,-1,0,0,1,1,1,1,1\n",
        )]);
        let got = read(&z).unwrap();
        assert_eq!(got.tracks.len(), 1);
        let t = &got.tracks[0];
        assert_eq!(t.label, "car");
        assert_eq!(t.shapes[0].0, ItemRef::Frame(0));
        assert!(!t.shapes[0].1.occluded);
        // the gap at frame 1 and the end after frame 2 are outside copies
        let frames: Vec<_> = t.shapes.iter().map(|s| (s.0.clone(), s.2)).collect();
        assert_eq!(
            frames,
            [
                (ItemRef::Frame(0), false),
                (ItemRef::Frame(1), true),
                (ItemRef::Frame(2), false),
                (ItemRef::Frame(3), true)
            ]
        );
        assert_eq!(got.items.len(), 1, "the detection (track -1)");
        assert_eq!(got.items[0].objects.shapes[0].label, "pedestrian");
    }

    #[test]
    fn bad_input() {
        let bad =
            |gt: &str| read(&zip_of(&[("gt/gt.txt", gt), ("gt/labels.txt", "a\nb")])).unwrap_err();
        assert!(bad("1,1,0,0,1\n").contains("gt/gt.txt, line 1"));
        assert!(bad("1,1,0,0,1,1,1,1,1\nx,1,0,0,1,1,1,1,1\n").contains("line 2"));
        assert!(bad("0,1,0,0,1,1,1,1,1\n").contains("start at 1"));
        assert!(bad("1,1,0,NaN,1,1,1,1,1\n").contains("coordinate"));
        assert!(bad("1,1,0,1e10,1,1,1,1,1\n").contains("coordinate"));
        assert!(bad("1,1,0,0,1,1,1,3,1\n").contains("class 3"));
        assert!(bad("1,1,0,0,1,1,1\n").contains("no class id"));
        assert!(read(b"1,1,0,0,1,1,1,1,1").unwrap_err().contains("zip"));
        assert!(
            read(&zip_of(&[("a.txt", "")]))
                .unwrap_err()
                .contains("gt/gt.txt")
        );
    }

    #[test]
    fn boxes_are_taken_from_the_budget() {
        let z = zip_of(&[(
            "gt/gt.txt",
            "1,1,0,0,1,1,1,1,1\n2,1,0,0,1,1,1,1,1\n1,-1,0,0,1,1,1,1,1\n",
        )]);
        assert!(read_with(&z, &mut Budget::new(3, 100)).is_ok());
        let e = read_with(&z, &mut Budget::new(2, 100)).unwrap_err();
        assert_eq!(e, "gt/gt.txt: The file holds more than 2 objects");
    }
}
