//! "PASCAL VOC 1.1" (api-v1 §10.9), as CVAT 1.1 wrote it with Datumaro's `voc` converter
//! (`label_map='source'`), and its importer.
//!
//! Export layout (items are frame names without extension, folders kept; of frames whose
//! names differ only by extension, the first one is written):
//! * `Annotations/<item>.xml` for every frame: `folder` (the item name up to its first
//!   `_`, as Datumaro does), `filename` (`<item>.jpg`), `source`, `size` (`width`,
//!   `height`, empty `depth`), `segmented`, and one `object` per rectangle: `name`,
//!   `pose` (if the shape has an attribute `pose`), `truncated`, `occluded` (the shape's
//!   flag), `difficult` (`0`/`1` from attributes of those names), `bndbox` (`xmin`, `ymin`,
//!   `xmax`, `ymax` as Python prints floats: `10.0`, `10.5`), and the other attributes as
//!   `<attributes><attribute><name/><value/></attribute></attributes>`. Values are written
//!   as stored (CVAT 1.1 wrote checkboxes as `True`/`False`);
//! * `ImageSets/Main/default.txt`, `ImageSets/Action/default.txt`,
//!   `ImageSets/Layout/default.txt`: every item (as the Datumaro of CVAT 1.1 wrote them);
//! * `ImageSets/Main/<label>_default.txt` for every label of `labelmap.txt`, when some
//!   frame has tags: one line per frame with tags, `<item>  1` when it has a tag of that
//!   label, else `<item> -1` (Datumaro's classification lists); `/` and `\` in the
//!   label's name are written as `_` (of labels whose names then coincide, the first
//!   one's list is written);
//! * `ImageSets/Segmentation/default.txt`: the items with masks and those without any
//!   object (as Datumaro lists them);
//! * `SegmentationClass/<item>.png`, `SegmentationObject/<item>.png`: the frame's
//!   **polygons** rasterised as "Segmentation mask 1.1" does ([`crate::mask`]). A
//!   decision: CVAT 1.1 dropped polygons from this format (Datumaro's converter only
//!   paints mask annotations, which CVAT 1.1 did not have); rectangles are already in the
//!   XML, so only polygons are painted;
//! * `labelmap.txt`: `background` first (the task's own label of that name if there is
//!   one), then the task's labels in label order, coloured by index in the VOC colormap
//!   (`name:r,g,b::`), as Datumaro assigns colours to a colourless label map;
//! * `JPEGImages/<item>.jpg` for dataset exports.
//!
//! Import ([`read`]): a zip with `Annotations/**/*.xml` (or, as CVAT accepted, `*.xml`
//! files anywhere when there is no `Annotations` folder; items are then their base names):
//! every `object` becomes a rectangle (`occluded` from its flag; `truncated` and
//! `difficult` as attributes `true`/`false`, `pose` and the `<attributes>` entries kept
//! by name); `part`s become rectangles grouped with their object.
//! `ImageSets/Main/<label>_<subset>.txt` lists give tags (lines ending in `1`), for the
//! labels of `labelmap.txt` (else the VOC classes). Masks in `SegmentationObject` /
//! `SegmentationClass` become polygons as the "Segmentation mask 1.1" importer reads them
//! (as CVAT's VOC importer converted masks to polygons). Items are returned in name order.
//! An annotation XML may have at most 2 000 000 elements, and an import at most
//! [`crate::MAX_SHAPES`] objects (and [`crate::MAX_POINTS`] coordinates).

use std::collections::{BTreeMap, HashSet};
use std::io::{self, Seek, Write};

use ferrocat_wire::annotations::ShapeType;

use crate::archive::ZipOut;
use crate::mask::{self, LabelMap};
use crate::xml::{MAX_ELEMENTS, Node, parse_tree};
use crate::{
    Budget, Dataset, Export, FrameObjects, ItemObjects, ItemRef, OutShape, OutTag, xml_escape,
};

/// A float as Python's `str(float)` prints it for the values boxes have (`1.0`, `2.5`).
fn py_float(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e16 {
        format!("{v:.1}")
    } else {
        format!("{v}")
    }
}

/// Datumaro's reading of a `truncated`/`difficult` attribute value: `int(value)`.
fn flag_value(v: &str) -> i64 {
    match v.trim() {
        "true" | "True" => 1,
        "false" | "False" | "" => 0,
        t => t
            .parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .map_or(0, |f| f.trunc() as i64),
    }
}

/// The annotation XML of one item, as lxml pretty-prints it.
fn item_xml(item: &str, w: i64, h: i64, segmented: bool, boxes: &[&OutShape]) -> String {
    let folder = item.find('_').map_or("", |i| &item[..i]);
    let mut s = String::from("<annotation>\n");
    s.push_str(&format!("  <folder>{}</folder>\n", xml_escape(folder)));
    s.push_str(&format!(
        "  <filename>{}.jpg</filename>\n",
        xml_escape(item)
    ));
    s.push_str("  <source>\n    <database>Unknown</database>\n    <annotation>Unknown</annotation>\n    <image>Unknown</image>\n  </source>\n");
    s.push_str(&format!(
        "  <size>\n    <width>{w}</width>\n    <height>{h}</height>\n    <depth></depth>\n  </size>\n"
    ));
    s.push_str(&format!(
        "  <segmented>{}</segmented>\n",
        u8::from(segmented)
    ));
    for b in boxes {
        let attr = |n: &str| {
            b.attributes
                .iter()
                .find(|(k, _)| k == n)
                .map(|(_, v)| v.as_str())
        };
        s.push_str("  <object>\n");
        s.push_str(&format!("    <name>{}</name>\n", xml_escape(&b.label)));
        if let Some(pose) = attr("pose") {
            s.push_str(&format!("    <pose>{}</pose>\n", xml_escape(pose)));
        }
        s.push_str(&format!(
            "    <truncated>{}</truncated>\n",
            attr("truncated").map_or(0, flag_value)
        ));
        s.push_str(&format!(
            "    <occluded>{}</occluded>\n",
            u8::from(b.occluded)
        ));
        s.push_str(&format!(
            "    <difficult>{}</difficult>\n",
            attr("difficult").map_or(0, flag_value)
        ));
        let p = &b.points;
        let (x1, y1) = (p[0].min(p[2]), p[1].min(p[3]));
        let (x2, y2) = (p[0].max(p[2]), p[1].max(p[3]));
        // Datumaro's Bbox(x, y, w, h): xmax = x + w, with its float arithmetic
        s.push_str(&format!(
            "    <bndbox>\n      <xmin>{}</xmin>\n      <ymin>{}</ymin>\n      <xmax>{}</xmax>\n      <ymax>{}</ymax>\n    </bndbox>\n",
            py_float(x1),
            py_float(y1),
            py_float(x1 + (x2 - x1)),
            py_float(y1 + (y2 - y1))
        ));
        let others: Vec<&(String, String)> = b
            .attributes
            .iter()
            .filter(|(k, _)| !matches!(k.as_str(), "pose" | "truncated" | "difficult" | "occluded"))
            .collect();
        if !others.is_empty() {
            s.push_str("    <attributes>\n");
            for (k, v) in others {
                s.push_str(&format!(
                    "      <attribute>\n        <name>{}</name>\n        <value>{}</value>\n      </attribute>\n",
                    xml_escape(k),
                    xml_escape(v)
                ));
            }
            s.push_str("    </attributes>\n");
        }
        s.push_str("  </object>\n");
    }
    s.push_str("</annotation>\n");
    s
}

/// A label name as the file name of its classification list: path separators (`/`,
/// `\`) as `_`, so that the list stays one file in `ImageSets/Main`.
fn list_name(label: &str) -> String {
    label.replace(['/', '\\'], "_")
}

/// Writes a "PASCAL VOC 1.1" export (see the module doc).
pub fn write<W: Write + Seek>(zip: &mut ZipOut<W>, e: Export<'_>) -> io::Result<()> {
    let map = LabelMap::for_voc(&e.meta.labels);
    let mut images = e.images;
    let mut items: Vec<String> = Vec::new();
    let mut segm = String::new();
    // per item with tags: the label-map indices of its tags
    let mut class_lists: Vec<(String, HashSet<usize>)> = Vec::new();
    let mut seen = HashSet::new();
    for (k, f) in e.frames.iter().enumerate() {
        let objects = (e.objects)(k);
        let item = crate::yolo::item_name(&f.name);
        if !seen.insert(item.to_string()) {
            continue;
        }
        let masks = mask::compile(
            &objects.shapes,
            |t| t == ShapeType::Polygon,
            &map,
            f.width,
            f.height,
        );
        let boxes: Vec<&OutShape> = objects
            .shapes
            .iter()
            .filter(|s| {
                s.kind == ShapeType::Rectangle
                    && s.points.len() == 4
                    && s.points.iter().all(|v| v.is_finite())
                    && map.entries.iter().any(|(n, _)| *n == s.label)
            })
            .collect();
        let xml = item_xml(item, f.width, f.height, masks.is_some(), &boxes);
        zip.file(&format!("Annotations/{item}.xml"))?
            .write_all(xml.as_bytes())?;
        if let Some(m) = &masks {
            mask::write_pngs(zip, item, m, &map)?;
        }
        if masks.is_some() || (objects.shapes.is_empty() && objects.tags.is_empty()) {
            segm.push_str(item);
            segm.push('\n');
        }
        let tags: HashSet<usize> = objects
            .tags
            .iter()
            .filter_map(|t| map.entries.iter().position(|(n, _)| *n == t.label))
            .collect();
        if !tags.is_empty() {
            class_lists.push((item.to_string(), tags));
        }
        if let Some(img) = images.as_mut() {
            let bytes = img(k)?;
            zip.stored(&format!("JPEGImages/{item}.jpg"), &bytes)?;
        }
        items.push(item.to_string());
    }
    let all: String = items.iter().map(|i| format!("{i}\n")).collect();
    zip.file("ImageSets/Main/default.txt")?
        .write_all(all.as_bytes())?;
    if !class_lists.is_empty() {
        let mut written = HashSet::new();
        for (i, (label, _)) in map.entries.iter().enumerate() {
            let file = format!("ImageSets/Main/{}_default.txt", list_name(label));
            if !written.insert(file.clone()) {
                // another label's name gives the same file name
                continue;
            }
            let mut s = String::new();
            for (item, tags) in &class_lists {
                let present = if tags.contains(&i) { " 1" } else { "-1" };
                s.push_str(&format!("{item} {present}\n"));
            }
            zip.file(&file)?.write_all(s.as_bytes())?;
        }
    }
    zip.file("ImageSets/Action/default.txt")?
        .write_all(all.as_bytes())?;
    let layout: String = items
        .iter()
        .map(|i| {
            if i.split_whitespace().count() > 1 {
                format!("\"{i}\"\n")
            } else {
                format!("{i}\n")
            }
        })
        .collect();
    zip.file("ImageSets/Layout/default.txt")?
        .write_all(layout.as_bytes())?;
    zip.file("ImageSets/Segmentation/default.txt")?
        .write_all(segm.as_bytes())?;
    zip.file("labelmap.txt")?
        .write_all(map.to_text().as_bytes())?;
    Ok(())
}

fn coord(n: &Node, name: &str) -> Result<f64, String> {
    let t = n
        .text_of(name)
        .ok_or_else(|| format!("<bndbox> has no <{name}>"))?;
    t.parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && v.abs() < 1e9)
        .ok_or_else(|| format!("<{name}> is not a usable number: \"{t}\""))
}

fn bndbox(n: &Node) -> Result<Vec<f64>, String> {
    let b = n.child("bndbox").ok_or("an <object> has no <bndbox>")?;
    Ok(vec![
        coord(b, "xmin")?,
        coord(b, "ymin")?,
        coord(b, "xmax")?,
        coord(b, "ymax")?,
    ])
}

fn bool_field(n: &Node, name: &str) -> Result<bool, String> {
    match n.text_of(name) {
        None => Ok(false),
        Some("0" | "false" | "False") => Ok(false),
        Some("1" | "true" | "True") => Ok(true),
        Some(v) => Err(format!("<{name}> must be 0 or 1, not \"{v}\"")),
    }
}

/// The rectangles of one annotation XML, taken from `budget`; part boxes get groups from
/// `next_group`.
fn parse_annotation(
    bytes: &[u8],
    next_group: &mut i64,
    budget: &mut Budget,
) -> Result<Vec<OutShape>, String> {
    let root = parse_tree(bytes, MAX_ELEMENTS)?;
    if root.name != "annotation" {
        return Err(format!(
            "expected an <annotation> element, found <{}>",
            root.name
        ));
    }
    let rect = |label: &str, points: Vec<f64>, group: i64| OutShape {
        kind: ShapeType::Rectangle,
        label: label.to_string(),
        occluded: false,
        z_order: 0,
        points,
        group,
        attributes: vec![],
        track_id: None,
    };
    let mut out = Vec::new();
    for obj in root.children("object") {
        let name = obj
            .text_of("name")
            .filter(|n| !n.is_empty())
            .ok_or("an <object> has no <name>")?;
        budget.take(4)?;
        let mut s = rect(name, bndbox(obj)?, 0);
        s.occluded = bool_field(obj, "occluded")?;
        for key in ["difficult", "truncated"] {
            let v = bool_field(obj, key)?;
            s.attributes.push((key.to_string(), v.to_string()));
        }
        if let Some(pose) = obj.child("pose") {
            s.attributes
                .push(("pose".into(), pose.text.trim().to_string()));
        }
        if let Some(attrs) = obj.child("attributes") {
            for a in attrs.children("attribute") {
                let n = a.text_of("name").ok_or("an <attribute> has no <name>")?;
                let v = a.child("value").map_or("", |v| v.text.as_str());
                s.attributes.push((n.to_string(), v.to_string()));
            }
        }
        let parts: Vec<&Node> = obj.children("part").collect();
        if !parts.is_empty() {
            *next_group += 1;
            s.group = *next_group;
        }
        let group = s.group;
        out.push(s);
        for p in parts {
            let pname = p
                .text_of("name")
                .filter(|n| !n.is_empty())
                .ok_or("a <part> has no <name>")?;
            budget.take(4)?;
            out.push(rect(pname, bndbox(p)?, group));
        }
    }
    Ok(out)
}

/// The tags of the classification lists `ImageSets/Main/<label>_<subset>.txt`.
fn class_list_tags(
    path: &str,
    text: &str,
    label: &str,
    items: &mut BTreeMap<String, FrameObjects>,
) -> Result<(), String> {
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((item, present)) = line.rsplit_once(char::is_whitespace) else {
            return Err(format!(
                "{path}, line {}: expected \"<item> <1|0|-1>\", got \"{line}\"",
                n + 1
            ));
        };
        match present {
            "1" => items
                .entry(item.trim().to_string())
                .or_default()
                .tags
                .push(OutTag {
                    label: label.to_string(),
                    group: 0,
                    attributes: vec![],
                }),
            "0" | "-1" => {}
            _ => {
                return Err(format!(
                    "{path}, line {}: expected 1, 0 or -1 after the item name, got \"{present}\"",
                    n + 1
                ));
            }
        }
    }
    Ok(())
}

/// Reads a "PASCAL VOC 1.1" zip (see the module doc).
pub fn read(bytes: &[u8]) -> Result<Dataset, String> {
    read_with(bytes, &mut Budget::default())
}

/// [`read`] within `budget`.
fn read_with(bytes: &[u8], budget: &mut Budget) -> Result<Dataset, String> {
    if !crate::archive::is_zip(bytes) {
        return Err("PASCAL VOC files must be zip archives".into());
    }
    let entries = crate::archive::read_entries(bytes, |p| {
        mask::wanted(p)
            || p.to_ascii_lowercase().ends_with(".xml")
            || (p.ends_with(".txt") && mask::under(p, "ImageSets/Main").is_some())
    })?;
    let has_annotations_dir = entries.iter().any(|(p, _)| {
        p.to_ascii_lowercase().ends_with(".xml") && mask::under(p, "Annotations").is_some()
    });
    let mut xmls: Vec<(String, String, Vec<u8>)> = Vec::new();
    let mut lists: Vec<(String, String, Vec<u8>)> = Vec::new();
    let mut mask_entries = Vec::new();
    for (path, data) in entries {
        if path.to_ascii_lowercase().ends_with(".xml") {
            let item = if has_annotations_dir {
                match mask::under(&path, "Annotations") {
                    Some(rest) => rest[..rest.len() - 4].to_string(),
                    None => continue,
                }
            } else {
                let base = path.rsplit('/').next().unwrap_or(&path);
                base[..base.len() - 4].to_string()
            };
            xmls.push((path, item, data));
        } else if let Some(rest) =
            mask::under(&path, "ImageSets/Main").filter(|_| path.ends_with(".txt"))
        {
            if !rest.contains('/') {
                let file = rest[..rest.len() - 4].to_string();
                lists.push((path, file, data));
            }
        } else {
            mask_entries.push((path, data));
        }
    }
    let files = mask::mask_files(mask_entries)?;
    let mut items: BTreeMap<String, FrameObjects> = BTreeMap::new();
    let mut groups: BTreeMap<String, i64> = BTreeMap::new();
    for m in mask::read_items(&files, budget)? {
        let ItemRef::Name(name) = m.item else {
            continue;
        };
        let top = m.objects.shapes.iter().map(|s| s.group).max().unwrap_or(0);
        groups.insert(name.clone(), top);
        items.entry(name).or_default().shapes = m.objects.shapes;
    }
    for (path, item, data) in &xmls {
        let next = groups.entry(item.clone()).or_insert(0);
        let boxes = parse_annotation(data, next, budget).map_err(|e| format!("{path}: {e}"))?;
        let slot = items.entry(item.clone()).or_default();
        let masks = std::mem::take(&mut slot.shapes);
        slot.shapes = boxes;
        slot.shapes.extend(masks);
    }
    let labels: HashSet<&str> = files.map.entries.iter().map(|(n, _)| n.as_str()).collect();
    for (path, file, data) in &lists {
        // `<label>_<subset>`, the subset without `_`
        let label = file.rsplit_once('_').map(|(l, _)| l);
        if let Some(label) = label.filter(|l| labels.contains(l)) {
            class_list_tags(path, &String::from_utf8_lossy(data), label, &mut items)?;
        }
    }
    if xmls.is_empty() && files.items.is_empty() {
        return Err("The archive has no Annotations/*.xml file and no segmentation mask".into());
    }
    Ok(Dataset {
        items: items
            .into_iter()
            .map(|(name, objects)| ItemObjects {
                item: ItemRef::Name(name),
                objects,
            })
            .collect(),
        tracks: vec![],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FrameMeta;
    use crate::mask::tests::export;
    use crate::testing::shape;
    use crate::testing::{self, meta};

    fn frames() -> Vec<FrameMeta> {
        testing::frames(&[
            ("dir/img_1.png", 20, 10),
            ("b c.jpg", 20, 10),
            ("dir/img_1.jpg", 20, 10),
        ])
    }

    fn objects() -> Vec<FrameObjects> {
        let mut b = shape(ShapeType::Rectangle, "car", &[4.0, 2.0, 1.0, 6.5], 0);
        b.occluded = true;
        b.attributes = vec![
            ("pose".into(), "Left".into()),
            ("difficult".into(), "true".into()),
            ("color".into(), "r<d".into()),
        ];
        vec![
            FrameObjects {
                shapes: vec![
                    b,
                    shape(ShapeType::Rectangle, "person", &[1.5, 2.25, 4.5, 6.25], 0),
                    shape(
                        ShapeType::Polygon,
                        "person",
                        &[10.0, 1.0, 18.0, 1.0, 18.0, 9.0],
                        0,
                    ),
                    shape(ShapeType::Points, "car", &[1.0, 1.0], 0),
                ],
                tags: vec![],
            },
            FrameObjects {
                shapes: vec![],
                tags: vec![OutTag {
                    label: "person".into(),
                    group: 0,
                    attributes: vec![],
                }],
            },
            FrameObjects {
                shapes: vec![shape(ShapeType::Rectangle, "car", &[0.0, 0.0, 1.0, 1.0], 0)],
                tags: vec![],
            },
        ]
    }

    #[test]
    fn layout() {
        let meta = meta(&["car", "person"]);
        let zip = export(write, &meta, &frames(), &objects());
        let files: BTreeMap<String, Vec<u8>> = crate::archive::read_entries(&zip, |_| true)
            .unwrap()
            .into_iter()
            .collect();
        let text = |p: &str| String::from_utf8_lossy(&files[p]).into_owned();
        let names: Vec<&str> = files.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            [
                "Annotations/b c.xml",
                "Annotations/dir/img_1.xml",
                "ImageSets/Action/default.txt",
                "ImageSets/Layout/default.txt",
                "ImageSets/Main/background_default.txt",
                "ImageSets/Main/car_default.txt",
                "ImageSets/Main/default.txt",
                "ImageSets/Main/person_default.txt",
                "ImageSets/Segmentation/default.txt",
                "SegmentationClass/dir/img_1.png",
                "SegmentationObject/dir/img_1.png",
                "labelmap.txt",
            ]
        );
        assert_eq!(
            text("Annotations/dir/img_1.xml"),
            "<annotation>
  <folder>dir/img</folder>
  <filename>dir/img_1.jpg</filename>
  <source>
    <database>Unknown</database>
    <annotation>Unknown</annotation>
    <image>Unknown</image>
  </source>
  <size>
    <width>20</width>
    <height>10</height>
    <depth></depth>
  </size>
  <segmented>1</segmented>
  <object>
    <name>car</name>
    <pose>Left</pose>
    <truncated>0</truncated>
    <occluded>1</occluded>
    <difficult>1</difficult>
    <bndbox>
      <xmin>1.0</xmin>
      <ymin>2.0</ymin>
      <xmax>4.0</xmax>
      <ymax>6.5</ymax>
    </bndbox>
    <attributes>
      <attribute>
        <name>color</name>
        <value>r&lt;d</value>
      </attribute>
    </attributes>
  </object>
  <object>
    <name>person</name>
    <truncated>0</truncated>
    <occluded>0</occluded>
    <difficult>0</difficult>
    <bndbox>
      <xmin>1.5</xmin>
      <ymin>2.25</ymin>
      <xmax>4.5</xmax>
      <ymax>6.25</ymax>
    </bndbox>
  </object>
</annotation>
"
        );
        assert_eq!(text("ImageSets/Main/default.txt"), "dir/img_1\nb c\n");
        assert_eq!(text("ImageSets/Layout/default.txt"), "dir/img_1\n\"b c\"\n");
        assert_eq!(text("ImageSets/Main/person_default.txt"), "b c  1\n");
        assert_eq!(text("ImageSets/Main/car_default.txt"), "b c -1\n");
        assert_eq!(text("ImageSets/Segmentation/default.txt"), "dir/img_1\n");
        assert_eq!(
            text("labelmap.txt"),
            "# label:color_rgb:parts:actions\nbackground:0,0,0::\ncar:128,0,0::\nperson:0,128,0::\n"
        );
    }

    #[test]
    fn round_trip() {
        let meta = meta(&["car", "person"]);
        let zip = export(write, &meta, &frames(), &objects());
        let got = read(&zip).unwrap();
        assert_eq!(got.items.len(), 2);
        assert_eq!(got.items[0].item, ItemRef::Name("b c".into()));
        assert_eq!(got.items[0].objects.tags.len(), 1);
        assert_eq!(got.items[0].objects.tags[0].label, "person");
        let shapes = &got.items[1].objects.shapes;
        assert_eq!(got.items[1].item, ItemRef::Name("dir/img_1".into()));
        assert_eq!(shapes.len(), 3);
        assert_eq!(shapes[0].kind, ShapeType::Rectangle);
        assert_eq!(shapes[0].points, [1.0, 2.0, 4.0, 6.5]);
        assert!(shapes[0].occluded);
        let attrs: Vec<(&str, &str)> = shapes[0]
            .attributes
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            attrs,
            [
                ("difficult", "true"),
                ("truncated", "false"),
                ("pose", "Left"),
                ("color", "r<d")
            ]
        );
        assert_eq!(shapes[1].points, [1.5, 2.25, 4.5, 6.25]);
        assert_eq!(shapes[2].kind, ShapeType::Polygon);
        assert_eq!(shapes[2].label, "person");
        // the mask's outline covers the pixels the polygon covered
        let raster = |p: &[f64]| crate::raster::from_polygon(p, 10, 20);
        assert_eq!(
            raster(&shapes[2].points),
            raster(&[10.0, 1.0, 18.0, 1.0, 18.0, 9.0])
        );
    }

    #[test]
    fn dataset_exports_add_images() {
        let meta = meta(&["car"]);
        let frames = frames();
        let objects = objects();
        for write_fn in [write as crate::mask::tests::WriteFn, crate::mask::write] {
            let mut zip = ZipOut::new(io::Cursor::new(Vec::new()));
            let mut obj = |k: usize| objects[k].clone();
            let mut asked = Vec::new();
            let mut img = |k: usize| {
                asked.push(k);
                Ok(format!("jpeg{k}").into_bytes())
            };
            write_fn(
                &mut zip,
                Export {
                    meta: &meta,
                    frames: &frames,
                    objects: &mut obj,
                    images: Some(&mut img),
                },
            )
            .unwrap();
            let bytes = zip.finish().unwrap().into_inner();
            let files: BTreeMap<String, Vec<u8>> =
                crate::archive::read_entries(&bytes, |p| p.starts_with("JPEGImages/"))
                    .unwrap()
                    .into_iter()
                    .collect();
            assert_eq!(asked, [0, 1]);
            assert_eq!(files["JPEGImages/dir/img_1.jpg"], b"jpeg0");
            assert_eq!(files["JPEGImages/b c.jpg"], b"jpeg1");
            assert_eq!(files.len(), 2);
        }
    }

    fn zip_of(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut z = ZipOut::new(io::Cursor::new(Vec::new()));
        for (p, b) in files {
            z.file(p).unwrap().write_all(b).unwrap();
        }
        z.finish().unwrap().into_inner()
    }

    #[test]
    fn flat_layout_parts_and_bad_input() {
        let xml = b"<annotation><object><name>person</name><bndbox><xmin>1</xmin><ymin>2</ymin><xmax>3</xmax><ymax>4</ymax></bndbox>
            <part><name>head</name><bndbox><xmin>1</xmin><ymin>2</ymin><xmax>2</xmax><ymax>3</ymax></bndbox></part></object></annotation>";
        let got = read(&zip_of(&[("x/y/photo.xml", xml)])).unwrap();
        assert_eq!(got.items[0].item, ItemRef::Name("photo".into()));
        let s = &got.items[0].objects.shapes;
        assert_eq!((s[0].label.as_str(), s[0].group), ("person", 1));
        assert_eq!((s[1].label.as_str(), s[1].group), ("head", 1));

        let bad = |xml: &[u8]| read(&zip_of(&[("Annotations/a.xml", xml)])).unwrap_err();
        let e = bad(b"<annotation><object><name>a</name>");
        assert!(e.starts_with("Annotations/a.xml: malformed XML"), "{e}");
        let e = bad(b"<annotation><object><name>a</name><bndbox><xmin>1e400</xmin><ymin>0</ymin><xmax>1</xmax><ymax>1</ymax></bndbox></object></annotation>");
        assert!(
            e.contains("xmin") && e.contains("not a usable number"),
            "{e}"
        );
        let e = bad(b"<annotation><object><name>a</name></object></annotation>");
        assert!(e.contains("bndbox"), "{e}");
        let e = bad(b"<annotation><object><name>a</name><occluded>2</occluded><bndbox><xmin>1</xmin><ymin>0</ymin><xmax>1</xmax><ymax>1</ymax></bndbox></object></annotation>");
        assert!(e.contains("occluded"), "{e}");
        let e = bad(br#"<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x "xx">]><annotation><folder>&x;</folder></annotation>"#);
        assert!(e.contains("entity"), "{e}");
        let e = bad(b"<annotations></annotations>");
        assert!(e.contains("<annotation>"), "{e}");
        let e = read(&zip_of(&[
            ("Annotations/a.xml", b"<annotation></annotation>"),
            ("ImageSets/Main/car_train.txt", b"a 2\n"),
            ("labelmap.txt", b"car:::\n"),
        ]))
        .unwrap_err();
        assert!(e.contains("ImageSets/Main/car_train.txt, line 1"), "{e}");
        assert!(read(b"PK\x03\x04junk").is_err());
        assert!(
            read(&zip_of(&[("readme.txt", b"hi")]))
                .unwrap_err()
                .contains("Annotations")
        );
    }

    #[test]
    fn boxes_count_against_the_budget() {
        let one = b"<annotation><object><name>a</name><bndbox><xmin>1</xmin><ymin>0</ymin><xmax>2</xmax><ymax>1</ymax></bndbox></object></annotation>";
        let zip = zip_of(&[("Annotations/a.xml", one), ("Annotations/b.xml", one)]);
        assert!(read_with(&zip, &mut Budget::new(2, 100)).is_ok());
        let e = read_with(&zip, &mut Budget::new(1, 100)).unwrap_err();
        assert!(e.contains("more than 1 objects"), "{e}");
    }

    #[test]
    fn label_names_make_no_paths() {
        let meta = meta(&["a/b", "..", "c\\d", "a\\b", "x:y\nz"]);
        let frames = &frames()[..1];
        let tagged = vec![FrameObjects {
            shapes: vec![],
            tags: vec![OutTag {
                label: "a/b".into(),
                group: 0,
                attributes: vec![],
            }],
        }];
        let zip = export(write, &meta, frames, &tagged);
        let files: BTreeMap<String, Vec<u8>> = crate::archive::read_entries(&zip, |_| true)
            .unwrap()
            .into_iter()
            .collect();
        // all entries, dotfiles too
        let archive = zip::ZipArchive::new(std::io::Cursor::new(&zip)).unwrap();
        let mut names: Vec<String> = archive
            .file_names()
            .map(|n| n.unwrap().into_owned())
            .collect();
        names.sort_unstable();
        assert!(names.iter().all(|k| !k.split('/').any(|p| p == "..")));
        let lists: Vec<&str> = names
            .iter()
            .filter_map(|k| k.strip_prefix("ImageSets/Main/"))
            .collect();
        assert_eq!(
            lists,
            [
                ".._default.txt",
                "a_b_default.txt",
                "background_default.txt",
                "c_d_default.txt",
                "default.txt",
                "x:y\nz_default.txt"
            ]
        );
        assert_eq!(files["ImageSets/Main/a_b_default.txt"], b"dir/img_1  1\n");
        let labelmap = String::from_utf8_lossy(&files["labelmap.txt"]).into_owned();
        assert!(labelmap.ends_with("\nx_y z:128,0,128::\n"), "{labelmap}");
    }

    #[test]
    fn annotations_folder_found_whatever_the_case_of_xml() {
        let one = b"<annotation><object><name>a</name><bndbox><xmin>1</xmin><ymin>0</ymin><xmax>2</xmax><ymax>1</ymax></bndbox></object></annotation>";
        let got = read(&zip_of(&[
            ("Annotations/sub/x.XML", one),
            ("other/y.xml", one),
        ]))
        .unwrap();
        let items: Vec<&ItemRef> = got.items.iter().map(|i| &i.item).collect();
        assert_eq!(items, [&ItemRef::Name("sub/x".into())]);
    }

    #[test]
    fn class_lists_by_label_lookup() {
        let xml = b"<annotation></annotation>";
        let mut labelmap = String::from("background:0,0,0::\na_b:1,1,1::\na:2,2,2::\n");
        for i in 0..50_000 {
            labelmap.push_str(&format!("l{i}:::\n"));
        }
        let lists: Vec<(String, Vec<u8>)> = (0..2_000)
            .map(|i| (format!("ImageSets/Main/l{i}_train.txt"), b"x 1\n".to_vec()))
            .collect();
        let mut files: Vec<(&str, &[u8])> = vec![
            ("Annotations/x.xml", xml),
            ("labelmap.txt", labelmap.as_bytes()),
            ("ImageSets/Main/a_b_train.txt", b"x 1\n"),
            ("ImageSets/Main/a_b_c_train.txt", b"x 1\n"),
            ("ImageSets/Main/a_train.txt", b"x -1\n"),
        ];
        files.extend(lists.iter().map(|(p, b)| (p.as_str(), b.as_slice())));
        let zip = zip_of(&files);
        let start = std::time::Instant::now();
        let got = read(&zip).unwrap();
        // 2 000 lists against 50 000 labels: looked up, not scanned
        assert!(start.elapsed().as_secs() < 20, "{:?}", start.elapsed());
        let tags: Vec<&str> = got.items[0]
            .objects
            .tags
            .iter()
            .map(|t| t.label.as_str())
            .collect();
        assert_eq!(tags.len(), 2_001);
        assert_eq!(tags[0], "a_b");
    }
}
