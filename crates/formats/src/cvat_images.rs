//! "CVAT for images 1.1" (api-v1 §10.5): a zip with `annotations.xml`, every task frame
//! an `<image>` with its shapes (z-order ascending, stable) and then its tags.

use std::io::{self, Write};

use ferrocat_wire::annotations::ShapeType;

use crate::{FrameMeta, FrameObjects, OutShape, TaskMeta, xml_attr as attr_esc, xml_escape as esc};

fn py_bool(b: bool) -> &'static str {
    if b { "True" } else { "False" }
}

/// `original_size` (width, height) is written where CVAT wrote it for video tasks.
pub(crate) fn write_meta(
    w: &mut impl Write,
    t: &TaskMeta,
    original_size: Option<(i64, i64)>,
) -> io::Result<()> {
    writeln!(w, "  <meta>")?;
    writeln!(w, "    <task>")?;
    writeln!(w, "      <id>{}</id>", t.id)?;
    writeln!(w, "      <name>{}</name>", esc(&t.name))?;
    writeln!(w, "      <size>{}</size>", t.size)?;
    writeln!(w, "      <mode>{}</mode>", esc(&t.mode))?;
    writeln!(w, "      <overlap>{}</overlap>", t.overlap)?;
    writeln!(w, "      <bugtracker>{}</bugtracker>", esc(&t.bug_tracker))?;
    writeln!(w, "      <created>{}</created>", t.created)?;
    writeln!(w, "      <updated>{}</updated>", t.updated)?;
    writeln!(w, "      <start_frame>{}</start_frame>", t.start_frame)?;
    writeln!(w, "      <stop_frame>{}</stop_frame>", t.stop_frame)?;
    writeln!(
        w,
        "      <frame_filter>{}</frame_filter>",
        esc(&t.frame_filter)
    )?;
    writeln!(w, "      <z_order>{}</z_order>", py_bool(t.z_order))?;
    writeln!(w, "      <labels>")?;
    for l in &t.labels {
        writeln!(w, "        <label>")?;
        writeln!(w, "          <name>{}</name>", esc(&l.name))?;
        writeln!(w, "          <attributes>")?;
        for a in &l.attributes {
            writeln!(w, "            <attribute>")?;
            writeln!(w, "              <name>{}</name>", esc(&a.name))?;
            writeln!(w, "              <mutable>{}</mutable>", py_bool(a.mutable))?;
            writeln!(
                w,
                "              <input_type>{}</input_type>",
                esc(&a.input_type)
            )?;
            writeln!(
                w,
                "              <default_value>{}</default_value>",
                esc(&a.default_value)
            )?;
            writeln!(
                w,
                "              <values>{}</values>",
                esc(&a.values.join("\n"))
            )?;
            writeln!(w, "            </attribute>")?;
        }
        writeln!(w, "          </attributes>")?;
        writeln!(w, "        </label>")?;
    }
    writeln!(w, "      </labels>")?;
    writeln!(w, "      <segments>")?;
    for s in &t.segments {
        writeln!(w, "        <segment>")?;
        writeln!(w, "          <id>{}</id>", s.id)?;
        writeln!(w, "          <start>{}</start>", s.start)?;
        writeln!(w, "          <stop>{}</stop>", s.stop)?;
        writeln!(w, "          <url>{}</url>", esc(&s.url))?;
        writeln!(w, "        </segment>")?;
    }
    writeln!(w, "      </segments>")?;
    for (tag, who) in [("owner", &t.owner), ("assignee", &t.assignee)] {
        match who {
            Some((name, email)) => {
                writeln!(w, "      <{tag}>")?;
                writeln!(w, "        <username>{}</username>", esc(name))?;
                writeln!(w, "        <email>{}</email>", esc(email))?;
                writeln!(w, "      </{tag}>")?;
            }
            None => writeln!(w, "      <{tag}></{tag}>")?,
        }
    }
    if let Some((width, height)) = original_size {
        writeln!(w, "      <original_size>")?;
        writeln!(w, "        <width>{width}</width>")?;
        writeln!(w, "        <height>{height}</height>")?;
        writeln!(w, "      </original_size>")?;
    }
    writeln!(w, "    </task>")?;
    writeln!(w, "    <dumped>{}</dumped>", t.dumped)?;
    if let Some(source) = &t.source {
        writeln!(w, "    <source>{}</source>", esc(source))?;
    }
    writeln!(w, "  </meta>")
}

pub(crate) fn element(kind: ShapeType) -> &'static str {
    match kind {
        ShapeType::Rectangle => "box",
        ShapeType::Polygon => "polygon",
        ShapeType::Polyline => "polyline",
        ShapeType::Points => "points",
        ShapeType::Cuboid => "cuboid",
    }
}

const CUBOID_NAMES: [&str; 16] = [
    "xtl1", "ytl1", "xbl1", "ybl1", "xtr1", "ytr1", "xbr1", "ybr1", "xtl2", "ytl2", "xbl2", "ybl2",
    "xtr2", "ytr2", "xbr2", "ybr2",
];

/// The geometry attributes of a shape element (§10.5), each with a leading space.
pub(crate) fn write_geometry(
    w: &mut impl Write,
    kind: ShapeType,
    points: &[f64],
) -> io::Result<()> {
    match kind {
        ShapeType::Rectangle if points.len() == 4 => {
            let p = points;
            write!(
                w,
                " xtl=\"{:.2}\" ytl=\"{:.2}\" xbr=\"{:.2}\" ybr=\"{:.2}\"",
                p[0], p[1], p[2], p[3]
            )?;
        }
        ShapeType::Cuboid if points.len() == 16 => {
            for (name, v) in CUBOID_NAMES.iter().zip(points) {
                write!(w, " {name}=\"{v:.2}\"")?;
            }
        }
        _ => {
            let pts: Vec<String> = points
                .chunks_exact(2)
                .map(|c| format!("{:.2},{:.2}", c[0], c[1]))
                .collect();
            write!(w, " points=\"{}\"", pts.join(";"))?;
        }
    }
    Ok(())
}

/// The `<attribute name="…">value</attribute>` children of an object.
pub(crate) fn write_attributes(w: &mut impl Write, attrs: &[(String, String)]) -> io::Result<()> {
    for (name, value) in attrs {
        writeln!(
            w,
            "      <attribute name=\"{}\">{}</attribute>",
            attr_esc(name),
            esc(value)
        )?;
    }
    Ok(())
}

fn write_shape(w: &mut impl Write, s: &OutShape, z_order: bool) -> io::Result<()> {
    let el = element(s.kind);
    write!(
        w,
        "    <{el} label=\"{}\" occluded=\"{}\"",
        attr_esc(&s.label),
        u8::from(s.occluded)
    )?;
    write_geometry(w, s.kind, &s.points)?;
    if z_order {
        write!(w, " z_order=\"{}\"", s.z_order)?;
    }
    if s.group != 0 {
        write!(w, " group_id=\"{}\"", s.group)?;
    }
    writeln!(w, ">")?;
    write_attributes(w, &s.attributes)?;
    writeln!(w, "    </{el}>")
}

/// Writes `annotations.xml`. `objects(k)` gives the objects of task frame `k`.
pub fn write_xml(
    w: &mut impl Write,
    task: &TaskMeta,
    frames: &[FrameMeta],
    mut objects: impl FnMut(usize) -> FrameObjects,
) -> io::Result<()> {
    writeln!(w, "<?xml version=\"1.0\" encoding=\"utf-8\"?>")?;
    writeln!(w, "<annotations>")?;
    writeln!(w, "  <version>1.1</version>")?;
    // video tasks: the frames' one size, as CVAT wrote it
    let original_size = task
        .source
        .as_ref()
        .and(frames.first())
        .map(|f| (f.width, f.height));
    write_meta(w, task, original_size)?;
    for (k, f) in frames.iter().enumerate() {
        writeln!(
            w,
            "  <image id=\"{}\" name=\"{}\" width=\"{}\" height=\"{}\">",
            f.abs,
            attr_esc(&f.name),
            f.width,
            f.height
        )?;
        let mut objs = objects(k);
        // z-order ascending; the sort is stable, so standalone shapes come before track
        // shapes of the same z-order, as the caller ordered them
        objs.shapes.sort_by_key(|s| s.z_order);
        for s in &objs.shapes {
            write_shape(w, s, task.z_order)?;
        }
        for t in &objs.tags {
            write!(w, "    <tag label=\"{}\"", attr_esc(&t.label))?;
            if t.group != 0 {
                write!(w, " group_id=\"{}\"", t.group)?;
            }
            writeln!(w, ">")?;
            write_attributes(w, &t.attributes)?;
            writeln!(w, "    </tag>")?;
        }
        writeln!(w, "  </image>")?;
    }
    writeln!(w, "</annotations>")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AttrMeta, LabelMeta, OutTag, SegmentMeta};

    #[test]
    fn the_documented_example() {
        let task = TaskMeta {
            id: 19,
            name: "cars".into(),
            size: 2,
            mode: "annotation".into(),
            overlap: 0,
            bug_tracker: String::new(),
            created: "2020-08-13 01:40:01.123456+00:00".into(),
            updated: "2020-08-13 01:50:34.847000+00:00".into(),
            start_frame: 0,
            stop_frame: 1,
            frame_filter: String::new(),
            z_order: false,
            labels: vec![LabelMeta {
                id: 1,
                name: "car".into(),
                attributes: vec![AttrMeta {
                    id: 1,
                    name: "color".into(),
                    mutable: false,
                    input_type: "select".into(),
                    default_value: "gray".into(),
                    values: vec!["gray".into(), "black".into(), "white".into()],
                }],
            }],
            segments: vec![SegmentMeta {
                id: 7,
                start: 0,
                stop: 1,
                url: "http://alexking.site:8080/?id=7".into(),
            }],
            owner: Some(("Alex".into(), "alex@example.com".into())),
            assignee: None,
            dumped: "2020-08-13 01:51:00.000001+00:00".into(),
            source: None,
        };
        let frames = vec![
            FrameMeta {
                abs: 0,
                name: "car1.jpg".into(),
                width: 584,
                height: 328,
            },
            FrameMeta {
                abs: 1,
                name: "car2.jpg".into(),
                width: 1280,
                height: 919,
            },
        ];
        let mut out = Vec::new();
        write_xml(&mut out, &task, &frames, |k| {
            if k > 0 {
                return FrameObjects::default();
            }
            FrameObjects {
                shapes: vec![
                    OutShape {
                        kind: ShapeType::Polygon,
                        label: "car".into(),
                        occluded: false,
                        z_order: 1,
                        points: vec![1.0, 2.0, 3.0, 4.0, 5.0, 1.0],
                        group: 1,
                        attributes: vec![],
                        track_id: None,
                    },
                    OutShape {
                        kind: ShapeType::Rectangle,
                        label: "car".into(),
                        occluded: false,
                        z_order: 0,
                        points: vec![
                            38.7734375,
                            52.267578125,
                            537.5498657226562,
                            324.32745361328125,
                        ],
                        group: 0,
                        attributes: vec![("color".into(), "gray".into())],
                        track_id: None,
                    },
                ],
                tags: vec![OutTag {
                    label: "car".into(),
                    group: 0,
                    attributes: vec![("color".into(), "black".into())],
                }],
            }
        })
        .unwrap();
        let xml = String::from_utf8(out).unwrap();
        let expected = include_str!("../tests/fixtures/cvat_images_example.xml");
        assert_eq!(xml, expected);
    }
}
