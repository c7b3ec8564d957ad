//! "COCO 1.0" (api-v1 §10.8): `annotations/instances_default.json` in COCO instances
//! layout, as CVAT 1.1 wrote it through Datumaro, and its import.
//!
//! Export:
//! * keys in CVAT's order; `categories` from the task labels, `images` one per frame
//!   (`file_name` = frame name with its extension replaced by `.jpg`), ids from 1;
//! * per frame, rectangles and polygons become annotations (polylines, points, cuboids
//!   and tags are dropped). As Datumaro orders instances, ungrouped objects come first
//!   (one annotation each, in the frame's object order), then each non-zero group in
//!   ascending group id as one annotation;
//! * the group leader (its label is the category, its `is_crowd` attribute decides
//!   `iscrowd`) is the member of largest area, boxes before polygons on ties (Datumaro's
//!   `max` over boxes then polygons). A box's area is `w*h`; a polygon's is its
//!   rasterised pixel area in the image ([`crate::raster`]; CVAT 1.1 rasterised it in
//!   a frame the size of the polygon's box, which differs only at the image border);
//! * `segmentation` lists the member polygons, or the box's 4-corner polygon when the
//!   instance has only boxes; `area` is the pixel area of the union of the polygons
//!   (pycocotools semantics), `w*h` for box-only instances; with `is_crowd` true the
//!   polygons (or the box's corner polygon) become one uncompressed RLE and `iscrowd`
//!   is 1. When a frame has no size (0), the raster is sized by the instance box, as
//!   Datumaro does.
//! * Outside shapes of tracks: the caller leaves them out of the frame's objects.
//! * With images: `images/<frame name without extension>.jpg`; frames whose names differ
//!   only by extension share one file (the first is written).
//!
//! Import: a bare JSON file, or a zip holding `annotations/instances_*.json` at any
//! depth (all are read). Every image becomes an item named by its `file_name` without
//! extension (folders kept), annotations or not. An annotation with polygon
//! `segmentation` gives one polygon per part, and the parts of a multi-part annotation
//! share a group id (1, 2, … over the upload; single parts get group 0). An annotation
//! whose `segmentation` is an RLE mask is skipped, as CVAT 1.1 does. One without
//! segmentation (absent, `[]`, `[[]]`) gives a rectangle from `bbox`, and so does one
//! whose only polygon is exactly the 4-corner polygon of its `bbox` — what this exporter
//! writes for a box — so that boxes survive a round trip (CVAT 1.1 made them 4-point
//! polygons). Labels are the
//! category names. Attributes: `is_crowd` (from `iscrowd`) and `score` when present,
//! plus the `attributes` object Datumaro and later CVATs write (values as text; its
//! `occluded` sets the shape's occluded flag instead); the caller keeps those the label
//! has. An unknown `image_id` or `category_id` fails the import.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{self, Seek, Write};

use ferrocat_wire::annotations::ShapeType;
use serde::{Deserialize, Serialize};

use crate::archive::{self, ZipOut};
use crate::raster::{self, Rle};
use crate::yolo::item_name;
use crate::{Dataset, Export, FrameMeta, FrameObjects, ItemObjects, ItemRef, OutShape};

/// Where the export puts the annotations.
pub const ANNOTATIONS_PATH: &str = "annotations/instances_default.json";

/// Largest coordinate magnitude an imported file may hold.
const MAX_COORD: f64 = 1e9;

#[derive(Serialize)]
struct Category<'a> {
    id: usize,
    name: &'a str,
    supercategory: &'a str,
}

#[derive(Serialize)]
struct Image<'a> {
    id: usize,
    width: i64,
    height: i64,
    file_name: &'a str,
    license: i64,
    flickr_url: &'a str,
    coco_url: &'a str,
    date_captured: i64,
}

#[derive(Serialize)]
#[serde(untagged)]
enum Segmentation<'a> {
    Polygons(Vec<Cow<'a, [f64]>>),
    Rle { counts: Vec<u32>, size: [u32; 2] },
}

#[derive(Serialize)]
struct Annotation<'a> {
    id: u64,
    image_id: usize,
    category_id: usize,
    segmentation: Segmentation<'a>,
    area: f64,
    bbox: [f64; 4],
    iscrowd: u8,
}

/// The image file name of a frame: its name with the extension replaced by `.jpg`.
pub fn file_name(frame_name: &str) -> String {
    format!("{}.jpg", item_name(frame_name))
}

/// Writes `annotations/instances_default.json` (and, when `e.images` is given,
/// `images/<item>.jpg`) into `zip`. The JSON is streamed: `e.objects(k)` is called
/// once per frame, in order, while the annotations are written.
pub fn write<W: Write + Seek>(zip: &mut ZipOut<W>, e: Export<'_>) -> io::Result<()> {
    let Export {
        meta,
        frames,
        objects,
        images,
    } = e;
    {
        let mut w = io::BufWriter::new(zip.file(ANNOTATIONS_PATH)?);
        w.write_all(
            br#"{"licenses":[{"name":"","id":0,"url":""}],"info":{"contributor":"","date_created":"","description":"","url":"","version":"","year":""},"categories":["#,
        )?;
        let mut category: HashMap<&str, usize> = HashMap::new();
        for (i, l) in meta.labels.iter().enumerate() {
            if i > 0 {
                w.write_all(b",")?;
            }
            let c = Category {
                id: i + 1,
                name: &l.name,
                supercategory: "",
            };
            serde_json::to_writer(&mut w, &c)?;
            category.entry(l.name.as_str()).or_insert(i + 1);
        }
        w.write_all(br#"],"images":["#)?;
        for (k, f) in frames.iter().enumerate() {
            if k > 0 {
                w.write_all(b",")?;
            }
            let img = Image {
                id: k + 1,
                width: f.width,
                height: f.height,
                file_name: &file_name(&f.name),
                license: 0,
                flickr_url: "",
                coco_url: "",
                date_captured: 0,
            };
            serde_json::to_writer(&mut w, &img)?;
        }
        w.write_all(br#"],"annotations":["#)?;
        let mut next_id = 1u64;
        for (k, f) in frames.iter().enumerate() {
            let objs = objects(k);
            for ann in frame_annotations(&objs, f, k + 1, &category, &mut next_id) {
                if ann.id > 1 {
                    w.write_all(b",")?;
                }
                serde_json::to_writer(&mut w, &ann)?;
            }
        }
        w.write_all(b"]}")?;
        w.into_inner().map_err(|e| e.into_error())?;
    }
    if let Some(image) = images {
        let mut written = HashSet::new();
        for (k, f) in frames.iter().enumerate() {
            let path = format!("images/{}", file_name(&f.name));
            if written.contains(&path) {
                continue;
            }
            let bytes = image(k)?;
            zip.stored(&path, &bytes)?;
            written.insert(path);
        }
    } else {
        // the folder Datumaro looks for beside `annotations/`, even without images
        zip.dir("images/")?;
    }
    Ok(())
}

/// Whether a shape is one this format writes, with sound geometry.
fn instance_shape(s: &OutShape) -> bool {
    match s.kind {
        ShapeType::Rectangle => s.points.len() == 4,
        ShapeType::Polygon => s.points.len() >= 6 && s.points.len().is_multiple_of(2),
        _ => false,
    }
}

/// `[x0, y0, x1, y1]` of a shape's points.
fn extent(points: &[f64]) -> [f64; 4] {
    let mut b = [f64::INFINITY, f64::INFINITY, -f64::INFINITY, -f64::INFINITY];
    for p in points.chunks_exact(2) {
        b[0] = b[0].min(p[0]);
        b[1] = b[1].min(p[1]);
        b[2] = b[2].max(p[0]);
        b[3] = b[3].max(p[1]);
    }
    b
}

/// The raster size `(h, w)` for an instance: the frame's, or when the frame has no
/// size, one that holds the instance box.
fn raster_size(f: &FrameMeta, bbox: &[f64; 4]) -> (u32, u32) {
    let clamp = |v: f64| v.ceil().clamp(0.0, 65_535.0) as u32;
    if f.width > 0 && f.height > 0 {
        (
            f.height.min(i64::from(u32::MAX)) as u32,
            f.width.min(i64::from(u32::MAX)) as u32,
        )
    } else {
        (clamp(bbox[1] + bbox[3]), clamp(bbox[0] + bbox[2]))
    }
}

fn is_true(attrs: &[(String, String)], name: &str) -> bool {
    attrs
        .iter()
        .any(|(n, v)| n == name && v.trim().eq_ignore_ascii_case("true"))
}

/// The annotations of one frame, ids continuing from `next_id`.
fn frame_annotations<'a>(
    objs: &'a FrameObjects,
    f: &FrameMeta,
    image_id: usize,
    category: &HashMap<&str, usize>,
    next_id: &mut u64,
) -> Vec<Annotation<'a>> {
    let mut groups: BTreeMap<i64, Vec<&OutShape>> = BTreeMap::new();
    for s in &objs.shapes {
        if instance_shape(s) && category.contains_key(s.label.as_str()) {
            groups.entry(s.group).or_default().push(s);
        }
    }
    let mut instances: Vec<Vec<&OutShape>> = Vec::new();
    for (g, members) in groups {
        if g == 0 {
            instances.extend(members.into_iter().map(|s| vec![s]));
        } else {
            instances.push(members);
        }
    }
    let mut out = Vec::with_capacity(instances.len());
    for members in instances {
        let (boxes, polys): (Vec<&OutShape>, Vec<&OutShape>) = members
            .into_iter()
            .partition(|s| s.kind == ShapeType::Rectangle);
        let mut u = [f64::INFINITY, f64::INFINITY, -f64::INFINITY, -f64::INFINITY];
        for s in boxes.iter().chain(&polys) {
            let b = extent(&s.points);
            u = [
                u[0].min(b[0]),
                u[1].min(b[1]),
                u[2].max(b[2]),
                u[3].max(b[3]),
            ];
        }
        let bbox = [u[0], u[1], u[2] - u[0], u[3] - u[1]];
        let (h, w) = raster_size(f, &bbox);
        let poly_rles: Vec<Rle> = polys
            .iter()
            .map(|s| raster::from_polygon(&s.points, h, w))
            .collect();
        // the leader: largest area, the first of boxes then polygons on ties
        let mut leader: Option<(&OutShape, f64)> = None;
        let box_areas = boxes.iter().map(|s| {
            let b = extent(&s.points);
            (*s, (b[2] - b[0]) * (b[3] - b[1]))
        });
        let poly_areas = polys
            .iter()
            .zip(&poly_rles)
            .map(|(s, r)| (*s, raster::area(r) as f64));
        for (s, a) in box_areas.chain(poly_areas) {
            if leader.is_none_or(|(_, best)| a > best) {
                leader = Some((s, a));
            }
        }
        let Some((leader, _)) = leader else { continue };
        let crowd = is_true(&leader.attributes, "is_crowd");
        let corners = [
            bbox[0],
            bbox[1],
            bbox[0] + bbox[2],
            bbox[1],
            bbox[0] + bbox[2],
            bbox[1] + bbox[3],
            bbox[0],
            bbox[1] + bbox[3],
        ];
        let (segmentation, area) = if crowd {
            let rle = if polys.is_empty() {
                raster::from_polygon(&corners, h, w)
            } else {
                raster::merge_union(&poly_rles)
            };
            let area = raster::area(&rle) as f64;
            (
                Segmentation::Rle {
                    counts: rle.counts,
                    size: [h, w],
                },
                area,
            )
        } else if polys.is_empty() {
            (
                Segmentation::Polygons(vec![Cow::Owned(corners.to_vec())]),
                bbox[2] * bbox[3],
            )
        } else {
            let area = raster::area(&raster::merge_union(&poly_rles)) as f64;
            (
                Segmentation::Polygons(
                    polys.iter().map(|s| Cow::Borrowed(&s.points[..])).collect(),
                ),
                area,
            )
        };
        out.push(Annotation {
            id: *next_id,
            image_id,
            category_id: category[leader.label.as_str()],
            segmentation,
            area,
            bbox,
            iscrowd: u8::from(crowd),
        });
        *next_id += 1;
    }
    out
}

#[derive(Deserialize)]
struct InFile {
    #[serde(default)]
    images: Vec<InImage>,
    #[serde(default)]
    annotations: Vec<InAnnotation>,
    #[serde(default)]
    categories: Vec<InCategory>,
}

#[derive(Deserialize)]
struct InImage {
    id: i64,
    file_name: String,
}

#[derive(Deserialize)]
struct InCategory {
    id: i64,
    name: String,
}

#[derive(Deserialize)]
struct InAnnotation {
    #[serde(default)]
    id: Option<serde_json::Value>,
    image_id: i64,
    category_id: i64,
    #[serde(default)]
    segmentation: serde_json::Value,
    #[serde(default)]
    bbox: Option<Vec<f64>>,
    #[serde(default)]
    iscrowd: Option<serde_json::Value>,
    #[serde(default)]
    score: Option<f64>,
    #[serde(default)]
    attributes: Option<serde_json::Map<String, serde_json::Value>>,
}

/// Whether a zip entry is a COCO instances file (`…/annotations/instances_*.json`).
fn is_instances_file(path: &str) -> bool {
    let mut parts = path.rsplit('/');
    let base = parts.next().unwrap_or("");
    parts.next() == Some("annotations") && base.starts_with("instances_") && base.ends_with(".json")
}

/// The 4-corner polygon of a COCO `[x, y, w, h]` box, as the exporter writes it.
fn box_corners(b: &[f64]) -> Vec<f64> {
    let (x, y, w, h) = (b[0], b[1], b[2], b[3]);
    vec![x, y, x + w, y, x + w, y + h, x, y + h]
}

/// Reads an uploaded COCO file: a bare JSON file or a zip (see the module doc).
pub fn read(bytes: &[u8]) -> Result<Dataset, String> {
    let mut out = Dataset::default();
    let mut next_group = 1;
    if archive::is_zip(bytes) {
        let files = archive::read_entries(bytes, is_instances_file)?;
        if files.is_empty() {
            return Err("The archive holds no annotations/instances_*.json file".into());
        }
        for (name, data) in files {
            read_json(&name, &data, &mut out, &mut next_group)?;
        }
    } else {
        read_json("The file", bytes, &mut out, &mut next_group)?;
    }
    Ok(out)
}

fn coord(v: f64, what: &str) -> Result<f64, String> {
    if v.is_finite() && v.abs() < MAX_COORD {
        Ok(v)
    } else {
        Err(format!("{what} has an invalid coordinate {v}"))
    }
}

/// An attribute value as text.
fn value_text(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::Null => None,
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Bool(b) => Some(b.to_string()),
        other => Some(other.to_string()),
    }
}

fn read_json(
    name: &str,
    bytes: &[u8],
    out: &mut Dataset,
    next_group: &mut i64,
) -> Result<(), String> {
    let file: InFile = serde_json::from_slice(bytes)
        .map_err(|e| format!("{name} is not a valid COCO instances file: {e}"))?;
    let categories: HashMap<i64, &str> = file
        .categories
        .iter()
        .map(|c| (c.id, c.name.as_str()))
        .collect();
    let mut slot: HashMap<i64, usize> = HashMap::new();
    for img in &file.images {
        if slot.insert(img.id, out.items.len()).is_some() {
            return Err(format!("{name}: the image id {} is used twice", img.id));
        }
        out.items.push(ItemObjects {
            item: ItemRef::Name(item_name(&img.file_name).to_string()),
            objects: FrameObjects::default(),
        });
    }
    for (n, a) in file.annotations.iter().enumerate() {
        let what = match &a.id {
            Some(id) => format!("{name}: annotation {id}"),
            None => format!("{name}: annotation #{}", n + 1),
        };
        let Some(&item) = slot.get(&a.image_id) else {
            return Err(format!(
                "{what} refers to an unknown image id {}",
                a.image_id
            ));
        };
        let Some(&label) = categories.get(&a.category_id) else {
            return Err(format!(
                "{what} refers to an unknown category id {}",
                a.category_id
            ));
        };
        let parts: Vec<Vec<f64>> = match &a.segmentation {
            serde_json::Value::Null => Vec::new(),
            serde_json::Value::Object(_) => continue, // an RLE mask: skipped, as CVAT 1.1
            serde_json::Value::Array(parts) => {
                let mut polys = Vec::new();
                for p in parts {
                    let serde_json::Value::Array(nums) = p else {
                        return Err(format!("{what}: a segmentation part is not a list"));
                    };
                    if nums.is_empty() {
                        continue;
                    }
                    if !nums.len().is_multiple_of(2) || nums.len() < 6 {
                        return Err(format!(
                            "{what}: a polygon needs an even number of at least 6 coordinates, got {}",
                            nums.len()
                        ));
                    }
                    let pts = nums
                        .iter()
                        .map(|v| {
                            v.as_f64()
                                .ok_or_else(|| {
                                    format!("{what}: a polygon coordinate is not a number")
                                })
                                .and_then(|v| coord(v, &what))
                        })
                        .collect::<Result<Vec<f64>, String>>()?;
                    polys.push(pts);
                }
                polys
            }
            _ => return Err(format!("{what}: segmentation is neither a list nor a mask")),
        };
        // our export writes a box as its 4-corner polygon: read exactly that back as the
        // box it was (CVAT 1.1 turned it into a polygon, so round trips drifted)
        let parts = match (&parts[..], &a.bbox) {
            ([only], Some(b)) if b.len() == 4 && *only == box_corners(b) => Vec::new(),
            _ => parts,
        };
        let mut attributes: Vec<(String, String)> = Vec::new();
        let mut occluded = false;
        if let Some(attrs) = &a.attributes {
            for (k, v) in attrs {
                if k == "occluded" {
                    occluded = matches!(v, serde_json::Value::Bool(true))
                        || value_text(v).is_some_and(|t| t.eq_ignore_ascii_case("true"));
                } else if let Some(t) = value_text(v) {
                    attributes.push((k.clone(), t));
                }
            }
        }
        let has = |attrs: &[(String, String)], n: &str| attrs.iter().any(|(k, _)| k == n);
        if let Some(c) = &a.iscrowd
            && !has(&attributes, "is_crowd")
        {
            let crowd = c.as_i64().is_some_and(|v| v != 0) || c.as_bool() == Some(true);
            attributes.push(("is_crowd".into(), crowd.to_string()));
        }
        if let Some(s) = a.score
            && !has(&attributes, "score")
        {
            attributes.push(("score".into(), s.to_string()));
        }
        let shape = |kind: ShapeType, points: Vec<f64>, group: i64| OutShape {
            kind,
            label: label.to_string(),
            occluded,
            z_order: 0,
            points,
            group,
            attributes: attributes.clone(),
            track_id: None,
        };
        let shapes = &mut out.items[item].objects.shapes;
        if parts.is_empty() {
            let b = match &a.bbox {
                Some(b) if b.len() == 4 => b,
                _ => {
                    return Err(format!(
                        "{what} has neither a segmentation nor a bbox of 4 numbers"
                    ));
                }
            };
            let mut p = [0.0; 4];
            for (i, v) in b.iter().enumerate() {
                p[i] = coord(*v, &what)?;
            }
            let points = vec![
                p[0],
                p[1],
                coord(p[0] + p[2], &what)?,
                coord(p[1] + p[3], &what)?,
            ];
            shapes.push(shape(ShapeType::Rectangle, points, 0));
        } else {
            let group = if parts.len() > 1 {
                *next_group += 1;
                *next_group - 1
            } else {
                0
            };
            for points in parts {
                shapes.push(shape(ShapeType::Polygon, points, group));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{LabelMeta, OutTag, TaskMeta};

    fn meta(labels: &[&str]) -> TaskMeta {
        TaskMeta {
            id: 1,
            name: "t".into(),
            size: 2,
            mode: "annotation".into(),
            overlap: 0,
            bug_tracker: String::new(),
            created: String::new(),
            updated: String::new(),
            start_frame: 0,
            stop_frame: 1,
            frame_filter: String::new(),
            z_order: false,
            labels: labels
                .iter()
                .enumerate()
                .map(|(i, n)| LabelMeta {
                    id: i as i64 + 1,
                    name: n.to_string(),
                    attributes: vec![],
                })
                .collect(),
            segments: vec![],
            owner: None,
            assignee: None,
            dumped: String::new(),
        }
    }

    fn shape(kind: ShapeType, label: &str, points: &[f64], group: i64) -> OutShape {
        OutShape {
            kind,
            label: label.into(),
            occluded: false,
            z_order: 0,
            points: points.to_vec(),
            group,
            attributes: vec![],
            track_id: None,
        }
    }

    fn frame(name: &str, width: i64, height: i64) -> FrameMeta {
        FrameMeta {
            abs: 0,
            name: name.into(),
            width,
            height,
        }
    }

    fn export(
        labels: &[&str],
        frames: &[FrameMeta],
        objs: Vec<FrameObjects>,
        with_images: bool,
    ) -> Vec<u8> {
        let m = meta(labels);
        let mut calls = Vec::new();
        let mut objects = |k: usize| {
            calls.push(k);
            objs[k].clone()
        };
        let mut image = |k: usize| Ok(format!("jpeg{k}").into_bytes());
        let mut zip = ZipOut::new(io::Cursor::new(Vec::new()));
        write(
            &mut zip,
            Export {
                meta: &m,
                frames,
                objects: &mut objects,
                images: if with_images { Some(&mut image) } else { None },
            },
        )
        .unwrap();
        assert_eq!(calls, (0..frames.len()).collect::<Vec<_>>());
        zip.finish().unwrap().into_inner()
    }

    fn json_of(zip: &[u8]) -> serde_json::Value {
        let files = archive::read_entries(zip, |p| p == ANNOTATIONS_PATH).unwrap();
        serde_json::from_slice(&files[0].1).unwrap()
    }

    #[test]
    fn layout_and_values() {
        let frames = [frame("dir/a.png", 200, 100), frame("b", 10, 10)];
        let square = [10., 20., 110., 20., 110., 70., 10., 70.];
        let mut crowd = shape(ShapeType::Polygon, "car", &[1., 1., 5., 1., 5., 5.], 0);
        crowd.attributes = vec![("is_crowd".into(), "true".into())];
        let objs = vec![
            FrameObjects {
                shapes: vec![
                    shape(ShapeType::Polygon, "car", &square, 0),
                    shape(ShapeType::Rectangle, "person", &[0., 0., 5., 4.], 0),
                    shape(ShapeType::Polyline, "car", &[0., 0., 5., 4.], 0),
                    // group 3: a small box and a larger polygon, the polygon leads
                    shape(ShapeType::Rectangle, "person", &[100., 10., 120., 15.], 3),
                    shape(
                        ShapeType::Polygon,
                        "car",
                        &[150., 50., 160., 50., 160., 60.],
                        3,
                    ),
                    shape(
                        ShapeType::Polygon,
                        "car",
                        &[150., 60., 180., 60., 180., 90.],
                        3,
                    ),
                ],
                tags: vec![OutTag {
                    label: "car".into(),
                    group: 0,
                    attributes: vec![],
                }],
            },
            FrameObjects {
                shapes: vec![crowd],
                tags: vec![],
            },
        ];
        let zip = export(&["car", "person"], &frames, objs, true);
        let files = archive::read_entries(&zip, |_| true).unwrap();
        let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [ANNOTATIONS_PATH, "images/dir/a.jpg", "images/b.jpg"]
        );
        assert_eq!(files[2].1, b"jpeg1");
        let text = std::str::from_utf8(&files[0].1).unwrap();
        assert!(text.starts_with(
            r#"{"licenses":[{"name":"","id":0,"url":""}],"info":{"contributor":"","date_created":"","description":"","url":"","version":"","year":""},"categories":[{"id":1,"name":"car","supercategory":""},{"id":2,"name":"person","supercategory":""}],"images":[{"id":1,"width":200,"height":100,"file_name":"dir/a.jpg","license":0,"flickr_url":"","coco_url":"","date_captured":0},"#
        ));
        assert!(text.contains(
            r#"{"id":1,"image_id":1,"category_id":1,"segmentation":[[10.0,20.0,110.0,20.0,110.0,70.0,10.0,70.0]],"area":5000.0,"bbox":[10.0,20.0,100.0,50.0],"iscrowd":0}"#
        ));
        let j = json_of(&zip);
        let anns = j["annotations"].as_array().unwrap();
        assert_eq!(anns.len(), 4);
        assert_eq!(
            anns[1],
            serde_json::json!({"id": 2, "image_id": 1, "category_id": 2,
                "segmentation": [[0.0, 0.0, 5.0, 0.0, 5.0, 4.0, 0.0, 4.0]],
                "area": 20.0, "bbox": [0.0, 0.0, 5.0, 4.0], "iscrowd": 0})
        );
        let g = &anns[2];
        assert_eq!(g["category_id"], 1);
        assert_eq!(g["bbox"], serde_json::json!([100.0, 10.0, 80.0, 80.0]));
        assert_eq!(g["segmentation"].as_array().unwrap().len(), 2);
        let union = raster::merge_union(&[
            raster::from_polygon(&[150., 50., 160., 50., 160., 60.], 100, 200),
            raster::from_polygon(&[150., 60., 180., 60., 180., 90.], 100, 200),
        ]);
        assert_eq!(g["area"], raster::area(&union) as f64);
        let c = &anns[3];
        assert_eq!(c["image_id"], 2);
        assert_eq!(c["iscrowd"], 1);
        let rle = raster::from_polygon(&[1., 1., 5., 1., 5., 5.], 10, 10);
        assert_eq!(
            c["segmentation"],
            serde_json::json!({"counts": rle.counts, "size": [10, 10]})
        );
        assert_eq!(c["area"], raster::area(&rle) as f64);
    }

    #[test]
    fn round_trip() {
        let frames = [
            frame("x/a.png", 50, 40),
            frame("b.jpg", 10, 10),
            frame("c.png", 5, 5),
        ];
        let objs = vec![
            FrameObjects {
                shapes: vec![
                    shape(ShapeType::Polygon, "car", &[1., 2., 30., 2., 15.5, 20.], 0),
                    shape(ShapeType::Rectangle, "person", &[2., 3., 7., 9.], 0),
                    shape(ShapeType::Polygon, "car", &[1., 1., 5., 1., 5., 5.], 7),
                    shape(
                        ShapeType::Polygon,
                        "car",
                        &[10., 10., 20., 10., 20., 20.],
                        7,
                    ),
                ],
                tags: vec![],
            },
            FrameObjects::default(),
            FrameObjects {
                shapes: vec![shape(ShapeType::Points, "car", &[1., 1.], 0)],
                tags: vec![],
            },
        ];
        let zip = export(&["car", "person"], &frames, objs, false);
        assert_eq!(archive::read_entries(&zip, |_| true).unwrap().len(), 1);
        let ds = read(&zip).unwrap();
        assert!(ds.tracks.is_empty());
        let names: Vec<&ItemRef> = ds.items.iter().map(|i| &i.item).collect();
        assert_eq!(
            names,
            [
                &ItemRef::Name("x/a".into()),
                &ItemRef::Name("b".into()),
                &ItemRef::Name("c".into())
            ]
        );
        let crowd = || vec![("is_crowd".to_string(), "false".to_string())];
        let with = |mut s: OutShape| {
            s.attributes = crowd();
            s
        };
        let want = vec![
            with(shape(
                ShapeType::Polygon,
                "car",
                &[1., 2., 30., 2., 15.5, 20.],
                0,
            )),
            // a box written as its 4-corner polygon comes back as the box
            with(shape(ShapeType::Rectangle, "person", &[2., 3., 7., 9.], 0)),
            with(shape(
                ShapeType::Polygon,
                "car",
                &[1., 1., 5., 1., 5., 5.],
                1,
            )),
            with(shape(
                ShapeType::Polygon,
                "car",
                &[10., 10., 20., 10., 20., 20.],
                1,
            )),
        ];
        assert_eq!(ds.items[0].objects.shapes, want);
        assert!(ds.items[1].objects.shapes.is_empty() && ds.items[2].objects.shapes.is_empty());
        // a bare JSON file reads the same
        let bare = archive::read_entries(&zip, |_| true).unwrap().remove(0).1;
        assert_eq!(read(&bare).unwrap(), ds);
    }

    #[test]
    fn reads_datumaro_extras() {
        let json = br#"{"images":[{"id":5,"file_name":"d/img.png","width":20,"height":20}],
          "categories":[{"id":3,"name":"car"}],
          "annotations":[
            {"id":1,"image_id":5,"category_id":3,"segmentation":[],"bbox":[1,2,3,4],"iscrowd":0,
             "score":0.5,"attributes":{"occluded":true,"color":"red","n":2,"flag":false}},
            {"id":2,"image_id":5,"category_id":3,"segmentation":{"counts":[0,4],"size":[2,2]},
             "bbox":[0,0,2,2],"iscrowd":1},
            {"id":3,"image_id":5,"category_id":3,"segmentation":[[0,0,1,0,1,1],[5,5,6,5,6,6]],
             "bbox":[0,0,6,6],"iscrowd":0},
            {"id":4,"image_id":5,"category_id":3,"segmentation":[[0,0,1,0,1,1],[5,5,6,5,6,6]],
             "bbox":[0,0,6,6],"iscrowd":0}]}"#;
        let ds = read(json).unwrap();
        assert_eq!(ds.items.len(), 1);
        assert_eq!(ds.items[0].item, ItemRef::Name("d/img".into()));
        let s = &ds.items[0].objects.shapes;
        assert_eq!(s.len(), 5);
        assert_eq!(s[0].kind, ShapeType::Rectangle);
        assert_eq!(s[0].points, [1., 2., 4., 6.]);
        assert!(s[0].occluded);
        assert_eq!(
            s[0].attributes,
            [
                ("color".to_string(), "red".to_string()),
                ("flag".into(), "false".into()),
                ("n".into(), "2".into()),
                ("is_crowd".into(), "false".into()),
                ("score".into(), "0.5".into())
            ]
        );
        let groups: Vec<i64> = s[1..].iter().map(|s| s.group).collect();
        assert_eq!(groups, [1, 1, 2, 2]);
        assert!(
            s[1..]
                .iter()
                .all(|s| s.kind == ShapeType::Polygon && !s.occluded)
        );
    }

    #[test]
    fn bad_input() {
        let err = |j: &str| read(j.as_bytes()).unwrap_err();
        let base =
            r#""images":[{"id":1,"file_name":"a.jpg"}],"categories":[{"id":1,"name":"car"}]"#;
        let ann = |a: &str| format!("{{{base},\"annotations\":[{a}]}}");
        assert!(err("{nope").contains("The file is not a valid COCO instances file"));
        assert!(err(r#"{"images":[{"id":1}]}"#).contains("file_name"));
        assert!(
            err(&ann(
                r#"{"id":9,"image_id":2,"category_id":1,"bbox":[0,0,1,1]}"#
            ))
            .contains("annotation 9 refers to an unknown image id 2")
        );
        assert!(
            err(&ann(
                r#"{"id":9,"image_id":1,"category_id":4,"bbox":[0,0,1,1]}"#
            ))
            .contains("unknown category id 4")
        );
        assert!(
            err(&ann(
                r#"{"id":9,"image_id":1,"category_id":1,"bbox":[0,0,1e12,1]}"#
            ))
            .contains("invalid coordinate")
        );
        assert!(
            err(&ann(
                r#"{"id":9,"image_id":1,"category_id":1,"segmentation":[[0,0,1,1e10,2,2]]}"#
            ))
            .contains("invalid coordinate")
        );
        assert!(
            err(&ann(
                r#"{"id":9,"image_id":1,"category_id":1,"segmentation":[[0,0,1,1,2]]}"#
            ))
            .contains("at least 6")
        );
        assert!(err(&ann(r#"{"id":9,"image_id":1,"category_id":1}"#)).contains("neither"));
        assert!(
            err(&ann(
                r#"{"id":9,"image_id":1,"category_id":1,"segmentation":[["a",0,1,1,2,2]]}"#
            ))
            .contains("not a number")
        );
        assert!(
            err(r#"{"images":[{"id":1,"file_name":"a"},{"id":1,"file_name":"b"}]}"#)
                .contains("image id 1 is used twice")
        );
        let mut zip = ZipOut::new(io::Cursor::new(Vec::new()));
        zip.file("annotations/person_keypoints_default.json")
            .unwrap()
            .write_all(b"{}")
            .unwrap();
        let bytes = zip.finish().unwrap().into_inner();
        assert!(
            read(&bytes)
                .unwrap_err()
                .contains("no annotations/instances_*.json")
        );
        let mut zip = ZipOut::new(io::Cursor::new(Vec::new()));
        zip.file("deep/er/annotations/instances_val.json")
            .unwrap()
            .write_all(b"[1]")
            .unwrap();
        let bytes = zip.finish().unwrap().into_inner();
        assert!(
            read(&bytes)
                .unwrap_err()
                .starts_with("deep/er/annotations/instances_val.json is not a valid")
        );
    }
}
