//! "LabelMe 3.0" (api-v1 §10.9), as CVAT 1.1 wrote it with Datumaro's `label_me`
//! converter and read it with Datumaro's `label_me` importer.
//!
//! Export: one `default/<item>.xml` per task frame (item = frame name without
//! extension, folders kept), and for dataset exports the image as `default/<item>.jpg`.
//! Of frames whose names differ only by extension, the first one's image is written,
//! and the later ones' XML files are `default/<frame name>.xml` (then, if that is taken
//! too, `default/<frame name>_1.xml`, `_2`, …).
//! The XML is what Datumaro writes (no declaration, two-space indentation): `filename`
//! (`<item>.jpg` when images are included, else the frame name), `folder` (empty, as
//! CVAT 1.1), `source`, `imagesize` (`nrows` = height, `ncols` = width), then one
//! `object` per rectangle or polygon (standalone and track-derived) with `name`,
//! `deleted` 0, `verified` 0, `occluded` yes/no, `date`, `id` (0, 1, … per image),
//! `parts` (`hasparts`/`ispartof`: the first member of a group lists the others, the
//! others name it), `type` `bounding_box` for rectangles (written as the 4-corner
//! polygon), `polygon` with `pt`/`x`/`y` (2 decimals) and `username`, and `attributes`:
//! `name=value` pairs joined by `, `, with `\`, `=`, `"` and `,` escaped by a backslash
//! (Datumaro's escaping; values are never quoted).
//! * Like Datumaro's converter, points, polylines and cuboids are not written, nor tags;
//!   there are no masks, so no `Masks/` folder. Track ids/keyframe flags (which CVAT 1.1
//!   leaked into the attributes) are not written.
//!
//! Import: every `*.xml` in the zip (any depth) whose root is `<annotation>`. The item is
//! the `filename` without extension (else the XML file's name without extension);
//! `polygon` objects become polygons, or rectangles (bounding box of the points) when
//! `type` is `bounding_box`; `deleted` objects are skipped; `segm` (mask) objects are
//! skipped (CVAT converted masks to polygons; ferrocat does not read masks yet).
//! `occluded` comes from the element; the attribute text is parsed back (a bare name
//! means `true`, a quoted value is unquoted, escapes are undone). Objects linked by
//! `parts` get one fresh group number per root object.
//!
//! Safety: XML is read without DTD entities (only the predefined ones and character
//! references), nesting is limited, so is the number of elements (2 000 000 per file),
//! zips are read through [`crate::archive`].

use std::collections::{HashMap, HashSet};
use std::io::{self, Seek, Write};

use ferrocat_wire::annotations::ShapeType;

use crate::archive::{ZipOut, is_zip, read_entries};
use crate::xml::{MAX_ELEMENTS, Node, parse_tree};
use crate::yolo::item_name;
use crate::{Dataset, Export, FrameObjects, ItemObjects, ItemRef, OutShape, xml_escape as esc};

/// An attribute name or value escaped as Datumaro does in the `attributes` text.
fn attr_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '\\' | '=' | '"' | ',') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Writes `default/<item>.xml` for every frame and, when `e.images` is given,
/// `default/<item>.jpg`.
pub fn write<W: Write + Seek>(zip: &mut ZipOut<W>, e: Export<'_>) -> io::Result<()> {
    let objects = e.objects;
    let mut images = e.images;
    let mut xml_paths: HashSet<String> = HashSet::new();
    let mut image_items: HashSet<&str> = HashSet::new();
    for (k, f) in e.frames.iter().enumerate() {
        let item = item_name(&f.name);
        let filename = if images.is_some() {
            format!("{item}.jpg")
        } else {
            f.name.clone()
        };
        // frames whose names differ only by extension: keep the extension (Datumaro),
        // then number the name until it is unused
        let mut xml_path = format!("default/{item}.xml");
        let mut n = 0;
        while !xml_paths.insert(xml_path.clone()) {
            n += 1;
            xml_path = match n {
                1 => format!("default/{}.xml", f.name),
                _ => format!("default/{}_{}.xml", f.name, n - 1),
            };
        }
        let xml = item_xml(&filename, f.width, f.height, &objects(k));
        zip.file(&xml_path)?.write_all(xml.as_bytes())?;
        if let Some(image) = images.as_mut()
            && image_items.insert(item)
        {
            let bytes = image(k)?;
            zip.stored(&format!("default/{item}.jpg"), &bytes)?;
        }
    }
    Ok(())
}

fn item_xml(filename: &str, width: i64, height: i64, objects: &FrameObjects) -> String {
    let shapes: Vec<&OutShape> = objects
        .shapes
        .iter()
        .filter(|s| matches!(s.kind, ShapeType::Rectangle | ShapeType::Polygon))
        .filter(|s| s.kind != ShapeType::Rectangle || s.points.len() == 4)
        .collect();
    // group -> object ids, in order of appearance
    let mut groups: Vec<(i64, Vec<usize>)> = Vec::new();
    for (id, s) in shapes.iter().enumerate() {
        if s.group == 0 {
            continue;
        }
        match groups.iter_mut().find(|(g, _)| *g == s.group) {
            Some((_, ids)) => ids.push(id),
            None => groups.push((s.group, vec![id])),
        }
    }
    let mut x = String::new();
    x.push_str("<annotation>\n");
    x.push_str(&format!("  <filename>{}</filename>\n", esc(filename)));
    x.push_str("  <folder></folder>\n");
    x.push_str("  <source>\n    <sourceImage></sourceImage>\n");
    x.push_str("    <sourceAnnotation>Datumaro</sourceAnnotation>\n  </source>\n");
    x.push_str(&format!(
        "  <imagesize>\n    <nrows>{height}</nrows>\n    <ncols>{width}</ncols>\n  </imagesize>\n"
    ));
    for (id, s) in shapes.iter().enumerate() {
        let (hasparts, ispartof) = match groups.iter().find(|(g, _)| *g == s.group) {
            Some((_, ids)) if ids[0] == id => (
                ids[1..]
                    .iter()
                    .map(|i| i.to_string())
                    .collect::<Vec<_>>()
                    .join(","),
                String::new(),
            ),
            Some((_, ids)) => (String::new(), ids[0].to_string()),
            None => (String::new(), String::new()),
        };
        x.push_str("  <object>\n");
        x.push_str(&format!("    <name>{}</name>\n", esc(&s.label)));
        x.push_str("    <deleted>0</deleted>\n    <verified>0</verified>\n");
        x.push_str(&format!(
            "    <occluded>{}</occluded>\n",
            if s.occluded { "yes" } else { "no" }
        ));
        x.push_str("    <date></date>\n");
        x.push_str(&format!("    <id>{id}</id>\n"));
        x.push_str(&format!(
            "    <parts>\n      <hasparts>{hasparts}</hasparts>\n      <ispartof>{ispartof}</ispartof>\n    </parts>\n"
        ));
        let p = &s.points;
        let corners;
        let pts: &[f64] = if s.kind == ShapeType::Rectangle {
            x.push_str("    <type>bounding_box</type>\n");
            let (x0, y0) = (p[0].min(p[2]), p[1].min(p[3]));
            let (x1, y1) = (p[0].max(p[2]), p[1].max(p[3]));
            corners = [x0, y0, x1, y0, x1, y1, x0, y1];
            &corners
        } else {
            p
        };
        x.push_str("    <polygon>\n");
        for pt in pts.chunks_exact(2) {
            x.push_str(&format!(
                "      <pt>\n        <x>{:.2}</x>\n        <y>{:.2}</y>\n      </pt>\n",
                pt[0], pt[1]
            ));
        }
        x.push_str("      <username></username>\n    </polygon>\n");
        let attrs: Vec<String> = s
            .attributes
            .iter()
            .filter(|(n, _)| n != "occluded")
            .map(|(n, v)| format!("{}={}", attr_escape(n), attr_escape(v)))
            .collect();
        x.push_str(&format!(
            "    <attributes>{}</attributes>\n",
            esc(&attrs.join(", "))
        ));
        x.push_str("  </object>\n");
    }
    x.push_str("</annotation>\n");
    x
}

/// Splits Datumaro's attribute text into `(name, value)` pairs, undoing its escapes.
fn parse_attributes(text: &str) -> Vec<(String, String)> {
    // split on unescaped commas, keeping escapes for the next step
    let mut parts = vec![String::new()];
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let last = parts.last_mut().expect("never empty");
                last.push('\\');
                if let Some(n) = chars.next() {
                    last.push(n);
                }
            }
            ',' => parts.push(String::new()),
            c => parts.last_mut().expect("never empty").push(c),
        }
    }
    let unescape = |s: &str| {
        let mut out = String::with_capacity(s.len());
        let mut chars = s.chars();
        while let Some(c) = chars.next() {
            if c == '\\' {
                if let Some(n) = chars.next() {
                    out.push(n);
                }
            } else {
                out.push(c);
            }
        }
        out
    };
    let mut out = Vec::new();
    for part in parts {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        // the first unescaped '='
        let mut split = None;
        let mut escaped = false;
        for (i, c) in part.char_indices() {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '=' => {
                    split = Some(i);
                    break;
                }
                _ => {}
            }
        }
        match split {
            None => out.push((unescape(part), "true".to_string())),
            Some(i) => {
                let (name, value) = (&part[..i], &part[i + 1..]);
                let value = if value.len() > 1 && value.starts_with('"') && value.ends_with('"') {
                    &value[1..value.len() - 1]
                } else {
                    value
                };
                out.push((unescape(name), unescape(value)));
            }
        }
    }
    out
}

fn coordinate(node: &Node, name: &str) -> Result<f64, String> {
    let t = node.text_or_empty(name);
    t.parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && v.abs() < 1e9)
        .ok_or_else(|| format!("<{name}> is not a usable coordinate: \"{t}\""))
}

fn ids(text: &str) -> Result<Vec<i64>, String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<i64>()
                .map_err(|_| format!("bad object id in <parts>: \"{s}\""))
        })
        .collect()
}

/// Reads a LabelMe zip (see the module doc).
pub fn read(bytes: &[u8]) -> Result<Dataset, String> {
    if !is_zip(bytes) {
        return Err("A LabelMe 3.0 annotation file must be a zip archive".into());
    }
    let entries = read_entries(bytes, |p| p.to_ascii_lowercase().ends_with(".xml"))?;
    if entries.is_empty() {
        return Err("The archive holds no .xml file".into());
    }
    let mut out = Dataset::default();
    let mut next_group = 0;
    for (path, body) in &entries {
        let items = read_item(path, body, &mut next_group).map_err(|e| format!("{path}: {e}"))?;
        out.items.push(items);
    }
    Ok(out)
}

fn read_item(path: &str, body: &[u8], next_group: &mut i64) -> Result<ItemObjects, String> {
    let root = parse_tree(body, MAX_ELEMENTS)?;
    if root.name != "annotation" {
        return Err(format!(
            "this is not a LabelMe annotation: the root element is <{}>",
            root.name
        ));
    }
    let filename = root.text_or_empty("filename");
    let item = if filename.is_empty() {
        let base = path.rsplit('/').next().unwrap_or(path);
        base[..base.len() - 4].to_string()
    } else {
        item_name(filename).to_string()
    };
    // (object id, shape) of the kept objects; parts as id -> (children, has parents)
    let mut shapes: Vec<(i64, OutShape)> = Vec::new();
    let mut parts: HashMap<i64, Vec<i64>> = HashMap::new();
    let mut roots: Vec<i64> = Vec::new();
    for (n, obj) in root.children("object").enumerate() {
        let id_text = obj.text_or_empty("id");
        let id = if id_text.is_empty() {
            n as i64
        } else {
            id_text
                .parse::<i64>()
                .map_err(|_| format!("object {}: <id> is not an integer", n + 1))?
        };
        if let Some(p) = obj.child("parts") {
            let children = ids(p.text_or_empty("hasparts"))?;
            let parents = ids(p.text_or_empty("ispartof"))?;
            if !children.is_empty() && parents.is_empty() {
                roots.push(id);
            }
            parts.insert(id, children);
        }
        let deleted = obj.text_or_empty("deleted");
        if !deleted.is_empty() && deleted != "0" {
            continue;
        }
        let Some(poly) = obj.child("polygon") else {
            // a mask (<segm>) or nothing drawable
            continue;
        };
        let label = obj.text_or_empty("name");
        if label.is_empty() {
            return Err(format!("object {id} has no <name>"));
        }
        let mut points = Vec::new();
        for pt in poly.children("pt") {
            points.push(coordinate(pt, "x").map_err(|e| format!("object {id}: {e}"))?);
            points.push(coordinate(pt, "y").map_err(|e| format!("object {id}: {e}"))?);
        }
        if points.is_empty() {
            return Err(format!("object {id} has a polygon without points"));
        }
        let kind = if obj.text_or_empty("type") == "bounding_box" {
            let xs = points.iter().step_by(2);
            let ys = points.iter().skip(1).step_by(2);
            let (x0, x1) = xs.fold((f64::MAX, f64::MIN), |(a, b), v| (a.min(*v), b.max(*v)));
            let (y0, y1) = ys.fold((f64::MAX, f64::MIN), |(a, b), v| (a.min(*v), b.max(*v)));
            points = vec![x0, y0, x1, y1];
            ShapeType::Rectangle
        } else {
            ShapeType::Polygon
        };
        let attributes = match obj.child("attributes") {
            Some(a) => parse_attributes(&a.text),
            None => vec![],
        };
        shapes.push((
            id,
            OutShape {
                kind,
                label: label.to_string(),
                occluded: obj.text_or_empty("occluded") == "yes",
                z_order: 0,
                points,
                group: 0,
                attributes: attributes
                    .into_iter()
                    .filter(|(n, _)| n != "occluded")
                    .collect(),
                track_id: None,
            },
        ));
    }
    // one fresh group per root object, shared with its parts (recursively)
    let mut group_of: HashMap<i64, i64> = HashMap::new();
    for r in roots {
        if group_of.contains_key(&r) {
            continue;
        }
        *next_group += 1;
        let mut todo = vec![r];
        while let Some(id) = todo.pop() {
            if group_of.contains_key(&id) {
                continue;
            }
            group_of.insert(id, *next_group);
            todo.extend(parts.get(&id).into_iter().flatten().copied());
        }
    }
    let shapes = shapes
        .into_iter()
        .map(|(id, mut s)| {
            s.group = group_of.get(&id).copied().unwrap_or(0);
            s
        })
        .collect();
    Ok(ItemObjects {
        item: ItemRef::Name(item),
        objects: FrameObjects {
            shapes,
            tags: vec![],
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::OutTag;
    use crate::testing::{frames, meta, shape};

    fn frame_objects(k: usize) -> FrameObjects {
        if k != 0 {
            return FrameObjects::default();
        }
        let mut b = shape(ShapeType::Rectangle, "car", &[30.0, 40.0, 10.0, 20.5], 5);
        b.occluded = true;
        b.attributes = vec![
            ("color".into(), "red, dark=1".into()),
            ("n".into(), "5".into()),
            ("path".into(), "a\\b \"q\"".into()),
        ];
        let mut tracked = shape(
            ShapeType::Polygon,
            "person",
            &[1.0, 1.0, 5.0, 1.0, 5.0, 5.0],
            5,
        );
        tracked.track_id = Some(0);
        FrameObjects {
            shapes: vec![
                b,
                shape(ShapeType::Points, "car", &[1.0, 1.0], 0),
                tracked,
                shape(ShapeType::Polyline, "car", &[1.0, 1.0, 2.0, 2.0], 0),
                shape(
                    ShapeType::Polygon,
                    "car",
                    &[0.0, 0.0, 4.0, 0.0, 4.0, 4.0],
                    0,
                ),
                shape(
                    ShapeType::Polygon,
                    "person",
                    &[2.0, 2.0, 6.0, 2.0, 6.0, 6.0],
                    5,
                ),
            ],
            tags: vec![OutTag {
                label: "car".into(),
                group: 0,
                attributes: vec![],
            }],
        }
    }

    fn export(images: bool) -> Vec<u8> {
        let m = meta(&["car", "person"]);
        let frames = frames(&[("dir/a.png", 20, 10), ("b.jpg", 8, 6)]);
        let mut objects = frame_objects;
        let mut img = |k: usize| Ok(vec![0xff, 0xd8, k as u8]);
        let mut zip = ZipOut::new(std::io::Cursor::new(Vec::new()));
        write(
            &mut zip,
            Export {
                meta: &m,
                frames: &frames,
                objects: &mut objects,
                images: if images { Some(&mut img) } else { None },
            },
        )
        .unwrap();
        zip.finish().unwrap().into_inner()
    }

    #[test]
    fn layout() {
        let entries = read_entries(&export(true), |_| true).unwrap();
        let names: Vec<&str> = entries.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(
            names,
            [
                "default/dir/a.xml",
                "default/dir/a.jpg",
                "default/b.xml",
                "default/b.jpg"
            ]
        );
        let xml = String::from_utf8(entries[0].1.clone()).unwrap();
        assert!(xml.starts_with("<annotation>\n  <filename>dir/a.jpg</filename>\n"));
        assert!(xml.contains("<imagesize>\n    <nrows>10</nrows>\n    <ncols>20</ncols>"));
        assert_eq!(
            xml.matches("<object>").count(),
            4,
            "points/polylines skipped"
        );
        assert!(xml.contains(
            "<occluded>yes</occluded>\n    <date></date>\n    <id>0</id>\n    <parts>\n      <hasparts>1,3</hasparts>\n      <ispartof></ispartof>"
        ));
        assert!(xml.contains("<hasparts></hasparts>\n      <ispartof>0</ispartof>"));
        assert!(xml.contains(
            "<type>bounding_box</type>\n    <polygon>\n      <pt>\n        <x>10.00</x>\n        <y>20.50</y>\n      </pt>"
        ));
        assert!(xml.contains(
            r#"<attributes>color=red\, dark\=1, n=5, path=a\\b \&quot;q\&quot;</attributes>"#
        ));
        let b = String::from_utf8(entries[2].1.clone()).unwrap();
        assert!(b.contains("<filename>b.jpg</filename>"));
        assert!(!b.contains("<object>"));
        assert_eq!(entries[3].1, vec![0xff, 0xd8, 1]);
        // without images the filename is the frame's name
        let entries = read_entries(&export(false), |_| true).unwrap();
        assert_eq!(entries.len(), 2);
        assert!(String::from_utf8_lossy(&entries[0].1).contains("<filename>dir/a.png</filename>"));
    }

    #[test]
    fn round_trip() {
        let got = read(&export(false)).unwrap();
        assert_eq!(got.items.len(), 2);
        assert_eq!(got.items[0].item, ItemRef::Name("dir/a".into()));
        assert_eq!(got.items[1].item, ItemRef::Name("b".into()));
        assert!(got.items[1].objects.shapes.is_empty());
        let mut want: Vec<OutShape> = frame_objects(0)
            .shapes
            .into_iter()
            .filter(|s| matches!(s.kind, ShapeType::Rectangle | ShapeType::Polygon))
            .map(|mut s| {
                s.track_id = None;
                s.group = if s.group == 5 { 1 } else { 0 };
                s
            })
            .collect();
        want[0].points = vec![10.0, 20.5, 30.0, 40.0];
        assert_eq!(got.items[0].objects.shapes, want);
        assert!(got.tracks.is_empty());
    }

    fn zip_of(files: &[(&str, &str)]) -> Vec<u8> {
        let mut zip = ZipOut::new(std::io::Cursor::new(Vec::new()));
        for (p, body) in files {
            zip.file(p).unwrap().write_all(body.as_bytes()).unwrap();
        }
        zip.finish().unwrap().into_inner()
    }

    #[test]
    fn reads_labelme_variants() {
        let xml = r#"<?xml version="1.0"?><annotation><filename></filename>
          <object><name>car</name><deleted>1</deleted><id>0</id>
            <polygon><pt><x>1</x><y>1</y></pt></polygon></object>
          <object><name>car &amp; co</name><id>1</id><occluded>no</occluded>
            <parts><hasparts></hasparts><ispartof>2</ispartof></parts>
            <polygon><pt><x>1</x><y>2</y></pt><pt><x>3</x><y>4</y></pt></polygon>
            <attributes>visible, n="5", a\=b=c\,d</attributes></object>
          <object><name>m</name><id>2</id><parts><hasparts>1</hasparts></parts>
            <segm><mask>m.png</mask></segm></object>
        </annotation>"#;
        let got = read(&zip_of(&[("x/Annotations/img7.xml", xml)])).unwrap();
        assert_eq!(got.items[0].item, ItemRef::Name("img7".into()));
        let shapes = &got.items[0].objects.shapes;
        assert_eq!(shapes.len(), 1);
        assert_eq!(shapes[0].label, "car & co");
        assert_eq!(shapes[0].kind, ShapeType::Polygon);
        assert_eq!(shapes[0].group, 1);
        assert_eq!(
            shapes[0].attributes,
            vec![
                ("visible".to_string(), "true".to_string()),
                ("n".into(), "5".into()),
                ("a=b".into(), "c,d".into())
            ]
        );
    }

    #[test]
    fn bad_input() {
        let bad = |xml: &str| read(&zip_of(&[("default/a.xml", xml)])).unwrap_err();
        let obj = |inner: &str| {
            format!("<annotation><object><name>c</name><id>0</id>{inner}</object></annotation>")
        };
        assert!(bad("<annotation><object>").contains("default/a.xml"));
        assert!(bad("<annotations/>").contains("not a LabelMe"));
        assert!(bad(&obj("<polygon><pt><x>NaN</x><y>1</y></pt></polygon>")).contains("coordinate"));
        assert!(
            bad(&obj("<polygon><pt><x>1e12</x><y>1</y></pt></polygon>")).contains("coordinate")
        );
        assert!(bad(&obj("<polygon></polygon>")).contains("without points"));
        assert!(bad(&obj("<parts><hasparts>x</hasparts></parts>")).contains("parts"));
        assert!(bad("<annotation><name>&x;</name></annotation>").contains("entity"));
        let deep = "<a>".repeat(100);
        assert!(bad(&deep).contains("nested"));
        assert!(read(b"<annotation/>").unwrap_err().contains("zip"));
        assert!(
            read(&zip_of(&[("a.txt", "")]))
                .unwrap_err()
                .contains(".xml")
        );
    }

    #[test]
    fn frames_sharing_an_item_get_unique_files() {
        let m = meta(&["car"]);
        let frames = frames(&[
            ("a.png", 4, 4),
            ("a.jpg", 4, 4),
            ("a.jpg.png", 4, 4),
            ("b", 4, 4),
        ]);
        let mut objects = |_k: usize| FrameObjects::default();
        let mut calls = Vec::new();
        let mut image = |k: usize| {
            calls.push(k);
            Ok(vec![0xff, 0xd8, k as u8])
        };
        let mut zip = ZipOut::new(io::Cursor::new(Vec::new()));
        write(
            &mut zip,
            Export {
                meta: &m,
                frames: &frames,
                objects: &mut objects,
                images: Some(&mut image),
            },
        )
        .unwrap();
        let bytes = zip.finish().unwrap().into_inner();
        let mut names: Vec<String> = read_entries(&bytes, |_| true)
            .unwrap()
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        names.sort_unstable();
        assert_eq!(
            names,
            [
                "default/a.jpg",
                "default/a.jpg.jpg",
                "default/a.jpg.png.xml",
                "default/a.jpg.xml",
                "default/a.xml",
                "default/b.jpg",
                "default/b.xml"
            ]
        );
        assert_eq!(calls, [0, 2, 3]);
        assert_eq!(read(&bytes).unwrap().items.len(), 4);
    }
}
