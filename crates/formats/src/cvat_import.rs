//! "CVAT 1.1" import (api-v1 §10.7): a bare XML file or a zip whose `*.xml` files (any
//! depth) are all read. Images' shapes and tags, and tracks' keyframes
//! (`keyframe="1"`), with labels and attributes by name and absolute frame numbers; the
//! caller maps names and frames to the task.
//!
//! Safety: the XML reader expands no entity besides the five predefined ones and
//! character references (a document that uses any other fails), so entity-expansion
//! bombs cannot grow; zips are read with limits on entry count and inflated size.

use std::io::Read;

use ferrocat_wire::annotations::ShapeType;

use crate::{Dataset, FrameObjects, ImportTrack, ItemObjects, ItemRef, OutShape, OutTag};
use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};

/// Largest inflated size of all annotation files in a zip.
pub const MAX_INFLATED: u64 = 256 << 20;
/// Most entries a zip may have.
pub const MAX_ENTRIES: usize = 10_000;

#[derive(Debug, Clone, PartialEq)]
pub struct InShape {
    pub frame: i64,
    pub kind: ShapeType,
    pub label: String,
    pub occluded: bool,
    pub outside: bool,
    pub keyframe: bool,
    pub z_order: i64,
    pub points: Vec<f64>,
    pub group: i64,
    pub attributes: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct InTag {
    pub frame: i64,
    pub label: String,
    pub group: i64,
    pub attributes: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct InTrack {
    pub label: String,
    pub group: i64,
    /// Keyframes only.
    pub shapes: Vec<InShape>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Imported {
    pub shapes: Vec<InShape>,
    pub tags: Vec<InTag>,
    pub tracks: Vec<InTrack>,
}

impl Imported {
    /// The file's objects in the model every importer gives (frames as
    /// [`ItemRef::Abs`]): each shape and tag an item of its own, in file order, and
    /// the tracks with their keyframes.
    pub fn into_dataset(self) -> Dataset {
        let out_shape = |s: InShape| OutShape {
            kind: s.kind,
            label: s.label,
            occluded: s.occluded,
            z_order: s.z_order,
            points: s.points,
            group: s.group,
            attributes: s.attributes,
            track_id: None,
        };
        let mut items = Vec::with_capacity(self.shapes.len() + self.tags.len());
        for s in self.shapes {
            items.push(ItemObjects {
                item: ItemRef::Abs(s.frame),
                objects: FrameObjects {
                    shapes: vec![out_shape(s)],
                    tags: vec![],
                },
            });
        }
        for t in self.tags {
            items.push(ItemObjects {
                item: ItemRef::Abs(t.frame),
                objects: FrameObjects {
                    shapes: vec![],
                    tags: vec![OutTag {
                        label: t.label,
                        group: t.group,
                        attributes: t.attributes,
                    }],
                },
            });
        }
        let tracks = self
            .tracks
            .into_iter()
            .map(|t| ImportTrack {
                label: t.label,
                group: t.group,
                shapes: t
                    .shapes
                    .into_iter()
                    .map(|k| (ItemRef::Abs(k.frame), k.outside, k))
                    .map(|(item, outside, k)| (item, out_shape(k), outside))
                    .collect(),
            })
            .collect();
        Dataset { items, tracks }
    }
}

/// Reads an uploaded file: a zip (by its magic bytes) or XML.
pub fn read(bytes: &[u8]) -> Result<Imported, String> {
    let mut out = Imported::default();
    if bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(b"PK\x05\x06") {
        let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes))
            .map_err(|e| format!("The file is not a valid zip archive: {e}"))?;
        if zip.len() > MAX_ENTRIES {
            return Err(format!("The archive has more than {MAX_ENTRIES} entries"));
        }
        let mut budget = MAX_INFLATED;
        let mut found = false;
        for i in 0..zip.len() {
            let mut f = zip
                .by_index(i)
                .map_err(|e| format!("Damaged archive: {e}"))?;
            let name = f.name().map(|n| n.to_string()).unwrap_or_default();
            if !f.is_file() || !name.to_ascii_lowercase().ends_with(".xml") || is_metadata(&name) {
                continue;
            }
            let mut buf = Vec::new();
            let n = (&mut f)
                .take(budget + 1)
                .read_to_end(&mut buf)
                .map_err(|e| format!("{name}: {e}"))? as u64;
            if n > budget {
                return Err("The archive inflates to more than 256 MB of XML".into());
            }
            budget -= n;
            parse_xml(&buf, &mut out).map_err(|e| format!("{name}: {e}"))?;
            found = true;
        }
        if !found {
            return Err("The archive holds no .xml file".into());
        }
    } else {
        parse_xml(bytes, &mut out)?;
    }
    Ok(out)
}

/// Files that archivers add beside the content (`__MACOSX/`, `._name`, dotfiles).
pub fn is_metadata(path: &str) -> bool {
    path.split('/')
        .any(|part| part == "__MACOSX" || part.starts_with('.'))
}

fn attr(e: &BytesStart<'_>, name: &str) -> Result<Option<String>, String> {
    for a in e.attributes() {
        let a = a.map_err(|e| format!("bad XML attribute: {e}"))?;
        if a.key.as_ref() == name {
            let v = a
                .normalized_value(quick_xml::XmlVersion::default())
                .map_err(|e| format!("bad XML attribute value: {e}"))?;
            return Ok(Some(v.into_owned()));
        }
    }
    Ok(None)
}

fn req(e: &BytesStart<'_>, name: &str) -> Result<String, String> {
    attr(e, name)?.ok_or_else(|| format!("<{}> has no \"{name}\" attribute", e.name().as_ref()))
}

fn num(e: &BytesStart<'_>, name: &str) -> Result<f64, String> {
    let v = req(e, name)?;
    v.trim()
        .parse::<f64>()
        .ok()
        .filter(|f| f.is_finite() && f.abs() < 1e9)
        .ok_or_else(|| format!("\"{name}\" is not a usable number: {v}"))
}

fn int(e: &BytesStart<'_>, name: &str, default: Option<i64>) -> Result<i64, String> {
    match attr(e, name)? {
        None => default.ok_or_else(|| format!("\"{name}\" is missing")),
        Some(v) => v
            .trim()
            .parse::<i64>()
            .map_err(|_| format!("\"{name}\" is not an integer: {v}")),
    }
}

fn flag(e: &BytesStart<'_>, name: &str) -> Result<bool, String> {
    Ok(matches!(
        attr(e, name)?.as_deref().map(str::trim),
        Some("1" | "true" | "True")
    ))
}

fn shape_kind(tag: &str) -> Option<ShapeType> {
    Some(match tag {
        "box" => ShapeType::Rectangle,
        "polygon" => ShapeType::Polygon,
        "polyline" => ShapeType::Polyline,
        "points" => ShapeType::Points,
        "cuboid" => ShapeType::Cuboid,
        _ => return None,
    })
}

const CUBOID: [&str; 16] = [
    "xtl1", "ytl1", "xbl1", "ybl1", "xtr1", "ytr1", "xbr1", "ybr1", "xtl2", "ytl2", "xbl2", "ybl2",
    "xtr2", "ytr2", "xbr2", "ybr2",
];

fn geometry(e: &BytesStart<'_>, kind: ShapeType) -> Result<Vec<f64>, String> {
    Ok(match kind {
        ShapeType::Rectangle => vec![
            num(e, "xtl")?,
            num(e, "ytl")?,
            num(e, "xbr")?,
            num(e, "ybr")?,
        ],
        ShapeType::Cuboid => CUBOID.iter().map(|n| num(e, n)).collect::<Result<_, _>>()?,
        _ => {
            let raw = req(e, "points")?;
            let mut out = Vec::new();
            for pair in raw.split(';').filter(|p| !p.trim().is_empty()) {
                let (x, y) = pair
                    .split_once(',')
                    .ok_or_else(|| format!("bad point \"{pair}\""))?;
                for v in [x, y] {
                    let f = v
                        .trim()
                        .parse::<f64>()
                        .ok()
                        .filter(|f| f.is_finite() && f.abs() < 1e9)
                        .ok_or_else(|| format!("bad coordinate \"{v}\""))?;
                    out.push(f);
                }
            }
            if out.is_empty() {
                return Err("a shape without points".into());
            }
            out
        }
    })
}

/// The element being read.
enum Open {
    Image(i64),
    Track(InTrack),
}

fn parse_xml(bytes: &[u8], out: &mut Imported) -> Result<(), String> {
    let mut reader = Reader::from_reader(bytes);
    let mut buf = Vec::new();
    let mut open: Option<Open> = None;
    // the shape or tag whose <attribute> children are being read
    let mut shape: Option<InShape> = None;
    let mut tag: Option<InTag> = None;
    let mut attr_name: Option<String> = None;
    let mut text = String::new();
    let mut saw_root = false;
    loop {
        let ev = reader
            .read_event_into(&mut buf)
            .map_err(|e| format!("malformed XML at byte {}: {e}", reader.buffer_position()))?;
        let (start, empty) = match &ev {
            Event::Start(e) => (Some(e.clone()), false),
            Event::Empty(e) => (Some(e.clone()), true),
            _ => (None, false),
        };
        if let Some(e) = start {
            let name = e.name().as_ref().to_string();
            match name.as_str() {
                "annotations" => saw_root = true,
                "image" if open.is_none() => {
                    open = Some(Open::Image(int(&e, "id", None)?));
                    if empty {
                        open = None;
                    }
                }
                "track" if open.is_none() => {
                    open = Some(Open::Track(InTrack {
                        label: req(&e, "label")?,
                        group: int(&e, "group_id", Some(0))?,
                        shapes: vec![],
                    }));
                    if empty {
                        open = None;
                    }
                }
                "tag" => {
                    if let Some(Open::Image(frame)) = &open {
                        let t = InTag {
                            frame: *frame,
                            label: req(&e, "label")?,
                            group: int(&e, "group_id", Some(0))?,
                            attributes: vec![],
                        };
                        if empty {
                            out.tags.push(t);
                        } else {
                            tag = Some(t);
                        }
                    }
                }
                "attribute" if shape.is_some() || tag.is_some() => {
                    attr_name = Some(req(&e, "name")?);
                    text.clear();
                    if empty {
                        push_attr(&mut shape, &mut tag, attr_name.take(), String::new());
                    }
                }
                n => {
                    if let Some(kind) = shape_kind(n) {
                        let s = match &open {
                            Some(Open::Image(frame)) => Some(InShape {
                                frame: *frame,
                                kind,
                                label: req(&e, "label")?,
                                occluded: flag(&e, "occluded")?,
                                outside: false,
                                keyframe: true,
                                z_order: int(&e, "z_order", Some(0))?,
                                points: geometry(&e, kind)?,
                                group: int(&e, "group_id", Some(0))?,
                                attributes: vec![],
                            }),
                            Some(Open::Track(t)) => Some(InShape {
                                frame: int(&e, "frame", None)?,
                                kind,
                                label: t.label.clone(),
                                occluded: flag(&e, "occluded")?,
                                outside: flag(&e, "outside")?,
                                keyframe: flag(&e, "keyframe")?,
                                z_order: int(&e, "z_order", Some(0))?,
                                points: geometry(&e, kind)?,
                                group: t.group,
                                attributes: vec![],
                            }),
                            None => None,
                        };
                        if let Some(s) = s {
                            if empty {
                                finish_shape(s, &mut open, out);
                            } else {
                                shape = Some(s);
                            }
                        }
                    }
                }
            }
            buf.clear();
            continue;
        }
        match ev {
            Event::Text(t) if attr_name.is_some() => text.push_str(&t.xml10_content()),
            Event::CData(t) if attr_name.is_some() => text.push_str(&t),
            Event::GeneralRef(r) => {
                if attr_name.is_some() {
                    let c = match r.resolve_char_ref() {
                        Ok(Some(c)) => c,
                        _ => match &*r {
                            "lt" => '<',
                            "gt" => '>',
                            "amp" => '&',
                            "apos" => '\'',
                            "quot" => '"',
                            other => {
                                return Err(format!("the entity &{other}; is not allowed"));
                            }
                        },
                    };
                    text.push(c);
                } else if !matches!(&*r, "lt" | "gt" | "amp" | "apos" | "quot") && !r.is_char_ref()
                {
                    return Err(format!("the entity &{}; is not allowed", &*r));
                }
            }
            Event::End(e) => match e.name().as_ref() {
                "attribute" => {
                    push_attr(
                        &mut shape,
                        &mut tag,
                        attr_name.take(),
                        std::mem::take(&mut text),
                    );
                }
                "tag" => {
                    if let Some(t) = tag.take() {
                        out.tags.push(t);
                    }
                }
                "image" | "track" => {
                    if let Some(Open::Track(t)) = open.take() {
                        out.tracks.push(t);
                    }
                }
                n if shape_kind(n).is_some() => {
                    if let Some(s) = shape.take() {
                        finish_shape(s, &mut open, out);
                    }
                }
                _ => {}
            },
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    if !saw_root {
        return Err("this is not a CVAT XML file: there is no <annotations> element".into());
    }
    Ok(())
}

fn push_attr(
    shape: &mut Option<InShape>,
    tag: &mut Option<InTag>,
    name: Option<String>,
    value: String,
) {
    let Some(name) = name else { return };
    if let Some(s) = shape {
        s.attributes.push((name, value));
    } else if let Some(t) = tag {
        t.attributes.push((name, value));
    }
}

fn finish_shape(s: InShape, open: &mut Option<Open>, out: &mut Imported) {
    match open {
        Some(Open::Track(t)) => {
            // only keyframes are kept (§10.7)
            if s.keyframe {
                t.shapes.push(s);
            }
        }
        _ => out.shapes.push(s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_the_exporter_writes_and_refuses_entities() {
        let xml = include_str!("../tests/fixtures/cvat_images_example.xml");
        let got = read(xml.as_bytes()).unwrap();
        assert_eq!(got.shapes.len(), 2);
        assert_eq!(got.shapes[0].points, vec![38.77, 52.27, 537.55, 324.33]);
        assert_eq!(
            got.shapes[0].attributes,
            vec![("color".to_string(), "gray".to_string())]
        );
        assert_eq!(got.shapes[1].group, 1);
        assert_eq!(got.tags.len(), 1);
        let video = r#"<annotations><track id="0" label="car" group_id="2">
            <box frame="0" outside="0" occluded="1" keyframe="1" xtl="1" ytl="2" xbr="3" ybr="4"><attribute name="a">x &amp; &#65;</attribute></box>
            <box frame="1" outside="0" occluded="0" keyframe="0" xtl="1" ytl="2" xbr="3" ybr="4"></box>
            <box frame="2" outside="1" occluded="0" keyframe="1" xtl="1" ytl="2" xbr="3" ybr="4"/>
          </track></annotations>"#;
        let got = read(video.as_bytes()).unwrap();
        assert_eq!(got.tracks.len(), 1);
        assert_eq!(got.tracks[0].shapes.len(), 2);
        assert_eq!(got.tracks[0].shapes[0].attributes[0].1, "x & A");
        assert!(got.tracks[0].shapes[1].outside);
        let bomb = r#"<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x "xxxxxxxxxx"><!ENTITY y "&x;&x;&x;&x;">]>
            <annotations><image id="0"><tag label="a"><attribute name="n">&y;</attribute></tag></image></annotations>"#;
        assert!(read(bomb.as_bytes()).unwrap_err().contains("entity"));
        assert!(read(b"<annotations><image id=\"0\"><box label=\"a\"").is_err());
        assert!(read(b"{\"json\": true}").is_err());
        assert!(read(b"<annotations><image id=\"0\"><box label=\"a\" xtl=\"1e400\" ytl=\"0\" xbr=\"1\" ybr=\"1\"/></image></annotations>").is_err());
    }
}
