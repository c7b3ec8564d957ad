//! "CVAT for video 1.1" (api-v1 §10.6): the same meta block, then one `<track>` per
//! track (every frame from its first keyframe to its end) and a two-element track per
//! standalone shape. Tags are not written in this format.

use std::io::{self, Write};

use crate::cvat_images::{element, write_attributes, write_geometry, write_meta};
use crate::{OutTrack, TaskMeta, xml_attr as attr_esc};

/// Writes `annotations.xml`; `tracks` come in file order (tracks, then the tracks made
/// of standalone shapes). `original_size` is the (width, height) of the frames: the
/// meta's `<original_size>`, which CVAT wrote for video tasks and Datumaro's CVAT reader
/// needs for every track file, so it is written for image tasks too (their first
/// frame's size).
pub fn write_xml(
    w: &mut impl Write,
    task: &TaskMeta,
    original_size: Option<(i64, i64)>,
    tracks: impl IntoIterator<Item = OutTrack>,
) -> io::Result<()> {
    writeln!(w, "<?xml version=\"1.0\" encoding=\"utf-8\"?>")?;
    writeln!(w, "<annotations>")?;
    writeln!(w, "  <version>1.1</version>")?;
    write_meta(w, task, original_size)?;
    for (id, t) in tracks.into_iter().enumerate() {
        write!(w, "  <track id=\"{id}\" label=\"{}\"", attr_esc(&t.label))?;
        if t.group != 0 {
            write!(w, " group_id=\"{}\"", t.group)?;
        }
        writeln!(w, ">")?;
        for s in &t.shapes {
            let el = element(s.kind);
            write!(
                w,
                "    <{el} frame=\"{}\" outside=\"{}\" occluded=\"{}\" keyframe=\"{}\"",
                s.frame,
                u8::from(s.outside),
                u8::from(s.occluded),
                u8::from(s.keyframe)
            )?;
            write_geometry(w, s.kind, &s.points)?;
            if task.z_order {
                write!(w, " z_order=\"{}\"", s.z_order)?;
            }
            writeln!(w, ">")?;
            write_attributes(w, &s.attributes)?;
            writeln!(w, "    </{el}>")?;
        }
        writeln!(w, "  </track>")?;
    }
    writeln!(w, "</annotations>")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::OutTrackShape;
    use ferrocat_wire::annotations::ShapeType;

    #[test]
    fn the_documented_track() {
        let task = crate::TaskMeta {
            id: 1,
            name: "v".into(),
            size: 2,
            mode: "interpolation".into(),
            overlap: 0,
            bug_tracker: String::new(),
            created: "c".into(),
            updated: "u".into(),
            start_frame: 0,
            stop_frame: 1,
            frame_filter: String::new(),
            z_order: false,
            labels: vec![],
            segments: vec![],
            owner: None,
            assignee: None,
            dumped: "d".into(),
            source: None,
        };
        let shape = |frame, keyframe, x: f64| OutTrackShape {
            frame,
            kind: ShapeType::Rectangle,
            outside: false,
            occluded: false,
            keyframe,
            z_order: 0,
            points: vec![x, 10.0, x + 40.0, 50.0],
            attributes: vec![("speed".into(), "fast".into())],
        };
        let mut out = Vec::new();
        write_xml(
            &mut out,
            &task,
            Some((640, 480)),
            [OutTrack {
                label: "car".into(),
                group: 2,
                shapes: vec![shape(0, true, 10.0), shape(1, false, 11.0)],
            }],
        )
        .unwrap();
        let xml = String::from_utf8(out).unwrap();
        assert!(xml.contains(
            "      <original_size>\n        <width>640</width>\n        <height>480</height>\n      </original_size>\n    </task>\n"
        ));
        assert!(xml.ends_with(
            r#"  </meta>
  <track id="0" label="car" group_id="2">
    <box frame="0" outside="0" occluded="0" keyframe="1" xtl="10.00" ytl="10.00" xbr="50.00" ybr="50.00">
      <attribute name="speed">fast</attribute>
    </box>
    <box frame="1" outside="0" occluded="0" keyframe="0" xtl="11.00" ytl="10.00" xbr="51.00" ybr="50.00">
      <attribute name="speed">fast</attribute>
    </box>
  </track>
</annotations>
"#
        ));
    }
}
