#!/bin/sh
# Test media for the real-stream player, made by ffmpeg from a generated source (testsrc2):
# 60 s, three renditions (200, 500 and 1200 kbit/s; 144p, 240p, 360p), 2 s segments, as
#   DIR/hls/master.m3u8            HLS, MPEG-TS segments, one media playlist per rendition
#   DIR/dash-number/manifest.mpd   DASH, SegmentTemplate with $Number$
#   DIR/dash-time/manifest.mpd     DASH, SegmentTimeline with $Time$, one AdaptationSet
#   DIR/dash-list/manifest.mpd     DASH, SegmentList
# Made once (DIR/done marks it); concurrent callers wait for the first.
#
#   sh experiments/streams/origin/make-media.sh DIR
set -eu
dir=${1:?usage: make-media.sh DIR}
[ -f "$dir/done" ] && exit 0
command -v ffmpeg >/dev/null || { echo "make-media.sh: ffmpeg is not installed (Debian: apt install ffmpeg)" >&2; exit 1; }
mkdir -p "$(dirname "$dir")"
exec 9>"$dir.lock"
flock 9
[ -f "$dir/done" ] && exit 0
work="$dir.part"
rm -rf "$work"
mkdir -p "$work/hls" "$work/dash-number" "$work/dash-time" "$work/dash-list"
cd "$work"
encode() {
  ffmpeg -hide_banner -loglevel error -y -f lavfi -i testsrc2=size=640x360:rate=25 -t 60 \
    -filter_complex '[0:v]split=3[a][b][c];[a]scale=256:144[v0];[b]scale=426:240[v1];[c]scale=640:360[v2]' \
    -map '[v0]' -b:v:0 200k -map '[v1]' -b:v:1 500k -map '[v2]' -b:v:2 1200k \
    -c:v libx264 -preset ultrafast -g 50 -keyint_min 50 -sc_threshold 0 "$@"
}
encode -f hls -hls_time 2 -hls_playlist_type vod -master_pl_name master.m3u8 \
  -var_stream_map 'v:0 v:1 v:2' -hls_segment_filename 'hls/%v/s%03d.ts' 'hls/%v/index.m3u8'
encode -f dash -seg_duration 2 -use_timeline 0 -use_template 1 dash-number/manifest.mpd
encode -f dash -seg_duration 2 -use_timeline 1 -use_template 1 -adaptation_sets 'id=0,streams=v' \
  -media_seg_name 'chunk-$RepresentationID$-$Time$.m4s' dash-time/manifest.mpd
encode -f dash -seg_duration 2 -use_timeline 0 -use_template 0 dash-list/manifest.mpd
touch done
cd - >/dev/null
rm -rf "$dir"
mv "$work" "$dir"
