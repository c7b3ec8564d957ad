//! "YOLO 1.1" (api-v1 §10.9, as Datumaro's YOLO format): `obj.names`, `obj.data`,
//! `train.txt` and `obj_train_data/<item>.txt` with one `<class> <cx> <cy> <w> <h>` line
//! per rectangle, normalised to the image size with 6 decimals. Items are frame names
//! without extension (folders kept). `obj.names` has one label per line, so line breaks
//! in label names are written as spaces.
//!
//! Import ([`read`]): the zip is read through [`crate::archive::read_entries`] (its limits
//! on entries and inflated size), and at most [`crate::MAX_SHAPES`] boxes are read.

use std::io::{self, Read, Seek, Write};

use ferrocat_wire::annotations::ShapeType;

use crate::Export;
use crate::archive::ZipOut;

/// The item name of a frame: its name without extension.
pub fn item_name(frame_name: &str) -> &str {
    match frame_name.rfind('.') {
        Some(dot) if !frame_name[dot..].contains('/') => &frame_name[..dot],
        _ => frame_name,
    }
}

/// A label name as a line of `obj.names`: line breaks as spaces.
fn names_line(name: &str) -> String {
    name.replace(['\r', '\n'], " ")
}

/// Writes the export's entries; images (for datasets) as
/// `obj_train_data/<item>.jpg`.
pub fn write<W: Write + Seek>(zip: &mut ZipOut<W>, e: Export<'_>) -> io::Result<()> {
    let labels: Vec<String> = e.meta.labels.iter().map(|l| l.name.clone()).collect();
    let labels = &labels;
    let frames = e.frames;
    let objects = e.objects;
    let mut images = e.images;
    let names: Vec<String> = labels.iter().map(|l| names_line(l)).collect();
    writeln!(zip.file("obj.names")?, "{}", names.join("\n"))?;
    write!(
        zip.file("obj.data")?,
        "classes = {}\ntrain = data/train.txt\nnames = data/obj.names\nbackup = backup/\n",
        labels.len()
    )?;
    let mut listed = std::collections::HashSet::new();
    let train = zip.file("train.txt")?;
    for f in frames {
        if listed.insert(item_name(&f.name)) {
            writeln!(train, "data/obj_train_data/{}.jpg", item_name(&f.name))?;
        }
    }
    // frames whose names differ only by extension share one item file
    let mut items: Vec<(String, String)> = Vec::new();
    let mut slots: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for (k, f) in frames.iter().enumerate() {
        let item = item_name(&f.name).to_string();
        let (slot, is_new) = match slots.get(&item) {
            Some(&i) => (i, false),
            None => {
                slots.insert(item.clone(), items.len());
                items.push((item, String::new()));
                (items.len() - 1, true)
            }
        };
        if let Some(image) = images.as_mut()
            && is_new
        {
            zip.stored(&format!("obj_train_data/{}.jpg", items[slot].0), &image(k)?)?;
        }
        let lines = &mut items[slot].1;
        let (w, h) = (f.width.max(1) as f64, f.height.max(1) as f64);
        for s in objects(k).shapes {
            if s.kind != ShapeType::Rectangle || s.points.len() != 4 {
                continue;
            }
            let Some(class) = labels.iter().position(|l| *l == s.label) else {
                continue;
            };
            let p = &s.points;
            let (x1, y1, x2, y2) = (
                p[0].min(p[2]),
                p[1].min(p[3]),
                p[0].max(p[2]),
                p[1].max(p[3]),
            );
            lines.push_str(&format!(
                "{class} {:.6} {:.6} {:.6} {:.6}\n",
                (x1 + x2) / 2.0 / w,
                (y1 + y2) / 2.0 / h,
                (x2 - x1) / w,
                (y2 - y1) / h
            ));
        }
    }
    for (item, lines) in items {
        zip.file(&format!("obj_train_data/{item}.txt"))?
            .write_all(lines.as_bytes())?;
    }
    Ok(())
}

/// One box of an annotation file: class index and normalised centre and size.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct YoloBox {
    pub class: usize,
    pub cx: f64,
    pub cy: f64,
    pub w: f64,
    pub h: f64,
}

/// What a YOLO zip holds.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct YoloFile {
    /// Class names (`obj.names`).
    pub names: Vec<String>,
    /// Item name (path under `obj_train_data/` without extension) and its boxes.
    pub items: Vec<(String, Vec<YoloBox>)>,
}

/// Reads a YOLO zip (see the module doc).
pub fn read<R: Read + Seek>(r: R) -> Result<YoloFile, String> {
    read_with(r, &mut crate::Budget::default())
}

/// [`read`] within `budget`.
fn read_with<R: Read + Seek>(r: R, budget: &mut crate::Budget) -> Result<YoloFile, String> {
    let entries = crate::archive::read_entries_from(r, |n| {
        n.rsplit('/').next() == Some("obj.names")
            || (n.contains("obj_train_data/") && n.ends_with(".txt"))
    })?;
    let mut out = YoloFile::default();
    let mut names_found = false;
    for (name, body) in entries {
        let body = String::from_utf8_lossy(&body);
        let base = name.rsplit('/').next().unwrap_or(&name);
        if base == "obj.names" {
            out.names = body
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(String::from)
                .collect();
            names_found = true;
            continue;
        }
        let Some(rest) = name
            .split_once("obj_train_data/")
            .map(|(_, r)| r)
            .filter(|r| r.ends_with(".txt"))
        else {
            continue;
        };
        let item = rest.trim_end_matches(".txt").to_string();
        let mut boxes = Vec::new();
        for (n, line) in body.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            let parts: Vec<&str> = line.split_whitespace().collect();
            let bad = || {
                format!(
                    "{name}, line {}: expected \"class cx cy w h\", got \"{line}\"",
                    n + 1
                )
            };
            if parts.len() != 5 {
                return Err(bad());
            }
            let class = parts[0].parse::<usize>().map_err(|_| bad())?;
            let mut v = [0.0; 4];
            for (slot, p) in v.iter_mut().zip(&parts[1..]) {
                *slot = p
                    .parse::<f64>()
                    .ok()
                    .filter(|f| f.is_finite() && (-1.0..=2.0).contains(f))
                    .ok_or_else(bad)?;
            }
            budget.take(4)?;
            boxes.push(YoloBox {
                class,
                cx: v[0],
                cy: v[1],
                w: v[2],
                h: v[3],
            });
        }
        out.items.push((item, boxes));
    }
    if !names_found {
        return Err("The archive has no obj.names".into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{FrameMeta, FrameObjects, OutShape};

    #[test]
    fn round_trip() {
        let frames = vec![
            FrameMeta {
                abs: 0,
                name: "dir/a.png".into(),
                width: 200,
                height: 100,
            },
            FrameMeta {
                abs: 1,
                name: "b.jpg".into(),
                width: 10,
                height: 10,
            },
        ];
        let labels = vec!["car".to_string(), "person".to_string()];
        let meta = crate::testing::meta(&["car", "person"]);
        let mut zip = ZipOut::new(std::io::Cursor::new(Vec::new()));
        let mut objects = |k: usize| FrameObjects {
            shapes: if k == 0 {
                vec![OutShape {
                    kind: ShapeType::Rectangle,
                    label: "person".into(),
                    occluded: false,
                    z_order: 0,
                    points: vec![20.0, 10.0, 120.0, 60.0],
                    group: 0,
                    attributes: vec![],
                    track_id: None,
                }]
            } else {
                vec![]
            },
            tags: vec![],
        };
        let mut image = |_k: usize| Ok(b"\xff\xd8jpeg".to_vec());
        write(
            &mut zip,
            Export {
                meta: &meta,
                frames: &frames,
                objects: &mut objects,
                images: Some(&mut image),
            },
        )
        .unwrap();
        let zip = zip.finish().unwrap().into_inner();
        let names: Vec<String> = crate::archive::read_entries(&zip, |_| true)
            .unwrap()
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        assert!(names.contains(&"obj_train_data/dir/a.jpg".to_string()));
        assert!(names.contains(&"obj_train_data/b.txt".to_string()));
        let got = read(std::io::Cursor::new(zip)).unwrap();
        assert_eq!(got.names, labels);
        assert_eq!(got.items.len(), 2);
        assert_eq!(got.items[0].0, "dir/a");
        assert_eq!(
            got.items[0].1,
            vec![YoloBox {
                class: 1,
                cx: 0.35,
                cy: 0.35,
                w: 0.5,
                h: 0.5
            }]
        );
        assert!(got.items[1].1.is_empty());
        assert_eq!(item_name("x.y/z"), "x.y/z");
    }

    #[test]
    fn frames_sharing_an_item_write_one_image() {
        let frames: Vec<FrameMeta> = ["a.png", "a.jpg"]
            .iter()
            .enumerate()
            .map(|(i, n)| FrameMeta {
                abs: i as i64,
                name: n.to_string(),
                width: 10,
                height: 10,
            })
            .collect();
        let meta = crate::testing::meta(&["car\nbus", "person"]);
        let mut zip = ZipOut::new(std::io::Cursor::new(Vec::new()));
        let mut objects = |_k: usize| FrameObjects::default();
        let mut calls = Vec::new();
        let mut image = |k: usize| {
            calls.push(k);
            Ok(b"\xff\xd8jpeg".to_vec())
        };
        write(
            &mut zip,
            Export {
                meta: &meta,
                frames: &frames,
                objects: &mut objects,
                images: Some(&mut image),
            },
        )
        .unwrap();
        assert_eq!(calls, [0]);
        let zip = zip.finish().unwrap().into_inner();
        let got = read(std::io::Cursor::new(&zip)).unwrap();
        assert_eq!(got.names, ["car bus", "person"]);
        assert_eq!(got.items.len(), 1);
    }

    #[test]
    fn reading_uses_the_archive_limits_and_the_budget() {
        let mut z = ZipOut::new(std::io::Cursor::new(Vec::new()));
        z.file("obj.names").unwrap().write_all(b"a\n").unwrap();
        z.file("obj_train_data/x.txt")
            .unwrap()
            .write_all(b"0 0.5 0.5 0.1 0.1\n0 0.5 0.5 0.2 0.2\n")
            .unwrap();
        z.file("__MACOSX/obj_train_data/._x.txt")
            .unwrap()
            .write_all(b"junk")
            .unwrap();
        let zip = z.finish().unwrap().into_inner();
        let got = read(std::io::Cursor::new(&zip)).unwrap();
        assert_eq!(got.items.len(), 1);
        assert_eq!(got.items[0].1.len(), 2);
        let e = read_with(std::io::Cursor::new(&zip), &mut crate::Budget::new(1, 100)).unwrap_err();
        assert!(e.contains("more than 1 objects"), "{e}");
        let e = read(std::io::Cursor::new(b"PK\x03\x04junk")).unwrap_err();
        assert!(e.contains("not a valid zip"), "{e}");
    }
}
