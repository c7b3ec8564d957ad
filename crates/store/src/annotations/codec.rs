//! The `body` column of `annotations`: one object (tag, shape or track with its
//! keyframes) in a compact little-endian binary form, so that reading a job decodes one
//! column per row and never parses floats or JSON.
//!
//! ```text
//! u8 format (1) · u8 kind (0 tag, 1 shape, 2 track) · i64 id · i64 frame · i64 label_id
//! · group: u8 present + i64
//! shape:  u8 type · u8 occluded · i64 z_order · points · attributes
//! tag:    attributes
//! track:  attributes · u32 n · n × keyframe
//! keyframe: id (u8 present + i64) · i64 frame · u8 type · u8 occluded · u8 outside
//!           · i64 z_order · points · attributes
//! points: u32 n · n × f64        attributes: u32 n · n × (i64 spec_id · u32 len · utf-8)
//! ```
//!
//! Decoding checks every length, so a damaged row is an error, never a panic.

use ferrocat_wire::annotations::{AttributeValue, Shape, ShapeType, Tag, Track, TrackedShape};

use super::{KIND_SHAPE, KIND_TAG, KIND_TRACK};

const FORMAT: u8 = 1;

/// A decoded row.
#[derive(Debug, Clone, PartialEq)]
pub enum Object {
    Tag(Tag),
    Shape(Shape),
    Track(Track),
}

fn put_i64(out: &mut Vec<u8>, v: i64) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_u32(out: &mut Vec<u8>, v: usize) {
    out.extend_from_slice(&u32::try_from(v).unwrap_or(u32::MAX).to_le_bytes());
}

fn put_opt(out: &mut Vec<u8>, v: Option<i64>) {
    match v {
        Some(x) => {
            out.push(1);
            put_i64(out, x);
        }
        None => out.push(0),
    }
}

fn put_points(out: &mut Vec<u8>, p: &[f64]) {
    put_u32(out, p.len());
    for f in p {
        out.extend_from_slice(&f.to_le_bytes());
    }
}

fn put_attrs(out: &mut Vec<u8>, a: &[AttributeValue]) {
    put_u32(out, a.len());
    for v in a {
        put_i64(out, v.spec_id);
        put_u32(out, v.value.len());
        out.extend_from_slice(v.value.as_bytes());
    }
}

fn head(out: &mut Vec<u8>, kind: i16, id: Option<i64>, frame: i64, label: i64, group: Option<i64>) {
    out.push(FORMAT);
    out.push(kind as u8);
    put_i64(out, id.unwrap_or(0));
    put_i64(out, frame);
    put_i64(out, label);
    put_opt(out, group);
}

pub fn encode_tag(t: &Tag) -> Vec<u8> {
    let mut out = Vec::with_capacity(48);
    encode_tag_into(t, &mut out);
    out
}

/// Appends the row body of a tag to `out`.
pub fn encode_tag_into(t: &Tag, out: &mut Vec<u8>) {
    head(out, KIND_TAG, t.id, t.frame, t.label_id, t.group);
    put_attrs(out, &t.attributes);
}

pub fn encode_shape(s: &Shape) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + s.points.len() * 8);
    encode_shape_into(s, &mut out);
    out
}

/// Appends the row body of a shape to `out`.
pub fn encode_shape_into(s: &Shape, out: &mut Vec<u8>) {
    head(out, KIND_SHAPE, s.id, s.frame, s.label_id, s.group);
    out.push(s.kind.code() as u8);
    out.push(u8::from(s.occluded));
    put_i64(out, s.z_order);
    put_points(out, &s.points);
    put_attrs(out, &s.attributes);
}

pub fn encode_track(t: &Track) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + t.shapes.len() * 64);
    encode_track_into(t, &mut out);
    out
}

/// Appends the row body of a track to `out`.
pub fn encode_track_into(t: &Track, out: &mut Vec<u8>) {
    head(out, KIND_TRACK, t.id, t.frame, t.label_id, t.group);
    put_attrs(out, &t.attributes);
    put_u32(out, t.shapes.len());
    for k in &t.shapes {
        put_opt(out, k.id);
        put_i64(out, k.frame);
        out.push(k.kind.code() as u8);
        out.push(u8::from(k.occluded));
        out.push(u8::from(k.outside));
        put_i64(out, k.z_order);
        put_points(out, &k.points);
        put_attrs(out, &k.attributes);
    }
}

struct Reader<'a> {
    b: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.b.len() < n {
            return Err("stored annotation is truncated".into());
        }
        let (h, t) = self.b.split_at(n);
        self.b = t;
        Ok(h)
    }
    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }
    fn bool(&mut self) -> Result<bool, String> {
        Ok(self.u8()? != 0)
    }
    fn i64(&mut self) -> Result<i64, String> {
        Ok(i64::from_le_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }
    fn len(&mut self) -> Result<usize, String> {
        let n = u32::from_le_bytes(self.take(4)?.try_into().expect("4 bytes")) as usize;
        // every element takes at least one byte: a bound against damaged lengths
        if n > self.b.len() {
            return Err("stored annotation has a bad length".into());
        }
        Ok(n)
    }
    fn opt(&mut self) -> Result<Option<i64>, String> {
        Ok(if self.bool()? {
            Some(self.i64()?)
        } else {
            None
        })
    }
    fn kind(&mut self) -> Result<ShapeType, String> {
        let c = self.u8()?;
        ShapeType::from_code(i16::from(c)).ok_or_else(|| format!("stored shape type {c}"))
    }
    fn points(&mut self) -> Result<Vec<f64>, String> {
        let n = self.len()?;
        let raw = self.take(n * 8)?;
        Ok(raw
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")))
            .collect())
    }
    fn attrs(&mut self) -> Result<Vec<AttributeValue>, String> {
        let n = self.len()?;
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            let spec_id = self.i64()?;
            let len = self.len()?;
            let value = std::str::from_utf8(self.take(len)?)
                .map_err(|_| "stored attribute value is not UTF-8".to_string())?
                .to_string();
            out.push(AttributeValue { spec_id, value });
        }
        Ok(out)
    }
}

pub fn decode(b: &[u8]) -> Result<Object, String> {
    let mut r = Reader { b };
    let format = r.u8()?;
    if format != FORMAT {
        return Err(format!("stored annotation format {format} is unknown"));
    }
    let kind = i16::from(r.u8()?);
    let id = Some(r.i64()?);
    let frame = r.i64()?;
    let label_id = r.i64()?;
    let group = r.opt()?;
    Ok(match kind {
        KIND_TAG => Object::Tag(Tag {
            id,
            frame,
            label_id,
            group,
            attributes: r.attrs()?,
        }),
        KIND_SHAPE => {
            let kind = r.kind()?;
            let occluded = r.bool()?;
            let z_order = r.i64()?;
            let points = r.points()?;
            Object::Shape(Shape {
                kind,
                occluded,
                z_order,
                points,
                id,
                frame,
                label_id,
                group,
                attributes: r.attrs()?,
            })
        }
        KIND_TRACK => {
            let attributes = r.attrs()?;
            let n = r.len()?;
            let mut shapes = Vec::with_capacity(n);
            for _ in 0..n {
                let id = r.opt()?;
                let frame = r.i64()?;
                let kind = r.kind()?;
                let occluded = r.bool()?;
                let outside = r.bool()?;
                let z_order = r.i64()?;
                let points = r.points()?;
                shapes.push(TrackedShape {
                    kind,
                    occluded,
                    z_order,
                    points,
                    id,
                    frame,
                    outside,
                    attributes: r.attrs()?,
                });
            }
            Object::Track(Track {
                id,
                frame,
                label_id,
                group,
                shapes,
                attributes,
            })
        }
        k => return Err(format!("stored annotation kind {k} is unknown")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_round_trips_and_damage_is_an_error() {
        let attrs = vec![AttributeValue {
            spec_id: 7,
            value: "漢字 ok".into(),
        }];
        let shape = Shape {
            kind: ShapeType::Cuboid,
            occluded: true,
            z_order: -3,
            points: (0..16).map(|i| f64::from(i) * 0.1 + 1e-300).collect(),
            id: Some(5),
            frame: 9,
            label_id: 2,
            group: None,
            attributes: attrs.clone(),
        };
        let b = encode_shape(&shape);
        assert_eq!(decode(&b).unwrap(), Object::Shape(shape));
        let tag = Tag {
            id: Some(1),
            frame: 0,
            label_id: 3,
            group: Some(4),
            attributes: vec![],
        };
        assert_eq!(decode(&encode_tag(&tag)).unwrap(), Object::Tag(tag));
        let track = Track {
            id: Some(8),
            frame: 2,
            label_id: 3,
            group: Some(0),
            attributes: attrs.clone(),
            shapes: vec![TrackedShape {
                kind: ShapeType::Polygon,
                occluded: false,
                z_order: 1,
                points: vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
                id: None,
                frame: 2,
                outside: true,
                attributes: attrs,
            }],
        };
        let b = encode_track(&track);
        assert_eq!(decode(&b).unwrap(), Object::Track(track));
        for cut in 0..b.len() {
            assert!(decode(&b[..cut]).is_err());
        }
    }
}
