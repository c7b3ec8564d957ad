use std::io::{Cursor, Write};
fn main() {
    let mut zw = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let o = zip::write::SimpleFileOptions::default();
    zw.add_directory("d/", o).unwrap();
    for i in 0..5 { zw.start_file(format!("d/f{i}.jpg"), o).unwrap(); zw.write_all(&vec![i as u8; 3000 + i * 100]).unwrap(); }
    let zip = zw.finish().unwrap().into_inner();
    let mut tb = tar::Builder::new(Vec::new());
    for i in 0..5 { let mut h = tar::Header::new_gnu(); h.set_size(1000); h.set_mode(0o644); tb.append_data(&mut h, format!("x/{}/f{i}.png", "l".repeat(i * 40)), &vec![7u8; 1000][..]).unwrap(); }
    let tar = tb.into_inner().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&tar).unwrap();
    let tgz = gz.finish().unwrap();
    let mut state = 999u64;
    let mut rnd = || { state ^= state << 13; state ^= state >> 7; state ^= state << 17; state };
    let tmp = tempfile::TempDir::new().unwrap();
    let mut stats = [0usize; 2];
    let mut kinds = std::collections::BTreeMap::new();
    for (si, src) in [zip, tar, tgz].iter().enumerate() {
        for it in 0..700 {
            let mut b = src.clone();
            for _ in 0..1 + rnd() % 6 { let i = (rnd() as usize) % b.len(); b[i] = rnd() as u8; }
            if rnd() % 5 == 0 { let n = (rnd() as usize) % b.len(); b.truncate(n); }
            let a = tmp.path().join(format!("a{si}_{it}"));
            std::fs::write(&a, &b).unwrap();
            let d = tmp.path().join(format!("d{si}_{it}"));
            let r = ferrocat_media::archive::extract(&a, &d, &Default::default());
            if let Err(e) = &r { *kinds.entry(format!("{si} {}", format!("{e:?}").split('(').next().unwrap().to_string())).or_insert(0) += 1; }
            // nothing escapes
            for entry in std::fs::read_dir(tmp.path()).unwrap() { let n = entry.unwrap().file_name(); let n = n.to_string_lossy(); assert!(n.starts_with('a') || n.starts_with('d'), "{n}"); }
            stats[r.is_ok() as usize] += 1;
        }
    }
    println!("err/ok {stats:?} {kinds:?}");
}
