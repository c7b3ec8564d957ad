//! "Datumaro 1.0" export (api-v1 §10.9): the annotation part of a Datumaro dataset, as
//! `dm.Dataset.import_from(dir, "datumaro")` (Datumaro 1.13) reads it from the unzipped
//! folder.
//!
//! Layout (decided): `annotations/default.json` at the root of the zip, and for `dataset`
//! exports `images/default/<item>.jpg`, which is where Datumaro's own exporter puts
//! media (`images/<subset>/`, item folders flattened with `_`). CVAT 1.1 wrapped the same
//! files in a Datumaro *project* (`dataset/annotations/default.json`, `.datumaro/`, a
//! copy of the library and a REST source plugin); the importer finds `annotations/*.json`
//! at any depth up to 3, so both import, and the plain layout is what Datumaro writes
//! itself and what later CVAT versions export.
//!
//! `default.json` is streamed item by item, never held whole:
//! `{"dm_format_version": "1.0", "media_type": 2, "infos": {}, "categories": {"label":
//! …}, "items": [...]}` (keys as Datumaro 1.x writes them; CVAT 1.1's Datumaro wrote the
//! older `info` and no version, which 1.13 also reads).
//!
//! What CVAT 1.1 put in it, kept here:
//! * `categories.label.labels`: every task label in label order (`name`, `parent` `""`,
//!   `attributes` = the label's attribute names); `categories.label.attributes`:
//!   `occluded` and every attribute name of the task (sorted, as Datumaro writes sets);
//! * one item per task frame in frame order: `id` = frame name without extension
//!   (folders kept), `attr` `{"frame": <absolute frame>}`, `image` `{"path", "size":
//!   [h, w]}` (`path` is the image file under `images/default/` for `dataset` exports,
//!   else the frame name);
//! * annotations: tags first (`label`), then shapes: rectangles as `bbox` `[x, y, w, h]`,
//!   `polygon`, `polyline` and `points` (`points` flat, points with `visibility` 2 each),
//!   each with `label_id` (index of the label), `group`, `z_order`, and `attributes`:
//!   the label's attributes (missing ones filled with their default value, `number`
//!   ones as JSON numbers, `checkbox` ones as booleans, as CVAT converted them), then
//!   `occluded` (boolean) and, for shapes of tracks, `track_id`. CVAT 1.1 also wrote
//!   `keyframe` for track shapes; the neutral model does not say which frames are
//!   keyframes, so it is left out;
//! * cuboids are skipped: CVAT 1.1 skipped them too ("Datumaro does not support
//!   cuboids"); Datumaro's later `cuboid_2d` uses another vertex order;
//! * annotation `id`s: CVAT 1.1 left them 0; here they count 1, 2, … over the file, so
//!   each annotation has its own.

use std::collections::HashSet;
use std::io::{self, Seek, Write};

use ferrocat_wire::annotations::ShapeType;
use serde_json::{Map, Value, json};

use crate::archive::ZipOut;
use crate::yolo::item_name;
use crate::{Export, LabelMeta, TaskMeta};

/// Path of the annotation file in the zip.
pub const ANNOTATIONS: &str = "annotations/default.json";
/// Folder of the images of a `dataset` export.
pub const IMAGES_DIR: &str = "images/default/";

/// Writes `annotations/default.json` (and the images when `e.images` is given).
pub fn write<W: Write + Seek>(zip: &mut ZipOut<W>, e: Export<'_>) -> io::Result<()> {
    let with_images = e.images.is_some();
    let image_files = image_file_names(e.frames);
    {
        let mut w = io::BufWriter::with_capacity(1 << 16, zip.file(ANNOTATIONS)?);
        w.write_all(br#"{"dm_format_version":"1.0","media_type":2,"infos":{},"categories":"#)?;
        serde_json::to_writer(&mut w, &categories(e.meta))?;
        w.write_all(br#","items":["#)?;
        let mut next_id = 1;
        for (k, f) in e.frames.iter().enumerate() {
            if k > 0 {
                w.write_all(b",")?;
            }
            let path = if with_images {
                image_files[k].clone()
            } else {
                f.name.clone()
            };
            let objects = (e.objects)(k);
            let mut anns = Vec::with_capacity(objects.tags.len() + objects.shapes.len());
            for t in &objects.tags {
                let mut a = annotation(next_id, "label", e.meta, &t.label, t.group);
                a.insert(
                    "attributes".into(),
                    Value::Object(attributes(e.meta, &t.label, &t.attributes)),
                );
                anns.push(Value::Object(a));
                next_id += 1;
            }
            for s in &objects.shapes {
                let kind = match s.kind {
                    ShapeType::Rectangle => "bbox",
                    ShapeType::Polygon => "polygon",
                    ShapeType::Polyline => "polyline",
                    ShapeType::Points => "points",
                    ShapeType::Cuboid => continue,
                };
                let mut a = annotation(next_id, kind, e.meta, &s.label, s.group);
                let mut attrs = attributes(e.meta, &s.label, &s.attributes);
                attrs.insert("occluded".into(), Value::Bool(s.occluded));
                if let Some(t) = s.track_id {
                    attrs.insert("track_id".into(), json!(t));
                }
                a.insert("attributes".into(), Value::Object(attrs));
                a.insert("z_order".into(), json!(s.z_order));
                let p = &s.points;
                match s.kind {
                    ShapeType::Rectangle if p.len() == 4 => {
                        let (x, y) = (p[0].min(p[2]), p[1].min(p[3]));
                        let bbox = [x, y, p[0].max(p[2]) - x, p[1].max(p[3]) - y];
                        a.insert("bbox".into(), json!(bbox));
                    }
                    ShapeType::Rectangle => continue,
                    ShapeType::Points => {
                        a.insert("points".into(), json!(p));
                        a.insert("visibility".into(), json!(vec![2; p.len() / 2]));
                    }
                    _ => {
                        a.insert("points".into(), json!(p));
                    }
                }
                anns.push(Value::Object(a));
                next_id += 1;
            }
            let item = json!({
                "id": item_name(&f.name),
                "annotations": anns,
                "attr": {"frame": f.abs},
                "image": {"path": path, "size": [f.height, f.width]},
            });
            serde_json::to_writer(&mut w, &item)?;
        }
        w.write_all(b"]}")?;
        w.flush()?;
    }
    if let Some(images) = e.images {
        for (k, name) in image_files.iter().enumerate() {
            let bytes = images(k)?;
            zip.stored(&format!("{IMAGES_DIR}{name}"), &bytes)?;
        }
    }
    Ok(())
}

/// The image file of each frame under [`IMAGES_DIR`]: the item name with `/` replaced
/// by `_` (as Datumaro saves media) and `.jpg`; a name taken already gets `_1`, `_2`….
fn image_file_names(frames: &[crate::FrameMeta]) -> Vec<String> {
    let mut used = HashSet::new();
    frames
        .iter()
        .map(|f| {
            let base = item_name(&f.name).replace('/', "_");
            let mut name = format!("{base}.jpg");
            let mut n = 0;
            while !used.insert(name.clone()) {
                n += 1;
                name = format!("{base}_{n}.jpg");
            }
            name
        })
        .collect()
}

fn categories(meta: &TaskMeta) -> Value {
    let mut all: Vec<&str> = vec!["occluded"];
    let labels: Vec<Value> = meta
        .labels
        .iter()
        .map(|l| {
            let mut names: Vec<&str> = l.attributes.iter().map(|a| a.name.as_str()).collect();
            all.extend(&names);
            names.sort_unstable();
            names.dedup();
            json!({"name": l.name, "parent": "", "attributes": names})
        })
        .collect();
    all.sort_unstable();
    all.dedup();
    json!({"label": {"labels": labels, "label_groups": [], "attributes": all}})
}

/// The common part of an annotation: `id`, `type`, `group`, `label_id`.
fn annotation(id: u64, kind: &str, meta: &TaskMeta, label: &str, group: i64) -> Map<String, Value> {
    let mut a = Map::new();
    a.insert("id".into(), json!(id));
    a.insert("type".into(), json!(kind));
    a.insert("group".into(), json!(group));
    let label_id = meta.labels.iter().position(|l| l.name == label);
    a.insert("label_id".into(), json!(label_id));
    a
}

/// The object's attributes as CVAT 1.1 gave them to Datumaro: every attribute of the
/// label (the default value where the object has none), typed by its input type, then
/// any other attribute the object carries, as text.
fn attributes(meta: &TaskMeta, label: &str, values: &[(String, String)]) -> Map<String, Value> {
    let mut out = Map::new();
    let spec: Option<&LabelMeta> = meta.labels.iter().find(|l| l.name == label);
    for a in spec.map(|l| l.attributes.as_slice()).unwrap_or_default() {
        let v = values
            .iter()
            .find(|(n, _)| *n == a.name)
            .map_or(a.default_value.as_str(), |(_, v)| v.as_str());
        let typed = match a.input_type.as_str() {
            "number" => v
                .trim()
                .parse::<f64>()
                .ok()
                .and_then(serde_json::Number::from_f64)
                .map_or_else(|| json!(v), Value::Number),
            "checkbox" => Value::Bool(v.eq_ignore_ascii_case("true")),
            _ => json!(v),
        };
        out.insert(a.name.clone(), typed);
    }
    for (n, v) in values {
        if !out.contains_key(n) {
            out.insert(n.clone(), json!(v));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AttrMeta, FrameMeta, FrameObjects, OutShape, OutTag};

    fn meta() -> TaskMeta {
        let attr = |id, name: &str, input_type: &str, default: &str| AttrMeta {
            id,
            name: name.into(),
            mutable: false,
            input_type: input_type.into(),
            default_value: default.into(),
            values: vec![],
        };
        let mut meta = crate::testing::meta(&["car", "person"]);
        meta.labels[0].attributes = vec![
            attr(1, "speed", "number", "0"),
            attr(2, "parked", "checkbox", "false"),
            attr(3, "color", "select", "gray"),
        ];
        meta
    }

    fn shape(kind: ShapeType, label: &str, points: Vec<f64>) -> OutShape {
        OutShape {
            kind,
            label: label.into(),
            occluded: false,
            z_order: 0,
            points,
            group: 0,
            attributes: vec![],
            track_id: None,
        }
    }

    fn frames() -> Vec<FrameMeta> {
        vec![
            FrameMeta {
                abs: 0,
                name: "dir/a.png".into(),
                width: 200,
                height: 100,
            },
            FrameMeta {
                abs: 5,
                name: "dir_a.jpg".into(),
                width: 10,
                height: 20,
            },
        ]
    }

    fn objects(k: usize) -> FrameObjects {
        if k == 1 {
            return FrameObjects::default();
        }
        let mut bx = shape(ShapeType::Rectangle, "car", vec![30.0, 40.0, 10.0, 20.0]);
        bx.occluded = true;
        bx.group = 3;
        bx.z_order = 2;
        bx.attributes = vec![
            ("speed".into(), "12.5".into()),
            ("parked".into(), "true".into()),
        ];
        let mut tracked = shape(
            ShapeType::Polygon,
            "person",
            vec![1.0, 2.0, 3.0, 4.0, 5.0, 1.0],
        );
        tracked.track_id = Some(7);
        FrameObjects {
            shapes: vec![
                bx,
                shape(ShapeType::Polyline, "person", vec![0.0, 0.0, 1.0, 1.0]),
                shape(ShapeType::Points, "car", vec![1.0, 1.0, 2.0, 2.0, 3.0, 3.0]),
                shape(ShapeType::Cuboid, "car", vec![0.0; 16]),
                tracked,
            ],
            tags: vec![OutTag {
                label: "person".into(),
                group: 0,
                attributes: vec![],
            }],
        }
    }

    fn export(with_images: bool) -> Vec<(String, Vec<u8>)> {
        let meta = meta();
        let frames = frames();
        let mut objs = objects;
        let mut img = |k: usize| Ok(vec![0xff, 0xd8, k as u8]);
        let mut zip = ZipOut::new(io::Cursor::new(Vec::new()));
        write(
            &mut zip,
            Export {
                meta: &meta,
                frames: &frames,
                objects: &mut objs,
                images: if with_images { Some(&mut img) } else { None },
            },
        )
        .unwrap();
        let bytes = zip.finish().unwrap().into_inner();
        crate::archive::read_entries(&bytes, |_| true).unwrap()
    }

    #[test]
    fn annotation_json() {
        let entries = export(false);
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].0, ANNOTATIONS);
        let doc: Value = serde_json::from_slice(&entries[0].1).unwrap();
        assert_eq!(doc["dm_format_version"], "1.0");
        assert_eq!(
            doc["categories"]["label"],
            json!({
                "labels": [
                    {"name": "car", "parent": "", "attributes": ["color", "parked", "speed"]},
                    {"name": "person", "parent": "", "attributes": []},
                ],
                "label_groups": [],
                "attributes": ["color", "occluded", "parked", "speed"],
            })
        );
        let items = doc["items"].as_array().unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!(items[0]["id"], "dir/a");
        assert_eq!(items[0]["attr"], json!({"frame": 0}));
        assert_eq!(
            items[0]["image"],
            json!({"path": "dir/a.png", "size": [100, 200]})
        );
        assert_eq!(items[1]["id"], "dir_a");
        assert_eq!(items[1]["attr"], json!({"frame": 5}));
        assert_eq!(items[1]["annotations"], json!([]));
        let anns = items[0]["annotations"].as_array().unwrap();
        // the tag first, the cuboid dropped
        let kinds: Vec<&str> = anns.iter().map(|a| a["type"].as_str().unwrap()).collect();
        assert_eq!(kinds, ["label", "bbox", "polyline", "points", "polygon"]);
        assert_eq!(
            anns[0],
            json!({"id": 1, "type": "label", "group": 0, "label_id": 1, "attributes": {}})
        );
        assert_eq!(
            anns[1],
            json!({
                "id": 2, "type": "bbox", "group": 3, "label_id": 0, "z_order": 2,
                "bbox": [10.0, 20.0, 20.0, 20.0],
                "attributes": {"speed": 12.5, "parked": true, "color": "gray", "occluded": true},
            })
        );
        assert_eq!(anns[3]["visibility"], json!([2, 2, 2]));
        assert_eq!(anns[3]["points"], json!([1.0, 1.0, 2.0, 2.0, 3.0, 3.0]));
        assert_eq!(
            anns[4]["attributes"],
            json!({"occluded": false, "track_id": 7})
        );
        assert_eq!(anns[4]["id"], 5);
    }

    #[test]
    fn images_are_flattened_and_unique() {
        let entries = export(true);
        let names: Vec<&str> = entries.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                ANNOTATIONS,
                "images/default/dir_a.jpg",
                "images/default/dir_a_1.jpg"
            ]
        );
        assert_eq!(entries[2].1, vec![0xff, 0xd8, 1]);
        let doc: Value = serde_json::from_slice(&entries[0].1).unwrap();
        assert_eq!(doc["items"][0]["image"]["path"], "dir_a.jpg");
        assert_eq!(doc["items"][1]["image"]["path"], "dir_a_1.jpg");
        assert_eq!(doc["items"][1]["id"], "dir_a");
    }

    #[test]
    fn no_frames_is_a_valid_document() {
        let meta = meta();
        let mut objs = |_| FrameObjects::default();
        let mut zip = ZipOut::new(io::Cursor::new(Vec::new()));
        write(
            &mut zip,
            Export {
                meta: &meta,
                frames: &[],
                objects: &mut objs,
                images: None,
            },
        )
        .unwrap();
        let bytes = zip.finish().unwrap().into_inner();
        let entries = crate::archive::read_entries(&bytes, |_| true).unwrap();
        let doc: Value = serde_json::from_slice(&entries[0].1).unwrap();
        assert_eq!(doc["items"], json!([]));
    }
}
