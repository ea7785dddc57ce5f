//! The playback buffer: media fetched ahead, played out in media time, with the stalls a viewer
//! sees. A pure model: time passes by [`Playout::advance`], segments arrive by [`Playout::push`].
//!
//! Playback starts once `startup` media is buffered (the first frame). While playing, the buffer
//! drains at one media second per media second; when it runs dry playback stalls (a rebuffer) and
//! resumes once `resume` media is buffered again. Stalled time counts only after the first
//! frame: the wait before it is the time to first frame, not a rebuffer.

use std::time::Duration;

/// The buffer and what the viewer has seen so far. All durations are media time.
#[derive(Clone, Debug, PartialEq)]
pub struct Playout {
    startup: Duration,
    resume: Duration,
    level: Duration,
    state: State,
    /// Media played.
    pub played: Duration,
    /// Time stalled after the first frame.
    pub stalled: Duration,
    /// Stalls after the first frame.
    pub rebuffers: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Starting,
    Playing,
    Stalled,
}

/// What a pushed segment changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// Nothing visible.
    None,
    /// The first frame showed.
    Started,
    /// Playback resumed after a stall.
    Resumed,
}

impl Playout {
    /// An empty buffer; playback starts at `startup` buffered and resumes at `resume`.
    pub fn new(startup: Duration, resume: Duration) -> Self {
        Self {
            startup,
            resume,
            level: Duration::ZERO,
            state: State::Starting,
            played: Duration::ZERO,
            stalled: Duration::ZERO,
            rebuffers: 0,
        }
    }

    /// Media buffered.
    pub fn level(&self) -> Duration {
        self.level
    }

    /// Whether the first frame has shown.
    pub fn started(&self) -> bool {
        self.state != State::Starting
    }

    /// Media buffered after `dt` more of playback (what is left when the next event comes).
    pub fn level_after(&self, dt: Duration) -> Duration {
        match self.state {
            State::Playing => self.level.saturating_sub(dt),
            _ => self.level,
        }
    }

    /// `dt` of media time passes.
    pub fn advance(&mut self, dt: Duration) {
        match self.state {
            State::Starting => {}
            State::Stalled => self.stalled += dt,
            State::Playing if dt <= self.level => {
                self.level -= dt;
                self.played += dt;
            }
            State::Playing => {
                self.played += self.level;
                self.stalled += dt - self.level;
                self.level = Duration::ZERO;
                self.state = State::Stalled;
                self.rebuffers += 1;
            }
        }
    }

    /// A segment of `media` arrived.
    pub fn push(&mut self, media: Duration) -> Event {
        self.level += media;
        match self.state {
            State::Starting if self.level >= self.startup => {
                self.state = State::Playing;
                Event::Started
            }
            State::Stalled if self.level >= self.resume => {
                self.state = State::Playing;
                Event::Resumed
            }
            _ => Event::None,
        }
    }

    /// How long to wait before fetching `next` more media so that the buffer stays within `max`.
    pub fn wait_for_room(&self, next: Duration, max: Duration) -> Duration {
        match self.state {
            State::Playing => (self.level + next).saturating_sub(max),
            _ => Duration::ZERO,
        }
    }

    /// The stream ended: whatever is buffered plays out (a stalled player resumes with it).
    pub fn finish(&mut self) {
        if self.started() {
            self.played += self.level;
            self.level = Duration::ZERO;
            self.state = State::Playing;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn the_first_frame_shows_at_the_startup_level_and_the_wait_is_no_rebuffer() {
        let mut b = Playout::new(s(8), s(4));
        b.advance(s(3));
        assert_eq!(b.push(s(4)), Event::None);
        b.advance(s(2));
        assert_eq!(b.push(s(4)), Event::Started);
        assert_eq!((b.stalled, b.rebuffers, b.played), (Duration::ZERO, 0, Duration::ZERO));
    }

    #[test]
    fn a_dry_buffer_stalls_until_the_resume_level_and_counts_one_rebuffer() {
        let mut b = Playout::new(s(4), s(4));
        assert_eq!(b.push(s(4)), Event::Started);
        b.advance(s(6)); // 4 s played, then 2 s stalled
        assert_eq!((b.played, b.stalled, b.rebuffers), (s(4), s(2), 1));
        b.advance(s(1));
        assert_eq!(b.push(s(4)), Event::Resumed);
        assert_eq!(b.stalled, s(3));
        b.advance(s(1));
        assert_eq!((b.level(), b.played, b.rebuffers), (s(3), s(5), 1));
    }

    #[test]
    fn a_scripted_trace_gives_the_stall_time_a_viewer_would_see() {
        // 4 s segments arriving every 5 s after a 4 s startup: each gap is one 1 s stall.
        let mut b = Playout::new(s(4), s(4));
        b.push(s(4));
        for _ in 0..5 {
            b.advance(s(5));
            b.push(s(4));
        }
        b.finish();
        assert_eq!((b.rebuffers, b.stalled, b.played), (5, s(5), s(24)));
        // Arriving every 3 s instead: the buffer grows, no stall.
        let mut b = Playout::new(s(4), s(4));
        b.push(s(4));
        for _ in 0..5 {
            b.advance(s(3));
            b.push(s(4));
        }
        assert_eq!((b.rebuffers, b.level()), (0, s(9)));
    }

    #[test]
    fn fetching_ahead_waits_for_room_only_while_playing() {
        let mut b = Playout::new(s(4), s(4));
        assert_eq!(b.wait_for_room(s(4), s(10)), Duration::ZERO);
        b.push(s(4));
        b.push(s(4));
        assert_eq!(b.wait_for_room(s(4), s(10)), s(2));
        assert_eq!(b.level_after(s(3)), s(5));
    }
}
