//! A minimal WebM reader: tracks and frames out of a WebM file (SimpleBlocks and Blocks, no
//! lacing). It checks what the recorder wrote and feeds real encoded media to test and
//! benchmark senders; it is not a general Matroska parser.

use super::webm::{Frame, Kind};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("not a WebM file this reader understands (at byte {0})")]
pub struct DemuxError(pub usize);

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrackInfo {
    pub number: u8,
    pub codec: String,
    pub kind: Option<Kind>,
}

fn read_id(b: &[u8], pos: usize) -> Result<(u32, usize), DemuxError> {
    let first = *b.get(pos).ok_or(DemuxError(pos))?;
    let len = first.leading_zeros() as usize + 1;
    if len > 4 || pos + len > b.len() {
        return Err(DemuxError(pos));
    }
    let id = b[pos..pos + len].iter().fold(0u32, |acc, x| (acc << 8) | u32::from(*x));
    Ok((id, len))
}

/// A size and its length; `None` for the reserved "unknown size".
fn read_size(b: &[u8], pos: usize) -> Result<(Option<u64>, usize), DemuxError> {
    let first = *b.get(pos).ok_or(DemuxError(pos))?;
    let len = first.leading_zeros() as usize + 1;
    if len > 8 || pos + len > b.len() {
        return Err(DemuxError(pos));
    }
    let mask = if len == 8 { 0 } else { 0xFFu8 >> len };
    let mut v = u64::from(first & mask);
    for x in &b[pos + 1..pos + len] {
        v = (v << 8) | u64::from(*x);
    }
    let all_ones = v == (1u64 << (7 * len)) - 1;
    Ok((if all_ones { None } else { Some(v) }, len))
}

fn uint(b: &[u8]) -> u64 {
    b.iter().fold(0u64, |acc, x| (acc << 8) | u64::from(*x))
}

const MASTERS: [u32; 5] = [0x1853_8067, 0x1F43_B675, 0x1654_AE6B, 0xAE, 0xA0];

/// Reads every track and frame; frames in file order with absolute times in milliseconds
/// (assuming the usual 1 ms timecode scale). A file cut short yields what is complete.
pub fn read(b: &[u8]) -> Result<(Vec<TrackInfo>, Vec<Frame>), DemuxError> {
    let mut tracks: Vec<TrackInfo> = Vec::new();
    let mut frames = Vec::new();
    let mut cluster_time = 0u64;
    let mut current_track: Option<TrackInfo> = None;
    let mut pos = 0;
    // Ends of the master elements we are inside, to close TrackEntries and BlockGroups.
    let mut group: Option<(usize, Option<Frame>, bool)> = None;
    while pos < b.len() {
        if let Some((end, _, _)) = &group
            && pos >= *end
            && let Some((_, frame, referenced)) = group.take()
            && let Some(mut f) = frame
        {
            f.keyframe = !referenced;
            frames.push(f);
        }
        let Ok((id, id_len)) = read_id(b, pos) else { break };
        let Ok((size, size_len)) = read_size(b, pos + id_len) else {
            break;
        };
        let data = pos + id_len + size_len;
        if MASTERS.contains(&id) {
            if id == 0xAE {
                if let Some(t) = current_track.take() {
                    tracks.push(t);
                }
                current_track = Some(TrackInfo {
                    number: 0,
                    codec: String::new(),
                    kind: None,
                });
            }
            if id == 0xA0 {
                group = Some((size.map_or(b.len(), |s| data + s as usize), None, false));
            }
            pos = data;
            continue;
        }
        let Some(size) = size else { return Err(DemuxError(pos)) };
        let end = data + size as usize;
        if end > b.len() {
            break; // cut short: keep what is complete
        }
        let body = &b[data..end];
        match id {
            0xD7 => {
                if let Some(t) = &mut current_track {
                    t.number = uint(body) as u8;
                }
            }
            0x86 => {
                if let Some(t) = &mut current_track {
                    t.codec = String::from_utf8_lossy(body).into_owned();
                    t.kind = match t.codec.as_str() {
                        "V_VP8" | "V_VP9" => Some(Kind::Video),
                        "A_OPUS" => Some(Kind::Audio),
                        _ => None,
                    };
                }
            }
            0xE7 => cluster_time = uint(body),
            0xA3 | 0xA1 if body.len() >= 4 => {
                let (track, n) = read_size(body, 0)?;
                let track = track.unwrap_or(0) as u8;
                let relative = i16::from_be_bytes([body[n], body[n + 1]]);
                let flags = body[n + 2];
                if flags & 0x06 == 0 {
                    let frame = Frame {
                        track,
                        time_ms: (cluster_time as i64 + i64::from(relative)).max(0) as u64,
                        keyframe: flags & 0x80 != 0,
                        data: body[n + 3..].to_vec(),
                    };
                    match (&mut group, id) {
                        (Some((_, slot, _)), 0xA1) => *slot = Some(frame),
                        _ => frames.push(frame),
                    }
                }
            }
            0xFB => {
                if let Some((_, _, referenced)) = &mut group {
                    *referenced = true;
                }
            }
            _ => {}
        }
        pos = end;
    }
    if let Some((_, Some(mut f), referenced)) = group {
        f.keyframe = !referenced;
        frames.push(f);
    }
    if let Some(t) = current_track.take() {
        tracks.push(t);
    }
    Ok((tracks, frames))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recording::webm::{Muxer, TrackSpec};

    #[test]
    fn what_the_muxer_writes_reads_back_frame_for_frame() {
        let mut m = Muxer::new(vec![
            TrackSpec {
                number: 1,
                kind: Kind::Audio,
                name: "a".into(),
            },
            TrackSpec {
                number: 2,
                kind: Kind::Video,
                name: "v".into(),
            },
        ]);
        let mut body = Vec::new();
        for i in 0..50u64 {
            let f = Frame {
                track: 1 + (i % 2) as u8,
                time_ms: i * 100,
                keyframe: i % 20 == 1,
                data: vec![i as u8; 7],
            };
            if let Some(c) = m.push(f) {
                body.extend(c.bytes);
            }
        }
        let (tail, head) = m.finish(None);
        let file = [head, body, tail].concat();
        let (tracks, frames) = read(&file).expect("reads");
        assert_eq!(tracks.len(), 2);
        assert_eq!(tracks[0].codec, "A_OPUS");
        assert_eq!(frames.len(), 50);
        assert_eq!(frames[49].time_ms, 4900);
        assert_eq!(frames[7].data, vec![7u8; 7]);
    }
}
