//! A WebM (Matroska) muxer for the recording: pure, no I/O. Frames go in, closed clusters
//! come out, each of which becomes one encrypted chunk.
//!
//! The file is split in two on purpose:
//! - the **head** (EBML header, Segment start, SeekHead, Info, Tracks) is small, is built
//!   with fixed-width fields, and is rewritten when the recording ends (Duration, the Cues
//!   position, the real video size). Every version has exactly the same length, so cluster
//!   positions computed while recording stay right.
//! - the **body** (Clusters, then Cues) is append-only. A Segment of unknown size lets a
//!   player read a body that was cut short by a crash up to its last whole cluster.
//!
//! One track per participant stream (each participant's audio and video), pre-declared for
//! every member of the call when the recording starts, so a late joiner's tracks exist
//! before their first frame. Clusters start at a video key frame once the open one is a
//! second old, and at least every two seconds: a crash loses at most the open cluster.
//!
//! One cohesive thing, longer than most files here: the element writers, the head and the
//! cluster logic share the fixed-width layout above and are only correct together.

/// Timestamps are in milliseconds (TimecodeScale 1,000,000 ns).
const TIMECODE_SCALE: u64 = 1_000_000;
/// A cluster is closed once its media spans this long, whatever the key frames do.
pub const MAX_CLUSTER_MS: u64 = 2_000;
/// A video key frame starts a new cluster once the open one spans this long.
const KEYFRAME_CLUSTER_MS: u64 = 1_000;
/// Placeholder video size until a key frame tells the real one.
const DEFAULT_SIZE: (u32, u32) = (640, 480);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Audio,
    Video,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrackSpec {
    /// 1-based Matroska track number.
    pub number: u8,
    pub kind: Kind,
    /// Shown by players; the participant's user id and the kind of stream.
    pub name: String,
}

/// One encoded frame (an Opus packet or a whole VP8 frame) of one track.
#[derive(Clone, Debug)]
pub struct Frame {
    pub track: u8,
    /// Milliseconds since the recording started.
    pub time_ms: u64,
    pub keyframe: bool,
    pub data: Vec<u8>,
}

fn vint_size(len: u64) -> Vec<u8> {
    // The smallest EBML variable-size integer that holds `len` (all-ones is reserved).
    for width in 1..=8u32 {
        let max = (1u64 << (7 * width)) - 2;
        if len <= max {
            let marker = 1u64 << (7 * width);
            let v = marker | len;
            return v.to_be_bytes()[8 - width as usize..].to_vec();
        }
    }
    vec![0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFE]
}

fn element(id: &[u8], body: &[u8]) -> Vec<u8> {
    let mut out = id.to_vec();
    out.extend(vint_size(body.len() as u64));
    out.extend_from_slice(body);
    out
}

fn uint(id: &[u8], v: u64) -> Vec<u8> {
    let bytes = v.to_be_bytes();
    let skip = bytes.iter().take(7).take_while(|b| **b == 0).count();
    element(id, &bytes[skip..])
}

/// An unsigned integer always written in 8 bytes, so rewriting it never moves what follows.
fn uint_fixed(id: &[u8], v: u64) -> Vec<u8> {
    element(id, &v.to_be_bytes())
}

fn float(id: &[u8], v: f64) -> Vec<u8> {
    element(id, &v.to_be_bytes())
}

fn text(id: &[u8], s: &str) -> Vec<u8> {
    element(id, s.as_bytes())
}

const SEGMENT: [u8; 4] = [0x18, 0x53, 0x80, 0x67];
const INFO: [u8; 4] = [0x15, 0x49, 0xA9, 0x66];
const TRACKS: [u8; 4] = [0x16, 0x54, 0xAE, 0x6B];
const CLUSTER: [u8; 4] = [0x1F, 0x43, 0xB6, 0x75];
const CUES: [u8; 4] = [0x1C, 0x53, 0xBB, 0x6B];

fn opus_head() -> Vec<u8> {
    let mut h = b"OpusHead".to_vec();
    h.push(1); // version
    h.push(2); // channels (WebRTC Opus is negotiated as stereo)
    h.extend_from_slice(&312u16.to_le_bytes()); // pre-skip
    h.extend_from_slice(&48_000u32.to_le_bytes());
    h.extend_from_slice(&0i16.to_le_bytes()); // output gain
    h.push(0); // channel mapping family
    h
}

fn seek(id: &[u8; 4], position: u64) -> Vec<u8> {
    let mut body = element(&[0x53, 0xAB], id);
    body.extend(uint_fixed(&[0x53, 0xAC], position));
    element(&[0x4D, 0xBB], &body)
}

/// The state the head describes; every field has a fixed width in the encoding.
#[derive(Clone, Debug, PartialEq)]
pub struct HeadState {
    pub duration_ms: f64,
    /// Position of the Cues (relative to the Segment's data), once written.
    pub cues_position: Option<u64>,
    /// Video size per track number, once a key frame told it.
    pub sizes: Vec<(u8, u32, u32)>,
    /// Tracks that never got a frame, written as Void elements of the same size in the final
    /// head so players pick a track with media as the default.
    pub unused: Vec<u8>,
}

/// A Void element of exactly `len` bytes (len >= 2).
fn void(len: usize) -> Vec<u8> {
    let n = if len <= 128 {
        len.saturating_sub(2)
    } else {
        len.saturating_sub(3)
    };
    element(&[0xEC], &vec![0u8; n])
}

/// Builds the head. Its length depends only on the tracks, never on `state`.
pub fn head(tracks: &[TrackSpec], state: &HeadState) -> Vec<u8> {
    let ebml = [
        uint(&[0x42, 0x86], 1),
        uint(&[0x42, 0xF7], 1),
        uint(&[0x42, 0xF2], 4),
        uint(&[0x42, 0xF3], 8),
        text(&[0x42, 0x82], "webm"),
        uint(&[0x42, 0x87], 4),
        uint(&[0x42, 0x85], 2),
    ]
    .concat();
    let mut info = uint(&[0x2A, 0xD7, 0xB1], TIMECODE_SCALE);
    info.extend(text(&[0x4D, 0x80], "vytalcall"));
    info.extend(text(&[0x57, 0x41], "vytalcall"));
    info.extend(float(&[0x44, 0x89], state.duration_ms));
    let info = element(&INFO, &info);

    let mut entries = Vec::new();
    for t in tracks {
        let mut e = uint(&[0xD7], u64::from(t.number));
        e.extend(uint(&[0x73, 0xC5], u64::from(t.number)));
        e.extend(text(&[0x53, 0x6E], &t.name));
        match t.kind {
            Kind::Video => {
                let (w, h) = state
                    .sizes
                    .iter()
                    .find(|(n, _, _)| *n == t.number)
                    .map_or(DEFAULT_SIZE, |(_, w, h)| (*w, *h));
                e.extend(uint(&[0x83], 1));
                e.extend(text(&[0x86], "V_VP8"));
                let video = [uint_fixed(&[0xB0], u64::from(w)), uint_fixed(&[0xBA], u64::from(h))].concat();
                e.extend(element(&[0xE0], &video));
            }
            Kind::Audio => {
                e.extend(uint(&[0x83], 2));
                e.extend(text(&[0x86], "A_OPUS"));
                e.extend(element(&[0x63, 0xA2], &opus_head()));
                e.extend(uint(&[0x56, 0xAA], 6_500_000));
                e.extend(uint(&[0x56, 0xBB], 80_000_000));
                let audio = [float(&[0xB5], 48_000.0), uint(&[0x9F], 2)].concat();
                e.extend(element(&[0xE1], &audio));
            }
        }
        let entry = element(&[0xAE], &e);
        if state.unused.contains(&t.number) {
            entries.extend(void(entry.len()));
        } else {
            entries.extend(entry);
        }
    }
    let tracks_el = element(&TRACKS, &entries);

    // SeekHead: Info, Tracks, and Cues once they exist (a Void of the same size before).
    let seek_len = seek(&CUES, 0).len();
    let seekhead_len = {
        let body_len = seek(&INFO, 0).len() + seek(&TRACKS, 0).len() + seek_len;
        4 + vint_size(body_len as u64).len() + body_len
    };
    let info_pos = seekhead_len as u64;
    let tracks_pos = info_pos + info.len() as u64;
    let mut seeks = seek(&INFO, info_pos);
    seeks.extend(seek(&TRACKS, tracks_pos));
    match state.cues_position {
        Some(p) => seeks.extend(seek(&CUES, p)),
        None => seeks.extend(element(&[0xEC], &vec![0u8; seek_len - 2])),
    }
    let seekhead = element(&[0x11, 0x4D, 0x9B, 0x74], &seeks);

    let mut out = element(&[0x1A, 0x45, 0xDF, 0xA3], &ebml);
    out.extend_from_slice(&SEGMENT);
    out.extend_from_slice(&[0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]); // unknown size
    out.extend(seekhead);
    out.extend(info);
    out.extend(tracks_el);
    out
}

/// Bytes of the head before the Segment's data (EBML header + Segment id and size): cluster
/// and cue positions count from there.
pub fn segment_data_offset(head: &[u8]) -> u64 {
    let ebml_len = element(
        &[0x1A, 0x45, 0xDF, 0xA3],
        &[
            uint(&[0x42, 0x86], 1),
            uint(&[0x42, 0xF7], 1),
            uint(&[0x42, 0xF2], 4),
            uint(&[0x42, 0xF3], 8),
            text(&[0x42, 0x82], "webm"),
            uint(&[0x42, 0x87], 4),
            uint(&[0x42, 0x85], 2),
        ]
        .concat(),
    )
    .len();
    debug_assert!(head.len() > ebml_len + 12);
    (ebml_len + 12) as u64
}

/// Rewrites the Duration of a head in place (recovery of a crashed recording, whose head
/// never got its final version). The Duration is always an 8-byte float, so nothing moves.
pub fn patch_duration(head: &mut [u8], duration_ms: u64) -> bool {
    let Some(at) = head.windows(3).position(|w| w == [0x44, 0x89, 0x88]) else {
        return false;
    };
    let Some(slot) = head.get_mut(at + 3..at + 11) else {
        return false;
    };
    slot.copy_from_slice(&(duration_ms as f64).to_be_bytes());
    true
}

/// The width and height of a VP8 key frame (RFC 6386, section 9.1).
pub fn vp8_keyframe_size(frame: &[u8]) -> Option<(u32, u32)> {
    if frame.len() < 10 || frame[0] & 1 != 0 || frame[3..6] != [0x9D, 0x01, 0x2A] {
        return None;
    }
    let w = u32::from(u16::from_le_bytes([frame[6], frame[7]]) & 0x3FFF);
    let h = u32::from(u16::from_le_bytes([frame[8], frame[9]]) & 0x3FFF);
    (w > 0 && h > 0).then_some((w, h))
}

struct OpenCluster {
    start_ms: u64,
    body: Vec<u8>,
    last_ms: u64,
}

/// What the muxer hands back: a closed cluster to append as one chunk.
#[derive(Debug, PartialEq, Eq)]
pub struct Closed {
    pub bytes: Vec<u8>,
    /// Media time at the end of the cluster (its last frame).
    pub end_ms: u64,
}

/// Turns frames into clusters and remembers what the Cues and the final head need.
pub struct Muxer {
    tracks: Vec<TrackSpec>,
    head_len: u64,
    segment_offset: u64,
    /// Body bytes emitted so far.
    body_len: u64,
    open: Option<OpenCluster>,
    last_time: Vec<(u8, u64)>,
    cues: Vec<(u64, u8, u64)>,
    /// Video tracks that have had a keyframe in the open cluster, which the Cues point to:
    /// each track its own, so a player seeking in any participant's video finds a keyframe
    /// of that video (not only of whichever track keyed first).
    cued_in_cluster: Vec<u8>,
    base: Option<u64>,
    end_ms: u64,
    pub state: HeadState,
    /// Set when the head changed (a video size became known) and should be saved again.
    pub head_dirty: bool,
}

impl Muxer {
    pub fn new(tracks: Vec<TrackSpec>) -> Muxer {
        let state = HeadState {
            duration_ms: 0.0,
            cues_position: None,
            sizes: Vec::new(),
            unused: Vec::new(),
        };
        let h = head(&tracks, &state);
        Muxer {
            head_len: h.len() as u64,
            segment_offset: segment_data_offset(&h),
            tracks,
            body_len: 0,
            open: None,
            last_time: Vec::new(),
            cues: Vec::new(),
            cued_in_cluster: Vec::new(),
            base: None,
            end_ms: 0,
            state,
            head_dirty: false,
        }
    }

    pub fn head(&self) -> Vec<u8> {
        head(&self.tracks, &self.state)
    }

    pub fn head_len(&self) -> u64 {
        self.head_len
    }

    pub fn tracks(&self) -> &[TrackSpec] {
        &self.tracks
    }

    fn kind(&self, track: u8) -> Option<Kind> {
        self.tracks.iter().find(|t| t.number == track).map(|t| t.kind)
    }

    /// Position of the next body byte relative to the Segment's data.
    fn segment_position(&self) -> u64 {
        self.head_len - self.segment_offset + self.body_len
    }

    /// Adds a frame; returns the cluster it closed, if it started a new one.
    pub fn push(&mut self, mut frame: Frame) -> Option<Closed> {
        let kind = self.kind(frame.track)?;
        // The file's timeline starts at the first frame, not when the peer was ready.
        let base = *self.base.get_or_insert(frame.time_ms);
        frame.time_ms = frame.time_ms.saturating_sub(base);
        self.end_ms = self.end_ms.max(frame.time_ms);
        // Within a track time never goes backwards (players require it).
        match self.last_time.iter_mut().find(|(t, _)| *t == frame.track) {
            Some((_, last)) => {
                frame.time_ms = frame.time_ms.max(*last);
                *last = frame.time_ms;
            }
            None => self.last_time.push((frame.track, frame.time_ms)),
        }
        if kind == Kind::Video
            && frame.keyframe
            && let Some((w, h)) = vp8_keyframe_size(&frame.data)
        {
            let known = self.state.sizes.iter_mut().find(|(n, _, _)| *n == frame.track);
            match known {
                Some(entry) if (entry.1, entry.2) == (w, h) => {}
                Some(entry) => {
                    *entry = (frame.track, w, h);
                    self.head_dirty = true;
                }
                None => {
                    self.state.sizes.push((frame.track, w, h));
                    self.head_dirty = true;
                }
            }
        }
        let video_key = kind == Kind::Video && frame.keyframe;
        let mut closed = None;
        if let Some(open) = &self.open {
            let age = frame.time_ms.saturating_sub(open.start_ms);
            if age >= MAX_CLUSTER_MS || (video_key && age >= KEYFRAME_CLUSTER_MS) {
                closed = self.close();
            }
        }
        if self.open.is_none() {
            self.open = Some(OpenCluster {
                start_ms: frame.time_ms,
                body: uint(&[0xE7], frame.time_ms),
                last_ms: 0,
            });
            self.cued_in_cluster.clear();
        }
        let position = self.segment_position();
        if let Some(open) = &mut self.open {
            let relative =
                (frame.time_ms as i64 - open.start_ms as i64).clamp(i64::from(i16::MIN), i64::from(i16::MAX));
            let mut block = vec![0x80 | frame.track];
            block.extend_from_slice(&(relative as i16).to_be_bytes());
            block.push(if frame.keyframe || kind == Kind::Audio {
                0x80
            } else {
                0x00
            });
            block.extend_from_slice(&frame.data);
            open.body.extend(element(&[0xA3], &block));
            open.last_ms = open.last_ms.max(frame.time_ms);
            if video_key && !self.cued_in_cluster.contains(&frame.track) {
                self.cues.push((frame.time_ms, frame.track, position));
                self.cued_in_cluster.push(frame.track);
            }
        }
        closed
    }

    /// Media time of the latest frame on the file's timeline.
    pub fn end_ms(&self) -> u64 {
        self.end_ms
    }

    /// The recording clock `now_ms` on the file's timeline.
    pub fn to_file_time(&self, now_ms: u64) -> u64 {
        now_ms.saturating_sub(self.base.unwrap_or(now_ms))
    }

    /// Closes the open cluster if it spans [`MAX_CLUSTER_MS`] by `now_ms`, so a quiet
    /// moment never keeps media only in memory.
    pub fn flush_due(&mut self, now_ms: u64) -> Option<Closed> {
        let now_ms = self.to_file_time(now_ms);
        let due = self
            .open
            .as_ref()
            .is_some_and(|o| now_ms.saturating_sub(o.start_ms) >= MAX_CLUSTER_MS);
        if due { self.close() } else { None }
    }

    fn close(&mut self) -> Option<Closed> {
        let open = self.open.take()?;
        let bytes = element(&CLUSTER, &open.body);
        self.body_len += bytes.len() as u64;
        self.state.duration_ms = self.state.duration_ms.max(open.last_ms as f64);
        Some(Closed {
            bytes,
            end_ms: open.last_ms,
        })
    }

    /// Ends the file: the open cluster and the Cues, as the final chunk, and the final head.
    pub fn finish(&mut self, duration_ms: Option<u64>) -> (Vec<u8>, Vec<u8>) {
        let mut tail = self.close().map(|c| c.bytes).unwrap_or_default();
        if self.body_len == 0 {
            // Nobody sent media: one empty Cluster still makes it a file players and ffprobe
            // open (a Segment of unknown size with no Cluster at all is read as truncated).
            tail = element(&CLUSTER, &uint(&[0xE7], 0));
            self.body_len += tail.len() as u64;
        }
        let mut points = Vec::new();
        for (time, track, position) in &self.cues {
            let positions = [uint(&[0xF7], u64::from(*track)), uint(&[0xF1], *position)].concat();
            let point = [uint(&[0xB3], *time), element(&[0xB7], &positions)].concat();
            points.extend(element(&[0xBB], &point));
        }
        if !points.is_empty() {
            self.state.cues_position = Some(self.head_len - self.segment_offset + self.body_len);
            let cues = element(&CUES, &points);
            self.body_len += cues.len() as u64;
            tail.extend(cues);
        }
        if let Some(d) = duration_ms {
            self.state.duration_ms = self.state.duration_ms.max(d as f64);
        }
        if !self.last_time.is_empty() {
            self.state.unused = self
                .tracks
                .iter()
                .map(|t| t.number)
                .filter(|n| !self.last_time.iter().any(|(t, _)| t == n))
                .collect();
        }
        (tail, self.head())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tracks() -> Vec<TrackSpec> {
        vec![
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
        ]
    }

    fn keyframe(w: u16, h: u16) -> Vec<u8> {
        let mut f = vec![0x10, 0x02, 0x00, 0x9D, 0x01, 0x2A];
        f.extend_from_slice(&w.to_le_bytes());
        f.extend_from_slice(&h.to_le_bytes());
        f.extend_from_slice(&[0; 20]);
        f
    }

    #[test]
    fn a_recording_without_any_frame_is_still_a_whole_file() {
        let mut m = Muxer::new(tracks());
        let (tail, head) = m.finish(Some(2_000));
        let file = [head, tail].concat();
        let (declared, frames) = crate::recording::demux::read(&file).expect("a readable file");
        assert_eq!(declared.len(), 2);
        assert!(frames.is_empty());
        assert!(file.windows(4).any(|w| w == CLUSTER), "one (empty) cluster");
    }

    #[test]
    fn the_head_keeps_its_length_whatever_it_says() {
        let t = tracks();
        let start = head(
            &t,
            &HeadState {
                duration_ms: 0.0,
                cues_position: None,
                sizes: vec![],
                unused: vec![],
            },
        );
        let end = head(
            &t,
            &HeadState {
                duration_ms: 123_456.0,
                cues_position: Some(1 << 40),
                sizes: vec![(2, 1920, 1080)],
                unused: vec![1],
            },
        );
        assert_eq!(start.len(), end.len());
        assert_ne!(start, end);
    }

    #[test]
    fn every_video_track_keyed_in_a_cluster_gets_its_own_cue() {
        let mut specs = tracks();
        specs.push(TrackSpec {
            number: 3,
            kind: Kind::Video,
            name: "v2".into(),
        });
        let mut m = Muxer::new(specs);
        // Both participants' keyframes land in one cluster (they joined at the same moment).
        for (track, t) in [(2, 0), (3, 40), (2, 80), (3, 120)] {
            m.push(Frame {
                track,
                time_ms: t,
                keyframe: true,
                data: keyframe(320, 240),
            });
        }
        let cued: Vec<u8> = m.cues.iter().map(|(_, track, _)| *track).collect();
        assert_eq!(cued, vec![2, 3], "one cue per track and cluster, for both tracks");
    }

    #[test]
    fn clusters_close_at_key_frames_and_at_least_every_two_seconds() {
        let mut m = Muxer::new(tracks());
        let mut closed = Vec::new();
        for i in 0..100u64 {
            let t = i * 100;
            let video_key = t % 3000 == 0;
            let data = if video_key { keyframe(320, 240) } else { vec![1, 2, 3] };
            closed.extend(m.push(Frame {
                track: 2,
                time_ms: t,
                keyframe: video_key,
                data,
            }));
            closed.extend(m.push(Frame {
                track: 1,
                time_ms: t + 10,
                keyframe: true,
                data: vec![9; 10],
            }));
        }
        assert!(closed.len() >= 4, "{}", closed.len());
        for c in &closed {
            assert_eq!(&c.bytes[..4], &CLUSTER);
        }
        assert_eq!(m.state.sizes, vec![(2, 320, 240)]);
        assert!(m.head_dirty);
        let (tail, final_head) = m.finish(Some(10_000));
        assert!(tail.windows(4).any(|w| w == CUES), "cues written");
        assert!(m.state.cues_position.is_some());
        assert_eq!(final_head.len() as u64, m.head_len());
        assert_eq!(m.state.duration_ms, 10_000.0);
    }

    #[test]
    fn a_crashed_recordings_head_gets_its_duration_patched_in_place() {
        let t = tracks();
        let mut h = head(
            &t,
            &HeadState {
                duration_ms: 0.0,
                cues_position: None,
                sizes: vec![],
                unused: vec![],
            },
        );
        assert!(patch_duration(&mut h, 4321));
        assert_eq!(
            h,
            head(
                &t,
                &HeadState {
                    duration_ms: 4321.0,
                    cues_position: None,
                    sizes: vec![],
                    unused: vec![]
                }
            )
        );
    }

    #[test]
    fn vp8_key_frames_tell_their_size_and_other_frames_do_not() {
        assert_eq!(vp8_keyframe_size(&keyframe(640, 480)), Some((640, 480)));
        let mut inter = keyframe(640, 480);
        inter[0] |= 1;
        assert_eq!(vp8_keyframe_size(&inter), None);
        assert_eq!(vp8_keyframe_size(&[0; 4]), None);
    }

    #[test]
    fn sizes_use_the_smallest_encoding() {
        assert_eq!(vint_size(0), vec![0x80]);
        assert_eq!(vint_size(126), vec![0xFE]);
        assert_eq!(vint_size(127), vec![0x40, 0x7F]);
        assert_eq!(vint_size(16_382), vec![0x7F, 0xFE]);
        assert_eq!(vint_size(16_383), vec![0x20, 0x3F, 0xFF]);
    }
}
