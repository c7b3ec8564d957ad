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
//! has. An unknown `image_id` or `category_id` fails the import, and so does a file of
//! more than [`crate::MAX_SHAPES`] annotations or [`crate::MAX_POINTS`] coordinates
//! (in all files of the upload; the reading stops there).

use std::borrow::Cow;
use std::cell::Cell;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{self, Seek, Write};

use ferrocat_wire::annotations::ShapeType;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};

use crate::archive::{self, ZipOut};
use crate::raster::{self, Rle};
use crate::yolo::item_name;
use crate::{Budget, Dataset, Export, FrameMeta, FrameObjects, ItemObjects, ItemRef, OutShape};

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
    #[serde(default, deserialize_with = "bounded_annotations")]
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
    segmentation: InSegmentation,
    #[serde(default)]
    bbox: Option<Vec<f64>>,
    #[serde(default)]
    iscrowd: Option<serde_json::Value>,
    #[serde(default)]
    score: Option<f64>,
    #[serde(default)]
    attributes: Option<serde_json::Map<String, serde_json::Value>>,
}

thread_local! {
    /// While a file is parsed on this thread: the annotations and coordinates it may
    /// still hold (what the import's [`Budget`] has left), and which of them ran out
    /// (`1` annotations, `2` coordinates), so that an oversized file stops while it is
    /// read rather than after.
    static PARSE_LEFT: Cell<(usize, usize, u8)> = const { Cell::new((usize::MAX, usize::MAX, 0)) };
}

/// Takes `shapes` annotations and `points` coordinates from [`PARSE_LEFT`].
fn parse_take<E: de::Error>(shapes: usize, points: usize) -> Result<(), E> {
    let (s, p, _) = PARSE_LEFT.get();
    if shapes > s {
        PARSE_LEFT.set((s, p, 1));
        return Err(E::custom("too many annotations"));
    }
    if points > p {
        PARSE_LEFT.set((s, p, 2));
        return Err(E::custom("too many coordinates"));
    }
    PARSE_LEFT.set((s - shapes, p - points, 0));
    Ok(())
}

/// The `annotations` list, taken from [`PARSE_LEFT`] one by one.
fn bounded_annotations<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<InAnnotation>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Vec<InAnnotation>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a list of annotations")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some(a) = seq.next_element()? {
                parse_take::<A::Error>(1, 0)?;
                out.push(a);
            }
            Ok(out)
        }
    }
    d.deserialize_seq(V)
}

/// An annotation's `segmentation`, read without building JSON values (a
/// `serde_json::Value` costs 32 bytes per number, a coordinate here 8).
#[derive(Debug, Default, PartialEq)]
enum InSegmentation {
    /// Absent or `null`.
    #[default]
    Missing,
    /// An object: an RLE mask.
    Mask,
    /// Lists of numbers.
    Polygons(Vec<Vec<f64>>),
    /// A list with a part that is not a list.
    PartNotList,
    /// A list with a part holding something else than numbers.
    NotNumber,
    /// Neither a list nor an object.
    Other,
}

/// Reads and drops the rest of a list.
fn drain_seq<'de, A: SeqAccess<'de>>(mut seq: A) -> Result<(), A::Error> {
    while seq.next_element::<IgnoredAny>()?.is_some() {}
    Ok(())
}

/// Reads and drops the rest of an object.
fn drain_map<'de, A: MapAccess<'de>>(mut map: A) -> Result<(), A::Error> {
    while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
    Ok(())
}

impl<'de> Deserialize<'de> for InSegmentation {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        /// One polygon: its numbers, or `None` when a value is not a number.
        struct Part(Option<Vec<f64>>);
        /// A number, or `None` for any other value.
        struct Num(Option<f64>);
        struct NumV;
        impl<'de> Visitor<'de> for NumV {
            type Value = Num;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a number")
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Num, E> {
                Ok(Num(Some(v)))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Num, E> {
                Ok(Num(Some(v as f64)))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Num, E> {
                Ok(Num(Some(v as f64)))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Num, E> {
                Ok(Num(None))
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Num, E> {
                Ok(Num(None))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Num, E> {
                Ok(Num(None))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Num, A::Error> {
                drain_seq(seq).map(|_| Num(None))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Num, A::Error> {
                drain_map(map).map(|_| Num(None))
            }
        }
        impl<'de> Deserialize<'de> for Num {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                d.deserialize_any(NumV)
            }
        }
        struct PartV;
        impl<'de> Visitor<'de> for PartV {
            type Value = Option<Part>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a list of numbers")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut nums = Vec::new();
                while let Some(Num(v)) = seq.next_element()? {
                    let Some(v) = v else {
                        drain_seq(seq)?;
                        return Ok(Some(Part(None)));
                    };
                    parse_take::<A::Error>(0, 1)?;
                    nums.push(v);
                }
                Ok(Some(Part(Some(nums))))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
                Ok(None)
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
                Ok(None)
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
                Ok(None)
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
                Ok(None)
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
                Ok(None)
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(None)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                drain_map(map).map(|_| None)
            }
        }
        /// `Some(part)` for a list, `None` for anything else.
        struct MaybePart(Option<Part>);
        impl<'de> Deserialize<'de> for MaybePart {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                d.deserialize_any(PartV).map(MaybePart)
            }
        }
        struct SegV;
        impl<'de> Visitor<'de> for SegV {
            type Value = InSegmentation;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a segmentation")
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(InSegmentation::Missing)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                drain_map(map).map(|_| InSegmentation::Mask)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut parts = Vec::new();
                while let Some(MaybePart(p)) = seq.next_element()? {
                    let bad = match p {
                        Some(Part(Some(nums))) => {
                            parts.push(nums);
                            continue;
                        }
                        Some(Part(None)) => InSegmentation::NotNumber,
                        None => InSegmentation::PartNotList,
                    };
                    drain_seq(seq)?;
                    return Ok(bad);
                }
                Ok(InSegmentation::Polygons(parts))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
                Ok(InSegmentation::Other)
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
                Ok(InSegmentation::Other)
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
                Ok(InSegmentation::Other)
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
                Ok(InSegmentation::Other)
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
                Ok(InSegmentation::Other)
            }
        }
        d.deserialize_any(SegV)
    }
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
    read_with(bytes, &mut Budget::default())
}

/// [`read`] within `budget`.
fn read_with(bytes: &[u8], budget: &mut Budget) -> Result<Dataset, String> {
    let mut out = Dataset::default();
    let mut next_group = 1;
    if archive::is_zip(bytes) {
        let files = archive::read_entries(bytes, is_instances_file)?;
        if files.is_empty() {
            return Err("The archive holds no annotations/instances_*.json file".into());
        }
        for (name, data) in files {
            read_json(&name, &data, &mut out, &mut next_group, budget)?;
        }
    } else {
        read_json("The file", bytes, &mut out, &mut next_group, budget)?;
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
    budget: &mut Budget,
) -> Result<(), String> {
    let (shapes_left, points_left) = budget.left();
    PARSE_LEFT.set((shapes_left, points_left, 0));
    let parsed = serde_json::from_slice::<InFile>(bytes);
    let (_, _, ran_out) = PARSE_LEFT.replace((usize::MAX, usize::MAX, 0));
    let file = match parsed {
        Ok(file) => file,
        Err(_) if ran_out == 1 => return Err(format!("{name}: {}", budget.shapes_error())),
        Err(_) if ran_out == 2 => return Err(format!("{name}: {}", budget.points_error())),
        Err(e) => return Err(format!("{name} is not a valid COCO instances file: {e}")),
    };
    let InFile {
        images,
        annotations,
        categories,
    } = file;
    let categories: HashMap<i64, &str> =
        categories.iter().map(|c| (c.id, c.name.as_str())).collect();
    let mut slot: HashMap<i64, usize> = HashMap::new();
    for img in &images {
        if slot.insert(img.id, out.items.len()).is_some() {
            return Err(format!("{name}: the image id {} is used twice", img.id));
        }
        out.items.push(ItemObjects {
            item: ItemRef::Name(item_name(&img.file_name).to_string()),
            objects: FrameObjects::default(),
        });
    }
    for (n, a) in annotations.into_iter().enumerate() {
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
        let parts: Vec<Vec<f64>> = match a.segmentation {
            InSegmentation::Missing => Vec::new(),
            InSegmentation::Mask => continue, // an RLE mask: skipped, as CVAT 1.1
            InSegmentation::Polygons(parts) => {
                let mut polys = Vec::new();
                for nums in parts {
                    if nums.is_empty() {
                        continue;
                    }
                    if !nums.len().is_multiple_of(2) || nums.len() < 6 {
                        return Err(format!(
                            "{what}: a polygon needs an even number of at least 6 coordinates, got {}",
                            nums.len()
                        ));
                    }
                    for v in &nums {
                        coord(*v, &what)?;
                    }
                    polys.push(nums);
                }
                polys
            }
            InSegmentation::PartNotList => {
                return Err(format!("{what}: a segmentation part is not a list"));
            }
            InSegmentation::NotNumber => {
                return Err(format!("{what}: a polygon coordinate is not a number"));
            }
            InSegmentation::Other => {
                return Err(format!("{what}: segmentation is neither a list nor a mask"));
            }
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
            budget.take(4)?;
            shapes.push(shape(ShapeType::Rectangle, points, 0));
        } else {
            let group = if parts.len() > 1 {
                *next_group += 1;
                *next_group - 1
            } else {
                0
            };
            for points in parts {
                budget.take(points.len())?;
                shapes.push(shape(ShapeType::Polygon, points, group));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::OutTag;
    use crate::testing::{frames, meta, shape};

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
        let frames = frames(&[("dir/a.png", 200, 100), ("b", 10, 10)]);
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
        let frames = frames(&[("x/a.png", 50, 40), ("b.jpg", 10, 10), ("c.png", 5, 5)]);
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

    #[test]
    fn budget_and_segmentation_shapes() {
        let base =
            r#""images":[{"id":1,"file_name":"a.jpg"}],"categories":[{"id":1,"name":"car"}]"#;
        let ann = |a: &str| format!("{{{base},\"annotations\":[{a}]}}");
        let three = ann(concat!(
            r#"{"image_id":1,"category_id":1,"bbox":[0,0,1,1]},"#,
            r#"{"image_id":1,"category_id":1,"segmentation":[[0,0,1,0,1,1]]},"#,
            r#"{"image_id":1,"category_id":1,"segmentation":{"counts":"abc","size":[2,2]}}"#
        ));
        let ds = read(three.as_bytes()).unwrap();
        assert_eq!(ds.items[0].objects.shapes.len(), 2);
        // three annotations: the reading stops at the third
        let e = read_with(three.as_bytes(), &mut Budget::new(2, 100)).unwrap_err();
        assert_eq!(e, "The file: The file holds more than 2 objects");
        let e = read_with(three.as_bytes(), &mut Budget::new(10, 5)).unwrap_err();
        assert_eq!(e, "The file: The file holds more than 5 coordinates");
        // the polygon's 6 and the box's 4
        assert!(read_with(three.as_bytes(), &mut Budget::new(3, 10)).is_ok());
        let e = read_with(three.as_bytes(), &mut Budget::new(3, 9)).unwrap_err();
        assert!(e.contains("more than 9 coordinates"), "{e}");
        // what a segmentation may be
        let err = |seg: &str| {
            read(
                ann(&format!(
                    r#"{{"id":7,"image_id":1,"category_id":1,"segmentation":{seg}}}"#
                ))
                .as_bytes(),
            )
            .unwrap_err()
        };
        assert!(
            err("[[0,0,1,0,1,1],5]").contains("annotation 7: a segmentation part is not a list")
        );
        assert!(
            err("[[0,0,1,0,1,[1]]]").contains("annotation 7: a polygon coordinate is not a number")
        );
        assert!(err("[[0,0,1,0,1,null],{}]").contains("not a number"));
        assert!(err("true").contains("annotation 7: segmentation is neither a list nor a mask"));
        assert!(err("[[0,0,1,0,1,1], [0,0]").contains("not a valid COCO instances file"));
        let ok = |seg: &str| {
            read(
                ann(&format!(
                    r#"{{"image_id":1,"category_id":1,"bbox":[1,2,3,4],"segmentation":{seg}}}"#
                ))
                .as_bytes(),
            )
            .unwrap()
            .items[0]
                .objects
                .shapes
                .clone()
        };
        assert_eq!(ok("null")[0].kind, ShapeType::Rectangle);
        assert_eq!(ok("[[]]")[0].points, [1., 2., 4., 6.]);
        assert!(ok(r#"{"counts":[1,2],"size":[3,1],"x":[[{}]]}"#).is_empty());
        assert_eq!(
            ok("[[0,0,1.5,0,1,1e3]]")[0].points,
            [0., 0., 1.5, 0., 1., 1e3]
        );
    }
}
