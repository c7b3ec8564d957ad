//! Polygon rasterisation with the semantics of the COCO API (pycocotools `maskApi.c`):
//! the mask a polygon covers, its pixel area, the union of masks, as COCO's uncompressed
//! run-length encoding ([`Rle`]: column-major, counts alternate zeros and ones, starting
//! with zeros).
//!
//! [`from_polygon`] gives exactly the counts of `pycocotools.mask.frPyObjects([poly], h, w)`:
//! the polygon is upsampled 5 times, its boundary walked pixel by pixel, and every
//! crossing of a pixel column's centre line becomes a run boundary. It does not store
//! the walked points: along each edge it jumps straight to the column changes inside
//! the image, so coordinates far outside the image cost nothing. (Beyond ±4·10⁸ px,
//! where pycocotools overflows its `int`s, the results may differ from it; vertices
//! beyond ±9·10¹⁴ px are moved to that distance, so that no arithmetic overflows.)
//! [`merge_union`] gives the counts of `mask.merge(rles)` and [`area`] those of
//! `mask.area`.

/// A binary mask of `h` rows and `w` columns as COCO's uncompressed RLE: the pixels in
/// column-major order (down the first column, then the second, …) as alternating run
/// lengths of zeros and ones, starting with zeros (a mask starting with a one has a
/// leading `0`). The counts add up to `h * w`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rle {
    pub h: u32,
    pub w: u32,
    pub counts: Vec<u32>,
}

impl Rle {
    /// The empty mask of `h` × `w` pixels.
    pub fn empty(h: u32, w: u32) -> Rle {
        Rle {
            h,
            w,
            counts: vec![h.saturating_mul(w)],
        }
    }
}

/// Upsampling factor of the boundary walk (pycocotools' `scale`).
const SCALE: f64 = 5.0;

/// Largest magnitude of an upsampled coordinate: farther vertices are moved to it, so
/// that differences and sums of coordinates never overflow an `i64`.
const MAX_UP: i64 = 1 << 52;

/// C's `(int)` conversion as x86 does it: truncation toward zero, and the "integer
/// indefinite" value for NaN (which pycocotools meets on a zero-length edge).
fn c_int(v: f64) -> i64 {
    if v.is_nan() {
        i64::from(i32::MIN)
    } else {
        v.trunc() as i64
    }
}

/// One polygon edge as the boundary walk sees it: `n + 1` points, `d = 0..=n`, in the
/// edge's own direction.
struct Edge {
    xs: i64,
    ys: i64,
    n: i64,
    flat: bool,
    flip: bool,
    slope: f64,
}

impl Edge {
    fn new(x0: i64, y0: i64, x1: i64, y1: i64) -> Edge {
        let (dx, dy) = ((x1 - x0).abs(), (y1 - y0).abs());
        let flat = dx >= dy;
        // Each edge is computed from its left (flat) or upper (steep) end, so that an
        // edge walked either way covers the same points.
        let flip = (flat && x0 > x1) || (!flat && y0 > y1);
        let (xs, ys, xe, ye) = if flip {
            (x1, y1, x0, y0)
        } else {
            (x0, y0, x1, y1)
        };
        let (n, slope) = if flat {
            (dx, (ye - ys) as f64 / dx as f64)
        } else {
            (dy, (xe - xs) as f64 / dy as f64)
        };
        Edge {
            xs,
            ys,
            n,
            flat,
            flip,
            slope,
        }
    }

    /// The upsampled point `d` of the walk.
    fn point(&self, d: i64) -> (i64, i64) {
        let t = if self.flip { self.n - d } else { d };
        if self.flat {
            (
                t + self.xs,
                c_int(self.ys as f64 + self.slope * t as f64 + 0.5),
            )
        } else {
            (
                c_int(self.xs as f64 + self.slope * t as f64 + 0.5),
                t + self.ys,
            )
        }
    }

    fn u(&self, d: i64) -> i64 {
        self.point(d).0
    }
}

/// The smallest `d` in `lo..=hi` where `pred` holds, `pred` being false then true over
/// the range; `hi + 1` if it never holds. Probes `lo`, `lo + 1`, `lo + 3`, … first,
/// so that a near answer costs little.
fn first_true(lo: i64, hi: i64, pred: impl Fn(i64) -> bool) -> i64 {
    if lo > hi {
        return hi + 1;
    }
    let (mut a, mut step) = (lo, 1i64);
    // invariant: pred is false below `a`
    loop {
        if pred(a) {
            return a;
        }
        let probe = a.saturating_add(step);
        if probe > hi || pred(probe) {
            // false at a, answer in a+1..=min(probe, hi+1)
            let (mut l, mut r) = (a + 1, probe.min(hi + 1));
            while l < r {
                let m = l + (r - l) / 2;
                if pred(m) { r = m } else { l = m + 1 }
            }
            return l;
        }
        a = probe + 1;
        step = step.saturating_mul(2);
        if a > hi {
            return hi + 1;
        }
    }
}

/// The mask of the polygon `points` (`x0, y0, x1, y1, …`, closed implicitly) in an
/// image of `h` × `w` pixels, as `pycocotools.mask.frPyObjects([points], h, w)`.
/// An image of more than `u32::MAX` pixels, which COCO's 32-bit counts cannot describe,
/// gives a mask without counts (area 0).
pub fn from_polygon(points: &[f64], h: u32, w: u32) -> Rle {
    if u64::from(h) * u64::from(w) > u64::from(u32::MAX) {
        return Rle {
            h,
            w,
            counts: Vec::new(),
        };
    }
    let k = points.len() / 2;
    let up = |v: f64| c_int(SCALE * v + 0.5).clamp(-MAX_UP, MAX_UP);
    let vertex = |j: usize| (up(points[2 * (j % k)]), up(points[2 * (j % k) + 1]));
    let (hh, ww) = (i64::from(h), i64::from(w));
    // A walked point can only start a column crossing inside the image when its
    // upsampled x is in this range.
    let (lo_u, hi_u) = (2, SCALE as i64 * ww - 2);
    let mut bounds: Vec<u64> = Vec::new();
    let mut emit = |(pu, pv): (i64, i64), (u, v): (i64, i64)| {
        let xd = if u < pu { u } else { u - 1 };
        let xd = (xd as f64 + 0.5) / SCALE - 0.5;
        if xd.floor() != xd || xd < 0.0 || xd > (ww - 1) as f64 {
            return;
        }
        let yd = (pv.min(v) as f64 + 0.5) / SCALE - 0.5;
        let yd = if yd < 0.0 {
            0.0
        } else if yd > hh as f64 {
            hh as f64
        } else {
            yd
        }
        .ceil();
        bounds.push(xd as u64 * u64::from(h) + yd as u64);
    };
    let mut prev: Option<(i64, i64)> = None;
    for j in 0..k {
        let ((x0, y0), (x1, y1)) = (vertex(j), vertex(j + 1));
        let e = Edge::new(x0, y0, x1, y1);
        let n = e.n;
        // u(d) is monotone along an edge, so the points with u in range are a run
        let (ua, ub) = (e.u(0), e.u(n));
        let (dlo, dhi) = if ua <= ub {
            (
                first_true(0, n, |d| e.u(d) >= lo_u),
                first_true(0, n, |d| e.u(d) > hi_u) - 1,
            )
        } else {
            (
                first_true(0, n, |d| e.u(d) <= hi_u),
                first_true(0, n, |d| e.u(d) < lo_u) - 1,
            )
        };
        if dlo <= dhi {
            if dlo > 0 {
                prev = Some(e.point(dlo - 1));
            }
            let mut d = dlo;
            loop {
                let p = e.point(d);
                if let Some(q) = prev
                    && q.0 != p.0
                {
                    emit(q, p);
                }
                // jump to the next change of u; the point before it has p's u
                let next = first_true(d + 1, dhi, |x| e.u(x) != p.0);
                if next > dhi {
                    break;
                }
                prev = Some(e.point(next - 1));
                d = next;
            }
        }
        prev = Some(e.point(n));
    }
    counts_from_bounds(bounds, h, w)
}

/// Run counts from the column-major positions where the mask toggles (pycocotools'
/// sort, difference, and cancelling of coinciding toggles); positions beyond the image
/// are taken as its end. Without counts when the image has more than `u32::MAX` pixels.
fn counts_from_bounds(mut a: Vec<u64>, h: u32, w: u32) -> Rle {
    let total = u64::from(h) * u64::from(w);
    let Ok(_) = u32::try_from(total) else {
        return Rle {
            h,
            w,
            counts: Vec::new(),
        };
    };
    for v in a.iter_mut() {
        *v = (*v).min(total);
    }
    a.push(total);
    a.sort_unstable();
    let mut p = 0;
    for v in a.iter_mut() {
        let t = *v;
        *v -= p;
        p = t;
    }
    let mut counts: Vec<u32> = Vec::with_capacity(a.len());
    counts.push(a[0] as u32);
    let mut j = 1;
    while j < a.len() {
        if a[j] > 0 {
            counts.push(a[j] as u32);
            j += 1;
        } else {
            // two toggles at one place cancel: the next run joins the previous one
            j += 1;
            if j < a.len() {
                *counts.last_mut().expect("non-empty") += a[j] as u32;
                j += 1;
            }
        }
    }
    Rle { h, w, counts }
}

/// The mask of the rectangle with corners `(x1, y1)`, `(x2, y2)`, as pycocotools'
/// `frBbox` rasterises a box (its corner polygon).
pub fn from_box(x1: f64, y1: f64, x2: f64, y2: f64, h: u32, w: u32) -> Rle {
    from_polygon(&[x1, y1, x1, y2, x2, y2, x2, y1], h, w)
}

/// The union of masks of one size, as `pycocotools.mask.merge(rles)`. No masks, or
/// masks of different sizes, give the empty 0 × 0 mask (as pycocotools does).
pub fn merge_union(rles: &[Rle]) -> Rle {
    let Some(first) = rles.first() else {
        return Rle {
            h: 0,
            w: 0,
            counts: Vec::new(),
        };
    };
    let (h, w) = (first.h, first.w);
    if rles.iter().any(|r| r.h != h || r.w != w) {
        return Rle {
            h: 0,
            w: 0,
            counts: Vec::new(),
        };
    }
    let mut acc = first.counts.clone();
    for b in &rles[1..] {
        acc = union2(&acc, &b.counts);
    }
    Rle { h, w, counts: acc }
}

/// The union of two count lists of one mask size, run by run; when their sums differ
/// (they cannot for masks of one size), it ends where the shorter one does.
fn union2(a: &[u32], b: &[u32]) -> Vec<u32> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut ca, mut cb) = (
        a.first().copied().unwrap_or(0),
        b.first().copied().unwrap_or(0),
    );
    let (mut ia, mut ib) = (1, 1);
    let (mut va, mut vb, mut v) = (false, false, false);
    let mut run = 0u32;
    loop {
        let c = ca.min(cb);
        run = run.saturating_add(c);
        ca -= c;
        if ca == 0 && ia < a.len() {
            ca = a[ia];
            ia += 1;
            va = !va;
        }
        cb -= c;
        if cb == 0 && ib < b.len() {
            cb = b[ib];
            ib += 1;
            vb = !vb;
        }
        let end = (ca == 0 && ia >= a.len()) || (cb == 0 && ib >= b.len());
        let was = v;
        v = va || vb;
        if v != was || end {
            out.push(run);
            run = 0;
        }
        if end {
            return out;
        }
    }
}

/// The number of pixels set, as `pycocotools.mask.area`.
pub fn area(rle: &Rle) -> u64 {
    rle.counts
        .iter()
        .skip(1)
        .step_by(2)
        .map(|&c| u64::from(c))
        .sum()
}

/// Sets `buf[y * w + x] = value` (row-major) for every pixel of the mask; `buf` must
/// hold `h * w` values (pixels beyond its end are ignored).
pub fn paint<T: Copy>(rle: &Rle, buf: &mut [T], value: T) {
    let (h, w) = (rle.h as usize, rle.w as usize);
    let mut pos = 0usize;
    for (i, &c) in rle.counts.iter().enumerate() {
        let c = c as usize;
        if i % 2 == 1 {
            for p in pos..(pos + c).min(h * w) {
                let (x, y) = (p / h, p % h);
                if let Some(slot) = buf.get_mut(y * w + x) {
                    *slot = value;
                }
            }
        }
        pos += c;
    }
}

/// The mask as `h * w` booleans in row-major order (`mask[y * w + x]`).
pub fn to_mask(rle: &Rle) -> Vec<bool> {
    let mut m = vec![false; rle.h as usize * rle.w as usize];
    paint(rle, &mut m, true);
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rle(points: &[f64], h: u32, w: u32) -> Rle {
        from_polygon(points, h, w)
    }

    // Expected counts and areas computed with pycocotools 2.0
    // (`mask.frPyObjects([poly], h, w)`, `mask.area`, `mask.merge`).

    #[test]
    fn square_matches_pycocotools() {
        let r = rle(&[10., 20., 110., 20., 110., 70., 10., 70.], 100, 200);
        assert_eq!(area(&r), 5000);
        assert_eq!(r.counts[..3], [1020, 50, 50]);
        assert_eq!(r.counts.len(), 201);
        assert_eq!(r.counts.iter().map(|&c| c as u64).sum::<u64>(), 20_000);
        let m = to_mask(&r);
        assert!(m[20 * 200 + 10] && m[69 * 200 + 109]);
        assert!(!m[19 * 200 + 10] && !m[20 * 200 + 110] && !m[70 * 200 + 10]);
        assert_eq!(m.iter().filter(|&&b| b).count(), 5000);
        assert_eq!(from_box(10., 20., 110., 70., 100, 200), r);
        assert_eq!(from_box(110., 70., 10., 20., 100, 200), r);
    }

    #[test]
    fn concave_self_intersecting_outside_tiny() {
        let concave = rle(&[1., 1., 9., 1., 9., 9., 5., 4., 1., 9.], 10, 10);
        assert_eq!(
            concave.counts,
            [11, 7, 3, 6, 4, 5, 5, 4, 6, 4, 6, 5, 5, 6, 4, 7, 12]
        );
        assert_eq!(area(&concave), 44);
        let bowtie = rle(&[0.5, 0.5, 7.5, 6.5, 7.5, 0.5, 0.5, 6.5], 8, 8);
        assert_eq!(bowtie.counts, [9, 5, 4, 3, 6, 1, 7, 1, 6, 3, 4, 5, 3, 5, 2]);
        assert_eq!(area(&bowtie), 23);
        let outside = rle(&[-3.2, -2., 4.7, 1.2, 3.3, 12.8], 6, 5);
        assert_eq!(outside.counts, [0, 18, 1, 5, 1, 3, 2]);
        assert_eq!(area(&outside), 26);
        let tiny = rle(&[2.1, 2.1, 2.3, 2.1, 2.2, 2.3], 5, 5);
        assert_eq!(tiny.counts, [25]);
        assert_eq!(area(&tiny), 0);
        // the walk's direction and starting vertex do not matter
        assert_eq!(
            rle(&[9., 9., 5., 4., 1., 9., 1., 1., 9., 1.], 10, 10),
            concave
        );
        assert_eq!(
            rle(&[1., 9., 5., 4., 9., 9., 9., 1., 1., 1.], 10, 10),
            concave
        );
    }

    #[test]
    fn union_matches_pycocotools() {
        let a = rle(&[1., 1., 4., 1., 4., 4., 1., 4.], 7, 7);
        let b = rle(&[3., 3., 6., 3., 6., 6., 3., 6.], 7, 7);
        assert_eq!(a.counts, [8, 3, 4, 3, 4, 3, 24]);
        assert_eq!(b.counts, [24, 3, 4, 3, 4, 3, 8]);
        let u = merge_union(&[a.clone(), b]);
        assert_eq!(u.counts, [8, 3, 4, 3, 4, 5, 4, 3, 4, 3, 8]);
        assert_eq!(area(&u), 17);
        assert_eq!(merge_union(std::slice::from_ref(&a)), a);
        assert_eq!(
            merge_union(&[a, Rle::empty(3, 3)]).counts,
            Vec::<u32>::new()
        );
        assert_eq!(area(&Rle::empty(4, 5)), 0);
    }

    #[test]
    fn far_coordinates_are_cheap() {
        // edges millions of pixels long: only the columns inside the image are walked
        // (pycocotools gives the same for ±1e6, walking every upsampled point)
        for far in [1e6, 4e8] {
            let r = rle(&[-far, -far, far, -far, far, far, -far, far], 3, 4);
            assert_eq!(r.counts, [0, 12]);
            let thin = rle(&[1.5, -far, 1.6, far, 1.4, far], 3, 4);
            assert_eq!(thin.counts, [3, 3, 6]);
        }
        let degenerate = rle(&[1., 1., 1., 1., 1., 1.], 3, 4);
        assert_eq!(degenerate.counts, [12]);
        assert_eq!(rle(&[], 2, 2).counts, [4]);
    }

    #[test]
    fn huge_coordinates_do_not_overflow() {
        // vertices beyond ±1.8e18 saturated the upsampled integers, whose differences
        // then overflowed (a panic in debug builds)
        for far in [1e19, 1e300, f64::INFINITY] {
            let r = rle(&[-far, -far, far, -far, far, far, -far, far], 3, 4);
            assert_eq!(r.counts, [0, 12]);
            // a thin sliver along column 1 (where exactly it starts depends on the
            // distance the far vertices are moved to)
            let thin = rle(&[1.5, -far, 1.6, far, 1.4, far], 3, 4);
            assert_eq!(thin.counts.iter().map(|&c| u64::from(c)).sum::<u64>(), 12);
            assert!((2..=3).contains(&area(&thin)), "{thin:?}");
            let wedge = rle(&[far, far, -far, 0.0, 0.0, -far], 5, 5);
            assert_eq!(wedge.counts.iter().map(|&c| u64::from(c)).sum::<u64>(), 25);
        }
        let nan = rle(&[f64::NAN, 1.0, 2.0, f64::NAN, 3.0, 3.0], 4, 4);
        assert_eq!(nan.counts.iter().map(|&c| u64::from(c)).sum::<u64>(), 16);
    }

    #[test]
    fn union_of_unequal_count_lists_ends() {
        // the lists sum to different totals: the union ends with the shorter one
        assert_eq!(union2(&[2, 3], &[1, 1, 10]), [1, 4]);
        assert_eq!(union2(&[], &[12]), [0]);
        assert_eq!(union2(&[0, 4], &[]), [0]);
        let bad = Rle {
            h: 2,
            w: 2,
            counts: vec![1, 1],
        };
        let u = merge_union(&[bad, Rle::empty(2, 2)]);
        assert_eq!(u.counts, [1, 1]);
    }

    #[test]
    fn images_beyond_u32_pixels_give_no_counts() {
        // 70000 x 70000 pixels: more than u32::MAX, so 32-bit counts would be truncated
        let r = rle(&[1., 1., 9., 1., 9., 9.], 70_000, 70_000);
        assert!(r.counts.is_empty());
        assert_eq!(area(&r), 0);
        assert!(
            counts_from_bounds(vec![1, 2], 70_000, 70_000)
                .counts
                .is_empty()
        );
        // positions past the end are the end
        assert_eq!(counts_from_bounds(vec![1, 99], 2, 2).counts, [1, 3]);
        let full = u32::MAX / 3;
        let r = rle(&[-1., -1., 4., -1., 4., 1e10, -1., 1e10], full, 3);
        assert_eq!(r.counts, [0, full * 3]);
    }
}
